//! The engine abstraction: column families, write batches, point-in-time
//! snapshots and their cursors. Everything above (the standalone storage,
//! the raftstore of Project 2, the transactions of Project 4) talks to an
//! engine only through these types.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A keyspace of an engine. The three data CFs are TinyKV's; [`Cf::Meta`] is
/// the raw keyspace the raftstore keeps its metadata and raft log in (the
/// reference writes those keys unprefixed, starting with byte `0x01`).
///
/// Keys of different CFs never collide: each CF is its own ordered map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Cf {
    /// `default`: values (Project 4: `EncodeKey(key, start_ts)` → value).
    Default,
    /// `lock`: Percolator locks, at the raw user key.
    Lock,
    /// `write`: Percolator commit records.
    Write,
    /// Raftstore metadata and log entries. Not reachable through the raw
    /// API and never touched by [`Modify::DeleteRange`].
    Meta,
}

impl Cf {
    /// The data CFs, in the reference's `CFs` order (default, write, lock).
    pub const DATA: [Cf; 3] = [Cf::Default, Cf::Write, Cf::Lock];
    /// Every keyspace, data CFs first.
    pub const ALL: [Cf; 4] = [Cf::Default, Cf::Write, Cf::Lock, Cf::Meta];

    /// The CF's name as clients spell it.
    pub fn name(self) -> &'static str {
        match self {
            Cf::Default => "default",
            Cf::Lock => "lock",
            Cf::Write => "write",
            Cf::Meta => "meta",
        }
    }

    /// Dense index, for engines that keep one structure per CF.
    pub(crate) fn index(self) -> usize {
        match self {
            Cf::Default => 0,
            Cf::Write => 1,
            Cf::Lock => 2,
            Cf::Meta => 3,
        }
    }
}

impl fmt::Display for Cf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Cf {
    type Err = Error;

    /// Parses a client-supplied CF name: `default`, `lock` or `write`. The
    /// empty name means `default`, as in TiKV. `meta` is refused: clients
    /// must not reach the raftstore's keyspace.
    fn from_str(name: &str) -> Result<Cf, Error> {
        match name {
            "" | "default" => Ok(Cf::Default),
            "lock" => Ok(Cf::Lock),
            "write" => Ok(Cf::Write),
            other => Err(Error::UnknownCf(other.to_string())),
        }
    }
}

/// One change in a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Modify {
    /// Sets `key` in `cf` to `value`. An empty value is a value like any
    /// other: reading it back gives `Some(vec![])` (see [`WriteBatch`]).
    Put {
        /// The keyspace.
        cf: Cf,
        /// The key.
        key: Vec<u8>,
        /// The value, possibly empty.
        value: Vec<u8>,
    },
    /// Removes `key` from `cf` (a no-op if absent).
    Delete {
        /// The keyspace.
        cf: Cf,
        /// The key.
        key: Vec<u8>,
    },
    /// Removes every key in `[start, end)` from every data CF (default,
    /// lock, write; not [`Cf::Meta`]); an empty `end` means no upper bound,
    /// and `start >= end` (with `end` non-empty) removes nothing.
    /// Used to wipe a region's data before a snapshot is applied.
    DeleteRange {
        /// First key removed.
        start: Vec<u8>,
        /// First key kept; empty for "to the end".
        end: Vec<u8>,
    },
}

impl Modify {
    /// The modified CF (`None` for a range deletion, which spans the data CFs).
    pub fn cf(&self) -> Option<Cf> {
        match self {
            Modify::Put { cf, .. } | Modify::Delete { cf, .. } => Some(*cf),
            Modify::DeleteRange { .. } => None,
        }
    }

    /// The modified key (the start key of a range deletion).
    pub fn key(&self) -> &[u8] {
        match self {
            Modify::Put { key, .. } | Modify::Delete { key, .. } => key,
            Modify::DeleteRange { start, .. } => start,
        }
    }
}

/// Changes applied **atomically and in order**: after a crash or to any
/// concurrent reader, either all of a batch is visible or none of it; a
/// later change to a key within one batch wins over an earlier one.
///
/// # Empty values
/// The reference engine writes an empty value as a *delete* (a badger
/// limitation leaking through). We do better: an empty value is stored and
/// read back as `Some(vec![])`. Nothing in the course depends on the quirk
/// (raft entries, apply states, locks and write records are never empty),
/// and a raw client that puts `""` and then reads `not_found` would be
/// surprised. Both engines share this rule and the conformance suite pins it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteBatch {
    modifies: Vec<Modify>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// Adds a put.
    pub fn put(&mut self, cf: Cf, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.modifies.push(Modify::Put {
            cf,
            key: key.into(),
            value: value.into(),
        });
    }

    /// Adds a delete.
    pub fn delete(&mut self, cf: Cf, key: impl Into<Vec<u8>>) {
        self.modifies.push(Modify::Delete {
            cf,
            key: key.into(),
        });
    }

    /// Adds a range deletion over the data CFs (see [`Modify::DeleteRange`]).
    pub fn delete_range(&mut self, start: impl Into<Vec<u8>>, end: impl Into<Vec<u8>>) {
        self.modifies.push(Modify::DeleteRange {
            start: start.into(),
            end: end.into(),
        });
    }

    /// Adds an already built change.
    pub fn push(&mut self, modify: Modify) {
        self.modifies.push(modify);
    }

    /// The changes, in order.
    pub fn modifies(&self) -> &[Modify] {
        &self.modifies
    }

    /// The changes, in order, by value.
    pub fn into_modifies(self) -> Vec<Modify> {
        self.modifies
    }

    /// Number of changes.
    pub fn len(&self) -> usize {
        self.modifies.len()
    }

    /// Whether the batch has no change.
    pub fn is_empty(&self) -> bool {
        self.modifies.is_empty()
    }
}

impl From<Vec<Modify>> for WriteBatch {
    fn from(modifies: Vec<Modify>) -> WriteBatch {
        WriteBatch { modifies }
    }
}

/// How a write is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOptions {
    /// When true, `write` returns only once the batch is on stable storage:
    /// it survives the process being killed (and, as far as the OS's fsync
    /// goes, the machine losing power). When false the batch may be lost on
    /// a crash — but never torn: the engine reopens at some earlier batch
    /// boundary. Ignored by the in-memory engine.
    pub sync: bool,
}

impl WriteOptions {
    /// Durable writes.
    pub const SYNC: WriteOptions = WriteOptions { sync: true };
    /// Fast writes that a crash may undo.
    pub const NO_SYNC: WriteOptions = WriteOptions { sync: false };
}

/// A storage engine: applies batches and hands out snapshots.
///
/// Engines are shared (`Arc<dyn Engine>`) between threads and tasks;
/// writes are serialized by the engine. Implementations must be
/// deterministic: the same sequence of calls gives the same results, with
/// no background activity that could change what a reader sees.
pub trait Engine: Send + Sync {
    /// Applies `batch` atomically (see [`WriteBatch`]). On error nothing of
    /// the batch is applied.
    fn write(&self, batch: &WriteBatch, opts: WriteOptions) -> Result<(), Error>;

    /// A point-in-time view of every CF: later writes are invisible to it.
    fn snapshot(&self) -> Result<Box<dyn Snapshot>, Error>;
}

/// A consistent read-only view of an engine at one moment.
pub trait Snapshot: Send + Sync {
    /// The value of `key` in `cf`; `Ok(None)` when absent (not an error).
    fn get_cf(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, Error>;

    /// A cursor over `cf` in ascending byte order of keys, positioned at the
    /// first key. Several cursors may be open on one snapshot at once.
    fn iter_cf(&self, cf: Cf) -> Result<Box<dyn DbIterator + '_>, Error>;

    /// Up to `limit` pairs of `cf` with keys `>= start`, in order.
    fn scan_cf(&self, cf: Cf, start: &[u8], limit: usize) -> Result<Vec<KvPair>, Error> {
        let mut it = self.iter_cf(cf)?;
        it.seek(start)?;
        let mut out = Vec::new();
        while out.len() < limit {
            let Some((key, value)) = it.item() else { break };
            out.push(KvPair {
                key: key.to_vec(),
                value: value.to_vec(),
            });
            it.next()?;
        }
        Ok(out)
    }
}

/// A key and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvPair {
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
}

/// A cursor over one CF of a [`Snapshot`] (the reference `DBIterator`).
///
/// ```text
/// it.seek(b"k")?;
/// while let Some((key, value)) = it.item() { …; it.next()?; }
/// ```
pub trait DbIterator {
    /// Moves to the first key `>= key`.
    fn seek(&mut self, key: &[u8]) -> Result<(), Error>;
    /// The current pair, or `None` once past the last key.
    fn item(&self) -> Option<(&[u8], &[u8])>;
    /// Moves to the next key (no-op when not valid).
    fn next(&mut self) -> Result<(), Error>;
    /// Whether the cursor is at a pair.
    fn valid(&self) -> bool {
        self.item().is_some()
    }
}
