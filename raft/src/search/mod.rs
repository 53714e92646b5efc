//! Model checking the pure core: search every interleaving of deliveries,
//! losses, duplicates, timer firings, crashes and proposals from a small
//! start state, checking safety invariants at every step (after DSLabs).
//!
//! **State** ([`State`]): every peer's [`Core`](crate::Core), its persisted
//! state and snapshot, the network as a multiset of messages in flight, and
//! a little history (who led which term, what was applied at each index).
//! Timers are abstract — a follower's election timer and a leader's
//! heartbeat timer are always armed and may fire at any step — so clocks and
//! RNG are left out of the state's canonical encoding; its 64-bit hash
//! ([`State::fingerprint`]) is all the visited set keeps. The hash is
//! incremental (each peer and packet caches the hash of its own encoding;
//! the state adds them up), and with [`Settings::symmetry`] it is the least
//! over every renaming of the peers, so states that differ only in the
//! peers' names count once (about 6× fewer states for 3 peers).
//!
//! **Events** ([`Event`]): deliver a message (consumed, or kept for
//! re-delivery when [`Settings::redeliver`] is on: that models duplication),
//! drop it, fire an election timeout or a heartbeat, crash a peer and
//! restart it from what it persisted alone (term, vote, log, snapshot and
//! the configuration stored with the snapshot — as a real node restarts),
//! propose a command at a leader, take a
//! service snapshot, hand a leader a configuration change or a leader
//! transfer (TinyKV p3a), cut a minority off or heal the partition.
//! [`Events`] turns each kind on or off; [`Settings`] bounds terms,
//! proposals, crashes, changes, transfers, partitions, depth, states and
//! time.
//!
//! **Checkers**: [`Search::bfs`] (exhaustive, breadth-first, so a
//! counterexample it finds is a shortest one), [`Search::dfs`] (the same
//! states depth-first, keeping only the path and a fingerprint → depth map:
//! for deep bounds; minimised counterexamples), [`Search::probe`] (random
//! depth-first walks, deeper but not exhaustive; their counterexamples are
//! minimised by dropping every event that is not needed), and multi-phase
//! searches: search to a goal, then from the goal state with other settings.
//!
//! **Invariants** ([`Invariant::all`]): election safety, log matching,
//! leader completeness, committed entries on a majority, state machine
//! safety (checked as entries are applied), commit index monotonic,
//! persisted term and vote monotonic, snapshots only move forward, one
//! unapplied configuration change at a time, no proposals during a leader
//! transfer, and storage holds the peer (what a restart would read back —
//! term, log, snapshot, members — is what the peer holds in memory).
//!
//! **Reading a counterexample.** A failing search prints a [`Trace`]: the
//! numbered events from the start state, each followed by the state of the
//! peer it touched, then every peer and message at the end, and the
//! violated invariant. Messages print as `from→to Kind fields`; entries as
//! `t<term>:"<command>"`. The trace's lines are also the input of
//! [`replay`], and [`Trace::as_test`] prints a regression test that fails
//! while the trace still violates — paste it into
//! `raft/src/search/tests.rs` (`emitted.rs` is one, pasted as is).
//! [`Trace::log`] is the trace as a simulation log: `labtool timeline`
//! draws it like any failed run.
//!
//! **Running.** `cargo test --release -p raft search::` runs the search
//! tests (about 10 s of CPU); `labtool search NAME --depth N --secs S`
//! runs one with a bigger budget, shows progress and writes a
//! counterexample's trace, timeline, log and unit test;
//! `election_depth_bench_search` (ignored) measures.
//!
//! **Measured** (release, 2-core box shared with other builds, so CPU time
//! of the search thread; `labtool search elections --bfs --depth N`):
//! elections among 3 peers, terms up to 3, losses and reordering,
//! breadth-first. No symmetry, depth 10: 5,695,999 states (21.9 M
//! transitions) exhausted safe in 19.3–20.6 s CPU, 277–295 k unique states
//! and 1.06–1.13 M transitions (successor states generated and checked)
//! per CPU second, 1.5 GB peak. Symmetry on, depth 12: 14,924,000 states
//! (70.2 M transitions) exhausted safe in 91 s CPU (164 k states/s: six
//! renamings to hash), 4.5 GB peak. Depth-first, symmetry on (measured
//! before the breadth-first search was made lean): depth 12 the same
//! 14,924,000 states in 171 s CPU (it expands a state again when a
//! shorter path reaches it), with only the visited map in memory.
//!
//! **Files**: `state.rs` (the state and its events), `encode.rs` (the
//! canonical encoding and its hashes), `check.rs` (the invariants),
//! `explore.rs` (the checkers, visited sets and clocks), `timeline.rs`
//! (a trace as a simulation log), `tests.rs` (the search tests).
//!
//! **Broken variants** ([`Bug`]): test-only mutations the harness applies
//! around the correct core (a forgotten vote, a commit without a majority,
//! ...), each caught by a search test; they prove the invariants can fail.

mod check;
mod encode;
mod explore;
mod state;
#[cfg(test)]
mod tests;
#[cfg(test)]
#[rustfmt::skip]
mod emitted;
mod timeline;

use std::fmt;
use std::time::Duration;

use crate::core::{ConfChange, Config};
pub use check::Invariant;
pub use explore::Search;
pub use state::{Effects, Event, History, Packet, Peer, State};

/// Deliberately broken variants of the core, applied by the harness around
/// the correct one, to prove that the searches catch real bugs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// A voter forgets its vote when asked again in the same term: two
    /// votes per term.
    DoubleVote,
    /// The vote is not persisted: a restarted voter votes again.
    VoteNotPersisted,
    /// Votes are granted without the up-to-date check (§5.4.1).
    NoUpToDateCheck,
    /// A leader commits its whole log without counting replicas.
    CommitWithoutMajority,
    /// A follower accepts entries without checking that the entry before
    /// them matches (§5.3's consistency check).
    NoPrevCheck,
    /// A follower takes a stale AppendEntries' lower commit index.
    CommitFromStaleAppend,
    /// A restart ignores the persisted state.
    RestartFromScratch,
    /// New log entries are not persisted (term and vote are): a peer acks
    /// entries a crash then takes away.
    EntriesNotPersisted,
    /// A restart keeps the member list the peer had in memory instead of
    /// rebuilding it from storage (the snapshot's configuration, then the
    /// changes in the log as they are applied again).
    RestartKeepsMembers,
    /// A follower installs a snapshot older than its own.
    StaleSnapshotInstalled,
    /// A leader proposes a configuration change while an earlier one is
    /// not yet applied (TinyKV 3A allows one at a time).
    TwoConfChangesInFlight,
    /// A leader handing leadership over still takes proposals.
    TransferAcceptsProposals,
}

/// Which kinds of event the search may take.
#[derive(Debug, Clone, Copy)]
pub struct Events {
    /// Deliver a message.
    pub deliver: bool,
    /// Drop a message (only when messages are consumed on delivery).
    pub drop: bool,
    /// Fire a follower's or candidate's election timer.
    pub election: bool,
    /// Fire a leader's heartbeat timer.
    pub heartbeat: bool,
    /// Crash a peer and restart it from its persisted state.
    pub crash: bool,
    /// Propose a command at a leader.
    pub propose: bool,
    /// Snapshot a peer's applied entries.
    pub snapshot: bool,
}

/// A named predicate over states: a goal, or a prune.
#[derive(Clone, Copy)]
pub struct Predicate {
    /// Its name.
    pub name: &'static str,
    /// The test.
    pub test: fn(&State) -> bool,
}

/// What a search explores and checks.
#[derive(Clone)]
pub struct Settings {
    /// Peers `0..peers`.
    pub peers: usize,
    /// The core's configuration (only `noop_on_election` and the batch size
    /// matter: timers are abstract).
    pub config: Config,
    /// Enabled events.
    pub events: Events,
    /// Keep a delivered message in the network, so it may arrive again
    /// (duplication and reordering without a drop event).
    pub redeliver: bool,
    /// No election timeout fires at a peer whose term has reached this.
    pub max_term: u64,
    /// Most client proposals along one path.
    pub max_proposals: u32,
    /// Most crashes along one path.
    pub max_crashes: u32,
    /// Configuration changes a leader may be handed, in this order (one
    /// per event; TinyKV p3a).
    pub conf_changes: Vec<ConfChange>,
    /// Most leader-transfer requests along one path (to any other peer).
    pub max_transfers: u32,
    /// Most partitions along one path: a partition cuts a minority off
    /// (messages across it wait, undeliverable, until it heals or they
    /// are dropped); healing is always enabled while one holds.
    pub max_partitions: u32,
    /// Most events along one path.
    pub max_depth: usize,
    /// Stop after this many unique states.
    pub max_states: usize,
    /// Stop after this much wall time.
    pub max_time: Duration,
    /// Checked at every step.
    pub invariants: Vec<Invariant>,
    /// The search stops when one holds.
    pub goal: Option<Predicate>,
    /// States where one holds are not expanded.
    pub prunes: Vec<Predicate>,
    /// A broken variant to run instead of the correct core.
    pub bug: Option<Bug>,
    /// Identify states that differ only in the peers' names (2 or 3
    /// peers): the visited set keeps one of each class. Sound while the
    /// protocol treats ids as mere names — true of the core — and nothing
    /// else in the search singles a peer out (partitions and
    /// configuration changes do: leave it off with them).
    pub symmetry: bool,
}

impl Settings {
    /// `peers` 6.5840 peers, elections only (no proposals, crashes or
    /// snapshots), messages consumed or dropped, every invariant, terms up
    /// to 2, depth 12.
    pub fn elections(peers: usize) -> Settings {
        Settings {
            peers,
            config: Config::lab(),
            events: Events {
                deliver: true,
                drop: true,
                election: true,
                heartbeat: true,
                crash: false,
                propose: false,
                snapshot: false,
            },
            redeliver: false,
            max_term: 2,
            max_proposals: 0,
            max_crashes: 0,
            conf_changes: Vec::new(),
            max_transfers: 0,
            max_partitions: 0,
            max_depth: 12,
            max_states: 2_000_000,
            max_time: Duration::from_secs(60),
            invariants: Invariant::all(),
            goal: None,
            prunes: Vec::new(),
            bug: None,
            symmetry: false,
        }
    }
}

/// How a search ended.
#[derive(Debug)]
pub enum Outcome {
    /// An invariant failed; the trace leads to the violation.
    Violation {
        /// The invariant.
        invariant: &'static str,
        /// Why it failed.
        why: String,
        /// How to get there.
        trace: Trace,
    },
    /// A goal state was reached.
    Goal {
        /// How to get there.
        trace: Trace,
        /// The state.
        state: Box<State>,
    },
    /// Every state within the bounds was explored, all safe, no goal.
    Exhausted,
    /// The state or time budget ran out first.
    OutOfBudget,
}

/// Counts from one search.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Transitions computed (successor states generated and checked).
    pub transitions: u64,
    /// Distinct states seen.
    pub unique: u64,
    /// Deepest level completely explored (BFS) or deepest step (probes).
    pub depth: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Time this thread spent on a CPU (Linux; the wall time elsewhere):
    /// the honest measure on a shared machine.
    pub cpu: Duration,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Below the scheduler's accounting granularity, the wall time.
        let cpu = if self.cpu.as_millis() < 5 {
            self.elapsed
        } else {
            self.cpu
        };
        let cpu = cpu.as_secs_f64().max(1e-9);
        write!(
            f,
            "{} unique states, {} transitions, depth {}, {:.2} s wall, {:.2} s CPU, {:.0} unique states/CPU s, {:.0} transitions/CPU s",
            self.unique,
            self.transitions,
            self.depth,
            self.elapsed.as_secs_f64(),
            cpu,
            self.unique as f64 / cpu,
            self.transitions as f64 / cpu
        )
    }
}

/// A path from a start state: its events, and what each one did.
#[derive(Debug, Clone)]
pub struct Trace {
    /// The events, as [`replay`] takes them.
    pub events: Vec<String>,
    /// After each event: the peer it touched, as one line.
    pub notes: Vec<String>,
    /// Every peer and message at the end.
    pub end: String,
    /// The invariant that failed at the end, if any.
    pub violation: Option<String>,
    /// The trace as a simulation log (event `i` at time `i` s), in the
    /// structured-event format the Raft driver logs (`raft::event`,
    /// `labrpc::event`): `labtool timeline FILE` draws it like any run.
    pub log: String,
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (event, note)) in self.events.iter().zip(&self.notes).enumerate() {
            writeln!(f, "{:>3}. {event}", i + 1)?;
            writeln!(f, "       {note}")?;
        }
        writeln!(f, "end state:")?;
        write!(f, "{}", self.end)?;
        if let Some(v) = &self.violation {
            writeln!(f, "VIOLATED: {v}")?;
        }
        Ok(())
    }
}

impl Trace {
    /// A regression test that replays this trace and fails while it
    /// still leads to a violation: it fails against the core (or broken
    /// variant) the search found it in, and passes once the bug is fixed
    /// (the trace then replays safely, or stops where a step it took is no
    /// longer possible). `settings` is the Rust expression that builds the
    /// search's settings; paste the test into `raft/src/search/tests.rs`.
    pub fn as_test(&self, name: &str, settings: &str) -> String {
        let mut out =
            format!("#[test]\nfn {name}() {{\n    let settings = {settings};\n    let trace = [\n");
        for e in &self.events {
            out.push_str(&format!("        {e:?},\n"));
        }
        let violation = self.violation.as_deref().unwrap_or("");
        out.push_str(&format!(
            "    ];\n    // Found violating {violation:?}.\n    if let Ok(Some((invariant, why))) = replay(&settings, &trace) {{\n        panic!(\"{{invariant}}: {{why}}\");\n    }}\n}}\n"
        ));
        out
    }
}

/// An invariant's name and why it failed.
pub type Violation = (&'static str, String);

/// Checks a transition against every invariant.
fn violation(
    settings: &Settings,
    before: &State,
    after: &State,
    event: &Event,
    fx: &Effects,
) -> Option<Violation> {
    if let Some(v) = &fx.violation {
        return Some(v.clone());
    }
    settings.invariants.iter().find_map(|inv| {
        inv.violated(before, after, event, fx)
            .map(|why| (inv.name, why))
    })
}

/// The events taken by choosing, at each step from `start`, the enabled
/// event at the given index (as [`State::events`] orders them).
fn events_at(settings: &Settings, start: &State, indices: &[usize]) -> Vec<String> {
    let mut state = start.clone();
    let mut out = Vec::new();
    for &i in indices {
        let event = state.events(settings).swap_remove(i);
        out.push(event.to_string());
        state = state.next(settings, &event).0;
    }
    out
}

/// Replays `events` (as a [`Trace`] prints them) from the start state:
/// `Err` if one is not enabled where it is taken, else the first invariant
/// violation, if any, as (invariant, why).
///
/// # Errors
/// The index and text of the first event that is not enabled.
pub fn replay<S: AsRef<str>>(
    settings: &Settings,
    events: &[S],
) -> Result<Option<Violation>, String> {
    replay_from(settings, &State::initial(settings), events).map(|(_, v)| v)
}

/// [`replay`] from any state; also returns the state reached.
fn replay_from<S: AsRef<str>>(
    settings: &Settings,
    start: &State,
    events: &[S],
) -> Result<(State, Option<Violation>), String> {
    let mut state = start.clone();
    for (i, text) in events.iter().enumerate() {
        let text = text.as_ref();
        let Some(event) = state
            .events(settings)
            .into_iter()
            .find(|e| e.to_string() == text)
        else {
            return Err(format!("event {} is not enabled: {text}", i + 1));
        };
        let (after, fx) = state.next(settings, &event);
        if let Some(v) = violation(settings, &state, &after, &event, &fx) {
            return Ok((after, Some(v)));
        }
        state = after;
    }
    Ok((state, None))
}

/// Drops every event whose removal keeps the same invariant failing.
fn minimise(
    settings: &Settings,
    start: &State,
    mut events: Vec<String>,
    invariant: &str,
) -> Vec<String> {
    // Until no single removal works any more (one removal can make an
    // earlier event unnecessary).
    loop {
        let before = events.len();
        let mut i = 0;
        while i < events.len() {
            let mut shorter = events.clone();
            shorter.remove(i);
            match replay_from(settings, start, &shorter) {
                Ok((_, Some((name, _)))) if name == invariant => events = shorter,
                _ => i += 1,
            }
        }
        if events.len() == before {
            break;
        }
    }
    // A violation may now come before the end: cut there.
    let mut state = start.clone();
    for (i, text) in events.iter().enumerate() {
        if let Ok((after, v)) = replay_from(settings, &state, std::slice::from_ref(text)) {
            if v.is_some() {
                events.truncate(i + 1);
                break;
            }
            state = after;
        }
    }
    events
}

/// The trace of `events` from `start`, with per-step notes.
fn trace_of(settings: &Settings, start: &State, events: &[String]) -> Trace {
    let mut state = start.clone();
    let mut notes = Vec::new();
    let mut log = String::new();
    for (id, peer) in start.peers.iter().enumerate() {
        timeline::peer(&mut log, 0.0, id, None, &peer.core);
    }
    let mut violation_text = None;
    for text in events {
        let Some(event) = state
            .events(settings)
            .into_iter()
            .find(|e| &e.to_string() == text)
        else {
            notes.push("(not enabled: the trace does not replay)".to_string());
            break;
        };
        let (after, fx) = state.next(settings, &event);
        let touched = match &event {
            Event::Deliver(p) => Some(p.to),
            Event::Drop(_) => None,
            Event::ElectionTimeout(p)
            | Event::Heartbeat(p)
            | Event::CrashRestart(p)
            | Event::Propose(p)
            | Event::Snapshot(p)
            | Event::ProposeConfChange(p, _)
            | Event::TransferLeader(p, _) => Some(*p),
            Event::Partition(_) | Event::Heal => None,
        };
        notes.push(match touched {
            Some(p) => format!("peer {p}: {}", state::PeerText(&after.peers[p].core)),
            None => match after.history.cut {
                0 => format!("{} in flight", after.network.len()),
                cut => format!(
                    "{} in flight; {} cut off",
                    after.network.len(),
                    state::MaskText(cut)
                ),
            },
        });
        let step = notes.len() as f64;
        timeline::step(&mut log, step, &state, &after, &event);
        if let Some((name, why)) = violation(settings, &state, &after, &event, &fx) {
            timeline::violation(&mut log, step, touched, &format!("{name}: {why}"));
            violation_text = Some(format!("{name}: {why}"));
        }
        state = after;
    }
    Trace {
        events: events.to_vec(),
        notes,
        end: state.summary(),
        violation: violation_text,
        log,
    }
}
