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
    ClientOp, ClientOpKind, ClientReply, DeleteArgs, DeleteReply, DeleteShard, Get, PullArgs,
    PullReply, PullShard, PutAppend, ShardData, ShardOp, Status,
};
pub use server::ShardKv;
pub use shardctrler::{Config, Gid, NSHARDS};
pub use state_machine::{Phase, Shard, ShardStateMachine};

/// Turns a server name from a configuration into an end that reaches it.
pub type MakeEnd = Arc<dyn Fn(&str) -> labrpc::ClientEnd + Send + Sync>;

/// The shard of a key: its first byte modulo [`NSHARDS`] (0 for "").
pub fn key2shard(key: &str) -> usize {
    key.as_bytes().first().map_or(0, |&b| b as usize % NSHARDS)
}

/// The errors of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The replicated state machine could not start.
    #[error(transparent)]
    Rsm(#[from] kvraft::Error),
}
