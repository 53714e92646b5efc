//! `mrjob`, the one-command job, end to end: default corpus, user files,
//! and a missing file.

mod common;

use std::process::Command;

use common::{JOB, SEQUENTIAL, sorted_lines};

#[test]
fn default_job_counts_the_generated_corpus_like_mrsequential() {
    let dir = tempfile::tempdir().unwrap();
    let job_dir = dir.path().join("job");
    let out = Command::new(JOB)
        .args(["--dir", job_dir.to_str().unwrap(), "--workers", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("18/18 tasks done"), "{stderr}");
    assert!(stdout.contains("ten most frequent words"), "{stdout}");
    assert!(stdout.contains(" 1. the "), "{stdout}");
    assert!(stdout.contains("elapsed:"), "{stdout}");
    assert!(
        stdout.contains(&job_dir.join("mr-out-0").display().to_string()),
        "{stdout}"
    );

    let seq_dir = dir.path().join("seq");
    std::fs::create_dir(&seq_dir).unwrap();
    let mut inputs: Vec<String> = std::fs::read_dir(job_dir.join("input"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    inputs.sort();
    assert_eq!(inputs.len(), common::corpus::DEFAULT_CORPUS.len());
    let seq = Command::new(SEQUENTIAL)
        .arg("wc")
        .args(&inputs)
        .current_dir(&seq_dir)
        .status()
        .unwrap();
    assert!(seq.success());
    assert_eq!(
        sorted_lines(&job_dir).unwrap(),
        sorted_lines(&seq_dir).unwrap()
    );
}

#[test]
fn job_over_user_files_passes_them_as_absolute_paths() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "apple pie").unwrap();
    std::fs::write(dir.path().join("b.txt"), "apple tart").unwrap();
    let job_dir = dir.path().join("job");
    let out = Command::new(JOB)
        .args([
            "--app",
            "indexer",
            "--workers",
            "2",
            "--n-reduce",
            "3",
            "--dir",
        ])
        .arg(&job_dir)
        .args(["a.txt", "b.txt"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = dir.path().join("a.txt").display().to_string();
    let b = dir.path().join("b.txt").display().to_string();
    assert_eq!(
        sorted_lines(&job_dir).unwrap(),
        [
            format!("apple 2 {a},{b}"),
            format!("pie 1 {a}"),
            format!("tart 1 {b}")
        ]
    );
}

#[test]
fn job_with_a_missing_file_fails_fast_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(JOB)
        .args([
            "--dir",
            dir.path().join("job").to_str().unwrap(),
            "no-such.txt",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no-such.txt"), "{stderr}");
}
