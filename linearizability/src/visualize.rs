//! The self-contained HTML report of a checked history (Porcupine's
//! visualization, written anew): one row per client against time, every
//! operation a box, and for any operation the longest partial linearization
//! that contains it, with its linearization points and the states between.
//!
//! The page is one file: the CSS and the script are inlined from
//! `visualize/report.css` and `visualize/report.js`, and the data is a JSON
//! block the script reads; nothing is fetched, so it opens offline.
//!
//! What goes into the data, and why:
//! * Time is drawn to *order*, not to scale: every distinct call or return
//!   time of a partition gets its own column, and columns are widened so each
//!   box can show its description. Ranks are computed here, in integers,
//!   because nanosecond timestamps need not fit a JavaScript number exactly.
//! * Partial linearizations share prefixes, so they travel as a prefix tree
//!   (`trie`) with one state per node; state descriptions are interned and
//!   long ones shortened in the middle, which bounds the page's size.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::info::NONE;
use crate::{CheckResult, Error, LinearizationInfo, Model, PartitionInfo};

/// Descriptions longer than this many characters are shortened in the middle
/// in the report (the head and the tail are usually what tells states apart).
pub const MAX_DESCRIPTION_CHARS: usize = 600;

const CSS: &str = include_str!("visualize/report.css");
const JS: &str = include_str!("visualize/report.js");

#[derive(Serialize)]
struct ReportData {
    result: CheckResult,
    steps: u64,
    operations: usize,
    /// Interned state descriptions.
    states: Vec<String>,
    partitions: Vec<PartView>,
    /// `[partition, op]` of the first error, if any partition is illegal.
    first_error: Option<(usize, usize)>,
}

#[derive(Serialize)]
struct PartView {
    name: String,
    result: CheckResult,
    steps: u64,
    ops: Vec<OpView>,
    /// Nanoseconds since the partition's first event, per column (rank).
    times: Vec<u64>,
    /// `[parent, op, state]`; node 0 is the empty prefix, parent -1.
    trie: Vec<[i64; 3]>,
    partials: Vec<PartialView>,
    /// Per op: index into `partials`, or -1.
    largest: Vec<i64>,
    /// The op (index into `ops`) to show for "jump to first error".
    first_error: Option<usize>,
}

#[derive(Serialize)]
struct OpView {
    /// History index.
    h: usize,
    /// Client.
    c: usize,
    /// Call and return columns.
    s: usize,
    e: usize,
    /// Call and return times, nanoseconds.
    cs: u64,
    ce: u64,
    /// Description.
    d: String,
}

#[derive(Serialize)]
struct PartialView {
    /// Trie node ending the prefix.
    end: usize,
    /// The op that could not follow, or -1 for a complete linearization.
    blocked: i64,
    /// Whether `blocked` is a legal step from the prefix's state (if not,
    /// the violation is that step; if so, every continuation failed).
    legal: bool,
}

/// Writes the HTML report of `info` to `out`.
///
/// `model` must be the model the history was checked with: it describes the
/// operations and replays the partial linearizations to describe the states.
pub fn visualize<M: Model, W: Write>(
    model: &M,
    info: &LinearizationInfo<M::Input, M::Output>,
    out: &mut W,
) -> Result<(), Error> {
    let data = build(model, info);
    let json = serde_json::to_string(&data).map_err(|e| Error::json(None, e))?;
    // A JSON string may contain "</script>"; "<\/" is the same JSON and
    // cannot end the block.
    let json = json.replace("</", "<\\/");
    write_page(out, &json).map_err(|e| Error::io(None, e))
}

/// Writes the HTML report of `info` to the file at `path`.
pub fn visualize_path<M: Model>(
    model: &M,
    info: &LinearizationInfo<M::Input, M::Output>,
    path: impl AsRef<Path>,
) -> Result<(), Error> {
    let path = path.as_ref();
    let file = File::create(path).map_err(|e| Error::io(Some(path), e))?;
    let mut w = BufWriter::new(file);
    visualize(model, info, &mut w).map_err(|e| with_path(e, path))?;
    w.flush().map_err(|e| Error::io(Some(path), e))
}

/// Writes the HTML report to a new file in the system's temporary directory
/// and returns its path, for a tester to print
/// `info: wrote history visualization to <path>`. The file is kept.
pub fn visualize_temp<M: Model>(
    model: &M,
    info: &LinearizationInfo<M::Input, M::Output>,
) -> Result<PathBuf, Error> {
    // A process-wide counter and `create_new` give a fresh name without a
    // clock or a random source (this may run inside a deterministic test).
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("linearizability-{}-{n}.html", std::process::id()));
        match File::options().write(true).create_new(true).open(&path) {
            Ok(file) => {
                let mut w = BufWriter::new(file);
                visualize(model, info, &mut w).map_err(|e| with_path(e, &path))?;
                w.flush().map_err(|e| Error::io(Some(&path), e))?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(Some(&path), e)),
        }
    }
}

fn with_path(e: Error, path: &Path) -> Error {
    match e {
        Error::Io { kind, message, .. } => Error::Io {
            path: Some(path.to_path_buf()),
            kind,
            message,
        },
        other => other,
    }
}

fn write_page<W: Write>(out: &mut W, json: &str) -> std::io::Result<()> {
    write!(
        out,
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Linearizability report</title>
<style>
{CSS}
</style>
</head>
<body>
<header>
  <h1>Linearizability report</h1>
  <div id="summary"></div>
  <div class="legend">
    <span class="legend-item"><svg width="18" height="18"><line x1="9" y1="1" x2="9" y2="17" class="lp"/><circle cx="9" cy="9" r="4" class="lp-dot"/></svg>Valid LP</span>
    <span class="legend-item"><svg width="18" height="18"><line x1="9" y1="1" x2="9" y2="17" class="lp bad"/><circle cx="9" cy="9" r="4" class="lp-dot bad"/></svg>Invalid LP</span>
    <span class="legend-item"><span class="swatch lin"></span>in the linearization</span>
    <span class="legend-item"><span class="swatch blocked"></span>could not be linearized</span>
    <a href="#" id="jump-first-error" class="jump">[ jump to first error ]</a>
  </div>
  <p class="help">Hover over an operation to see the longest partial linearization that contains it; click to pin it (Esc or a click on empty space unpins).
  Time runs left to right <em>in order, not to scale</em>: each distinct call or return time has its own column.</p>
</header>
<div id="layout">
  <main id="partitions"></main>
  <aside id="panel"><div id="panel-body"><p class="muted">Nothing selected.</p></div></aside>
</div>
<noscript><p>This report draws its diagrams with JavaScript; enable it to see them.</p></noscript>
<script type="application/json" id="report-data">{json}</script>
<script>
{JS}
</script>
</body>
</html>
"##
    )
}

/// Interns shortened state descriptions.
#[derive(Default)]
struct Interner {
    ids: HashMap<String, usize>,
    states: Vec<String>,
}

impl Interner {
    fn id(&mut self, s: String) -> usize {
        let s = shorten(s);
        if let Some(&id) = self.ids.get(&s) {
            return id;
        }
        self.states.push(s.clone());
        self.ids.insert(s, self.states.len() - 1);
        self.states.len() - 1
    }
}

/// Keeps the first and last `MAX_DESCRIPTION_CHARS / 2` characters.
fn shorten(s: String) -> String {
    let n = s.chars().count();
    if n <= MAX_DESCRIPTION_CHARS {
        return s;
    }
    let half = MAX_DESCRIPTION_CHARS / 2;
    let head: String = s.chars().take(half).collect();
    let tail: String = s.chars().skip(n - half).collect();
    format!("{head} … [{} characters omitted] … {tail}", n - 2 * half)
}

fn build<M: Model>(model: &M, info: &LinearizationInfo<M::Input, M::Output>) -> ReportData {
    let mut interner = Interner::default();
    let partitions: Vec<PartView> = info
        .partitions()
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let name = info
                .partition_name(i)
                .map_or_else(|| format!("partition {i}"), str::to_string);
            part_view(model, info, part, name, &mut interner)
        })
        .collect();
    let first_error = partitions
        .iter()
        .enumerate()
        .find_map(|(i, p)| p.first_error.map(|op| (i, op)));
    ReportData {
        result: info.result(),
        steps: info.steps(),
        operations: info.history().len(),
        states: interner.states,
        partitions,
        first_error,
    }
}

fn part_view<M: Model>(
    model: &M,
    info: &LinearizationInfo<M::Input, M::Output>,
    part: &PartitionInfo,
    name: String,
    interner: &mut Interner,
) -> PartView {
    let history = info.history();
    let global = part.operations();

    // Columns: distinct event times of this partition.
    let mut times: Vec<u64> = global
        .iter()
        .flat_map(|&g| [history[g].call, history[g].return_time])
        .collect();
    times.sort_unstable();
    times.dedup();
    let rank = |t: u64| times.binary_search(&t).unwrap_or(0);
    let t0 = times.first().copied().unwrap_or(0);
    let ops: Vec<OpView> = global
        .iter()
        .map(|&g| {
            let op = &history[g];
            OpView {
                h: g,
                c: op.client_id,
                s: rank(op.call),
                e: rank(op.return_time),
                cs: op.call,
                ce: op.return_time,
                d: shorten(model.describe_operation(&op.input, &op.output)),
            }
        })
        .collect();

    // Replay the prefix tree. Parents precede children, so one pass in index
    // order works; a state is dropped once its last child has been computed,
    // which keeps a long chain at O(1) live states.
    let trie = part.trie();
    let mut children = vec![0usize; trie.len()];
    for node in trie.iter().skip(1) {
        children[node.parent] += 1;
    }
    let partials = part.partial_records();
    let mut ending_at: Vec<Vec<usize>> = vec![Vec::new(); trie.len()];
    for (k, p) in partials.iter().enumerate() {
        ending_at[p.end].push(k);
    }
    let mut legal = vec![false; partials.len()];
    let mut states: Vec<Option<M::State>> = vec![None; trie.len()];
    let mut trie_view = Vec::with_capacity(trie.len());
    for (k, node) in trie.iter().enumerate() {
        let state = if k == 0 {
            Some(model.init())
        } else {
            let parent_state = states[node.parent].as_ref();
            let op = &history[global[node.op]];
            let next = parent_state.and_then(|s| model.step(s, &op.input, &op.output));
            children[node.parent] -= 1;
            if children[node.parent] == 0 {
                states[node.parent] = None;
            }
            next
        };
        // A replay can only fail if the model is not deterministic.
        let desc = state.as_ref().map_or_else(
            || "<replay failed: is the model deterministic?>".to_string(),
            |s| model.describe_state(s),
        );
        let parent = if k == 0 { -1 } else { node.parent as i64 };
        let op = if k == 0 { -1 } else { node.op as i64 };
        trie_view.push([parent, op, interner.id(desc) as i64]);
        if let Some(s) = &state {
            for &p in &ending_at[k] {
                let b = partials[p].blocked;
                if b != NONE {
                    let op = &history[global[b]];
                    legal[p] = model.step(s, &op.input, &op.output).is_some();
                }
            }
        }
        if children[k] > 0 {
            states[k] = state;
        }
    }

    let partial_views: Vec<PartialView> = partials
        .iter()
        .zip(&legal)
        .map(|(p, &legal)| PartialView {
            end: p.end,
            blocked: if p.blocked == NONE {
                -1
            } else {
                p.blocked as i64
            },
            legal,
        })
        .collect();
    // The first error: the op blocking the longest failed prefix (the
    // furthest the search got), first found on ties.
    let first_error = if part.result() == CheckResult::Illegal {
        partials
            .iter()
            .filter(|p| p.blocked != NONE)
            .fold(None::<(usize, usize)>, |best, p| match best {
                Some((len, _)) if len >= p.len => best,
                _ => Some((p.len, p.blocked)),
            })
            .map(|(_, op)| op)
    } else {
        None
    };
    PartView {
        name,
        result: part.result(),
        steps: part.steps(),
        ops,
        times: times.iter().map(|t| t - t0).collect(),
        trie: trie_view,
        partials: partial_views,
        largest: part
            .largest_local()
            .iter()
            .map(|l| l.map_or(-1, |p| p as i64))
            .collect(),
        first_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_keeps_head_and_tail() {
        assert_eq!(shorten("abc".into()), "abc");
        let long: String = "a".repeat(400) + &"b".repeat(400);
        let s = shorten(long);
        assert!(s.starts_with(&"a".repeat(300)));
        assert!(s.ends_with(&"b".repeat(300)));
        assert!(s.contains("[200 characters omitted]"));
    }
}
