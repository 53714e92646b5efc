//! # labtool — tools for people debugging distributed code
//!
//! * `labtool stress FILTER… --seeds 1..100`: run tests over many seeds in
//!   parallel; a table of runs, failures, history checks that ended
//!   `Unknown`, failing seeds, wall, CPU and virtual time, the command that
//!   replays each failure, and an HTML timeline of the first failure of each
//!   test (rerun with `RUST_LOG=debug`). Runs get `LAB_STRICT_CHECK=1` (an
//!   `Unknown` verdict fails) unless `LAB_STRICT_CHECK` is set already.
//! * `labtool grade PART`: each test of a part over K seeds, scored like the
//!   course's grading, with its Unknown count and CPU time next to the
//!   reference solution's (`labtool/reference-cpu.tsv`, rewritten per part
//!   by `--record-reference`); non-zero exit on any failure. `Unknown`
//!   passes here, as in the reference.
//! * `labtool logs FILE`: a simulation log in one coloured column per peer,
//!   filtered by topic and peer.
//! * `labtool timeline FILE -o run.html`: a picture of the run — roles,
//!   terms, commits, snapshots, crashes — against virtual time;
//!   `labtool timeline --test NAME --seed N` runs the test to get the log.
//! * `labtool skeleton --out DIR`: the student workspace, with every
//!   solution region replaced by `todo!("3A: …")`.
//! * `labtool list [FILTER…]`: the tests a filter selects.
//! * `labtool search [NAME] --depth N --secs S`: model-check the Raft core
//!   (`raft::search`) with a bigger budget, showing progress; a
//!   counterexample is written as a trace, a timeline page, a log and a
//!   unit test that replays it.
//!
//! Exit status: 0 all good, 1 a test failed, 2 bad input.

mod discover;
mod error;
mod grade;
mod logs;
mod report;
mod run;
mod search;
mod skeleton;
mod timeline;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use discover::TestCase;
use error::Error;

#[derive(Parser)]
#[command(
    name = "labtool",
    version,
    about = "Stress runner, grader, log viewer and timeline for the labs"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(clap::Args)]
struct Selection {
    /// Test binaries to use instead of building the workspace's tests.
    #[arg(long = "binary")]
    binaries: Vec<PathBuf>,
    /// Also run the tests marked `ignore`.
    #[arg(long)]
    include_ignored: bool,
    /// Build in debug mode instead of release.
    #[arg(long)]
    debug: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run tests over a range of seeds, in parallel.
    Stress {
        /// Substrings of test names (e.g. 3c, figure8, snapshot_size_4b).
        #[arg(required = true)]
        filters: Vec<String>,
        /// Seeds: A..B (B exclusive) or A..=B.
        #[arg(long, default_value = "1..=100")]
        seeds: String,
        /// Parallel runs (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Where to write the timeline of each test's first failure
        /// (default: `labtool/` in the test binaries' target directory).
        #[arg(long)]
        timeline_dir: Option<PathBuf>,
        /// Run each passing seed twice and fail it if the two runs differ
        /// (their digests of every RPC): finds code whose behaviour depends
        /// on more than the seed, whose failures could not be replayed.
        #[arg(long)]
        twice: bool,
        /// Maintainers, on the reference solution: merge the mean CPU per
        /// test into labtool/reference-cpu.tsv (what `grade` shows as the
        /// reference), if every run passed.
        #[arg(long)]
        record_reference: bool,
        #[command(flatten)]
        selection: Selection,
    },
    /// Grade a part (2, 3a … 5b, challenge) over K seeds per test; failures
    /// get their replay commands and timelines, as with `stress`.
    Grade {
        /// The part.
        part: String,
        /// Seeds per test.
        #[arg(long, default_value_t = 10)]
        runs: u64,
        /// Points per test.
        #[arg(long, default_value_t = 10)]
        points: u32,
        /// Parallel runs (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Maintainers, on the reference solution: write this part's mean
        /// CPU per test into labtool/reference-cpu.tsv (the "reference"
        /// column), if every run passed.
        #[arg(long)]
        record_reference: bool,
        #[command(flatten)]
        selection: Selection,
    },
    /// Show a simulation log in one column per peer.
    Logs {
        /// A saved `RUST_LOG=debug … --nocapture` output.
        file: PathBuf,
        /// Keep only these topics (leader, vote, commit, snapshot, client, crash, config, net, rpc, other).
        #[arg(long = "topic")]
        topics: Vec<String>,
        /// Keep only these peers.
        #[arg(long = "node")]
        nodes: Vec<String>,
        /// Column width.
        #[arg(long, default_value_t = 36)]
        width: usize,
        /// Colours.
        #[arg(long, value_enum, default_value = "auto")]
        color: Color,
    },
    /// Write an HTML timeline of a simulation log, or of a test run.
    Timeline {
        /// A saved `RUST_LOG=debug … --nocapture` output.
        #[arg(required_unless_present = "test", conflicts_with = "test")]
        file: Option<PathBuf>,
        /// Instead of a saved log, run this test (its full name, or a
        /// substring only it contains) with `RUST_LOG=debug`; its log is
        /// saved next to the page, with the extension `.log`.
        #[arg(long)]
        test: Option<String>,
        /// The seed of that run.
        #[arg(long, default_value_t = 1, requires = "test")]
        seed: u64,
        /// Where to write the page.
        #[arg(short, long, default_value = "timeline.html")]
        output: PathBuf,
        #[command(flatten)]
        selection: Selection,
    },
    /// Generate the student workspace: solution regions become todo!()s.
    Skeleton {
        /// Where to write it (must not exist or be empty).
        #[arg(short, long)]
        out: PathBuf,
        /// The reference workspace (default: the current directory).
        #[arg(long, default_value = ".")]
        root: PathBuf,
        /// Leave the regions of these parts filled: a part (`3C`) or a
        /// prefix (`3` for all of 6.5840 Raft, `p` for every TinyKV part).
        #[arg(long = "keep")]
        keep: Vec<String>,
    },
    /// Model-check the Raft core with a bigger budget than its tests
    /// (progress every second); a counterexample is written to --out as
    /// text, an HTML timeline, a log and a unit test that replays it.
    Search {
        /// The search: elections, commit, crash, snapshot, partition,
        /// conf_change, transfer.
        #[arg(default_value = "elections")]
        name: String,
        /// Most events along a path.
        #[arg(long, default_value_t = 10)]
        depth: usize,
        /// Wall-time budget in seconds.
        #[arg(long, default_value_t = 60)]
        secs: u64,
        /// Search a broken variant of the core (e.g. DoubleVote) to see one caught.
        #[arg(long)]
        bug: Option<String>,
        /// Fold states that differ only in the peers' names.
        #[arg(long)]
        symmetry: bool,
        /// Breadth-first: shortest counterexamples, far more memory.
        #[arg(long)]
        bfs: bool,
        /// Where a counterexample is written.
        #[arg(short, long, default_value = "search")]
        out: PathBuf,
    },
    /// List the tests the filters select.
    List {
        /// Substrings of test names.
        filters: Vec<String>,
        #[command(flatten)]
        selection: Selection,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("labtool: {e}");
            ExitCode::from(2)
        }
    }
}

fn parse_seeds(spec: &str) -> Result<Vec<u64>, Error> {
    let bad = || Error::BadSeeds(spec.to_string());
    let (a, b, inclusive) = if let Some((a, b)) = spec.split_once("..=") {
        (a, b, true)
    } else if let Some((a, b)) = spec.split_once("..") {
        (a, b, false)
    } else {
        let n: u64 = spec.trim().parse().map_err(|_| bad())?;
        return Ok(vec![n]);
    };
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    let seeds: Vec<u64> = if inclusive {
        (a..=b).collect()
    } else {
        (a..b).collect()
    };
    if seeds.is_empty() {
        return Err(bad());
    }
    Ok(seeds)
}

/// Every test of the selected binaries (building the workspace's tests
/// unless binaries are given).
fn all_cases(selection: &Selection) -> Result<Vec<TestCase>, Error> {
    if selection.binaries.is_empty() {
        eprintln!("labtool: building the tests…");
        discover::discover(!selection.debug)
    } else {
        discover::from_binaries(&selection.binaries)
    }
}

fn cases(selection: &Selection, filters: &[String]) -> Result<Vec<TestCase>, Error> {
    discover::select(&all_cases(selection)?, filters, selection.include_ignored)
}

/// The one test `name` designates: the test of that exact name (or module
/// path suffix), else the only test whose name contains it.
fn one_case(selection: &Selection, name: &str) -> Result<TestCase, Error> {
    let matching = discover::select(&all_cases(selection)?, &[name.to_string()], true)?;
    let exact: Vec<&TestCase> = matching
        .iter()
        .filter(|c| c.name == name || c.name.ends_with(&format!("::{name}")))
        .collect();
    match (exact.as_slice(), matching.as_slice()) {
        ([one], _) => Ok((*one).clone()),
        ([], [one]) => Ok(one.clone()),
        _ => {
            let names: Vec<&str> = matching.iter().map(|c| c.name.as_str()).take(10).collect();
            Err(Error::Usage(format!(
                "{name:?} matches {} tests ({}{}); name one",
                matching.len(),
                names.join(", "),
                if matching.len() > 10 { ", …" } else { "" }
            )))
        }
    }
}

/// Reruns the first failing seed of each failing test (at most ten tests)
/// with `RUST_LOG=debug` and writes its timeline and log into `dir`
/// (default: next to the test binary's target directory).
fn failure_timelines(results: &mut [run::RunResult], dir: Option<&std::path::Path>) {
    let mut first: std::collections::BTreeMap<String, usize> = Default::default();
    for (i, r) in results.iter().enumerate() {
        if !r.passed {
            let best = first.entry(r.case.name.clone()).or_insert(i);
            if r.seed < results[*best].seed {
                *best = i;
            }
        }
    }
    for &i in first.values().take(10) {
        let r = &results[i];
        let dir = dir.map_or_else(
            || timeline::default_dir(&r.case.binary),
            |d| d.to_path_buf(),
        );
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        let stem = timeline::file_stem(&r.case.name, r.seed);
        let (html, log) = (
            dir.join(format!("{stem}.html")),
            dir.join(format!("{stem}.log")),
        );
        eprintln!(
            "labtool: rerunning {} with seed {} and RUST_LOG=debug for its timeline…",
            r.case.name, r.seed
        );
        let outcome = match timeline::for_run(&r.case, r.seed, &html, &log) {
            Ok(true) => Ok(html),
            Ok(false) => Err(format!(
                "the rerun with RUST_LOG=debug passed (log in {}); timeline of the passing rerun in {}",
                log.display(),
                html.display()
            )),
            Err(e) => Err(e.to_string()),
        };
        results[i].timeline = Some(outcome);
    }
}

/// `--record-reference`: merges the runs' mean CPU per test into
/// labtool/reference-cpu.tsv, unless a run failed.
fn record_reference_cpu(results: &[run::RunResult], ok: bool, how: &str) -> Result<(), Error> {
    if !ok {
        return Err(Error::Usage(
            "not recording reference CPU figures: a run failed".into(),
        ));
    }
    let path = grade::reference_cpu_path();
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let measured = grade::measured_cpu(results);
    // The machine's state belongs with the figures (CPU time grows under load).
    let load = std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "load unknown".to_string(),
        |l| {
            format!(
                "load average {}",
                l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
            )
        },
    );
    let how = format!("{how}, {load}");
    std::fs::write(&path, grade::merge_reference(&old, &measured, &how))?;
    eprintln!(
        "labtool: recorded {} reference CPU figures in {}",
        measured.len(),
        path.display()
    );
    Ok(())
}

fn jobs(n: Option<usize>) -> usize {
    n.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

fn run(cli: Cli) -> Result<bool, Error> {
    match cli.command {
        Cmd::Stress {
            filters,
            seeds,
            jobs: j,
            timeline_dir,
            twice,
            record_reference,
            selection,
        } => {
            let seeds_text = seeds.clone();
            let seeds = parse_seeds(&seeds)?;
            let cases = cases(&selection, &filters)?;
            eprintln!("labtool: {} tests × {} seeds", cases.len(), seeds.len());
            let mut results = run::run_all(
                &cases,
                &seeds,
                jobs(j),
                !std::io::stderr().is_terminal(),
                twice,
                run::Strict::ByDefault,
            );
            failure_timelines(&mut results, timeline_dir.as_deref());
            print!("{}", report::stress_table(&results));
            let ok = results.iter().all(|r| r.passed);
            if record_reference {
                let how = format!("stress {filters:?} --seeds {seeds_text}, {} jobs", jobs(j));
                record_reference_cpu(&results, ok, &how)?;
            }
            Ok(ok)
        }
        Cmd::Grade {
            part,
            runs,
            points,
            jobs: j,
            record_reference,
            selection,
        } => {
            let filter = grade::part_filter(&part)?;
            if runs == 0 {
                return Err(Error::BadSeeds("0 runs".into()));
            }
            let cases = cases(&selection, &[filter])?;
            let seeds: Vec<u64> = (1..=runs).collect();
            let mut results = run::run_all(
                &cases,
                &seeds,
                jobs(j),
                !std::io::stderr().is_terminal(),
                false,
                run::Strict::AsIs,
            );
            let (table, ok) = grade::grade_table(&part, &results, points);
            print!("{table}");
            if record_reference {
                let how = format!("grade {part}, {runs} seeds per test, {} jobs", jobs(j));
                record_reference_cpu(&results, ok, &how)?;
            }
            if !ok {
                failure_timelines(&mut results, None);
                print!("\n{}", report::stress_table(&results));
            }
            Ok(ok)
        }
        Cmd::Logs {
            file,
            topics,
            nodes,
            width,
            color,
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Error::Log(format!("cannot read {}: {e}", file.display())))?;
            let events = logs::parse(&text, &file.display().to_string())?;
            let color = match color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => std::io::stdout().is_terminal(),
            };
            print!(
                "{}",
                logs::columns(&events, &topics, &nodes, width.max(8), color)
            );
            Ok(true)
        }
        Cmd::Timeline {
            file: None,
            test: Some(test),
            seed,
            output,
            selection,
        } => {
            let case = one_case(&selection, &test)?;
            let log = output.with_extension("log");
            let failed = timeline::for_run(&case, seed, &output, &log)?;
            println!(
                "{} with seed {seed} {}; wrote timeline to {} and its log to {}",
                case.name,
                if failed { "failed" } else { "passed" },
                output.display(),
                log.display()
            );
            Ok(true)
        }
        Cmd::Timeline { file: None, .. } => Err(Error::Usage(
            "timeline needs a log file or --test NAME".into(),
        )),
        Cmd::Timeline {
            file: Some(file),
            output,
            ..
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Error::Log(format!("cannot read {}: {e}", file.display())))?;
            let events = logs::parse(&text, &file.display().to_string())?;
            let title = format!("timeline of {}", file.display());
            std::fs::write(&output, timeline::render(&events, &title))?;
            println!("wrote timeline to {}", output.display());
            Ok(true)
        }
        Cmd::Skeleton { out, root, keep } => {
            let (files, holes) = skeleton::generate(&root, &out, &keep)?;
            println!(
                "wrote the skeleton to {}: {files} files, {holes} solution regions replaced by todo!()",
                out.display()
            );
            Ok(true)
        }
        Cmd::Search {
            name,
            depth,
            secs,
            bug,
            symmetry,
            bfs,
            out,
        } => search::run(&search::Request {
            preset: name,
            depth,
            secs,
            bug,
            symmetry,
            bfs,
            out,
        }),
        Cmd::List { filters, selection } => {
            for c in cases(&selection, &filters)? {
                println!("{}{}", c.name, if c.ignored { " (ignored)" } else { "" });
            }
            Ok(true)
        }
    }
}
