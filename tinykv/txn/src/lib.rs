//! # tinykv-txn — TinyKV Project 4: Percolator transactions
//!
//! Multi-version concurrency control over the three column families of
//! a `tinykv-storage` engine, and the transactional commands a Percolator
//! client drives: two-phase commit (prewrite, commit), reads at a
//! timestamp, rollback and lock resolution.
//!
//! ## Layout over the CFs
//! * `default`: `encode_key(key, start_ts)` → the value a transaction wrote;
//! * `lock`: the raw user key → [`Lock`] (primary, start ts, TTL, kind);
//! * `write`: `encode_key(key, commit_ts)` → [`Write`] (start ts, kind); a
//!   rollback record sits at the transaction's own start ts.
//!
//! ## Layout of the crate
//! * `codec.rs` — [`encode_key`] / [`decode_key`]: memcomparable key plus
//!   inverted big-endian timestamp (versions sort newest first).
//! * `lock.rs`, `write.rs` — the records and their byte formats.
//! * `tso.rs` — timestamps (`physical_ms << 18 | logical`).
//! * `txn.rs` — [`MvccTxn`]: buffered changes and reads at a start
//!   timestamp. **Student code (p4a)**: the put/delete methods,
//!   `get_lock`, `get_value`, `current_write`, `most_recent_write`.
//! * `scanner.rs` — [`Scanner`]. **Student code (p4c)**: `next_item`.
//! * `latches.rs` — [`Latches`]: per-key mutual exclusion and the check
//!   that a command writes only the keys it latched.
//! * `proto.rs` — requests, responses, [`KeyError`].
//! * `server.rs` — [`TxnServer`] and the framework a command runs in
//!   (check the request, latch, snapshot, run, validate, write one batch).
//! * `service.rs` — the commands and the timestamp oracle ([`Tso`]) over
//!   labrpc.
//! * `client.rs` — [`Client`] and [`Txn`]: two-phase commit, lock
//!   resolution, retries.
//! * `commands.rs` — the seven commands. **Student code**: `kv_get`,
//!   `kv_prewrite`, `kv_commit` (p4b); `kv_scan`, `kv_check_txn_status`,
//!   `kv_batch_rollback`, `kv_resolve_lock` (p4c).
//!
//! ## Invariants
//! * A command is atomic: its changes are written in one batch, or not at
//!   all when its reply carries a [`KeyError`] or it fails with an
//!   [`Error`].
//! * A command writes only user keys it latched, and reads a snapshot taken
//!   after latching them ([`Latches::validate`] checks every write).
//! * Every record's commit timestamp is at or after its start timestamp; a
//!   reader at `ts` sees exactly the writes committed at or before `ts`.
//! * Bad input — a malformed record in the engine, a commit timestamp not
//!   after the start timestamp, an empty key or primary, an operation other
//!   than Put/Del in a prewrite — is a typed [`Error`], never a panic, and
//!   nothing is written.
//!
//! ## Tests
//! `cargo test --release -p tinykv-txn` runs everything: the 15 Project 4A
//! tests (`cargo test p4a`), the 24 of 4B (`p4b`) and the 22 of 4C (`p4c`),
//! each on the in-memory and the disk engine, plus the key-encoding, latch
//! and bad-input tests, and `tests/client.rs`: the client in the simulation
//! (the oracle under an unreliable network, the Hermitage snapshot-isolation
//! cases, commit fault injection, a bank-transfer workload with crashing
//! clients; `LAB_SEED=n` replays one). `cargo bench -p tinykv-txn` measures
//! committed transactions per wall-second.

#![deny(missing_docs)]

pub mod client;
mod codec;
mod commands;
mod latches;
mod lock;
pub mod proto;
mod scanner;
mod server;
pub mod service;
mod tso;
mod txn;
mod write;

pub use client::{Client, CommitFault, Txn};
pub use codec::{TS_MAX, decode_key, decode_ts, decode_user_key, encode_bytes, encode_key};
pub use latches::{LatchGuard, Latches};
pub use lock::Lock;
pub use proto::{KeyError, LockInfo, Op};
pub use scanner::{ScanItem, Scanner};
pub use server::TxnServer;
pub use service::Tso;
pub use tso::{LOGICAL_BITS, compose, physical};
pub use txn::MvccTxn;
pub use write::{WRITE_LEN, Write, WriteKind};

/// The errors of this crate: failures of the storage and bad input. An
/// expected transactional outcome (a lock, a conflict, an abort) is a
/// [`KeyError`] in a successful reply instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The storage failed, or refused a key.
    #[error("storage: {0}")]
    Storage(#[from] tinykv_storage::Error),
    /// A lock or write record in the engine does not parse.
    #[error("malformed {what} record {bytes:?}: {reason}")]
    BadRecord {
        /// `"lock"` or `"write"`.
        what: &'static str,
        /// The stored bytes.
        bytes: Vec<u8>,
        /// What is wrong with them.
        reason: String,
    },
    /// A key of the default or write CF is not an encoded key.
    #[error("malformed encoded key {key:?}: {reason}")]
    BadKey {
        /// The stored key.
        key: Vec<u8>,
        /// What is wrong with it.
        reason: String,
    },
    /// A commit record points at a value that is not in the default CF.
    #[error("the write of key {key:?} started at {start_ts} has no value")]
    MissingValue {
        /// The user key.
        key: Vec<u8>,
        /// The writing transaction's start timestamp.
        start_ts: u64,
    },
    /// A prewrite with mutations but no primary key.
    #[error("prewrite of {mutations} mutations with an empty primary key")]
    EmptyPrimary {
        /// How many mutations it had.
        mutations: usize,
    },
    /// A prewrite mutation that is neither Put nor Del.
    #[error("mutation {op:?} of key {key:?} cannot be prewritten (only Put and Del)")]
    UnsupportedOp {
        /// The operation.
        op: Op,
        /// The key.
        key: Vec<u8>,
    },
    /// A commit timestamp at or before the start timestamp.
    #[error("commit timestamp {commit_ts} is not after start timestamp {start_ts}")]
    BadCommitTs {
        /// The transaction's start timestamp.
        start_ts: u64,
        /// The commit timestamp asked for.
        commit_ts: u64,
    },
    /// The server refused a client's request (its error, as text).
    #[error("the server refused the request: {0}")]
    Refused(String),
    /// A client's RPC failed in the network on every attempt.
    #[error("{method} failed {attempts} times in the network")]
    Unreachable {
        /// The RPC.
        method: &'static str,
        /// How many times it was tried.
        attempts: u32,
    },
    /// The primary's commit was sent (or the client stopped before sending
    /// it) and its outcome is unknown to the client; readers will settle
    /// it through the primary.
    #[error("commit outcome unknown")]
    CommitUnknown,
    /// A command tried to write a key it had not latched (a bug in the
    /// command; nothing was written).
    #[error("command wrote key {key:?} without latching it")]
    Unlatched {
        /// The user key.
        key: Vec<u8>,
    },
}
