//! The Raft protocol as a pure state machine, in the etcd/raft-rs shape.
//!
//! No clocks, tasks or IO here. Time arrives as [`Core::tick`]; every
//! message from another peer — request, reply, or the report that a request
//! got no reply — arrives through [`Core::step`]; the local requests are
//! [`Core::propose`], [`Core::propose_conf_change`],
//! [`Core::transfer_leader`] and [`Core::snapshot`]. What the core wants done
//! accumulates until the caller takes it with [`Core::ready`] and carries it
//! out in the [`Ready`]'s field order — **persist, then send, then apply** —
//! and then calls [`Core::advance`]. Randomness (election timeouts) comes
//! from an RNG handed in at construction, so the core is deterministic and
//! testable without a network.
//!
//! Peers are named by their index (`0..n` in the 6.5840 labs, any small
//! number in the TinyKV-style tests); the configuration — the set of
//! voting members — may change one member at a time (`membership.rs`).
//!
//! Files: `election.rs` (timeouts, votes, roles), `replication.rs`
//! (AppendEntries, commit), `snapshot.rs` (compaction, InstallSnapshot),
//! `membership.rs` (configuration changes, leader transfer), `message.rs`
//! (what `step` takes and `Ready` hands out), `log.rs` (the log itself).

mod election;
pub(crate) mod log;
mod membership;
mod message;
mod replication;
mod snapshot;

use std::collections::BTreeSet;

use rand::rngs::SmallRng;

use crate::Error;
use crate::messages::Entry;
use log::Log;

pub use membership::{ConfChange, ConfChangeKind};
pub use message::{Kind, Message, Sent};

/// How often the driver calls `Core::tick`.
pub const TICK: std::time::Duration = std::time::Duration::from_millis(10);
/// Leader heartbeat period in ticks: 100 ms, within the lab's limit of ten
/// heartbeats per second.
pub const HEARTBEAT_TICKS: u32 = 10;
/// Election timeouts are drawn uniformly from this range of ticks
/// (300–600 ms): well above the heartbeat period and the network's delays,
/// and short enough to elect a new leader well within the tester's 5 s.
/// It is `[et, 2·et)` for `et` = 30, the etcd rule.
pub const ELECTION_TICKS: std::ops::Range<u32> = 30..60;
/// Most entries carried by one AppendEntries.
pub const MAX_ENTRIES_PER_APPEND: usize = 512;

/// The core's tunables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// The base election timeout `et` in ticks; each round draws its timeout
    /// uniformly from `[et, 2·et)`.
    pub election_ticks: u32,
    /// Leader heartbeat period in ticks.
    pub heartbeat_ticks: u32,
    /// A new leader appends an empty entry of its term at once (etcd,
    /// TinyKV). Off for the 6.5840 labs, whose tester counts every index.
    pub noop_on_election: bool,
    /// Most entries carried by one AppendEntries.
    pub max_entries_per_append: usize,
    /// Votes also for a candidate outside this peer's configuration, as
    /// the Raft dissertation (§4.2.3: servers process requests without
    /// consulting their configuration), etcd and TinyKV do: with membership
    /// changes a voter that has not yet applied a candidate's AddNode must
    /// still vote for it, or a two-voter group whose other voter lags never
    /// elects a leader. Off for the 6.5840 labs, whose peers are fixed (an
    /// unknown candidate there is bad input).
    pub vote_for_non_members: bool,
}

impl Config {
    /// The 6.5840 configuration: [`ELECTION_TICKS`], [`HEARTBEAT_TICKS`], no no-op,
    /// votes for members only.
    pub fn lab() -> Config {
        Config {
            election_ticks: ELECTION_TICKS.start,
            heartbeat_ticks: HEARTBEAT_TICKS,
            noop_on_election: false,
            max_entries_per_append: MAX_ENTRIES_PER_APPEND,
            vote_for_non_members: false,
        }
    }
}

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

/// What is not persisted but observers want to know: who leads, and how
/// this peer sees itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftState {
    /// This peer's role.
    pub role: Role,
    /// The leader this peer knows of in the current term (itself if it leads).
    pub leader: Option<usize>,
}

/// What must survive a crash besides the log (commit is included for
/// drivers that keep it; the 6.5840 driver does not need to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HardState {
    /// Latest term seen.
    pub term: u64,
    /// Who got this peer's vote in `term`.
    pub vote: Option<usize>,
    /// Highest index known committed.
    pub commit: u64,
}

/// The snapshot a [`Ready`] asks the caller to persist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// Last index the snapshot covers.
    pub index: u64,
    /// Term of that index.
    pub term: u64,
}

/// Something to hand to the service, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Apply {
    /// A committed command (an empty one is a new leader's no-op).
    Command {
        /// Its log index.
        index: u64,
        /// Its term.
        term: u64,
        /// The encoded command.
        data: Vec<u8>,
    },
    /// A committed configuration change: the caller applies it with
    /// [`Core::apply_conf_change`].
    ConfChange {
        /// Its log index.
        index: u64,
        /// Its term.
        term: u64,
        /// The change.
        change: ConfChange,
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

/// Work the caller must carry out, in field order, before [`Core::advance`].
#[derive(Debug, Default)]
pub struct Ready {
    /// Role or leader, when changed since the last ready.
    pub soft_state: Option<SoftState>,
    /// Term, vote or commit, when changed since the last ready.
    pub hard_state: Option<HardState>,
    /// Log entries to persist: this index range (read them with
    /// [`Core::entry`]); anything persisted from `start` on is replaced.
    pub entries: Option<std::ops::Range<u64>>,
    /// The snapshot to persist (its bytes: [`Core::snapshot_data`]),
    /// atomically with the state.
    pub snapshot: Option<SnapshotMeta>,
    /// True if term, vote or log changed: persist before sending.
    pub must_sync: bool,
    /// Entries and snapshots to apply, in order.
    pub committed: Vec<Apply>,
    /// Messages to send, after persisting: (peer, message).
    pub messages: Vec<(usize, Message)>,
}

impl Ready {
    /// True if there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.soft_state.is_none()
            && self.hard_state.is_none()
            && self.entries.is_none()
            && self.snapshot.is_none()
            && !self.must_sync
            && self.committed.is_empty()
            && self.messages.is_empty()
    }
}

/// One peer's protocol state. Cloning copies everything, the RNG included
/// (the search harness, `raft::search`, branches on clones).
#[derive(Clone)]
pub struct Core {
    /// This peer's index among the peers.
    pub(crate) me: usize,
    pub(crate) config: Config,
    /// The voting members (the current configuration).
    pub(crate) members: BTreeSet<usize>,
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
    /// The leader of the current term, if known.
    pub(crate) lead: Option<usize>,
    /// Ticks since the last heartbeat from a leader, or since the election began.
    pub(crate) election_elapsed: u32,
    /// This round's randomized election timeout, in ticks.
    pub(crate) election_timeout: u32,
    /// Ticks since the leader last broadcast.
    pub(crate) heartbeat_elapsed: u32,
    /// Answers in the current election: `Some(granted)` per peer.
    pub(crate) votes: Vec<Option<bool>>,
    /// Leader: next index to send to each peer.
    pub(crate) next_index: Vec<u64>,
    /// Leader: highest index known replicated on each peer.
    pub(crate) match_index: Vec<u64>,
    /// Leader: the request carrying entries or the snapshot that is
    /// outstanding to each peer. At most one per peer: new entries wait for
    /// its reply (or its loss) instead of starting a second stream, and a
    /// heartbeat meanwhile carries no entries. See `replication.rs`.
    pub(crate) in_flight: Vec<Option<InFlight>>,
    /// Leader: the peer leadership is being handed to, and ticks since.
    pub(crate) lead_transferee: Option<usize>,
    pub(crate) transfer_elapsed: u32,
    /// Index of the latest configuration change in the log; another may be
    /// proposed only once it is applied.
    pub(crate) pending_conf_index: u64,
    /// Ticks since this core started; timestamps `in_flight`.
    pub(crate) now: u64,
    pub(crate) rng: SmallRng,
    /// The snapshot changed and is not yet persisted.
    pub(crate) snapshot_pending: bool,
    /// What the last ready reported.
    pub(crate) prev_soft: SoftState,
    pub(crate) prev_hard: HardState,
    pub(crate) outbox: Vec<(usize, Message)>,
    pub(crate) applies: Vec<Apply>,
}

impl Core {
    /// A 6.5840 peer (`n` peers `0..n`, [`Config::lab`]) restored from its
    /// persisted state and snapshot (both may be empty).
    ///
    /// # Errors
    /// [`Error::CorruptState`] if `state` cannot be decoded.
    pub fn new(
        me: usize,
        n: usize,
        state: &[u8],
        snapshot: Vec<u8>,
        rng: SmallRng,
    ) -> Result<Core, Error> {
        let members: Vec<usize> = (0..n).collect();
        Core::with_config(me, &members, Config::lab(), state, snapshot, rng)
    }

    /// A peer with the given members and configuration.
    ///
    /// # Errors
    /// [`Error::CorruptState`] if `state` cannot be decoded.
    pub fn with_config(
        me: usize,
        members: &[usize],
        config: Config,
        state: &[u8],
        snapshot: Vec<u8>,
        rng: SmallRng,
    ) -> Result<Core, Error> {
        let (term, voted_for, log): (u64, Option<u32>, Log) = if state.is_empty() {
            (0, None, Log::default())
        } else {
            // SOLUTION BEGIN 3C: decode what encode_state wrote
            Log::decode_state(state).map_err(Error::CorruptState)?
            // SOLUTION END
        };
        let base = log.base();
        let cap = members.iter().copied().max().unwrap_or(0).max(me) + 1;
        let mut core = Core {
            me,
            config,
            members: members.iter().copied().collect(),
            term,
            voted_for: voted_for.map(|v| v as usize),
            log,
            snapshot,
            commit_index: base,
            last_applied: base,
            role: Role::Follower,
            lead: None,
            election_elapsed: 0,
            election_timeout: 0,
            heartbeat_elapsed: 0,
            votes: vec![None; cap],
            next_index: vec![0; cap],
            match_index: vec![0; cap],
            in_flight: vec![None; cap],
            lead_transferee: None,
            transfer_elapsed: 0,
            pending_conf_index: 0,
            now: 0,
            rng,
            snapshot_pending: false,
            prev_soft: SoftState {
                role: Role::Follower,
                leader: None,
            },
            prev_hard: HardState::default(),
            outbox: Vec::new(),
            applies: Vec::new(),
        };
        core.prev_hard = core.hard_state();
        core.reset_election_timer();
        Ok(core)
    }

    /// A peer rebuilt from state its driver keeps entry by entry (the TinyKV
    /// raftstore's raftdb): the hard state, the log after `base` (whose
    /// term is `base_term`), and the index the service has already applied.
    /// Entries in `applied + 1 ..= hard.commit` are handed out again in the
    /// first ready; nothing counts as unsynced.
    #[allow(clippy::too_many_arguments)]
    pub fn restore(
        me: usize,
        members: &[usize],
        config: Config,
        hard: HardState,
        (base, base_term): (u64, u64),
        entries: Vec<Entry>,
        applied: u64,
        rng: SmallRng,
    ) -> Core {
        let mut core = Core::with_config(me, members, config, &[], Vec::new(), rng)
            .expect("an empty state always decodes");
        core.term = hard.term;
        core.voted_for = hard.vote;
        core.log.reset_to(base, base_term);
        for entry in entries {
            core.log.push(entry);
        }
        core.log.mark_synced();
        let last = core.log.last_index();
        core.last_applied = applied.clamp(base, last);
        core.commit_index = hard.commit.clamp(core.last_applied, last);
        core.queue_applies();
        core.prev_hard = core.hard_state();
        core
    }

    /// The current term.
    pub fn term(&self) -> u64 {
        self.term
    }

    /// True if this peer believes it leads.
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    /// Role and known leader.
    pub fn soft_state(&self) -> SoftState {
        SoftState {
            role: self.role,
            leader: self.lead,
        }
    }

    /// Term, vote and commit index.
    pub fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.voted_for,
            commit: self.commit_index,
        }
    }

    /// The voting members.
    pub fn members(&self) -> Vec<usize> {
        self.members.iter().copied().collect()
    }

    /// The log entry at `index`, if the log holds it.
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        self.log.get(index)
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

    /// On a restart, the commit index the caller persisted (drivers that
    /// keep [`HardState::commit`]): entries up to it are handed out again
    /// in the first ready, and the hard state counts as unchanged.
    pub fn restore_commit(&mut self, commit: u64) {
        let commit = commit.min(self.log.last_index());
        if commit > self.commit_index {
            self.commit_index = commit;
            self.queue_applies();
        }
        self.prev_hard = self.hard_state();
    }

    /// True if [`Core::ready`] would have work.
    pub fn has_ready(&self) -> bool {
        self.soft_state() != self.prev_soft
            || self.hard_state() != self.prev_hard
            || self.log.unsynced().is_some()
            || self.snapshot_pending
            || !self.applies.is_empty()
            || !self.outbox.is_empty()
    }

    /// Takes the accumulated work. Call [`Core::advance`] once it is done.
    pub fn ready(&mut self) -> Ready {
        let soft = self.soft_state();
        let hard = self.hard_state();
        let last = self.log.last_index();
        let unsynced = self.log.unsynced();
        let entries = unsynced
            .map(|from| from.max(self.log.base() + 1)..last + 1)
            .filter(|range| !range.is_empty());
        let must_sync = unsynced.is_some()
            || (hard.term, hard.vote) != (self.prev_hard.term, self.prev_hard.vote);
        Ready {
            soft_state: (soft != self.prev_soft).then_some(soft),
            hard_state: (hard != self.prev_hard).then_some(hard),
            entries,
            snapshot: self.snapshot_pending.then(|| SnapshotMeta {
                index: self.log.base(),
                term: self.log.base_term(),
            }),
            must_sync,
            committed: std::mem::take(&mut self.applies),
            messages: std::mem::take(&mut self.outbox),
        }
    }

    /// The caller has carried out `ready`.
    pub fn advance(&mut self, ready: &Ready) {
        if let Some(soft) = ready.soft_state {
            self.prev_soft = soft;
        }
        if let Some(hard) = ready.hard_state {
            self.prev_hard = hard;
        }
        if ready.must_sync {
            self.log.mark_synced();
        }
        if ready.snapshot.is_some() {
            self.snapshot_pending = false;
        }
    }

    /// Advances time by one tick.
    pub fn tick(&mut self) {
        self.now += 1;
        match self.role {
            Role::Leader => {
                if self.lead_transferee.is_some() {
                    self.transfer_elapsed += 1;
                    if self.transfer_elapsed >= self.config.election_ticks {
                        // The target did not take over in time: carry on.
                        self.lead_transferee = None;
                    }
                }
                self.heartbeat_elapsed += 1;
                if self.heartbeat_elapsed >= self.config.heartbeat_ticks {
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

    /// Handles one message from peer `from`.
    pub fn step(&mut self, from: usize, message: Message) {
        if message.is_response() && from >= self.votes.len() {
            // An answer from a peer this core never addressed.
            return;
        }
        match message {
            Message::RequestVote(args) => self.handle_request_vote(from, &args),
            Message::RequestVoteReply(sent, reply) => {
                self.handle_request_vote_reply(from, sent, &reply)
            }
            Message::AppendEntries(args) => self.handle_append_entries(from, &args),
            Message::AppendEntriesReply(sent, reply) => {
                self.handle_append_entries_reply(from, sent, &reply)
            }
            Message::InstallSnapshot(args) => self.handle_install_snapshot(from, &args),
            Message::InstallSnapshotReply(sent, reply) => {
                self.handle_install_snapshot_reply(from, sent, &reply)
            }
            Message::TimeoutNow(args) => self.handle_timeout_now(from, &args),
            Message::TransferLeader(args) => self.transfer_leader(args.target as usize),
            Message::Unreachable(sent) => self.handle_unreachable(from, sent),
        }
    }

    /// Appends a command if this peer leads; returns its (index, term).
    /// Refused while leadership is being transferred.
    pub fn propose(&mut self, data: Vec<u8>) -> Option<(u64, u64)> {
        if self.lead_transferee.is_some() {
            return None;
        }
        // SOLUTION BEGIN 3B: append a command to the leader's log and replicate it
        if self.role != Role::Leader {
            return None;
        }
        let index = self.log.push(Entry::command(self.term, data));
        self.match_index[self.me] = index;
        tracing::debug!(node = self.me, term = self.term, index, "propose");
        self.broadcast_append(false);
        self.advance_commit();
        Some((index, self.term))
        // SOLUTION END
    }

    /// Starts an election now (etcd's `MsgHup`), unless this peer leads.
    pub fn campaign(&mut self) {
        if self.role != Role::Leader {
            self.start_election();
        }
    }

    pub(crate) fn send(&mut self, to: usize, message: Message) {
        self.outbox.push((to, message));
    }

    /// A majority of the current members.
    pub(crate) fn quorum(&self) -> usize {
        self.members.len() / 2 + 1
    }

    /// The members other than this peer, in order.
    pub(crate) fn others(&self) -> Vec<usize> {
        self.members
            .iter()
            .copied()
            .filter(|&p| p != self.me)
            .collect()
    }

    /// Grows the per-peer tables to hold peer `id`.
    pub(crate) fn make_room(&mut self, id: usize) {
        if id >= self.votes.len() {
            self.votes.resize(id + 1, None);
            self.next_index.resize(id + 1, 0);
            self.match_index.resize(id + 1, 0);
            self.in_flight.resize(id + 1, None);
        }
    }

    /// Moves `last_applied` up to `commit_index`, queuing each entry.
    pub(crate) fn queue_applies(&mut self) {
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
            let apply = match entry.conf_change() {
                Some(change) => Apply::ConfChange {
                    index,
                    term: entry.term,
                    change,
                },
                None => Apply::Command {
                    index,
                    term: entry.term,
                    data: entry.data.clone(),
                },
            };
            self.applies.push(apply);
            self.last_applied = index;
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod etcd;
