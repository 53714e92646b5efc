//! The command-test builder (the reference `commands_test.go`), shared by
//! the test files: a [`TxnServer`] over a storage whose engine records which
//! keys the server wrote, so a test can check that fixture entries were
//! left untouched, and timestamps handed out as the reference does
//! (`prev_ts` starts at 99; a commit is at start + 10).
//!
//! Every test runs on both engines: [`on_both_engines!`] makes
//! `mem::<name>` and `disk::<name>` of each test function `fn(disk: bool)`.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tinykv_storage::{
    Cf, DiskEngine, Engine, MemEngine, Modify, Snapshot, StandaloneStorage, WriteBatch,
    WriteOptions,
};
use tinykv_txn::proto::*;
use tinykv_txn::{TxnServer, encode_key};

/// Runs each named `fn(disk: bool)` on the memory and the disk engine.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod mem {
            $( #[test] fn $name() { super::$name(false) } )*
        }
        mod disk {
            $( #[test] fn $name() { super::$name(true) } )*
        }
    };
}

/// An engine that remembers every key written through [`Engine::write`]
/// (the reference `MemStorage`'s "not fresh" marks). Fixtures go to the
/// inner engine directly and stay fresh.
pub struct Tracked {
    inner: Arc<dyn Engine>,
    written: Mutex<BTreeSet<(Cf, Vec<u8>)>>,
}

impl Engine for Tracked {
    fn write(&self, batch: &WriteBatch, opts: WriteOptions) -> Result<(), tinykv_storage::Error> {
        let mut written = self.written.lock().unwrap();
        for modify in batch.modifies() {
            match modify {
                Modify::Put { cf, key, .. } | Modify::Delete { cf, key } => {
                    written.insert((*cf, key.clone()));
                }
                Modify::DeleteRange { .. } => panic!("a command wrote a range deletion"),
            }
        }
        self.inner.write(batch, opts)
    }

    fn snapshot(&self) -> Result<Box<dyn Snapshot>, tinykv_storage::Error> {
        self.inner.snapshot()
    }
}

/// A fresh engine: in memory, or on disk in a temporary directory (kept
/// alive by the returned guard).
pub fn engine(disk: bool) -> (Arc<dyn Engine>, Option<tempfile::TempDir>) {
    if disk {
        let dir = tempfile::tempdir().unwrap();
        (Arc::new(DiskEngine::open(dir.path()).unwrap()), Some(dir))
    } else {
        (Arc::new(MemEngine::new()), None)
    }
}

/// Writes one raw entry, bypassing the server.
pub fn set(engine: &dyn Engine, cf: Cf, key: &[u8], value: &[u8]) {
    let mut batch = WriteBatch::new();
    batch.put(cf, key, value);
    engine.write(&batch, WriteOptions::NO_SYNC).unwrap();
}

/// The number of entries of `cf`.
pub fn len(engine: &dyn Engine, cf: Cf) -> usize {
    let snapshot = engine.snapshot().unwrap();
    let mut it = snapshot.iter_cf(cf).unwrap();
    it.seek(&[]).unwrap();
    let mut n = 0;
    while it.valid() {
        n += 1;
        it.next().unwrap();
    }
    n
}

/// One entry of a fixture or an expectation (the reference `kv`). `ts` 0
/// means the builder's latest timestamp; for an expectation, `value: None`
/// means "exists and was not written by the server".
#[derive(Debug, Clone)]
pub struct Kv {
    pub cf: Cf,
    pub key: Vec<u8>,
    pub ts: u64,
    pub value: Option<Vec<u8>>,
}

/// An entry with a value.
pub fn kv(cf: Cf, key: &[u8], ts: u64, value: &[u8]) -> Kv {
    Kv {
        cf,
        key: key.to_vec(),
        ts,
        value: Some(value.to_vec()),
    }
}

/// An expectation that the entry exists, untouched.
pub fn same(cf: Cf, key: &[u8], ts: u64) -> Kv {
    Kv {
        cf,
        key: key.to_vec(),
        ts,
        value: None,
    }
}

/// A Put or Del mutation of a one-byte key.
pub fn mutation(key: u8, value: &[u8], op: Op) -> Mutation {
    Mutation {
        op,
        key: vec![key],
        value: value.to_vec(),
    }
}

/// The reference `testBuilder`.
pub struct Builder {
    pub server: TxnServer,
    engine: Arc<Tracked>,
    pub prev_ts: u64,
    _dir: Option<tempfile::TempDir>,
}

impl Builder {
    pub fn new(disk: bool) -> Builder {
        let (inner, dir) = engine(disk);
        let engine = Arc::new(Tracked {
            inner,
            written: Mutex::new(BTreeSet::new()),
        });
        let storage = StandaloneStorage::new(engine.clone()).with_options(WriteOptions::NO_SYNC);
        Builder {
            server: TxnServer::new(Arc::new(storage)),
            engine,
            prev_ts: 99,
            _dir: dir,
        }
    }

    fn raw_key(&self, kv: &Kv) -> Vec<u8> {
        let ts = if kv.ts == 0 { self.prev_ts } else { kv.ts };
        match kv.cf {
            Cf::Default | Cf::Write => encode_key(&kv.key, ts),
            _ => kv.key.clone(),
        }
    }

    /// Seeds the engine, bypassing the server.
    pub fn init(&self, kvs: &[Kv]) {
        for kv in kvs {
            let value = kv.value.clone().unwrap_or_default();
            set(&*self.engine.inner, kv.cf, &self.raw_key(kv), &value);
        }
    }

    pub fn next_ts(&mut self) -> u64 {
        self.prev_ts += 1;
        self.prev_ts
    }

    /// The latest timestamp as a byte (for record literals).
    pub fn ts(&self) -> u8 {
        self.prev_ts as u8
    }

    /// Checks each entry's value, or with no value that it exists and the
    /// server never wrote it.
    pub fn assert(&self, kvs: &[Kv]) {
        let snapshot = self.engine.snapshot().unwrap();
        for kv in kvs {
            let key = self.raw_key(kv);
            let got = snapshot.get_cf(kv.cf, &key).unwrap();
            match &kv.value {
                Some(value) => assert_eq!(got.as_ref(), Some(value), "{kv:?}"),
                None => {
                    assert!(got.is_some(), "{kv:?} is gone");
                    let written = self.engine.written.lock().unwrap();
                    assert!(!written.contains(&(kv.cf, key)), "{kv:?} was rewritten");
                }
            }
        }
    }

    pub fn assert_len(&self, cf: Cf, n: usize) {
        assert_eq!(len(&*self.engine, cf), n, "entries in {cf}");
    }

    /// Entries in default, lock and write.
    pub fn assert_lens(&self, default: usize, lock: usize, write: usize) {
        self.assert_len(Cf::Default, default);
        self.assert_len(Cf::Lock, lock);
        self.assert_len(Cf::Write, write);
    }

    /// Primary `[1]`, start = next timestamp.
    pub fn prewrite_request(&mut self, mutations: Vec<Mutation>) -> PrewriteRequest {
        PrewriteRequest {
            mutations,
            primary_lock: vec![1],
            start_version: self.next_ts(),
            ..Default::default()
        }
    }

    /// Start = next timestamp, commit = start + 10.
    pub fn commit_request(&mut self, keys: &[&[u8]]) -> CommitRequest {
        let start_version = self.next_ts();
        CommitRequest {
            start_version,
            keys: keys.iter().map(|k| k.to_vec()).collect(),
            commit_version: start_version + 10,
            ..Default::default()
        }
    }

    pub fn rollback_request(&mut self, keys: &[&[u8]]) -> BatchRollbackRequest {
        BatchRollbackRequest {
            start_version: self.next_ts(),
            keys: keys.iter().map(|k| k.to_vec()).collect(),
            ..Default::default()
        }
    }

    /// Lock ts `5 << 40 | ts`, current ts `6 << 40 | ts`: physical parts
    /// 4,194,304 ms apart.
    pub fn check_txn_status_request(&mut self, key: &[u8]) -> CheckTxnStatusRequest {
        let ts = self.next_ts() & 0xff;
        CheckTxnStatusRequest {
            primary_key: key.to_vec(),
            lock_ts: (5 << 40) | ts,
            current_ts: (6 << 40) | ts,
            ..Default::default()
        }
    }

    pub fn scan_request(&mut self, start_key: &[u8], limit: u32) -> ScanRequest {
        ScanRequest {
            start_key: start_key.to_vec(),
            limit,
            version: self.next_ts(),
            ..Default::default()
        }
    }

    pub fn get(&self, key: &[u8], version: u64) -> GetResponse {
        let resp = self
            .server
            .kv_get(GetRequest {
                key: key.to_vec(),
                version,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(resp.region_error, None);
        resp
    }
}

pub fn resolve_request(start_version: u64, commit_version: u64) -> ResolveLockRequest {
    ResolveLockRequest {
        start_version,
        commit_version,
        ..Default::default()
    }
}
