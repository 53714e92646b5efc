//! `mrcoordinator [--socket PATH | --addr HOST:PORT] [--n-reduce N] FILES...`
//!
//! Serves one job and exits when it is done (0) or failed (1).

#[path = "front/cli.rs"]
mod cli;

fn main() -> std::process::ExitCode {
    cli::coordinator_main()
}
