//! The eight applications of the reference lab, compiled in.
//!
//! `wc` and `indexer` are real jobs; the others exist to test the framework:
//! `mtiming`/`rtiming` detect whether map/reduce tasks run in parallel,
//! `jobcount` counts map executions, `early_exit` makes some reduce tasks slow,
//! `crash` kills or stalls its worker at random and `nocrash` is its
//! well-behaved twin, used to compute the expected output.

mod crash;
mod early_exit;
mod indexer;
mod jobcount;
mod timing;
mod wc;

use crate::App;

pub use wc::split_words;

/// A number in `0..bound` (`bound > 0`) that differs between processes and
/// between calls: the dice of the apps that misbehave on purpose (`crash`,
/// `jobcount`). Drawn from std's randomly keyed hasher (fresh keys per
/// call) mixed with the process id; not reproducible, on purpose.
pub(crate) fn roll(bound: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish() % bound
}

/// Every compiled-in app, in the order the reference lists them.
pub const ALL: &[App] = &[
    wc::APP,
    indexer::APP,
    timing::MTIMING,
    timing::RTIMING,
    jobcount::APP,
    early_exit::APP,
    crash::CRASH,
    crash::NOCRASH,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyValue, find_app};

    fn run(app: &App, files: &[(&str, &str)]) -> Vec<String> {
        let mut kvs: Vec<KeyValue> = files
            .iter()
            .flat_map(|(name, text)| (app.map)(name, text))
            .collect();
        kvs.sort_by(|a, b| a.key.cmp(&b.key));
        let mut out = Vec::new();
        for group in kvs.chunk_by(|a, b| a.key == b.key) {
            let values: Vec<String> = group.iter().map(|kv| kv.value.clone()).collect();
            out.push(format!(
                "{} {}",
                group[0].key,
                (app.reduce)(&group[0].key, &values)
            ));
        }
        out
    }

    #[test]
    fn every_app_is_found_by_name_and_unknown_names_list_them_all() {
        for app in ALL {
            assert_eq!(find_app(ALL, app.name).unwrap().name, app.name);
        }
        let err = find_app(ALL, "grep").unwrap_err().to_string();
        assert!(err.contains("unknown app 'grep'"), "{err}");
        for app in ALL {
            assert!(err.contains(app.name), "{err} lacks {}", app.name);
        }
    }

    #[test]
    fn wc_counts_letter_runs_case_sensitively() {
        let out = run(&wc::APP, &[("f", "The cat; the CAT's cat.\nx2y")]);
        assert_eq!(
            out,
            ["CAT 1", "The 1", "cat 2", "s 1", "the 1", "x 1", "y 1"]
        );
    }

    #[test]
    fn indexer_lists_each_document_once_sorted() {
        let out = run(&indexer::APP, &[("b.txt", "dog dog cat"), ("a.txt", "dog")]);
        assert_eq!(out, ["cat 1 b.txt", "dog 2 a.txt,b.txt"]);
    }

    #[test]
    fn nocrash_reports_name_lengths_and_sizes() {
        let out = run(&crash::NOCRASH, &[("../x.txt", "hello"), ("y", "")]);
        assert_eq!(out, ["a ../x.txt y", "b 1 8", "c 0 5", "d xyzzy xyzzy"]);
    }

    #[test]
    fn early_exit_counts_files_per_name() {
        let out = run(&early_exit::APP, &[("a", "x"), ("b", "y"), ("a", "z")]);
        assert_eq!(out, ["a 2", "b 1"]);
    }
}
