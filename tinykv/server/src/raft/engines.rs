//! The store's two engines as the raftstore sees them: what is synced
//! when (see the durability notes in [`super`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tinykv_raftstore::keys;
use tinykv_raftstore::meta::RaftLocalState;
use tinykv_storage::{Cf, Engine, Modify, Snapshot, WriteBatch, WriteOptions};

use super::Stats;

/// The raft engine and the kv engine over `raft` and `kv`, synced as the
/// store needs (nothing is synced when not `durable`).
pub fn wrap(
    raft: Arc<dyn Engine>,
    kv: Arc<dyn Engine>,
    durable: bool,
    stats: &Arc<Stats>,
) -> (Arc<RaftEngine>, Arc<KvEngine>) {
    let raft_dirty = Arc::new(RaftDirty {
        engine: raft.clone(),
        dirty: AtomicBool::new(false),
    });
    let kv = Arc::new(KvEngine::new(
        kv,
        raft_dirty.clone(),
        durable,
        stats.clone(),
    ));
    let raft = Arc::new(RaftEngine {
        inner: raft,
        kv: kv.clone(),
        dirty: raft_dirty,
        durable,
        stats: stats.clone(),
        states: Mutex::default(),
    });
    (raft, kv)
}

/// The kv engine: a normal apply's writes are neither synced nor even
/// committed one by one — they gather in memory and go to the engine as
/// one (unsynced) write when something reads the engine, when
/// [`KvEngine::sync`] is called, or once [`KV_BUFFER_BATCHES`] gathered.
/// Reads see every write made before them (a read flushes first), batches
/// stay atomic and in order (a crash loses a suffix of them, as unsynced
/// writes may be lost anyway), and each applied entry costs no engine
/// transaction of its own.
pub struct KvEngine {
    inner: Arc<dyn Engine>,
    /// Writes made and not yet handed to the engine, and how many batches.
    buffer: Mutex<(WriteBatch, usize)>,
    /// Written to the engine unsynced since the last sync.
    dirty: AtomicBool,
    /// The raft engine's unsynced writes: synced before this engine is.
    raft: Arc<RaftDirty>,
    durable: bool,
    stats: Arc<Stats>,
}

/// How many applied batches the kv engine gathers at most before writing
/// them.
pub const KV_BUFFER_BATCHES: usize = 256;

/// A key of ours in the kv engine's meta CF, rewritten by each sync so the
/// synced commit is never empty.
const KV_SYNC_KEY: &[u8] = b"\x7ftinykv-server/kv-sync";

impl KvEngine {
    fn new(
        inner: Arc<dyn Engine>,
        raft: Arc<RaftDirty>,
        durable: bool,
        stats: Arc<Stats>,
    ) -> KvEngine {
        KvEngine {
            inner,
            buffer: Mutex::new((WriteBatch::new(), 0)),
            dirty: AtomicBool::new(false),
            raft,
            durable,
            stats,
        }
    }

    /// Writes what gathered, with `then` appended, as one engine write
    /// with `opts`; holds the buffer's lock throughout so writes reach the
    /// engine in order.
    fn flush_with(
        &self,
        then: Option<&WriteBatch>,
        opts: WriteOptions,
    ) -> Result<(), tinykv_storage::Error> {
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        if buffer.1 == 0 && then.is_none() && !opts.sync {
            return Ok(());
        }
        let mut batch = std::mem::take(&mut buffer.0);
        buffer.1 = 0;
        if let Some(then) = then {
            for modify in then.modifies() {
                batch.push(modify.clone());
            }
        }
        if opts.sync {
            // Never more applied than committed on disk.
            self.raft.sync()?;
            batch.put(Cf::Meta, KV_SYNC_KEY, b"synced".to_vec());
        }
        self.inner.write(&batch, opts)?;
        if opts.sync {
            self.dirty.store(false, Ordering::Release);
            self.stats.kv_syncs.fetch_add(1, Ordering::Relaxed);
        } else {
            self.dirty.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Makes every write so far durable (nothing to do if it is).
    ///
    /// # Errors
    /// The engine's.
    pub fn sync(&self) -> Result<(), tinykv_storage::Error> {
        if !self.durable {
            return self.flush_with(None, WriteOptions::NO_SYNC);
        }
        let gathered = self.buffer.lock().unwrap_or_else(|e| e.into_inner()).1 > 0;
        if !gathered && !self.dirty.load(Ordering::Acquire) {
            return Ok(());
        }
        self.flush_with(None, WriteOptions::SYNC)
    }
}

impl Drop for KvEngine {
    fn drop(&mut self) {
        // A clean stop keeps what was applied.
        let _ = self.sync();
    }
}

/// Whether a kv batch changes a region's shape or state (a split, a
/// membership change, an installed snapshot, a destroyed peer): such a
/// batch is synced at once, as the reference's apply syncs admin commands.
fn changes_regions(batch: &WriteBatch) -> bool {
    batch.modifies().iter().any(|m| match m {
        Modify::DeleteRange { .. } => true,
        Modify::Put { cf, key, .. } | Modify::Delete { cf, key } => {
            *cf == Cf::Meta && key.starts_with(&[keys::LOCAL_PREFIX, 0x03])
        }
    })
}

impl Engine for KvEngine {
    fn write(&self, batch: &WriteBatch, _opts: WriteOptions) -> Result<(), tinykv_storage::Error> {
        if changes_regions(batch) {
            // At once, and durable (with every write before it).
            let opts = if self.durable {
                WriteOptions::SYNC
            } else {
                WriteOptions::NO_SYNC
            };
            return self.flush_with(Some(batch), opts);
        }
        let full = {
            let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
            for modify in batch.modifies() {
                buffer.0.push(modify.clone());
            }
            buffer.1 += 1;
            buffer.1 >= KV_BUFFER_BATCHES
        };
        if full {
            self.flush_with(None, WriteOptions::NO_SYNC)?;
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<Box<dyn Snapshot>, tinykv_storage::Error> {
        self.flush_with(None, WriteOptions::NO_SYNC)?;
        self.inner.snapshot()
    }
}

/// The raft engine: a write that changes entries, the term or the vote is
/// synced; one that only moves a region's commit index is not (raft needs
/// no durable commit index; the restart learns it again) — but the raft
/// engine is synced before the kv engine ever is, so a restart never finds
/// more applied than committed. A write that deletes log entries first
/// syncs the kv engine. Unsynced under `--no-sync`.
pub struct RaftEngine {
    inner: Arc<dyn Engine>,
    kv: Arc<KvEngine>,
    /// Unsynced writes since the last sync (shared with the kv engine).
    dirty: Arc<RaftDirty>,
    durable: bool,
    stats: Arc<Stats>,
    /// The raft state last written, by its key.
    states: Mutex<BTreeMap<Vec<u8>, RaftLocalState>>,
}

/// The raft engine's unsynced writes, as the kv engine sees them: it syncs
/// them before syncing itself.
pub struct RaftDirty {
    engine: Arc<dyn Engine>,
    dirty: AtomicBool,
}

/// A key of ours in the raft engine's meta CF, written by a bare sync.
const RAFT_SYNC_KEY: &[u8] = b"\x7ftinykv-server/raft-sync";

impl RaftDirty {
    /// Syncs the raft engine if it has unsynced writes.
    fn sync(&self) -> Result<(), tinykv_storage::Error> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        batch.put(Cf::Meta, RAFT_SYNC_KEY, b"synced".to_vec());
        let result = self.engine.write(&batch, WriteOptions::SYNC);
        if result.is_err() {
            self.dirty.store(true, Ordering::Release);
        }
        result
    }
}

impl RaftEngine {
    /// Whether `batch` only moves a region's commit index.
    fn commit_only(&self, batch: &WriteBatch) -> bool {
        let [
            Modify::Put {
                cf: Cf::Meta,
                key,
                value,
            },
        ] = batch.modifies()
        else {
            return false;
        };
        let states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        let Some(old) = states.get(key) else {
            return false;
        };
        let Ok(new) = tinykv_raftstore::meta::decode::<RaftLocalState>(key, value) else {
            return false;
        };
        (
            old.last_index,
            old.last_term,
            old.hard_state.term,
            old.hard_state.vote,
        ) == (
            new.last_index,
            new.last_term,
            new.hard_state.term,
            new.hard_state.vote,
        )
    }

    /// Remembers the raft states `batch` wrote.
    fn remember(&self, batch: &WriteBatch) {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        for modify in batch.modifies() {
            if let Modify::Put {
                cf: Cf::Meta,
                key,
                value,
            } = modify
                && key.len() == 11
                && key.starts_with(&[keys::LOCAL_PREFIX, 0x02])
                && let Ok(state) = tinykv_raftstore::meta::decode::<RaftLocalState>(key, value)
            {
                states.insert(key.clone(), state);
            }
        }
    }
}

impl Engine for RaftEngine {
    fn write(&self, batch: &WriteBatch, opts: WriteOptions) -> Result<(), tinykv_storage::Error> {
        // Log entries may go (compaction, a snapshot, a destroyed peer)
        // only once what was applied from them is durable.
        let deletes = batch
            .modifies()
            .iter()
            .any(|m| !matches!(m, Modify::Put { .. }));
        if deletes {
            self.kv.sync()?;
        }
        let sync = self.durable && opts.sync && !self.commit_only(batch);
        let opts = WriteOptions { sync };
        self.inner.write(batch, opts)?;
        if sync {
            self.dirty.dirty.store(false, Ordering::Release);
            self.stats.raft_syncs.fetch_add(1, Ordering::Relaxed);
        } else {
            self.dirty.dirty.store(true, Ordering::Release);
        }
        self.remember(batch);
        Ok(())
    }

    fn snapshot(&self) -> Result<Box<dyn Snapshot>, tinykv_storage::Error> {
        self.inner.snapshot()
    }
}
