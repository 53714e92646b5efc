//! A self-contained HTML timeline of a simulated run: one row per peer
//! against virtual time, coloured by role, with terms, the commit index
//! over time, snapshots, crashes, the spans a peer was cut off, and the
//! network's settings marked.
//!
//! It is drawn from the framework's structured events (message `event`
//! with a `kind` field): the Raft driver's `raft::event` (role, state,
//! snapshot, crash, restart, stopped) and the network's `labrpc::event`
//! (enable, connect, delete_server, reliable, long_reordering,
//! long_delays). Both come from files with no solution regions, so a
//! student's own core is drawn as fully as the reference's.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::discover::TestCase;
use crate::error::Error;
use crate::logs::Event;

/// The directory failure timelines go to by default: `labtool/` in the
/// target directory the test binary was built in (`<target>/<profile>/deps/`),
/// else in `$CARGO_TARGET_DIR` or `./target`.
pub fn default_dir(binary: &Path) -> PathBuf {
    let deps = binary.parent();
    if let Some(target) = deps
        .filter(|d| d.file_name().is_some_and(|n| n == "deps"))
        .and_then(Path::parent)
        .and_then(Path::parent)
    {
        return target.join("labtool");
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    target.join("labtool")
}

/// `<test>-<seed>`, with everything but letters, digits, `_` and `-`
/// (such as the `::` of module paths) turned into `_`.
pub fn file_stem(test: &str, seed: u64) -> String {
    let name: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}-{seed}")
}

/// Reruns `case` with `seed` and `RUST_LOG=debug`, saves its output to
/// `log` and its timeline to `html`. Returns whether the rerun failed.
pub fn for_run(case: &TestCase, seed: u64, html: &Path, log: &Path) -> Result<bool, Error> {
    for file in [html, log] {
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
    }
    let out = std::fs::File::create(log)?;
    let status = crate::run::command(case, seed)
        .env("RUST_LOG", "debug")
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()
        .map_err(|e| Error::Build(format!("cannot run {}: {e}", case.binary.display())))?;
    let text = String::from_utf8_lossy(&std::fs::read(log)?).into_owned();
    let events = crate::logs::parse(&text, &log.display().to_string())?;
    let outcome = if status.success() { "passed" } else { "failed" };
    let title = format!("{} with seed {seed} ({outcome})", case.name);
    std::fs::write(html, render(&events, &title))?;
    Ok(!status.success())
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Follower,
    Candidate,
    Leader,
    Dead,
}

impl Role {
    fn colour(self) -> &'static str {
        match self {
            Role::Follower => "#d9dee6",
            Role::Candidate => "#f2c14e",
            Role::Leader => "#3aa76d",
            Role::Dead => "#e05555",
        }
    }
}

struct Row {
    /// (start time, role, term)
    segments: Vec<(f64, Role, String)>,
    /// (time, kind, text)
    marks: Vec<(f64, &'static str, String)>,
    /// (time, commit index), from the framework's `state` events.
    commits: Vec<(f64, u64)>,
    /// Spans during which some end to this peer's server was disabled.
    cut: Vec<(f64, Option<f64>)>,
    /// The disabled ends to this peer's server.
    disabled: std::collections::BTreeSet<String>,
}

impl Row {
    fn new() -> Row {
        Row {
            segments: vec![(0.0, Role::Follower, "0".into())],
            marks: Vec::new(),
            commits: Vec::new(),
            cut: Vec::new(),
            disabled: Default::default(),
        }
    }

    /// Applies one of the framework's structured events (see `raft::event`
    /// and `labrpc::event`). Returns false if it is not one this row draws.
    fn structured(&mut self, e: &Event, kind: &str) -> bool {
        let term = e.fields.get("term").cloned().unwrap_or_default();
        match kind {
            "role" => {
                let role = match e.fields.get("role").map(String::as_str) {
                    Some("leader") => Role::Leader,
                    Some("candidate") => Role::Candidate,
                    _ => Role::Follower,
                };
                self.segments.push((e.time, role, term));
            }
            "crash" | "stopped" => self.segments.push((e.time, Role::Dead, term)),
            "restart" => self.segments.push((e.time, Role::Follower, term)),
            "state" => {
                let Some(commit) = e.fields.get("commit").and_then(|c| c.parse().ok()) else {
                    return false;
                };
                if self.commits.last().is_none_or(|&(_, c)| c != commit) {
                    self.commits.push((e.time, commit));
                }
            }
            "enable" => {
                let end = e.fields.get("end").cloned().unwrap_or_default();
                let was_cut = !self.disabled.is_empty();
                if e.fields.get("enabled").is_some_and(|v| v == "false") {
                    self.disabled.insert(end);
                } else {
                    self.disabled.remove(&end);
                }
                match (was_cut, !self.disabled.is_empty()) {
                    (false, true) => self.cut.push((e.time, None)),
                    (true, false) => {
                        if let Some(span) = self.cut.last_mut() {
                            span.1 = Some(e.time);
                        }
                    }
                    _ => {}
                }
            }
            _ => return false,
        }
        true
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Builds the page from a run's events.
pub fn render(events: &[Event], title: &str) -> String {
    let mut rows: BTreeMap<u64, Row> = BTreeMap::new();
    // Network-wide settings (reliability, reordering, delays): (time, text).
    let mut global: Vec<(f64, String)> = Vec::new();
    let end = events.iter().map(|e| e.time).fold(0.0, f64::max).max(0.001);
    for e in events {
        let kind = e.kind();
        if let Some(k @ ("reliable" | "long_reordering" | "long_delays")) = kind {
            let on = e.fields.get("on").cloned().unwrap_or_default();
            global.push((e.time, format!("{:.3}s {k}={on}", e.time)));
            continue;
        }
        let Some(node) = e.node().and_then(|n| n.parse::<u64>().ok()) else {
            continue;
        };
        let row = rows.entry(node).or_insert_with(Row::new);
        if let Some(kind) = kind {
            if row.structured(e, kind) {
                continue;
            }
        }
        let term = e.fields.get("term").cloned().unwrap_or_default();
        // Older logs (and solutions that log their own transitions).
        let role = match e.message.as_str() {
            "becomes leader" => Some(Role::Leader),
            "starts election" => Some(Role::Candidate),
            "becomes follower" => Some(Role::Follower),
            "killed" => Some(Role::Dead),
            m if m.contains("restart") => Some(Role::Follower),
            _ => None,
        };
        if let Some(role) = role {
            row.segments.push((e.time, role, term));
            continue;
        }
        let mark = match e.topic() {
            // A model-checking counterexample (`raft::search`, one event per
            // second): each step, and the violation at the end.
            _ if e.target == "raft::search" && e.message.starts_with("VIOLATED") => {
                Some("violation")
            }
            _ if e.target == "raft::search" => Some("step"),
            "commit" => Some("commit"),
            "snapshot" => Some("snapshot"),
            "crash" => Some("crash"),
            "config" => Some("config"),
            "net" => Some("net"),
            _ if e.message.contains("connect") || e.message.contains("partition") => Some("net"),
            _ => None,
        };
        if let Some(kind) = mark {
            let text = format!("{:.3}s {} {}", e.time, e.message, fields_text(e));
            row.marks.push((e.time, kind, text));
        }
    }
    for row in rows.values_mut() {
        row.segments.sort_by(|a, b| a.0.total_cmp(&b.0));
    }

    let (left, width, row_h) = (90.0, 1100.0, 34.0);
    let x = |t: f64| left + t / end * width;
    let height = rows.len() as f64 * row_h + 60.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" font-family="sans-serif" font-size="12">"#,
        left + width + 20.0
    );
    // Time axis.
    let step = nice_step(end);
    let mut t = 0.0;
    while t <= end + 1e-9 {
        let _ = write!(
            svg,
            r##"<line x1="{0}" y1="20" x2="{0}" y2="{1}" stroke="#eee"/><text x="{0}" y="14" text-anchor="middle" fill="#666">{t:.1}s</text>"##,
            x(t),
            height - 30.0
        );
        t += step;
    }
    for (i, (node, row)) in rows.iter().enumerate() {
        let y = 24.0 + i as f64 * row_h;
        let _ = write!(
            svg,
            r#"<text x="8" y="{}" font-weight="bold">peer {node}</text>"#,
            y + 18.0
        );
        for (j, (start, role, term)) in row.segments.iter().enumerate() {
            let stop = row.segments.get(j + 1).map_or(end, |s| s.0);
            let w = (x(stop) - x(*start)).max(0.5);
            let label = match role {
                Role::Leader => format!("leader t{term}"),
                Role::Candidate => format!("candidate t{term}"),
                Role::Dead => "down".into(),
                Role::Follower => String::new(),
            };
            let _ = write!(
                svg,
                r#"<rect x="{}" y="{y}" width="{w}" height="24" fill="{}"><title>{}</title></rect>"#,
                x(*start),
                role.colour(),
                escape(&format!("{start:.3}s–{stop:.3}s {label}"))
            );
            if w > 70.0 && !label.is_empty() {
                let _ = write!(
                    svg,
                    r##"<text x="{}" y="{}" fill="#123">{}</text>"##,
                    x(*start) + 4.0,
                    y + 16.0,
                    escape(&label)
                );
            }
        }
        for (from, to) in &row.cut {
            let to = to.unwrap_or(end);
            let _ = write!(
                svg,
                r##"<rect class="cut" x="{}" y="{y}" width="{}" height="24" fill="#555" fill-opacity="0.35"><title>{}</title></rect>"##,
                x(*from),
                (x(to) - x(*from)).max(0.5),
                escape(&format!(
                    "{from:.3}s–{to:.3}s disconnected (some ends to this peer disabled)"
                ))
            );
        }
        if let Some(max) = row.commits.iter().map(|&(_, c)| c).max().filter(|&m| m > 0) {
            let mut points = String::new();
            let mut last_y = y + 24.0;
            for &(t, c) in &row.commits {
                let cy = y + 24.0 - 22.0 * c as f64 / max as f64;
                let _ = write!(points, "{:.1},{last_y:.1} {:.1},{cy:.1} ", x(t), x(t));
                last_y = cy;
            }
            let _ = write!(points, "{:.1},{last_y:.1}", x(end));
            let _ = write!(
                svg,
                r##"<polyline class="commit" points="{points}" fill="none" stroke="#1f6fb2" stroke-width="1"><title>commit index, up to {max}</title></polyline>"##
            );
        }
        for (t, kind, text) in &row.marks {
            let (colour, h) = match *kind {
                "commit" => ("#1f6fb2", 8.0),
                "snapshot" => ("#8e44ad", 24.0),
                "crash" => ("#c0392b", 24.0),
                "config" => ("#2c3e50", 24.0),
                "step" => ("#7f8c8d", 6.0),
                "violation" => ("#ff0000", 30.0),
                _ => ("#e67e22", 24.0),
            };
            let _ = write!(
                svg,
                r#"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="{colour}" stroke-width="2"><title>{3}</title></line>"#,
                x(*t),
                y + 24.0 - h,
                y + 24.0,
                escape(text)
            );
        }
    }
    for (t, text) in &global {
        let _ = write!(
            svg,
            r##"<line x1="{0}" y1="20" x2="{0}" y2="{1}" stroke="#e67e22" stroke-dasharray="4 3"><title>{2}</title></line>"##,
            x(*t),
            height - 30.0,
            escape(text)
        );
    }
    let legend_y = height - 12.0;
    let items = [
        ("follower", Role::Follower.colour()),
        ("candidate", Role::Candidate.colour()),
        ("leader", Role::Leader.colour()),
        ("down", Role::Dead.colour()),
        ("commit index", "#1f6fb2"),
        ("snapshot", "#8e44ad"),
        ("network change", "#e67e22"),
        ("disconnected", "#999"),
    ];
    for (i, (name, c)) in items.iter().enumerate() {
        let lx = left + i as f64 * 130.0;
        let _ = write!(
            svg,
            r##"<rect x="{lx}" y="{}" width="14" height="10" fill="{c}"/><text x="{}" y="{legend_y}" fill="#333">{name}</text>"##,
            legend_y - 9.0,
            lx + 18.0
        );
    }
    svg.push_str("</svg>");
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;margin:20px;color:#222}}</style></head>\
         <body><h2>{t}</h2><p>Virtual time on the x axis; hover a segment or mark for details.</p>{svg}</body></html>\n",
        t = escape(title)
    )
}

fn fields_text(e: &Event) -> String {
    e.fields
        .iter()
        .filter(|(k, _)| k.as_str() != "node")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn nice_step(end: f64) -> f64 {
    let raw = end / 10.0;
    let pow = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * pow)
        .find(|s| *s >= raw)
        .unwrap_or(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_timelines_go_next_to_the_binarys_target_dir() {
        let bin = Path::new("/w/target/release/deps/raft_3a-0123abcd");
        assert_eq!(default_dir(bin), Path::new("/w/target/labtool"));
        let elsewhere = default_dir(Path::new("/opt/bin/mytests"));
        assert!(elsewhere.ends_with("labtool"), "{}", elsewhere.display());
        assert_eq!(
            file_stem("raft::tests::rejoin_3b", 7),
            "raft__tests__rejoin_3b-7"
        );
    }

    const LOG: &str = r#"  0.100000s DEBUG raft::event: event node=0 kind="role" role="candidate" term=1 leader=-1
  0.200000s DEBUG raft::event: event node=0 kind="role" role="leader" term=1 leader=0
  0.300000s DEBUG raft::event: event node=0 kind="state" term=1 commit=5
  0.400000s DEBUG labrpc::event: event kind="enable" end="abc" server="raft-0" enabled=false
  0.600000s DEBUG labrpc::event: event kind="enable" end="abc" server="raft-0" enabled=true
  0.700000s DEBUG labrpc::event: event kind="reliable" on=false
  0.800000s DEBUG raft::event: event node=0 kind="crash"
  0.900000s DEBUG raft::event: event node=1 kind="role" role="follower" term=1 leader=0
"#;

    #[test]
    fn framework_events_draw_roles_commits_cut_spans_and_settings() {
        let events = crate::logs::parse(LOG, "log").unwrap();
        let html = render(&events, "t");
        assert!(html.contains("leader t1"), "no leader segment");
        assert!(html.contains("candidate t1"), "no candidate segment");
        assert!(html.contains("0.400s–0.600s disconnected"), "no cut span");
        assert!(html.contains(r#"class="commit""#), "no commit line");
        assert!(html.contains("commit index, up to 5"));
        assert!(html.contains("reliable=false"), "no network setting");
        assert!(html.contains("0.800s–0.900s down"), "no crash");
        assert!(
            html.contains("peer 1"),
            "a peer with only a role event has no row"
        );
    }

    /// The events come from files the skeleton generator leaves alone, so
    /// a student's own core is drawn as fully as the reference's.
    #[test]
    fn the_event_sources_have_no_solution_regions() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for (file, kinds) in [
            (
                "raft/src/node.rs",
                &["\"role\"", "\"state\"", "\"crash\"", "\"restart\""][..],
            ),
            (
                "labrpc/src/network.rs",
                &["\"enable\"", "\"reliable\"", "\"long_reordering\""][..],
            ),
        ] {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            let (_, regions) = crate::skeleton::transform(&text, file).unwrap();
            assert_eq!(regions, 0, "{file} has solution regions");
            assert!(text.contains("EVENT_TARGET"), "{file} emits no events");
            for kind in kinds {
                assert!(text.contains(kind), "{file} never emits {kind}");
            }
        }
    }
}
