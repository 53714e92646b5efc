//! Reading simulation logs (`RUST_LOG=debug` output of a simulated test).
//!
//! Lines look like `  1.234000s DEBUG raft::core::election: becomes leader node=2 term=3`:
//! virtual time, level, target, message, then `key=value` fields.

use std::collections::BTreeMap;

use crate::error::Error;

/// One parsed log line.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Virtual seconds since the simulation started.
    pub time: f64,
    /// TRACE … ERROR.
    pub level: String,
    /// The module that logged it.
    pub target: String,
    /// The message.
    pub message: String,
    /// The structured fields.
    pub fields: BTreeMap<String, String>,
}

impl Event {
    /// The peer the event is about, if it names one: its `node` field, or
    /// for a network event the number its server's name ends in
    /// (`raft-3` → `3`).
    pub fn node(&self) -> Option<&str> {
        if let Some(node) = self.fields.get("node") {
            return Some(node);
        }
        let server = self
            .fields
            .get("server")
            .filter(|_| self.kind().is_some())?;
        let digits = server.rsplit(|c: char| !c.is_ascii_digit()).next()?;
        (!digits.is_empty()).then_some(digits)
    }

    /// For a structured framework event (message `event`, from
    /// `raft::event` or `labrpc::event`), its `kind`.
    pub fn kind(&self) -> Option<&str> {
        (self.message == "event")
            .then(|| self.fields.get("kind").map(String::as_str))
            .flatten()
    }

    /// A coarse topic for colouring and filtering.
    pub fn topic(&self) -> &'static str {
        if let Some(kind) = self.kind() {
            return match kind {
                "role" if self.fields.get("role").is_some_and(|r| r == "leader") => "leader",
                "role" => "vote",
                "state" => "commit",
                "snapshot" => "snapshot",
                "crash" | "restart" | "stopped" => "crash",
                _ => "net",
            };
        }
        let m = self.message.as_str();
        if m.contains("leader") {
            "leader"
        } else if m.contains("election") || m.contains("vote") || m.contains("follower") {
            "vote"
        } else if m.contains("commit") {
            "commit"
        } else if m.contains("snapshot") {
            "snapshot"
        } else if m.contains("propose") {
            "client"
        } else if m.contains("killed") || m.contains("crash") || m.contains("restart") {
            "crash"
        } else if m.contains("config") {
            "config"
        } else if self.target.starts_with("labrpc::end") {
            "rpc"
        } else {
            "other"
        }
    }
}

/// Parses one line; `None` if it is not a simulation log line.
pub fn parse_line(line: &str) -> Option<Event> {
    // With --nocapture the first line of a test's log follows the harness's
    // `test name ... ` on the same line.
    let line = match line.strip_prefix("test ") {
        Some(r) => r.split_once(" ... ").map_or(line, |(_, log)| log),
        None => line,
    };
    let mut rest = line.trim_start();
    let (time, r) = rest.split_once(' ')?;
    let time: f64 = time.strip_suffix('s')?.parse().ok()?;
    rest = r.trim_start();
    let (level, r) = rest.split_once(' ')?;
    if !matches!(level, "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR") {
        return None;
    }
    rest = r.trim_start();
    let (target, r) = rest.split_once(": ")?;
    let mut message = Vec::new();
    let mut fields = BTreeMap::new();
    for token in r.split_whitespace() {
        match token.split_once('=') {
            Some((k, v)) if !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                fields.insert(k.to_string(), v.trim_matches('"').to_string());
            }
            _ if fields.is_empty() => message.push(token),
            _ => {}
        }
    }
    Some(Event {
        time,
        level: level.to_string(),
        target: target.to_string(),
        message: message.join(" "),
        fields,
    })
}

/// Parses a whole log; fails if nothing in it is a simulation log line.
pub fn parse(text: &str, source: &str) -> Result<Vec<Event>, Error> {
    let events: Vec<Event> = text.lines().filter_map(parse_line).collect();
    if events.is_empty() {
        return Err(Error::Log(format!(
            "{source} is not a simulation log: expected lines like \
             '  1.234000s DEBUG raft::core::election: becomes leader node=2 term=3' \
             (run a test with RUST_LOG=debug -- --nocapture and save its output)"
        )));
    }
    Ok(events)
}

/// ANSI colour of a topic.
fn colour(topic: &str) -> &'static str {
    match topic {
        "leader" => "\x1b[1;32m",
        "vote" => "\x1b[33m",
        "commit" => "\x1b[36m",
        "snapshot" => "\x1b[35m",
        "client" => "\x1b[34m",
        "crash" => "\x1b[1;31m",
        "config" => "\x1b[1;34m",
        "net" => "\x1b[1;33m",
        "rpc" => "\x1b[2m",
        _ => "",
    }
}

/// Renders events in one column per node, optionally filtered and coloured.
pub fn columns(
    events: &[Event],
    topics: &[String],
    nodes: &[String],
    width: usize,
    color: bool,
) -> String {
    let keep = |e: &Event| {
        (topics.is_empty() || topics.iter().any(|t| t == e.topic()))
            && (nodes.is_empty() || e.node().is_some_and(|n| nodes.iter().any(|x| x == n)))
    };
    let mut all_nodes: Vec<String> = events
        .iter()
        .filter_map(|e| e.node().map(str::to_string))
        .collect();
    all_nodes.sort_by_key(|n| (n.parse::<u64>().unwrap_or(u64::MAX), n.clone()));
    all_nodes.dedup();
    let mut out = String::new();
    out.push_str(&format!("{:>11} ", "time"));
    out.push_str(&format!("{:width$} ", "(no node)"));
    for n in &all_nodes {
        out.push_str(&format!("{:width$} ", format!("node {n}")));
    }
    out.push('\n');
    for e in events.iter().filter(|e| keep(e)) {
        let col = e
            .node()
            .and_then(|n| all_nodes.iter().position(|x| x == n))
            .map_or(0, |i| i + 1);
        let others: Vec<String> = e
            .fields
            .iter()
            .filter(|(k, _)| k.as_str() != "node")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut text = format!("{} {}", e.message, others.join(" "));
        text.truncate(width);
        let cell = format!("{text:width$}");
        let painted = if color && !colour(e.topic()).is_empty() {
            format!("{}{cell}\x1b[0m", colour(e.topic()))
        } else {
            cell
        };
        out.push_str(&format!("{:>10.3}s ", e.time));
        for _ in 0..col {
            out.push_str(&" ".repeat(width + 1));
        }
        out.push_str(&painted);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_our_lines_and_rejects_others() {
        let e = parse_line("  1.250000s DEBUG raft::core::election: becomes leader node=2 term=3")
            .unwrap();
        assert_eq!(e.time, 1.25);
        assert_eq!(e.message, "becomes leader");
        assert_eq!(e.node(), Some("2"));
        assert_eq!(e.topic(), "leader");
        assert!(parse_line("running 3 tests").is_none());
        let first =
            parse_line("test a::b ...   0.000000s DEBUG labrpc::sim: simulation starts seed=1")
                .unwrap();
        assert_eq!(first.message, "simulation starts");
        assert!(parse_line("test a::b ... ok").is_none());
        assert!(parse("hello\nworld\n", "x.txt").is_err());
    }

    #[test]
    fn columns_put_each_node_in_its_own_column() {
        let log = "  0.1s DEBUG raft::core::election: starts election node=0 term=1\n  0.2s DEBUG raft::core::election: grants vote node=1 term=1 candidate=0\n";
        let events = parse(log, "t").unwrap();
        let out = columns(&events, &[], &[], 20, false);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[1].find("starts election").unwrap() < lines[2].find("grants vote").unwrap());
        let only_votes = columns(&events, &["vote".into()], &["1".into()], 20, false);
        assert!(only_votes.contains("grants vote") && !only_votes.contains("starts election"));
    }
}
