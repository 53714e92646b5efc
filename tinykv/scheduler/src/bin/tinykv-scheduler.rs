//! `tinykv-scheduler --addr HOST:PORT [--max-replicas N] [--first-id N]`
//!
//! Serves the scheduler API until SIGINT or SIGTERM; see
//! `tinykv_scheduler::cli`.

fn main() -> std::process::ExitCode {
    tinykv_scheduler::cli::main()
}
