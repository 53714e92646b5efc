//! 2C: snapshots in the core (TinyKV `raft_test.go`, `rawnode_test.go`).

use super::*;
use crate::core::log::Log;
use crate::messages::InstallSnapshotArgs;

fn snapshot_from(leader: usize, term: u64, index: u64, members: &[u32]) -> Message {
    Message::InstallSnapshot(InstallSnapshotArgs {
        term,
        leader: leader as u32,
        last_included_index: index,
        last_included_term: term,
        members: members.to_vec(),
        data: b"snap".to_vec(),
    })
}

#[test]
fn restore_snapshot_p2c() {
    let mut r = new_test_raft(1, &[1, 2], 10, 1);
    r.step(2, snapshot_from(2, 11, 11, &[1, 2, 3]));
    assert_eq!((r.log.last_index(), r.log.term(11)), (11, Some(11)));
    assert_eq!(r.members(), vec![1, 2, 3]);
}

#[test]
fn restore_ignore_snapshot_p2c() {
    let mut r = with_log(1, &[1, 2], &[1, 1, 1], 1);
    r.commit_index = 3;
    r.last_applied = 3;
    r.step(2, snapshot_from(2, 1, 1, &[1, 2]));
    assert_eq!(r.commit_index, 3);
    assert_eq!(r.log.base(), 0, "an older snapshot replaced the log");
}

/// A follower whose next entry is compacted away gets the snapshot, and
/// only that.
#[test]
fn provide_snap_p2c() {
    let mut r = new_test_raft(1, &[1, 2], 10, 1);
    r.step(2, snapshot_from(2, 11, 11, &[1, 2]));
    r.become_candidate_for_test();
    r.become_leader();
    read_messages(&mut r);
    // Force peer 2 below the snapshot.
    r.next_index[2] = 10;
    r.in_flight[2] = None;
    r.propose(b"somedata".to_vec());
    let msgs = read_messages(&mut r);
    assert_eq!(msgs.len(), 1);
    assert!(matches!(&msgs[0], (2, Message::InstallSnapshot(_))));
}

#[test]
fn restore_from_snap_msg_p2c() {
    let mut r = new_test_raft(2, &[1, 2], 10, 1);
    r.step(1, snapshot_from(1, 2, 11, &[1, 2]));
    assert_eq!(r.lead, Some(1));
}

#[test]
fn restore_from_snap_with_overlaping_peers_msg_p2c() {
    let mut r = new_test_raft(1, &[1, 2, 3], 10, 1);
    r.step(2, snapshot_from(2, 11, 11, &[2, 3, 4]));
    assert_eq!(r.members(), vec![2, 3, 4]);
}

/// A node cut off through 101 proposals catches up from the snapshot. We
/// check after one more heartbeat: our leader does not broadcast its new
/// commit index, the next message carries it.
#[test]
fn slow_node_restore_p2c() {
    let mut n = Network::fresh(3);
    n.campaign(1);
    n.isolate(3);
    for i in 0..=100u8 {
        assert!(n.propose(1, &[i]).is_some());
    }
    let leader = n.core(1);
    let commit = leader.commit_index;
    leader.snapshot(commit, b"state".to_vec());
    assert_eq!(leader.log.base(), commit);
    n.recover();
    n.beat(1);
    assert!(n.propose(1, b"a").is_some());
    assert!(n.propose(1, b"b").is_some());
    n.beat(1);
    let commit = n.core(1).commit_index;
    assert_eq!(n.core(3).commit_index, commit);
    assert_eq!(n.core(3).snapshot_data(), b"state");
}

#[test]
fn raw_node_restart_from_snapshot_p2c() {
    let mut log = Log::default();
    log.reset_to(2, 1);
    log.push(Entry::command(1, b"foo".to_vec()));
    let state = log.encode_state(1, None);
    let mut r = Core::with_config(
        1,
        &[1, 2],
        config(10, 1),
        &state,
        b"snap".to_vec(),
        SmallRng::seed_from_u64(1),
    )
    .unwrap();
    r.restore_commit(3);
    let ready = r.ready();
    assert!(ready.entries.is_none() && ready.hard_state.is_none());
    assert!(matches!(
        &ready.committed[..],
        [Apply::Command { index: 3, term: 1, data }] if data == b"foo"
    ));
    r.advance(&ready);
    assert!(!r.has_ready());
}
