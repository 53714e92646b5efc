//! Running one map or reduce task, and the whole job sequentially.
//!
//! These are plain blocking functions over the file system: the worker runs
//! them on a blocking thread, `mrsequential` calls them directly, and the
//! reduce side is shared so both produce byte-identical lines.

use std::path::{Path, PathBuf};

use crate::files::{
    self, decode_pairs, encode_pair, intermediate_name, new_intermediate, output_name,
};
use crate::{App, KeyValue, MrError, ihash};

/// Map task `task`: reads `file`, applies the app's map and writes the pairs
/// to `dir/mr-<task>-<r>` for every reduce task `r`.
pub fn run_map(
    app: App,
    dir: &Path,
    task: usize,
    file: &str,
    n_reduce: usize,
) -> Result<(), MrError> {
    let contents = files::read_input(file)?;
    let mut buckets: Vec<Vec<u8>> = (0..n_reduce).map(|_| new_intermediate()).collect();
    for kv in (app.map)(file, &contents) {
        encode_pair(
            &mut buckets[ihash::partition(&kv.key, n_reduce)],
            &kv.key,
            &kv.value,
        );
    }
    for (reduce, bytes) in buckets.iter().enumerate() {
        files::write_atomic(dir, &intermediate_name(task, reduce), bytes)?;
    }
    Ok(())
}

/// Reduce task `task`: gathers `mr-<m>-<task>` from all `n_map` maps, sorts
/// by key, applies the app's reduce and writes `dir/mr-out-<task>`.
pub fn run_reduce(app: App, dir: &Path, task: usize, n_map: usize) -> Result<PathBuf, MrError> {
    let mut pairs = Vec::new();
    for map in 0..n_map {
        let path = dir.join(intermediate_name(map, task));
        let bytes = std::fs::read(&path).map_err(|e| MrError::io("cannot read", &path, &e))?;
        decode_pairs(&path, &bytes, &mut pairs)?;
    }
    files::write_atomic(dir, &output_name(task), &reduce_all(app, pairs))
}

/// The whole job in one process, as the reference's `mrsequential`: map
/// every file, sort all pairs, reduce, and write `dir/mr-out-0`.
pub fn run_sequential(app: App, files: &[String], dir: &Path) -> Result<PathBuf, MrError> {
    files::check_inputs(files)?;
    let mut pairs = Vec::new();
    for file in files {
        let contents = files::read_input(file)?;
        pairs.extend((app.map)(file, &contents));
    }
    files::write_atomic(dir, &output_name(0), &reduce_all(app, pairs))
}

/// Sorts `pairs` by key (byte order, stable so values keep map order) and
/// returns the `key value\n` lines of every group's reduce.
fn reduce_all(app: App, mut pairs: Vec<KeyValue>) -> Vec<u8> {
    pairs.sort_by(|a, b| a.key.cmp(&b.key));
    let mut out = Vec::new();
    let mut values = Vec::new();
    let mut pairs = pairs.into_iter().peekable();
    while let Some(first) = pairs.next() {
        values.clear();
        values.push(first.value);
        while let Some(next) = pairs.next_if(|kv| kv.key == first.key) {
            values.push(next.value);
        }
        let result = (app.reduce)(&first.key, &values);
        out.extend_from_slice(first.key.as_bytes());
        out.push(b' ');
        out.extend_from_slice(result.as_bytes());
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps;

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(name)).unwrap()
    }

    #[test]
    fn map_then_reduce_equals_sequential() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = [
            ("one.txt", "the cat and the hat"),
            ("two.txt", "The hat, the end"),
        ];
        let mut files = Vec::new();
        for (name, text) in inputs {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            files.push(path.display().to_string());
        }
        let wc = crate::find_app(apps::ALL, "wc").unwrap();
        let n_reduce = 3;
        for (task, file) in files.iter().enumerate() {
            run_map(wc, dir.path(), task, file, n_reduce).unwrap();
        }
        let mut distributed: Vec<String> = Vec::new();
        for task in 0..n_reduce {
            run_reduce(wc, dir.path(), task, files.len()).unwrap();
            distributed.extend(
                read(dir.path(), &output_name(task))
                    .lines()
                    .map(String::from),
            );
        }
        distributed.sort();
        let seq_dir = tempfile::tempdir().unwrap();
        run_sequential(wc, &files, seq_dir.path()).unwrap();
        let sequential = read(seq_dir.path(), "mr-out-0");
        assert_eq!(sequential, "The 1\nand 1\ncat 1\nend 1\nhat 2\nthe 3\n");
        assert_eq!(distributed.join("\n") + "\n", sequential);
    }

    #[test]
    fn reduce_names_a_missing_intermediate_file() {
        let dir = tempfile::tempdir().unwrap();
        let wc = crate::find_app(apps::ALL, "wc").unwrap();
        let err = run_reduce(wc, dir.path(), 4, 1).unwrap_err();
        assert!(err.to_string().contains("mr-0-4"), "{err}");
    }

    #[test]
    fn sequential_names_a_missing_input() {
        let dir = tempfile::tempdir().unwrap();
        let wc = crate::find_app(apps::ALL, "wc").unwrap();
        let err = run_sequential(wc, &["no-such-file.txt".into()], dir.path()).unwrap_err();
        assert!(matches!(err, MrError::InputFile { ref path, .. } if path == "no-such-file.txt"));
        assert!(!dir.path().join("mr-out-0").exists());
    }
}
