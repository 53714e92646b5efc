//! # shardkv — Lab 5B: a sharded, replicated key/value store
//!
//! Keys are split into [`NSHARDS`] shards; each shard is served by one
//! replica group (a Raft cluster) as the shard controller's current
//! configuration says. When configurations change, groups hand shards to
//! each other, with the data and the duplicate table, so every clerk
//! operation still happens exactly once.
//!
//! ## Layout
//! * `state_machine.rs` — **student code**: the group's replicated state and
//!   the shard life cycle (see the diagram there).
//! * `server.rs` — **student code**: [`ShardKv`], the `ShardKV` service.
//! * `migration.rs` — **student code**: the leader's tasks that follow
//!   configurations and move and delete shards.
//! * `clerk.rs` — **student code**: [`Clerk`], routing by [`key2shard`].
//! * `messages.rs` — the RPC types and the log ops.
//!
//! ## Invariants
//! * Configurations are entered in the log and applied one at a time, in
//!   order; the next starts only when no shard is in motion.
//! * A group serves a key only if the configuration it has applied gives
//!   it the shard and the shard's data has arrived — decided when the op is
//!   applied, so it is consistent with reconfigurations.
//! * A lost shard stops being served at once; its data is deleted as soon
//!   as the new owner has it (challenge 1). Shards unaffected by a
//!   reconfiguration, and shards whose data has arrived, are served
//!   throughout (challenge 2).
//! * Pulling is idempotent and the previous owner never serves a shard it
//!   has given up, so two groups swapping shards cannot deadlock.
//! * A shard transfer that does not fit (another configuration, a shard not
//!   being pulled or out of range, a key of another shard, a reply to
//!   another request, bytes that do not decode) is refused before it
//!   reaches the log, and again when applied, leaving the state untouched.
//!   RPCs naming a shard out of range are rejected with
//!   [`BadRequest::ShardOutOfRange`].
//! * Replies follow the labs' one convention, [`labrpc::Reply`]; the
//!   clerk and the shard movers retry as [`labrpc::ServiceError::retry`]
//!   says.
//! * Every task of a replica — Raft's, the applier's and the shard movers'
//!   — runs under one shutdown tree ([`rsm::Rsm::shutdown`]);
//!   [`ShardKv::kill`] stops them all.
//!
//! ## Tests
//! `cargo test -p shardkv` (state machine) and `cargo test -p tests 5b`,
//! `cargo test -p tests challenge`.

#![deny(missing_docs)]

mod clerk;
mod messages;
mod migration;
mod server;
mod state_machine;

use std::sync::Arc;

pub use clerk::Clerk;
pub use messages::{
    BadRequest, ClientOp, ClientOpKind, ClientReply, DeleteArgs, DeleteShard, Get, PullArgs,
    PullShard, PulledShard, PutAppend, ShardData, ShardOp,
};
pub use server::ShardKv;
pub use shardctrler::{Config, Gid, NSHARDS};
#[cfg(feature = "mutants")]
pub use state_machine::{MUTANT_KEEPS_DELETED_SHARDS, MUTANT_SERVE_UNOWNED};
pub use state_machine::{Phase, Shard, ShardStateMachine};

/// Turns a server name from a configuration into an end that reaches it.
pub type MakeEnd = Arc<dyn Fn(&str) -> labrpc::ClientEnd + Send + Sync>;

/// The shard of a key: its first byte modulo [`NSHARDS`] (0 for "").
pub fn key2shard(key: &str) -> usize {
    key.as_bytes().first().map_or(0, |&b| b as usize % NSHARDS)
}

/// The errors of this crate: a replica that cannot start, and a shard
/// transfer that does not fit the receiving group's state (see
/// [`ShardStateMachine::check_insert`]). A refused transfer never reaches
/// the log and, should it get there, changes nothing when applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The replicated state machine could not start.
    #[error(transparent)]
    Rsm(#[from] rsm::Error),
    /// A shard index that does not exist.
    #[error("shard {0} is out of range (there are {NSHARDS} shards)")]
    ShardOutOfRange(usize),
    /// A transfer for another configuration than the receiver's.
    #[error("shard {shard} was sent for configuration {got}, but the group is in {current}")]
    WrongConfig {
        /// The shard.
        shard: usize,
        /// The configuration the transfer names.
        got: u64,
        /// The receiving group's configuration.
        current: u64,
    },
    /// A transfer of a shard the group is not waiting for.
    #[error("shard {shard} is not being pulled in configuration {config_num}")]
    NotPulling {
        /// The shard.
        shard: usize,
        /// The receiving group's configuration.
        config_num: u64,
    },
    /// A transferred key that belongs to another shard.
    #[error(
        "key {key:?} sent with shard {shard} belongs to shard {}",
        key2shard(key)
    )]
    ForeignKey {
        /// The shard the data was sent as.
        shard: usize,
        /// The first key that does not belong to it.
        key: String,
    },
    /// A pull reply that answers another request than the one sent.
    #[error(
        "pull reply is for shard {got_shard} in configuration {got_config}, \
         but shard {shard} in configuration {config_num} was asked for"
    )]
    MismatchedReply {
        /// The shard asked for.
        shard: usize,
        /// The configuration asked for.
        config_num: u64,
        /// The shard the reply names.
        got_shard: usize,
        /// The configuration the reply names.
        got_config: u64,
    },
}
