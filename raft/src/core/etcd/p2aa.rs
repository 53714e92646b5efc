//! 2AA: leader election (TinyKV `raft_paper_test.go`, `raft_test.go`).

use std::collections::BTreeSet;

use super::*;
use crate::core::{Kind, Sent};
use crate::messages::{RequestVoteArgs, RequestVoteReply};

fn vote_sent(term: u64) -> Sent {
    Sent {
        kind: Kind::Vote,
        term,
        index: 0,
        len: 0,
    }
}

fn in_role(role: Role, id: usize, n: usize) -> Core {
    let mut r = new_test_raft(id, &ids(n), 10, 1);
    match role {
        Role::Follower => r.become_follower(1, Some(2)),
        Role::Candidate => r.become_candidate_for_test(),
        Role::Leader => {
            r.become_candidate_for_test();
            r.become_leader();
        }
    }
    r
}

/// Any message with a higher term makes the receiver a follower of it (§5.1).
fn update_term_from_message(role: Role) {
    let mut r = in_role(role, 1, 3);
    r.step(2, append(2, 2, (0, 0), &[], 0));
    assert_eq!((r.term, r.role), (2, Role::Follower));
}

#[test]
fn follower_update_term_from_message_p2aa() {
    update_term_from_message(Role::Follower);
}

#[test]
fn candidate_update_term_from_message_p2aa() {
    update_term_from_message(Role::Candidate);
}

#[test]
fn leader_update_term_from_message_p2aa() {
    update_term_from_message(Role::Leader);
}

/// A new node is a follower (§5.2).
#[test]
fn start_as_follower_p2aa() {
    let r = new_test_raft(1, &ids(3), 10, 1);
    assert_eq!((r.role, r.term), (Role::Follower, 0));
}

/// After one heartbeat period the leader reaches each follower exactly
/// once, at its term (§5.2). Ours is an AppendEntries; since the no-op and
/// the ten entries went unacknowledged for a whole period, it carries them
/// again (etcd sends a bare `MsgHeartbeat` and resends on its response).
#[test]
fn leader_bcast_beat_p2aa() {
    let mut r = in_role(Role::Leader, 1, 3);
    for i in 0..10u8 {
        assert!(r.propose(vec![i + 1]).is_some());
    }
    read_messages(&mut r);
    r.tick();
    let mut msgs = read_messages(&mut r);
    msgs.sort_by_key(|(to, _)| *to);
    let got: Vec<(usize, u64, usize)> = msgs
        .iter()
        .map(|(to, m)| match m {
            Message::AppendEntries(a) => (*to, a.term, a.entries.len()),
            other => panic!("not a heartbeat: {other:?}"),
        })
        .collect();
    assert_eq!(got, vec![(2, 1, 11), (3, 1, 11)]);
}

/// After `2·et − 1` ticks a non-leader has stood for election exactly once (§5.2).
fn nonleader_start_election(role: Role) {
    let mut r = in_role(role, 1, 3);
    for _ in 1..2 * 10 {
        r.tick();
    }
    assert_eq!((r.term, r.role), (2, Role::Candidate));
    assert_eq!(r.voted_for, Some(1));
    assert_eq!(r.votes[1], Some(true));
    let mut msgs = read_messages(&mut r);
    msgs.sort_by_key(|(to, _)| *to);
    let want = |to| {
        (
            to,
            Message::RequestVote(RequestVoteArgs {
                term: 2,
                candidate: 1,
                last_log_index: 0,
                last_log_term: 0,
            }),
        )
    };
    assert_eq!(msgs, vec![want(2), want(3)]);
}

#[test]
fn follower_start_election_p2aa() {
    nonleader_start_election(Role::Follower);
}

#[test]
fn candidate_start_new_election_p2aa() {
    nonleader_start_election(Role::Candidate);
}

/// Leader iff a majority granted, else still a candidate (§5.2).
#[test]
fn leader_election_in_one_round_rpc_p2aa() {
    use Role::*;
    type Case = (usize, &'static [(usize, bool)], Role);
    let cases: [Case; 10] = [
        (1, &[], Leader),
        (3, &[(2, true), (3, true)], Leader),
        (3, &[(2, true)], Leader),
        (5, &[(2, true), (3, true), (4, true), (5, true)], Leader),
        (5, &[(2, true), (3, true), (4, true)], Leader),
        (5, &[(2, true), (3, true)], Leader),
        (3, &[], Candidate),
        (5, &[(2, true)], Candidate),
        (5, &[(2, false), (3, false)], Candidate),
        (5, &[], Candidate),
    ];
    for (i, (size, votes, want)) in cases.into_iter().enumerate() {
        let mut r = new_test_raft(1, &ids(size), 10, 1);
        r.campaign();
        for &(from, granted) in votes {
            let reply = RequestVoteReply {
                term: r.term,
                vote_granted: granted,
            };
            r.step(from, Message::RequestVoteReply(vote_sent(1), reply));
        }
        assert_eq!((r.role, r.term), (want, 1), "case {i}");
    }
}

/// First come, first served (§5.2).
#[test]
fn follower_vote_p2aa() {
    let cases = [
        (None, 1, false),
        (None, 2, false),
        (Some(1), 1, false),
        (Some(2), 2, false),
        (Some(1), 2, true),
        (Some(2), 1, true),
    ];
    for (i, (vote, candidate, reject)) in cases.into_iter().enumerate() {
        let mut r = new_test_raft(1, &ids(3), 10, 1);
        r.term = 1;
        r.voted_for = vote;
        r.step(
            candidate,
            Message::RequestVote(RequestVoteArgs {
                term: 1,
                candidate: candidate as u32,
                last_log_index: 0,
                last_log_term: 0,
            }),
        );
        let msgs = read_messages(&mut r);
        let reply = RequestVoteReply {
            term: 1,
            vote_granted: !reject,
        };
        assert_eq!(
            msgs,
            vec![(candidate, Message::RequestVoteReply(vote_sent(1), reply))],
            "case {i}"
        );
    }
}

/// A candidate that hears from a leader of its term or later follows it (§5.2).
#[test]
fn candidate_fallback_p2aa() {
    for term in [1, 2] {
        let mut r = new_test_raft(1, &ids(3), 10, 1);
        r.campaign();
        assert_eq!(r.role, Role::Candidate);
        r.step(2, append(2, term, (0, 0), &[], 0));
        assert_eq!((r.role, r.term, r.lead), (Role::Follower, term, Some(2)));
    }
}

/// Every timeout in `[et, 2·et)` occurs, and no other (§5.2). We count the
/// ticks to the election, which is the drawn timeout itself; the reference
/// counts one more because it campaigns only once elapsed exceeds it.
fn election_timeout_randomized(role: Role) {
    let et = 10;
    let mut r = new_test_raft(1, &ids(3), et, 1);
    let mut seen = BTreeSet::new();
    for _ in 0..500 {
        let term = r.term + 1;
        match role {
            Role::Follower => r.become_follower(term, None),
            _ => r.become_candidate_for_test(),
        }
        r.reset_election_timer();
        read_messages(&mut r);
        let mut ticks = 0;
        while read_messages(&mut r).is_empty() {
            r.tick();
            ticks += 1;
        }
        seen.insert(ticks);
    }
    assert_eq!(seen, (et..2 * et).collect::<BTreeSet<u32>>());
}

#[test]
fn follower_election_timeout_randomized_p2aa() {
    election_timeout_randomized(Role::Follower);
}

#[test]
fn candidate_election_timeout_randomized_p2aa() {
    election_timeout_randomized(Role::Candidate);
}

/// Randomization rarely makes two of five peers time out on the same
/// tick: at most 30 % of 1000 rounds (§5.2).
fn election_timeout_nonconflict(role: Role) {
    let mut rs: Vec<Core> = ids(5)
        .into_iter()
        .map(|id| new_test_raft(id, &ids(5), 10, 1))
        .collect();
    let mut conflicts = 0;
    for _ in 0..1000 {
        for r in &mut rs {
            let term = r.term + 1;
            match role {
                Role::Follower => r.become_follower(term, None),
                _ => r.become_candidate_for_test(),
            }
            r.reset_election_timer();
            read_messages(r);
        }
        let mut timeouts = 0;
        while timeouts == 0 {
            for r in &mut rs {
                r.tick();
                if !read_messages(r).is_empty() {
                    timeouts += 1;
                }
            }
        }
        if timeouts > 1 {
            conflicts += 1;
        }
    }
    assert!(conflicts <= 300, "{conflicts} of 1000 rounds conflicted");
}

#[test]
fn followers_election_timeout_nonconflict_p2aa() {
    election_timeout_nonconflict(Role::Follower);
}

#[test]
fn candidates_election_timeout_nonconflict_p2aa() {
    election_timeout_nonconflict(Role::Candidate);
}

#[test]
fn leader_election_p2aa() {
    use Slot::{Fresh, Hole};
    let cases = [
        (vec![Fresh, Fresh, Fresh], Role::Leader),
        (vec![Fresh, Fresh, Hole], Role::Leader),
        (vec![Fresh, Hole, Hole], Role::Candidate),
        (vec![Fresh, Hole, Hole, Fresh], Role::Candidate),
        (vec![Fresh, Hole, Hole, Fresh, Fresh], Role::Leader),
    ];
    for (i, (slots, want)) in cases.into_iter().enumerate() {
        let mut n = Network::new(slots);
        n.campaign(1);
        assert_eq!((n.role(1), n.core(1).term), (want, 1), "case {i}");
    }
}

/// Each node can win an election in turn, and the others follow.
#[test]
fn leader_cycle_p2aa() {
    let mut n = Network::fresh(3);
    for campaigner in 1..=3 {
        n.campaign(campaigner);
        for id in 1..=3 {
            let want = if id == campaigner {
                Role::Leader
            } else {
                Role::Follower
            };
            assert_eq!(n.role(id), want, "campaigner {campaigner}, peer {id}");
        }
    }
}

/// A higher-term vote request from an up-to-date candidate is granted in
/// any role, and the voter follows at the new term.
#[test]
fn vote_from_any_state_p2aa() {
    for role in [Role::Follower, Role::Candidate, Role::Leader] {
        let mut r = in_role(role, 1, 3);
        let term = r.term + 1;
        r.step(
            2,
            Message::RequestVote(RequestVoteArgs {
                term,
                candidate: 2,
                last_log_index: 42,
                last_log_term: term,
            }),
        );
        let msgs = read_messages(&mut r);
        let granted = msgs.iter().any(|(to, m)| {
            *to == 2 && matches!(m, Message::RequestVoteReply(_, r) if r.vote_granted)
        });
        assert!(granted, "{role:?} did not grant: {msgs:?}");
        assert_eq!(
            (r.role, r.term, r.voted_for),
            (Role::Follower, term, Some(2))
        );
    }
}

#[test]
fn single_node_candidate_p2aa() {
    let mut n = Network::fresh(1);
    n.campaign(1);
    assert_eq!(n.role(1), Role::Leader);
}

/// An isolated node that ticked into candidacy follows the leader's
/// higher term once it hears from it.
fn candidate_reset_term(with_entries: bool) {
    let mut n = Network::fresh(3);
    n.campaign(1);
    n.isolate(3);
    n.campaign(2);
    n.campaign(1);
    assert_eq!((n.role(1), n.role(2)), (Role::Leader, Role::Follower));
    let c = n.core(3);
    c.reset_election_timer();
    for _ in 0..c.election_timeout {
        c.tick();
    }
    assert_eq!(c.role, Role::Candidate);
    // Its vote requests were sent while it was cut off: lost.
    read_messages(c);
    n.recover();
    let term = n.core(1).term;
    let message = if with_entries {
        append(1, term, (1, 1), &[(term, 2)], 0)
    } else {
        heartbeat(1, term, 0)
    };
    n.send(1, 3, message);
    assert_eq!((n.role(3), n.core(3).term), (Role::Follower, term));
}

#[test]
fn candidate_reset_term_message_type_msg_heartbeat_p2aa() {
    candidate_reset_term(false);
}

#[test]
fn candidate_reset_term_message_type_msg_append_p2aa() {
    candidate_reset_term(true);
}

/// A candidate's reply to a stale leader's heartbeat makes that leader step down.
#[test]
fn disruptive_follower_p2aa() {
    let mut n = Network::fresh(3);
    for id in 1..=3 {
        n.core(id).become_follower(1, None);
    }
    n.campaign(1);
    assert_eq!((n.role(1), n.core(1).term), (Role::Leader, 2));
    // n3 times out (its requests lost) and stands at term 3.
    let c = n.core(3);
    c.reset_election_timer();
    for _ in 0..c.election_timeout {
        c.tick();
    }
    read_messages(c);
    assert_eq!((c.role, c.term), (Role::Candidate, 3));
    n.send(1, 3, heartbeat(1, 2, 0));
    assert_eq!((n.role(1), n.core(1).term), (Role::Follower, 3));
    assert_eq!((n.role(3), n.core(3).term), (Role::Candidate, 3));
}

/// `MsgBeat` makes a leader heartbeat both followers; others ignore it.
#[test]
fn recv_message_type_msg_beat_p2aa() {
    for (role, want) in [(Role::Leader, 2), (Role::Candidate, 0), (Role::Follower, 0)] {
        let mut r = in_role(role, 1, 3);
        read_messages(&mut r);
        r.beat();
        let msgs = read_messages(&mut r);
        assert_eq!(msgs.len(), want, "{role:?}");
        assert!(
            msgs.iter()
                .all(|(_, m)| matches!(m, Message::AppendEntries(a) if a.entries.is_empty()))
        );
    }
}

#[test]
fn campaign_while_leader_p2aa() {
    let mut r = new_test_raft(1, &[1], 5, 1);
    r.campaign();
    assert_eq!(r.role, Role::Leader);
    let term = r.term;
    r.campaign();
    assert_eq!((r.role, r.term), (Role::Leader, term));
}

/// Two candidates that split the vote; the next round elects one.
#[test]
fn split_vote_p2aa() {
    let mut n = Network::fresh(3);
    n.campaign(1);
    let term = n.core(1).term;
    n.isolate(1);
    // Both stand before either hears from the other.
    n.core(2).campaign();
    n.core(3).campaign();
    n.flush(2);
    n.flush(3);
    for id in [2, 3] {
        assert_eq!((n.role(id), n.core(id).term), (Role::Candidate, term + 1));
    }
    n.campaign(2);
    assert_eq!((n.role(2), n.core(2).term), (Role::Leader, term + 2));
    assert_eq!(n.role(3), Role::Follower);
}
