//! The clerk ↔ server RPCs and the operations that go through the Raft log.

use serde::{Deserialize, Serialize};

/// Outcome of a request, as the reference's `Err` strings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Done.
    #[default]
    Ok,
    /// Get of a key that does not exist (the value is "").
    NoKey,
    /// This server is not the leader, or lost leadership before the
    /// operation committed: try another server.
    WrongLeader,
}

/// Get arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetArgs {
    /// The key.
    pub key: String,
    /// The clerk's id.
    pub client_id: u64,
    /// The clerk's sequence number for this request.
    pub seq: u64,
}

/// Get reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetReply {
    /// Outcome.
    pub status: Status,
    /// The value ("" if the key is missing).
    pub value: String,
}

/// Put and Append arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutAppendArgs {
    /// The key.
    pub key: String,
    /// The value to store or append.
    pub value: String,
    /// The clerk's id.
    pub client_id: u64,
    /// The clerk's sequence number: a retried request carries the same one,
    /// so the state machine applies it at most once.
    pub seq: u64,
}

/// Put and Append reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutAppendReply {
    /// Outcome.
    pub status: Status,
}

labrpc::rpc!(
    /// Reads a key.
    pub Get = "KVServer.Get": GetArgs => GetReply
);
labrpc::rpc!(
    /// Replaces a key's value.
    pub Put = "KVServer.Put": PutAppendArgs => PutAppendReply
);
labrpc::rpc!(
    /// Appends to a key's value.
    pub Append = "KVServer.Append": PutAppendArgs => PutAppendReply
);

/// An operation as it is replicated through Raft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// The clerk that issued it.
    pub client_id: u64,
    /// The clerk's sequence number.
    pub seq: u64,
    /// What to do.
    pub kind: OpKind,
}

/// The three operations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpKind {
    /// Read `key`.
    Get {
        /// The key.
        key: String,
    },
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: String,
    },
    /// Append `value` to `key`.
    Append {
        /// The key.
        key: String,
        /// The suffix.
        value: String,
    },
}
