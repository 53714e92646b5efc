//! What [`Core::step`](super::Core::step) takes and a `Ready` hands out.
//!
//! Requests travel as the RPC argument types; a reply travels as the RPC
//! reply plus a [`Sent`], the little the requester needs to remember about
//! its request (its term, which entries it carried). A request that got no
//! reply comes back as [`Message::Unreachable`] with the same [`Sent`] — the
//! core is never handed an invented reply.

use crate::messages::{
    AppendEntriesArgs, AppendEntriesReply, InstallSnapshotArgs, InstallSnapshotReply,
    RequestVoteArgs, RequestVoteReply, TimeoutNowArgs, TransferLeaderArgs,
};

/// Which request a [`Sent`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// RequestVote.
    Vote,
    /// AppendEntries.
    Append,
    /// InstallSnapshot.
    Snapshot,
    /// TimeoutNow.
    TimeoutNow,
    /// TransferLeader.
    TransferLeader,
}

/// What the sender of a request needs to know about it when its reply — or
/// the news that none will come — arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The request's kind.
    pub kind: Kind,
    /// The sender's term when it sent the request.
    pub term: u64,
    /// AppendEntries: `prev_log_index`; InstallSnapshot: the last index it covers.
    pub index: u64,
    /// AppendEntries: how many entries it carried.
    pub len: usize,
}

/// One message between peers, or about one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A candidate asks for a vote.
    RequestVote(RequestVoteArgs),
    /// The answer to a vote request.
    RequestVoteReply(Sent, RequestVoteReply),
    /// A leader replicates entries, or heartbeats.
    AppendEntries(AppendEntriesArgs),
    /// The answer to an AppendEntries.
    AppendEntriesReply(Sent, AppendEntriesReply),
    /// A leader sends its snapshot.
    InstallSnapshot(InstallSnapshotArgs),
    /// The answer to an InstallSnapshot.
    InstallSnapshotReply(Sent, InstallSnapshotReply),
    /// A leader hands over: campaign now.
    TimeoutNow(TimeoutNowArgs),
    /// A follower forwards a leader-transfer request to its leader.
    TransferLeader(TransferLeaderArgs),
    /// A request sent to this peer got no reply (lost, or the peer is down).
    Unreachable(Sent),
}

impl Message {
    /// For a request: what its sender must remember about it.
    pub fn sent(&self) -> Option<Sent> {
        let sent = |kind, term, index, len| {
            Some(Sent {
                kind,
                term,
                index,
                len,
            })
        };
        match self {
            Message::RequestVote(a) => sent(Kind::Vote, a.term, 0, 0),
            Message::AppendEntries(a) => {
                sent(Kind::Append, a.term, a.prev_log_index, a.entries.len())
            }
            Message::InstallSnapshot(a) => sent(Kind::Snapshot, a.term, a.last_included_index, 0),
            Message::TimeoutNow(a) => sent(Kind::TimeoutNow, a.term, 0, 0),
            Message::TransferLeader(_) => sent(Kind::TransferLeader, 0, 0, 0),
            _ => None,
        }
    }

    /// True for replies and unreachability reports: answers to requests
    /// this peer sent.
    pub fn is_response(&self) -> bool {
        matches!(
            self,
            Message::RequestVoteReply(..)
                | Message::AppendEntriesReply(..)
                | Message::InstallSnapshotReply(..)
                | Message::Unreachable(_)
        )
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Message::RequestVote(_) => "RequestVote",
            Message::RequestVoteReply(..) => "RequestVoteReply",
            Message::AppendEntries(_) => "AppendEntries",
            Message::AppendEntriesReply(..) => "AppendEntriesReply",
            Message::InstallSnapshot(_) => "InstallSnapshot",
            Message::InstallSnapshotReply(..) => "InstallSnapshotReply",
            Message::TimeoutNow(_) => "TimeoutNow",
            Message::TransferLeader(_) => "TransferLeader",
            Message::Unreachable(_) => "Unreachable",
        }
    }
}
