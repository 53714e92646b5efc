//! A user-defined app in its own binary: how long are the words?
//!
//! A map, a reduce, and a `main` that hands them to the binaries' worker
//! front end (`src/bin/front/cli.rs`, included here as a module), which
//! brings the usual flags (`--socket`, `--addr`). A crate outside this
//! workspace calls [`mr::run_worker`] instead (see the crate README).
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

#[path = "../src/bin/front/cli.rs"]
mod cli;

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
        cli::sequential_main(APPS)
    } else {
        cli::worker_main(APPS)
    }
}
