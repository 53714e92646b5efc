//! `mrsequential APP FILES...`
//!
//! The whole job in one process; writes `mr-out-0`, the tests' reference.

#[path = "front/cli.rs"]
mod cli;

fn main() -> std::process::ExitCode {
    cli::sequential_main(mr::apps::ALL)
}
