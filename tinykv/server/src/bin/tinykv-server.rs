//! `tinykv-server --store standalone --data-dir DIR --addr HOST:PORT`
//!
//! Serves the raw and transactional KV APIs and a timestamp oracle until
//! SIGINT or SIGTERM; see `tinykv_server::cli`.

fn main() -> std::process::ExitCode {
    tinykv_server::cli::server_main()
}
