//! The searched state (every peer's core, its persisted state, the network
//! and a little history), its canonical encoding, and the events that move it.

use std::fmt;
use std::rc::Rc;

use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::encode::{Hashes, IDENTITY, MAX_RENAMINGS, Renamings, mix};
use super::{Bug, Settings};
use crate::core::log::Log;
use crate::core::{Apply, ConfChange, ConfChangeKind, Core, Message, Role};
use crate::messages::{Entry, EntryKind};

/// One message in flight from `from` to `to`.
#[derive(Debug)]
pub struct Packet {
    /// Sender.
    pub from: usize,
    /// Receiver.
    pub to: usize,
    /// The message.
    pub message: Message,
    /// The hash of its canonical encoding (with `from` and `to`) under each
    /// of the search's peer renamings ([`Renamings`]); the first, under
    /// the identity, is the network's sort key.
    hashes: Hashes,
}

impl Packet {
    fn new(from: usize, to: usize, message: Message, renamings: Renamings) -> Packet {
        let hashes = renamings.hashes(|enc| {
            enc.u(0xff); // a packet, not a peer
            enc.id(from);
            enc.id(to);
            enc.message(&message);
        });
        Packet {
            from,
            to,
            message,
            hashes,
        }
    }

    /// The network's sort key: equal for equal packets.
    fn key(&self) -> u64 {
        self.hashes[0]
    }
}

impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}→{} ", self.from, self.to)?;
        match &self.message {
            Message::RequestVote(a) => write!(
                f,
                "RequestVote t{} last {}@t{}",
                a.term, a.last_log_index, a.last_log_term
            ),
            Message::RequestVoteReply(s, r) => write!(
                f,
                "RequestVoteReply t{} {} (asked in t{})",
                r.term,
                if r.vote_granted { "granted" } else { "refused" },
                s.term
            ),
            Message::AppendEntries(a) => {
                write!(
                    f,
                    "AppendEntries t{} prev {}@t{} [",
                    a.term, a.prev_log_index, a.prev_log_term
                )?;
                for (i, e) in a.entries.iter().enumerate() {
                    let sep = if i == 0 { "" } else { " " };
                    write!(f, "{sep}{}", EntryText(e))?;
                }
                write!(f, "] commit {}", a.leader_commit)
            }
            Message::AppendEntriesReply(s, r) => {
                write!(f, "AppendEntriesReply t{} ", r.term)?;
                if r.success {
                    write!(f, "ok")?;
                } else {
                    write!(
                        f,
                        "reject(xterm {:?} xindex {} xlen {})",
                        r.conflict_term, r.conflict_index, r.log_len
                    )?;
                }
                write!(f, " (for t{} prev {} +{})", s.term, s.index, s.len)
            }
            Message::InstallSnapshot(a) => write!(
                f,
                "InstallSnapshot t{} through {}@t{} data {:?}",
                a.term,
                a.last_included_index,
                a.last_included_term,
                String::from_utf8_lossy(&a.data)
            ),
            Message::InstallSnapshotReply(s, r) => write!(
                f,
                "InstallSnapshotReply t{} (for t{} through {})",
                r.term, s.term, s.index
            ),
            other => write!(f, "{other:?}"),
        }
    }
}

/// An entry as `t<term>:"<command>"`.
pub(crate) struct EntryText<'a>(pub(crate) &'a Entry);

impl fmt::Display for EntryText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.conf_change() {
            Some(c) => {
                let kind = match c.kind {
                    ConfChangeKind::AddNode => "add",
                    ConfChangeKind::RemoveNode => "remove",
                };
                write!(f, "t{}:{kind} {}", self.0.term, c.node)
            }
            None => write!(
                f,
                "t{}:{:?}",
                self.0.term,
                String::from_utf8_lossy(&self.0.data)
            ),
        }
    }
}

/// One step of the search.
#[derive(Debug, Clone)]
pub enum Event {
    /// The packet arrives (and leaves the network unless re-delivery is on).
    Deliver(Rc<Packet>),
    /// The packet is lost.
    Drop(Rc<Packet>),
    /// A follower's or candidate's election timer fires.
    ElectionTimeout(usize),
    /// A leader's heartbeat timer fires (it resends outstanding entries).
    Heartbeat(usize),
    /// The peer crashes and restarts from its persisted state alone:
    /// [`Peer`]'s `persisted*` fields, nothing from its memory.
    CrashRestart(usize),
    /// A client hands the leader the next command (`v1`, `v2`, ...).
    Propose(usize),
    /// The peer's service snapshots everything it has applied.
    Snapshot(usize),
    /// The leader is handed the next of [`Settings::conf_changes`].
    ProposeConfChange(usize, ConfChange),
    /// The leader is asked to hand leadership to the second peer.
    TransferLeader(usize, usize),
    /// The peers in the mask are cut off from the others: messages across
    /// the cut stay in flight, undeliverable until the partition heals.
    Partition(u64),
    /// The partition heals.
    Heal,
}

/// The peers in a mask, as `{0, 2}`.
pub(crate) struct MaskText(pub(crate) u64);

impl fmt::Display for MaskText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = (0..64)
            .filter(|&p| self.0 >> p & 1 == 1)
            .map(|p: usize| p.to_string())
            .collect();
        write!(f, "{{{}}}", ids.join(", "))
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Deliver(p) => write!(f, "deliver {p}"),
            Event::Drop(p) => write!(f, "drop {p}"),
            Event::ElectionTimeout(p) => write!(f, "election timeout {p}"),
            Event::Heartbeat(p) => write!(f, "heartbeat {p}"),
            Event::CrashRestart(p) => write!(f, "crash and restart {p}"),
            Event::Propose(p) => write!(f, "propose at {p}"),
            Event::Snapshot(p) => write!(f, "snapshot at {p}"),
            Event::ProposeConfChange(p, c) => {
                let kind = match c.kind {
                    ConfChangeKind::AddNode => "add",
                    ConfChangeKind::RemoveNode => "remove",
                };
                write!(f, "propose at {p}: {kind} peer {}", c.node)
            }
            Event::TransferLeader(p, to) => write!(f, "transfer leadership from {p} to {to}"),
            Event::Partition(mask) => write!(f, "cut off {} from the rest", MaskText(*mask)),
            Event::Heal => write!(f, "heal the partition"),
        }
    }
}

/// One peer: its core and what it has persisted — all that a restart
/// reads (the persisted parts are shared between states: cloning a peer
/// copies no bytes).
#[derive(Clone)]
pub struct Peer {
    /// The protocol state.
    pub core: Core,
    /// The persisted Raft state (`Core::encode_state` as of the last ready).
    pub persisted: Rc<[u8]>,
    /// The persisted term and vote (decoded from `persisted`).
    pub persisted_hard: (u64, Option<usize>),
    /// The persisted snapshot.
    pub persisted_snapshot: Rc<[u8]>,
    /// The configuration persisted with the snapshot: the members as of
    /// the snapshot's index (the start members before any snapshot), as a
    /// real node keeps its region's peers beside its applied state. A
    /// restart starts from it, and the configuration changes in the log
    /// past the snapshot take effect again as they are applied again.
    pub persisted_members: Rc<[usize]>,
    /// The hash of its canonical encoding under each peer renaming.
    hashes: Hashes,
}

impl Peer {
    /// Recomputes `hashes` after a change.
    fn rehash(&mut self, renamings: Renamings) {
        let (core, hard, members) = (&self.core, self.persisted_hard, &self.persisted_members);
        self.hashes = renamings.hashes(|enc| {
            enc.core(core);
            // What was persisted is the core's log (every change to it is
            // persisted before the step ends) with this term and vote,
            // and the snapshot is the core's: the pair decides the bytes.
            enc.u(hard.0);
            let vote = hard.1.map(|v| enc.map(v) as u64);
            enc.opt(vote);
            // The snapshot's configuration may lag the core's.
            enc.members(members.iter().copied());
        });
    }
}

/// What the invariants need to remember about the past.
#[derive(Clone, Default)]
pub struct History {
    /// Every (term, peer) that has been leader, sorted.
    pub leaders: Vec<(u64, usize)>,
    /// Per index (from 1): the entry first applied there, and the applying
    /// peer's term at the time (an upper bound on the term it committed in).
    pub applied: Vec<(Entry, u64)>,
    /// The highest index any peer has applied, an entry or a snapshot
    /// through it: everything up to it is committed (a restarted peer's
    /// own commit index forgets that).
    pub committed: u64,
    /// Proposals made so far.
    pub proposals: u32,
    /// Crashes so far.
    pub crashes: u32,
    /// Configuration changes proposed so far.
    pub conf_changes: u32,
    /// Leader transfers asked for so far.
    pub transfers: u32,
    /// Partitions made so far.
    pub partitions: u32,
    /// The peers cut off from the others now (a bit per peer; 0: none).
    pub cut: u64,
}

/// The whole searched state.
#[derive(Clone)]
pub struct State {
    /// The peers, by id, shared between states until one changes
    /// (copy on write: a transition clones only the peer it touches).
    pub peers: Vec<Rc<Peer>>,
    /// The messages in flight, sorted by their canonical encoding (a
    /// multiset: a duplicate appears twice).
    pub network: Vec<Rc<Packet>>,
    /// History for the invariants (shared until it changes).
    pub history: Rc<History>,
    /// The hash of the history's name-free part (applied entries and
    /// counters), recomputed only when the history changes.
    history_hash: u64,
    /// The peer renamings states are identified under.
    renamings: Renamings,
}

/// What a transition did besides changing the state.
#[derive(Default)]
pub struct Effects {
    /// (peer, what it handed its service).
    pub applied: Vec<(usize, Apply)>,
    /// A check that failed while applying: (invariant, why).
    pub violation: Option<(&'static str, String)>,
}

impl State {
    /// `n` fresh peers `0..n` with the settings' configuration and nothing in flight.
    pub fn initial(settings: &Settings) -> State {
        // Configuration-change entries name peers inside their bytes,
        // which a renaming would not reach: no symmetry with them.
        let renamings = Renamings::new(
            settings.peers,
            settings.symmetry && settings.conf_changes.is_empty(),
        );
        let members: Vec<usize> = (0..settings.peers).collect();
        let peers = members
            .iter()
            .map(|&me| {
                let core = Core::with_config(
                    me,
                    &members,
                    settings.config,
                    &[],
                    Vec::new(),
                    SmallRng::seed_from_u64(me as u64),
                )
                .expect("an empty state always decodes");
                let persisted = core.encode_state().into();
                let mut peer = Peer {
                    core,
                    persisted,
                    persisted_hard: (0, None),
                    persisted_snapshot: Rc::new([]),
                    persisted_members: members.as_slice().into(),
                    hashes: [0; MAX_RENAMINGS],
                };
                peer.rehash(renamings);
                Rc::new(peer)
            })
            .collect();
        let history = Rc::default();
        State {
            peers,
            network: Vec::new(),
            history_hash: history_hash(&history),
            history,
            renamings,
        }
    }

    /// The events enabled in this state, in a fixed order.
    pub fn events(&self, settings: &Settings) -> Vec<Event> {
        let e = &settings.events;
        let mut out = Vec::new();
        for (i, packet) in self.network.iter().enumerate() {
            if i > 0 && self.network[i - 1].key() == packet.key() {
                continue; // a duplicate does the same
            }
            let cut = self.history.cut;
            if e.deliver && (cut >> packet.from & 1) == (cut >> packet.to & 1) {
                out.push(Event::Deliver(packet.clone()));
            }
            if e.drop && !settings.redeliver {
                out.push(Event::Drop(packet.clone()));
            }
        }
        for (id, peer) in self.peers.iter().enumerate() {
            let core = &peer.core;
            let leader = core.role == Role::Leader;
            if e.election && !leader && core.term < settings.max_term {
                out.push(Event::ElectionTimeout(id));
            }
            if e.heartbeat && leader {
                out.push(Event::Heartbeat(id));
            }
            if e.propose && leader && self.history.proposals < settings.max_proposals {
                out.push(Event::Propose(id));
            }
            if e.snapshot && core.last_applied > core.log.base() {
                out.push(Event::Snapshot(id));
            }
            if e.crash && self.history.crashes < settings.max_crashes {
                out.push(Event::CrashRestart(id));
            }
            if leader
                && let Some(&change) = settings
                    .conf_changes
                    .get(self.history.conf_changes as usize)
            {
                out.push(Event::ProposeConfChange(id, change));
            }
            if leader && self.history.transfers < settings.max_transfers {
                for to in (0..self.peers.len()).filter(|&to| to != id) {
                    out.push(Event::TransferLeader(id, to));
                }
            }
        }
        if self.history.partitions < settings.max_partitions {
            let n = self.peers.len();
            // Every minority, and for an even count the halves without peer 0.
            for mask in 1u64..(1 << n) - 1 {
                let size = mask.count_ones() as usize;
                if (2 * size < n || (2 * size == n && mask & 1 == 0)) && mask != self.history.cut {
                    out.push(Event::Partition(mask));
                }
            }
        }
        if self.history.cut != 0 {
            out.push(Event::Heal);
        }
        out
    }

    /// The state after `event`, and what happened on the way.
    pub fn next(&self, settings: &Settings, event: &Event) -> (State, Effects) {
        let (mut s, fx) = self.step(settings, event);
        // Every change to the history went through `Rc::make_mut` on a
        // shared `Rc`, so a changed history is a different allocation.
        if !Rc::ptr_eq(&s.history, &self.history) {
            s.history_hash = history_hash(&s.history);
        }
        (s, fx)
    }

    /// [`State::next`] but for the history's hash.
    fn step(&self, settings: &Settings, event: &Event) -> (State, Effects) {
        let mut s = self.clone();
        let mut fx = Effects::default();
        let bug = settings.bug;
        let id = match event {
            Event::Deliver(packet) => {
                if !settings.redeliver {
                    s.remove(packet);
                }
                let core = &mut Rc::make_mut(&mut s.peers[packet.to]).core;
                let mut message = packet.message.clone();
                match (&mut message, bug) {
                    (Message::RequestVote(args), Some(Bug::DoubleVote))
                        if args.term == core.term =>
                    {
                        core.voted_for = None;
                    }
                    (Message::RequestVote(args), Some(Bug::NoUpToDateCheck)) => {
                        args.last_log_term = u64::MAX;
                    }
                    (Message::AppendEntries(args), Some(Bug::NoPrevCheck)) => {
                        // Believes whatever it holds at prev matches.
                        if let Some(term) = core.log.term(args.prev_log_index) {
                            args.prev_log_term = term;
                        }
                    }
                    _ => {}
                }
                core.step(packet.from, message);
                if let (Message::AppendEntries(args), Some(Bug::CommitFromStaleAppend)) =
                    (&packet.message, bug)
                    && args.term == core.term
                    && core.role == Role::Follower
                {
                    // Takes the leader's commit index as is, even a stale lower one.
                    core.commit_index = args.leader_commit.min(core.log.last_index());
                }
                if let (Message::InstallSnapshot(args), Some(Bug::StaleSnapshotInstalled)) =
                    (&packet.message, bug)
                    && args.term == core.term
                    && args.last_included_index < core.log.base()
                {
                    // Installs a snapshot older than its own.
                    core.log
                        .reset_to(args.last_included_index, args.last_included_term);
                    core.snapshot = args.data.clone();
                    core.commit_index = args.last_included_index;
                    core.last_applied = args.last_included_index;
                    core.snapshot_pending = true;
                }
                packet.to
            }
            Event::Drop(packet) => {
                s.remove(packet);
                return (s, fx);
            }
            Event::ElectionTimeout(id) => {
                Rc::make_mut(&mut s.peers[*id]).core.campaign();
                *id
            }
            Event::Heartbeat(id) => {
                let core = &mut Rc::make_mut(&mut s.peers[*id]).core;
                // Every outstanding flight counts as a heartbeat period old.
                core.now = u64::from(core.config.heartbeat_ticks) - 1;
                core.heartbeat_elapsed = core.config.heartbeat_ticks - 1;
                core.tick();
                *id
            }
            Event::Propose(id) => {
                let history = Rc::make_mut(&mut s.history);
                history.proposals += 1;
                let value = format!("v{}", history.proposals);
                let core = &mut Rc::make_mut(&mut s.peers[*id]).core;
                let transferee = core.lead_transferee;
                if bug == Some(Bug::TransferAcceptsProposals) {
                    // Takes the proposal even while handing leadership over.
                    core.lead_transferee = None;
                }
                core.propose(value.into_bytes());
                core.lead_transferee = transferee;
                *id
            }
            Event::Snapshot(id) => {
                let core = &mut Rc::make_mut(&mut s.peers[*id]).core;
                let index = core.last_applied;
                let data = format!("through {index}");
                core.snapshot(index, data.into_bytes());
                *id
            }
            Event::ProposeConfChange(id, change) => {
                Rc::make_mut(&mut s.history).conf_changes += 1;
                let core = &mut Rc::make_mut(&mut s.peers[*id]).core;
                if bug == Some(Bug::TwoConfChangesInFlight) {
                    // Forgets that an earlier change is not applied yet.
                    core.pending_conf_index = 0;
                }
                core.propose_conf_change(*change);
                *id
            }
            Event::TransferLeader(id, to) => {
                Rc::make_mut(&mut s.history).transfers += 1;
                Rc::make_mut(&mut s.peers[*id]).core.transfer_leader(*to);
                *id
            }
            Event::Partition(mask) => {
                let history = Rc::make_mut(&mut s.history);
                history.partitions += 1;
                history.cut = *mask;
                return (s, fx);
            }
            Event::Heal => {
                Rc::make_mut(&mut s.history).cut = 0;
                return (s, fx);
            }
            Event::CrashRestart(id) => {
                Rc::make_mut(&mut s.history).crashes += 1;
                let peer = Rc::make_mut(&mut s.peers[*id]);
                // Everything from storage, as a real node restarts; only
                // the broken variants read anything else.
                let state: &[u8] = if bug == Some(Bug::RestartFromScratch) {
                    &[]
                } else {
                    &peer.persisted
                };
                let in_memory;
                let members: &[usize] = if bug == Some(Bug::RestartKeepsMembers) {
                    in_memory = peer.core.members();
                    &in_memory
                } else {
                    &peer.persisted_members
                };
                let restarted = Core::with_config(
                    *id,
                    members,
                    settings.config,
                    state,
                    peer.persisted_snapshot.to_vec(),
                    SmallRng::seed_from_u64(*id as u64),
                );
                match restarted {
                    Ok(core) => peer.core = core,
                    Err(e) => {
                        fx.violation = Some(("restart", format!("peer {id}: {e}")));
                        peer.rehash(s.renamings);
                        return (s, fx);
                    }
                }
                *id
            }
        };
        if bug == Some(Bug::CommitWithoutMajority) {
            let core = &mut Rc::make_mut(&mut s.peers[id]).core;
            if core.role == Role::Leader && core.commit_index < core.log.last_index() {
                core.commit_index = core.log.last_index();
                core.queue_applies();
            }
        }
        s.drain(settings, id, &mut fx);
        let core = &s.peers[id].core;
        if core.role == Role::Leader {
            let term = core.term;
            if let Err(at) = s.history.leaders.binary_search(&(term, id)) {
                Rc::make_mut(&mut s.history).leaders.insert(at, (term, id));
            }
        }
        (s, fx)
    }

    /// Carries out the peer's readies as the driver would: persist, send, apply.
    fn drain(&mut self, settings: &Settings, id: usize, fx: &mut Effects) {
        loop {
            if !self.peers[id].core.has_ready() {
                break;
            }
            let peer = Rc::make_mut(&mut self.peers[id]);
            let ready = peer.core.ready();
            if ready.must_sync || ready.snapshot.is_some() {
                let core = &peer.core;
                let vote = if settings.bug == Some(Bug::VoteNotPersisted) {
                    None
                } else {
                    core.voted_for
                };
                let vote32 = vote.map(|v| v as u32);
                let stale = match settings.bug {
                    // Rewrites the term and vote over the old log.
                    Some(Bug::EntriesNotPersisted) => Log::decode_state(&peer.persisted).ok(),
                    _ => None,
                };
                peer.persisted = match stale {
                    Some((_, _, old)) => old.encode_state(core.term, vote32),
                    None => core.log.encode_state(core.term, vote32),
                }
                .into();
                peer.persisted_hard = (core.term, vote);
            }
            if ready.snapshot.is_some() {
                // The service's snapshot and the configuration it covers
                // (a leader's InstallSnapshot carries its members).
                peer.persisted_snapshot = peer.core.snapshot_data().into();
                peer.persisted_members = peer.core.members().into();
            }
            let term = peer.core.term;
            for apply in &ready.committed {
                self.record_apply(id, term, apply, fx);
                fx.applied.push((id, apply.clone()));
            }
            let core = &mut Rc::make_mut(&mut self.peers[id]).core;
            core.advance(&ready);
            for apply in &ready.committed {
                if let Apply::ConfChange { change, .. } = apply {
                    core.apply_conf_change(change);
                }
            }
            for (to, message) in ready.messages {
                let packet = Packet::new(id, to, message, self.renamings);
                self.insert(Rc::new(packet), settings.redeliver);
            }
        }
        // Timers are abstract: only "armed" matters, and they always are.
        let core = &mut Rc::make_mut(&mut self.peers[id]).core;
        core.now = 0;
        core.election_elapsed = 0;
        core.heartbeat_elapsed = 0;
        core.transfer_elapsed = 0;
        for flight in core.in_flight.iter_mut().flatten() {
            flight.sent_at = 0;
        }
        let renamings = self.renamings;
        Rc::make_mut(&mut self.peers[id]).rehash(renamings);
    }

    /// State machine safety, checked as each entry is applied.
    fn record_apply(&mut self, id: usize, term: u64, apply: &Apply, fx: &mut Effects) {
        let (Apply::Command { index, .. }
        | Apply::ConfChange { index, .. }
        | Apply::Snapshot { index, .. }) = apply;
        if *index > self.history.committed {
            Rc::make_mut(&mut self.history).committed = *index;
        }
        let (index, entry) = match apply {
            Apply::Command { index, term, data } => (index, Entry::command(*term, data.clone())),
            Apply::ConfChange {
                index,
                term,
                change,
            } => {
                let data = labrpc::encode(change).unwrap_or_default();
                let entry = Entry {
                    term: *term,
                    kind: EntryKind::ConfChange,
                    data,
                };
                (index, entry)
            }
            Apply::Snapshot { .. } => return,
        };
        let slot = (*index - 1) as usize;
        match self.history.applied.get(slot) {
            Some((first, _)) if *first != entry && fx.violation.is_none() => {
                fx.violation = Some((
                    "state machine safety",
                    format!(
                        "peer {id} applied {} at index {index}, where {} was applied before",
                        EntryText(&entry),
                        EntryText(first)
                    ),
                ));
            }
            Some(_) => {}
            None if slot == self.history.applied.len() => {
                Rc::make_mut(&mut self.history).applied.push((entry, term));
            }
            None => {
                // Applied past a gap nobody applied: keep the check exact by
                // recording nothing (later, in-order applies fill the gap).
            }
        }
    }

    fn insert(&mut self, packet: Rc<Packet>, set: bool) {
        let key = packet.key();
        let at = self.network.partition_point(|p| p.key() < key);
        if set && self.network.get(at).is_some_and(|p| p.key() == key) {
            return;
        }
        self.network.insert(at, packet);
    }

    fn remove(&mut self, packet: &Packet) {
        let key = packet.key();
        let at = self.network.partition_point(|p| p.key() < key);
        if self.network.get(at).is_some_and(|p| p.key() == key) {
            self.network.remove(at);
        }
    }

    /// The 64-bit hash of the canonical encoding: equal for states the
    /// protocol cannot tell apart. With symmetry on, the least such hash
    /// over every renaming of the peers, so states that differ only in
    /// the peers' names share it.
    ///
    /// Incremental: each peer and packet carries the hashes of its own
    /// encoding (a transition recomputes only the peer it touched and the
    /// packets it sent), and the state's hash combines them by addition —
    /// a multiset hash, so the network's order does not matter.
    pub fn fingerprint(&self) -> u64 {
        let h = &self.history;
        let base = self.history_hash;
        let mut best = u64::MAX;
        for (r, map) in self.renamings.0.iter().enumerate() {
            let mut sum = base;
            for peer in &self.peers {
                sum = sum.wrapping_add(peer.hashes[r]);
            }
            for packet in &self.network {
                sum = sum.wrapping_add(packet.hashes[r]);
            }
            for &(term, id) in &h.leaders {
                let id = map.get(id).copied().unwrap_or(id) as u64;
                sum = sum.wrapping_add(mix(term.wrapping_mul(64) ^ id ^ 0x5bd1_e995_0000_0000));
            }
            let (mut cut, mut rest) = (0u64, h.cut);
            while rest != 0 {
                let p = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                cut |= 1 << map.get(p).copied().unwrap_or(p);
            }
            sum = sum.wrapping_add(mix(cut ^ 0x2c1b_3c6d_0000_0000));
            best = best.min(mix(sum));
        }
        best
    }

    /// One line per peer and one per message in flight.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for (id, peer) in self.peers.iter().enumerate() {
            out.push_str(&format!("  peer {id}: {}\n", PeerText(&peer.core)));
        }
        if self.network.is_empty() {
            out.push_str("  network: empty\n");
        }
        for packet in &self.network {
            out.push_str(&format!("  in flight: {packet}\n"));
        }
        out
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "State {{\n{}}}", self.summary())
    }
}

/// The hash of a history's name-free part: what was applied, and the
/// counters that bound the events (who led which term, and the cut, name
/// peers: [`State::fingerprint`] renames them).
fn history_hash(h: &History) -> u64 {
    Renamings(&IDENTITY).hashes(|enc| {
        enc.u(0xfe); // the history
        enc.u(h.applied.len() as u64);
        for (entry, term) in &h.applied {
            enc.entry(entry);
            enc.u(*term);
        }
        enc.u(h.committed);
        enc.u(u64::from(h.proposals));
        enc.u(u64::from(h.crashes));
        enc.u(u64::from(h.conf_changes));
        enc.u(u64::from(h.transfers));
        enc.u(u64::from(h.partitions));
    })[0]
}

/// A core as `Leader t2 vote 0 log [t1:"v1"] commit 1 applied 1`.
pub(crate) struct PeerText<'a>(pub(crate) &'a Core);

impl fmt::Display for PeerText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        write!(f, "{:?} t{} vote {:?} log [", c.role, c.term, c.voted_for)?;
        if c.log.base() > 0 {
            write!(
                f,
                "snapshot through {}@t{}",
                c.log.base(),
                c.log.base_term()
            )?;
        }
        for i in c.log.base() + 1..=c.log.last_index() {
            let sep = if i == c.log.base() + 1 && c.log.base() == 0 {
                ""
            } else {
                " "
            };
            if let Some(e) = c.log.get(i) {
                write!(f, "{sep}{}", EntryText(e))?;
            }
        }
        write!(f, "] commit {} applied {}", c.commit_index, c.last_applied)
    }
}
