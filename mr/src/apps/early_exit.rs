//! Makes some reduce tasks slow, so that a worker or coordinator that exits
//! before the job's output is complete gets caught by the early-exit test.

use std::time::Duration;

use crate::{App, KeyValue};

/// `early_exit`: keys are file names; reducing a name containing "sherlock"
/// or "tom" takes 3 s.
pub const APP: App = App::new("early_exit", map, reduce);

fn map(filename: &str, _contents: &str) -> Vec<KeyValue> {
    vec![KeyValue::new(filename, "1")]
}

fn reduce(key: &str, values: &[String]) -> String {
    if key.contains("sherlock") || key.contains("tom") {
        std::thread::sleep(Duration::from_secs(3));
    }
    values.len().to_string()
}
