//! Project 4A (reference `kv/transaction/mvcc/transaction_test.go`): the
//! 15 `MvccTxn` tests one for one, each on both engines (`cargo test p4a`),
//! plus the reference's unsuffixed key-encoding tests and
//! `TestAcquireLatches`, and checks of our own on the latch validation.

mod common;

use common::{engine, set};
use tinykv_storage::{Cf, Engine, Modify, Snapshot};
use tinykv_txn::{
    Error, Latches, Lock, MvccTxn, Write, WriteKind, decode_key, decode_user_key, encode_key,
};

/// A snapshot of a fresh engine after `setup` (the reference `testTxn`);
/// the engine's temporary directory lives as long as the snapshot is used.
fn test_txn(disk: bool, setup: fn(&dyn Engine)) -> (Box<dyn Snapshot>, Option<tempfile::TempDir>) {
    let (engine, dir) = engine(disk);
    setup(&*engine);
    (engine.snapshot().unwrap(), dir)
}

fn nothing(_: &dyn Engine) {}

fn assert_put_in_txn(txn: &MvccTxn<'_>, key: Vec<u8>, value: Vec<u8>, cf: Cf) {
    assert_eq!(txn.writes(), &[Modify::Put { cf, key, value }]);
}

fn assert_delete_in_txn(txn: &MvccTxn<'_>, key: Vec<u8>, cf: Cf) {
    assert_eq!(txn.writes(), &[Modify::Delete { cf, key }]);
}

fn lock_16() -> Lock {
    Lock {
        primary: vec![16],
        ts: 100,
        ttl: 100000,
        kind: WriteKind::Rollback,
    }
}

#[test]
fn encode_key_bytes() {
    // The reference's exact vectors (TestEncodeKey).
    assert_eq!(
        encode_key(&[], 0),
        [
            0, 0, 0, 0, 0, 0, 0, 0, 247, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
        ]
    );
    assert_eq!(
        encode_key(&[42], 0),
        [
            42, 0, 0, 0, 0, 0, 0, 0, 248, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
        ]
    );
    assert_eq!(
        encode_key(&[42, 0, 5], 0),
        [
            42, 0, 5, 0, 0, 0, 0, 0, 250, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
        ]
    );
    assert_eq!(
        encode_key(&[42], !43543258743295u64),
        [
            42, 0, 0, 0, 0, 0, 0, 0, 248, 0, 0, 39, 154, 52, 120, 65, 255
        ]
    );
    assert_eq!(
        encode_key(&[42, 0, 5], !98753868u64),
        [42, 0, 5, 0, 0, 0, 0, 0, 250, 0, 0, 0, 0, 5, 226, 221, 76]
    );
    // Ordered by user key first, then newest timestamp first.
    assert!(encode_key(&[42], 238) < encode_key(&[200], 0));
    assert!(encode_key(&[42], 238) < encode_key(&[42, 0], 0));
    assert!(encode_key(&[42], 238) < encode_key(&[42], 237));
    // Ours: a key of exactly 8 bytes gets an all-padding group after it.
    let eight = encode_key(&[1, 2, 3, 4, 5, 6, 7, 8], 0);
    assert_eq!(
        &eight[..18],
        &[1, 2, 3, 4, 5, 6, 7, 8, 255, 0, 0, 0, 0, 0, 0, 0, 0, 247]
    );
    assert!(encode_key(&[1, 2, 3, 4, 5, 6, 7, 8], 0) < encode_key(&[1, 2, 3, 4, 5, 6, 7, 8, 0], 9));
}

#[test]
fn decode_key_roundtrip() {
    // The reference's TestDecodeKey.
    assert_eq!(
        decode_user_key(&encode_key(&[], 0)).unwrap(),
        Vec::<u8>::new()
    );
    assert_eq!(decode_user_key(&encode_key(&[42], 0)).unwrap(), [42]);
    assert_eq!(
        decode_user_key(&encode_key(&[42, 0, 5], 0)).unwrap(),
        [42, 0, 5]
    );
    assert_eq!(
        decode_user_key(&encode_key(&[42], 2342342355436234)).unwrap(),
        [42]
    );
    assert_eq!(
        decode_user_key(&encode_key(&[42, 0, 5], 234234)).unwrap(),
        [42, 0, 5]
    );
    // Ours: timestamps come back, longer keys too, and garbage is an error.
    let long: Vec<u8> = (0..=40).collect();
    assert_eq!(decode_key(&encode_key(&long, 77)).unwrap(), (long, 77));
    for bad in [
        &[][..],
        &[1, 2, 3],
        &[42, 0, 0, 0, 0, 0, 0, 0, 248],
        &[42, 0, 0, 0, 0, 0, 0, 0, 200, 0, 0, 0, 0, 0, 0, 0, 0],
        &[42, 1, 0, 0, 0, 0, 0, 0, 248, 0, 0, 0, 0, 0, 0, 0, 0],
    ] {
        assert!(
            matches!(decode_key(bad), Err(Error::BadKey { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn acquire_latches() {
    // The reference's TestAcquireLatches.
    let latches = Latches::new();
    assert!(latches.try_acquire(&[]));
    assert!(latches.try_acquire(&[vec![3], vec![3, 0, 42]]));
    assert!(!latches.try_acquire(&[vec![3]]));
    assert!(!latches.try_acquire(&[vec![3, 0, 42]]));
    assert!(!latches.try_acquire(&[vec![7], vec![3, 0, 42]]));
    // The failed attempt took nothing.
    assert!(latches.try_acquire(&[vec![7]]));
    latches.release(&[vec![3], vec![3, 0, 43]]);
    assert!(latches.try_acquire(&[vec![3]]));
    assert!(!latches.try_acquire(&[vec![3, 0, 42]]));
}

#[test]
fn latch_guard_releases_on_drop() {
    let latches = Latches::new();
    {
        let guard = latches.acquire(&[vec![5], vec![1], vec![5]]);
        assert_eq!(guard.keys(), &[vec![1], vec![5]]);
        assert!(!latches.try_acquire(&[vec![5]]));
    }
    assert!(latches.try_acquire(&[vec![1], vec![5]]));
}

#[test]
fn validation_catches_unlatched_writes() {
    let (snapshot, _dir) = test_txn(false, nothing);
    let mut txn = MvccTxn::new(&*snapshot, 10);
    txn.put_value(&[1], vec![9]);
    txn.put_lock(&[1], &lock_16());
    txn.put_write(
        &[1],
        12,
        &Write {
            start_ts: 10,
            kind: WriteKind::Put,
        },
    );
    Latches::validate(&txn, &[vec![1]]).unwrap();
    // Encoded keys are compared by user key: [1] latched does not cover [2].
    txn.delete_value(&[2]);
    assert_eq!(
        Latches::validate(&txn, &[vec![1]]),
        Err(Error::Unlatched { key: vec![2] })
    );
    Latches::validate(&txn, &[vec![2], vec![1]]).unwrap();
    let mut txn = MvccTxn::new(&*snapshot, 10);
    txn.delete_lock(&[3]);
    assert_eq!(
        Latches::validate(&txn, &[vec![1]]),
        Err(Error::Unlatched { key: vec![3] })
    );
}

fn put_lock_p4a(disk: bool) {
    let (snapshot, _dir) = test_txn(disk, nothing);
    let mut txn = MvccTxn::new(&*snapshot, 42);
    let lock = lock_16();
    txn.put_lock(&[1], &lock);
    assert_put_in_txn(&txn, vec![1], lock.to_bytes(), Cf::Lock);
}

fn put_write_p4a(disk: bool) {
    let (snapshot, _dir) = test_txn(disk, nothing);
    let mut txn = MvccTxn::new(&*snapshot, 0);
    let write = Write {
        start_ts: 100,
        kind: WriteKind::Delete,
    };
    txn.put_write(&[16, 240], 0, &write);
    assert_put_in_txn(&txn, encode_key(&[16, 240], 0), write.to_bytes(), Cf::Write);
}

fn put_value_p4a(disk: bool) {
    let (snapshot, _dir) = test_txn(disk, nothing);
    let mut txn = MvccTxn::new(&*snapshot, 453325345);
    let value = vec![1, 1, 2, 3, 5, 8, 13];
    txn.put_value(&[32], value.clone());
    assert_put_in_txn(&txn, encode_key(&[32], 453325345), value, Cf::Default);
}

fn get_lock_p4a(disk: bool) {
    let (snapshot, _dir) = test_txn(disk, |e| set(e, Cf::Lock, &[1], &lock_16().to_bytes()));
    let txn = MvccTxn::new(&*snapshot, 42);
    assert_eq!(txn.get_lock(&[1]).unwrap(), Some(lock_16()));
    // Ours: another key has no lock, and that is not an error.
    assert_eq!(txn.get_lock(&[2]).unwrap(), None);
}

fn delete_lock_p4a(disk: bool) {
    let (snapshot, _dir) = test_txn(disk, nothing);
    let mut txn = MvccTxn::new(&*snapshot, 42);
    txn.delete_lock(&[1]);
    assert_delete_in_txn(&txn, vec![1], Cf::Lock);
}

fn delete_value_p4a(disk: bool) {
    let (snapshot, _dir) = test_txn(disk, nothing);
    let mut txn = MvccTxn::new(&*snapshot, 63454245);
    txn.delete_value(&[17, 255, 0]);
    assert_delete_in_txn(&txn, encode_key(&[17, 255, 0], 63454245), Cf::Default);
}

fn put_committed(
    e: &dyn Engine,
    start_ts: u64,
    commit_ts: u64,
    kind: WriteKind,
    value: Option<&[u8]>,
) {
    if let Some(value) = value {
        set(e, Cf::Default, &encode_key(&[16, 240], start_ts), value);
    }
    let write = Write { start_ts, kind };
    set(
        e,
        Cf::Write,
        &encode_key(&[16, 240], commit_ts),
        &write.to_bytes(),
    );
}

/// [16, 240] = [1, 2, 3] written at 40, committed at 42.
fn single_entry(e: &dyn Engine) {
    put_committed(e, 40, 42, WriteKind::Put, Some(&[1, 2, 3]));
}

/// `single_entry`, then [255, 0, 255] written at 50, committed at 52.
fn two_entries(e: &dyn Engine) {
    single_entry(e);
    put_committed(e, 50, 52, WriteKind::Put, Some(&[255, 0, 255]));
}

/// `single_entry`, then deleted at 50, committed at 52.
fn deleted(e: &dyn Engine) {
    single_entry(e);
    put_committed(e, 50, 52, WriteKind::Delete, None);
}

fn value_at(disk: bool, setup: fn(&dyn Engine), start_ts: u64, key: &[u8]) -> Option<Vec<u8>> {
    let (snapshot, _dir) = test_txn(disk, setup);
    MvccTxn::new(&*snapshot, start_ts).get_value(key).unwrap()
}

fn get_value_simple_p4a(disk: bool) {
    assert_eq!(
        value_at(disk, single_entry, 43, &[16, 240]),
        Some(vec![1, 2, 3])
    );
}

fn get_value_missing_p4a(disk: bool) {
    assert_eq!(value_at(disk, single_entry, 43, &[16, 241]), None);
}

fn get_value_too_early_p4a(disk: bool) {
    assert_eq!(value_at(disk, single_entry, 41, &[16, 240]), None);
}

fn get_value_overwritten_p4a(disk: bool) {
    // A write committed exactly at the read timestamp is visible.
    assert_eq!(
        value_at(disk, two_entries, 52, &[16, 240]),
        Some(vec![255, 0, 255])
    );
}

fn get_value_not_overwritten_p4a(disk: bool) {
    assert_eq!(
        value_at(disk, two_entries, 50, &[16, 240]),
        Some(vec![1, 2, 3])
    );
}

fn get_value_deleted_p4a(disk: bool) {
    assert_eq!(value_at(disk, deleted, 500, &[16, 240]), None);
}

fn get_value_not_deleted_p4a(disk: bool) {
    assert_eq!(value_at(disk, deleted, 45, &[16, 240]), Some(vec![1, 2, 3]));
}

fn current_write_p4a(disk: bool) {
    let (snapshot, _dir) = test_txn(disk, two_entries);
    let mut txn = MvccTxn::new(&*snapshot, 50);
    let put = |start_ts| Write {
        start_ts,
        kind: WriteKind::Put,
    };
    assert_eq!(txn.current_write(&[16, 240]).unwrap(), Some((put(50), 52)));
    txn.start_ts = 40;
    assert_eq!(txn.current_write(&[16, 240]).unwrap(), Some((put(40), 42)));
    txn.start_ts = 41;
    assert_eq!(txn.current_write(&[16, 240]).unwrap(), None);
}

fn most_recent_write_p4a(disk: bool) {
    let put = |start_ts| Write {
        start_ts,
        kind: WriteKind::Put,
    };
    // Empty DB.
    let (snapshot, _dir) = test_txn(disk, nothing);
    assert_eq!(
        MvccTxn::new(&*snapshot, 50)
            .most_recent_write(&[16, 240])
            .unwrap(),
        None
    );
    // The newest write, and none for other keys.
    let (snapshot, _dir) = test_txn(disk, two_entries);
    let txn = MvccTxn::new(&*snapshot, 50);
    assert_eq!(
        txn.most_recent_write(&[16, 240]).unwrap(),
        Some((put(50), 52))
    );
    assert_eq!(txn.most_recent_write(&[16]).unwrap(), None);
    // A deletion is a write like another.
    let (snapshot, _dir) = test_txn(disk, deleted);
    let txn = MvccTxn::new(&*snapshot, 50);
    let delete = Write {
        start_ts: 50,
        kind: WriteKind::Delete,
    };
    assert_eq!(
        txn.most_recent_write(&[16, 240]).unwrap(),
        Some((delete, 52))
    );
    // The result does not depend on the transaction's timestamp.
    let (snapshot, _dir) = test_txn(disk, two_entries);
    for start_ts in [5000, 1] {
        let txn = MvccTxn::new(&*snapshot, start_ts);
        assert_eq!(
            txn.most_recent_write(&[16, 240]).unwrap(),
            Some((put(50), 52))
        );
    }
}

on_both_engines!(
    put_lock_p4a,
    put_write_p4a,
    put_value_p4a,
    get_lock_p4a,
    delete_lock_p4a,
    delete_value_p4a,
    get_value_simple_p4a,
    get_value_missing_p4a,
    get_value_too_early_p4a,
    get_value_overwritten_p4a,
    get_value_not_overwritten_p4a,
    get_value_deleted_p4a,
    get_value_not_deleted_p4a,
    current_write_p4a,
    most_recent_write_p4a,
);

/// Ours: a rollback record between two versions is skipped by a reader,
/// not mistaken for the end of the key's history or for a deletion.
#[test]
fn get_value_skips_rollbacks() {
    for disk in [false, true] {
        let (snapshot, _dir) = test_txn(disk, |e| {
            single_entry(e);
            put_committed(e, 45, 45, WriteKind::Rollback, None);
        });
        let txn = MvccTxn::new(&*snapshot, 50);
        assert_eq!(txn.get_value(&[16, 240]).unwrap(), Some(vec![1, 2, 3]));
        assert_eq!(
            txn.most_recent_write(&[16, 240])
                .unwrap()
                .map(|(w, ts)| (w.kind, ts)),
            Some((WriteKind::Rollback, 45))
        );
    }
}
