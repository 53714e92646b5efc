//! The store's two engines as the raftstore sees them: what is synced
//! when (see the durability notes in [`super`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

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
    let log_gc = LogGc::start(kv.clone(), raft_dirty.clone(), stats.clone());
    let raft = Arc::new(RaftEngine {
        inner: raft,
        kv: kv.clone(),
        dirty: raft_dirty,
        durable,
        stats: stats.clone(),
        states: Mutex::default(),
        log_gc,
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
    /// Held only to add to it or take it whole.
    buffer: Mutex<(WriteBatch, usize)>,
    /// Held from taking the buffer until the engine has it: writes reach
    /// the engine in order, and a read waits for a write in flight. The
    /// buffer stays open meanwhile, so applying goes on while a sync
    /// (the raft-log GC's, on its own thread) is on disk.
    writer: Mutex<()>,
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
            writer: Mutex::new(()),
            dirty: AtomicBool::new(false),
            raft,
            durable,
            stats,
        }
    }

    /// Writes what gathered, with `then` appended, as one engine write
    /// with `opts`, under the writer lock.
    fn flush_with(
        &self,
        then: Option<&WriteBatch>,
        opts: WriteOptions,
    ) -> Result<(), tinykv_storage::Error> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        self.flush_locked(then, opts)
    }

    /// [`flush_with`](Self::flush_with) if no write is in flight; else
    /// nothing (what gathered goes with the next one).
    fn try_flush(&self) -> Result<(), tinykv_storage::Error> {
        match self.writer.try_lock() {
            Ok(_writer) => self.flush_locked(None, WriteOptions::NO_SYNC),
            Err(std::sync::TryLockError::Poisoned(e)) => {
                let _writer = e.into_inner();
                self.flush_locked(None, WriteOptions::NO_SYNC)
            }
            Err(std::sync::TryLockError::WouldBlock) => Ok(()),
        }
    }

    /// The body of [`flush_with`](Self::flush_with); the caller holds the
    /// writer lock.
    fn flush_locked(
        &self,
        then: Option<&WriteBatch>,
        opts: WriteOptions,
    ) -> Result<(), tinykv_storage::Error> {
        let mut batch = {
            let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
            if buffer.1 == 0 && then.is_none() && !opts.sync {
                return Ok(());
            }
            buffer.1 = 0;
            std::mem::take(&mut buffer.0)
        };
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
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let gathered = self.buffer.lock().unwrap_or_else(|e| e.into_inner()).1 > 0;
        if !gathered && !self.dirty.load(Ordering::Acquire) {
            return Ok(());
        }
        self.flush_locked(None, WriteOptions::SYNC)
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
            self.try_flush()?;
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
///
/// Raft-log GC (a batch that only deletes log entries, unsynced: the
/// raftstore's `gc_raft_log`) is handed to [`LogGc`]'s thread, as the
/// reference's raft-log-GC worker. On the store's own thread, syncing the
/// kv engine and deleting 10,000 entries took ~65 ms (measured on one
/// engine pair alone), and with all three stores compacting at once a
/// put crossing a GC waited up to ~235 ms.
pub struct RaftEngine {
    inner: Arc<dyn Engine>,
    kv: Arc<KvEngine>,
    /// Unsynced writes since the last sync (shared with the kv engine).
    dirty: Arc<RaftDirty>,
    durable: bool,
    stats: Arc<Stats>,
    /// The raft state last written, by its key.
    states: Mutex<BTreeMap<Vec<u8>, RaftLocalState>>,
    log_gc: LogGc,
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
        if !opts.sync && is_log_gc(batch) && self.log_gc.submit(batch) {
            // Entries below the truncated index: nothing reads them, and
            // nothing writes them again (new entries come above it).
            return Ok(());
        }
        // Log entries may go (compaction, a snapshot, a destroyed peer)
        // only once what was applied from them is durable; and a GC still
        // queued goes first (a destroyed peer's region may come back and
        // write its log from the start).
        let deletes = batch
            .modifies()
            .iter()
            .any(|m| !matches!(m, Modify::Put { .. }));
        if deletes {
            self.log_gc.drain();
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

/// Whether `batch` only deletes raft-log entries (of any regions).
fn is_log_gc(batch: &WriteBatch) -> bool {
    !batch.is_empty()
        && batch.modifies().iter().all(|m| match m {
            Modify::Delete { cf: Cf::Meta, key } => key
                .get(2..10)
                .and_then(|id| id.try_into().ok())
                .map(u64::from_be_bytes)
                .is_some_and(|region| keys::raft_log_index(region, key).is_some()),
            _ => false,
        })
}

/// How many entries one GC engine write deletes at most: the engine takes
/// one writer at a time, so the store's own writes wait for one chunk, not
/// for a whole GC.
pub const LOG_GC_CHUNK: usize = 1024;

enum GcJob {
    Delete(WriteBatch),
    /// Answered once every job before it is done.
    Barrier(mpsc::Sender<()>),
}

/// The raft-log GC thread: for each batch, syncs the kv engine (the
/// truncated state that made the entries garbage, and everything applied
/// from them) and then deletes the entries, [`LOG_GC_CHUNK`] at a time,
/// unsynced. A failure leaves the entries in place (a warning): garbage
/// below the truncated index, which the next GC after a restart takes.
struct LogGc {
    /// None without a thread.
    jobs: Option<mpsc::Sender<GcJob>>,
    worker: Option<JoinHandle<()>>,
}

impl LogGc {
    /// The thread, deleting from `raft`'s engine after syncing `kv`.
    fn start(kv: Arc<KvEngine>, raft: Arc<RaftDirty>, stats: Arc<Stats>) -> LogGc {
        let (jobs, queue) = mpsc::channel::<GcJob>();
        let worker = std::thread::Builder::new()
            .name("raft-log-gc".into())
            .spawn(move || {
                for job in queue {
                    match job {
                        GcJob::Delete(batch) => {
                            if let Err(e) = gc(&batch, &kv, &raft) {
                                tracing::warn!("raft-log GC failed (entries kept): {e}");
                            } else {
                                stats.log_gcs.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        GcJob::Barrier(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            })
            .ok();
        if worker.is_none() {
            tracing::warn!("no raft-log GC thread: GC runs on the store's own");
        }
        LogGc {
            jobs: worker.is_some().then_some(jobs),
            worker,
        }
    }

    /// Queues `batch`; false if there is no thread to take it (it could
    /// not start): the caller does the GC itself.
    fn submit(&self, batch: &WriteBatch) -> bool {
        self.jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(GcJob::Delete(batch.clone())).is_ok())
    }

    /// Returns once every GC queued before the call is done.
    fn drain(&self) {
        let Some(jobs) = &self.jobs else { return };
        let (done, wait) = mpsc::channel();
        if jobs.send(GcJob::Barrier(done)).is_ok() {
            let _ = wait.recv();
        }
    }
}

impl Drop for LogGc {
    fn drop(&mut self) {
        // The thread finishes what is queued and ends with the queue.
        drop(self.jobs.take());
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// One GC: the kv engine synced, then the entries deleted (unsynced, so
/// the raft engine is marked dirty).
fn gc(batch: &WriteBatch, kv: &KvEngine, raft: &RaftDirty) -> Result<(), tinykv_storage::Error> {
    kv.sync()?;
    for chunk in batch.modifies().chunks(LOG_GC_CHUNK) {
        raft.engine
            .write(&WriteBatch::from(chunk.to_vec()), WriteOptions::NO_SYNC)?;
        raft.dirty.store(true, Ordering::Release);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Condvar;
    use std::time::Duration;

    use tinykv_storage::MemEngine;

    use super::*;

    /// What the engines were asked to write, in order: `(engine, synced,
    /// what)`, `what` naming the batch's first modify.
    type Record = Arc<Mutex<Vec<(&'static str, bool, String)>>>;

    /// A memory engine that records its writes; the raft one holds the
    /// GC thread's writes until the test opens its gate.
    struct Recording {
        name: &'static str,
        inner: MemEngine,
        record: Record,
        gate: Option<Arc<(Mutex<bool>, Condvar)>>,
    }

    impl Engine for Recording {
        fn write(
            &self,
            batch: &WriteBatch,
            opts: WriteOptions,
        ) -> Result<(), tinykv_storage::Error> {
            let on_gc_thread = std::thread::current().name() == Some("raft-log-gc");
            if let (true, Some(gate)) = (on_gc_thread, &self.gate) {
                let (open, changed) = &**gate;
                let mut open = open.lock().unwrap();
                while !*open {
                    open = changed.wait(open).unwrap();
                }
            }
            let what = match batch.modifies().first() {
                Some(Modify::Delete { key, .. }) => format!("delete {} x{}", key[18], batch.len()),
                Some(m) => format!("put {}", m.key().escape_ascii()),
                None => "empty".into(),
            };
            self.record
                .lock()
                .unwrap()
                .push((self.name, opts.sync, what));
            self.inner.write(batch, opts)
        }

        fn snapshot(&self) -> Result<Box<dyn Snapshot>, tinykv_storage::Error> {
            self.inner.snapshot()
        }
    }

    struct Fixture {
        raft: Arc<RaftEngine>,
        kv: Arc<KvEngine>,
        record: Record,
        gate: Arc<(Mutex<bool>, Condvar)>,
        stats: Arc<Stats>,
    }

    fn fixture(gate_open: bool) -> Fixture {
        let record = Record::default();
        let gate = Arc::new((Mutex::new(gate_open), Condvar::new()));
        let engine = |name, gate| Recording {
            name,
            inner: MemEngine::new(),
            record: record.clone(),
            gate,
        };
        let stats = Arc::new(Stats::default());
        let (raft, kv) = wrap(
            Arc::new(engine("raft", Some(gate.clone()))),
            Arc::new(engine("kv", None)),
            true,
            &stats,
        );
        Fixture {
            raft,
            kv,
            record,
            gate,
            stats,
        }
    }

    fn open(gate: &(Mutex<bool>, Condvar)) {
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
    }

    fn gc_batch(region: u64, indexes: std::ops::RangeInclusive<u64>) -> WriteBatch {
        let mut batch = WriteBatch::new();
        for index in indexes {
            batch.delete(Cf::Meta, keys::raft_log_key(region, index));
        }
        batch
    }

    fn entries(region: u64, indexes: std::ops::RangeInclusive<u64>) -> WriteBatch {
        let mut batch = WriteBatch::new();
        for index in indexes {
            batch.put(
                Cf::Meta,
                keys::raft_log_key(region, index),
                b"entry".to_vec(),
            );
        }
        batch
    }

    /// A GC batch returns at once (its deletes wait for the gate), and
    /// on its thread the kv engine is synced, with what was applied,
    /// before any entry goes; the entries go in chunks.
    #[test]
    fn log_gc_runs_on_its_thread_after_a_kv_sync() {
        let f = fixture(false);
        f.raft
            .write(&entries(1, 1..=2500), WriteOptions::SYNC)
            .unwrap();
        let mut applied = WriteBatch::new();
        applied.put(Cf::Default, b"k".to_vec(), b"v".to_vec());
        f.kv.write(&applied, WriteOptions::NO_SYNC).unwrap();
        // Returns while the gate is shut: the store's loop does not wait.
        f.raft
            .write(&gc_batch(1, 1..=2500), WriteOptions::NO_SYNC)
            .unwrap();
        open(&f.gate);
        f.raft.log_gc.drain();
        let record = f.record.lock().unwrap().clone();
        let kv_sync = record
            .iter()
            .position(|(e, sync, what)| *e == "kv" && *sync && what == "put k")
            .expect("the kv engine was synced with the applied write");
        let deletes: Vec<usize> = (0..record.len())
            .filter(|&i| record[i].2.starts_with("delete"))
            .collect();
        assert_eq!(
            deletes.len(),
            3,
            "2,500 entries in chunks of 1,024: {record:?}"
        );
        assert!(deletes.iter().all(|&d| d > kv_sync), "{record:?}");
        assert!(deletes.iter().all(|&d| !record[d].1), "GC is not synced");
        let view = f.raft.snapshot().unwrap();
        assert_eq!(
            view.get_cf(Cf::Meta, &keys::raft_log_key(1, 1)).unwrap(),
            None
        );
        assert_eq!(
            view.get_cf(Cf::Meta, &keys::raft_log_key(1, 2500)).unwrap(),
            None
        );
        assert_eq!(f.stats.log_gcs.load(Ordering::Relaxed), 1);
    }

    /// A write that deletes otherwise (a destroyed peer, a snapshot)
    /// waits for the GC queued before it: a region destroyed and created
    /// again must not lose its new entries to an old GC.
    #[test]
    fn a_destroy_waits_for_the_gc_before_it() {
        let f = fixture(false);
        f.raft
            .write(&entries(1, 1..=10), WriteOptions::SYNC)
            .unwrap();
        f.raft
            .write(&gc_batch(1, 1..=8), WriteOptions::NO_SYNC)
            .unwrap();
        let raft = f.raft.clone();
        let destroy = std::thread::spawn(move || {
            let mut clear = gc_batch(1, 9..=10);
            clear.delete(Cf::Meta, keys::raft_state_key(1));
            raft.write(&clear, WriteOptions::SYNC).unwrap();
            // The region comes back and writes its log from the start.
            raft.write(&entries(1, 1..=3), WriteOptions::SYNC).unwrap();
        });
        std::thread::sleep(Duration::from_millis(100));
        let went_ahead = destroy.is_finished();
        // (Opened before asserting: a failing test's drop joins the GC
        // thread.)
        open(&f.gate);
        destroy.join().unwrap();
        assert!(
            !went_ahead,
            "the destroy went ahead of the queued GC: {:?}",
            f.record.lock().unwrap()
        );
        let view = f.raft.snapshot().unwrap();
        for index in 1..=3 {
            assert!(
                view.get_cf(Cf::Meta, &keys::raft_log_key(1, index))
                    .unwrap()
                    .is_some(),
                "entry {index} of the new log is gone"
            );
        }
    }

    /// Only unsynced batches of log-entry deletes are GC.
    #[test]
    fn what_counts_as_log_gc() {
        assert!(is_log_gc(&gc_batch(7, 1..=3)));
        assert!(!is_log_gc(&WriteBatch::new()));
        let mut with_state = gc_batch(7, 1..=3);
        with_state.delete(Cf::Meta, keys::raft_state_key(7));
        assert!(!is_log_gc(&with_state));
        assert!(!is_log_gc(&entries(7, 1..=3)));
        let mut other_cf = WriteBatch::new();
        other_cf.delete(Cf::Default, keys::raft_log_key(7, 1));
        assert!(!is_log_gc(&other_cf));
    }
}
