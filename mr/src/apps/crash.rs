//! Misbehaving workers: `crash` exits or stalls at random inside map and
//! reduce; `nocrash` computes the same thing politely and gives the expected
//! output.

use std::time::Duration;

use super::roll;
use crate::{App, KeyValue};

/// `crash`: each map and each reduce call first exits the process with
/// probability 0.33, else sleeps 0–10 s with probability 0.33.
pub const CRASH: App = App::new("crash", crash_map, crash_reduce);
/// `nocrash`: `crash` without the misbehaviour.
pub const NOCRASH: App = App::new("nocrash", map, reduce);

fn maybe_crash() {
    let r = roll(1000);
    if r < 330 {
        // Exit without cleanup, as a crashed machine would.
        std::process::exit(1);
    } else if r < 660 {
        std::thread::sleep(Duration::from_millis(roll(10_000)));
    }
}

fn map(filename: &str, contents: &str) -> Vec<KeyValue> {
    vec![
        KeyValue::new("a", filename),
        KeyValue::new("b", filename.len().to_string()),
        KeyValue::new("c", contents.len().to_string()),
        KeyValue::new("d", "xyzzy"),
    ]
}

fn reduce(_key: &str, values: &[String]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted.join(" ")
}

fn crash_map(filename: &str, contents: &str) -> Vec<KeyValue> {
    maybe_crash();
    map(filename, contents)
}

fn crash_reduce(key: &str, values: &[String]) -> String {
    maybe_crash();
    reduce(key, values)
}
