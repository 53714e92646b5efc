//! File names, the intermediate format, and atomic writes.
//!
//! Map task X writes `mr-X-Y` for every reduce task Y (empty files included,
//! so a reduce task can tell a missing file from an empty partition). Reduce
//! task Y writes `mr-out-Y`. Every file is written to a hidden temporary file
//! in the same directory and renamed into place, so a reader (or a test)
//! never sees half a file, even when a worker is killed mid-write.
//!
//! Intermediate format: the magic line `mrkv1\n`, then per pair
//! `u32-le key length, key bytes, u32-le value length, value bytes`. Binary
//! rather than JSON because encoding and decoding it is most of the
//! distributed run's overhead over `mrsequential`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::MrError;

const MAGIC: &[u8] = b"mrkv1\n";

/// `mr-<map>-<reduce>`: map task `map`'s pairs for reduce task `reduce`.
pub fn intermediate_name(map: usize, reduce: usize) -> String {
    format!("mr-{map}-{reduce}")
}

/// `mr-out-<reduce>`: reduce task `reduce`'s output.
pub fn output_name(reduce: usize) -> String {
    format!("mr-out-{reduce}")
}

/// Whether `name` is one of the files a job writes (`mr-X-Y`, `mr-out-Y`),
/// so tools can clear a previous job's leftovers without touching anything
/// else.
pub fn is_job_file(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("mr-") else {
        return false;
    };
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(reduce) = rest.strip_prefix("out-") {
        return numeric(reduce);
    }
    match rest.split_once('-') {
        Some((map, reduce)) => numeric(map) && numeric(reduce),
        None => false,
    }
}

/// Appends one pair to an intermediate buffer started by [`new_intermediate`].
pub(crate) fn encode_pair(buf: &mut Vec<u8>, key: &str, value: &str) {
    for part in [key, value] {
        // Pairs come from one in-memory file's worth of map output, far
        // below 4 GiB each.
        buf.extend_from_slice(&(part.len() as u32).to_le_bytes());
        buf.extend_from_slice(part.as_bytes());
    }
}

/// An empty intermediate buffer (just the magic line).
pub(crate) fn new_intermediate() -> Vec<u8> {
    MAGIC.to_vec()
}

/// Decodes an intermediate file's bytes, appending `(key, value)` slices
/// borrowed from `bytes` to `out` (no allocation per pair: see `task`).
pub(crate) fn decode_pairs<'a>(
    path: &Path,
    bytes: &'a [u8],
    out: &mut Vec<(&'a str, &'a str)>,
) -> Result<(), MrError> {
    let corrupt = |reason: &str| MrError::Corrupt {
        path: path.display().to_string(),
        reason: reason.to_string(),
    };
    let mut rest = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| corrupt("bad header"))?;
    let take = |rest: &mut &'a [u8]| -> Result<&'a str, MrError> {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| corrupt("truncated"))?;
        let len = u32::from_le_bytes(*len) as usize;
        if tail.len() < len {
            return Err(corrupt("truncated"));
        }
        let (text, tail) = tail.split_at(len);
        *rest = tail;
        std::str::from_utf8(text).map_err(|_| corrupt("invalid UTF-8"))
    };
    while !rest.is_empty() {
        let key = take(&mut rest)?;
        let value = take(&mut rest)?;
        out.push((key, value));
    }
    Ok(())
}

/// Writes `bytes` to `dir/name` atomically (temporary file, then rename).
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, MrError> {
    let dest = dir.join(name);
    let mut tmp = tempfile::Builder::new()
        .prefix(".mr-tmp-")
        .tempfile_in(dir)
        .map_err(|e| MrError::io("cannot create a temporary file in", dir, &e))?;
    tmp.write_all(bytes)
        .map_err(|e| MrError::io("cannot write", tmp.path(), &e))?;
    tmp.persist(&dest)
        .map_err(|e| MrError::io("cannot rename a temporary file to", &dest, &e.error))?;
    Ok(dest)
}

/// Reads an input file the way the reference does (whole file), decoding it
/// as UTF-8 with replacement so that a stray byte cannot fail a job.
pub fn read_input(path: &str) -> Result<String, MrError> {
    let input_error = |reason: String| MrError::InputFile {
        path: path.to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| input_error(e.to_string()))?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
    })
}

/// Checks that every input exists, is a regular file and can be opened, so
/// a typo fails the job at once instead of inside some worker.
pub fn check_inputs(files: &[String]) -> Result<(), MrError> {
    for path in files {
        let input_error = |reason: String| MrError::InputFile {
            path: path.clone(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| input_error(e.to_string()))?;
        if !meta.is_file() {
            return Err(input_error("not a regular file".to_string()));
        }
        std::fs::File::open(path).map_err(|e| input_error(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_including_odd_characters() {
        let pairs = [
            ("a", "1"),
            ("", ""),
            ("tab\tnew\nline", "ünï ☃"),
            ("k", "v v"),
        ];
        let mut buf = new_intermediate();
        for (k, v) in pairs {
            encode_pair(&mut buf, k, v);
        }
        let mut out = Vec::new();
        decode_pairs(Path::new("x"), &buf, &mut out).unwrap();
        assert_eq!(out, pairs);
    }

    #[test]
    fn damaged_intermediates_are_reported_not_misread() {
        let mut buf = new_intermediate();
        encode_pair(&mut buf, "key", "value");
        let mut out = Vec::new();
        let err = decode_pairs(Path::new("mr-1-2"), &buf[..buf.len() - 1], &mut out).unwrap_err();
        assert!(
            matches!(err, MrError::Corrupt { ref path, .. } if path == "mr-1-2"),
            "{err}"
        );
        assert!(decode_pairs(Path::new("y"), b"garbage", &mut out).is_err());
    }

    #[test]
    fn job_files_are_recognised_and_nothing_else() {
        for yes in ["mr-0-0", "mr-12-3", "mr-out-0", "mr-out-10"] {
            assert!(is_job_file(yes), "{yes}");
        }
        for no in [
            "mr-out-",
            "mr-1",
            "mr-a-1",
            "mr-worker-map-12",
            "mr-out-x",
            "notes.txt",
            "mr-1-2-3",
        ] {
            assert!(!is_job_file(no), "{no}");
        }
    }

    #[test]
    fn atomic_write_leaves_only_the_final_file() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "mr-out-0", b"a 1\n").unwrap();
        write_atomic(dir.path(), "mr-out-0", b"b 2\n").unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["mr-out-0"]);
        assert_eq!(
            std::fs::read(dir.path().join("mr-out-0")).unwrap(),
            b"b 2\n"
        );
    }

    #[test]
    fn missing_and_directory_inputs_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.txt").display().to_string();
        let err = check_inputs(std::slice::from_ref(&missing)).unwrap_err();
        assert!(err.to_string().contains("nope.txt"), "{err}");
        let as_dir = dir.path().display().to_string();
        let err = check_inputs(&[as_dir]).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
}
