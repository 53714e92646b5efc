//! Running (test, seed) pairs in parallel, one process each.

use std::collections::VecDeque;
use std::process::Command;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use labrpc::sim::STATUS_PREFIX;

use crate::discover::TestCase;

/// The outcome of one run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Which test.
    pub case: TestCase,
    /// With which seed.
    pub seed: u64,
    /// Did it pass.
    pub passed: bool,
    /// Wall time of the process.
    pub wall: Duration,
    /// Virtual time the simulation reported, if it is a simulated test.
    pub virtual_time: Option<Duration>,
    /// The replay command the simulation printed, if it failed.
    pub replay: Option<String>,
    /// The last lines of output of a failed run.
    pub tail: String,
    /// For the first failure of each test: the timeline written for it, or
    /// why none could be written.
    pub timeline: Option<Result<std::path::PathBuf, String>>,
    /// The simulation's digest of every RPC (`labrpc::sim::digest`), if it
    /// is a simulated test that passed.
    pub digest: Option<String>,
    /// The history checks' verdicts the simulation reported (`check=` on
    /// its report line, e.g. `ok` or `ok,unknown`), if it ran any.
    pub check: Option<String>,
    /// CPU time of the simulation (`cpu_ms=` on its report line).
    pub cpu: Option<Duration>,
}

impl RunResult {
    /// True if a history check of this run ended `Unknown` (out of budget).
    pub fn unknown(&self) -> bool {
        self.check
            .as_deref()
            .is_some_and(|c| c.split(',').any(|v| v == "unknown"))
    }
}

/// Whether runs get `LAB_STRICT_CHECK=1` (an `Unknown` history verdict
/// fails the test); an explicit `LAB_STRICT_CHECK` in labtool's own
/// environment is passed through instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strict {
    /// Set `LAB_STRICT_CHECK=1` unless the environment says otherwise.
    ByDefault,
    /// Leave the variable as it is (the reference behaviour: Unknown passes).
    AsIs,
}

/// Runs `case` with `seed` a second time if the first run passed, and fails
/// it if the two runs' digests differ: the run depended on more than its
/// seed, so a failure of it could not be replayed.
fn run_twice(case: TestCase, seed: u64, strict: Strict) -> RunResult {
    let mut first = run_one(case.clone(), seed, strict);
    if !first.passed || first.digest.is_none() {
        return first;
    }
    let second = run_one(case, seed, strict);
    if second.passed && second.digest == first.digest {
        return first;
    }
    let cmd = command(&first.case, seed);
    let replay = format!(
        "LAB_SEED={seed} LAB_SIM_REPORT=1 {} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    first.passed = false;
    first.tail = if second.passed {
        format!(
            "nondeterministic: two runs with seed {seed} ended with different network digests \
             ({} then {}). Something other than the seed steers the run: iteration over a std \
             HashMap, std::time, an OS thread, rand::rng(), or a select! without `biased;`. \
             Run twice and compare the labrpc-sim digest lines: {replay}",
            first.digest.as_deref().unwrap_or("?"),
            second.digest.as_deref().unwrap_or("?"),
        )
    } else {
        format!(
            "nondeterministic: seed {seed} passed once, then failed:\n{}",
            second.tail
        )
    };
    first.replay = Some(format!("{replay}   (nondeterministic: run it twice)"));
    first
}

/// Runs every (case, seed) on `jobs` workers with a progress bar.
/// With `twice`, each passing simulated run is repeated and must end with
/// the same digest (see [`run_twice`]).
pub fn run_all(
    cases: &[TestCase],
    seeds: &[u64],
    jobs: usize,
    quiet: bool,
    twice: bool,
    strict: Strict,
) -> Vec<RunResult> {
    let work: VecDeque<(TestCase, u64)> = cases
        .iter()
        .flat_map(|c| seeds.iter().map(move |&s| (c.clone(), s)))
        .collect();
    let total = work.len() as u64;
    let work = Arc::new(Mutex::new(work));
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total)
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} runs, {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let (tx, rx) = mpsc::channel();
    let mut workers = Vec::new();
    for _ in 0..jobs.max(1) {
        let (work, tx) = (work.clone(), tx.clone());
        workers.push(std::thread::spawn(move || {
            loop {
                let next = work.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                let Some((case, seed)) = next else { return };
                let result = if twice {
                    run_twice(case, seed, strict)
                } else {
                    run_one(case, seed, strict)
                };
                if tx.send(result).is_err() {
                    return;
                }
            }
        }));
    }
    drop(tx);
    let mut results = Vec::new();
    let mut failures = 0;
    for result in rx {
        if !result.passed {
            failures += 1;
            bar.println(format!(
                "FAIL {} seed {}: {}",
                result.case.name,
                result.seed,
                result.replay.as_deref().unwrap_or("(no replay line)")
            ));
        }
        bar.inc(1);
        bar.set_message(format!("{failures} failed"));
        results.push(result);
    }
    for w in workers {
        let _ = w.join();
    }
    bar.finish_and_clear();
    results
}

/// The command that runs one test with one seed, its output uncaptured.
pub fn command(case: &TestCase, seed: u64) -> Command {
    let mut cmd = Command::new(&case.binary);
    cmd.args(["--exact", &case.name, "--test-threads=1", "--nocapture"]);
    if case.ignored {
        cmd.arg("--ignored");
    }
    cmd.env("LAB_SEED", seed.to_string());
    cmd
}

/// Runs one test with one seed.
pub fn run_one(case: TestCase, seed: u64, strict: Strict) -> RunResult {
    let start = Instant::now();
    let mut cmd = command(&case, seed);
    cmd.env("LAB_SIM_REPORT", "1");
    if strict == Strict::ByDefault && std::env::var_os(STRICT_CHECK_ENV).is_none() {
        cmd.env(STRICT_CHECK_ENV, "1");
    }
    let out = cmd.output();
    let wall = start.elapsed();
    let (passed, stdout, stderr) = match out {
        Ok(o) => (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ),
        Err(e) => (
            false,
            String::new(),
            format!("cannot run {}: {e}", case.binary.display()),
        ),
    };
    let all = format!("{stdout}\n{stderr}");
    let virtual_time = all
        .lines()
        .filter_map(|l| l.split(STATUS_PREFIX).nth(1))
        .filter_map(|l| l.split("virtual_ms=").nth(1))
        .filter_map(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .next_back()
        .map(Duration::from_millis);
    let digest = all
        .lines()
        .filter_map(|l| l.split(STATUS_PREFIX).nth(1)?.strip_prefix("result=ok "))
        .filter_map(|l| l.split("digest=").nth(1))
        .filter_map(|v| v.split_whitespace().next())
        .next_back()
        .map(str::to_string);
    let replay = all
        .lines()
        .find_map(|l| l.split("==== replay: ").nth(1))
        .map(str::to_string);
    let check = report_field(&all, "check");
    let cpu = report_field(&all, "cpu_ms")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis);
    let tail = if passed {
        String::new()
    } else {
        let lines: Vec<&str> = all.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(12)..].join("\n")
    };
    RunResult {
        case,
        seed,
        passed,
        wall,
        virtual_time,
        replay,
        tail,
        timeline: None,
        digest,
        check,
        cpu,
    }
}

/// The environment variable that makes an `Unknown` history verdict fail.
pub const STRICT_CHECK_ENV: &str = "LAB_STRICT_CHECK";

/// The value of `key=` on the last `labrpc-sim:` report line of `output`.
fn report_field(output: &str, key: &str) -> Option<String> {
    let prefix = format!("{key}=");
    output
        .lines()
        .filter_map(|l| l.split(labrpc::sim::STATUS_PREFIX).nth(1))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|f| f.strip_prefix(prefix.as_str()))
        })
        .next_back()
        .map(str::to_string)
}
