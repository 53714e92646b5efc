//! `tinykv-server --store standalone --data-dir DIR --addr HOST:PORT`
//!
//! Serves the raw KV API until SIGINT or SIGTERM; see `tinykv_storage::cli`.

fn main() -> std::process::ExitCode {
    tinykv_storage::cli::server_main()
}
