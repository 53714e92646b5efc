//! The checkers: breadth-first ([`Search::bfs`]), depth-first
//! ([`Search::dfs`]) and random probes ([`Search::probe`]), with the
//! visited sets and the clocks that measure them.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::state::Event;
use super::{Outcome, Settings, State, Stats, events_at, minimise, trace_of, violation};

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
