//! Summary tables.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use crate::run::RunResult;

/// Per-test statistics over its runs.
#[derive(Debug, Default)]
pub struct TestStats {
    /// Number of runs.
    pub runs: usize,
    /// Seeds that failed.
    pub failing_seeds: Vec<u64>,
    /// Replay command of the first failure.
    pub first_replay: Option<String>,
    /// Runs whose history check ended `Unknown`.
    pub unknown: usize,
    walls: Vec<Duration>,
    virtuals: Vec<Duration>,
    cpus: Vec<Duration>,
}

impl TestStats {
    /// Mean and max CPU seconds of the runs, `-` if none reported it.
    pub fn cpu(&self) -> String {
        mean_max(&self.cpus)
    }

    /// Mean CPU time of the runs that reported it.
    pub fn cpu_mean(&self) -> Option<Duration> {
        if self.cpus.is_empty() {
            return None;
        }
        Some(self.cpus.iter().sum::<Duration>() / self.cpus.len() as u32)
    }
}

/// Groups results by test name.
pub fn stats(results: &[RunResult]) -> BTreeMap<String, TestStats> {
    let mut by_test: BTreeMap<String, TestStats> = BTreeMap::new();
    for r in results {
        let s = by_test.entry(r.case.name.clone()).or_default();
        s.runs += 1;
        s.walls.push(r.wall);
        s.virtuals.extend(r.virtual_time);
        s.cpus.extend(r.cpu);
        s.unknown += usize::from(r.unknown());
        if !r.passed {
            s.failing_seeds.push(r.seed);
            if s.first_replay.is_none() {
                s.first_replay = r.replay.clone();
            }
        }
    }
    for s in by_test.values_mut() {
        s.failing_seeds.sort_unstable();
    }
    by_test
}

fn mean_max(v: &[Duration]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let mean = v.iter().sum::<Duration>() / v.len() as u32;
    let max = v.iter().max().copied().unwrap_or_default();
    format!("{:.2}/{:.2}", mean.as_secs_f64(), max.as_secs_f64())
}

/// The stress runner's final table.
pub fn stress_table(results: &[RunResult]) -> String {
    let stats = stats(results);
    let width = stats.keys().map(String::len).max().unwrap_or(4).max(4);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:width$}  {:>5}  {:>5}  {:>7}  {:>15}  {:>14}  {:>17}  failing seeds",
        "test",
        "runs",
        "fails",
        "unknown",
        "wall s mean/max",
        "cpu s mean/max",
        "virtual s mean/max"
    );
    for (name, s) in &stats {
        let seeds: Vec<String> = s.failing_seeds.iter().take(8).map(u64::to_string).collect();
        let more = if s.failing_seeds.len() > 8 {
            " …"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{name:width$}  {:>5}  {:>5}  {:>7}  {:>15}  {:>14}  {:>17}  {}{more}",
            s.runs,
            s.failing_seeds.len(),
            s.unknown,
            mean_max(&s.walls),
            mean_max(&s.cpus),
            mean_max(&s.virtuals),
            seeds.join(" ")
        );
    }
    let failed: Vec<&RunResult> = results.iter().filter(|r| !r.passed).collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "\nreplay a failure with:");
        for r in failed.iter().take(10) {
            let cmd = r.replay.clone().unwrap_or_else(|| {
                format!(
                    "LAB_SEED={} {} --exact {}",
                    r.seed,
                    r.case.binary.display(),
                    r.case.name
                )
            });
            let _ = writeln!(out, "  {cmd}");
            match &r.timeline {
                Some(Ok(html)) => {
                    let _ = writeln!(out, "    timeline: {}", html.display());
                }
                Some(Err(why)) => {
                    let _ = writeln!(out, "    no timeline: {why}");
                }
                None => {}
            }
        }
        let first = failed[0];
        let _ = writeln!(
            out,
            "\nlast lines of {} with seed {}:\n{}",
            first.case.name, first.seed, first.tail
        );
    }
    out
}
