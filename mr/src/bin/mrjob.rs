//! `mrjob [--app APP] [--workers N] [FILES...]`
//!
//! A whole job in one command: a coordinator and N worker processes, with
//! progress and a summary. With no files it counts the words of a generated
//! corpus.

fn main() -> std::process::ExitCode {
    mr::cli::job_main()
}
