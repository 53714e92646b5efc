//! # shardctrler — Lab 5A: the shard controller
//!
//! A replicated service (on Raft, through [`rsm::Rsm`]) that decides
//! which replica group serves each of the [`NSHARDS`] shards. Each Join,
//! Leave or Move creates a new numbered [`Config`]; Query returns any past
//! configuration or the latest.
//!
//! ## Layout
//! * `config.rs` — **student code**: [`Config`] and the rebalancer.
//! * `state_machine.rs` — **student code**: the configuration history and
//!   the duplicate table.
//! * `server.rs`, `clerk.rs` — **student code**: the service and its client.
//! * `messages.rs` — the RPC types.
//!
//! ## Invariants
//! * `configs[i].num == i`; config 0 has no groups and every shard on gid 0.
//! * Rebalancing is deterministic (every replica computes the same config),
//!   leaves groups within one shard of each other, and moves as few shards
//!   as possible: a Join moves shards only to the new groups, a Leave only
//!   away from the leaving ones.
//! * A clerk's change is applied at most once.
//! * A bad change (see [`CtrlerError`]) is refused with its reason
//!   (`ServiceError::Rejected`, in the labs' one reply convention
//!   [`labrpc::Reply`]), changes nothing, and a retry of it gets the same
//!   refusal.
//!
//! ## Tests
//! `cargo test -p shardctrler` (rebalancer unit tests) and
//! `cargo test -p tests 5a` (the reference scenarios).

#![deny(missing_docs)]

mod clerk;
mod config;
mod messages;
mod server;
mod state_machine;

pub use clerk::Clerk;
pub use config::{Config, Gid, NSHARDS};
pub use messages::{
    CtrlerError, CtrlerOp, Join, JoinArgs, Leave, LeaveArgs, Move, MoveArgs, Query, QueryArgs,
    RequestId,
};
pub use server::ShardCtrler;
pub use state_machine::{CtrlerOutput, CtrlerStateMachine};

/// The errors of this crate's local API (starting a replica).
///
/// A controller's *answer* to a bad request is the other error type,
/// [`CtrlerError`] (a Join of gid 0 or of a group already present, a Join
/// without servers, a Leave or Move naming an unknown group, a Move of a
/// shard out of range). It is kept apart because it travels in replies and
/// through the Raft log, so it must be serializable and `Copy`, while this
/// one wraps the non-serializable [`rsm::Error`]. It is decided when the
/// op is applied, so all replicas agree; a refused change creates no
/// configuration but is recorded in the duplicate table, and
/// [`Clerk::join`], [`Clerk::leave`] and [`Clerk::move_shard`] return it
/// rather than retrying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The replicated state machine could not start.
    #[error(transparent)]
    Rsm(#[from] rsm::Error),
}
