//! One peer of one region on one store: a raft core, its storage, and the
//! proposals waiting for their entries to apply. Pure: no clock, task or
//! network — the store feeds it ticks, messages and commands, and after
//! each batch calls [`Peer::handle_ready`], which carries out the core's
//! ready in the order the crate map gives (persist, send, apply, answer,
//! advance) and hands back the messages to send.

use std::collections::VecDeque;
use std::sync::Arc;

use raft::{Apply, Config, Core, Message};
use rand::rngs::SmallRng;
use tinykv_storage::{Engine, Snapshot};

use crate::cmd::{self, AdminRequest, CmdHeader, RaftCmdRequest, Response};
use crate::meta::{Peer as PeerMeta, Region, RegionLocalState};
use crate::peer_storage::read_record;
use crate::snap::RegionSnapshot;
use crate::{Error, PeerStorage, keys};

/// The raftstore's tunables (the reference's `config.Config`, the parts
/// Project 2 uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerConfig {
    /// `RaftLogGcCountLimit`: a leader proposes CompactLog once its applied
    /// index is this many entries past the first index of its log.
    pub raft_log_gc_count_limit: u64,
    /// `RaftLogGCTickInterval` in raft base ticks: how often the leader
    /// checks.
    pub raft_log_gc_ticks: u32,
    /// `RegionMaxSize` (3B): a region whose default CF holds at least this
    /// many bytes of keys and values is split.
    pub region_max_size: u64,
    /// `RegionSplitSize` (3B): the split key is the first key at which the
    /// running size passes this.
    pub region_split_size: u64,
    /// `SplitRegionCheckTickInterval` in base ticks (3B).
    pub split_check_ticks: u32,
    /// `SchedulerHeartbeatTickInterval` in base ticks (3B): how often a
    /// leader reports its region to the scheduler.
    pub region_heartbeat_ticks: u32,
}

impl PeerConfig {
    /// The reference's test configuration (`NewTestConfig`): GC checked
    /// every base tick (50 ms), and a limit high enough that only tests
    /// that lower it see compaction.
    pub fn test() -> PeerConfig {
        PeerConfig {
            raft_log_gc_count_limit: 128_000,
            raft_log_gc_ticks: 1,
            region_max_size: 144 << 20,
            region_split_size: 96 << 20,
            split_check_ticks: 2,
            region_heartbeat_ticks: 2,
        }
    }

    /// The test configuration with `RaftLogGcCountLimit = limit`
    /// (GenericTest's `maxraftlog`).
    pub fn with_gc_limit(limit: u64) -> PeerConfig {
        PeerConfig {
            raft_log_gc_count_limit: limit,
            ..PeerConfig::test()
        }
    }
}

impl PeerConfig {
    /// This configuration with `RegionMaxSize = max` and
    /// `RegionSplitSize = split` (the 3B split scenarios).
    pub fn with_split_sizes(self, max: u64, split: u64) -> PeerConfig {
        PeerConfig {
            region_max_size: max,
            region_split_size: split,
            ..self
        }
    }
}

impl Default for PeerConfig {
    fn default() -> PeerConfig {
        PeerConfig::test()
    }
}

/// The raft configuration of a raftstore peer: the reference's 2 heartbeat
/// and 10 election ticks (timeouts drawn from `[10, 20)`), a no-op entry
/// from every new leader so it can commit (and answer) at once, and votes
/// for candidates not yet in this peer's configuration (a region {12, 15}
/// whose peer 12 had not applied AddNode 15 elected nobody).
pub fn raft_config() -> Config {
    Config {
        election_ticks: 10,
        heartbeat_ticks: 2,
        noop_on_election: true,
        max_entries_per_append: 256,
        vote_for_non_members: true,
    }
}

/// The answer to a proposed command.
pub struct Answer {
    /// The caller's id for the command.
    pub id: u64,
    /// The responses, one per request, or the region error.
    pub result: Result<Vec<Response>, Error>,
    /// For a command with a `Snap` request: the kv engine as the command
    /// applied (readers must keep to the region's range).
    pub snapshot: Option<Box<dyn Snapshot>>,
    /// The peer's term when it answered.
    pub term: u64,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("id", &self.id)
            .field("result", &self.result)
            .field("snapshot", &self.snapshot.is_some())
            .field("term", &self.term)
            .finish()
    }
}

/// Receives answers as they are made ([`Peer::set_answer_sink`]).
pub type AnswerSink = Box<dyn FnMut(Answer) + Send>;

/// A command in the log, waiting for its entry to apply.
#[derive(Debug, Clone, Copy)]
struct Proposal {
    id: u64,
    index: u64,
    term: u64,
}

/// One replica of a region.
pub struct Peer {
    store_id: u64,
    meta: PeerMeta,
    core: Core,
    storage: PeerStorage,
    /// In log order. Invariant: indexes strictly increase.
    proposals: VecDeque<Proposal>,
    answers: Vec<Answer>,
    /// Where answers go at once, if set (else they wait in `answers`).
    sink: Option<AnswerSink>,
    config: PeerConfig,
    /// Ticks since the last raft-log GC check.
    gc_elapsed: u32,
    /// The last CompactLog this peer proposed: (term, compact index).
    compact_proposed: Option<(u64, u64)>,
    /// The compact index of the last CompactLog this peer applied (the
    /// initial index before one): how far the region's logs are known to
    /// be trimmed, whatever this peer's own log (a snapshot shortens it).
    compacted: u64,
    /// What the store must act on (3B): the peer removed itself, a split
    /// created a region, the region changed.
    events: Vec<PeerEvent>,
    /// Set once this peer applied its own removal: it applies nothing more
    /// and waits for the store to destroy it.
    removed: bool,
    /// The term and soft state last logged (the `raftstore::event` role
    /// line is written when either changes).
    seen: Option<(u64, raft::SoftState)>,
    /// Ticks since the last split check and region heartbeat (3B).
    split_check_elapsed: u32,
    /// Bytes written by applied entries since the last split check: the
    /// reference's size-diff hint, which throttles the checker.
    size_diff_hint: u64,
    /// The region's size at the last split check (`None` before the first).
    approximate_size: Option<u64>,
}

/// Something the store must do for a peer after its ready (3B).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// The peer applied its own removal: destroy it ([`Peer::destroy`]).
    Removed,
    /// A split applied: create and start the peer of this new region.
    Split(Region),
    /// The region's epoch changed: heartbeat the scheduler now.
    RegionChanged,
    /// The split checker found the region too big: ask the scheduler for
    /// ids and propose a split at this key.
    AskSplit {
        /// The first key of the new region.
        split_key: Vec<u8>,
    },
}

impl Peer {
    /// The peer of `region` on `store_id`, from what the engines hold (the
    /// region as last applied there, if any; else `region` as given).
    ///
    /// # Errors
    /// [`Error::RegionNotFound`] if the region has no peer on this store
    /// or was destroyed here; [`Error::Corrupt`] / [`Error::Unavailable`] /
    /// [`Error::Engine`] if the persisted state cannot be read back.
    pub fn open(
        store_id: u64,
        region: Region,
        raft_engine: Arc<dyn Engine>,
        kv_engine: Arc<dyn Engine>,
        rng: SmallRng,
    ) -> Result<Peer, Error> {
        Peer::open_with(
            store_id,
            region,
            raft_engine,
            kv_engine,
            PeerConfig::test(),
            rng,
        )
    }

    /// [`Peer::open`] with the given configuration.
    ///
    /// # Errors
    /// As [`Peer::open`].
    pub fn open_with(
        store_id: u64,
        region: Region,
        raft_engine: Arc<dyn Engine>,
        kv_engine: Arc<dyn Engine>,
        config: PeerConfig,
        rng: SmallRng,
    ) -> Result<Peer, Error> {
        let region_id = region.id;
        let persisted: Option<RegionLocalState> =
            read_record(kv_engine.as_ref(), &keys::region_state_key(region_id))?;
        let region = match persisted {
            Some(state) if state.state == crate::meta::PeerState::Tombstone => {
                return Err(Error::RegionNotFound { region_id });
            }
            Some(state) => state.region,
            None => region,
        };
        let meta = region
            .peer_on_store(store_id)
            .ok_or(Error::RegionNotFound { region_id })?;
        let members: Vec<usize> = region.peers.iter().map(|p| p.id as usize).collect();
        let storage = PeerStorage::new(raft_engine, kv_engine, region)?;
        let core = storage.restore_core(meta.id as usize, &members, raft_config(), rng)?;
        Ok(Peer::assemble(store_id, meta, core, storage, config))
    }

    /// A peer `meta` of region `region_id` that this store does not know
    /// yet (3B: created when a message for an added peer arrives): no
    /// range, no members, an empty log, waiting for the leader's snapshot.
    ///
    /// # Errors
    /// As [`Peer::open`].
    pub fn create_uninitialised(
        meta: PeerMeta,
        region_id: u64,
        raft_engine: Arc<dyn Engine>,
        kv_engine: Arc<dyn Engine>,
        config: PeerConfig,
        rng: SmallRng,
    ) -> Result<Peer, Error> {
        let region = Region {
            id: region_id,
            ..Region::default()
        };
        let storage = PeerStorage::new(raft_engine, kv_engine, region)?;
        let core = storage.restore_core(meta.id as usize, &[], raft_config(), rng)?;
        Ok(Peer::assemble(meta.store_id, meta, core, storage, config))
    }

    /// A peer around its restored core and storage, with nothing in flight.
    fn assemble(
        store_id: u64,
        meta: PeerMeta,
        core: Core,
        storage: PeerStorage,
        config: PeerConfig,
    ) -> Peer {
        Peer {
            store_id,
            meta,
            core,
            storage,
            proposals: VecDeque::new(),
            answers: Vec::new(),
            sink: None,
            config,
            gc_elapsed: 0,
            compact_proposed: None,
            compacted: crate::meta::RAFT_INIT_LOG_INDEX,
            events: Vec::new(),
            removed: false,
            seen: None,
            split_check_elapsed: 0,
            size_diff_hint: 0,
            approximate_size: None,
        }
    }

    /// The region's peer with raft id `id`, if it is a member.
    pub fn peer_meta(&self, id: u64) -> Option<PeerMeta> {
        self.region().peers.iter().copied().find(|p| p.id == id)
    }

    /// What the store must act on since the last call.
    pub fn take_events(&mut self) -> Vec<PeerEvent> {
        std::mem::take(&mut self.events)
    }

    /// Whether the peer applied its own removal.
    pub fn is_removed(&self) -> bool {
        self.removed
    }

    /// This peer's id and store.
    pub fn meta(&self) -> PeerMeta {
        self.meta
    }

    /// The region as last applied.
    pub fn region(&self) -> &Region {
        self.storage.region()
    }

    /// The storage.
    pub fn storage(&self) -> &PeerStorage {
        &self.storage
    }

    /// True if this peer believes it leads.
    pub fn is_leader(&self) -> bool {
        self.core.is_leader()
    }

    /// The current term.
    pub fn term(&self) -> u64 {
        self.core.term()
    }

    /// The leader this peer knows of, as a region peer.
    pub fn leader(&self) -> Option<PeerMeta> {
        let id = self.core.soft_state().leader? as u64;
        self.region().peers.iter().copied().find(|p| p.id == id)
    }

    /// Advances time by one raft tick; every `raft_log_gc_ticks` ticks, the
    /// raft-log GC check ([`Peer::on_raft_log_gc_tick`]).
    pub fn tick(&mut self) {
        self.core.tick();
        self.gc_elapsed += 1;
        if self.gc_elapsed >= self.config.raft_log_gc_ticks {
            self.gc_elapsed = 0;
            self.on_raft_log_gc_tick();
        }
        self.split_check_elapsed += 1;
        if self.split_check_elapsed >= self.config.split_check_ticks {
            self.split_check_elapsed = 0;
            self.on_split_check_tick();
        }
    }

    /// Hands the core a message from peer `from`. A snapshot that does not
    /// decode, or that this peer must refuse (another region's, a stale
    /// epoch's, an overlapping range's), is dropped before the core sees
    /// it: the leader hears nothing and tries again later. Returns whether
    /// the core took the message.
    pub fn step(&mut self, from: u64, message: Message) -> bool {
        if let Message::InstallSnapshot(args) = &message
            && let Some(reason) = self.snapshot_refusal(args)
        {
            tracing::warn!(peer = self.meta.id, from, %reason, "refuses a snapshot");
            return false;
        }
        self.core.step(from as usize, message);
        true
    }

    /// Why this peer must not install the snapshot in `args` (it does not
    /// decode, or [`RegionSnapshot::refusal`]), or `None`.
    fn snapshot_refusal(&self, args: &raft::InstallSnapshotArgs) -> Option<String> {
        // SOLUTION BEGIN p2c: refuse a snapshot that does not decode or that this region must not install
        match RegionSnapshot::decode(&args.data) {
            Ok(snapshot) => snapshot.refusal(self.region()),
            Err(e) => Some(e.to_string()),
        }
        // SOLUTION END
    }

    /// The reference's `onRaftGCLogTick`: a leader whose applied index is
    /// at least `raft_log_gc_count_limit` past its log's first index — or
    /// past the last CompactLog it applied, if that is older: a leader that
    /// joined by snapshot has a short log while its followers' may be long
    /// (seed 55 of split_conf_change_snapshot_unreliable_recover_p3b: 231
    /// entries on a follower, never trimmed) — proposes
    /// `CompactLog{applied − 1, term(applied − 1)}` (once per term and
    /// target, until it applies).
    pub fn on_raft_log_gc_tick(&mut self) {
        // SOLUTION BEGIN p2c: a leader far enough past its first index proposes CompactLog(applied - 1)
        if !self.core.is_leader() {
            return;
        }
        let applied = self.storage.applied_index();
        let first = self.storage.first_index().min(self.compacted + 1);
        if applied <= first || applied - first < self.config.raft_log_gc_count_limit {
            return;
        }
        let term = self.core.term();
        if let Some((t, index)) = self.compact_proposed
            && t == term
            && index > self.compacted
        {
            // One is in the log and not yet applied.
            return;
        }
        let compact_index = applied - 1;
        let Ok(compact_term) = self.storage.term(compact_index) else {
            return;
        };
        let header = CmdHeader {
            region_id: self.region().id,
            peer: self.meta,
            region_epoch: self.region().region_epoch,
            term,
        };
        let request = RaftCmdRequest::admin(
            header,
            AdminRequest::CompactLog {
                compact_index,
                compact_term,
            },
        );
        // Id 0: nobody waits for the answer. Remembered only once in the
        // log (a leader transferring leadership drops proposals).
        let before = self.proposals.len();
        self.propose(0, &request);
        if self.proposals.len() > before {
            self.compact_proposed = Some((term, compact_index));
        }
        // SOLUTION END
    }

    /// The answers given since the last call.
    pub fn take_answers(&mut self) -> Vec<Answer> {
        std::mem::take(&mut self.answers)
    }

    /// Hands every answer to `sink` the moment it is made, instead of
    /// keeping it for [`Peer::take_answers`]: a Snap's read view is then
    /// used before the next entry's write (the in-memory engine copies a
    /// CF on the first write under a live view).
    pub fn set_answer_sink(&mut self, sink: AnswerSink) {
        self.sink = Some(sink);
    }

    fn deliver(&mut self, answer: Answer) {
        match &mut self.sink {
            Some(sink) => sink(answer),
            None => self.answers.push(answer),
        }
    }

    fn answer(&mut self, id: u64, result: Result<Vec<Response>, Error>) {
        let term = self.core.term();
        self.deliver(Answer {
            id,
            result,
            snapshot: None,
            term,
        });
    }

    /// Checks `request` and proposes it; the answer (a region error at once,
    /// or the result once the entry applies) arrives through
    /// [`Peer::take_answers`] under `id`.
    pub fn propose(&mut self, id: u64, request: &RaftCmdRequest) {
        // SOLUTION BEGIN p2b: answer a failed check at once, else propose and remember (index, term)
        if let Err(e) = self.pre_propose(request) {
            self.answer(id, Err(e));
            return;
        }
        if let Some(admin) = &request.admin
            && let Some(result) = self.propose_admin(admin)
        {
            self.answer(id, result);
            return;
        }
        match self.core.propose(cmd::encode(request)) {
            Some((index, term)) => self.proposals.push_back(Proposal { id, index, term }),
            None => {
                let error = Error::NotLeader {
                    region_id: self.region().id,
                    leader: self.leader(),
                };
                self.answer(id, Err(error));
            }
        }
        // SOLUTION END
    }

    fn pre_propose(&self, request: &RaftCmdRequest) -> Result<(), Error> {
        // SOLUTION BEGIN p2b: region id, store, leadership (NotLeader with hint), header term, epoch and keys
        let header = &request.header;
        let region_id = self.region().id;
        if header.region_id != region_id {
            return Err(Error::RegionNotFound {
                region_id: header.region_id,
            });
        }
        if header.peer.store_id != self.store_id {
            return Err(Error::StoreNotMatch {
                request: header.peer.store_id,
                actual: self.store_id,
            });
        }
        if !self.core.is_leader() {
            return Err(Error::NotLeader {
                region_id,
                leader: self.leader(),
            });
        }
        if header.term != 0 && header.term + 1 < self.core.term() {
            return Err(Error::StaleCommand);
        }
        cmd::check_region(self.region(), request)
        // SOLUTION END
    }

    /// Carries out the core's ready: persist hard state and entries (one
    /// raft batch; a snapshot from the leader is installed first), take the
    /// messages, apply committed entries (one kv batch each, with the
    /// applied index), answer their proposals, advance. Returns the
    /// messages to send, as (peer id, message); a snapshot to send is cut
    /// fresh from the kv engine ([`Peer::fill_snapshot`]).
    ///
    /// # Errors
    /// An engine failure or an unreadable entry: the peer must stop.
    pub fn handle_ready(&mut self) -> Result<Vec<(u64, Message)>, Error> {
        let now = (self.core.term(), self.core.soft_state());
        if self.seen != Some(now) {
            self.seen = Some(now);
            tracing::debug!(
                target: "raftstore::event",
                region = self.region().id,
                peer = self.meta.id,
                store = self.meta.store_id,
                term = now.0,
                role = ?now.1.role,
                leader = ?now.1.leader,
                "role"
            );
        }
        let mut messages = self.carry_out_ready()?;
        for (_, message) in &mut messages {
            if let Message::InstallSnapshot(args) = message {
                self.fill_snapshot(args)?;
            }
        }
        Ok(messages)
    }

    fn carry_out_ready(&mut self) -> Result<Vec<(u64, Message)>, Error> {
        // SOLUTION BEGIN p2b: persist, take the messages, apply each committed entry, advance
        if !self.core.has_ready() {
            return Ok(Vec::new());
        }
        let mut ready = self.core.ready();
        self.storage.save_ready_state(&self.core, &ready)?;
        let messages: Vec<(u64, Message)> = std::mem::take(&mut ready.messages)
            .into_iter()
            .map(|(to, m)| (to as u64, m))
            .collect();
        for apply in std::mem::take(&mut ready.committed) {
            if self.removed {
                // Destroyed next: nothing more is applied.
                break;
            }
            match apply {
                Apply::Command { index, term, data } => self.apply_command(index, term, &data)?,
                Apply::Snapshot { index, .. } => {
                    self.applied_snapshot(index);
                    self.events.push(PeerEvent::RegionChanged);
                }
                Apply::ConfChange { index, .. } => {
                    // Membership changes are Project 3B.
                    return Err(Error::ConfChangeUnsupported { index });
                }
            }
        }
        self.core.advance(&ready);
        Ok(messages)
        // SOLUTION END
    }

    /// The core asks for a snapshot to be sent: cut one from the kv engine
    /// at its applied index (the core's own snapshot bytes are empty — it
    /// only tracks where the log was compacted) and put it, with that index
    /// and its term, in `args`.
    ///
    /// # Errors
    /// An engine failure or an unreadable term.
    pub fn fill_snapshot(&self, args: &mut raft::InstallSnapshotArgs) -> Result<(), Error> {
        // SOLUTION BEGIN p2c: generate the region snapshot and send it at its own index and term
        let storage = &self.storage;
        let snapshot =
            RegionSnapshot::generate(storage.kv_engine().as_ref(), self.region(), |i| {
                storage.term(i)
            })?;
        args.last_included_index = snapshot.index;
        args.last_included_term = snapshot.term;
        args.data = snapshot.encode();
        Ok(())
        // SOLUTION END
    }

    /// Stops the peer (a crash keeps only what the engines hold; a destroy
    /// answers every waiting command): outstanding proposals get
    /// `RegionNotFound`.
    pub fn stop(mut self) -> Vec<Answer> {
        let region_id = self.region().id;
        while let Some(p) = self.proposals.pop_front() {
            self.answer(p.id, Err(Error::RegionNotFound { region_id }));
        }
        self.answers
    }
}

mod admin;
mod apply;

#[cfg(test)]
mod tests;
