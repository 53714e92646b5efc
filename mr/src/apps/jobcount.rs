//! Counts map executions through the file system, so the test can tell
//! whether any map task ran more than once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::{App, KeyValue};

/// `jobcount`: each map leaves a marker file `mr-worker-jobcount-<pid>-<n>`
/// in the working directory and takes 2–5 s; the reduce counts the markers.
pub const APP: App = App::new("jobcount", map, reduce);

const MARKER_PREFIX: &str = "mr-worker-jobcount";

/// Map executions so far in this process, so marker names never collide.
static MAPS_RUN: AtomicUsize = AtomicUsize::new(0);

fn map(_filename: &str, _contents: &str) -> Vec<KeyValue> {
    let n = MAPS_RUN.fetch_add(1, Ordering::SeqCst);
    let marker = format!("{MARKER_PREFIX}-{}-{n}", std::process::id());
    if let Err(err) = std::fs::write(&marker, "x") {
        // A map function has no error channel; failing loudly beats a
        // silently wrong count.
        eprintln!("jobcount: cannot create {marker}: {err}");
        std::process::exit(1);
    }
    let pause = 2000 + super::roll(3000);
    std::thread::sleep(Duration::from_millis(pause));
    vec![KeyValue::new("a", "x")]
}

fn reduce(_key: &str, _values: &[String]) -> String {
    let count = std::fs::read_dir(".")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| {
                    entry
                        .file_name()
                        .to_string_lossy()
                        .starts_with(MARKER_PREFIX)
                })
                .count()
        })
        .unwrap_or(0);
    count.to_string()
}
