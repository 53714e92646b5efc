//! # kvraft — Lab 4: a fault-tolerant key/value service on Raft
//!
//! 4A: every replica runs the same [`KvStateMachine`] over the Raft log;
//! 4B: the state machine is snapshotted so the log stays bounded.
//!
//! ## Layout
//! * `server.rs` — **student code**: [`KvServer`], the labrpc `KVServer` service.
//! * the `rsm` crate — **student code**: [`rsm::Rsm`], the replicated state
//!   machine (propose, wait for *your* op at *your* index, apply in order,
//!   snapshot), which shardctrler and shardkv reuse.
//! * `clerk.rs` — **student code**: [`Clerk`], which finds the leader and
//!   retries with the same sequence number.
//! * `state_machine.rs` — **student code**: the pure store and duplicate table.
//! * `messages.rs` — the RPCs and the replicated [`Op`].
//!
//! The framework gives labrpc, Raft and the tester (`tests` crate).
//!
//! ## Reads
//! Every operation, Get included, goes through the Raft log: a Get is
//! answered only once its log entry is committed and applied, so a
//! partitioned former leader can never serve a stale read.
//!
//! ## Invariants
//! * Each clerk write is applied at most once, even across leader changes,
//!   retries and restarts (the duplicate table is in every snapshot).
//! * A handler answers only with the result of *its own* op at its index;
//!   if the index is taken by another op, or the term changes, it answers
//!   [`labrpc::ServiceError::WrongLeader`] (or `Timeout`, `Killed`) and the
//!   clerk retries on the next server, as [`labrpc::ServiceError::retry`]
//!   says. Replies are [`labrpc::Reply`]s, the labs' one convention.
//! * [`KvServer::kill`] stops every task of the replica (one shutdown tree,
//!   [`rsm::Rsm::shutdown`]); [`KvServer::stopped`] completes once none is
//!   left (`tests/shutdown.rs` checks it).
//! * With `max_raft_state = Some(n)` the persisted Raft state stays near `n`
//!   bytes (the tester allows 8n).
//!
//! ## Tests
//! `cargo test -p tests 4a` and `cargo test -p tests 4b`.

#![deny(missing_docs)]

mod clerk;
mod messages;
mod server;
mod state_machine;

pub use clerk::Clerk;
pub use messages::{Append, Get, GetArgs, Op, OpKind, Put, PutAppendArgs};
pub use server::KvServer;
#[cfg(feature = "mutants")]
pub use server::MUTANT_LOCAL_GET;
pub use state_machine::KvStateMachine;
#[cfg(feature = "mutants")]
pub use state_machine::MUTANT_DEDUP_HISTORY;

/// The errors of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The replicated state machine could not start (corrupt Raft state or
    /// snapshot).
    #[error(transparent)]
    Rsm(#[from] rsm::Error),
}
