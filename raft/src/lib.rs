//! # raft — Lab 3 (3A election, 3B log, 3C persistence, 3D snapshots)
//!
//! The consensus layer kvraft, shardctrler and shardkv are built on.
//!
//! ## Layout
//! * `core/` — **the protocol, what a student writes**: a pure, tick-driven
//!   state machine with no clock, task or IO inside (the etcd/raft-rs
//!   `RawNode` + `Ready` design). `election.rs` (3A), `replication.rs` (3B),
//!   persistence in `mod.rs` (3C), `snapshot.rs` (3D), `log.rs`.
//! * `node.rs` — the thin async driver: a ticker, one task per outgoing RPC,
//!   an applier task, the labrpc `Raft` service. [`Raft`] is its handle.
//! * `persister.rs` — [`Persister`], stable storage the tester owns.
//! * `messages.rs` — the RPC types.
//!
//! ## The caller's loop (what the driver does after every event)
//! 1. Step the core: `tick`, `handle_*` for a request or reply, `propose`, `snapshot`.
//! 2. Take its `Ready`.
//! 3. Persist state (and snapshot) — before anything below leaves the peer.
//! 4. Send the requests; feed each reply back through step 1.
//! 5. Apply committed entries and snapshots, in order, outside the lock.
//!
//! ## Invariants
//! * At most one leader per term; a leader only commits entries of its own
//!   term by counting replicas (§5.4.2).
//! * `snapshot base ≤ commit_index` and every index up to `commit_index` is
//!   handed to the service exactly once, in order; a snapshot from the
//!   leader only ever moves the service forward.
//! * Term, vote and log are persisted before any reply or request that
//!   depends on them is sent.
//! * After [`Raft::kill`] the peer sends nothing and applies nothing.
//!
//! ## Tests
//! `cargo test -p raft` runs the core's timer-free unit tests;
//! `cargo test -p tests 3a` (3b, 3c, 3d) runs the reference scenarios in
//! virtual time. Limits from the tester: a new leader within 5 s of a
//! failure, at most 10 heartbeats per second, agreement within 10 s in `one()`.

#![deny(missing_docs)]

mod core;
mod messages;
mod node;
mod persister;

pub use crate::core::{ELECTION_TICKS, HEARTBEAT_TICKS, Role, TICK};
pub use messages::{
    AppendEntries, AppendEntriesArgs, AppendEntriesReply, Entry, InstallSnapshot,
    InstallSnapshotArgs, InstallSnapshotReply, RequestVote, RequestVoteArgs, RequestVoteReply,
};
pub use node::Raft;
pub use persister::Persister;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// What a service can replicate: any serde type (blanket implementation).
pub trait Command:
    Clone + std::fmt::Debug + Serialize + DeserializeOwned + Send + Sync + 'static
{
}

impl<T> Command for T where
    T: Clone + std::fmt::Debug + Serialize + DeserializeOwned + Send + Sync + 'static
{
}

/// What Raft hands the service, in log order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyMsg<C> {
    /// A committed command.
    Command {
        /// Its log index (the first command has index 1).
        index: u64,
        /// The term it was created in.
        term: u64,
        /// The command.
        command: C,
    },
    /// A snapshot sent by the leader: replace the service state with it.
    Snapshot {
        /// The last index it covers.
        index: u64,
        /// The term of that index.
        term: u64,
        /// The service's snapshot bytes.
        data: Vec<u8>,
    },
}

/// The errors of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The persisted Raft state could not be decoded.
    #[error("cannot restore raft: {0}")]
    CorruptState(String),
}
