//! Word count: how often each word occurs across all inputs.

use crate::{App, KeyValue};

/// `wc`: the lab's main example.
pub const APP: App = App::new("wc", map, reduce);

/// The words of `text`: maximal runs of letters. The reference splits on
/// Go's `!unicode.IsLetter`; `char::is_alphabetic` agrees on ASCII (all the
/// lab's inputs) and differs only on a few non-ASCII marks.
pub fn split_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphabetic())
        .filter(|word| !word.is_empty())
}

fn map(_filename: &str, contents: &str) -> Vec<KeyValue> {
    split_words(contents)
        .map(|word| KeyValue::new(word, "1"))
        .collect()
}

fn reduce(_key: &str, values: &[String]) -> String {
    values.len().to_string()
}
