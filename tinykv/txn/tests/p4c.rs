//! Project 4C (reference `kv/transaction/commands4c_test.go`): KvBatchRollback,
//! KvCheckTxnStatus, KvResolveLock and KvScan, the 22 tests one for one,
//! each on both engines (`cargo test p4c`), plus scans over locks (ours).

mod common;

use common::{Builder, kv, resolve_request, same};
use tinykv_storage::Cf;
use tinykv_txn::KeyError;
use tinykv_txn::proto::*;

const DEFAULT: Cf = Cf::Default;
const LOCK: Cf = Cf::Lock;
const WRITE: Cf = Cf::Write;

fn rollback(b: &Builder, req: BatchRollbackRequest) -> Option<KeyError> {
    let resp = b.server.kv_batch_rollback(req).unwrap();
    assert_eq!(resp.region_error, None);
    resp.error
}

/// A lock of the builder's latest transaction, primary [1], kind Put.
fn own_lock(b: &Builder) -> [u8; 18] {
    [1, 1, 0, 0, 0, 0, 0, 0, 0, b.ts(), 0, 0, 0, 0, 0, 0, 0, 0]
}

fn empty_rollback_p4c(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.rollback_request(&[]);
    assert_eq!(rollback(&b, req), None);
    b.assert_lens(0, 0, 0);
}

fn rollback_p4c(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.rollback_request(&[&[3]]);
    b.init(&[
        kv(DEFAULT, &[3], 0, &[42]),
        kv(LOCK, &[3], 0, &own_lock(&b)),
    ]);
    assert_eq!(rollback(&b, req), None);
    b.assert_lens(0, 0, 1);
    b.assert(&[kv(WRITE, &[3], 0, &[3, 0, 0, 0, 0, 0, 0, 0, b.ts()])]);
}

fn rollback_duplicate_keys_p4c(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.rollback_request(&[&[3], &[15], &[3]]);
    b.init(&[
        kv(DEFAULT, &[3], 0, &[42]),
        kv(LOCK, &[3], 0, &own_lock(&b)),
        kv(DEFAULT, &[15], 0, &[0]),
        kv(LOCK, &[15], 0, &own_lock(&b)),
    ]);
    assert_eq!(rollback(&b, req), None);
    b.assert_lens(0, 0, 2);
    b.assert(&[
        kv(WRITE, &[3], 0, &[3, 0, 0, 0, 0, 0, 0, 0, b.ts()]),
        kv(WRITE, &[15], 0, &[3, 0, 0, 0, 0, 0, 0, 0, b.ts()]),
    ]);
}

fn rollback_missing_prewrite_p4c(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.rollback_request(&[&[3]]);
    assert_eq!(rollback(&b, req), None);
    b.assert_lens(0, 0, 1);
    b.assert(&[kv(WRITE, &[3], 0, &[3, 0, 0, 0, 0, 0, 0, 0, b.ts()])]);
}

fn rollback_committed_p4c(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.rollback_request(&[&[3]]);
    b.init(&[
        kv(DEFAULT, &[3], 0, &[42]),
        kv(WRITE, &[3], 110, &[1, 0, 0, 0, 0, 0, 0, 0, b.ts()]),
    ]);
    let error = rollback(&b, req);
    assert!(
        matches!(&error, Some(KeyError::Abort(why)) if !why.is_empty()),
        "{error:?}"
    );
    b.assert_lens(1, 0, 1);
    b.assert(&[same(DEFAULT, &[3], 0), same(WRITE, &[3], 110)]);
}

fn rollback_duplicate_p4c(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.rollback_request(&[&[3]]);
    b.init(&[kv(WRITE, &[3], 100, &[3, 0, 0, 0, 0, 0, 0, 0, b.ts()])]);
    assert_eq!(rollback(&b, req), None);
    b.assert_lens(0, 0, 1);
    b.assert(&[same(WRITE, &[3], 100)]);
}

fn rollback_other_txn_p4c(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.rollback_request(&[&[3]]);
    b.init(&[
        kv(DEFAULT, &[3], 80, &[42]),
        kv(
            LOCK,
            &[3],
            0,
            &[1, 1, 0, 0, 0, 0, 0, 0, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ]);
    assert_eq!(rollback(&b, req), None);
    b.assert_lens(1, 1, 1);
    b.assert(&[
        same(DEFAULT, &[3], 80),
        same(LOCK, &[3], 0),
        kv(WRITE, &[3], 100, &[3, 0, 0, 0, 0, 0, 0, 0, b.ts()]),
    ]);
}

fn check(b: &Builder, req: CheckTxnStatusRequest) -> CheckTxnStatusResponse {
    let resp = b.server.kv_check_txn_status(req).unwrap();
    assert_eq!(resp.region_error, None);
    resp
}

/// A lock of [3] at `5 << 40 | ts` with primary [3], kind Put, `ttl`.
fn lock_5(b: &Builder, ttl: [u8; 8]) -> Vec<u8> {
    let mut lock = vec![3, 1, 0, 0, 5, 0, 0, 0, 0, b.ts()];
    lock.extend_from_slice(&ttl);
    lock
}

fn check_txn_status_ttl_expired_p4c(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.check_txn_status_request(&[3]);
    let lock_ts = req.lock_ts;
    b.init(&[
        kv(DEFAULT, &[3], lock_ts, &[42]),
        kv(LOCK, &[3], 0, &lock_5(&b, [0, 0, 0, 0, 0, 0, 0, 8])),
    ]);
    assert_eq!(check(&b, req).action, Action::TtlExpireRollback);
    b.assert_lens(0, 0, 1);
    b.assert(&[kv(WRITE, &[3], lock_ts, &[3, 0, 0, 5, 0, 0, 0, 0, b.ts()])]);
}

fn check_txn_status_ttl_not_expired_p4c(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.check_txn_status_request(&[3]);
    let lock_ts = req.lock_ts;
    b.init(&[
        kv(DEFAULT, &[3], lock_ts, &[42]),
        // TTL 2^32 + 8 ms: more than the 4,194,304 ms gap.
        kv(LOCK, &[3], 0, &lock_5(&b, [0, 0, 0, 1, 0, 0, 0, 8])),
    ]);
    let resp = check(&b, req);
    assert_eq!(resp.action, Action::NoAction);
    // Ours: the live lock's TTL is reported.
    assert_eq!(resp.lock_ttl, (1 << 32) + 8);
    b.assert_lens(1, 1, 0);
    b.assert(&[same(DEFAULT, &[3], lock_ts), same(LOCK, &[3], 0)]);
}

fn check_txn_status_rolled_back_p4c(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.check_txn_status_request(&[3]);
    let lock_ts = req.lock_ts;
    let ts = b.ts();
    b.init(&[
        kv(DEFAULT, &[3], lock_ts, &[42]),
        kv(WRITE, &[3], lock_ts, &[3, 0, 0, 5, 0, 0, 0, 0, ts]),
        // Another transaction's lock (8 << 40 | ts).
        kv(
            LOCK,
            &[3],
            0,
            &[3, 1, 0, 0, 8, 0, 0, 0, 0, ts, 0, 0, 0, 0, 0, 0, 0, 8],
        ),
    ]);
    let resp = check(&b, req);
    assert_eq!(resp.action, Action::NoAction);
    assert_eq!(resp.commit_version, 0);
    b.assert_lens(1, 1, 1);
    b.assert(&[
        same(DEFAULT, &[3], lock_ts),
        same(WRITE, &[3], lock_ts),
        same(LOCK, &[3], 0),
    ]);
}

fn check_txn_status_committed_p4c(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.check_txn_status_request(&[3]);
    let lock_ts = req.lock_ts;
    b.init(&[
        kv(DEFAULT, &[3], lock_ts, &[42]),
        kv(WRITE, &[3], lock_ts, &[1, 0, 0, 5, 0, 0, 0, 0, b.ts()]),
    ]);
    let resp = check(&b, req);
    assert_eq!(resp.action, Action::NoAction);
    assert_eq!(
        resp.commit_version,
        u64::from_be_bytes([0, 0, 5, 0, 0, 0, 0, b.ts()])
    );
    b.assert_lens(1, 0, 1);
    b.assert(&[same(DEFAULT, &[3], lock_ts), same(WRITE, &[3], lock_ts)]);
}

fn check_txn_status_no_lock_no_write_p4c(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.check_txn_status_request(&[3]);
    let lock_ts = req.lock_ts;
    assert_eq!(check(&b, req).action, Action::LockNotExistRollback);
    b.assert_lens(0, 0, 1);
    b.assert(&[kv(WRITE, &[3], lock_ts, &[3, 0, 0, 5, 0, 0, 0, 0, b.ts()])]);
}

fn resolve(b: &Builder, req: ResolveLockRequest) -> Option<KeyError> {
    let resp = b.server.kv_resolve_lock(req).unwrap();
    assert_eq!(resp.region_error, None);
    resp.error
}

/// Locks of txn 100 on [3] and [7], of txn 110 on [200] (empty primary).
fn locks_100(b: &Builder) {
    b.init(&[
        kv(DEFAULT, &[3], 100, &[42]),
        kv(
            LOCK,
            &[3],
            0,
            &[1, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
        kv(DEFAULT, &[7], 100, &[43]),
        kv(
            LOCK,
            &[7],
            0,
            &[1, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
        kv(DEFAULT, &[200], 110, &[44]),
        kv(
            LOCK,
            &[200],
            0,
            &[1, 0, 0, 0, 0, 0, 0, 0, 110, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ]);
}

/// Txn 100 already committed ([201] at 120) and rolled back ([201] at 100);
/// its values stay, txn 110 still locks [200].
fn written_100(b: &Builder) {
    b.init(&[
        kv(DEFAULT, &[3], 100, &[42]),
        kv(WRITE, &[201], 120, &[1, 0, 0, 0, 0, 0, 0, 0, 100]),
        kv(DEFAULT, &[7], 100, &[43]),
        kv(WRITE, &[201], 100, &[3, 0, 0, 0, 0, 0, 0, 0, 100]),
        kv(DEFAULT, &[200], 110, &[44]),
        kv(
            LOCK,
            &[200],
            0,
            &[1, 0, 0, 0, 0, 0, 0, 0, 110, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ]);
}

fn empty_resolve_p4c(disk: bool) {
    let b = Builder::new(disk);
    assert_eq!(resolve(&b, resolve_request(0, 0)), None);
    b.assert_lens(0, 0, 0);
}

fn resolve_commit_p4c(disk: bool) {
    let b = Builder::new(disk);
    locks_100(&b);
    assert_eq!(resolve(&b, resolve_request(100, 120)), None);
    b.assert_lens(3, 1, 2);
    b.assert(&[
        same(DEFAULT, &[3], 100),
        kv(WRITE, &[3], 120, &[1, 0, 0, 0, 0, 0, 0, 0, 100]),
        same(DEFAULT, &[7], 100),
        kv(WRITE, &[7], 120, &[1, 0, 0, 0, 0, 0, 0, 0, 100]),
        same(DEFAULT, &[200], 110),
        same(LOCK, &[200], 0),
    ]);
}

fn resolve_rollback_p4c(disk: bool) {
    let b = Builder::new(disk);
    locks_100(&b);
    assert_eq!(resolve(&b, resolve_request(100, 0)), None);
    b.assert_lens(1, 1, 2);
    b.assert(&[
        kv(WRITE, &[3], 100, &[3, 0, 0, 0, 0, 0, 0, 0, 100]),
        kv(WRITE, &[7], 100, &[3, 0, 0, 0, 0, 0, 0, 0, 100]),
        same(DEFAULT, &[200], 110),
        same(LOCK, &[200], 0),
    ]);
}

fn assert_written_100_untouched(b: &Builder) {
    b.assert_lens(3, 1, 2);
    b.assert(&[
        same(DEFAULT, &[3], 100),
        same(WRITE, &[201], 120),
        same(DEFAULT, &[7], 100),
        same(WRITE, &[201], 100),
        same(DEFAULT, &[200], 110),
        same(LOCK, &[200], 0),
    ]);
}

fn resolve_commit_written_p4c(disk: bool) {
    let b = Builder::new(disk);
    written_100(&b);
    assert_eq!(resolve(&b, resolve_request(100, 120)), None);
    assert_written_100_untouched(&b);
}

fn resolve_rollback_written_p4c(disk: bool) {
    let b = Builder::new(disk);
    written_100(&b);
    assert_eq!(resolve(&b, resolve_request(100, 0)), None);
    assert_written_100_untouched(&b);
}

/// The reference `builderForScan`.
fn builder_for_scan(disk: bool) -> Builder {
    let b = Builder::new(disk);
    let put = |start: u8| [1, 0, 0, 0, 0, 0, 0, 0, start];
    let mut values = Vec::new();
    // Committed before 100.
    for (key, value) in [
        (&[1][..], 50),
        (&[1, 23], 55),
        (&[3], 51),
        (&[3, 45], 56),
        (&[3, 46], 57),
        (&[3, 47], 58),
        (&[3, 48], 59),
        (&[4], 52),
        (&[120], 53),
        (&[199], 54),
    ] {
        values.push(kv(DEFAULT, key, 80, &[value]));
        values.push(kv(WRITE, key, 99, &put(80)));
    }
    // Committed after 100.
    for (key, value) in [
        (&[4, 45][..], 58),
        (&[4, 46], 57),
        (&[4, 47], 58),
        (&[4, 48], 59),
    ] {
        values.push(kv(DEFAULT, key, 110, &[value]));
        values.push(kv(WRITE, key, 116, &put(110)));
    }
    // Committed after 100, started before.
    for (key, value) in [
        (&[5, 45][..], 60),
        (&[5, 46], 61),
        (&[5, 47], 62),
        (&[5, 48], 63),
    ] {
        values.push(kv(DEFAULT, key, 97, &[value]));
        values.push(kv(WRITE, key, 101, &put(97)));
    }
    // Deleted, then replaced.
    values.extend([
        kv(DEFAULT, &[150], 80, &[42]),
        kv(WRITE, &[150], 99, &put(80)),
        kv(WRITE, &[150], 101, &[2, 0, 0, 0, 0, 0, 0, 0, 97]),
        kv(DEFAULT, &[150], 110, &[64]),
        kv(WRITE, &[150], 116, &put(110)),
    ]);
    b.init(&values);
    b
}

fn scan(b: &Builder, req: ScanRequest) -> Vec<KvPair> {
    let resp = b.server.kv_scan(req).unwrap();
    assert_eq!(resp.region_error, None);
    resp.pairs
}

fn pair(key: &[u8], value: u8) -> KvPair {
    KvPair {
        error: None,
        key: key.to_vec(),
        value: vec![value],
    }
}

fn scan_empty_p4c(disk: bool) {
    let mut b = builder_for_scan(disk);
    let req = b.scan_request(&[200], 10000);
    assert!(scan(&b, req).is_empty());
}

fn scan_limit_zero_p4c(disk: bool) {
    let mut b = builder_for_scan(disk);
    let req = b.scan_request(&[3], 0);
    assert!(scan(&b, req).is_empty());
}

fn scan_all_p4c(disk: bool) {
    let mut b = builder_for_scan(disk);
    let req = b.scan_request(&[0], 10000);
    let pairs = scan(&b, req);
    // Ours: the whole list, not only its ends ([150] is visible at 100 with
    // its first value; keys committed after 100 are not).
    let expected = [
        pair(&[1], 50),
        pair(&[1, 23], 55),
        pair(&[3], 51),
        pair(&[3, 45], 56),
        pair(&[3, 46], 57),
        pair(&[3, 47], 58),
        pair(&[3, 48], 59),
        pair(&[4], 52),
        pair(&[120], 53),
        pair(&[150], 42),
        pair(&[199], 54),
    ];
    assert_eq!(pairs.len(), 11);
    assert_eq!(pairs[0], pair(&[1], 50));
    assert_eq!(pairs[10], pair(&[199], 54));
    assert_eq!(pairs, expected);
}

fn scan_limit_p4c(disk: bool) {
    let mut b = builder_for_scan(disk);
    let req = b.scan_request(&[2], 6);
    let pairs = scan(&b, req);
    assert_eq!(pairs.len(), 6);
    assert_eq!(pairs[0], pair(&[3], 51));
    assert_eq!(pairs[5], pair(&[4], 52));
}

fn scan_deleted_p4c(disk: bool) {
    let mut b = builder_for_scan(disk);
    let mut at = |version| {
        let mut req = b.scan_request(&[100], 10000);
        req.version = version;
        scan(&b, req)
    };
    let pairs = at(100);
    assert_eq!(
        pairs,
        [pair(&[120], 53), pair(&[150], 42), pair(&[199], 54)]
    );
    let pairs = at(105);
    assert_eq!(pairs, [pair(&[120], 53), pair(&[199], 54)]);
    let pairs = at(120);
    assert_eq!(
        pairs,
        [pair(&[120], 53), pair(&[150], 64), pair(&[199], 54)]
    );
}

/// Ours: a lock that blocks the reader is a pair with a `Locked` error and
/// the scan goes on; a lock on a never-committed key is reported too; a
/// lock newer than the read does not block; locked pairs count toward the
/// limit.
fn scan_reports_locks(disk: bool) {
    let b = builder_for_scan(disk);
    b.init(&[
        // [120] locked by txn 90 (blocks reads at 100), [130] by txn 95
        // with nothing committed, [199] by txn 200 (does not block).
        kv(
            LOCK,
            &[120],
            0,
            &[1, 1, 0, 0, 0, 0, 0, 0, 0, 90, 0, 0, 0, 0, 0, 0, 0, 7],
        ),
        kv(DEFAULT, &[130], 95, &[1]),
        kv(
            LOCK,
            &[130],
            0,
            &[1, 1, 0, 0, 0, 0, 0, 0, 0, 95, 0, 0, 0, 0, 0, 0, 0, 7],
        ),
        kv(
            LOCK,
            &[199],
            0,
            &[1, 1, 0, 0, 0, 0, 0, 0, 0, 200, 0, 0, 0, 0, 0, 0, 0, 7],
        ),
    ]);
    let locked = |key: &[u8], ts| KvPair {
        error: Some(KeyError::Locked(LockInfo {
            primary_lock: vec![1],
            lock_version: ts,
            key: key.to_vec(),
            lock_ttl: 7,
        })),
        key: key.to_vec(),
        value: Vec::new(),
    };
    let req = ScanRequest {
        start_key: vec![100],
        limit: 10,
        version: 100,
        ..Default::default()
    };
    let pairs = scan(&b, req.clone());
    assert_eq!(
        pairs,
        [
            locked(&[120], 90),
            locked(&[130], 95),
            pair(&[150], 42),
            pair(&[199], 54)
        ]
    );
    let pairs = scan(&b, ScanRequest { limit: 2, ..req });
    assert_eq!(pairs, [locked(&[120], 90), locked(&[130], 95)]);
}

on_both_engines!(
    empty_rollback_p4c,
    rollback_p4c,
    rollback_duplicate_keys_p4c,
    rollback_missing_prewrite_p4c,
    rollback_committed_p4c,
    rollback_duplicate_p4c,
    rollback_other_txn_p4c,
    check_txn_status_ttl_expired_p4c,
    check_txn_status_ttl_not_expired_p4c,
    check_txn_status_rolled_back_p4c,
    check_txn_status_committed_p4c,
    check_txn_status_no_lock_no_write_p4c,
    empty_resolve_p4c,
    resolve_commit_p4c,
    resolve_rollback_p4c,
    resolve_commit_written_p4c,
    resolve_rollback_written_p4c,
    scan_empty_p4c,
    scan_limit_zero_p4c,
    scan_all_p4c,
    scan_limit_p4c,
    scan_deleted_p4c,
    scan_reports_locks,
);
