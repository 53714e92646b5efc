//! 2AB: log replication (TinyKV `raft_paper_test.go`, `raft_test.go`).

use super::*;
use crate::core::{Kind, Sent};
use crate::messages::{AppendEntriesReply, RequestVoteArgs, RequestVoteReply};

fn leader(n: usize) -> Core {
    let mut r = new_test_raft(1, &ids(n), 10, 1);
    r.become_candidate_for_test();
    r.become_leader();
    r
}

/// `peer` acknowledges entries `index + 1 ..= index + len` (etcd `acceptAndReply`).
fn ack(r: &mut Core, peer: usize, index: u64, len: usize) {
    let sent = Sent {
        kind: Kind::Append,
        term: r.term,
        index,
        len,
    };
    let reply = AppendEntriesReply {
        term: r.term,
        success: true,
        ..Default::default()
    };
    r.step(peer, Message::AppendEntriesReply(sent, reply));
}

/// Every follower acknowledges the new leader's no-op; then the outbox,
/// the applies and the ready are cleared (etcd `commitNoopEntry`).
fn commit_noop_entry(r: &mut Core) {
    let last = r.log.last_index();
    for peer in r.others() {
        ack(r, peer, last - 1, 1);
    }
    read_messages(r);
    next_ents(r);
    let ready = r.ready();
    r.advance(&ready);
}

fn with_data(term: u64, data: &[u8]) -> Entry {
    Entry::command(term, data.to_vec())
}

fn append_with(
    leader: usize,
    term: u64,
    prev: (u64, u64),
    ents: Vec<Entry>,
    commit: u64,
) -> Message {
    Message::AppendEntries(crate::messages::AppendEntriesArgs {
        term,
        leader: leader as u32,
        prev_log_term: prev.0,
        prev_log_index: prev.1,
        entries: ents,
        leader_commit: commit,
    })
}

/// The reply `r` queued, taken out.
fn append_reply(r: &mut Core) -> AppendEntriesReply {
    let msgs = read_messages(r);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    match &msgs[0].1 {
        Message::AppendEntriesReply(_, reply) => reply.clone(),
        other => panic!("not an append reply: {other:?}"),
    }
}

fn terms(r: &Core) -> Vec<u64> {
    entries(r).into_iter().map(|(t, _)| t).collect()
}

/// A proposal is appended, not yet committed, and sent to both followers
/// after the last shared entry, with the leader's commit (§5.3).
#[test]
fn leader_start_replication_p2ab() {
    let mut r = leader(3);
    commit_noop_entry(&mut r);
    let li = r.log.last_index();
    r.propose(b"some data".to_vec());
    assert_eq!((r.log.last_index(), r.commit_index), (li + 1, li));
    let mut msgs = read_messages(&mut r);
    msgs.sort_by_key(|(to, _)| *to);
    let want = |to| {
        (
            to,
            append_with(1, 1, (1, li), vec![with_data(1, b"some data")], li),
        )
    };
    assert_eq!(msgs, vec![want(2), want(3)]);
    assert_eq!(r.ready().entries, Some(li + 1..li + 2));
}

/// Acknowledged by both, the entry commits and is handed out; the next
/// heartbeat tells the followers (§5.3). (etcd broadcasts the new commit
/// index at once; ours rides on the next message.)
#[test]
fn leader_commit_entry_p2ab() {
    let mut r = leader(3);
    commit_noop_entry(&mut r);
    let li = r.log.last_index();
    r.propose(b"some data".to_vec());
    read_messages(&mut r);
    ack(&mut r, 2, li, 1);
    ack(&mut r, 3, li, 1);
    assert_eq!(r.commit_index, li + 1);
    assert_eq!(datas(&next_ents(&mut r)), vec![b"some data".to_vec()]);
    read_messages(&mut r);
    r.beat();
    let msgs = read_messages(&mut r);
    assert_eq!(msgs.len(), 2);
    for (_, m) in msgs {
        assert!(matches!(m, Message::AppendEntries(a) if a.leader_commit == li + 1));
    }
}

/// Committed iff a majority, the leader included, holds the entry (§5.3).
#[test]
fn leader_acknowledge_commit_p2ab() {
    let cases: [(usize, &[usize], bool); 9] = [
        (1, &[], true),
        (3, &[], false),
        (3, &[2], true),
        (3, &[2, 3], true),
        (5, &[], false),
        (5, &[2], false),
        (5, &[2, 3], true),
        (5, &[2, 3, 4], true),
        (5, &[2, 3, 4, 5], true),
    ];
    for (i, (size, acceptors, want)) in cases.into_iter().enumerate() {
        let mut r = leader(size);
        commit_noop_entry(&mut r);
        let li = r.log.last_index();
        r.propose(b"some data".to_vec());
        for &peer in acceptors {
            ack(&mut r, peer, li, 1);
        }
        assert_eq!(r.commit_index > li, want, "case {i}");
    }
}

/// Committing a current-term entry commits the older ones before it (§5.3).
#[test]
fn leader_commit_preceding_entries_p2ab() {
    let cases: [&[u64]; 4] = [&[], &[2], &[1, 2], &[1]];
    for (i, old) in cases.into_iter().enumerate() {
        let mut r = with_log(1, &ids(3), old, 2);
        r.become_candidate_for_test();
        r.become_leader();
        r.propose(b"some data".to_vec());
        let last = r.log.last_index() as usize;
        for peer in [2, 3] {
            ack(&mut r, peer, 0, last);
        }
        let applied: Vec<(u64, Vec<u8>)> = next_ents(&mut r)
            .into_iter()
            .map(|a| match a {
                Apply::Command { term, data, .. } => (term, data),
                other => panic!("{other:?}"),
            })
            .collect();
        let mut want: Vec<(u64, Vec<u8>)> = old.iter().map(|&t| (t, Vec::new())).collect();
        want.push((3, Vec::new()));
        want.push((3, b"some data".to_vec()));
        assert_eq!(applied, want, "case {i}");
    }
}

/// A follower commits up to the leader's commit index and hands out
/// exactly those entries (§5.3).
#[test]
fn follower_commit_entry_p2ab() {
    let cases: [(&[&[u8]], u64); 4] = [
        (&[b"some data"], 1),
        (&[b"some data", b"some data2"], 2),
        (&[b"some data2", b"some data"], 2),
        (&[b"some data", b"some data2"], 1),
    ];
    for (i, (data, commit)) in cases.into_iter().enumerate() {
        let mut r = new_test_raft(1, &ids(3), 10, 1);
        r.become_follower(1, Some(2));
        let ents = data.iter().map(|d| with_data(1, d)).collect();
        r.step(2, append_with(2, 1, (0, 0), ents, commit));
        assert_eq!(r.commit_index, commit, "case {i}");
        let want: Vec<Vec<u8>> = data[..commit as usize].iter().map(|d| d.to_vec()).collect();
        assert_eq!(datas(&next_ents(&mut r)), want, "case {i}");
    }
}

/// Accepted iff the follower holds the entry before the new ones (§5.3).
#[test]
fn follower_check_message_type_msg_append_p2ab() {
    let cases = [
        ((0, 0), false),
        ((1, 1), false),
        ((2, 2), false),
        ((1, 2), true),
        ((3, 3), true),
    ];
    for (i, (prev, reject)) in cases.into_iter().enumerate() {
        let mut r = with_log(1, &ids(3), &[1, 2], 2);
        r.become_follower(2, Some(2));
        r.commit_index = 1;
        r.last_applied = 1;
        r.step(2, append(2, 2, prev, &[], 1));
        let reply = append_reply(&mut r);
        assert_eq!((reply.term, reply.success), (2, !reject), "case {i}");
    }
}

/// Conflicting entries are replaced, new ones appended, and the ready
/// names exactly the entries to persist (§5.3).
#[test]
fn follower_append_entries_p2ab() {
    type Case = (
        (u64, u64),
        &'static [(u64, u64)],
        &'static [u64],
        Option<std::ops::Range<u64>>,
    );
    let cases: [Case; 4] = [
        ((2, 2), &[(3, 3)], &[1, 2, 3], Some(3..4)),
        ((1, 1), &[(3, 2), (4, 3)], &[1, 3, 4], Some(2..4)),
        ((0, 0), &[(1, 1)], &[1, 2], None),
        ((0, 0), &[(3, 1)], &[3], Some(1..2)),
    ];
    for (i, (prev, ents, want, unstable)) in cases.into_iter().enumerate() {
        let mut r = with_log(1, &ids(3), &[1, 2], 2);
        r.become_follower(2, Some(2));
        r.step(2, append(2, 2, prev, ents, 0));
        assert_eq!(terms(&r), want, "case {i}");
        assert_eq!(r.ready().entries, unstable, "case {i}");
    }
}

/// Figure 7: whatever a follower's log, the leader makes it its own (§5.3).
#[test]
fn leader_sync_follower_log_p2ab() {
    let leader_log = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    let followers: [&[u64]; 6] = [
        &[1, 1, 1, 4, 4, 5, 5, 6, 6],
        &[1, 1, 1, 4],
        &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
        &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
        &[1, 1, 1, 4, 4, 4, 4],
        &[1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    ];
    for (i, follower) in followers.into_iter().enumerate() {
        let mut lead = with_log(1, &ids(3), &leader_log, 8);
        lead.commit_index = 10;
        lead.last_applied = 10;
        let follower = with_log(2, &ids(3), follower, 7);
        let mut n = Network::new(vec![
            Slot::Raft(Box::new(lead)),
            Slot::Raft(Box::new(follower)),
            Slot::Hole,
        ]);
        n.campaign(1);
        // The vote of 3 (a hole) arrives: the election is won at term 9.
        let sent = Sent {
            kind: Kind::Vote,
            term: 9,
            index: 0,
            len: 0,
        };
        let grant = RequestVoteReply {
            term: 9,
            vote_granted: true,
        };
        n.send(3, 1, Message::RequestVoteReply(sent, grant));
        assert_eq!(n.role(1), Role::Leader, "case {i}");
        n.propose(1, b"");
        // Our leader does not broadcast its new commit index: one heartbeat.
        n.beat(1);
        let (l, f) = (dump(n.core(1)), dump(n.core(2)));
        assert_eq!(l, f, "case {i}");
    }
}

/// A vote request carries the candidate's last index and term (§5.4.1).
#[test]
fn vote_request_p2ab() {
    let cases: [(&[(u64, u64)], u64); 2] = [(&[(1, 1)], 2), (&[(1, 1), (2, 2)], 3)];
    for (i, (ents, wterm)) in cases.into_iter().enumerate() {
        let mut r = new_test_raft(1, &ids(3), 10, 1);
        r.step(2, append(2, wterm - 1, (0, 0), ents, 0));
        read_messages(&mut r);
        for _ in 1..2 * 10 {
            r.tick();
        }
        let mut msgs = read_messages(&mut r);
        msgs.sort_by_key(|(to, _)| *to);
        let (last_term, last_index) = ents[ents.len() - 1];
        let want = |to| {
            (
                to,
                Message::RequestVote(RequestVoteArgs {
                    term: wterm,
                    candidate: 1,
                    last_log_index: last_index,
                    last_log_term: last_term,
                }),
            )
        };
        assert_eq!(msgs, vec![want(2), want(3)], "case {i}");
    }
}

/// Refused iff the voter's log is more up to date (§5.4.1).
#[test]
fn voter_p2ab() {
    let cases: [(&[u64], u64, u64, bool); 9] = [
        (&[1], 1, 1, false),
        (&[1], 1, 2, false),
        (&[1, 1], 1, 1, true),
        (&[1], 2, 1, false),
        (&[1], 2, 2, false),
        (&[1, 1], 2, 1, false),
        (&[2], 1, 1, true),
        (&[2], 1, 2, true),
        (&[2, 1], 1, 1, true),
    ];
    for (i, (log, log_term, index, reject)) in cases.into_iter().enumerate() {
        let mut r = with_log(1, &ids(2), log, 0);
        r.step(
            2,
            Message::RequestVote(RequestVoteArgs {
                term: 3,
                candidate: 2,
                last_log_index: index,
                last_log_term: log_term,
            }),
        );
        let msgs = read_messages(&mut r);
        assert!(
            matches!(&msgs[..], [(2, Message::RequestVoteReply(_, v))] if v.vote_granted != reject),
            "case {i}: {msgs:?}"
        );
    }
}

/// Replicas of older-term entries commit nothing; a current-term one
/// commits everything before it (§5.4.2).
#[test]
fn leader_only_commits_log_from_current_term_p2ab() {
    for (index, wcommit) in [(1, 0), (2, 0), (3, 3)] {
        let mut r = with_log(1, &ids(2), &[1, 2], 2);
        r.become_candidate_for_test();
        r.become_leader();
        ack(&mut r, 2, 0, index);
        assert_eq!(r.commit_index, wcommit as u64, "acked through {index}");
    }
}

/// The leader counts its own log as replicated. (We keep no next index
/// for the leader itself, only its match.)
#[test]
fn progress_leader_p2ab() {
    let mut r = new_test_raft(1, &ids(2), 5, 1);
    r.become_candidate_for_test();
    r.become_leader();
    for i in 0..5u64 {
        assert_eq!(r.match_index[1], i + 1);
        assert!(r.propose(b"foo".to_vec()).is_some());
    }
}

/// A candidate that lost because a quorum saw a later election tries
/// again at a higher term and overwrites the newer, uncommitted entry.
#[test]
fn leader_election_overwrite_newer_logs_p2ab() {
    let voted = |id| {
        let mut r = new_test_raft(id, &ids(5), 10, 1);
        r.term = 2;
        r.voted_for = Some(3);
        r
    };
    let mut n = Network::new(vec![
        Slot::Raft(Box::new(with_log(1, &ids(5), &[1], 1))),
        Slot::Raft(Box::new(with_log(2, &ids(5), &[1], 1))),
        Slot::Raft(Box::new(with_log(3, &ids(5), &[2], 2))),
        Slot::Raft(Box::new(voted(4))),
        Slot::Raft(Box::new(voted(5))),
    ]);
    n.campaign(1);
    assert_eq!((n.role(1), n.core(1).term), (Role::Follower, 2));
    n.campaign(1);
    assert_eq!((n.role(1), n.core(1).term), (Role::Leader, 3));
    for id in 1..=5 {
        assert_eq!(terms(n.core(id)), vec![1, 3], "peer {id}");
    }
}

/// Proposals, also across a change of leader, commit everywhere and are
/// applied in order. (Checked after a heartbeat that carries the commit.)
#[test]
fn log_replication_p2ab() {
    // Case 1: one proposal.
    let mut n = Network::fresh(3);
    n.campaign(1);
    n.propose(1, b"somedata");
    n.beat(1);
    for id in 1..=3 {
        assert_eq!(n.core(id).commit_index, 2, "peer {id}");
        assert_eq!(datas(&n.applied[&id]), vec![b"somedata".to_vec()]);
    }
    // Case 2: a proposal, a new leader, another proposal.
    let mut n = Network::fresh(3);
    n.campaign(1);
    n.propose(1, b"somedata");
    n.campaign(2);
    n.propose(2, b"somedata");
    n.beat(2);
    for id in 1..=3 {
        assert_eq!(n.core(id).commit_index, 4, "peer {id}");
        assert_eq!(datas(&n.applied[&id]), vec![b"somedata".to_vec(); 2]);
    }
}

#[test]
fn single_node_commit_p2ab() {
    let mut n = Network::fresh(1);
    n.campaign(1);
    n.propose(1, b"some data");
    n.propose(1, b"some data");
    assert_eq!(n.core(1).commit_index, 3);
}

/// Entries of an earlier term commit only with one of the current term.
#[test]
fn commit_without_new_term_entry_p2ab() {
    let mut n = Network::fresh(5);
    n.campaign(1);
    for id in [3, 4, 5] {
        n.cut(1, id);
    }
    n.propose(1, b"some data");
    n.propose(1, b"some data");
    assert_eq!(n.core(1).commit_index, 1);
    n.recover();
    // Keep the new leader's no-op from committing.
    n.ignore("AppendEntries");
    n.campaign(2);
    assert_eq!(n.role(2), Role::Leader);
    assert_eq!(
        n.core(2).commit_index,
        1,
        "an old-term entry committed alone"
    );
    n.recover();
    n.beat(2);
    n.propose(2, b"some data");
    assert_eq!(n.core(2).commit_index, 5);
}

/// A heartbeat brings a reconnected follower up to the leader's commit.
#[test]
fn commit_with_heartbeat_p2ab() {
    let mut n = Network::fresh(5);
    n.campaign(1);
    n.isolate(5);
    for _ in 0..2 {
        n.propose(1, b"some data");
    }
    assert_eq!(n.core(1).commit_index, 3);
    // Ours learned no commit from the no-op's round (no commit broadcast).
    assert!(n.core(5).commit_index <= 1);
    n.recover();
    n.beat(1);
    assert_eq!(n.core(5).commit_index, 3);
}

#[test]
fn dueling_candidates_p2ab() {
    let mut n = Network::fresh(3);
    n.cut(1, 3);
    n.campaign(1);
    n.campaign(3);
    assert_eq!(n.role(1), Role::Leader);
    assert_eq!(n.role(3), Role::Candidate);
    n.recover();
    // 3 disrupts with a higher term but cannot win: its log is too short.
    n.campaign(3);
    for id in 1..=3 {
        assert_eq!(
            (n.role(id), n.core(id).term),
            (Role::Follower, 2),
            "peer {id}"
        );
    }
    assert_eq!(n.core(1).commit_index, 1);
    assert_eq!(terms(n.core(1)), vec![1]);
    assert_eq!(terms(n.core(2)), vec![1]);
    assert!(terms(n.core(3)).is_empty());
}

#[test]
fn candidate_concede_p2ab() {
    let mut n = Network::fresh(3);
    n.isolate(1);
    n.campaign(1);
    n.campaign(3);
    n.recover();
    n.beat(3);
    n.propose(3, b"force follower");
    n.beat(3);
    assert_eq!((n.role(1), n.core(1).term), (Role::Follower, 1));
    let want = (2, 2, vec![(1, Vec::new()), (1, b"force follower".to_vec())]);
    for id in 1..=3 {
        assert_eq!(dump(n.core(id)), want, "peer {id}");
    }
}

/// A deposed leader's stale append is ignored.
#[test]
fn old_messages_p2ab() {
    let mut n = Network::fresh(3);
    n.campaign(1);
    n.campaign(2);
    n.campaign(1);
    n.send(2, 1, append(2, 2, (2, 2), &[(2, 3)], 0));
    n.propose(1, b"somedata");
    n.beat(1);
    let want = (
        4,
        4,
        vec![
            (1, Vec::new()),
            (2, Vec::new()),
            (3, Vec::new()),
            (3, b"somedata".to_vec()),
        ],
    );
    for id in 1..=3 {
        assert_eq!(dump(n.core(id)), want, "peer {id}");
    }
}

/// A proposal commits everywhere iff node 1 could win.
#[test]
fn proposal_p2ab() {
    use Slot::{Fresh, Hole};
    let cases = [
        (vec![Fresh, Fresh, Fresh], true),
        (vec![Fresh, Fresh, Hole], true),
        (vec![Fresh, Hole, Hole], false),
        (vec![Fresh, Hole, Hole, Fresh], false),
        (vec![Fresh, Hole, Hole, Fresh, Fresh], true),
    ];
    for (i, (slots, success)) in cases.into_iter().enumerate() {
        let mut n = Network::new(slots);
        n.campaign(1);
        assert_eq!(n.propose(1, b"somedata").is_some(), success, "case {i}");
        n.beat(1);
        let want = if success {
            (2, 2, vec![(1, Vec::new()), (1, b"somedata".to_vec())])
        } else {
            (0, 0, Vec::new())
        };
        let live: Vec<usize> = n
            .peers
            .iter()
            .filter(|(_, c)| c.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in live {
            assert_eq!(dump(n.core(id)), want, "case {i}, peer {id}");
        }
        assert_eq!(n.core(1).term, 1, "case {i}");
    }
}

/// The follower's append handler, case by case: last index, commit, reject.
#[test]
fn handle_message_type_msg_append_p2ab() {
    type Case = ((u64, u64), &'static [(u64, u64)], u64, u64, u64, bool);
    let cases: [Case; 11] = [
        ((3, 2), &[], 3, 2, 0, true),
        ((3, 3), &[], 3, 2, 0, true),
        ((1, 1), &[], 1, 2, 1, false),
        ((0, 0), &[(2, 1)], 1, 1, 1, false),
        ((2, 2), &[(2, 3), (2, 4)], 3, 4, 3, false),
        ((2, 2), &[(2, 3)], 4, 3, 3, false),
        ((1, 1), &[(2, 2)], 4, 2, 2, false),
        ((1, 1), &[], 3, 2, 1, false),
        ((1, 1), &[(2, 2)], 3, 2, 2, false),
        ((2, 2), &[], 3, 2, 2, false),
        ((2, 2), &[], 4, 2, 2, false),
    ];
    for (i, (prev, ents, commit, windex, wcommit, reject)) in cases.into_iter().enumerate() {
        let mut r = with_log(1, &[1], &[1, 2], 2);
        r.become_follower(2, None);
        r.step(2, append(2, 2, prev, ents, commit));
        let reply = append_reply(&mut r);
        assert_eq!(
            (r.log.last_index(), r.commit_index, reply.success),
            (windex, wcommit, !reject),
            "case {i}"
        );
    }
}

/// Vote request handling over log position, prior vote and role.
#[test]
fn recv_message_type_msg_request_vote_p2ab() {
    use Role::*;
    let cases: [(Role, u64, u64, Option<usize>, bool); 20] = [
        (Follower, 0, 0, None, true),
        (Follower, 0, 1, None, true),
        (Follower, 0, 2, None, true),
        (Follower, 0, 3, None, false),
        (Follower, 1, 0, None, true),
        (Follower, 1, 1, None, true),
        (Follower, 1, 2, None, true),
        (Follower, 1, 3, None, false),
        (Follower, 2, 0, None, true),
        (Follower, 2, 1, None, true),
        (Follower, 2, 2, None, false),
        (Follower, 2, 3, None, false),
        (Follower, 3, 0, None, true),
        (Follower, 3, 1, None, true),
        (Follower, 3, 2, None, false),
        (Follower, 3, 3, None, false),
        (Follower, 3, 2, Some(2), false),
        (Follower, 3, 2, Some(1), true),
        (Leader, 3, 3, Some(1), true),
        (Candidate, 3, 3, Some(1), true),
    ];
    for (i, (role, index, log_term, vote, reject)) in cases.into_iter().enumerate() {
        let term = log_term.max(2);
        let mut r = with_log(1, &ids(3), &[2, 2], term);
        r.role = role;
        r.voted_for = vote;
        r.step(
            2,
            Message::RequestVote(RequestVoteArgs {
                term,
                candidate: 2,
                last_log_index: index,
                last_log_term: log_term,
            }),
        );
        let msgs = read_messages(&mut r);
        assert!(
            matches!(&msgs[..], [(2, Message::RequestVoteReply(_, v))] if v.vote_granted != reject),
            "case {i}: {msgs:?}"
        );
    }
}

/// Any role steps down on a higher-term vote request or append; only an
/// append names a leader.
#[test]
fn all_server_stepdown_p2ab() {
    for (role, windex) in [(Role::Follower, 0), (Role::Candidate, 0), (Role::Leader, 1)] {
        for is_append in [false, true] {
            let mut r = new_test_raft(1, &ids(3), 10, 1);
            match role {
                Role::Follower => r.become_follower(1, None),
                Role::Candidate => r.become_candidate_for_test(),
                Role::Leader => {
                    r.become_candidate_for_test();
                    r.become_leader();
                }
            }
            let m = if is_append {
                append(2, 3, (3, 0), &[], 0)
            } else {
                Message::RequestVote(RequestVoteArgs {
                    term: 3,
                    candidate: 2,
                    last_log_index: 0,
                    last_log_term: 3,
                })
            };
            r.step(2, m);
            let lead = is_append.then_some(2);
            assert_eq!(
                (r.role, r.term, r.log.last_index(), r.lead),
                (Role::Follower, 3, windex, lead),
                "{role:?}, append {is_append}"
            );
        }
    }
}

/// A heartbeat never makes a follower commit entries it is not shown to
/// share: the deposed leader's own entries stay uncommitted. We hand the
/// old leader the new leader's bare heartbeat alone (ours is an
/// AppendEntries, so "ignore MsgAppend but deliver heartbeats" has no
/// counterpart in the network).
#[test]
fn heartbeat_update_commit_p2ab() {
    for n_proposals in [1, 5, 10] {
        let mut n = Network::fresh(3);
        n.campaign(1);
        n.isolate(1);
        for _ in 0..n_proposals {
            assert!(n.propose(1, b"old").is_some());
        }
        n.campaign(2);
        for _ in 0..n_proposals {
            assert!(n.propose(2, b"new").is_some());
        }
        assert_eq!(n.core(2).commit_index, 2 + n_proposals);
        n.recover();
        let new = n.core(2);
        read_messages(new);
        new.send_heartbeat(1);
        let beat = read_messages(new)
            .into_iter()
            .find(|(to, _)| *to == 1)
            .map(|(_, m)| m)
            .expect("a heartbeat to 1");
        n.core(1).step(2, beat);
        assert!(n.core(1).commit_index <= 1, "n {n_proposals}");
    }
}

#[test]
fn leader_increase_next_p2ab() {
    let old = with_log(1, &ids(3), &[1, 1, 1], 1);
    let mut n = Network::new(vec![Slot::Raft(Box::new(old)), Slot::Fresh, Slot::Fresh]);
    n.campaign(1);
    n.propose(1, b"somedata");
    assert_eq!(n.core(1).next_index[2], 6);
}
