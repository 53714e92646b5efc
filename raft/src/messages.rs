//! The RPCs Raft peers exchange (Figure 2 of the paper, plus the fast
//! log back-up fields the lab's handout describes).

use serde::{Deserialize, Serialize};

/// One log entry: the term it was created in, what it is, and its bytes.
///
/// On the wire and on disk the kind rides in the term's lowest bit (one
/// varint holds `term << 1 | kind`), so an entry costs no more bytes than a
/// plain (term, data) pair for terms below 2^62 — the 6.5840 byte bounds
/// (`rpc_bytes_3b`) count every byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Term of the leader that created the entry.
    pub term: u64,
    /// A command, or a configuration change.
    pub kind: EntryKind,
    /// The command, encoded by the service's command type; for a
    /// configuration change, the encoded change.
    pub data: Vec<u8>,
}

#[derive(Serialize)]
struct WireEntryRef<'a> {
    tagged_term: u64,
    #[serde(with = "serde_bytes")]
    data: &'a [u8],
}

#[derive(Deserialize)]
struct WireEntry {
    tagged_term: u64,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

impl Serialize for Entry {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bit = match self.kind {
            EntryKind::Normal => 0,
            EntryKind::ConfChange => 1,
        };
        WireEntryRef {
            tagged_term: self.term << 1 | bit,
            data: &self.data,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Entry, D::Error> {
        let wire = WireEntry::deserialize(deserializer)?;
        Ok(Entry {
            term: wire.tagged_term >> 1,
            kind: if wire.tagged_term & 1 == 1 {
                EntryKind::ConfChange
            } else {
                EntryKind::Normal
            },
            data: wire.data,
        })
    }
}

/// What an entry's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A service command (empty: a new leader's no-op).
    Normal,
    /// A [`ConfChange`](crate::ConfChange).
    ConfChange,
}

impl Entry {
    /// A command entry.
    pub fn command(term: u64, data: Vec<u8>) -> Entry {
        Entry {
            term,
            kind: EntryKind::Normal,
            data,
        }
    }

    /// The configuration change this entry carries, if it is one.
    pub fn conf_change(&self) -> Option<crate::ConfChange> {
        match self.kind {
            EntryKind::Normal => None,
            EntryKind::ConfChange => labrpc::decode(&self.data).ok(),
        }
    }
}

/// RequestVote arguments (§5.2, §5.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestVoteArgs {
    /// Candidate's term.
    pub term: u64,
    /// Candidate requesting the vote.
    pub candidate: u32,
    /// Index of the candidate's last log entry.
    pub last_log_index: u64,
    /// Term of the candidate's last log entry.
    pub last_log_term: u64,
}

/// RequestVote reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestVoteReply {
    /// The voter's current term, for the candidate to update itself.
    pub term: u64,
    /// True means the candidate received the vote.
    pub vote_granted: bool,
}

/// AppendEntries arguments (§5.3); also the heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendEntriesArgs {
    /// Leader's term.
    pub term: u64,
    /// The leader, so followers can redirect clients.
    pub leader: u32,
    /// Index of the entry immediately preceding the new ones.
    pub prev_log_index: u64,
    /// Term of that entry.
    pub prev_log_term: u64,
    /// Entries to store (empty for a heartbeat).
    pub entries: Vec<Entry>,
    /// Leader's commit index.
    pub leader_commit: u64,
}

/// AppendEntries reply, with the fast back-up hints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendEntriesReply {
    /// The follower's current term.
    pub term: u64,
    /// True if the follower had an entry matching prev_log_index/term.
    pub success: bool,
    /// On a mismatch, the term of the follower's conflicting entry (XTerm),
    /// or `None` if its log is too short.
    pub conflict_term: Option<u64>,
    /// First index the follower holds for `conflict_term` (XIndex).
    pub conflict_index: u64,
    /// The follower's log length, i.e. its last index + 1 (XLen).
    pub log_len: u64,
}

/// InstallSnapshot arguments (§7): the whole snapshot in one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallSnapshotArgs {
    /// Leader's term.
    pub term: u64,
    /// The leader.
    pub leader: u32,
    /// The snapshot replaces all entries up to and including this index.
    pub last_included_index: u64,
    /// Term of that entry.
    pub last_included_term: u64,
    /// The voting members as of the snapshot (empty: unchanged).
    pub members: Vec<u32>,
    /// The service's snapshot.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// InstallSnapshot reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallSnapshotReply {
    /// The follower's current term.
    pub term: u64,
}

/// TimeoutNow: the leader tells the peer it hands leadership to to stand
/// for election at once (leader transfer, TinyKV 3A).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeoutNowArgs {
    /// Leader's term.
    pub term: u64,
    /// The leader.
    pub leader: u32,
}

/// A follower asks its leader to hand leadership to `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferLeaderArgs {
    /// The peer that should lead.
    pub target: u32,
}

labrpc::rpc!(
    /// Invoked by candidates to gather votes.
    pub RequestVote = "Raft.RequestVote": RequestVoteArgs => RequestVoteReply
);
labrpc::rpc!(
    /// Invoked by the leader to replicate entries; also the heartbeat.
    pub AppendEntries = "Raft.AppendEntries": AppendEntriesArgs => AppendEntriesReply
);
labrpc::rpc!(
    /// Invoked by the leader to send a follower its snapshot.
    pub InstallSnapshot = "Raft.InstallSnapshot": InstallSnapshotArgs => InstallSnapshotReply
);
labrpc::rpc!(
    /// Invoked by a leader handing leadership to an up-to-date peer.
    pub TimeoutNow = "Raft.TimeoutNow": TimeoutNowArgs => ()
);
labrpc::rpc!(
    /// Invoked by a follower asked to transfer leadership.
    pub TransferLeader = "Raft.TransferLeader": TransferLeaderArgs => ()
);
