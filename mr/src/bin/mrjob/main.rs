//! `mrjob [--app APP] [--workers N] [FILES...]`
//!
//! A whole job in one command: a coordinator and N worker processes, with
//! progress and a summary. With no files it counts the words of a generated
//! corpus. The demo lives here, beside the library rather than in it: the
//! job runner (`job.rs`), the generated corpus (`corpus.rs`, with its own
//! fixed generator in `rng.rs`) and the progress display (`progress.rs`) are
//! not part of Lab 1.

#[path = "../front/cli.rs"]
mod cli;
mod corpus;
#[cfg(test)]
mod corpus_tests;
mod job;
mod progress;
mod rng;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mr::{DEFAULT_N_REDUCE, MrError, find_app};

use crate::cli::{
    init_logging, parse_duration, parse_positive, parse_with_apps, run_main, shutdown_signal,
};
use crate::job::{JobConfig, JobSummary, ROLE_ENV, run_job};
use crate::progress::Progress;

#[derive(Parser, Debug)]
#[command(
    name = "mrjob",
    about = "Runs a whole MapReduce job: a coordinator and worker processes. \
             With no files, counts the words of a generated corpus."
)]
struct JobArgs {
    /// The application to run
    #[arg(long, default_value = "wc")]
    app: String,
    /// Number of worker processes
    #[arg(long, default_value_t = 3, value_parser = parse_positive)]
    workers: usize,
    /// Number of reduce tasks
    #[arg(long, default_value_t = DEFAULT_N_REDUCE, value_parser = parse_positive)]
    n_reduce: usize,
    /// Hand a task to another worker after this much silence
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    task_timeout: Duration,
    // The help text is an attribute: rustdoc would read `<uid>` as HTML.
    #[arg(
        long,
        value_name = "DIR",
        help = "Working directory for inputs, outputs, socket and logs [default: <temp dir>/mrjob-<uid>]"
    )]
    dir: Option<PathBuf>,
    /// Input files [default: the generated corpus]
    #[arg(value_name = "FILES")]
    files: Vec<PathBuf>,
}

/// `mrjob [--app APP] [--workers N] [FILES...]`; when started with
/// [`ROLE_ENV`] set, acts as the coordinator or a worker instead.
fn main() -> ExitCode {
    match std::env::var(ROLE_ENV).as_deref() {
        Ok("coordinator") => return cli::coordinator_main(),
        Ok("worker") => return cli::worker_main(mr::apps::ALL),
        Ok(other) => {
            eprintln!("mrjob: error: {ROLE_ENV}={other} is not a role (coordinator or worker)");
            return ExitCode::from(2);
        }
        Err(_) => {}
    }
    init_logging();
    let args: JobArgs = parse_with_apps(mr::apps::ALL, "app");
    run_main("mrjob", async move {
        let app = find_app(mr::apps::ALL, &args.app)?;
        let exe = std::env::current_exe()
            .map_err(|e| MrError::Process(format!("cannot find my own executable: {e}")))?;
        let dir = args
            .dir
            .unwrap_or_else(|| std::env::temp_dir().join(format!("mrjob-{}", mr::user_tag())));
        let config = JobConfig {
            app,
            files: args.files,
            workers: args.workers,
            n_reduce: args.n_reduce,
            task_timeout: args.task_timeout,
            dir,
            exe,
        };
        let mut progress = Progress::for_stderr();
        let summary = tokio::select! {
            biased;
            () = shutdown_signal() => return Err(MrError::Interrupted),
            summary = run_job(config.clone(), &mut progress) => summary?,
        };
        print_summary(&config, &summary);
        Ok(())
    })
}

fn print_summary(config: &JobConfig, summary: &JobSummary) {
    let first = summary
        .outputs
        .first()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let last = summary
        .outputs
        .last()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned());
    println!(
        "output: {first} .. {} ({} lines in {} files)",
        last.unwrap_or_default(),
        summary.lines,
        summary.outputs.len()
    );
    if !summary.top_words.is_empty() {
        println!("ten most frequent words:");
        for (rank, (word, count)) in summary.top_words.iter().enumerate() {
            println!("  {:>2}. {word:<16} {count:>8}", rank + 1);
        }
    }
    if summary.restarts > 0 {
        println!("workers restarted after crashing: {}", summary.restarts);
    }
    println!(
        "elapsed: {:.2} s ({} workers, {} inputs, {:.1} MB)",
        summary.elapsed.as_secs_f64(),
        config.workers,
        summary.inputs,
        summary.input_bytes as f64 / 1e6
    );
}
