//! 3A: membership change and leader transfer (TinyKV `raft_test.go`,
//! `rawnode_test.go`).

use super::*;
use crate::core::{ConfChange, ConfChangeKind, Kind, Sent};
use crate::messages::{AppendEntriesReply, EntryKind, TimeoutNowArgs};

fn add(node: u32) -> ConfChange {
    ConfChange {
        kind: ConfChangeKind::AddNode,
        node,
    }
}

fn remove(node: u32) -> ConfChange {
    ConfChange {
        kind: ConfChangeKind::RemoveNode,
        node,
    }
}

#[test]
fn add_node_p3a() {
    let mut r = new_test_raft(1, &[1], 10, 1);
    assert_eq!(r.apply_conf_change(&add(2)), vec![1, 2]);
}

#[test]
fn remove_node_p3a() {
    let mut r = new_test_raft(1, &[1, 2], 10, 1);
    assert_eq!(r.apply_conf_change(&remove(2)), vec![1]);
    assert_eq!(r.apply_conf_change(&remove(1)), Vec::<usize>::new());
}

/// A removal commits under the old configuration; once applied, the
/// smaller quorum commits what the removed peer never acknowledged.
#[test]
fn commit_after_remove_node_p3a() {
    let mut r = new_test_raft(1, &[1, 2], 5, 1);
    r.become_candidate_for_test();
    r.become_leader();
    let (cc_index, _) = r.propose_conf_change(remove(2)).expect("leader accepts");
    assert_eq!(cc_index, 2);
    assert!(r.propose(b"hello".to_vec()).is_some());
    assert!(next_ents(&mut r).is_empty(), "committed without peer 2");
    // Peer 2 acknowledges the no-op and the change, not "hello".
    let sent = Sent {
        kind: Kind::Append,
        term: r.term,
        index: 0,
        len: 2,
    };
    let ack = AppendEntriesReply {
        term: r.term,
        success: true,
        ..Default::default()
    };
    r.step(2, Message::AppendEntriesReply(sent, ack));
    let batch = next_ents(&mut r);
    assert_eq!(batch.len(), 2);
    assert!(matches!(&batch[0], Apply::Command { index: 1, data, .. } if data.is_empty()));
    assert!(
        matches!(&batch[1], Apply::ConfChange { index: 2, change, .. } if *change == remove(2))
    );
    r.apply_conf_change(&remove(2));
    assert_eq!(datas(&next_ents(&mut r)), vec![b"hello".to_vec()]);
}

/// (role of 1, leader 1 knows of), and no transfer left pending.
fn check_transfer_state(n: &mut Network, role: Role, lead: usize) {
    let r = n.core(1);
    assert_eq!(
        (r.role, r.lead, r.lead_transferee),
        (role, Some(lead), None)
    );
}

fn elected() -> Network {
    let mut n = Network::fresh(3);
    n.campaign(1);
    assert_eq!(n.role(1), Role::Leader);
    n
}

#[test]
fn leader_transfer_to_up_to_date_node_p3a() {
    let mut n = elected();
    n.transfer(1, 2);
    check_transfer_state(&mut n, Role::Follower, 2);
    // Everyone catches up on the new leader's entry, then back.
    assert!(n.propose(2, b"x").is_some());
    n.transfer(2, 1);
    check_transfer_state(&mut n, Role::Leader, 1);
}

/// The same, with the requests stepped on followers, which forward them.
#[test]
fn leader_transfer_to_up_to_date_node_from_follower_p3a() {
    let mut n = elected();
    n.transfer(2, 2);
    check_transfer_state(&mut n, Role::Follower, 2);
    assert!(n.propose(2, b"x").is_some());
    n.transfer(1, 1);
    check_transfer_state(&mut n, Role::Leader, 1);
}

#[test]
fn leader_transfer_to_slow_follower_p3a() {
    let mut n = elected();
    n.isolate(3);
    assert!(n.propose(1, b"x").is_some());
    n.recover();
    assert_eq!(n.core(1).match_index[3], 1);
    n.transfer(1, 3);
    check_transfer_state(&mut n, Role::Follower, 3);
}

/// The target needs the snapshot first; the transfer completes after it.
#[test]
fn leader_transfer_after_snapshot_p3a() {
    let mut n = elected();
    n.isolate(3);
    assert!(n.propose(1, b"x").is_some());
    let leader = n.core(1);
    assert_eq!(leader.commit_index, 2);
    leader.snapshot(2, b"state@2".to_vec());
    assert_eq!(leader.log.base(), 2);
    n.recover();
    assert_eq!(n.core(1).match_index[3], 1);
    n.transfer(1, 3);
    check_transfer_state(&mut n, Role::Follower, 3);
    assert_eq!(n.core(3).snapshot_data(), b"state@2");
}

#[test]
fn leader_transfer_to_self_p3a() {
    let mut n = elected();
    n.transfer(1, 1);
    check_transfer_state(&mut n, Role::Leader, 1);
}

#[test]
fn leader_transfer_to_non_existing_node_p3a() {
    let mut n = elected();
    n.transfer(1, 4);
    check_transfer_state(&mut n, Role::Leader, 1);
}

/// Removing the target cancels the transfer.
#[test]
fn leader_transfer_remove_node_p3a() {
    let mut n = elected();
    n.ignore("TimeoutNow");
    n.transfer(1, 3);
    assert_eq!(n.core(1).lead_transferee, Some(3));
    assert!(
        n.propose(1, b"x").is_none(),
        "proposal accepted mid-transfer"
    );
    n.core(1).apply_conf_change(&remove(3));
    check_transfer_state(&mut n, Role::Leader, 1);
    assert!(n.propose(1, b"x").is_some());
}

#[test]
fn leader_transfer_receive_higher_term_vote_p3a() {
    let mut n = elected();
    n.isolate(3);
    n.transfer(1, 3);
    assert_eq!(n.core(1).lead_transferee, Some(3));
    n.campaign(2);
    check_transfer_state(&mut n, Role::Follower, 2);
}

#[test]
fn leader_transfer_back_p3a() {
    let mut n = elected();
    n.isolate(3);
    n.transfer(1, 3);
    assert_eq!(n.core(1).lead_transferee, Some(3));
    n.transfer(1, 1);
    check_transfer_state(&mut n, Role::Leader, 1);
}

#[test]
fn leader_transfer_second_transfer_to_another_node_p3a() {
    let mut n = elected();
    n.isolate(3);
    n.transfer(1, 3);
    assert_eq!(n.core(1).lead_transferee, Some(3));
    n.transfer(1, 2);
    check_transfer_state(&mut n, Role::Follower, 2);
}

/// Not one of the members: TimeoutNow and votes change nothing.
#[test]
fn transfer_non_member_p3a() {
    let mut r = new_test_raft(1, &[2, 3, 4], 5, 1);
    r.step(
        2,
        Message::TimeoutNow(TimeoutNowArgs { term: 0, leader: 2 }),
    );
    for from in [2, 3] {
        let sent = Sent {
            kind: Kind::Vote,
            term: 0,
            index: 0,
            len: 0,
        };
        let reply = crate::messages::RequestVoteReply {
            term: 0,
            vote_granted: true,
        };
        r.step(from, Message::RequestVoteReply(sent, reply));
    }
    assert_eq!(r.role, Role::Follower);
    assert!(read_messages(&mut r).is_empty());
}

/// One ready cycle: take it and advance, as a driver would.
fn cycle(r: &mut Core) -> crate::core::Ready {
    let ready = r.ready();
    r.advance(&ready);
    ready
}

#[test]
fn raw_node_propose_and_conf_change_p3a() {
    let mut r = new_test_raft(1, &[1], 10, 1);
    cycle(&mut r);
    let ready = cycle(&mut r);
    assert!(ready.hard_state.is_none() && ready.entries.is_none());
    r.campaign();
    let ready = cycle(&mut r);
    assert_eq!(
        ready.soft_state.map(|s| (s.role, s.leader)),
        Some((Role::Leader, Some(1)))
    );
    assert!(r.propose(b"somedata".to_vec()).is_some());
    let cc = add(1);
    assert!(r.propose_conf_change(cc).is_some());
    cycle(&mut r);
    let last = r.log.last_index();
    let data = r.log.get(last - 1).unwrap();
    assert_eq!(
        (data.kind, data.data.as_slice()),
        (EntryKind::Normal, &b"somedata"[..])
    );
    let conf = r.log.get(last).unwrap();
    assert_eq!(conf.kind, EntryKind::ConfChange);
    assert_eq!(conf.data, labrpc::encode(&cc).unwrap());
}

/// Duplicate additions are logged and applied like any other change.
#[test]
fn raw_node_propose_add_duplicate_node_p3a() {
    let mut r = new_test_raft(1, &[1], 10, 1);
    r.campaign();
    cycle(&mut r);
    for cc in [add(1), add(1), add(2)] {
        assert!(r.propose_conf_change(cc).is_some(), "{cc:?} refused");
        let ready = cycle(&mut r);
        for apply in &ready.committed {
            if let Apply::ConfChange { change, .. } = apply {
                r.apply_conf_change(change);
            }
        }
    }
    let last = r.log.last_index();
    let stored: Vec<Option<ConfChange>> = (last - 2..=last)
        .map(|i| r.log.get(i).unwrap().conf_change())
        .collect();
    assert_eq!(stored, vec![Some(add(1)), Some(add(1)), Some(add(2))]);
    assert_eq!(r.members(), vec![1, 2]);
}
