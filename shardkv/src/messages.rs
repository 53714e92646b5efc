//! RPCs between clerks and groups, between groups, and the ops in a group's log.
//!
//! Replies follow the labs' one convention, [`labrpc::Reply`]: `Ok` with
//! the answer, or a [`labrpc::ServiceError`] — `WrongLeader` (try the next
//! server of the group), `WrongGroup` (refresh the configuration),
//! `NotReady` (ask again later), `Rejected(BadRequest)` (final).

use std::collections::BTreeMap;

use labrpc::Reply;
use serde::{Deserialize, Serialize};
use shardctrler::{Config, NSHARDS};

/// Why a group refuses a request for good: retrying cannot help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum BadRequest {
    /// The request names a shard that does not exist.
    #[error("shard {0} is out of range (there are {NSHARDS} shards)")]
    ShardOutOfRange(usize),
    /// Transferred data holds a key of another shard than the one named.
    #[error("data sent as shard {0} holds a key of another shard")]
    ForeignKey(usize),
}

/// What a group answers a clerk (and what applying any op of its log
/// yields): a Get's value, "" for a write. A client op is never
/// `Rejected` (every key has a shard); a malformed shard transfer is.
pub type ClientReply = Reply<String, BadRequest>;

/// A clerk's operation on one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientOpKind {
    /// Read.
    Get,
    /// Replace with the value.
    Put(String),
    /// Append the value.
    Append(String),
}

/// A clerk request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientOp {
    /// The key.
    pub key: String,
    /// What to do.
    pub kind: ClientOpKind,
    /// The clerk.
    pub client_id: u64,
    /// The clerk's sequence number (a retry reuses it).
    pub seq: u64,
}

/// One shard's contents: its keys and the duplicate table of the writes to
/// it, which moves with the shard so at-most-once holds across moves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardData {
    /// Key → value.
    pub kv: BTreeMap<String, String>,
    /// Clerk → highest write sequence number applied to this shard.
    pub last_write: BTreeMap<u64, u64>,
}

/// Asks a shard's previous owner for its data as of configuration `config_num`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullArgs {
    /// The configuration in which the caller gains the shard.
    pub config_num: u64,
    /// The shard.
    pub shard: usize,
}

/// The previous owner's answer to a pull: the shard's data, with the
/// request echoed. Refusals are `NotReady` (the owner has not reached the
/// configuration), `WrongGroup` (it no longer holds the shard) and
/// `Rejected(ShardOutOfRange)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PulledShard {
    /// The request's configuration, echoed: the puller checks that the
    /// reply answers what it asked.
    pub config_num: u64,
    /// The request's shard, echoed.
    pub shard: usize,
    /// The shard's data.
    pub data: ShardData,
}

/// Tells the previous owner that the caller has the shard: delete it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteArgs {
    /// The configuration in which the shard moved.
    pub config_num: u64,
    /// The shard.
    pub shard: usize,
}

labrpc::rpc!(
    /// A clerk's Get.
    pub Get = "ShardKV.Get": ClientOp => ClientReply
);
labrpc::rpc!(
    /// A clerk's Put or Append.
    pub PutAppend = "ShardKV.PutAppend": ClientOp => ClientReply
);
labrpc::rpc!(
    /// A new owner pulls a shard from its previous owner.
    pub PullShard = "ShardKV.PullShard": PullArgs => Reply<PulledShard, BadRequest>
);
labrpc::rpc!(
    /// A new owner lets the previous owner delete a shard.
    pub DeleteShard = "ShardKV.DeleteShard": DeleteArgs => Reply<(), BadRequest>
);

/// What goes through a group's Raft log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShardOp {
    /// A clerk request.
    Client(ClientOp),
    /// Move to the next configuration.
    Reconfigure(Config),
    /// Install a pulled shard.
    Insert {
        /// The configuration it was pulled for.
        config_num: u64,
        /// The shard.
        shard: usize,
        /// Its contents.
        data: ShardData,
    },
    /// Delete a shard the new owner now has.
    Delete {
        /// The configuration in which it moved.
        config_num: u64,
        /// The shard.
        shard: usize,
    },
    /// The previous owner deleted a shard we pulled: nothing left to do.
    GcDone {
        /// The configuration in which it moved.
        config_num: u64,
        /// The shard.
        shard: usize,
    },
}
