//! Bad input never panics and never writes: malformed records in the
//! engine, impossible timestamps, prewrites without a primary or with
//! operations that cannot be prewritten, empty keys. Each is a typed
//! [`Error`] (or, where the reference requires it, a harmless no-op).

mod common;

use common::{Builder, kv, mutation, same};
use tinykv_storage::Cf;
use tinykv_txn::proto::*;
use tinykv_txn::{Error, Lock, Write, WriteKind, encode_key};

const DEFAULT: Cf = Cf::Default;
const LOCK: Cf = Cf::Lock;
const WRITE: Cf = Cf::Write;

fn get(b: &Builder, key: &[u8], version: u64) -> Result<GetResponse, Error> {
    b.server.kv_get(GetRequest {
        key: key.to_vec(),
        version,
        ..Default::default()
    })
}

fn prewrite_3(start_version: u64) -> PrewriteRequest {
    PrewriteRequest {
        mutations: vec![mutation(3, &[42], Op::Put)],
        primary_lock: vec![3],
        start_version,
        lock_ttl: 10,
        ..Default::default()
    }
}

fn commit_3(start_version: u64, commit_version: u64) -> CommitRequest {
    CommitRequest {
        start_version,
        keys: vec![vec![3]],
        commit_version,
        ..Default::default()
    }
}

#[test]
fn record_formats_refuse_garbage() {
    let lock = Lock {
        primary: vec![7, 7],
        ts: 5,
        ttl: 9,
        kind: WriteKind::Delete,
    };
    assert_eq!(Lock::from_bytes(&lock.to_bytes()), Ok(lock));
    // The 17-byte tail alone is a lock with an empty primary.
    assert_eq!(
        Lock::from_bytes(&[1; 17]).unwrap().primary,
        Vec::<u8>::new()
    );
    for bad in [&[][..], &[1; 16], &[0; 17], &[9; 20]] {
        assert!(
            matches!(
                Lock::from_bytes(bad),
                Err(Error::BadRecord { what: "lock", .. })
            ),
            "{bad:?}"
        );
    }
    let write = Write {
        start_ts: 77,
        kind: WriteKind::Rollback,
    };
    assert_eq!(Write::from_bytes(&write.to_bytes()), Ok(write));
    for bad in [&[][..], &[1; 8], &[1; 10], &[0; 9], &[4; 9]] {
        assert!(
            matches!(
                Write::from_bytes(bad),
                Err(Error::BadRecord { what: "write", .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn malformed_lock_is_an_error_and_nothing_is_written() {
    let b = Builder::new(false);
    b.init(&[kv(LOCK, &[3], 0, &[1, 2, 3])]);
    assert!(matches!(
        get(&b, &[3], 200),
        Err(Error::BadRecord { what: "lock", .. })
    ));
    assert!(matches!(
        b.server.kv_prewrite(prewrite_3(100)),
        Err(Error::BadRecord { .. })
    ));
    assert!(matches!(
        b.server.kv_commit(commit_3(100, 110)),
        Err(Error::BadRecord { .. })
    ));
    let rollback = BatchRollbackRequest {
        start_version: 100,
        keys: vec![vec![3]],
        ..Default::default()
    };
    assert!(matches!(
        b.server.kv_batch_rollback(rollback),
        Err(Error::BadRecord { .. })
    ));
    let check = CheckTxnStatusRequest {
        primary_key: vec![3],
        lock_ts: 100,
        current_ts: 200,
        ..Default::default()
    };
    assert!(matches!(
        b.server.kv_check_txn_status(check),
        Err(Error::BadRecord { .. })
    ));
    let resolve = ResolveLockRequest {
        start_version: 100,
        commit_version: 0,
        ..Default::default()
    };
    assert!(matches!(
        b.server.kv_resolve_lock(resolve),
        Err(Error::BadRecord { .. })
    ));
    let scan = ScanRequest {
        start_key: vec![],
        limit: 10,
        version: 200,
        ..Default::default()
    };
    assert!(matches!(
        b.server.kv_scan(scan),
        Err(Error::BadRecord { .. })
    ));
    b.assert_lens(0, 1, 0);
    b.assert(&[same(LOCK, &[3], 0)]);
}

#[test]
fn malformed_write_is_an_error_and_nothing_is_written() {
    let b = Builder::new(false);
    b.init(&[kv(WRITE, &[3], 90, &[1, 0, 0])]);
    assert!(matches!(
        get(&b, &[3], 200),
        Err(Error::BadRecord { what: "write", .. })
    ));
    assert!(matches!(
        b.server.kv_prewrite(prewrite_3(100)),
        Err(Error::BadRecord { .. })
    ));
    b.assert_lens(0, 0, 1);
    b.assert(&[same(WRITE, &[3], 90)]);
}

#[test]
fn malformed_encoded_key_is_an_error() {
    let b = Builder::new(false);
    // A write-CF key that is no encoded key at all.
    b.init(&[kv(LOCK, &[9], 0, &[0; 17])]);
    let batch_key = vec![5, 5, 5];
    let mut batch = tinykv_storage::WriteBatch::new();
    batch.put(
        WRITE,
        batch_key,
        Write {
            start_ts: 1,
            kind: WriteKind::Put,
        }
        .to_bytes(),
    );
    b.server
        .storage()
        .write(&Context::default(), batch)
        .unwrap();
    let scan = ScanRequest {
        start_key: vec![],
        limit: 10,
        version: 200,
        ..Default::default()
    };
    assert!(matches!(b.server.kv_scan(scan), Err(Error::BadKey { .. })));
}

#[test]
fn commit_record_without_value_is_an_error() {
    let b = Builder::new(false);
    b.init(&[kv(WRITE, &[3], 90, &[1, 0, 0, 0, 0, 0, 0, 0, 80])]);
    assert_eq!(
        get(&b, &[3], 200),
        Err(Error::MissingValue {
            key: vec![3],
            start_ts: 80
        })
    );
}

#[test]
fn commit_ts_not_after_start_ts_is_refused() {
    let b = Builder::new(false);
    assert!(
        b.server
            .kv_prewrite(prewrite_3(100))
            .unwrap()
            .errors
            .is_empty()
    );
    for commit_version in [0, 99, 100] {
        assert_eq!(
            b.server.kv_commit(commit_3(100, commit_version)),
            Err(Error::BadCommitTs {
                start_ts: 100,
                commit_ts: commit_version
            })
        );
        let resolve = ResolveLockRequest {
            start_version: 100,
            commit_version,
            ..Default::default()
        };
        // Commit version 0 means "roll back" to KvResolveLock.
        if commit_version != 0 {
            assert!(matches!(
                b.server.kv_resolve_lock(resolve),
                Err(Error::BadCommitTs { .. })
            ));
        }
    }
    // The prewrite is intact and still commits.
    b.assert_lens(1, 1, 0);
    assert_eq!(b.server.kv_commit(commit_3(100, 101)).unwrap().error, None);
    b.assert_lens(1, 0, 1);
    assert_eq!(get(&b, &[3], 101).unwrap().value, [42]);
}

#[test]
fn prewrite_shape_is_checked() {
    let b = Builder::new(false);
    // No mutations: a no-op success (the reference's TestEmptyPrewrite4B),
    // whatever the primary.
    let empty = PrewriteRequest {
        start_version: 100,
        ..Default::default()
    };
    assert_eq!(b.server.kv_prewrite(empty).unwrap().errors, vec![]);
    // Mutations without a primary.
    let mut req = prewrite_3(100);
    req.primary_lock.clear();
    assert_eq!(
        b.server.kv_prewrite(req),
        Err(Error::EmptyPrimary { mutations: 1 })
    );
    // Operations that cannot be prewritten, even after a valid one.
    for op in [Op::Lock, Op::Rollback] {
        let mut req = prewrite_3(100);
        req.mutations.push(mutation(4, &[], op));
        assert_eq!(
            b.server.kv_prewrite(req),
            Err(Error::UnsupportedOp { op, key: vec![4] })
        );
    }
    // An empty key.
    let mut req = prewrite_3(100);
    req.mutations.push(Mutation::default());
    assert_eq!(
        b.server.kv_prewrite(req),
        Err(Error::Storage(tinykv_storage::Error::EmptyKey))
    );
    let commit = CommitRequest {
        start_version: 100,
        keys: vec![vec![]],
        commit_version: 110,
        ..Default::default()
    };
    assert_eq!(
        b.server.kv_commit(commit),
        Err(Error::Storage(tinykv_storage::Error::EmptyKey))
    );
    b.assert_lens(0, 0, 0);
}

/// A small deterministic generator (no `rand` needed for this).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn bytes(&mut self, max: u64) -> Vec<u8> {
        (0..self.next() % (max + 1))
            .map(|_| self.next() as u8)
            .collect()
    }
}

/// Random garbage in every CF, then every command on random keys: each
/// returns (a reply or a typed error) and none panics.
#[test]
fn garbage_in_the_engine_never_panics() {
    for seed in 0..200 {
        let mut rng = Lcg(seed);
        let b = Builder::new(false);
        let mut fixture = Vec::new();
        for _ in 0..8 {
            let key = vec![rng.next() as u8 % 4];
            let ts = rng.next() % 200;
            // Some well-formed, most not.
            fixture.push(kv(LOCK, &key, 0, &rng.bytes(24)));
            fixture.push(kv(WRITE, &key, ts, &rng.bytes(10)));
            fixture.push(kv(DEFAULT, &key, ts, &rng.bytes(3)));
        }
        b.init(&fixture);
        let mut batch = tinykv_storage::WriteBatch::new();
        batch.put(WRITE, rng.bytes(20), rng.bytes(9));
        batch.put(DEFAULT, encode_key(&[1], 5), rng.bytes(9));
        b.server
            .storage()
            .write(&Context::default(), batch)
            .unwrap();
        for _ in 0..20 {
            let key = vec![rng.next() as u8 % 4];
            let ts = rng.next() % 300;
            let _ = get(&b, &key, ts);
            let _ = b.server.kv_prewrite(PrewriteRequest {
                mutations: vec![Mutation {
                    op: Op::Put,
                    key: key.clone(),
                    value: vec![1],
                }],
                primary_lock: key.clone(),
                start_version: ts,
                lock_ttl: rng.next(),
                ..Default::default()
            });
            let _ = b.server.kv_commit(CommitRequest {
                start_version: ts,
                keys: vec![key.clone()],
                commit_version: ts + rng.next() % 3,
                ..Default::default()
            });
            let _ = b.server.kv_scan(ScanRequest {
                start_key: vec![],
                limit: 10,
                version: ts,
                ..Default::default()
            });
            let _ = b.server.kv_check_txn_status(CheckTxnStatusRequest {
                primary_key: key.clone(),
                lock_ts: ts,
                current_ts: rng.next() << 20,
                ..Default::default()
            });
            let _ = b.server.kv_batch_rollback(BatchRollbackRequest {
                start_version: ts,
                keys: vec![key],
                ..Default::default()
            });
            let _ = b.server.kv_resolve_lock(ResolveLockRequest {
                start_version: ts,
                commit_version: if rng.next() % 2 == 0 { 0 } else { ts + 1 },
                ..Default::default()
            });
        }
    }
}
