//! The `Storage` interface the KV server is written against (the reference
//! `kv/storage`), and its standalone implementation over one engine.
//!
//! Project 1 serves it straight from an engine; Project 2 implements the
//! same trait over the raftstore (a write becomes a raft proposal, a reader
//! a snapshot taken when a read command is applied), so the raw and
//! transactional services never know which one they run on.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::engine::{Engine, Snapshot, WriteBatch, WriteOptions};

/// Where a request is meant to go (the reference `kvrpcpb.Context`).
/// Ignored by the standalone storage; the raftstore checks it against the
/// region it serves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// The region the client believes holds the key.
    pub region_id: u64,
    /// The region's configuration version, as the client knows it.
    pub conf_ver: u64,
    /// The region's version (bumped by splits), as the client knows it.
    pub version: u64,
    /// The peer the client addressed.
    pub peer_id: u64,
    /// The leader's term, as the client knows it.
    pub term: u64,
}

/// What a KV server needs from its storage.
pub trait Storage: Send + Sync {
    /// Applies `batch` atomically; returns once it is durable.
    fn write(&self, ctx: &Context, batch: WriteBatch) -> Result<(), Error>;
    /// A consistent point-in-time reader.
    fn reader(&self, ctx: &Context) -> Result<Box<dyn Snapshot>, Error>;
}

/// Project 1's storage: one engine, no replication.
#[derive(Clone)]
pub struct StandaloneStorage {
    engine: Arc<dyn Engine>,
    /// How writes are made durable; [`WriteOptions::SYNC`] unless the
    /// server was told otherwise (benchmarks).
    opts: WriteOptions,
}

impl StandaloneStorage {
    /// Storage whose writes are synced before they are acknowledged.
    pub fn new(engine: Arc<dyn Engine>) -> StandaloneStorage {
        StandaloneStorage {
            engine,
            opts: WriteOptions::SYNC,
        }
    }

    /// The same storage with other write options.
    pub fn with_options(mut self, opts: WriteOptions) -> StandaloneStorage {
        self.opts = opts;
        self
    }

    /// The engine underneath.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }
}

impl Storage for StandaloneStorage {
    fn write(&self, _ctx: &Context, batch: WriteBatch) -> Result<(), Error> {
        // SOLUTION BEGIN p1: apply the whole batch to the engine in one atomic write, with this storage's write options
        self.engine.write(&batch, self.opts)
        // SOLUTION END
    }

    fn reader(&self, _ctx: &Context) -> Result<Box<dyn Snapshot>, Error> {
        // SOLUTION BEGIN p1: a point-in-time reader is an engine snapshot
        self.engine.snapshot()
        // SOLUTION END
    }
}
