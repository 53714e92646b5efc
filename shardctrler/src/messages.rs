//! The controller's RPCs and the ops that go through its Raft log.
//!
//! Replies follow the labs' one convention, [`labrpc::Reply`]: a change
//! answers `Ok(())` or `Err(ServiceError::Rejected(CtrlerError))` — final:
//! the change was applied in the log (so every replica agrees, and a retry
//! gets the same answer) but changed nothing and created no configuration
//! — or `WrongLeader`, `Timeout`, `Killed`: try another controller.

use std::collections::BTreeMap;

use labrpc::Reply;
use serde::{Deserialize, Serialize};

use crate::config::{Config, Gid, NSHARDS};

/// Why the controller refused a Join, Leave or Move.
///
/// Decided deterministically when the op is applied, against the latest
/// configuration, so every replica reaches the same verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CtrlerError {
    /// Gid 0 means "no group" and cannot join.
    #[error("gid 0 is reserved (it means \"no group\") and cannot join")]
    JoinGidZero,
    /// The group is already in the configuration.
    #[error("group {0} has already joined")]
    DuplicateGid(Gid),
    /// A joining group lists no servers, so nobody could serve its shards.
    #[error("group {0} joined with no servers")]
    EmptyGroup(Gid),
    /// The group is not in the configuration (a Leave or Move target).
    #[error("group {0} is not in the configuration")]
    UnknownGid(Gid),
    /// A Move named a shard that does not exist.
    #[error("shard {0} is out of range (there are {NSHARDS} shards)")]
    ShardOutOfRange(usize),
}

/// Identifies one clerk request, so a retried change is applied once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestId {
    /// The clerk.
    pub client_id: u64,
    /// The clerk's sequence number.
    pub seq: u64,
}

/// Join: add groups (gid → server names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinArgs {
    /// The new groups.
    pub servers: BTreeMap<Gid, Vec<String>>,
    /// Dedup id.
    pub id: RequestId,
}

/// Leave: remove groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveArgs {
    /// The groups that leave.
    pub gids: Vec<Gid>,
    /// Dedup id.
    pub id: RequestId,
}

/// Move: assign one shard to one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveArgs {
    /// The shard.
    pub shard: usize,
    /// Its new group.
    pub gid: Gid,
    /// Dedup id.
    pub id: RequestId,
}

/// Query: configuration `num`, or the latest if `num` is negative or too large.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryArgs {
    /// Which configuration (-1: the latest).
    pub num: i64,
}

labrpc::rpc!(
    /// Adds replica groups.
    pub Join = "ShardCtrler.Join": JoinArgs => Reply<(), CtrlerError>
);
labrpc::rpc!(
    /// Removes replica groups.
    pub Leave = "ShardCtrler.Leave": LeaveArgs => Reply<(), CtrlerError>
);
labrpc::rpc!(
    /// Moves one shard.
    pub Move = "ShardCtrler.Move": MoveArgs => Reply<(), CtrlerError>
);
labrpc::rpc!(
    /// Reads a configuration.
    pub Query = "ShardCtrler.Query": QueryArgs => Reply<Config>
);

/// An operation in the controller's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CtrlerOp {
    /// See [`JoinArgs`].
    Join(JoinArgs),
    /// See [`LeaveArgs`].
    Leave(LeaveArgs),
    /// See [`MoveArgs`].
    Move(MoveArgs),
    /// See [`QueryArgs`]; in the log so it reflects every earlier change.
    Query(QueryArgs),
}
