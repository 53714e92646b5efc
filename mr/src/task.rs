//! Running one map or reduce task, and the whole job sequentially.
//!
//! These are plain blocking functions over the file system: the worker runs
//! them on a blocking thread, `mrsequential` calls them directly, and both
//! go through the same encode / group / reduce path, so they produce
//! byte-identical lines.
//!
//! Performance note: a map's pairs are encoded into byte buffers as soon as
//! the map returns, and the reduce side works on string slices borrowed from
//! those buffers, allocating a `String` per value only for the one group
//! being reduced. With millions of tiny strings (wc makes two per word),
//! keeping them alive until the end made freeing them cost more than
//! everything else; this way each allocation is freed right away and the
//! allocator keeps reusing the same few chunks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::files::{
    self, decode_pairs, encode_pair, intermediate_name, new_intermediate, output_name,
};
use crate::{App, MrError, ihash};

/// Reads `file`, applies the app's map and appends each pair to its
/// partition's buffer in `buckets`.
fn map_into(app: App, file: &str, buckets: &mut [Vec<u8>]) -> Result<(), MrError> {
    let contents = files::read_input(file)?;
    let n = buckets.len();
    for kv in (app.map)(file, &contents) {
        encode_pair(
            &mut buckets[ihash::partition(&kv.key, n)],
            &kv.key,
            &kv.value,
        );
    }
    Ok(())
}

/// Map task `task`: reads `file`, applies the app's map and writes the pairs
/// to `dir/mr-<task>-<r>` for every reduce task `r`.
pub fn run_map(
    app: App,
    dir: &Path,
    task: usize,
    file: &str,
    n_reduce: usize,
) -> Result<(), MrError> {
    let mut buckets: Vec<Vec<u8>> = (0..n_reduce).map(|_| new_intermediate()).collect();
    map_into(app, file, &mut buckets)?;
    for (reduce, bytes) in buckets.iter().enumerate() {
        files::write_atomic(dir, &intermediate_name(task, reduce), bytes)?;
    }
    Ok(())
}

/// Reduce task `task`: gathers `mr-<m>-<task>` from all `n_map` maps, groups
/// by key, applies the app's reduce and writes `dir/mr-out-<task>`.
pub fn run_reduce(app: App, dir: &Path, task: usize, n_map: usize) -> Result<PathBuf, MrError> {
    let mut inputs = Vec::with_capacity(n_map);
    for map in 0..n_map {
        let path = dir.join(intermediate_name(map, task));
        let bytes = std::fs::read(&path).map_err(|e| MrError::io("cannot read", &path, &e))?;
        inputs.push((path, bytes));
    }
    let mut pairs = Vec::new();
    for (path, bytes) in &inputs {
        decode_pairs(path, bytes, &mut pairs)?;
    }
    files::write_atomic(dir, &output_name(task), &reduce_all(app, &pairs))
}

/// The whole job in one process, as the reference's `mrsequential`: map
/// every file, group all pairs, reduce, and write `dir/mr-out-0`.
pub fn run_sequential(app: App, files: &[String], dir: &Path) -> Result<PathBuf, MrError> {
    files::check_inputs(files)?;
    let mut all = [new_intermediate()];
    for file in files {
        map_into(app, file, &mut all)?;
    }
    let mut pairs = Vec::new();
    decode_pairs("(memory)".as_ref(), &all[0], &mut pairs)?;
    files::write_atomic(dir, &output_name(0), &reduce_all(app, &pairs))
}

/// Groups `pairs` by key, keeping each key's values in map order (as a
/// stable sort would), and returns the `key value\n` lines of every group's
/// reduce in byte order of the keys.
///
/// Grouping in a hash map and then sorting only the distinct keys is several
/// times cheaper than sorting every pair (wc over the books: 620 k pairs,
/// 22 k keys). The map's iteration order never reaches the output.
fn reduce_all(app: App, pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut groups: HashMap<&str, Vec<&str>> = HashMap::new();
    for &(key, value) in pairs {
        groups.entry(key).or_default().push(value);
    }
    let mut groups: Vec<(&str, Vec<&str>)> = groups.into_iter().collect();
    // Keys are distinct, so an unstable sort is deterministic.
    groups.sort_unstable_by_key(|&(key, _)| key);
    let mut out = Vec::new();
    let mut values: Vec<String> = Vec::new();
    for (key, slices) in &groups {
        values.clear();
        values.extend(slices.iter().map(|v| v.to_string()));
        let result = (app.reduce)(key, &values);
        out.extend_from_slice(key.as_bytes());
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
