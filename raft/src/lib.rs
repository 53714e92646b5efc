//! # raft — Lab 3 (3A election, 3B log, 3C persistence, 3D snapshots)
//!
//! The consensus layer kvraft, shardctrler and shardkv are built on.
//!
//! ## Layout
//! * `core/` — **the protocol, what a student writes**: a pure, tick-driven
//!   state machine with no clock, task or IO inside (the etcd/raft-rs
//!   `RawNode` + `Ready` design). `election.rs` (3A), `replication.rs` (3B),
//!   persistence in `mod.rs` (3C), `snapshot.rs` (3D), `log.rs`;
//!   `membership.rs` (configuration change and leader transfer: TinyKV 3A,
//!   its regions tagged `p3a`, which 6.5840 never reaches); `message.rs`.
//!   `labtool skeleton --keep 3` leaves the 6.5840 regions filled.
//! * `node.rs` — the thin async driver: a ticker, one task per outgoing
//!   message, an applier task, the labrpc `Raft` service, and the structured
//!   events (`target: "raft::event"`) that `labtool timeline` draws. [`Raft`]
//!   is its handle.
//! * `persister.rs` — [`Persister`], stable storage the tester owns.
//! * `messages.rs` — the RPC types.
//! * `search/` — [`search`]: a model checker over the core (BFS and random
//!   probes over deliveries, drops, duplicates, timers, crashes; safety
//!   invariants; replayable counterexamples). Framework.
//!
//! ## The caller's loop (what the driver does after every event)
//! 1. Step the core: `tick`, `step` for a message (request, reply, or a
//!    request that got no reply), `propose`, `snapshot`.
//! 2. Take its [`Ready`].
//! 3. Persist state (and snapshot) — before anything below leaves the peer.
//! 4. Send the messages; feed each answer back through step 1.
//! 5. Apply committed entries and snapshots, in order, outside the lock.
//! 6. `advance`.
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
//! `cargo test -p raft` runs the core's timer-free unit tests, among them
//! the etcd/TinyKV core suite (`cargo test -p raft p2a`, `p2c`, `p3a`);
//! `cargo test -p tests 3a` (3b, 3c, 3d) runs the reference scenarios in
//! virtual time; `cargo test --release -p raft _search` runs the model
//! checker's searches. Limits from the tester: a new leader within 5 s of a
//! failure, at most 10 heartbeats per second, agreement within 10 s in `one()`.

#![deny(missing_docs)]

mod core;
mod messages;
mod node;
mod persister;
pub mod search;

pub use crate::core::{
    Apply, ConfChange, ConfChangeKind, Config, Core, ELECTION_TICKS, HEARTBEAT_TICKS, HardState,
    Kind, Message, Ready, Role, Sent, SnapshotMeta, SoftState, TICK,
};
pub use messages::{
    AppendEntries, AppendEntriesArgs, AppendEntriesReply, Entry, EntryKind, InstallSnapshot,
    InstallSnapshotArgs, InstallSnapshotReply, RequestVote, RequestVoteArgs, RequestVoteReply,
    TimeoutNow, TimeoutNowArgs, TransferLeader, TransferLeaderArgs,
};
pub use node::Raft;
#[cfg(feature = "mutants")]
pub use node::{MUTANT_DUPLICATE_APPEND, MUTANT_LAZY_COMPACTION};
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
    CorruptState(#[from] StateError),
    /// A committed entry does not decode as the service's command type. The
    /// peer stops rather than skip an index: only a bug or corruption gets
    /// here, and every index must reach the service exactly once, in order.
    #[error(
        "peer {peer} stopped: committed entry {index} is not a command of this service: {error}"
    )]
    CorruptCommand {
        /// The peer.
        peer: usize,
        /// The entry's index.
        index: u64,
        /// Why its bytes do not decode.
        #[source]
        error: labrpc::CodecError,
    },
    /// A committed membership change reached a driver that cannot apply one
    /// (the 6.5840 service has no use for them).
    #[error("peer {peer} stopped: committed entry {index} is a membership change")]
    UnexpectedConfChange {
        /// The peer.
        peer: usize,
        /// The entry's index.
        index: u64,
    },
}

/// Why persisted Raft state could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The header (term, vote, snapshot point, entry count) is damaged.
    #[error("damaged header: {0}")]
    Header(#[source] labrpc::CodecError),
    /// An entry is damaged.
    #[error("damaged entry {index}: {error}")]
    Entry {
        /// Its index.
        index: u64,
        /// Why its bytes do not decode.
        #[source]
        error: labrpc::CodecError,
    },
    /// Fewer entries than the header announces: the state was cut short.
    #[error("{found} entries where {saved} were saved")]
    Count {
        /// Entries found.
        found: u64,
        /// Entries the header announces.
        saved: u64,
    },
}
