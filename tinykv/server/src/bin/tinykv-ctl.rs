//! `tinykv-ctl [--addr HOST:PORT] raw …|txn …|tso`
//!
//! A client for `tinykv-server`; see `tinykv_server::cli`.

fn main() -> std::process::ExitCode {
    tinykv_server::cli::ctl_main()
}
