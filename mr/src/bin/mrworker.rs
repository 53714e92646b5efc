//! `mrworker [--socket PATH | --addr HOST:PORT] APP`
//!
//! Runs tasks of the compiled-in app `APP` until the coordinator says the job
//! is over.

fn main() -> std::process::ExitCode {
    mr::cli::worker_main(mr::apps::ALL)
}
