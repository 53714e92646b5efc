//! `mrcoordinator [--socket PATH | --addr HOST:PORT] [--n-reduce N] FILES...`
//!
//! Serves one job and exits when it is done (0) or failed (1).

fn main() -> std::process::ExitCode {
    mr::cli::coordinator_main()
}
