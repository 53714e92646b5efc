//! The test-mr.sh scenarios as real multi-process jobs, on the generated
//! corpus and (when present) on the Gutenberg books.
//!
//! A small harness of our own (`harness = false`): the scenarios spend most
//! of their time in sleeps (1 s timing probes, 2–5 s jobcount maps, crash
//! workers stalling up to 10 s), so they all run side by side instead of one
//! per core. It understands the usual `cargo test` arguments: name filters,
//! `--exact`, `--skip`, `--list`, `--test-threads`, `--ignored`.
//!
//! Loop the crash scenario locally with
//! `for i in $(seq 10); do cargo test --release -p mr --test scenarios crash || break; done`.

mod cases;
#[path = "../common/mod.rs"]
mod common;

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Corpus;

type Run = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

struct Case {
    name: String,
    corpus: Corpus,
    run: Run,
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for corpus in [Corpus::Generated, Corpus::Gutenberg] {
        // Longest first, so the slow ones start at once.
        let scenarios: [(&str, Run); 7] = [
            ("crash", Box::new(move || cases::crash(corpus))),
            ("job_count", Box::new(move || cases::job_count(corpus))),
            ("early_exit", Box::new(move || cases::early_exit(corpus))),
            (
                "map_parallelism",
                Box::new(move || cases::map_parallelism(corpus)),
            ),
            (
                "reduce_parallelism",
                Box::new(move || cases::reduce_parallelism(corpus)),
            ),
            (
                "wc",
                Box::new(move || cases::matches_sequential(corpus, "wc", 3)),
            ),
            (
                "indexer",
                Box::new(move || cases::matches_sequential(corpus, "indexer", 2)),
            ),
        ];
        for (name, run) in scenarios {
            cases.push(Case {
                name: format!("{name}_{}", corpus.suffix()),
                corpus,
                run,
            });
        }
    }
    cases
}

#[derive(Default)]
struct Options {
    filters: Vec<String>,
    skips: Vec<String>,
    exact: bool,
    list: bool,
    ignored_only: bool,
    threads: Option<usize>,
}

fn options() -> Options {
    let mut opts = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| args.next()).unwrap_or_default();
        match flag.as_str() {
            "--exact" => opts.exact = true,
            "--list" => opts.list = true,
            "--ignored" => opts.ignored_only = true,
            "--skip" => opts.skips.push(value()),
            "--test-threads" => opts.threads = value().parse().ok().filter(|&n| n > 0),
            // Accepted for compatibility with the standard harness; they
            // change nothing here (child output goes to per-test log files).
            "--color" | "--format" | "-Z" | "--logfile" | "--shuffle-seed" => {
                value();
            }
            f if f.starts_with('-') => {}
            _ => opts.filters.push(arg),
        }
    }
    if opts.threads.is_none() {
        opts.threads = std::env::var("RUST_TEST_THREADS")
            .ok()
            .and_then(|v| v.parse().ok());
    }
    opts
}

fn selected(opts: &Options, name: &str) -> bool {
    let matches = |pattern: &String| {
        if opts.exact {
            name == pattern
        } else {
            name.contains(pattern.as_str())
        }
    };
    (opts.filters.is_empty() || opts.filters.iter().any(matches)) && !opts.skips.iter().any(matches)
}

fn main() -> ExitCode {
    let opts = options();
    let all = cases();
    let total = all.len();
    let chosen: Vec<Case> = all
        .into_iter()
        .filter(|c| selected(&opts, &c.name))
        .collect();
    if opts.list {
        for case in &chosen {
            println!("{}: test", case.name);
        }
        return ExitCode::SUCCESS;
    }
    // No scenario is #[ignore]d: `--ignored` selects none of them.
    let chosen = if opts.ignored_only {
        Vec::new()
    } else {
        chosen
    };
    let filtered_out = total - chosen.len();
    println!("\nrunning {} tests", chosen.len());
    let started = Instant::now();
    let threads = opts
        .threads
        .unwrap_or(chosen.len())
        .clamp(1, chosen.len().max(1));
    let queue = Mutex::new(chosen.into_iter().collect::<VecDeque<_>>());
    let (tx, rx) = mpsc::channel::<(String, Duration, Result<(), String>, bool)>();
    let (mut passed, mut failed, mut skipped) = (0, Vec::new(), 0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let queue = &queue;
            s.spawn(move || {
                loop {
                    let Some(case) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front()
                    else {
                        return;
                    };
                    let t0 = Instant::now();
                    let outcome = match case.corpus.dir() {
                        Err(note) => (Err(note), true),
                        Ok(_) => {
                            let result =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    (case.run)()
                                }));
                            (result.unwrap_or_else(|_| Err("panicked".into())), false)
                        }
                    };
                    let _ = tx.send((case.name, t0.elapsed(), outcome.0, outcome.1));
                }
            });
        }
        drop(tx);
        for (name, took, result, skip) in rx {
            match (result, skip) {
                (Err(note), true) => {
                    skipped += 1;
                    println!("test {name} ... ignored, {note}");
                }
                (Ok(()), _) => {
                    passed += 1;
                    println!("test {name} ... ok ({:.1} s)", took.as_secs_f64());
                }
                (Err(why), _) => {
                    println!("test {name} ... FAILED ({:.1} s)", took.as_secs_f64());
                    failed.push((name, why));
                }
            }
        }
    });
    if !failed.is_empty() {
        println!("\nfailures:");
        for (name, why) in &failed {
            println!("---- {name} ----\n{why}\n");
        }
    }
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {passed} passed; {} failed; {skipped} ignored; 0 measured; {filtered_out} filtered out; finished in {:.2}s\n",
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(101)
    }
}
