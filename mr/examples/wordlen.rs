//! A user-defined app in its own binary: how long are the words?
//!
//! This is the whole of what a separate "my app" crate needs (see the crate
//! README): a map, a reduce, and a `main` that hands them to the library's
//! worker front end, which brings the usual flags (`--socket`, `--addr`).
//!
//! ```text
//! cargo build --release -p mr --example wordlen
//! mrcoordinator --socket /tmp/wl.sock ../pg-*.txt &
//! target/release/examples/wordlen --socket /tmp/wl.sock wordlen
//! ```
//! Run with `MR_SEQUENTIAL=1 wordlen wordlen FILES...` to get the
//! single-process reference output instead.

use std::process::ExitCode;

use mr::{App, KeyValue};

/// Emits (word length, "1") for every word.
fn map(_filename: &str, contents: &str) -> Vec<KeyValue> {
    mr::apps::split_words(contents)
        .map(|word| KeyValue::new(format!("{:03}", word.chars().count()), "1"))
        .collect()
}

/// How many words had this length.
fn reduce(_length: &str, ones: &[String]) -> String {
    ones.len().to_string()
}

const APPS: &[App] = &[App::new("wordlen", map, reduce)];

fn main() -> ExitCode {
    if std::env::var_os("MR_SEQUENTIAL").is_some() {
        mr::cli::sequential_main(APPS)
    } else {
        mr::cli::worker_main(APPS)
    }
}
