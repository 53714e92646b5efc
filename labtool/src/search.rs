//! `labtool search`: the Raft core's model checker (`raft::search`) with a
//! bigger budget than the test suite gives it. It runs the ignored
//! `budget_search` test of the `raft` crate (which prints progress — states,
//! depth, states/s — every second), and when that finds a violation draws
//! the counterexample's simulation log with the same timeline renderer as
//! `labtool timeline`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::Error;

/// The searches `budget_search` knows (its `preset`).
pub const PRESETS: [&str; 7] = [
    "elections",
    "commit",
    "crash",
    "snapshot",
    "partition",
    "conf_change",
    "transfer",
];

/// What to search and with what budget.
pub struct Request {
    /// One of [`PRESETS`].
    pub preset: String,
    /// Most events along a path.
    pub depth: usize,
    /// Wall-time budget in seconds.
    pub secs: u64,
    /// A broken variant of the core (`raft::search::Bug`), to see one caught.
    pub bug: Option<String>,
    /// Fold states that differ only in the peers' names.
    pub symmetry: bool,
    /// Breadth-first (shortest counterexamples, more memory).
    pub bfs: bool,
    /// Where the counterexample goes.
    pub out: PathBuf,
}

/// The files a found counterexample is written to, in `out`.
const FILES: [&str; 4] = [
    "counterexample.txt",
    "counterexample.log",
    "counterexample_test.rs",
    "counterexample.html",
];

/// Runs the search; `Ok(true)` if no invariant was violated.
pub fn run(req: &Request) -> Result<bool, Error> {
    if !PRESETS.contains(&req.preset.as_str()) {
        return Err(Error::Usage(format!(
            "unknown search {:?}; searches: {}",
            req.preset,
            PRESETS.join(", ")
        )));
    }
    if req.depth == 0 || req.depth > 255 {
        return Err(Error::Usage("--depth must be 1..=255".into()));
    }
    std::fs::create_dir_all(&req.out)?;
    let out = std::fs::canonicalize(&req.out)?;
    for file in FILES {
        let _ = std::fs::remove_file(out.join(file));
    }
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .args(["test", "--release", "-p", "raft", "--lib"])
        .args(["search::tests::budget_search", "--"])
        .args(["--ignored", "--exact", "--nocapture"])
        .env("SEARCH", &req.preset)
        .env("SEARCH_DEPTH", req.depth.to_string())
        .env("SEARCH_SECS", req.secs.to_string())
        .env("SEARCH_BUG", req.bug.as_deref().unwrap_or(""))
        .env("SEARCH_SYMMETRY", if req.symmetry { "1" } else { "0" })
        .env("SEARCH_BFS", if req.bfs { "1" } else { "0" })
        .env("SEARCH_OUT", &out);
    eprintln!(
        "labtool: searching {} to depth {} for up to {} s (cargo test -p raft budget_search)…",
        req.preset, req.depth, req.secs
    );
    let status = command
        .status()
        .map_err(|e| Error::Build(format!("cannot run cargo: {e}")))?;
    let log = out.join("counterexample.log");
    if !log.exists() {
        if status.success() {
            return Ok(true);
        }
        return Err(Error::Build(format!(
            "the search did not run to the end ({status}); see its output above"
        )));
    }
    let html = out.join("counterexample.html");
    draw(&log, &html, &req.preset)?;
    println!(
        "labtool: counterexample in {}: the trace (counterexample.txt), its timeline ({}), \
         its log (counterexample.log, for `labtool logs`) and a unit test replaying it \
         (counterexample_test.rs)",
        out.display(),
        html.display()
    );
    Ok(false)
}

/// Draws a counterexample's log as a timeline page.
pub fn draw(log: &Path, html: &Path, name: &str) -> Result<(), Error> {
    let text = std::fs::read_to_string(log)
        .map_err(|e| Error::Log(format!("cannot read {}: {e}", log.display())))?;
    let events = crate::logs::parse(&text, &log.display().to_string())?;
    let title = format!("counterexample of the {name} search (one event per second)");
    std::fs::write(html, crate::timeline::render(&events, &title))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counterexample log as `raft::search` writes it (DoubleVote's,
    /// shortened): the page has a row per peer, both leaders, the steps
    /// and the violation.
    #[test]
    fn draws_a_counterexample() {
        let log = "\
    0.000000s DEBUG raft::event: event node=0 kind=role role=follower term=0 leader=-1
    0.000000s DEBUG raft::event: event node=1 kind=role role=follower term=0 leader=-1
    0.000000s DEBUG raft::event: event node=2 kind=role role=follower term=0 leader=-1
    1.000000s DEBUG raft::search: step 1: election timeout 0 node=0
    1.000000s DEBUG raft::event: event node=0 kind=role role=candidate term=1 leader=-1
    3.000000s DEBUG raft::event: event node=0 kind=role role=leader term=1 leader=0
    6.000000s DEBUG raft::search: step 6: deliver 0→2 RequestVoteReply t1 granted (asked in t1) node=2
    6.000000s DEBUG raft::event: event node=2 kind=role role=leader term=1 leader=2
    6.000000s DEBUG raft::search: VIOLATED election safety: peers 0 and 2 both led term 1 node=2
";
        let dir = tempfile::tempdir().unwrap();
        let (path, html) = (dir.path().join("c.log"), dir.path().join("c.html"));
        std::fs::write(&path, log).unwrap();
        draw(&path, &html, "elections").unwrap();
        let page = std::fs::read_to_string(&html).unwrap();
        for peer in ["peer 0", "peer 1", "peer 2"] {
            assert!(page.contains(peer), "{peer} missing");
        }
        assert_eq!(page.matches("s leader t1</title>").count(), 2);
        assert!(page.contains("VIOLATED election safety: peers 0 and 2 both led term 1"));
        assert!(page.contains("step 6: deliver 0→2"));
    }

    #[test]
    fn refuses_an_unknown_search() {
        let req = Request {
            preset: "nope".into(),
            depth: 5,
            secs: 1,
            bug: None,
            symmetry: false,
            bfs: false,
            out: std::env::temp_dir(),
        };
        assert!(matches!(run(&req), Err(Error::Usage(m)) if m.contains("elections")));
    }
}
