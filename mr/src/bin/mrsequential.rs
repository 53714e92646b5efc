//! `mrsequential APP FILES...`
//!
//! The whole job in one process; writes `mr-out-0`, the tests' reference.

fn main() -> std::process::ExitCode {
    mr::cli::sequential_main(mr::apps::ALL)
}
