//! The reference's peer-storage unit tests (`peer_storage_test.go`, ungraded
//! there, so unsuffixed here), plus restart and bad-input checks.

use std::sync::Arc;

use raft::{Config, Entry};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tinykv_storage::{Cf, Engine, MemEngine, WriteBatch};

use super::*;
use crate::meta::{Peer, RegionEpoch};

fn region() -> Region {
    Region {
        id: 1,
        start_key: Vec::new(),
        end_key: Vec::new(),
        region_epoch: RegionEpoch {
            conf_ver: 1,
            version: 1,
        },
        peers: vec![Peer { id: 1, store_id: 1 }],
    }
}

/// `newTestEntry(index, term)`: the index is where it is stored; the data
/// names it so a misplaced entry shows.
fn entry(index: u64, term: u64) -> (u64, Entry) {
    (index, Entry::command(term, index.to_be_bytes().to_vec()))
}

fn new_storage() -> PeerStorage {
    let raft: Arc<dyn Engine> = Arc::new(MemEngine::new());
    let kv: Arc<dyn Engine> = Arc::new(MemEngine::new());
    bootstrap_region(raft.as_ref(), kv.as_ref(), &region()).unwrap();
    PeerStorage::new(raft, kv, region()).unwrap()
}

fn append_and_write(storage: &mut PeerStorage, ents: &[(u64, Entry)]) {
    let mut raft_wb = WriteBatch::new();
    let entries: Vec<Entry> = ents.iter().map(|(_, e)| e.clone()).collect();
    storage.append(ents[0].0, &entries, &mut raft_wb);
    raft_wb.put(
        Cf::Meta,
        keys::raft_state_key(1),
        meta::encode(storage.raft_state()),
    );
    storage.raft_engine().write(&raft_wb, SYNC).unwrap();
}

/// `newTestPeerStorageFromEnts`: the first entry is the truncated point, the
/// rest are in the log, and everything is applied.
fn storage_from_entries(ents: &[(u64, Entry)]) -> PeerStorage {
    let mut storage = new_storage();
    let (index, first) = &ents[0];
    *storage.apply_state_mut() = RaftApplyState {
        applied_index: ents[ents.len() - 1].0,
        truncated_state: RaftTruncatedState {
            index: *index,
            term: first.term,
        },
    };
    let mut kv_wb = WriteBatch::new();
    storage.write_apply_state(&mut kv_wb);
    storage.kv_engine().write(&kv_wb, SYNC).unwrap();
    append_and_write(&mut storage, &ents[1..]);
    storage
}

fn meta_key_count(storage: &PeerStorage) -> usize {
    let mut count = 0;
    for engine in [storage.raft_engine(), storage.kv_engine()] {
        let snap = engine.snapshot().unwrap();
        let mut iter = snap.iter_cf(Cf::Meta).unwrap();
        iter.seek(&[]).unwrap();
        while iter.valid() {
            count += 1;
            iter.next().unwrap();
        }
    }
    count
}

/// Entries with the index each is stored at.
type Log = Vec<(u64, Entry)>;

fn entries_of(ents: &[(u64, Entry)]) -> Vec<Entry> {
    ents.iter().map(|(_, e)| e.clone()).collect()
}

#[test]
fn peer_storage_term() {
    let ents = [entry(3, 3), entry(4, 4), entry(5, 5)];
    let cases: [(u64, Result<u64, Error>); 5] = [
        (2, Err(Error::Compacted { index: 2 })),
        (3, Ok(3)),
        (4, Ok(4)),
        (5, Ok(5)),
        (6, Err(Error::Unavailable { index: 6 })),
    ];
    for (index, want) in cases {
        let storage = storage_from_entries(&ents);
        assert_eq!(storage.term(index), want, "term({index})");
    }
}

#[test]
fn peer_storage_clear_meta() {
    let mut storage = storage_from_entries(&[entry(3, 3), entry(4, 4)]);
    append_and_write(&mut storage, &[entry(5, 5), entry(6, 6)]);
    // Entries 4..=6, raft state, apply state, region state.
    assert_eq!(meta_key_count(&storage), 6);
    let mut kv_wb = WriteBatch::new();
    let mut raft_wb = WriteBatch::new();
    storage.clear_meta(&mut kv_wb, &mut raft_wb);
    storage.kv_engine().write(&kv_wb, SYNC).unwrap();
    storage.raft_engine().write(&raft_wb, SYNC).unwrap();
    // Only the region state stays (the reference keeps it too: a destroyed
    // peer marks it Tombstone instead).
    assert_eq!(meta_key_count(&storage), 1);
}

#[test]
fn peer_storage_entries() {
    let ents = [entry(3, 3), entry(4, 4), entry(5, 5), entry(6, 6)];
    let cases: [(u64, u64, Result<Vec<Entry>, Error>); 6] = [
        (2, 6, Err(Error::Compacted { index: 2 })),
        (3, 4, Err(Error::Compacted { index: 3 })),
        (4, 5, Ok(entries_of(&ents[1..2]))),
        (4, 6, Ok(entries_of(&ents[1..3]))),
        (4, 7, Ok(entries_of(&ents[1..4]))),
        (4, 8, Err(Error::Unavailable { index: 7 })),
    ];
    for (low, high, want) in cases {
        let storage = storage_from_entries(&ents);
        assert_eq!(storage.entries(low, high), want, "entries({low}, {high})");
    }
}

#[test]
fn peer_storage_append() {
    let ents = [entry(3, 3), entry(4, 4), entry(5, 5)];
    let cases: Vec<(Log, Log)> = vec![
        (
            vec![entry(3, 3), entry(4, 4), entry(5, 5)],
            vec![entry(4, 4), entry(5, 5)],
        ),
        (
            vec![entry(3, 3), entry(4, 6), entry(5, 6)],
            vec![entry(4, 6), entry(5, 6)],
        ),
        (
            vec![entry(3, 3), entry(4, 4), entry(5, 5), entry(6, 5)],
            vec![entry(4, 4), entry(5, 5), entry(6, 5)],
        ),
        // Incoming entries below the truncated index are skipped; the
        // existing tail is replaced.
        (
            vec![entry(2, 3), entry(3, 3), entry(4, 5)],
            vec![entry(4, 5)],
        ),
        // The existing tail is replaced.
        (vec![entry(4, 5)], vec![entry(4, 5)]),
        // A direct append.
        (
            vec![entry(6, 5)],
            vec![entry(4, 4), entry(5, 5), entry(6, 5)],
        ),
    ];
    for (appends, want) in cases {
        let mut storage = storage_from_entries(&ents);
        append_and_write(&mut storage, &appends);
        let last = storage.last_index();
        assert_eq!(
            storage.entries(4, last + 1),
            Ok(entries_of(&want)),
            "after appending {appends:?}"
        );
        // Nothing stale stays past the new last index.
        assert_eq!(
            storage
                .raft_engine()
                .snapshot()
                .unwrap()
                .get_cf(Cf::Meta, &keys::raft_log_key(1, last + 1)),
            Ok(None)
        );
        // Nothing at or below the truncated index is written.
        for index in [2, 3] {
            assert_eq!(
                storage
                    .raft_engine()
                    .snapshot()
                    .unwrap()
                    .get_cf(Cf::Meta, &keys::raft_log_key(1, index)),
                Ok(None)
            );
        }
        assert_eq!(storage.raft_state().last_term, want[want.len() - 1].1.term);
    }
}

#[test]
fn bootstrap_state_is_index_and_term_five() {
    let storage = new_storage();
    assert_eq!((storage.first_index(), storage.last_index()), (6, 5));
    assert_eq!(storage.term(5), Ok(5));
    assert_eq!(storage.applied_index(), 5);
    let core = storage
        .restore_core(1, &[1], Config::lab(), SmallRng::seed_from_u64(1))
        .unwrap();
    assert_eq!(core.hard_state().term, 5);
    assert_eq!(core.hard_state().commit, 5);
}

#[test]
fn a_restart_rebuilds_the_core_from_the_engines() {
    let raft: Arc<dyn Engine> = Arc::new(MemEngine::new());
    let kv: Arc<dyn Engine> = Arc::new(MemEngine::new());
    bootstrap_region(raft.as_ref(), kv.as_ref(), &region()).unwrap();
    let mut storage = PeerStorage::new(raft.clone(), kv.clone(), region()).unwrap();
    let mut core = storage
        .restore_core(1, &[1], Config::lab(), SmallRng::seed_from_u64(1))
        .unwrap();
    core.campaign();
    let ready = core.ready();
    storage.save_ready_state(&core, &ready).unwrap();
    core.advance(&ready);
    assert!(core.is_leader());
    core.propose(b"a".to_vec()).unwrap();
    core.propose(b"b".to_vec()).unwrap();
    let ready = core.ready();
    storage.save_ready_state(&core, &ready).unwrap();
    core.advance(&ready);
    let hard = core.hard_state();
    drop((core, storage));

    let storage = PeerStorage::new(raft, kv, region()).unwrap();
    assert_eq!(storage.raft_state().hard_state, hard.into());
    assert_eq!(storage.last_index(), hard.commit);
    let mut core = storage
        .restore_core(1, &[1], Config::lab(), SmallRng::seed_from_u64(2))
        .unwrap();
    assert_eq!(core.hard_state(), hard);
    // Nothing was applied: every committed entry is handed out again.
    let ready = core.ready();
    let data: Vec<Vec<u8>> = ready
        .committed
        .iter()
        .filter_map(|a| match a {
            raft::Apply::Command { data, .. } if !data.is_empty() => Some(data.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(data, vec![b"a".to_vec(), b"b".to_vec()]);
    assert!(
        ready.entries.is_none(),
        "a restored log counts as persisted"
    );
}

#[test]
fn corrupt_state_is_an_error_not_a_panic() {
    let raft: Arc<dyn Engine> = Arc::new(MemEngine::new());
    let kv: Arc<dyn Engine> = Arc::new(MemEngine::new());
    bootstrap_region(raft.as_ref(), kv.as_ref(), &region()).unwrap();
    let mut storage = PeerStorage::new(raft.clone(), kv.clone(), region()).unwrap();
    append_and_write(&mut storage, &[entry(6, 6), entry(7, 6)]);
    // A damaged entry: restoring the core reports it.
    let mut wb = WriteBatch::new();
    wb.put(Cf::Meta, keys::raft_log_key(1, 7), vec![0xff; 3]);
    raft.write(&wb, SYNC).unwrap();
    let storage = PeerStorage::new(raft.clone(), kv.clone(), region()).unwrap();
    let err = storage
        .restore_core(1, &[1], Config::lab(), SmallRng::seed_from_u64(1))
        .err()
        .unwrap();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    // A missing entry: unavailable.
    let mut wb = WriteBatch::new();
    wb.delete(Cf::Meta, keys::raft_log_key(1, 7));
    raft.write(&wb, SYNC).unwrap();
    let err = storage
        .restore_core(1, &[1], Config::lab(), SmallRng::seed_from_u64(1))
        .err()
        .unwrap();
    assert_eq!(err, Error::Unavailable { index: 7 });
    // A damaged state record.
    let mut wb = WriteBatch::new();
    wb.put(Cf::Meta, keys::raft_state_key(1), b"junk".to_vec());
    raft.write(&wb, SYNC).unwrap();
    let err = PeerStorage::new(raft, kv, region()).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
}

/// The reference's `TestGcRaftLog` idea: CompactLog moves the truncated
/// state forward only, never past the applied index, and GC deletes exactly
/// the entries up to it from the raft engine.
#[test]
fn compact_and_gc_raft_log() {
    let ents: Vec<(u64, Entry)> = (5..=20).map(|i| entry(i, i / 4 + 1)).collect();
    let mut storage = storage_from_entries(&ents);
    let raft_entries = |s: &PeerStorage| -> Vec<u64> {
        let snap = s.raft_engine().snapshot().unwrap();
        let mut iter = snap.iter_cf(Cf::Meta).unwrap();
        iter.seek(&keys::raft_log_key(1, 0)).unwrap();
        let mut out = Vec::new();
        while let Some((k, _)) = iter.item() {
            match keys::raft_log_index(1, k) {
                Some(i) => out.push(i),
                None => break,
            }
            iter.next().unwrap();
        }
        out
    };
    assert_eq!(raft_entries(&storage), (6..=20).collect::<Vec<_>>());
    assert!(!storage.compact_to(21, 6), "past the applied index");
    assert!(storage.compact_to(15, 4));
    assert!(!storage.compact_to(10, 3), "backwards");
    assert!(!storage.compact_to(15, 4), "again");
    storage.gc_raft_log().unwrap();
    assert_eq!(raft_entries(&storage), (16..=20).collect::<Vec<_>>());
    assert_eq!(storage.first_index(), 16);
    assert_eq!(storage.term(15), Ok(4));
    assert_eq!(storage.term(14), Err(Error::Compacted { index: 14 }));
    assert_eq!(storage.entries(15, 17), Err(Error::Compacted { index: 15 }));
    assert_eq!(storage.entries(16, 21).unwrap().len(), 5);
    // Nothing more to collect until the next compaction.
    storage.gc_raft_log().unwrap();
    assert_eq!(raft_entries(&storage), (16..=20).collect::<Vec<_>>());
    assert_eq!(storage.gc_from(), 16);
}

/// A crash between a snapshot's kv batch and its raft batch leaves the raft
/// state behind the truncated index; reopening moves it up to the snapshot.
#[test]
fn a_raft_state_behind_an_installed_snapshot_is_moved_up_at_open() {
    let storage = new_storage();
    let (raft, kv) = (storage.raft_engine().clone(), storage.kv_engine().clone());
    let mut kv_wb = WriteBatch::new();
    kv_wb.put(
        Cf::Meta,
        keys::apply_state_key(1),
        meta::encode(&RaftApplyState {
            applied_index: 30,
            truncated_state: RaftTruncatedState { index: 30, term: 7 },
        }),
    );
    kv.write(&kv_wb, SYNC).unwrap();
    let storage = PeerStorage::new(raft, kv, region()).unwrap();
    assert_eq!(storage.last_index(), 30);
    assert_eq!(storage.raft_state().last_term, 7);
    assert_eq!(storage.raft_state().hard_state.commit, 30);
    assert_eq!(storage.term(30), Ok(7));
    assert_eq!(storage.entries(31, 31), Ok(Vec::new()));
}
