//! Course-style grading: each test of a part over K seeds, with each
//! test's CPU time next to the reference solution's.
//!
//! The reference solution is this repository's own code. Its CPU figures
//! live in `labtool/reference-cpu.tsv` (checked in, compiled into labtool,
//! and so shipped with the student skeleton), one line per test: name, tab,
//! mean CPU milliseconds per run. `labtool grade PART --record-reference`
//! run on the reference solution rewrites that part's lines with what it
//! measured. Virtual time does not charge CPU, so this column is where a
//! solution that re-encodes its whole log on every persist shows up.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::run::RunResult;

/// The test-name filter of a part.
pub fn part_filter(part: &str) -> Result<String, Error> {
    let p = part.to_lowercase();
    match p.as_str() {
        "2" => Ok("_2".into()),
        "3a" | "3b" | "3c" | "3d" | "4a" | "4b" | "5a" | "5b" => Ok(format!("_{p}")),
        "challenge" => Ok("challenge".into()),
        _ => Err(Error::UnknownPart(part.to_string())),
    }
}

/// The reference solution's CPU table as compiled into labtool.
const REFERENCE_CPU: &str = include_str!("../reference-cpu.tsv");

/// Where `--record-reference` writes the table: labtool's own source tree.
pub fn reference_cpu_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("reference-cpu.tsv")
}

/// Parses the table: test name → mean CPU milliseconds. Lines starting
/// with `#` are comments; a malformed line is skipped (the table only
/// annotates the grade).
pub fn parse_reference(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let (name, ms) = l.split_once('\t')?;
            Some((name.trim().to_string(), ms.trim().parse().ok()?))
        })
        .collect()
}

/// How a recording's comment line starts.
const RECORDED: &str = "# recorded: ";

/// The table with `measured` (test → mean CPU ms) merged in, sorted by
/// test, under a header saying how it was made.
pub fn merge_reference(old: &str, measured: &BTreeMap<String, f64>, how: &str) -> String {
    let mut table = parse_reference(old);
    table.extend(measured.iter().map(|(k, v)| (k.clone(), *v)));
    let mut out = String::from(
        "# The reference solution's (this repository's) mean CPU milliseconds per run of\n\
         # each test, shown by `labtool grade` next to a student's. Regenerate a part on\n\
         # the reference solution with `labtool grade PART --record-reference`.\n",
    );
    // Each recording says how it was made; earlier ones stay listed.
    for line in old.lines().filter(|l| l.starts_with(RECORDED)) {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "{RECORDED}{how}");
    for (name, ms) in &table {
        let _ = writeln!(out, "{name}\t{ms:.1}");
    }
    out
}

/// Mean CPU milliseconds per test over `results` (tests that reported it).
pub fn measured_cpu(results: &[RunResult]) -> BTreeMap<String, f64> {
    crate::report::stats(results)
        .into_iter()
        .filter_map(|(name, s)| Some((name, s.cpu_mean()?.as_secs_f64() * 1000.0)))
        .collect()
}

/// The score table; a test earns its points only if every run passed.
pub fn grade_table(part: &str, results: &[RunResult], points_per_test: u32) -> (String, bool) {
    grade_table_with(
        part,
        results,
        points_per_test,
        &parse_reference(REFERENCE_CPU),
    )
}

/// [`grade_table`] against a given reference CPU table.
pub fn grade_table_with(
    part: &str,
    results: &[RunResult],
    points_per_test: u32,
    reference: &BTreeMap<String, f64>,
) -> (String, bool) {
    let stats = crate::report::stats(results);
    let mut out = String::new();
    let mut earned = 0;
    let mut all_ok = true;
    let _ = writeln!(
        out,
        "Grading part {part}: each test over {} seeds",
        results.len() / stats.len().max(1)
    );
    for (name, s) in &stats {
        let passed = s.runs - s.failing_seeds.len();
        let ok = s.failing_seeds.is_empty();
        all_ok &= ok;
        let pts = if ok { points_per_test } else { 0 };
        earned += pts;
        let _ = writeln!(
            out,
            "  {name:50} passed {passed:>3}/{:<3}  {pts:>3}/{points_per_test} points  \
             unknown {:>3}  cpu s {} (reference {})",
            s.runs,
            s.unknown,
            s.cpu(),
            reference
                .get(name)
                .map_or_else(|| "-".to_string(), |ms| format!("{:.2}", ms / 1000.0))
        );
    }
    let _ = writeln!(
        out,
        "Score: {earned}/{}",
        points_per_test as usize * stats.len()
    );
    (out, all_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_table_parses_and_names_real_tests() {
        let table = parse_reference(REFERENCE_CPU);
        assert!(table.len() >= 50, "only {} tests in the table", table.len());
        for part in ["_3a", "_3b", "_3c", "_3d", "_2", "_4a", "_4b", "_5a", "_5b"] {
            assert!(
                table.keys().any(|k| k.ends_with(part)),
                "no reference CPU figure for part {part}"
            );
        }
        assert!(table.values().all(|ms| *ms >= 0.0));
    }

    #[test]
    fn merging_replaces_a_part_and_keeps_the_rest() {
        let old = "# comment\n# recorded: first\na_3a\t10.0\nb_3b\t20.0\nbroken line\n";
        let new: BTreeMap<String, f64> = [("b_3b".to_string(), 5.24), ("c_3b".to_string(), 1.0)]
            .into_iter()
            .collect();
        let merged = merge_reference(old, &new, "test");
        let table = parse_reference(&merged);
        assert_eq!(table.len(), 3);
        assert_eq!(table["a_3a"], 10.0);
        assert_eq!(table["b_3b"], 5.2);
        assert_eq!(table["c_3b"], 1.0);
        assert!(merged.contains("# recorded: first\n# recorded: test\n"));
        assert!(!merged.contains("# comment"));
    }
}
