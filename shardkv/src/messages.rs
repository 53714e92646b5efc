//! RPCs between clerks and groups, between groups, and the ops in a group's log.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use shardctrler::Config;

/// Outcome of a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Done.
    #[default]
    Ok,
    /// Get of a missing key (value "").
    NoKey,
    /// This group does not serve the key's shard (now): refresh the config.
    WrongGroup,
    /// Not the leader: try another server of the group.
    WrongLeader,
    /// The shard is not ready to move yet (the owner lags behind).
    NotReady,
    /// The request is malformed (it names a shard out of range): retrying
    /// cannot help.
    BadRequest,
}

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

/// Reply to a clerk request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientReply {
    /// Outcome.
    pub status: Status,
    /// For Get: the value.
    pub value: String,
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

/// The previous owner's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullReply {
    /// Ok with the data, NotReady if the owner has not reached the
    /// configuration, WrongGroup if it no longer holds the shard,
    /// BadRequest if the shard is out of range.
    pub status: Status,
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

/// Reply to a delete request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteReply {
    /// Ok once the shard is gone (or was already); BadRequest if the
    /// shard is out of range.
    pub status: Status,
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
    pub PullShard = "ShardKV.PullShard": PullArgs => PullReply
);
labrpc::rpc!(
    /// A new owner lets the previous owner delete a shard.
    pub DeleteShard = "ShardKV.DeleteShard": DeleteArgs => DeleteReply
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
