//! `tinykv-ctl [--addr HOST:PORT] raw get|put|delete|scan …`
//!
//! A client for `tinykv-server`; see `tinykv_storage::cli`.

fn main() -> std::process::ExitCode {
    tinykv_storage::cli::ctl_main()
}
