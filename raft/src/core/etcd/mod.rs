//! The etcd/TinyKV Raft core tests, ported to this core (`cargo test -p
//! raft p2a`, `p2c`, `p3a`). Each test keeps the reference's name (snake
//! case, the part as a `_p2aa`… suffix that cannot collide with the 6.5840
//! parts) and its numbers: peers are named 1..n, the election timeout is 10
//! ticks (randomized in `[et, 2·et)`), the heartbeat 1 tick, and a new leader
//! appends a no-op ([`Config::noop_on_election`]).
//!
//! The harness is the reference's deterministic in-memory network: `send`
//! delivers messages first-in first-out until none are left, so a whole
//! election completes in one call; `isolate`, `cut`, `drop`, `ignore` and
//! `recover` shape it, and a black hole swallows everything.
//!
//! Where our design differs, a test checks the same property and says why.
//! The differences that recur:
//! * A heartbeat is an AppendEntries without entries (no separate
//!   `MsgHeartbeat`), and it carries `prev_log_index`/`prev_log_term`, so a
//!   follower commits from it only what it is shown to share.
//! * A leader keeps one replication request in flight per follower and
//!   learns of a lost request from its driver; so when the network drops a
//!   request, the harness reports it to the sender as `Unreachable`, as the
//!   labrpc driver does after a failed call. (etcd drops silently and
//!   resends on the next heartbeat response instead.)
//! * A leader does not broadcast an AppendEntries when its commit index
//!   moves; the next heartbeat or append carries it (fewer RPCs, which the
//!   6.5840 `count_3b` bound rewards).
//! * The local messages are methods: `MsgHup` = [`Core::campaign`],
//!   `MsgBeat` = `beat`, `MsgPropose` = [`Core::propose`],
//!   `MsgTransferLeader` = [`Core::transfer_leader`].

mod p2aa;
mod p2ab;
mod p2ac;
mod p2c;
mod p3a;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::{Apply, Config, Core, Message, Role};
use crate::messages::{AppendEntriesArgs, Entry};

/// The reference's test configuration: `et` and `hb` ticks, no-op on election.
pub(super) fn config(et: u32, hb: u32) -> Config {
    Config {
        election_ticks: et,
        heartbeat_ticks: hb,
        noop_on_election: true,
        max_entries_per_append: 1 << 20,
        vote_for_non_members: false,
    }
}

/// `1..=n`.
pub(super) fn ids(n: usize) -> Vec<usize> {
    (1..=n).collect()
}

/// A fresh core `id` among `peers` (etcd `newTestRaft`).
pub(super) fn new_test_raft(id: usize, peers: &[usize], et: u32, hb: u32) -> Core {
    let rng = SmallRng::seed_from_u64(id as u64 * 7919 + 1);
    Core::with_config(id, peers, config(et, hb), &[], Vec::new(), rng).expect("empty state")
}

/// A core whose log holds entries of these terms (indices 1..), at `term`.
pub(super) fn with_log(id: usize, peers: &[usize], terms: &[u64], term: u64) -> Core {
    let mut r = new_test_raft(id, peers, 10, 1);
    for &t in terms {
        r.log.push(Entry::command(t, Vec::new()));
    }
    r.log.mark_synced();
    r.term = term;
    r.prev_hard = r.hard_state();
    r
}

/// Takes what the core wants sent (etcd `readMessages`).
pub(super) fn read_messages(r: &mut Core) -> Vec<(usize, Message)> {
    std::mem::take(&mut r.outbox)
}

/// Takes the entries the core hands out to apply (etcd `nextEnts`).
pub(super) fn next_ents(r: &mut Core) -> Vec<Apply> {
    std::mem::take(&mut r.applies)
}

/// The data of applied commands, no-ops left out.
pub(super) fn datas(applies: &[Apply]) -> Vec<Vec<u8>> {
    applies
        .iter()
        .filter_map(|a| match a {
            Apply::Command { data, .. } if !data.is_empty() => Some(data.clone()),
            _ => None,
        })
        .collect()
}

/// (term, data) of every entry in the log after the snapshot.
pub(super) fn entries(r: &Core) -> Vec<(u64, Vec<u8>)> {
    (r.log.base() + 1..=r.log.last_index())
        .map(|i| {
            let e = r.log.get(i).expect("in the log");
            (e.term, e.data.clone())
        })
        .collect()
}

/// The log, commit and applied index, for comparing peers (etcd `ltoa`).
pub(super) fn dump(r: &Core) -> (u64, u64, Vec<(u64, Vec<u8>)>) {
    (r.commit_index, r.last_applied, entries(r))
}

/// An AppendEntries from `leader` at `term`.
pub(super) fn append(
    leader: usize,
    term: u64,
    prev: (u64, u64),
    entries: &[(u64, u64)],
    commit: u64,
) -> Message {
    Message::AppendEntries(AppendEntriesArgs {
        term,
        leader: leader as u32,
        prev_log_term: prev.0,
        prev_log_index: prev.1,
        entries: entries
            .iter()
            .map(|&(t, _)| Entry::command(t, Vec::new()))
            .collect(),
        leader_commit: commit,
    })
}

/// An empty AppendEntries (our heartbeat) from `leader` at `term`.
pub(super) fn heartbeat(leader: usize, term: u64, commit: u64) -> Message {
    append(leader, term, (0, 0), &[], commit)
}

/// What one slot of the network holds.
pub(super) enum Slot {
    /// A fresh core over all the network's ids (election 10, heartbeat 1).
    Fresh,
    /// This core, as it is.
    Raft(Box<Core>),
    /// Swallows everything (etcd `nopStepper`).
    Hole,
}

/// The deterministic in-memory network (etcd `network`).
pub(super) struct Network {
    pub peers: BTreeMap<usize, Option<Core>>,
    dropped: BTreeMap<(usize, usize), f64>,
    ignored: BTreeSet<&'static str>,
    rng: SmallRng,
    /// Everything each core handed out to apply, in order.
    pub applied: BTreeMap<usize, Vec<Apply>>,
}

impl Network {
    pub fn new(slots: Vec<Slot>) -> Network {
        let all = ids(slots.len());
        let peers = slots
            .into_iter()
            .zip(1..)
            .map(|(slot, id)| {
                let core = match slot {
                    Slot::Fresh => Some(new_test_raft(id, &all, 10, 1)),
                    Slot::Raft(core) => Some(*core),
                    Slot::Hole => None,
                };
                (id, core)
            })
            .collect();
        Network {
            peers,
            dropped: BTreeMap::new(),
            ignored: BTreeSet::new(),
            rng: SmallRng::seed_from_u64(42),
            applied: BTreeMap::new(),
        }
    }

    /// `n` fresh cores.
    pub fn fresh(n: usize) -> Network {
        Network::new((0..n).map(|_| Slot::Fresh).collect())
    }

    pub fn core(&mut self, id: usize) -> &mut Core {
        self.peers
            .get_mut(&id)
            .and_then(Option::as_mut)
            .expect("a core, not a hole")
    }

    pub fn campaign(&mut self, id: usize) {
        self.core(id).campaign();
        self.flush(id);
    }

    pub fn propose(&mut self, id: usize, data: &[u8]) -> Option<(u64, u64)> {
        let result = self.core(id).propose(data.to_vec());
        self.flush(id);
        result
    }

    pub fn beat(&mut self, id: usize) {
        self.core(id).beat();
        self.flush(id);
    }

    pub fn transfer(&mut self, at: usize, target: usize) {
        self.core(at).transfer_leader(target);
        self.flush(at);
    }

    /// Delivers `message` to `to` as if `from` sent it, and all that follows.
    pub fn send(&mut self, from: usize, to: usize, message: Message) {
        self.deliver(VecDeque::from([(from, to, message)]));
    }

    /// Delivers what `id` has queued, and all that follows.
    pub fn flush(&mut self, id: usize) {
        let mut queue = VecDeque::new();
        self.collect(id, &mut queue);
        self.deliver(queue);
    }

    fn collect(&mut self, id: usize, queue: &mut VecDeque<(usize, usize, Message)>) {
        if let Some(Some(core)) = self.peers.get_mut(&id) {
            for (to, m) in std::mem::take(&mut core.outbox) {
                queue.push_back((id, to, m));
            }
            let applies = std::mem::take(&mut core.applies);
            self.applied.entry(id).or_default().extend(applies);
        }
    }

    fn deliver(&mut self, mut queue: VecDeque<(usize, usize, Message)>) {
        while let Some((from, to, m)) = queue.pop_front() {
            let live = matches!(self.peers.get(&to), Some(Some(_)));
            if !live || self.filtered(from, to, &m) {
                // The sender's driver learns that a request got no answer.
                if let (Some(sent), Some(Some(sender))) = (m.sent(), self.peers.get_mut(&from)) {
                    sender.step(to, Message::Unreachable(sent));
                    self.collect(from, &mut queue);
                }
                continue;
            }
            self.core(to).step(from, m);
            self.collect(to, &mut queue);
        }
    }

    fn filtered(&mut self, from: usize, to: usize, m: &Message) -> bool {
        if self.ignored.contains(m.name()) {
            return true;
        }
        let p = self.dropped.get(&(from, to)).copied().unwrap_or(0.0);
        p > 0.0 && self.rng.random::<f64>() < p
    }

    /// Drops messages from `from` to `to` with probability `p`.
    pub fn drop(&mut self, from: usize, to: usize, p: f64) {
        self.dropped.insert((from, to), p);
    }

    /// Drops everything between `a` and `b`.
    pub fn cut(&mut self, a: usize, b: usize) {
        self.drop(a, b, 1.0);
        self.drop(b, a, 1.0);
    }

    /// Drops everything to and from `id`.
    pub fn isolate(&mut self, id: usize) {
        let all: Vec<usize> = self.peers.keys().copied().collect();
        for other in all.into_iter().filter(|&o| o != id) {
            self.cut(id, other);
        }
    }

    /// Drops every message of this kind (a [`Message::name`]).
    pub fn ignore(&mut self, kind: &'static str) {
        self.ignored.insert(kind);
    }

    /// Clears drops and ignores.
    pub fn recover(&mut self) {
        self.dropped.clear();
        self.ignored.clear();
    }

    pub fn role(&mut self, id: usize) -> Role {
        self.core(id).role
    }
}

impl Core {
    /// etcd `MsgBeat`: a leader heartbeats every follower now.
    pub(crate) fn beat(&mut self) {
        if self.role == Role::Leader {
            self.broadcast_append(true);
        }
    }

    /// etcd `becomeCandidate` without sending: term + 1, vote for self.
    pub(crate) fn become_candidate_for_test(&mut self) {
        self.term += 1;
        self.role = Role::Candidate;
        self.lead = None;
        self.voted_for = Some(self.me);
        self.votes.fill(None);
        self.votes[self.me] = Some(true);
    }
}
