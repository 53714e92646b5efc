//! Finding the test binaries and the tests in them.

use std::path::PathBuf;
use std::process::Command;

use crate::error::Error;

/// One test in one test binary.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TestCase {
    /// The test's full name, as `--exact` wants it.
    pub name: String,
    /// The test binary.
    pub binary: PathBuf,
    /// True for `#[ignore]`d tests (run only when asked).
    pub ignored: bool,
}

/// Builds the workspace's tests in release mode and lists every test.
pub fn discover(release: bool) -> Result<Vec<TestCase>, Error> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["test", "--workspace", "--no-run", "--message-format=json"]);
    if release {
        cmd.arg("--release");
    }
    let out = cmd
        .output()
        .map_err(|e| Error::Build(format!("cannot run cargo: {e}")))?;
    if !out.status.success() {
        return Err(Error::Build(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    let mut binaries = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_test = msg["profile"]["test"].as_bool() == Some(true);
        if let (true, Some(exe)) = (is_test, msg["executable"].as_str()) {
            binaries.push(PathBuf::from(exe));
        }
    }
    binaries.sort();
    binaries.dedup();
    let mut cases = Vec::new();
    for binary in binaries {
        cases.extend(cases_of(&binary)?);
    }
    cases.sort();
    Ok(cases)
}

/// Every test of a binary; `--list` shows all of them, `--list --ignored`
/// only the ignored ones.
fn cases_of(binary: &PathBuf) -> Result<Vec<TestCase>, Error> {
    let ignored = list(binary, true)?;
    Ok(list(binary, false)?
        .into_iter()
        .map(|name| TestCase {
            ignored: ignored.contains(&name),
            name,
            binary: binary.clone(),
        })
        .collect())
}

fn list(binary: &PathBuf, ignored: bool) -> Result<Vec<String>, Error> {
    let mut cmd = Command::new(binary);
    cmd.args(["--list", "--format", "terse"]);
    if ignored {
        cmd.arg("--ignored");
    }
    let out = cmd
        .output()
        .map_err(|e| Error::Build(format!("cannot list {}: {e}", binary.display())))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect())
}

/// The tests whose names contain any filter (case-insensitive). Ignored
/// tests are included only when `include_ignored`.
pub fn select(
    cases: &[TestCase],
    filters: &[String],
    include_ignored: bool,
) -> Result<Vec<TestCase>, Error> {
    let lowered: Vec<String> = filters.iter().map(|f| f.to_lowercase()).collect();
    let chosen: Vec<TestCase> = cases
        .iter()
        .filter(|c| include_ignored || !c.ignored)
        .filter(|c| {
            let name = c.name.to_lowercase();
            lowered.is_empty() || lowered.iter().any(|f| name.contains(f.as_str()))
        })
        .cloned()
        .collect();
    if chosen.is_empty() {
        return Err(Error::NoTests {
            filters: filters.to_vec(),
        });
    }
    Ok(chosen)
}

/// Lists the tests of explicitly given binaries.
pub fn from_binaries(binaries: &[PathBuf]) -> Result<Vec<TestCase>, Error> {
    let mut cases = Vec::new();
    for binary in binaries {
        if !binary.is_file() {
            return Err(Error::Build(format!(
                "no test binary at {}",
                binary.display()
            )));
        }
        cases.extend(cases_of(binary)?);
    }
    cases.sort();
    Ok(cases)
}
