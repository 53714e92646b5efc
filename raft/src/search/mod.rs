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
//! **Broken variants** ([`Bug`]): test-only mutations the harness applies
//! around the correct core (a forgotten vote, a commit without a majority,
//! ...), each caught by a search test; they prove the invariants can fail.

mod check;
mod state;
#[cfg(test)]
mod tests;
#[cfg(test)]
#[rustfmt::skip]
mod emitted;
mod timeline;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use crate::core::{ConfChange, Config};
pub use check::Invariant;
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

/// The CPU time this thread has used so far, from
/// `/proc/thread-self/schedstat` (its first field, in nanoseconds).
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Measures a search's wall and CPU time.
struct Clock {
    wall: Instant,
    cpu: Option<Duration>,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            wall: Instant::now(),
            cpu: thread_cpu(),
        }
    }

    fn elapsed(&self) -> Duration {
        self.wall.elapsed()
    }

    /// Records the wall and CPU time so far in `stats`.
    fn stop(&self, stats: &mut Stats) {
        stats.elapsed = self.wall.elapsed();
        stats.cpu = match (self.cpu, thread_cpu()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => stats.elapsed,
        };
    }
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

/// Visited set keys are already hashes.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// The breadth-first search's visited set: fingerprints in one flat
/// open-addressing table (linear probing), so a lookup touches one cache
/// line, where a general hash set reads a control array and a slot array.
/// The table is at most 3/4 full; 0 marks an empty slot, so the
/// fingerprint 0 is kept aside.
struct Visited {
    slots: Vec<u64>,
    len: usize,
    zero: bool,
}

impl Default for Visited {
    fn default() -> Visited {
        Visited {
            slots: vec![0; 1 << 16],
            len: 0,
            zero: false,
        }
    }
}

impl Visited {
    /// Adds `key`; false if it was there already.
    fn insert(&mut self, key: u64) -> bool {
        if key == 0 {
            return !std::mem::replace(&mut self.zero, true);
        }
        if 4 * (self.len + 1) > 3 * self.slots.len() {
            self.grow();
        }
        if Self::place(&mut self.slots, key) {
            self.len += 1;
            true
        } else {
            false
        }
    }

    /// Puts `key` in its slot; false if it is there already. Fingerprints
    /// are well mixed, so their low bits pick the slot.
    fn place(slots: &mut [u64], key: u64) -> bool {
        let mask = slots.len() - 1;
        let mut i = key as usize & mask;
        loop {
            match slots[i] {
                0 => {
                    slots[i] = key;
                    return true;
                }
                k if k == key => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn grow(&mut self) {
        let bigger = vec![0; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, bigger);
        for key in old.into_iter().filter(|&k| k != 0) {
            Self::place(&mut self.slots, key);
        }
    }
}

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

/// A search with its settings.
pub struct Search {
    /// The settings.
    pub settings: Settings,
    /// Counts from the last run.
    pub stats: Stats,
    /// Print the counts to stderr this often while searching.
    pub progress: Option<Duration>,
}

/// Prints a running search's counts now and then.
struct Progress {
    every: Option<Duration>,
    last: Instant,
}

impl Progress {
    fn new(every: Option<Duration>) -> Progress {
        Progress {
            every,
            last: Instant::now(),
        }
    }

    fn tick(&mut self, clock: &Clock, stats: &Stats, depth: usize) {
        let Some(every) = self.every else {
            return;
        };
        if self.last.elapsed() < every {
            return;
        }
        self.last = Instant::now();
        let secs = clock.elapsed().as_secs_f64().max(1e-9);
        eprintln!(
            "search: {} states, {} transitions, depth {depth}, {:.0} s, {:.0} states/s",
            stats.unique,
            stats.transitions,
            secs,
            stats.unique as f64 / secs
        );
    }
}

impl Search {
    /// A search with these settings.
    pub fn new(settings: Settings) -> Search {
        Search {
            settings,
            stats: Stats::default(),
            progress: None,
        }
    }

    /// The start state: fresh peers, nothing in flight.
    pub fn initial(&self) -> State {
        State::initial(&self.settings)
    }

    /// Breadth-first over every path from `start` up to the depth bound.
    ///
    /// Memory is what bounds it: each level's frontier holds whole states.
    /// So a node of the search tree keeps only its parent and the index of
    /// its event among the parent's enabled events (8 bytes; a path is
    /// rebuilt by replaying those indices from `start`), a state is freed
    /// as soon as it has been expanded, and states of the last level are
    /// checked and counted but not kept, since nothing expands them.
    pub fn bfs(&mut self, start: &State) -> Outcome {
        let began = Clock::start();
        let settings = &self.settings;
        let mut stats = Stats::default();
        let mut progress = Progress::new(self.progress);
        // Per node: its parent and the index of the event that led to it.
        let mut nodes: Vec<(u32, u32)> = vec![(u32::MAX, u32::MAX)];
        let mut visited = Visited::default();
        visited.insert(start.fingerprint());
        stats.unique = 1;
        let mut frontier: Vec<(u32, State)> = vec![(0, start.clone())];
        // The events from `start` to node `at`, then `last` if any.
        let path = |nodes: &[(u32, u32)], mut at: u32, last: Option<usize>| {
            let mut indices: Vec<usize> = last.into_iter().collect();
            while nodes[at as usize].0 != u32::MAX {
                indices.push(nodes[at as usize].1 as usize);
                at = nodes[at as usize].0;
            }
            indices.reverse();
            events_at(settings, start, &indices)
        };
        let mut outcome = Outcome::Exhausted;
        'levels: for depth in 0..settings.max_depth {
            if stats.unique as usize >= settings.max_states || began.elapsed() >= settings.max_time
            {
                outcome = Outcome::OutOfBudget;
                break;
            }
            let last_level = depth + 1 == settings.max_depth;
            let mut next = Vec::new();
            let mut expanded = 0usize;
            for (node, state) in std::mem::take(&mut frontier) {
                expanded += 1;
                for (index, event) in state.events(settings).into_iter().enumerate() {
                    let (after, fx) = state.next(settings, &event);
                    stats.transitions += 1;
                    if let Some((invariant, why)) = violation(settings, &state, &after, &event, &fx)
                    {
                        let events = path(&nodes, node, Some(index));
                        let trace = trace_of(settings, start, &events);
                        outcome = Outcome::Violation {
                            invariant,
                            why,
                            trace,
                        };
                        break 'levels;
                    }
                    if !visited.insert(after.fingerprint()) {
                        continue;
                    }
                    stats.unique += 1;
                    if settings.goal.is_some_and(|g| (g.test)(&after)) {
                        let events = path(&nodes, node, Some(index));
                        let trace = trace_of(settings, start, &events);
                        outcome = Outcome::Goal {
                            trace,
                            state: Box::new(after),
                        };
                        break 'levels;
                    }
                    if last_level || settings.prunes.iter().any(|p| (p.test)(&after)) {
                        continue;
                    }
                    nodes.push((node, index as u32));
                    next.push(((nodes.len() - 1) as u32, after));
                }
                if expanded % 64 == 0 {
                    progress.tick(&began, &stats, depth + 1);
                    if stats.unique as usize >= settings.max_states
                        || began.elapsed() >= settings.max_time
                    {
                        outcome = Outcome::OutOfBudget;
                        break 'levels;
                    }
                }
            }
            stats.depth = depth + 1;
            frontier = next;
            if frontier.is_empty() {
                break;
            }
        }
        began.stop(&mut stats);
        self.stats = stats;
        outcome
    }

    /// Depth-first over every path from `start` up to the depth bound:
    /// the same states as [`Search::bfs`] (a state first met deep is met
    /// again, and expanded again, when a shorter path reaches it), but it
    /// keeps only the current path and a fingerprint → depth map, not a
    /// frontier of whole states — the exhaustive search for deep bounds.
    /// Its counterexamples are minimised, not shortest.
    pub fn dfs(&mut self, start: &State) -> Outcome {
        let began = Clock::start();
        let settings = &self.settings;
        let mut stats = Stats::default();
        let mut progress = Progress::new(self.progress);
        let mut visited: HashMap<u64, u8, BuildHasherDefault<Identity>> = HashMap::default();
        visited.insert(start.fingerprint(), 0);
        stats.unique = 1;
        let max_depth = settings.max_depth.min(255);
        // (state, its enabled events, the next one to take); `path[i]` led
        // from `stack[i]` to `stack[i + 1]`.
        let mut stack = vec![(start.clone(), start.events(settings), 0usize)];
        let mut path: Vec<Event> = Vec::new();
        let mut outcome = Outcome::Exhausted;
        while let Some((state, events, next)) = stack.last_mut() {
            let depth = path.len() + 1;
            let Some(event) = events.get(*next).cloned() else {
                stack.pop();
                path.pop();
                continue;
            };
            *next += 1;
            let (after, fx) = state.next(settings, &event);
            stats.transitions += 1;
            if let Some((invariant, why)) = violation(settings, state, &after, &event, &fx) {
                let mut events: Vec<String> = path.iter().map(Event::to_string).collect();
                events.push(event.to_string());
                let events = minimise(settings, start, events, invariant);
                let trace = trace_of(settings, start, &events);
                let why = trace.violation.clone().unwrap_or(why);
                outcome = Outcome::Violation {
                    invariant,
                    why,
                    trace,
                };
                break;
            }
            stats.depth = stats.depth.max(depth);
            match visited.entry(after.fingerprint()) {
                Entry::Occupied(e) if usize::from(*e.get()) <= depth => continue,
                Entry::Occupied(mut e) => {
                    e.insert(depth as u8);
                }
                Entry::Vacant(e) => {
                    e.insert(depth as u8);
                    stats.unique += 1;
                }
            }
            if settings.goal.is_some_and(|g| (g.test)(&after)) {
                let mut events: Vec<String> = path.iter().map(Event::to_string).collect();
                events.push(event.to_string());
                let trace = trace_of(settings, start, &events);
                outcome = Outcome::Goal {
                    trace,
                    state: Box::new(after),
                };
                break;
            }
            if stats.transitions % 4096 == 0 {
                progress.tick(&began, &stats, stats.depth);
                if stats.unique as usize >= settings.max_states
                    || began.elapsed() >= settings.max_time
                {
                    outcome = Outcome::OutOfBudget;
                    break;
                }
            }
            if depth < max_depth && !settings.prunes.iter().any(|p| (p.test)(&after)) {
                let events = after.events(settings);
                path.push(event);
                stack.push((after, events, 0));
            }
        }
        began.stop(&mut stats);
        self.stats = stats;
        outcome
    }

    /// `walks` random walks of up to `max_depth` events from `start`, seeded
    /// by `seed`; a violation is minimised before it is returned.
    pub fn probe(&mut self, start: &State, walks: u32, seed: u64) -> Outcome {
        let began = Clock::start();
        let settings = &self.settings;
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut stats = Stats::default();
        let mut outcome = Outcome::Exhausted;
        'walks: for _ in 0..walks {
            let mut state = start.clone();
            let mut events = Vec::new();
            for depth in 0..settings.max_depth {
                let enabled = state.events(settings);
                if enabled.is_empty() {
                    break;
                }
                let event = &enabled[rng.random_range(0..enabled.len())];
                let (after, fx) = state.next(settings, event);
                stats.transitions += 1;
                stats.depth = stats.depth.max(depth + 1);
                events.push(event.to_string());
                if let Some((invariant, why)) = violation(settings, &state, &after, event, &fx) {
                    let events = minimise(settings, start, events, invariant);
                    let trace = trace_of(settings, start, &events);
                    let why = trace.violation.clone().unwrap_or(why);
                    outcome = Outcome::Violation {
                        invariant,
                        why,
                        trace,
                    };
                    break 'walks;
                }
                if settings.goal.is_some_and(|g| (g.test)(&after)) {
                    let trace = trace_of(settings, start, &events);
                    outcome = Outcome::Goal {
                        trace,
                        state: Box::new(after),
                    };
                    break 'walks;
                }
                if settings.prunes.iter().any(|p| (p.test)(&after)) {
                    break;
                }
                state = after;
            }
            if began.elapsed() >= settings.max_time {
                outcome = Outcome::OutOfBudget;
                break;
            }
        }
        began.stop(&mut stats);
        self.stats = stats;
        outcome
    }
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
