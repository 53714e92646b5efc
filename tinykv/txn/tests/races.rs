//! Races a real server (many threads) can run into and the simulation (one
//! thread, each command one step) cannot: work a command does before it
//! takes its latches. Each test makes the race happen on purpose through a
//! storage that runs a hook at the racy moment.

use std::sync::{Arc, Mutex};

use tinykv_storage::{Context, MemEngine, Snapshot, StandaloneStorage, Storage, WriteBatch};
use tinykv_txn::TxnServer;
use tinykv_txn::proto::{
    CommitRequest, GetRequest, KeyError, Mutation, PrewriteRequest, ResolveLockRequest,
};

type Hook = Box<dyn FnOnce() + Send>;

/// A storage that runs its hook once, right after handing out the next
/// reader — for `KvResolveLock`, the scan for the transaction's locks,
/// which runs before the command latches its keys.
struct Racing {
    inner: Arc<StandaloneStorage>,
    hook: Mutex<Option<Hook>>,
}

impl Storage for Racing {
    fn write(&self, ctx: &Context, batch: WriteBatch) -> Result<(), tinykv_storage::Error> {
        self.inner.write(ctx, batch)
    }

    fn reader(&self, ctx: &Context) -> Result<Box<dyn Snapshot>, tinykv_storage::Error> {
        let reader = self.inner.reader(ctx)?;
        let hook = self.hook.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
        Ok(reader)
    }
}

fn prewrite(server: &TxnServer, start: u64, keys: &[&[u8]]) {
    let resp = server
        .kv_prewrite(PrewriteRequest {
            mutations: keys
                .iter()
                .map(|k| Mutation {
                    key: k.to_vec(),
                    value: format!("v{start}").into_bytes(),
                    ..Default::default()
                })
                .collect(),
            primary_lock: keys[0].to_vec(),
            start_version: start,
            lock_ttl: 10_000,
            ..Default::default()
        })
        .unwrap();
    assert!(
        resp.errors.is_empty(),
        "prewrite {start}: {:?}",
        resp.errors
    );
}

fn commit(server: &TxnServer, start: u64, commit: u64, keys: &[&[u8]]) {
    let resp = server
        .kv_commit(CommitRequest {
            start_version: start,
            keys: keys.iter().map(|k| k.to_vec()).collect(),
            commit_version: commit,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(resp.error, None, "commit {start}");
}

/// A client resolving transaction 10's lock on `k` (it found it in a read)
/// races the transaction's own client, which commits `k` at 20, and a newer
/// transaction (30) that locks `k` again — all between the resolve's scan
/// and its latches. The resolve must leave the newer lock alone and
/// succeed: its transaction's lock on `k` is already resolved. (It used to
/// answer `Retryable` — "locked by the transaction that started at 30" —
/// which a reading client took for a refusal: seen once in the server's
/// bank-transfer test over TCP.)
#[test]
fn resolve_lock_skips_a_key_resolved_and_locked_again_after_its_scan() {
    let inner = Arc::new(StandaloneStorage::new(Arc::new(MemEngine::new())));
    let plain = Arc::new(TxnServer::new(inner.clone()));
    prewrite(&plain, 10, &[b"p", b"k"]);
    let racing = Arc::new(Racing {
        inner,
        hook: Mutex::new(None),
    });
    let server = TxnServer::new(racing.clone());
    let other = plain.clone();
    *racing.hook.lock().unwrap() = Some(Box::new(move || {
        commit(&other, 10, 20, &[b"k"]);
        prewrite(&other, 30, &[b"k"]);
    }));
    let resp = server
        .kv_resolve_lock(ResolveLockRequest {
            start_version: 10,
            commit_version: 20,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(resp.error, None);
    assert!(
        racing.hook.lock().unwrap().is_none(),
        "the race did not run"
    );

    let get = |key: &[u8], version| {
        plain
            .kv_get(GetRequest {
                key: key.to_vec(),
                version,
                ..Default::default()
            })
            .unwrap()
    };
    // Transaction 10 is committed on both keys, at 20.
    assert_eq!(get(b"p", 25).value, b"v10");
    assert_eq!(get(b"k", 25).value, b"v10");
    // Transaction 30 still holds its lock on k.
    match get(b"k", 40).error {
        Some(KeyError::Locked(info)) => assert_eq!(info.lock_version, 30),
        other => panic!("transaction 30's lock on k is gone: {other:?}"),
    }
}
