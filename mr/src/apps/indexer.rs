//! Inverted index: for each word, the documents that contain it.

use std::collections::BTreeSet;

use super::split_words;
use crate::{App, KeyValue};

/// `indexer`: reduce output is `count doc1,doc2,...` with the documents sorted.
pub const APP: App = App::new("indexer", map, reduce);

fn map(document: &str, contents: &str) -> Vec<KeyValue> {
    let words: BTreeSet<&str> = split_words(contents).collect();
    words
        .into_iter()
        .map(|word| KeyValue::new(word, document))
        .collect()
}

fn reduce(_key: &str, values: &[String]) -> String {
    let mut documents = values.to_vec();
    documents.sort();
    format!("{} {}", documents.len(), documents.join(","))
}
