//! The clerk ↔ server RPCs and the operations that go through the Raft log.
//!
//! Replies follow the labs' one convention, [`labrpc::Reply`]: `Ok` with
//! the answer, or the [`labrpc::ServiceError`] that tells the clerk where
//! to retry. A Get of a missing key answers `Ok("")`, as kvsrv does.

use labrpc::Reply;
use serde::{Deserialize, Serialize};

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

labrpc::rpc!(
    /// Reads a key.
    pub Get = "KVServer.Get": GetArgs => Reply<String>
);
labrpc::rpc!(
    /// Replaces a key's value.
    pub Put = "KVServer.Put": PutAppendArgs => Reply<()>
);
labrpc::rpc!(
    /// Appends to a key's value.
    pub Append = "KVServer.Append": PutAppendArgs => Reply<()>
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
