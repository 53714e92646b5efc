//! What crosses the network: the three RPCs of the `KVServer` service.
//!
//! Every request names its clerk and carries the clerk's sequence number.
//! A retry reuses the number, so the server can tell a retry (the reply was
//! lost after the handler ran) from a new operation; a larger number tells it
//! the clerk has seen the reply to everything before.

use labrpc::Reply;
use serde::{Deserialize, Serialize};

use crate::Rejection;

/// Identifies one clerk. Drawn at random (`labrpc::rng::u64()`), so two
/// clerks collide with negligible probability and no coordination is needed.
pub type ClientId = u64;

/// Arguments of `KVServer.Get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetArgs {
    /// The key to read.
    pub key: String,
    /// The calling clerk.
    pub client: ClientId,
    /// The clerk's sequence number for this operation (retries reuse it).
    pub seq: u64,
}

/// Arguments of `KVServer.Put` and `KVServer.Append`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutAppendArgs {
    /// The key to write.
    pub key: String,
    /// The new value (Put) or the suffix to add (Append).
    pub value: String,
    /// The calling clerk.
    pub client: ClientId,
    /// The clerk's sequence number for this operation (retries reuse it).
    pub seq: u64,
}

labrpc::rpc!(
    /// Reads a key: the current value, or "" if the key was never written.
    pub Get = "KVServer.Get": GetArgs => Reply<String, Rejection>
);

labrpc::rpc!(
    /// Replaces a key's value.
    pub Put = "KVServer.Put": PutAppendArgs => Reply<(), Rejection>
);

labrpc::rpc!(
    /// Appends to a key's value (a missing key counts as ""); replies with
    /// the value *before* the append.
    pub Append = "KVServer.Append": PutAppendArgs => Reply<String, Rejection>
);

/// The kind of a client operation, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpKind {
    /// A read.
    Get,
    /// A replacing write.
    Put,
    /// An appending write that returns the old value.
    Append,
}

impl std::fmt::Display for OpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OpKind::Get => "Get",
            OpKind::Put => "Put",
            OpKind::Append => "Append",
        })
    }
}
