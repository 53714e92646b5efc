//! The student skeleton, generated from this workspace by `labtool skeleton`.
//!
//! * `skeleton_tree_is_complete` (always run, about a second): every
//!   solution region is gone and replaced by its `todo!` or `// SKELETON:`
//!   code, no marker is left, every tracked file is there, and the
//!   workspace manifest and lock file are the reference's.
//! * `skeleton_compiles_without_warnings`: `cargo check --all-targets` of
//!   the crates with holes and the tester, in the generated workspace, with
//!   no warning in any file the generator changed. (Warnings in files it
//!   copies unchanged are the reference's own, which CI's `cargo clippy
//!   --workspace --all-targets -- -D warnings` rejects; they are printed
//!   here, not failed on.) It checks in the running tests' target
//!   directory, in the dev profile (`<target>/debug`, whose lock is not the
//!   one `cargo test --release` holds), so the dependencies that
//!   `cargo clippy` — run just before the tests in CI — already checked
//!   there are reused, and only the skeleton's own crates are checked:
//!   65 s at load 7 with clippy's artifacts present, where a cold
//!   directory of its own took 153 s in a quiet CI run. Measured earlier in
//!   a cold directory of its own:
//!   **62 s cold** (the dependencies: tokio, serde, tracing-subscriber,
//!   bincode…; 1 min 51 s of CPU) at a load average of 1.7, 3 min 51 s cold
//!   while another build ran (load 5–6), **8–15 s warm**. Run it alone with
//!
//!   ```sh
//!   cargo test --release -p labtool --test skeleton
//!   ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const BEGIN: &str = "// SOLUTION BEGIN ";
const END: &str = "// SOLUTION END";
const REPLACE: &str = "// SKELETON: ";
/// The crates students write code in, each with at least one region.
const LAB_CRATES: [&str; 7] = [
    "mr",
    "raft",
    "kvsrv",
    "rsm",
    "kvraft",
    "shardctrler",
    "shardkv",
];
/// The TinyKV track's crates with regions: (directory, package name).
const TINYKV_CRATES: [(&str, &str); 4] = [
    ("tinykv/storage", "tinykv-storage"),
    ("tinykv/txn", "tinykv-txn"),
    ("tinykv/raftstore", "tinykv-raftstore"),
    ("tinykv/scheduler", "tinykv-scheduler"),
];

/// The reference workspace: this crate's parent.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("labtool lives in the workspace")
        .to_path_buf()
}

/// Generates the skeleton into a fresh temporary directory.
fn generate() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("student");
    let root = root();
    let out = Command::new(env!("CARGO_BIN_EXE_labtool"))
        .args(["skeleton", "--root"])
        .arg(&root)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .expect("cannot run labtool");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "labtool skeleton failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, out_dir, stdout)
}

/// The files git tracks in the reference workspace.
fn tracked(root: &Path) -> Vec<PathBuf> {
    let out = Command::new("git")
        .args(["ls-files", "--cached"])
        .current_dir(root)
        .output()
        .expect("cannot run git");
    assert!(out.status.success(), "the workspace is not a git checkout");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .filter(|p| root.join(p).is_file())
        .collect()
}

/// The line `labtool skeleton` adds to the crate root of a crate with holes.
fn is_allow_line(line: &str) -> bool {
    line.starts_with("#![allow(") && line.contains("// skeleton:")
}

/// One solution region of a reference file.
struct Region {
    label: String,
    /// The line the skeleton must have instead, indentation included.
    replacement: String,
    /// Lines from BEGIN to END inclusive.
    lines: usize,
}

/// The regions of one reference file, read independently of labtool.
fn regions(text: &str) -> Vec<Region> {
    let mut found = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        let Some(label) = trimmed.strip_prefix(BEGIN) else {
            continue;
        };
        let indent = &line[..line.len() - trimmed.len()];
        let mut count = 1;
        let mut code = None;
        for inner in lines.by_ref() {
            count += 1;
            let inner = inner.trim_start();
            if count == 2 {
                code = inner.strip_prefix(REPLACE).map(str::to_string);
            }
            if inner.starts_with(END) {
                break;
            }
        }
        let hole = code.unwrap_or_else(|| {
            let msg = label
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('{', "{{")
                .replace('}', "}}");
            format!("todo!(\"{msg}\")")
        });
        found.push(Region {
            label: label.to_string(),
            replacement: format!("{indent}{hole}"),
            lines: count,
        });
    }
    found
}

#[test]
fn skeleton_tree_is_complete() {
    let root = root();
    let (_dir, student, stdout) = generate();
    let files = tracked(&root);

    let mut labels = Vec::new();
    let mut regions_by_crate: BTreeMap<String, usize> = BTreeMap::new();
    for rel in &files {
        let copy = student.join(rel);
        assert!(
            copy.is_file(),
            "{} is missing from the skeleton",
            rel.display()
        );
        if rel.extension().is_none_or(|e| e != "rs") || rel.starts_with("labtool") {
            // labtool's own sources and tests spell the markers out.
            continue;
        }
        let reference = std::fs::read_to_string(root.join(rel)).unwrap();
        let skeleton = std::fs::read_to_string(&copy).unwrap();
        // The crate root of a crate with holes gains one line (checked below).
        let skeleton: String = skeleton
            .lines()
            .filter(|l| !is_allow_line(l))
            .map(|l| format!("{l}\n"))
            .collect();
        for (n, line) in skeleton.lines().enumerate() {
            assert!(
                !line.contains("SOLUTION BEGIN")
                    && !line.contains("SOLUTION END")
                    && !line.contains("SKELETON:"),
                "{}:{}: a marker survived: {line}",
                rel.display(),
                n + 1
            );
        }
        let regions = regions(&reference);
        if regions.is_empty() {
            assert_eq!(reference, skeleton, "{} changed", rel.display());
            continue;
        }
        // The crate: the file's nearest ancestor directory with a manifest.
        let krate = rel
            .ancestors()
            .skip(1)
            .find(|d| !d.as_os_str().is_empty() && root.join(d).join("Cargo.toml").is_file())
            .unwrap_or_else(|| panic!("{} is in no crate", rel.display()));
        let krate = krate.to_string_lossy().into_owned();
        *regions_by_crate.entry(krate).or_default() += regions.len();
        // Each region is one line now: its todo!() or its SKELETON code, in
        // order; everything else is unchanged.
        let expected_lines = reference.lines().count()
            - regions.iter().map(|r| r.lines).sum::<usize>()
            + regions.len();
        assert_eq!(
            skeleton.lines().count(),
            expected_lines,
            "{}: solution code left in or framework code lost",
            rel.display()
        );
        let mut rest = skeleton.lines();
        for region in &regions {
            assert!(
                rest.any(|l| l == region.replacement),
                "{}: region {:?} is not replaced by `{}` (or out of order)",
                rel.display(),
                region.label,
                region.replacement.trim()
            );
        }
        labels.extend(regions.into_iter().map(|r| r.label));
    }

    // Every lab crate has holes, and its crate root allows what they leave unused.
    for krate in LAB_CRATES
        .into_iter()
        .chain(TINYKV_CRATES.map(|(dir, _)| dir))
    {
        assert!(
            regions_by_crate.get(krate).is_some_and(|&n| n > 0),
            "{krate} has no solution regions"
        );
        let lib = std::fs::read_to_string(student.join(krate).join("src/lib.rs")).unwrap();
        assert!(
            lib.lines().any(is_allow_line),
            "{krate}/src/lib.rs lacks the skeleton's allow line"
        );
    }
    // Every lab crate has a README, carried over as it is, that names an
    // existing file to start from.
    for krate in LAB_CRATES {
        let rel = Path::new(krate).join("README.md");
        let readme = std::fs::read_to_string(student.join(&rel))
            .unwrap_or_else(|e| panic!("{}: {e}", rel.display()));
        let start = readme
            .split_once("**Start here**")
            .and_then(|(_, rest)| rest.split('`').nth(1))
            .unwrap_or_else(|| panic!("{} does not say where to start", rel.display()));
        assert!(
            student.join(krate).join(start).exists(),
            "{} starts the student at {start}, which the skeleton lacks",
            rel.display()
        );
    }
    // Every part has something to write.
    for part in ["3A", "3B", "3C", "3D", "4A", "4B", "5A", "5B"] {
        assert!(
            labels.iter().any(|l| l.contains(part)),
            "no region of part {part}"
        );
    }
    for part in [
        "1", "2", "p1", "p2b", "p2c", "p3a", "p3b", "p3c", "p4a", "p4b", "p4c",
    ] {
        assert!(
            labels.iter().any(|l| l.starts_with(&format!("{part}:"))),
            "no region of part {part}"
        );
    }

    // The README tells the student where they are, then is the reference's.
    let readme = std::fs::read_to_string(student.join("README.md")).unwrap();
    let reference_readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.starts_with("> **This is your lab workspace**")
            && readme.ends_with(&reference_readme),
        "the student README lacks its banner or lost the reference text"
    );

    // The workspace: same manifest and lock file, every member present.
    for file in ["Cargo.toml", "Cargo.lock"] {
        assert_eq!(
            std::fs::read(root.join(file)).unwrap(),
            std::fs::read(student.join(file)).unwrap(),
            "{file} differs"
        );
    }
    let manifest = std::fs::read_to_string(student.join("Cargo.toml")).unwrap();
    let members = manifest
        .split("members = [")
        .nth(1)
        .and_then(|m| m.split(']').next())
        .expect("no members list");
    let members: Vec<&str> = members
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .collect();
    let dirs = TINYKV_CRATES.map(|(dir, _)| dir);
    for krate in LAB_CRATES
        .iter()
        .chain(&dirs)
        .chain(&["labrpc", "tests", "labtool"])
    {
        assert!(members.contains(krate), "{krate} is not a member");
    }
    for member in &members {
        assert!(
            student.join(member).join("Cargo.toml").is_file(),
            "member {member} has no Cargo.toml"
        );
    }

    let total: usize = regions_by_crate.values().sum();
    assert!(
        stdout.contains(&format!(" {total} solution regions replaced")),
        "labtool counted differently than {total}: {stdout}"
    );
}

/// The target directory of the running tests (the skeleton is checked in
/// its dev-profile half): this binary is
/// `<target>/<profile>/deps/skeleton-<hash>`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| root().join("target"))
}

#[test]
fn skeleton_compiles_without_warnings() {
    let (_dir, student, _) = generate();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "check",
        "--offline",
        "--all-targets",
        "--message-format=short",
    ]);
    // The crates with holes and the tester that uses them; the rest of the
    // workspace (labrpc aside, which they build on) is copied unchanged.
    for krate in LAB_CRATES.iter().chain(&["tests"]) {
        cmd.args(["-p", krate]);
    }
    for (_, package) in TINYKV_CRATES {
        cmd.args(["-p", package]);
    }
    let target = target_dir();
    let out = cmd
        .current_dir(&student)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cannot run cargo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the skeleton does not compile:\n{stderr}"
    );
    // `path:line:col: warning: …`; a file the generator changed is its fault.
    let root = root();
    let changed =
        |path: &str| std::fs::read(root.join(path)).ok() != std::fs::read(student.join(path)).ok();
    let (ours, inherited): (Vec<&str>, Vec<&str>) = stderr
        .lines()
        .filter(|l| l.contains(": warning: "))
        .partition(|l| changed(l.split(':').next().unwrap_or_default()));
    if !inherited.is_empty() {
        eprintln!(
            "warnings of the reference, in files the skeleton copies unchanged:\n{}",
            inherited.join("\n")
        );
    }
    assert!(
        ours.is_empty(),
        "the skeleton's holes cause warnings:\n{}",
        ours.join("\n")
    );
}
