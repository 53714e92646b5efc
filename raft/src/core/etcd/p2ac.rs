//! 2AC: the RawNode/Ready contract (TinyKV `rawnode_test.go`).

use super::*;
use crate::core::log::Log;

#[test]
fn raw_node_start_p2ac() {
    let mut r = new_test_raft(1, &[1], 10, 1);
    r.campaign();
    let ready = r.ready();
    r.advance(&ready);
    assert!(!r.has_ready());
    let (index, _) = r.propose(b"foo".to_vec()).expect("leader");
    let ready = r.ready();
    assert_eq!(ready.entries, Some(index..index + 1));
    assert_eq!(r.entry(index).map(|e| e.data.as_slice()), Some(&b"foo"[..]));
    assert!(matches!(
        &ready.committed[..],
        [Apply::Command { index: i, data, .. }] if *i == index && data == b"foo"
    ));
    r.advance(&ready);
    assert!(!r.has_ready());
}

#[test]
fn raw_node_restart_p2ac() {
    let mut log = Log::default();
    log.push(Entry::command(1, Vec::new()));
    log.push(Entry::command(1, b"foo".to_vec()));
    let state = log.encode_state(1, None);
    let mut r = Core::with_config(
        1,
        &[1],
        config(10, 1),
        &state,
        Vec::new(),
        SmallRng::seed_from_u64(1),
    )
    .unwrap();
    r.restore_commit(1);
    let ready = r.ready();
    assert!(ready.soft_state.is_none() && ready.hard_state.is_none());
    assert!(ready.entries.is_none());
    assert!(matches!(
        &ready.committed[..],
        [Apply::Command { index: 1, term: 1, data }] if data.is_empty()
    ));
    r.advance(&ready);
    assert!(!r.has_ready());
}
