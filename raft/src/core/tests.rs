//! Timer-free tests of the pure core on a synchronous harness network.

use std::collections::BTreeSet;

use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::*;
use crate::messages::{AppendEntriesArgs, AppendEntriesReply, RequestVoteArgs};

/// Cores wired together; messages are delivered until the network is quiet.
struct Cluster {
    cores: Vec<Core>,
    /// Peers cut off from everyone.
    down: BTreeSet<usize>,
}

impl Cluster {
    fn new(n: usize) -> Cluster {
        Cluster {
            cores: (0..n)
                .map(|i| {
                    Core::new(i, n, &[], Vec::new(), SmallRng::seed_from_u64(i as u64 + 1)).unwrap()
                })
                .collect(),
            down: BTreeSet::new(),
        }
    }

    fn deliver(&mut self) {
        loop {
            let mut sent = Vec::new();
            for (i, core) in self.cores.iter_mut().enumerate() {
                let ready = core.ready();
                core.advance(&ready);
                sent.extend(ready.messages.into_iter().map(|(to, m)| (i, to, m)));
            }
            if sent.is_empty() {
                return;
            }
            for (from, to, message) in sent {
                if self.down.contains(&from) || self.down.contains(&to) {
                    // The sender's driver learns of the loss of a request.
                    if let Some(sent) = message.sent() {
                        self.cores[from].step(to, Message::Unreachable(sent));
                    }
                    continue;
                }
                self.cores[to].step(from, message);
            }
        }
    }

    fn tick_until_leader(&mut self) -> usize {
        for _ in 0..1000 {
            for (i, c) in self.cores.iter_mut().enumerate() {
                if !self.down.contains(&i) {
                    c.tick();
                }
            }
            self.deliver();
            let leaders: Vec<usize> = (0..self.cores.len())
                .filter(|i| !self.down.contains(i) && self.cores[*i].is_leader())
                .collect();
            if let [leader] = leaders[..] {
                return leader;
            }
        }
        panic!("no leader elected");
    }

    fn heartbeat(&mut self) {
        for _ in 0..HEARTBEAT_TICKS {
            for (i, c) in self.cores.iter_mut().enumerate() {
                if !self.down.contains(&i) && c.is_leader() {
                    c.tick();
                }
            }
        }
        self.deliver();
    }
}

#[test]
fn elects_exactly_one_leader_and_terms_agree() {
    let mut c = Cluster::new(3);
    let leader = c.tick_until_leader();
    c.heartbeat();
    let term = c.cores[leader].term();
    assert!(term >= 1);
    assert!(c.cores.iter().all(|x| x.term() == term));
    assert_eq!(c.cores.iter().filter(|x| x.is_leader()).count(), 1);
}

#[test]
fn commits_on_a_majority_and_applies_in_order() {
    let mut c = Cluster::new(3);
    let leader = c.tick_until_leader();
    let follower = (leader + 1) % 3;
    c.down.insert((leader + 2) % 3);
    for i in 0..5u8 {
        assert_eq!(
            c.cores[leader].propose(vec![i]).map(|(idx, _)| idx),
            Some(u64::from(i) + 1)
        );
        c.deliver();
    }
    c.heartbeat();
    assert_eq!(c.cores[leader].commit_index, 5);
    assert_eq!(c.cores[follower].commit_index, 5);
    assert_eq!(c.cores[follower].last_applied, 5);
}

#[test]
fn stale_leader_is_overwritten_using_fast_backup() {
    let mut c = Cluster::new(5);
    let old = c.tick_until_leader();
    // The old leader appends entries nobody else sees.
    let others: Vec<usize> = (0..5).filter(|&i| i != old).collect();
    c.down.insert(old);
    for i in 0..50u8 {
        c.cores[old].propose(vec![i]);
    }
    let new = c.tick_until_leader();
    assert_ne!(new, old);
    for i in 0..20u8 {
        c.cores[new].propose(vec![100 + i]);
        c.deliver();
    }
    c.down.clear();
    for _ in 0..5 {
        c.heartbeat();
    }
    let expected: Vec<_> = (1..=20).map(|i| c.cores[new].log.get(i).cloned()).collect();
    for &p in others.iter().chain([&old]) {
        let got: Vec<_> = (1..=20).map(|i| c.cores[p].log.get(i).cloned()).collect();
        assert_eq!(got, expected, "peer {p} diverges from the leader");
        assert_eq!(c.cores[p].log.last_index(), 20);
    }
}

#[test]
fn snapshot_trims_log_and_catches_up_a_lagging_peer() {
    let mut c = Cluster::new(3);
    let leader = c.tick_until_leader();
    let lagging = (leader + 1) % 3;
    c.down.insert(lagging);
    for i in 0..30u8 {
        c.cores[leader].propose(vec![i]);
        c.deliver();
    }
    c.heartbeat();
    c.cores[leader].snapshot(25, b"state@25".to_vec());
    assert_eq!(c.cores[leader].log.base(), 25);
    c.down.clear();
    c.heartbeat();
    c.heartbeat();
    let l = &mut c.cores[lagging];
    assert_eq!(l.snapshot_data(), b"state@25");
    assert_eq!(l.commit_index, 30);
    let applies = l.ready().committed;
    assert!(
        applies.is_empty(),
        "applies were not handed out in earlier readies"
    );
}

#[test]
fn persisted_state_round_trips() {
    let mut c = Cluster::new(3);
    let leader = c.tick_until_leader();
    c.cores[leader].propose(vec![7]);
    c.deliver();
    let state = c.cores[leader].encode_state();
    let restored = Core::new(leader, 3, &state, Vec::new(), SmallRng::seed_from_u64(9)).unwrap();
    assert_eq!(restored.term(), c.cores[leader].term());
    assert_eq!(restored.log, c.cores[leader].log);
    assert_eq!(restored.voted_for, Some(leader));
    assert!(Core::new(0, 3, b"garbage", Vec::new(), SmallRng::seed_from_u64(1)).is_err());
}

impl Cluster {
    /// Elects a leader, lets one heartbeat settle, then ticks it half-way
    /// to the next one (so a flight sent now is young at that heartbeat)
    /// and drops what it wants sent. Returns (leader, one follower).
    fn leader_between_heartbeats(&mut self) -> (usize, usize) {
        let leader = self.tick_until_leader();
        self.heartbeat();
        let l = &mut self.cores[leader];
        for _ in 0..HEARTBEAT_TICKS / 2 {
            l.tick();
        }
        l.ready();
        (leader, (leader + 1) % self.cores.len())
    }
}

/// Requests the leader has handed to its driver for `peer`, taken out.
fn appends_to(core: &mut Core, peer: usize) -> Vec<AppendEntriesArgs> {
    core.ready()
        .messages
        .into_iter()
        .filter_map(|(to, m)| match m {
            Message::AppendEntries(a) if to == peer => Some(a),
            _ => None,
        })
        .collect()
}

/// The answer to `args` as the peer would send it.
fn reply_to(args: &AppendEntriesArgs, reply: AppendEntriesReply) -> Message {
    let sent = Message::AppendEntries(args.clone()).sent().unwrap();
    Message::AppendEntriesReply(sent, reply)
}

fn lost(args: &AppendEntriesArgs) -> Message {
    Message::Unreachable(Message::AppendEntries(args.clone()).sent().unwrap())
}

#[test]
fn one_flight_per_follower_whatever_the_proposals_and_heartbeats() {
    let mut c = Cluster::new(3);
    let (leader, peer) = c.leader_between_heartbeats();
    let l = &mut c.cores[leader];

    // The first proposal leaves at once; the next ones wait for its reply.
    l.propose(vec![1]);
    let first = appends_to(l, peer);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].entries.len(), 1);
    for i in 2..=20u8 {
        l.propose(vec![i]);
    }
    assert!(appends_to(l, peer).is_empty(), "a second stream started");

    // A heartbeat while the flight is young carries no entries.
    for _ in 0..HEARTBEAT_TICKS / 2 {
        l.tick();
    }
    let beats = appends_to(l, peer);
    assert_eq!(beats.len(), 1);
    assert!(beats[0].entries.is_empty(), "heartbeat carried entries");

    // The flight's reply sends everything proposed meanwhile, in one batch.
    let reply = AppendEntriesReply {
        term: l.term(),
        success: true,
        ..Default::default()
    };
    l.step(peer, reply_to(&first[0], reply));
    let batch = appends_to(l, peer);
    assert_eq!(batch.len(), 1);
    assert_eq!((batch[0].prev_log_index, batch[0].entries.len()), (1, 19));

    // A lost flight is sent again by the next heartbeat, not before.
    l.step(peer, lost(&batch[0]));
    assert!(appends_to(l, peer).is_empty());
    for _ in 0..HEARTBEAT_TICKS {
        l.tick();
    }
    let again = appends_to(l, peer);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].entries.len(), 19, "the lost batch was not resent");
}

#[test]
fn a_silent_flight_is_resent_after_a_heartbeat_period() {
    let mut c = Cluster::new(3);
    let (leader, peer) = c.leader_between_heartbeats();
    let l = &mut c.cores[leader];
    l.propose(vec![1]);
    assert_eq!(appends_to(l, peer).len(), 1);
    // Two heartbeat periods without any reply: the second resends.
    let mut carried = Vec::new();
    for _ in 0..2 * HEARTBEAT_TICKS {
        l.tick();
        carried.extend(appends_to(l, peer).into_iter().map(|a| a.entries.len()));
    }
    assert_eq!(carried, vec![0, 1]);
}

#[test]
fn an_unreachable_peer_ends_the_flight_without_moving_its_indices() {
    let mut c = Cluster::new(3);
    let (leader, peer) = c.leader_between_heartbeats();
    let l = &mut c.cores[leader];
    l.propose(vec![1]);
    let sent = appends_to(l, peer);
    let (next, matched) = (l.next_index[peer], l.match_index[peer]);
    l.step(peer, lost(&sent[0]));
    assert!(l.is_leader());
    assert_eq!((l.next_index[peer], l.match_index[peer]), (next, matched));
    assert!(
        appends_to(l, peer).is_empty(),
        "resent at once to a dead peer"
    );
    assert!(l.in_flight[peer].is_none());
}

/// The reply `core` queued for `to`, taken out of its ready.
fn reply_of(core: &mut Core, to: usize) -> Message {
    let ready = core.ready();
    core.advance(&ready);
    ready
        .messages
        .into_iter()
        .find(|(peer, m)| *peer == to && m.is_response())
        .map(|(_, m)| m)
        .expect("no reply")
}

#[test]
fn vote_requests_from_unknown_peers_or_stale_terms_are_refused() {
    let mut c = Cluster::new(3);
    let leader = c.tick_until_leader();
    c.heartbeat();
    let follower = (leader + 1) % 3;
    let f = &mut c.cores[follower];
    let term = f.term();

    let unknown = RequestVoteArgs {
        term: term + 1,
        candidate: 7,
        last_log_index: 100,
        last_log_term: term + 1,
    };
    f.step(7, Message::RequestVote(unknown));
    let Message::RequestVoteReply(_, reply) = reply_of(f, 7) else {
        panic!("not a vote reply")
    };
    assert!(!reply.vote_granted, "voted for a peer that does not exist");
    assert_eq!(f.voted_for, None, "a vote was recorded for an unknown peer");

    let stale = RequestVoteArgs {
        term: term - 1,
        candidate: leader as u32,
        last_log_index: 100,
        last_log_term: term,
    };
    let before = f.term();
    f.step(leader, Message::RequestVote(stale));
    let Message::RequestVoteReply(_, reply) = reply_of(f, leader) else {
        panic!("not a vote reply")
    };
    assert!(!reply.vote_granted);
    assert_eq!(f.term(), before);
}

/// A peer with no configuration yet (TinyKV: created from its first
/// message, awaiting a snapshot) votes for any candidate with an
/// up-to-date log: a region whose two voters are such a peer and a
/// candidate with a higher id elects a leader only if it does.
#[test]
fn an_unconfigured_peer_votes_for_a_candidate_it_never_heard_of() {
    let mut core = Core::with_config(
        6,
        &[],
        Config::lab(),
        &[],
        Vec::new(),
        SmallRng::seed_from_u64(3),
    )
    .unwrap();
    let args = RequestVoteArgs {
        term: 16,
        candidate: 7,
        last_log_index: 5,
        last_log_term: 5,
    };
    core.step(7, Message::RequestVote(args));
    let Message::RequestVoteReply(_, reply) = reply_of(&mut core, 7) else {
        panic!("not a vote reply")
    };
    assert!(reply.vote_granted, "an unconfigured peer refused its vote");
    assert_eq!(core.voted_for, Some(7));
}

/// With `vote_for_non_members` (TinyKV), a configured peer votes for a
/// candidate its configuration does not list yet (it has not applied that
/// candidate's AddNode): else a two-voter group whose other voter lags
/// elects nobody. Without it (the labs), such a request is refused
/// (`vote_requests_from_unknown_peers_or_stale_terms_are_refused`).
#[test]
fn a_peer_configured_so_votes_for_a_candidate_outside_its_configuration() {
    let config = Config {
        vote_for_non_members: true,
        ..Config::lab()
    };
    let mut core = Core::with_config(
        1,
        &[1, 2, 3],
        config,
        &[],
        Vec::new(),
        SmallRng::seed_from_u64(3),
    )
    .unwrap();
    let args = RequestVoteArgs {
        term: 16,
        candidate: 7,
        last_log_index: 5,
        last_log_term: 5,
    };
    core.step(7, Message::RequestVote(args));
    let Message::RequestVoteReply(_, reply) = reply_of(&mut core, 7) else {
        panic!("not a vote reply")
    };
    assert!(reply.vote_granted, "a configured peer refused its vote");
    assert_eq!(core.voted_for, Some(7));
}

#[test]
fn stale_append_entries_change_nothing() {
    let mut c = Cluster::new(3);
    let leader = c.tick_until_leader();
    c.cores[leader].propose(vec![1]);
    c.deliver();
    c.heartbeat();
    let follower = (leader + 1) % 3;
    let f = &mut c.cores[follower];
    let (term, log, commit) = (f.term(), f.log.clone(), f.commit_index);
    let stale = AppendEntriesArgs {
        term: term - 1,
        leader: 9,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: vec![crate::messages::Entry::command(term - 1, vec![9])],
        leader_commit: 5,
    };
    f.step(9, Message::AppendEntries(stale));
    let Message::AppendEntriesReply(_, reply) = reply_of(f, 9) else {
        panic!("not an append reply")
    };
    assert!(!reply.success);
    assert_eq!(reply.term, term);
    assert_eq!((f.term(), &f.log, f.commit_index), (term, &log, commit));
}
