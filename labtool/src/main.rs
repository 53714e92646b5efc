//! # labtool — tools for people debugging distributed code
//!
//! * `labtool stress FILTER… --seeds 1..100`: run tests over many seeds in
//!   parallel; a table of runs, failures, failing seeds, wall and virtual
//!   time, and the command that replays each failure.
//! * `labtool grade PART`: each test of a part over K seeds, scored like the
//!   course's grading; non-zero exit on any failure.
//! * `labtool logs FILE`: a simulation log in one coloured column per peer,
//!   filtered by topic and peer.
//! * `labtool timeline FILE -o run.html`: a picture of the run — roles,
//!   terms, commits, snapshots, crashes — against virtual time.
//! * `labtool skeleton --out DIR`: the student workspace, with every
//!   solution region replaced by `todo!("3A: …")`.
//! * `labtool list [FILTER…]`: the tests a filter selects.
//!
//! Exit status: 0 all good, 1 a test failed, 2 bad input.

mod discover;
mod error;
mod grade;
mod logs;
mod report;
mod run;
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
    /// Also run #[ignore]d tests.
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
        #[command(flatten)]
        selection: Selection,
    },
    /// Grade a part (2, 3a … 5b, challenge) over K seeds per test.
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
        #[command(flatten)]
        selection: Selection,
    },
    /// Show a simulation log in one column per peer.
    Logs {
        /// A saved `RUST_LOG=debug … --nocapture` output.
        file: PathBuf,
        /// Keep only these topics (leader, vote, commit, snapshot, client, crash, config, rpc, other).
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
    /// Write an HTML timeline of a simulation log.
    Timeline {
        /// A saved `RUST_LOG=debug … --nocapture` output.
        file: PathBuf,
        /// Where to write the page.
        #[arg(short, long, default_value = "timeline.html")]
        output: PathBuf,
    },
    /// Generate the student workspace: solution regions become todo!()s.
    Skeleton {
        /// Where to write it (must not exist or be empty).
        #[arg(short, long)]
        out: PathBuf,
        /// The reference workspace (default: the current directory).
        #[arg(long, default_value = ".")]
        root: PathBuf,
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

fn cases(selection: &Selection, filters: &[String]) -> Result<Vec<TestCase>, Error> {
    let all = if selection.binaries.is_empty() {
        eprintln!("labtool: building the tests…");
        discover::discover(!selection.debug)?
    } else {
        discover::from_binaries(&selection.binaries)?
    };
    discover::select(&all, filters, selection.include_ignored)
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
            selection,
        } => {
            let seeds = parse_seeds(&seeds)?;
            let cases = cases(&selection, &filters)?;
            eprintln!("labtool: {} tests × {} seeds", cases.len(), seeds.len());
            let results = run::run_all(&cases, &seeds, jobs(j), !std::io::stderr().is_terminal());
            print!("{}", report::stress_table(&results));
            Ok(results.iter().all(|r| r.passed))
        }
        Cmd::Grade {
            part,
            runs,
            points,
            jobs: j,
            selection,
        } => {
            let filter = grade::part_filter(&part)?;
            if runs == 0 {
                return Err(Error::BadSeeds("0 runs".into()));
            }
            let cases = cases(&selection, &[filter])?;
            let seeds: Vec<u64> = (1..=runs).collect();
            let results = run::run_all(&cases, &seeds, jobs(j), !std::io::stderr().is_terminal());
            let (table, ok) = grade::grade_table(&part, &results, points);
            print!("{table}");
            if !ok {
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
        Cmd::Timeline { file, output } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Error::Log(format!("cannot read {}: {e}", file.display())))?;
            let events = logs::parse(&text, &file.display().to_string())?;
            let title = format!("timeline of {}", file.display());
            std::fs::write(&output, timeline::render(&events, &title))?;
            println!("wrote timeline to {}", output.display());
            Ok(true)
        }
        Cmd::Skeleton { out, root } => {
            let (files, holes) = skeleton::generate(&root, &out)?;
            println!(
                "wrote the skeleton to {}: {files} files, {holes} solution regions replaced by todo!()",
                out.display()
            );
            Ok(true)
        }
        Cmd::List { filters, selection } => {
            for c in cases(&selection, &filters)? {
                println!("{}{}", c.name, if c.ignored { " (ignored)" } else { "" });
            }
            Ok(true)
        }
    }
}
