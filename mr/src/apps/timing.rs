//! Parallelism probes: `mtiming` (map side) and `rtiming` (reduce side).
//!
//! Each task leaves a marker file named after its worker's pid, counts the
//! markers whose process is still alive, holds for a second and removes its
//! marker. A count of 2 means two workers were inside a task at once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{App, KeyValue};

/// `mtiming`: map emits `times-<pid>` (start time) and `parallel-<pid>`
/// (concurrent map workers seen); reduce joins the sorted values.
pub const MTIMING: App = App::new("mtiming", mtiming_map, mtiming_reduce);
/// `rtiming`: map emits keys `a`..`j`; reduce returns the number of
/// concurrent reduce workers it saw.
pub const RTIMING: App = App::new("rtiming", rtiming_map, rtiming_reduce);

/// Whether process `pid` exists. The reference uses `kill(pid, 0)`; on Linux
/// `/proc/<pid>` answers the same question without `unsafe` or `libc`.
fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// How many workers (this one included) are in a `phase` task right now.
fn parallelism(phase: &str) -> usize {
    let prefix = format!("mr-worker-{phase}-");
    let me = format!("{prefix}{}", std::process::id());
    if let Err(err) = std::fs::write(&me, "x") {
        eprintln!("{phase} timing: cannot create {me}: {err}");
        std::process::exit(1);
    }
    let live = std::fs::read_dir(".")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    name.strip_prefix(&prefix)?.parse::<u32>().ok()
                })
                .filter(|&pid| alive(pid))
                .count()
        })
        .unwrap_or(0);
    std::thread::sleep(Duration::from_secs(1));
    // The marker may already be gone if the test cleaned up; that is fine.
    let _ = std::fs::remove_file(&me);
    live
}

fn mtiming_map(_filename: &str, _contents: &str) -> Vec<KeyValue> {
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let pid = std::process::id();
    let n = parallelism("map");
    vec![
        KeyValue::new(format!("times-{pid}"), format!("{started:.1}")),
        KeyValue::new(format!("parallel-{pid}"), n.to_string()),
    ]
}

fn mtiming_reduce(_key: &str, values: &[String]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted.join(" ")
}

fn rtiming_map(_filename: &str, _contents: &str) -> Vec<KeyValue> {
    ('a'..='j')
        .map(|key| KeyValue::new(key.to_string(), "1"))
        .collect()
}

fn rtiming_reduce(_key: &str, _values: &[String]) -> String {
    parallelism("reduce").to_string()
}
