//! The disk engine's data directory: reopening keeps the data, and a
//! directory that is not ours, or is already open, is refused untouched.

use tinykv_storage::{Cf, DiskEngine, Engine, Error, MARKER, WriteBatch, WriteOptions};

fn put(e: &DiskEngine, k: &[u8], v: &[u8], opts: WriteOptions) {
    let mut b = WriteBatch::new();
    b.put(Cf::Default, k, v);
    b.put(Cf::Meta, k, v);
    e.write(&b, opts).unwrap();
}

#[test]
fn reopening_keeps_synced_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let e = DiskEngine::open(&path).unwrap();
        put(&e, b"a", b"1", WriteOptions::NO_SYNC);
        put(&e, b"b", b"2", WriteOptions::SYNC);
    }
    let e = DiskEngine::open(&path).unwrap();
    let s = e.snapshot().unwrap();
    // A synced commit makes the unsynced ones before it durable too.
    for (k, v) in [(b"a", b"1"), (b"b", b"2")] {
        assert_eq!(s.get_cf(Cf::Default, k).unwrap().as_deref(), Some(&v[..]));
        assert_eq!(s.get_cf(Cf::Meta, k).unwrap().as_deref(), Some(&v[..]));
    }
}

#[test]
fn a_second_opener_is_refused_while_the_first_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let first = DiskEngine::open(dir.path()).unwrap();
    put(&first, b"k", b"v", WriteOptions::SYNC);
    let err = DiskEngine::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    drop(first);
    let again = DiskEngine::open(dir.path()).unwrap();
    assert_eq!(
        again.snapshot().unwrap().get_cf(Cf::Default, b"k").unwrap(),
        Some(b"v".to_vec())
    );
}

#[test]
fn a_directory_that_is_not_ours_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = DiskEngine::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::NotOurs { .. }), "{err}");
    assert!(err.to_string().contains("has no TINYKV-STORAGE"), "{err}");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["notes.txt"], "nothing was added");

    let file = dir.path().join("notes.txt");
    let err = DiskEngine::open(&file).unwrap_err();
    assert!(matches!(err, Error::NotOurs { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");

    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join(MARKER), "some other format\n").unwrap();
    let err = DiskEngine::open(other.path()).unwrap_err();
    assert!(err.to_string().contains("another format"), "{err}");
}
