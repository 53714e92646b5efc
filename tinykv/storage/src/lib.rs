//! # tinykv-storage — TinyKV Project 1: storage engines and the raw KV service
//!
//! A key/value store with column families, on two engines behind one
//! interface, served as `RawGet`/`RawPut`/`RawDelete`/`RawScan` over the
//! simulated network (labrpc); the `tinykv-server` crate serves the same
//! handlers over TCP from a real process. Projects 2 (raftstore)
//! and 4 (Percolator transactions) store their data, raft logs and metadata
//! through the same [`Engine`] API.
//!
//! ## Layout
//! * `engine.rs` — the abstraction: [`Cf`] (default, lock, write and the
//!   raftstore's [`Cf::Meta`]), [`WriteBatch`] of [`Modify`]s, the
//!   [`Engine`] / [`Snapshot`] / [`DbIterator`] traits.
//! * `mem.rs` — [`MemEngine`], ordered maps with copy-on-write snapshots.
//! * `disk.rs` — [`DiskEngine`] on redb, in a data directory it owns.
//! * `group.rs` — [`GroupCommit`], an engine wrapper that commits
//!   concurrent synced batches as one engine write with one fsync (the
//!   real server uses it; std only, nothing in the background).
//! * `storage.rs` — **student code (p1)**: [`StandaloneStorage`], the
//!   reference `Storage` (write a batch, open a reader) over one engine.
//! * `raw.rs` — **student code (p1)**: [`RawServer`], the four raw handlers
//!   and their request/response messages.
//! * `service.rs` — the labrpc `TinyKv` service over a [`RawServer`].
//!
//! ## Invariants
//! * A batch is atomic: a reader or a reopened engine sees all of it or
//!   none of it.
//! * A snapshot is a point in time: writes after it are invisible to it and
//!   to every cursor opened on it.
//! * A missing key is `Ok(None)`, never an error; an empty value is a value
//!   (the reference's "empty value = delete" quirk is not mirrored, see
//!   [`WriteBatch`]).
//! * A write acknowledged with [`WriteOptions::SYNC`] survives `kill -9`
//!   (tested with a real server process), also when [`GroupCommit`] made
//!   it share its fsync with other callers' writes.
//! * Engines do nothing in the background: the same calls give the same
//!   results, so both engines replay byte-identically in the simulation.
//! * Bad input is an error in the reply, never a panic.
//!
//! ## For the later projects
//! * **Project 2 (raftstore)**: a store opens two engines, raftdb and kvdb
//!   (two `DiskEngine` directories, or two `MemEngine`s kept in an `Arc`
//!   across a simulated crash, as a persister is). Raft log entries and
//!   `RaftLocalState` go in raftdb's [`Cf::Meta`] under the reference's
//!   `0x01 0x02 …` keys, one synced batch per Ready; applied data and
//!   `RaftApplyState` go in kvdb in **one** batch per applied entry, so
//!   they can never disagree after a crash. A region snapshot is an
//!   [`Engine::snapshot`] scanned over the region's range in each data CF;
//!   applying one wipes the range with [`WriteBatch::delete_range`] in the
//!   same batch that writes the new data and states.
//! * **Project 4 (transactions)**: the three data CFs hold values, locks
//!   and write records; a command buffers its [`Modify`]s and the caller
//!   applies them as one batch. The reference `MemStorage`'s "fresh"
//!   tracking (`HasChanged`) is not provided here; add it beside the
//!   command tests if they need it.
//!
//! ## Tests
//! `cargo test --release -p tinykv-storage` runs the conformance suite on
//! both engines (`tests/conformance.rs`), the ten Project 1 tests on both
//! (`tests/p1.rs`; `cargo test p1` selects them), the data-directory
//! tests (`tests/disk_dir.rs`) and group commit's (`tests/group_commit.rs`). `cargo bench -p tinykv-storage` measures
//! the engines. The binaries, their process tests (kill -9 durability, bad
//! input) and the TCP benchmark live in `tinykv/server`.

#![deny(missing_docs)]

mod disk;
mod engine;
mod group;
mod mem;
pub mod raw;
pub mod service;
mod storage;

pub use disk::{DiskEngine, MARKER};
pub use engine::{Cf, DbIterator, Engine, KvPair, Modify, Snapshot, WriteBatch, WriteOptions};
pub use group::{GroupCommit, GroupStats, MAX_GROUP_BATCHES};
pub use mem::MemEngine;
pub use raw::RawServer;
pub use storage::{Context, StandaloneStorage, Storage};

/// The errors of this crate. `Clone + PartialEq` so tests compare them; the
/// raw service reports them as text in its replies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A column family name the API does not know.
    #[error("unknown column family {0:?} (expected default, lock or write)")]
    UnknownCf(String),
    /// A request with an empty key (only a scan's start key may be empty).
    #[error("empty key")]
    EmptyKey,
    /// A key longer than [`raw::MAX_KEY_LEN`].
    #[error("key of {len} bytes exceeds the limit of {max} bytes")]
    KeyTooLarge {
        /// The key's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A value larger than [`raw::MAX_VALUE_LEN`].
    #[error("value of {len} bytes exceeds the limit of {max} bytes")]
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A scan whose result would exceed [`raw::MAX_SCAN_BYTES`].
    #[error("scan result exceeds {max} bytes after {pairs} pairs; use a smaller limit")]
    ScanTooLarge {
        /// The limit in bytes.
        max: usize,
        /// Pairs that fitted.
        pairs: usize,
    },
    /// The data directory belongs to something else; nothing was changed.
    #[error("{dir} is not a tinykv data directory: {reason}")]
    NotOurs {
        /// The directory.
        dir: String,
        /// What gave it away.
        reason: String,
    },
    /// The database is already open (another process, or this one).
    #[error("{dir} is locked: another tinykv process (or this one) has it open")]
    Locked {
        /// The directory.
        dir: String,
    },
    /// The operating system refused a file operation.
    #[error("i/o error: {0}")]
    Io(String),
    /// The embedded database reported an error.
    #[error("database error: {0}")]
    Db(String),
    /// A group commit's one engine write failed (e.g. its fsync): none of
    /// the group's batches was applied, and each of its callers gets this.
    #[error("group commit of {batches} batches failed: {cause}")]
    GroupCommit {
        /// Batches in the failed group, this caller's among them.
        batches: usize,
        /// The engine's error.
        cause: Box<Error>,
    },
}
