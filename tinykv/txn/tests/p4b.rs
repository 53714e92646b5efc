//! Project 4B (reference `kv/transaction/commands4b_test.go`): KvGet,
//! KvPrewrite and KvCommit, the 24 tests one for one, each on both engines
//! (`cargo test p4b`). Record literals are spelled out byte for byte as in
//! the reference: a lock is `primary ‖ kind ‖ ts ‖ ttl`, a write
//! `kind ‖ start_ts`.

mod common;

use common::{Builder, kv, mutation, same};
use tinykv_storage::Cf;
use tinykv_txn::proto::*;
use tinykv_txn::{KeyError, TS_MAX};

const DEFAULT: Cf = Cf::Default;
const LOCK: Cf = Cf::Lock;
const WRITE: Cf = Cf::Write;

/// [99] = 42 written at 50, committed at 54.
fn one_version(b: &Builder) {
    b.init(&[
        kv(DEFAULT, &[99], 50, &[42]),
        kv(WRITE, &[99], 54, &[1, 0, 0, 0, 0, 0, 0, 0, 50]),
    ]);
}

fn assert_value(resp: &GetResponse, value: &[u8]) {
    assert_eq!(resp.error, None);
    assert!(!resp.not_found);
    assert_eq!(resp.value, value);
}

fn assert_not_found(resp: &GetResponse) {
    assert_eq!(resp.error, None);
    assert!(resp.not_found);
    assert!(resp.value.is_empty());
}

fn get_value_p4b(disk: bool) {
    let b = Builder::new(disk);
    one_version(&b);
    assert_value(&b.get(&[99], TS_MAX), &[42]);
}

fn get_value_ts_p4b(disk: bool) {
    let b = Builder::new(disk);
    one_version(&b);
    for _ in 0..3 {
        assert_value(&b.get(&[99], 100), &[42]);
    }
}

fn get_empty_p4b(disk: bool) {
    let b = Builder::new(disk);
    assert_not_found(&b.get(&[100], TS_MAX));
}

fn get_none_p4b(disk: bool) {
    let b = Builder::new(disk);
    one_version(&b);
    b.init(&[
        kv(DEFAULT, &[101], 50, &[42]),
        kv(WRITE, &[101], 54, &[1, 0, 0, 0, 0, 0, 0, 0, 50]),
    ]);
    assert_not_found(&b.get(&[100], TS_MAX));
}

fn get_versions_p4b(disk: bool) {
    let b = Builder::new(disk);
    one_version(&b);
    b.init(&[
        kv(DEFAULT, &[99], 60, &[43]),
        kv(WRITE, &[99], 66, &[1, 0, 0, 0, 0, 0, 0, 0, 60]),
        kv(DEFAULT, &[99], 120, &[44]),
        kv(WRITE, &[99], 122, &[1, 0, 0, 0, 0, 0, 0, 0, 120]),
    ]);
    assert_not_found(&b.get(&[99], 40));
    assert_value(&b.get(&[99], 56), &[42]);
    assert_value(&b.get(&[99], 60), &[42]);
    assert_value(&b.get(&[99], 65), &[42]);
    assert_value(&b.get(&[99], 66), &[43]);
    assert_value(&b.get(&[99], 100), &[43]);
}

fn get_deleted_p4b(disk: bool) {
    let b = Builder::new(disk);
    one_version(&b);
    b.init(&[
        kv(DEFAULT, &[99], 60, &[]),
        kv(WRITE, &[99], 66, &[2, 0, 0, 0, 0, 0, 0, 0, 60]),
        kv(DEFAULT, &[99], 120, &[44]),
        kv(WRITE, &[99], 122, &[1, 0, 0, 0, 0, 0, 0, 0, 120]),
    ]);
    assert_value(&b.get(&[99], 54), &[42]);
    assert_value(&b.get(&[99], 60), &[42]);
    assert_value(&b.get(&[99], 65), &[42]);
    assert_not_found(&b.get(&[99], 66));
    assert_not_found(&b.get(&[99], 67));
    assert_value(&b.get(&[99], 122), &[44]);
}

fn get_locked_p4b(disk: bool) {
    let b = Builder::new(disk);
    one_version(&b);
    b.init(&[kv(
        LOCK,
        &[99],
        0,
        &[99, 1, 0, 0, 0, 0, 0, 0, 0, 200, 0, 0, 0, 0, 0, 0, 0, 0],
    )]);
    // A lock of a transaction that started after the read does not block it.
    assert_value(&b.get(&[99], 55), &[42]);
    let resp = b.get(&[99], 300);
    let Some(KeyError::Locked(info)) = resp.error else {
        panic!("expected a Locked error, got {resp:?}");
    };
    assert_eq!(info.key, [99]);
    assert_eq!(info.primary_lock, [99]);
    assert_eq!(info.lock_version, 200);
}

fn prewrite(b: &Builder, req: PrewriteRequest) -> PrewriteResponse {
    let resp = b.server.kv_prewrite(req).unwrap();
    assert_eq!(resp.region_error, None);
    resp
}

fn empty_prewrite_p4b(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.prewrite_request(vec![]);
    assert!(prewrite(&b, req).errors.is_empty());
    b.assert_lens(0, 0, 0);
}

fn single_prewrite_p4b(disk: bool) {
    let mut b = Builder::new(disk);
    let mut req = b.prewrite_request(vec![mutation(3, &[42], Op::Put)]);
    req.lock_ttl = 1000;
    assert!(prewrite(&b, req).errors.is_empty());
    b.assert_lens(1, 1, 0);
    let ts = b.ts();
    b.assert(&[
        kv(DEFAULT, &[3], 0, &[42]),
        kv(
            LOCK,
            &[3],
            0,
            &[1, 1, 0, 0, 0, 0, 0, 0, 0, ts, 0, 0, 0, 0, 0, 0, 3, 232],
        ),
    ]);
}

fn prewrite_locked_p4b(disk: bool) {
    let mut b = Builder::new(disk);
    let first = b.prewrite_request(vec![mutation(3, &[42], Op::Put)]);
    let second = b.prewrite_request(vec![mutation(3, &[53], Op::Put)]);
    assert!(prewrite(&b, first).errors.is_empty());
    let errors = prewrite(&b, second).errors;
    assert_eq!(errors.len(), 1);
    assert!(matches!(&errors[0], KeyError::Locked(info) if info.lock_version == 100));
    b.assert_lens(1, 1, 0);
    b.assert(&[
        kv(DEFAULT, &[3], 100, &[42]),
        kv(
            LOCK,
            &[3],
            0,
            &[1, 1, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ]);
}

fn prewrite_written_p4b(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.prewrite_request(vec![mutation(3, &[42], Op::Put)]);
    b.init(&[
        kv(DEFAULT, &[3], 80, &[5]),
        kv(WRITE, &[3], 101, &[1, 0, 0, 0, 0, 0, 0, 0, 80]),
    ]);
    let errors = prewrite(&b, req).errors;
    assert_eq!(errors.len(), 1);
    assert!(
        matches!(&errors[0], KeyError::Conflict(c) if c.start_ts == 100 && c.conflict_ts == 101 && c.key == [3] && c.primary == [1]),
        "{errors:?}"
    );
    b.assert_lens(1, 0, 1);
    b.assert(&[kv(DEFAULT, &[3], 80, &[5])]);
}

fn prewrite_written_no_conflict_p4b(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.prewrite_request(vec![mutation(3, &[42], Op::Put)]);
    b.init(&[
        kv(DEFAULT, &[3], 80, &[5]),
        kv(WRITE, &[3], 90, &[1, 0, 0, 0, 0, 0, 0, 0, 80]),
    ]);
    assert!(prewrite(&b, req).errors.is_empty());
    b.assert_lens(2, 1, 1);
    let ts = b.ts();
    b.assert(&[
        kv(DEFAULT, &[3], 80, &[5]),
        kv(DEFAULT, &[3], 0, &[42]),
        kv(
            LOCK,
            &[3],
            0,
            &[1, 1, 0, 0, 0, 0, 0, 0, 0, ts, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ]);
}

fn multiple_prewrites_p4b(disk: bool) {
    let mut b = Builder::new(disk);
    let first = b.prewrite_request(vec![mutation(3, &[42], Op::Put)]);
    let second = b.prewrite_request(vec![mutation(4, &[53], Op::Put)]);
    assert!(prewrite(&b, first).errors.is_empty());
    assert!(prewrite(&b, second).errors.is_empty());
    b.assert_lens(2, 2, 0);
    b.assert(&[
        kv(DEFAULT, &[3], 100, &[42]),
        kv(
            LOCK,
            &[3],
            0,
            &[1, 1, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
        kv(DEFAULT, &[4], 101, &[53]),
        kv(
            LOCK,
            &[4],
            0,
            &[1, 1, 0, 0, 0, 0, 0, 0, 0, 101, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ]);
}

fn prewrite_overwrite_p4b(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.prewrite_request(vec![
        mutation(3, &[42], Op::Put),
        mutation(3, &[45], Op::Put),
    ]);
    assert!(prewrite(&b, req).errors.is_empty());
    b.assert_lens(1, 1, 0);
    let ts = b.ts();
    b.assert(&[
        kv(DEFAULT, &[3], 0, &[45]),
        kv(
            LOCK,
            &[3],
            0,
            &[1, 1, 0, 0, 0, 0, 0, 0, 0, ts, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ]);
}

fn prewrite_multiple_p4b(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.prewrite_request(vec![
        mutation(3, &[42], Op::Put),
        mutation(4, &[43], Op::Put),
        mutation(5, &[44], Op::Put),
        mutation(4, &[], Op::Del),
        mutation(4, &[1, 3, 5], Op::Put),
        mutation(255, &[45], Op::Put),
    ]);
    assert!(prewrite(&b, req).errors.is_empty());
    b.assert_lens(4, 4, 0);
    b.assert(&[kv(DEFAULT, &[4], 0, &[1, 3, 5])]);
}

fn commit(b: &Builder, req: CommitRequest) -> CommitResponse {
    let resp = b.server.kv_commit(req).unwrap();
    assert_eq!(resp.region_error, None);
    resp
}

fn empty_commit_p4b(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.commit_request(&[]);
    assert_eq!(commit(&b, req).error, None);
    b.assert_lens(0, 0, 0);
}

fn single_commit_p4b(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.commit_request(&[&[3]]);
    let ts = b.ts();
    b.init(&[
        kv(DEFAULT, &[3], 0, &[42]),
        // An empty primary: the lock is the 17-byte tail alone.
        kv(
            LOCK,
            &[3],
            0,
            &[1, 0, 0, 0, 0, 0, 0, 0, ts, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ]);
    assert_eq!(commit(&b, req).error, None);
    b.assert_lens(1, 0, 1);
    b.assert(&[
        kv(WRITE, &[3], 110, &[1, 0, 0, 0, 0, 0, 0, 0, ts]),
        same(DEFAULT, &[3], 0),
    ]);
}

fn commit_overwrite_p4b(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.commit_request(&[&[3]]);
    let ts = b.ts();
    b.init(&[
        // A previous, committed write.
        kv(DEFAULT, &[3], 80, &[15]),
        kv(WRITE, &[3], 84, &[1, 0, 0, 0, 0, 0, 0, 0, 80]),
        // The current, prewritten one.
        kv(DEFAULT, &[3], 0, &[42]),
        kv(
            LOCK,
            &[3],
            0,
            &[1, 1, 0, 0, 0, 0, 0, 0, 0, ts, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ]);
    assert_eq!(commit(&b, req).error, None);
    b.assert_lens(2, 0, 2);
    b.assert(&[
        kv(WRITE, &[3], 110, &[1, 0, 0, 0, 0, 0, 0, 0, ts]),
        same(DEFAULT, &[3], 0),
    ]);
}

fn commit_multiple_keys_p4b(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.commit_request(&[&[3], &[12, 4, 0], &[15]]);
    let ts = b.ts();
    let lock = [1, 1, 0, 0, 0, 0, 0, 0, 0, ts, 0, 0, 0, 0, 0, 0, 0, 0];
    let other = [1, 2, 0, 0, 0, 0, 0, 0, 0, 99, 0, 0, 0, 0, 0, 0, 0, 0];
    b.init(&[
        // Current, prewritten.
        kv(DEFAULT, &[3], 0, &[42]),
        kv(LOCK, &[3], 0, &lock),
        kv(DEFAULT, &[12, 4, 0], 0, &[1, 1, 0, 0, 1, 5]),
        kv(LOCK, &[12, 4, 0], 0, &lock),
        kv(DEFAULT, &[15], 0, &[0]),
        kv(LOCK, &[15], 0, &lock),
        // Some committed data.
        kv(DEFAULT, &[4], 80, &[15]),
        kv(WRITE, &[4], 84, &[1, 0, 0, 0, 0, 0, 0, 0, 80]),
        kv(DEFAULT, &[3, 0], 80, &[150]),
        kv(WRITE, &[3, 0], 84, &[1, 0, 0, 0, 0, 0, 0, 0, 80]),
        // Another prewritten transaction.
        kv(DEFAULT, &[2], 99, &[0, 0, 0, 8]),
        kv(LOCK, &[2], 0, &other),
        kv(DEFAULT, &[43, 6], 99, &[1, 1, 0, 0, 1, 5]),
        kv(LOCK, &[43, 6], 0, &other),
    ]);
    assert_eq!(commit(&b, req).error, None);
    b.assert_lens(7, 2, 5);
    b.assert(&[
        // Newly committed.
        kv(WRITE, &[3], 110, &[1, 0, 0, 0, 0, 0, 0, 0, ts]),
        kv(WRITE, &[12, 4, 0], 110, &[1, 0, 0, 0, 0, 0, 0, 0, ts]),
        kv(WRITE, &[15], 110, &[1, 0, 0, 0, 0, 0, 0, 0, ts]),
        // Committed data untouched.
        same(DEFAULT, &[4], 80),
        same(WRITE, &[4], 84),
        same(DEFAULT, &[3, 0], 80),
        same(WRITE, &[3, 0], 84),
        // The other transaction untouched.
        same(DEFAULT, &[2], 99),
        same(LOCK, &[2], 0),
        same(DEFAULT, &[43, 6], 99),
        same(LOCK, &[43, 6], 0),
    ]);
}

fn recommit_key_p4b(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.commit_request(&[&[3], &[3]]);
    let ts = b.ts();
    b.init(&[
        kv(DEFAULT, &[3], 0, &[42]),
        kv(
            LOCK,
            &[3],
            0,
            &[1, 1, 0, 0, 0, 0, 0, 0, 0, ts, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ]);
    assert_eq!(commit(&b, req).error, None);
    b.assert_lens(1, 0, 1);
    b.assert(&[
        kv(WRITE, &[3], 110, &[1, 0, 0, 0, 0, 0, 0, 0, ts]),
        same(DEFAULT, &[3], 0),
    ]);
}

fn commit_conflict_rollback_p4b(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.commit_request(&[&[3]]);
    let ts = b.ts();
    b.init(&[kv(WRITE, &[3], 110, &[3, 0, 0, 0, 0, 0, 0, 0, ts])]);
    let error = commit(&b, req).error;
    assert!(matches!(error, Some(KeyError::Abort(_))), "{error:?}");
    b.assert_lens(0, 0, 1);
    b.assert(&[same(WRITE, &[3], 110)]);
}

fn commit_conflict_race_p4b(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.commit_request(&[&[3]]);
    b.init(&[
        kv(DEFAULT, &[3], 90, &[110]),
        kv(
            LOCK,
            &[3],
            0,
            &[1, 3, 0, 0, 0, 0, 0, 0, 0, 90, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ]);
    let error = commit(&b, req).error;
    assert!(
        matches!(&error, Some(KeyError::Retryable(why)) if !why.is_empty()),
        "{error:?}"
    );
    b.assert_lens(1, 1, 0);
    b.assert(&[same(LOCK, &[3], 0), same(DEFAULT, &[3], 90)]);
}

fn commit_conflict_repeat_p4b(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.commit_request(&[&[3]]);
    let ts = b.ts();
    b.init(&[
        kv(DEFAULT, &[3], 0, &[42]),
        kv(WRITE, &[3], 110, &[1, 0, 0, 0, 0, 0, 0, 0, ts]),
    ]);
    assert_eq!(commit(&b, req).error, None);
    b.assert_lens(1, 0, 1);
    b.assert(&[same(WRITE, &[3], 110), same(DEFAULT, &[3], 0)]);
}

/// The reference names this one `TestCommitMissingPrewrite4a` (lower-case
/// suffix, so `-run 4B` skips it) although it sits in the 4B file and
/// tests a 4B command; it counts among the 24 and is `_p4b` here.
fn commit_missing_prewrite_p4b(disk: bool) {
    let mut b = Builder::new(disk);
    let req = b.commit_request(&[&[3]]);
    b.init(&[
        kv(DEFAULT, &[4], 80, &[15]),
        kv(WRITE, &[4], 84, &[1, 0, 0, 0, 0, 0, 0, 0, 80]),
        kv(DEFAULT, &[3, 0], 80, &[150]),
        kv(WRITE, &[3, 0], 84, &[1, 0, 0, 0, 0, 0, 0, 0, 80]),
        // No prewrite of [3].
    ]);
    assert_eq!(commit(&b, req).error, None);
    b.assert_lens(2, 0, 2);
    b.assert(&[
        same(DEFAULT, &[4], 80),
        same(WRITE, &[4], 84),
        same(DEFAULT, &[3, 0], 80),
        same(WRITE, &[3, 0], 84),
    ]);
}

/// Ours: a prewrite that arrives after its transaction was rolled back on
/// the key (a rollback record at exactly its start timestamp) conflicts, so
/// a rolled-back transaction can never come back to life; a prewrite retried
/// while its own lock is there succeeds.
#[test]
fn prewrite_after_rollback_conflicts() {
    let b = Builder::new(false);
    b.init(&[kv(WRITE, &[3], 100, &[3, 0, 0, 0, 0, 0, 0, 0, 100])]);
    let req = PrewriteRequest {
        mutations: vec![mutation(3, &[42], Op::Put)],
        primary_lock: vec![3],
        start_version: 100,
        ..Default::default()
    };
    let errors = prewrite(&b, req.clone()).errors;
    assert!(
        matches!(&errors[..], [KeyError::Conflict(c)] if c.conflict_ts == 100),
        "{errors:?}"
    );
    b.assert_lens(0, 0, 1);

    let b = Builder::new(false);
    assert!(prewrite(&b, req.clone()).errors.is_empty());
    assert!(prewrite(&b, req).errors.is_empty());
    b.assert_lens(1, 1, 0);
}

on_both_engines!(
    get_value_p4b,
    get_value_ts_p4b,
    get_empty_p4b,
    get_none_p4b,
    get_versions_p4b,
    get_deleted_p4b,
    get_locked_p4b,
    empty_prewrite_p4b,
    single_prewrite_p4b,
    prewrite_locked_p4b,
    prewrite_written_p4b,
    prewrite_written_no_conflict_p4b,
    multiple_prewrites_p4b,
    prewrite_overwrite_p4b,
    prewrite_multiple_p4b,
    empty_commit_p4b,
    single_commit_p4b,
    commit_overwrite_p4b,
    commit_multiple_keys_p4b,
    recommit_key_p4b,
    commit_conflict_rollback_p4b,
    commit_conflict_race_p4b,
    commit_conflict_repeat_p4b,
    commit_missing_prewrite_p4b,
);
