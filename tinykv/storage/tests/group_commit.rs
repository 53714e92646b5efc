//! `GroupCommit`: concurrent synced writes share engine writes, each batch
//! stays atomic, each caller's writes keep their order, a failed group
//! fails each of its callers, and a lone caller is the bare engine.
//!
//! Groups are made deterministic with a gated engine: the first write
//! blocks inside the engine until the test has seen the other callers
//! queue (`GroupCommit::waiting`), then the queued ones must form one group.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tinykv_storage::{
    Cf, DiskEngine, Engine, Error, GroupCommit, GroupStats, MemEngine, Snapshot, WriteBatch,
    WriteOptions,
};

/// A `MemEngine` whose writes can be held at a gate, can refuse batches
/// holding the key `bad`, panic on `boom`, and that counts its writes.
#[derive(Default)]
struct Gated {
    inner: MemEngine,
    closed: Mutex<bool>,
    opened: Condvar,
    inside: AtomicUsize,
    writes: AtomicUsize,
}

impl Gated {
    fn closed() -> Arc<Gated> {
        let gated = Arc::new(Gated::default());
        *gated.closed.lock().unwrap() = true;
        gated
    }

    fn open(&self) {
        *self.closed.lock().unwrap() = false;
        self.opened.notify_all();
    }
}

impl Engine for Gated {
    fn write(&self, batch: &WriteBatch, opts: WriteOptions) -> Result<(), Error> {
        self.inside.fetch_add(1, Ordering::SeqCst);
        let mut closed = self.closed.lock().unwrap();
        while *closed {
            closed = self.opened.wait(closed).unwrap();
        }
        drop(closed);
        self.writes.fetch_add(1, Ordering::SeqCst);
        if batch.modifies().iter().any(|m| m.key() == b"boom") {
            panic!("engine blew up");
        }
        if batch.modifies().iter().any(|m| m.key() == b"bad") {
            return Err(Error::Io("fsync failed".into()));
        }
        self.inner.write(batch, opts)
    }

    fn snapshot(&self) -> Result<Box<dyn Snapshot>, Error> {
        self.inner.snapshot()
    }
}

fn put(key: &str, value: &str) -> WriteBatch {
    let mut batch = WriteBatch::new();
    batch.put(Cf::Default, key, value);
    batch
}

fn get(engine: &dyn Engine, key: &str) -> Option<Vec<u8>> {
    engine
        .snapshot()
        .unwrap()
        .get_cf(Cf::Default, key.as_bytes())
        .unwrap()
}

/// What a writer thread ended with (`Err` if it panicked).
type Outcome = thread::Result<Result<(), Error>>;

/// Waits (at most 30 s) until `what` holds.
fn until(what: impl Fn() -> bool) {
    let start = Instant::now();
    while !what() {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Starts one caller that enters the gated engine, then `n` callers that
/// queue behind it, each writing `batches(i)`; opens the gate once all `n`
/// wait. Returns the first caller's and the others' outcomes.
fn grouped(
    gated: &Arc<Gated>,
    group: &Arc<GroupCommit>,
    n: usize,
    batches: impl Fn(usize) -> WriteBatch,
) -> (Outcome, Vec<Outcome>) {
    let first = {
        let group = group.clone();
        thread::spawn(move || group.write(&put("first", "1"), WriteOptions::SYNC))
    };
    until(|| gated.inside.load(Ordering::SeqCst) == 1);
    let others: Vec<_> = (0..n)
        .map(|i| {
            let (group, batch) = (group.clone(), batches(i));
            thread::spawn(move || group.write(&batch, WriteOptions::SYNC))
        })
        .collect();
    until(|| group.waiting() == n);
    gated.open();
    let first = first.join();
    (first, others.into_iter().map(|t| t.join()).collect())
}

#[test]
fn queued_synced_writes_share_one_engine_write() {
    let gated = Gated::closed();
    let group = Arc::new(GroupCommit::new(gated.clone()));
    let (first, others) = grouped(&gated, &group, 15, |i| {
        let mut batch = put(&format!("k{i:02}"), &format!("v{i}"));
        batch.put(Cf::Lock, format!("k{i:02}"), "lock");
        batch
    });
    assert_eq!(first.unwrap(), Ok(()));
    for outcome in others {
        assert_eq!(outcome.unwrap(), Ok(()));
    }
    // 16 batches, 2 engine writes: the first alone, the 15 queued together.
    assert_eq!(gated.writes.load(Ordering::SeqCst), 2);
    assert_eq!(
        group.stats(),
        GroupStats {
            batches: 16,
            writes: 2,
            largest: 15
        }
    );
    for i in 0..15 {
        let key = format!("k{i:02}");
        assert_eq!(get(&*group, &key), Some(format!("v{i}").into_bytes()));
        let lock = group.snapshot().unwrap().get_cf(Cf::Lock, key.as_bytes());
        assert_eq!(lock.unwrap(), Some(b"lock".to_vec()));
    }
}

#[test]
fn a_failed_group_fails_each_of_its_callers_and_applies_nothing() {
    let gated = Gated::closed();
    let group = Arc::new(GroupCommit::new(gated.clone()));
    // Four queued batches, one of which the engine refuses.
    let (first, others) = grouped(&gated, &group, 4, |i| {
        put(
            if i == 2 {
                "bad"
            } else {
                ["a", "b", "c", "d"][i]
            },
            "v",
        )
    });
    assert_eq!(first.unwrap(), Ok(()));
    for outcome in others {
        match outcome.unwrap() {
            Err(Error::GroupCommit { batches: 4, cause }) => {
                assert_eq!(*cause, Error::Io("fsync failed".into()));
            }
            other => panic!("expected the group's failure, got {other:?}"),
        }
    }
    for key in ["a", "b", "c", "d", "bad"] {
        assert_eq!(get(&*group, key), None, "{key} of a failed group applied");
    }
    assert_eq!(get(&*group, "first"), Some(b"1".to_vec()));
    // The engine is free again: the next write goes through.
    group.write(&put("after", "1"), WriteOptions::SYNC).unwrap();
    assert_eq!(get(&*group, "after"), Some(b"1".to_vec()));
}

#[test]
fn a_panicking_engine_fails_the_group_instead_of_hanging_it() {
    let gated = Gated::closed();
    let group = Arc::new(GroupCommit::new(gated.clone()));
    let (first, others) = grouped(&gated, &group, 3, |i| {
        put(if i == 1 { "boom" } else { ["x", "y", "z"][i] }, "v")
    });
    assert_eq!(first.unwrap(), Ok(()));
    // The leader's thread panics with the engine; the other two get an error.
    let (mut panicked, mut failed) = (0, 0);
    for outcome in others {
        match outcome {
            Err(_) => panicked += 1,
            Ok(Err(Error::GroupCommit { batches: 3, .. })) => failed += 1,
            Ok(other) => panic!("expected a failure, got {other:?}"),
        }
    }
    assert_eq!((panicked, failed), (1, 2));
    group.write(&put("after", "1"), WriteOptions::SYNC).unwrap();
    assert_eq!(get(&*group, "after"), Some(b"1".to_vec()));
}

#[test]
fn a_lone_caller_writes_straight_through() {
    let gated = Arc::new(Gated::default());
    let group = GroupCommit::new(gated.clone());
    for i in 0..10 {
        group
            .write(&put(&format!("k{i}"), "v"), WriteOptions::SYNC)
            .unwrap();
    }
    group
        .write(&put("unsynced", "v"), WriteOptions::NO_SYNC)
        .unwrap();
    assert_eq!(gated.writes.load(Ordering::SeqCst), 11);
    assert_eq!(
        group.stats(),
        GroupStats {
            batches: 10,
            writes: 10,
            largest: 1
        }
    );
}

/// Many threads on the disk engine: every acknowledged batch is there
/// after a reopen, each caller's last write wins for its keys, and no
/// concurrent reader ever sees half a batch.
#[test]
fn concurrent_writers_on_disk_keep_atomicity_and_order() {
    const THREADS: usize = 16;
    const WRITES: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let group = Arc::new(GroupCommit::new(Arc::new(
        DiskEngine::open(dir.path()).unwrap(),
    )));
    let stop = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (group, stop) = (group.clone(), stop.clone());
        thread::spawn(move || {
            let mut checked = 0;
            while stop.load(Ordering::SeqCst) == 0 {
                let snap = group.snapshot().unwrap();
                for t in 0..THREADS {
                    let a = snap.get_cf(Cf::Default, format!("a{t}").as_bytes());
                    let b = snap.get_cf(Cf::Write, format!("b{t}").as_bytes());
                    assert_eq!(a.unwrap(), b.unwrap(), "half a batch visible");
                }
                checked += 1;
            }
            checked
        })
    };
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let group = group.clone();
            thread::spawn(move || {
                for i in 0..WRITES {
                    let mut batch = WriteBatch::new();
                    batch.put(Cf::Default, format!("a{t}"), format!("{i}"));
                    batch.put(Cf::Write, format!("b{t}"), format!("{i}"));
                    batch.put(Cf::Default, format!("log{t}-{i:03}"), "x");
                    group.write(&batch, WriteOptions::SYNC).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(1, Ordering::SeqCst);
    assert!(reader.join().unwrap() > 0);
    let stats = group.stats();
    assert_eq!(stats.batches, (THREADS * WRITES) as u64);
    eprintln!(
        "{} batches in {} engine writes (largest group {})",
        stats.batches, stats.writes, stats.largest
    );
    drop(group);
    let engine = DiskEngine::open(dir.path()).unwrap();
    let snap = engine.snapshot().unwrap();
    let last = format!("{}", WRITES - 1).into_bytes();
    for t in 0..THREADS {
        let a = snap.get_cf(Cf::Default, format!("a{t}").as_bytes());
        assert_eq!(a.unwrap(), Some(last.clone()), "writer {t}'s order");
        for i in 0..WRITES {
            let key = format!("log{t}-{i:03}");
            assert!(snap.get_cf(Cf::Default, key.as_bytes()).unwrap().is_some());
        }
    }
}
