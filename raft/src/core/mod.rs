//! The Raft protocol as a pure state machine.
//!
//! No clocks, tasks or IO here: time arrives as [`Core::tick`], messages as
//! `handle_*` calls, and everything the core wants done — messages to send,
//! state to persist, entries or a snapshot to apply — accumulates in a
//! [`Ready`] that the driver takes with [`Core::take_ready`] and carries out
//! in order: **persist, then send, then apply**. Randomness (election
//! timeouts) comes from an RNG handed in at construction, so the core is
//! deterministic and testable without a network.
//!
//! Files: `election.rs` (timeouts, votes, roles), `replication.rs`
//! (AppendEntries, commit), `snapshot.rs` (compaction, InstallSnapshot),
//! `log.rs` (the log itself).

mod election;
pub(crate) mod log;
mod replication;
mod snapshot;

use rand::rngs::SmallRng;

use crate::messages::{AppendEntriesArgs, InstallSnapshotArgs, RequestVoteArgs};
use log::Log;

/// How often the driver calls `Core::tick`.
pub const TICK: std::time::Duration = std::time::Duration::from_millis(10);
/// Leader heartbeat period in ticks: 100 ms, within the lab's limit of ten
/// heartbeats per second.
pub const HEARTBEAT_TICKS: u32 = 10;
/// Election timeouts are drawn uniformly from this range of ticks
/// (300–600 ms): well above the heartbeat period and the network's delays,
/// and short enough to elect a new leader well within the tester's 5 s.
pub const ELECTION_TICKS: std::ops::Range<u32> = 30..60;
/// Most entries carried by one AppendEntries.
pub const MAX_ENTRIES_PER_APPEND: usize = 512;

/// What an outstanding replication request carries, and when it left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InFlight {
    /// Entries `prev_log_index + 1 ..= prev_log_index + len`, or the
    /// snapshot through `prev_log_index` when `snapshot` is set.
    pub(crate) prev_log_index: u64,
    pub(crate) len: usize,
    pub(crate) snapshot: bool,
    /// `Core::now` when it was sent.
    pub(crate) sent_at: u64,
}

/// A peer's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Follows a leader, or waits for one.
    Follower,
    /// Asks for votes.
    Candidate,
    /// Replicates its log.
    Leader,
}

/// A request the core wants sent to a peer.
#[derive(Debug, Clone)]
pub enum Request {
    /// Ask for a vote.
    Vote(RequestVoteArgs),
    /// Replicate entries or heartbeat.
    Append(AppendEntriesArgs),
    /// Send the snapshot.
    Snapshot(InstallSnapshotArgs),
}

/// Something to hand to the service, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Apply {
    /// A committed command.
    Command {
        /// Its log index.
        index: u64,
        /// Its term.
        term: u64,
        /// The encoded command.
        data: Vec<u8>,
    },
    /// A snapshot from the leader that moves the service forward.
    Snapshot {
        /// Last index it covers.
        index: u64,
        /// Term of that index.
        term: u64,
        /// The service's snapshot.
        data: Vec<u8>,
    },
}

/// Work the driver must carry out, in field order.
#[derive(Debug, Default)]
pub struct Ready {
    /// Save the persistent state (term, vote, log).
    pub persist_state: bool,
    /// Save the snapshot too, atomically with the state.
    pub persist_snapshot: bool,
    /// Requests to send: (peer, request).
    pub messages: Vec<(usize, Request)>,
    /// Entries and snapshots to apply, in order.
    pub applies: Vec<Apply>,
}

/// What survives a crash.
struct Persistent {
    term: u64,
    voted_for: Option<u32>,
    log: Log,
}

/// One peer's protocol state.
pub struct Core {
    /// This peer's index among the peers.
    pub(crate) me: usize,
    /// Number of peers, this one included.
    pub(crate) n: usize,
    /// Latest term seen (persistent).
    pub(crate) term: u64,
    /// Who got this peer's vote in `term` (persistent).
    pub(crate) voted_for: Option<usize>,
    /// The log after the snapshot (persistent).
    pub(crate) log: Log,
    /// The latest snapshot; covers `log.base()` (persistent, stored beside the state).
    pub(crate) snapshot: Vec<u8>,
    /// Highest index known committed. Invariant: `log.base() <= commit_index`.
    pub(crate) commit_index: u64,
    /// Highest index handed to the driver to apply.
    /// Invariant: `last_applied == commit_index` after every call.
    pub(crate) last_applied: u64,
    pub(crate) role: Role,
    /// Ticks since the last heartbeat from a leader, or since the election began.
    pub(crate) election_elapsed: u32,
    /// This round's randomized election timeout, in ticks.
    pub(crate) election_timeout: u32,
    /// Ticks since the leader last broadcast.
    pub(crate) heartbeat_elapsed: u32,
    /// Votes received in the current election.
    pub(crate) votes: Vec<bool>,
    /// Leader: next index to send to each peer.
    pub(crate) next_index: Vec<u64>,
    /// Leader: highest index known replicated on each peer.
    pub(crate) match_index: Vec<u64>,
    /// Leader: the request carrying entries or the snapshot that is
    /// outstanding to each peer. At most one per peer: new entries wait for
    /// its reply (or its loss) instead of starting a second stream, and a
    /// heartbeat meanwhile carries no entries. See `replication.rs`.
    pub(crate) in_flight: Vec<Option<InFlight>>,
    /// Ticks since this core started; timestamps `in_flight`.
    pub(crate) now: u64,
    pub(crate) rng: SmallRng,
    pub(crate) ready: Ready,
}

impl Core {
    /// A peer restored from its persisted state and snapshot (both may be empty).
    pub fn new(
        me: usize,
        n: usize,
        state: &[u8],
        snapshot: Vec<u8>,
        rng: SmallRng,
    ) -> Result<Core, String> {
        let persistent = if state.is_empty() {
            Persistent {
                term: 0,
                voted_for: None,
                log: Log::default(),
            }
        } else {
            // SOLUTION BEGIN 3C: decode what encode_state wrote
            let (term, voted_for, log) = Log::decode_state(state)
                .map_err(|e| format!("corrupt persisted raft state: {e}"))?;
            Persistent {
                term,
                voted_for,
                log,
            }
            // SOLUTION END
        };
        let base = persistent.log.base();
        let mut core = Core {
            me,
            n,
            term: persistent.term,
            voted_for: persistent.voted_for.map(|v| v as usize),
            log: persistent.log,
            snapshot,
            commit_index: base,
            last_applied: base,
            role: Role::Follower,
            election_elapsed: 0,
            election_timeout: 0,
            heartbeat_elapsed: 0,
            votes: vec![false; n],
            next_index: vec![0; n],
            match_index: vec![0; n],
            in_flight: vec![None; n],
            now: 0,
            rng,
            ready: Ready::default(),
        };
        core.reset_election_timer();
        Ok(core)
    }

    /// The current term.
    pub fn term(&self) -> u64 {
        self.term
    }

    /// True if this peer believes it leads.
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    /// The snapshot's bytes.
    pub fn snapshot_data(&self) -> &[u8] {
        &self.snapshot
    }

    /// The persistent state, encoded.
    pub fn encode_state(&self) -> Vec<u8> {
        // SOLUTION BEGIN 3C: encode term, vote and log for the persister
        // SKELETON: Vec::new() // persists nothing until 3C
        self.log
            .encode_state(self.term, self.voted_for.map(|v| v as u32))
        // SOLUTION END
    }

    /// Takes the accumulated work.
    pub fn take_ready(&mut self) -> Ready {
        std::mem::take(&mut self.ready)
    }

    /// Advances time by one tick.
    pub fn tick(&mut self) {
        self.now += 1;
        match self.role {
            Role::Leader => {
                self.heartbeat_elapsed += 1;
                if self.heartbeat_elapsed >= HEARTBEAT_TICKS {
                    self.heartbeat_elapsed = 0;
                    self.broadcast_append(true);
                }
            }
            Role::Follower | Role::Candidate => {
                self.election_elapsed += 1;
                if self.election_elapsed >= self.election_timeout {
                    self.start_election();
                }
            }
        }
    }

    /// Appends a command if this peer leads; returns its (index, term).
    pub fn propose(&mut self, data: Vec<u8>) -> Option<(u64, u64)> {
        // SOLUTION BEGIN 3B: append a command to the leader's log and replicate it
        if self.role != Role::Leader {
            return None;
        }
        let index = self.log.push(crate::messages::Entry {
            term: self.term,
            data,
        });
        self.match_index[self.me] = index;
        self.ready.persist_state = true;
        tracing::debug!(node = self.me, term = self.term, index, "propose");
        self.broadcast_append(false);
        self.advance_commit();
        Some((index, self.term))
        // SOLUTION END
    }

    fn persist(&mut self) {
        self.ready.persist_state = true;
    }

    fn send(&mut self, to: usize, request: Request) {
        self.ready.messages.push((to, request));
    }

    /// Moves `last_applied` up to `commit_index`, queuing each entry.
    fn queue_applies(&mut self) {
        while self.last_applied < self.commit_index {
            let index = self.last_applied + 1;
            let Some(entry) = self.log.get(index) else {
                // Unreachable by the invariants (committed entries above the base
                // are in the log); stop rather than skip an index.
                tracing::error!(
                    node = self.me,
                    index,
                    "committed entry missing from the log"
                );
                break;
            };
            self.ready.applies.push(Apply::Command {
                index,
                term: entry.term,
                data: entry.data.clone(),
            });
            self.last_applied = index;
        }
    }
}

#[cfg(test)]
mod tests;
