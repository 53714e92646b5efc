//! `tinykv-bench`: see [`tinykv_server::bench`].

fn main() -> std::process::ExitCode {
    tinykv_server::bench::bench_main()
}
