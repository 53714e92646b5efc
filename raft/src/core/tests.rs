//! Timer-free tests of the pure core on a synchronous harness network.

use std::collections::BTreeSet;

use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::*;

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
                let ready = core.take_ready();
                sent.extend(ready.messages.into_iter().map(|(to, r)| (i, to, r)));
            }
            if sent.is_empty() {
                return;
            }
            for (from, to, request) in sent {
                if self.down.contains(&from) || self.down.contains(&to) {
                    // The sender's driver learns of the loss.
                    match &request {
                        Request::Vote(_) => {}
                        Request::Append(a) => self.cores[from].handle_append_entries_failure(to, a),
                        Request::Snapshot(a) => {
                            self.cores[from].handle_install_snapshot_failure(to, a)
                        }
                    }
                    continue;
                }
                match request {
                    Request::Vote(a) => {
                        let r = self.cores[to].handle_request_vote(&a);
                        self.cores[from].handle_request_vote_reply(to, &a, &r);
                    }
                    Request::Append(a) => {
                        let r = self.cores[to].handle_append_entries(&a);
                        self.cores[from].handle_append_entries_reply(to, &a, &r);
                    }
                    Request::Snapshot(a) => {
                        let r = self.cores[to].handle_install_snapshot(&a);
                        self.cores[from].handle_install_snapshot_reply(to, &a, &r);
                    }
                }
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
    let applies = l.take_ready().applies;
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
