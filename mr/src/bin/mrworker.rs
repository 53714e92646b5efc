//! `mrworker [--socket PATH | --addr HOST:PORT] APP`
//!
//! Runs tasks of the compiled-in app `APP` until the coordinator says the job
//! is over.

#[path = "front/cli.rs"]
mod cli;

fn main() -> std::process::ExitCode {
    cli::worker_main(mr::apps::ALL)
}
