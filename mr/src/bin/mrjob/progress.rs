//! Progress display for `mrjob`: an indicatif bar on a terminal, plain lines
//! otherwise (logs and CI keep a readable record instead of escape codes).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use mr::Status;

/// Shows tasks done out of total.
pub enum Progress {
    /// A live bar on stderr.
    Bar(ProgressBar),
    /// One line per change.
    Lines {
        /// The last line printed, to print only changes.
        last: String,
    },
}

impl Progress {
    /// A bar if stderr is a terminal, lines otherwise.
    pub fn for_stderr() -> Self {
        if !std::io::stderr().is_terminal() {
            return Progress::Lines {
                last: String::new(),
            };
        }
        let bar = ProgressBar::new(0);
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40.cyan/blue} {pos}/{len} tasks  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress::Bar(bar)
    }

    /// Shows `status`.
    pub fn update(&mut self, status: &Status) {
        let done = status.maps_done + status.reduces_done;
        let total = status.n_map + status.n_reduce;
        let detail = format!(
            "map {}/{}, reduce {}/{}",
            status.maps_done, status.n_map, status.reduces_done, status.n_reduce
        );
        match self {
            Progress::Bar(bar) => {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                bar.set_message(detail);
            }
            Progress::Lines { last } => {
                let line = format!("mrjob: {done}/{total} tasks done ({detail})");
                if line != *last {
                    eprintln!("{line}");
                    *last = line;
                }
            }
        }
    }

    /// Prints a note without garbling the bar.
    pub fn note(&self, text: &str) {
        match self {
            Progress::Bar(bar) => bar.println(text),
            Progress::Lines { .. } => eprintln!("{text}"),
        }
    }

    /// Removes the bar (its final state stays on screen).
    pub fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish();
        }
    }
}
