//! `tinykv-cluster --stores N [--data-dir DIR] [--base-port P] [--faults]`
//!
//! Starts a TinyKV scheduler and N `tinykv-server --store raft` stores on
//! loopback until Ctrl-C or SIGTERM; see `tinykv_server::cluster::cli`.

fn main() -> std::process::ExitCode {
    tinykv_server::cluster::cli::main()
}
