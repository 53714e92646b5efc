//! The canonical encoding of peers and messages, hashed under each peer
//! renaming the search identifies states under.

use crate::core::{Core, Message, Role};
use crate::messages::Entry;

/// A fast 64-bit hash of a byte string (multiply-rotate over 8-byte words,
/// then a final avalanche); collisions among a few million states are
/// vanishingly rare (about n²/2⁶⁵).
pub(super) fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = bytes.len() as u64 ^ 0x2545_F491_4F6C_DD1D;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h ^ w).wrapping_mul(K).rotate_left(29);
    }
    let mut last = [0u8; 8];
    last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h ^ u64::from_le_bytes(last)).wrapping_mul(K);
    h ^= h >> 32;
    h = h.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    h ^ (h >> 32)
}

/// Most peer renamings a search tries (3! = 6).
pub(super) const MAX_RENAMINGS: usize = 6;

/// A hash per renaming (unused slots 0).
pub(super) type Hashes = [u64; MAX_RENAMINGS];

/// The peer renamings a search identifies states under: the identity
/// alone, or with symmetry every permutation of 2 or 3 peers. A renaming
/// maps an old id to a new one; ids past its end keep their name.
#[derive(Clone, Copy)]
pub(crate) struct Renamings(pub(super) &'static [&'static [usize]]);

pub(super) static IDENTITY: [&[usize]; 1] = [&[]];
static SWAPS_2: [&[usize]; 2] = [&[0, 1], &[1, 0]];
static PERMUTATIONS_3: [&[usize]; 6] = [
    &[0, 1, 2],
    &[0, 2, 1],
    &[1, 0, 2],
    &[1, 2, 0],
    &[2, 0, 1],
    &[2, 1, 0],
];

thread_local! {
    /// The encoder's buffer, reused so that hashing allocates nothing.
    static BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Renamings {
    /// The identity alone, or with `symmetry` every permutation of
    /// `peers` peers (for 2 or 3 peers; more keep the identity alone).
    pub(crate) fn new(peers: usize, symmetry: bool) -> Renamings {
        match (symmetry, peers) {
            (true, 2) => Renamings(&SWAPS_2),
            (true, 3) => Renamings(&PERMUTATIONS_3),
            _ => Renamings(&IDENTITY),
        }
    }

    /// The hash of what `encode` writes under each renaming.
    pub(super) fn hashes(self, encode: impl Fn(&mut Enc)) -> Hashes {
        let mut enc = Enc {
            buf: BUFFER.take(),
            map: &[],
        };
        let mut out = [0; MAX_RENAMINGS];
        for (slot, map) in out.iter_mut().zip(self.0) {
            enc.buf.clear();
            enc.map = map;
            encode(&mut enc);
            *slot = hash(&enc.buf);
        }
        BUFFER.set(enc.buf);
        out
    }
}

/// A 64-bit finaliser (splitmix64's).
pub(super) fn mix(mut h: u64) -> u64 {
    h ^= h >> 30;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

/// A compact canonical byte encoding (LEB128 integers), with peer ids
/// renamed by `map`.
pub(super) struct Enc {
    buf: Vec<u8>,
    map: &'static [usize],
}

impl Enc {
    pub(super) fn u(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    /// A peer id's new name.
    pub(super) fn map(&self, id: usize) -> usize {
        self.map.get(id).copied().unwrap_or(id)
    }

    /// A peer id, renamed.
    pub(super) fn id(&mut self, id: usize) {
        self.u(self.map(id) as u64);
    }

    /// The renamed peer whose entry sits at slot `slot` of a per-peer
    /// table, i.e. the old id that `map` sends to `slot`.
    pub(super) fn unmap(&self, slot: usize) -> usize {
        self.map.iter().position(|&n| n == slot).unwrap_or(slot)
    }

    pub(super) fn opt(&mut self, v: Option<u64>) {
        self.u(v.map_or(0, |v| v + 1));
    }

    pub(super) fn bytes(&mut self, b: &[u8]) {
        self.u(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    pub(super) fn entry(&mut self, e: &Entry) {
        self.u(e.term);
        self.u(e.kind as u64);
        self.bytes(&e.data);
    }

    /// Everything a core's future behaviour depends on, and nothing else:
    /// no clocks or RNG (timers are abstract), votes only while a
    /// candidate and replication tables only while a leader (both are
    /// reset before they are read again).
    pub(super) fn core(&mut self, c: &Core) {
        let role = c.role as u64;
        self.u(role);
        self.id(c.me);
        self.u(c.term);
        let vote = c.voted_for.map(|v| self.map(v) as u64);
        self.opt(vote);
        let lead = c.lead.map(|v| self.map(v) as u64);
        self.opt(lead);
        self.members(c.members.iter().copied());
        self.u(c.log.base());
        self.u(c.log.base_term());
        self.u(c.log.last_index());
        for i in c.log.base() + 1..=c.log.last_index() {
            if let Some(e) = c.log.get(i) {
                self.entry(e);
            }
        }
        self.bytes(&c.snapshot);
        self.u(c.commit_index);
        self.u(c.last_applied);
        self.u(c.pending_conf_index);
        let transferee = c.lead_transferee.map(|v| self.map(v) as u64);
        self.opt(transferee);
        match c.role {
            Role::Candidate => {
                for slot in 0..c.votes.len() {
                    let v = c.votes[self.unmap(slot)];
                    self.u(v.map_or(0, |g| 1 + u64::from(g)));
                }
            }
            Role::Leader => {
                for slot in 0..c.next_index.len() {
                    let p = self.unmap(slot);
                    self.u(c.next_index[p]);
                    self.u(c.match_index[p]);
                    match c.in_flight[p] {
                        None => self.u(0),
                        Some(f) => {
                            self.u(1 + u64::from(f.snapshot));
                            self.u(f.prev_log_index);
                            self.u(f.len as u64);
                        }
                    }
                }
            }
            Role::Follower => {}
        }
    }

    /// A set of peers, renamed, in order.
    pub(super) fn members(&mut self, ids: impl Iterator<Item = usize> + Clone) {
        let count = ids.clone().count();
        self.u(count as u64);
        if self.map.is_empty() {
            for m in ids {
                self.u(m as u64);
            }
            return;
        }
        let mut small = [0usize; 16];
        let mut large = Vec::new();
        let renamed: &mut [usize] = if count <= small.len() {
            for (slot, m) in small.iter_mut().zip(ids) {
                *slot = self.map(m);
            }
            &mut small[..count]
        } else {
            large.extend(ids.map(|m| self.map(m)));
            &mut large
        };
        renamed.sort_unstable();
        for &m in renamed.iter() {
            self.u(m as u64);
        }
    }

    pub(super) fn message(&mut self, m: &Message) {
        let sent = |enc: &mut Enc, s: &crate::core::Sent| {
            enc.u(s.kind as u64);
            enc.u(s.term);
            enc.u(s.index);
            enc.u(s.len as u64);
        };
        match m {
            Message::RequestVote(a) => {
                self.u(0);
                self.u(a.term);
                self.id(a.candidate as usize);
                self.u(a.last_log_index);
                self.u(a.last_log_term);
            }
            Message::RequestVoteReply(s, r) => {
                self.u(1);
                sent(self, s);
                self.u(r.term);
                self.u(u64::from(r.vote_granted));
            }
            Message::AppendEntries(a) => {
                self.u(2);
                self.u(a.term);
                self.id(a.leader as usize);
                self.u(a.prev_log_index);
                self.u(a.prev_log_term);
                self.u(a.entries.len() as u64);
                for e in &a.entries {
                    self.entry(e);
                }
                self.u(a.leader_commit);
            }
            Message::AppendEntriesReply(s, r) => {
                self.u(3);
                sent(self, s);
                self.u(r.term);
                self.u(u64::from(r.success));
                self.opt(r.conflict_term);
                self.u(r.conflict_index);
                self.u(r.log_len);
            }
            Message::InstallSnapshot(a) => {
                self.u(4);
                self.u(a.term);
                self.id(a.leader as usize);
                self.u(a.last_included_index);
                self.u(a.last_included_term);
                self.members(a.members.iter().map(|&m| m as usize));
                self.bytes(&a.data);
            }
            Message::InstallSnapshotReply(s, r) => {
                self.u(5);
                sent(self, s);
                self.u(r.term);
            }
            Message::TimeoutNow(a) => {
                self.u(6);
                self.u(a.term);
                self.id(a.leader as usize);
            }
            Message::TransferLeader(a) => {
                self.u(7);
                self.id(a.target as usize);
            }
            Message::Unreachable(s) => {
                self.u(8);
                sent(self, s);
            }
        }
    }
}
