//! A self-contained HTML timeline of a simulated run: one row per peer
//! against virtual time, coloured by role, with terms, commits, snapshots,
//! crashes and the tester's partitions marked.

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
    let end = events.iter().map(|e| e.time).fold(0.0, f64::max).max(0.001);
    for e in events {
        let Some(node) = e.node().and_then(|n| n.parse::<u64>().ok()) else {
            continue;
        };
        let row = rows.entry(node).or_insert_with(|| Row {
            segments: vec![(0.0, Role::Follower, "0".into())],
            marks: Vec::new(),
        });
        let term = e.fields.get("term").cloned().unwrap_or_default();
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
            "commit" => Some("commit"),
            "snapshot" => Some("snapshot"),
            "crash" => Some("crash"),
            "config" => Some("config"),
            _ if e.message.contains("connect") || e.message.contains("partition") => Some("net"),
            _ => None,
        };
        if let Some(kind) = mark {
            let text = format!("{:.3}s {} {}", e.time, e.message, fields_text(e));
            row.marks.push((e.time, kind, text));
        }
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
        for (t, kind, text) in &row.marks {
            let (colour, h) = match *kind {
                "commit" => ("#1f6fb2", 8.0),
                "snapshot" => ("#8e44ad", 24.0),
                "crash" => ("#c0392b", 24.0),
                "config" => ("#2c3e50", 24.0),
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
    let legend_y = height - 12.0;
    let items = [
        ("follower", Role::Follower.colour()),
        ("candidate", Role::Candidate.colour()),
        ("leader", Role::Leader.colour()),
        ("down", Role::Dead.colour()),
        ("commit", "#1f6fb2"),
        ("snapshot", "#8e44ad"),
        ("network change", "#e67e22"),
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
}
