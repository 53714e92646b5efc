//! Course-style grading: each test of a part over K seeds.

use std::fmt::Write;

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

/// The score table; a test earns its points only if every run passed.
pub fn grade_table(part: &str, results: &[RunResult], points_per_test: u32) -> (String, bool) {
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
             unknown {:>3}  cpu s {}",
            s.runs,
            s.unknown,
            s.cpu()
        );
    }
    let _ = writeln!(
        out,
        "Score: {earned}/{}",
        points_per_test as usize * stats.len()
    );
    (out, all_ok)
}
