//! Lab 3B: the log (Raft paper §5.3, §5.4), as the reference's 3B tests,
//! plus a check that a killed peer falls silent.
//!
//! `cargo test -p tests 3b` runs them; `LAB_SEED=N` replays a run.

use std::time::Duration;

use labrpc::{Server, rng, sim};
use tests::raft::{Cmd, Config, RAFT_ELECTION_TIMEOUT, rand_int};
use tokio::time::sleep;

/// Nothing commits before Start; three commands commit at indices 1, 2, 3 (§5.3).
#[test]
fn basic_agree_3b() {
    sim::run(basic_agree);
}

/// Each entry crosses the network about once per follower (§5.3).
#[test]
fn rpc_bytes_3b() {
    sim::run(tests::raft::rpc_bytes);
}

/// Agreement with one follower down; none with both down (§5.3).
#[test]
fn follower_failure_3b() {
    sim::run(follower_failure);
}

/// Agreement after the leader fails; none once two leaders are gone (§5.3, §5.4.1).
#[test]
fn leader_failure_3b() {
    sim::run(leader_failure);
}

/// A follower that missed entries catches up when it reconnects (§5.3).
#[test]
fn fail_agree_3b() {
    sim::run(fail_agree);
}

/// No commitment without a majority; the majority side may overwrite index 2 (§5.3, §5.4).
#[test]
fn fail_no_agree_3b() {
    sim::run(fail_no_agree);
}

/// Concurrent Starts in one term all commit (§5.3).
#[test]
fn concurrent_starts_3b() {
    sim::run(concurrent_starts);
}

/// A partitioned old leader's uncommitted entries are discarded on rejoin (§5.3, §5.4.1).
#[test]
fn rejoin_3b() {
    sim::run(rejoin);
}

/// The leader backs up quickly over long divergent follower logs (§5.3, fast back-up).
#[test]
fn backup_3b() {
    sim::run(backup);
}

/// Elections, agreement and idleness use few RPCs (§5.2, §5.3).
#[test]
fn count_3b() {
    sim::run(count);
}

/// A killed leader sends no RPC and applies nothing more (the `kill()` contract).
#[test]
fn killed_peer_is_silent_3b() {
    sim::run(killed_peer_is_silent);
}

async fn basic_agree() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (3B): basic agreement");
    for index in 1..=3u64 {
        let (nd, _) = cfg.n_committed(index);
        assert_eq!(nd, 0, "some have committed before Start()");
        let xindex = cfg.one(index as i64 * 100, servers, false).await;
        assert_eq!(xindex, index, "got index {xindex} but expected {index}");
    }
    cfg.end();
}

async fn follower_failure() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (3B): test progressive failure of followers");
    cfg.one(101, servers, false).await;

    // Disconnect one follower from the network.
    let leader1 = cfg.check_one_leader().await;
    cfg.disconnect((leader1 + 1) % servers);

    // The leader and the remaining follower should be able to agree.
    cfg.one(102, servers - 1, false).await;
    sleep(RAFT_ELECTION_TIMEOUT).await;
    cfg.one(103, servers - 1, false).await;

    // Disconnect the remaining follower.
    let leader2 = cfg.check_one_leader().await;
    cfg.disconnect((leader2 + 1) % servers);
    cfg.disconnect((leader2 + 2) % servers);

    // Submit a command.
    let Some((index, _)) = cfg.start(leader2, 104) else {
        panic!("leader rejected Start()");
    };
    assert_eq!(index, 4, "expected index 4, got {index}");

    sleep(2 * RAFT_ELECTION_TIMEOUT).await;

    // Check that command 104 did not commit.
    let (n, _) = cfg.n_committed(index);
    assert_eq!(n, 0, "{n} committed but no majority");
    cfg.end();
}

async fn leader_failure() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (3B): test failure of leaders");
    cfg.one(101, servers, false).await;

    // Disconnect the first leader.
    let leader1 = cfg.check_one_leader().await;
    cfg.disconnect(leader1);

    // The remaining followers should elect a new leader.
    cfg.one(102, servers - 1, false).await;
    sleep(RAFT_ELECTION_TIMEOUT).await;
    cfg.one(103, servers - 1, false).await;

    // Disconnect the new leader.
    let leader2 = cfg.check_one_leader().await;
    cfg.disconnect(leader2);

    // Submit a command to each server.
    for i in 0..servers {
        cfg.start(i, 104);
    }
    sleep(2 * RAFT_ELECTION_TIMEOUT).await;

    // Check that command 104 did not commit.
    let (n, _) = cfg.n_committed(4);
    assert_eq!(n, 0, "{n} committed but no majority");
    cfg.end();
}

async fn fail_agree() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (3B): agreement after follower reconnects");
    cfg.one(101, servers, false).await;

    // Disconnect one follower from the network.
    let leader = cfg.check_one_leader().await;
    cfg.disconnect((leader + 1) % servers);

    // The leader and the remaining follower should be able to agree.
    cfg.one(102, servers - 1, false).await;
    cfg.one(103, servers - 1, false).await;
    sleep(RAFT_ELECTION_TIMEOUT).await;
    cfg.one(104, servers - 1, false).await;
    cfg.one(105, servers - 1, false).await;

    // Re-connect.
    cfg.connect((leader + 1) % servers);

    // The full set of servers should preserve previous agreements and be
    // able to agree on new commands.
    cfg.one(106, servers, true).await;
    sleep(RAFT_ELECTION_TIMEOUT).await;
    cfg.one(107, servers, true).await;
    cfg.end();
}

async fn fail_no_agree() {
    let servers = 5;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (3B): no agreement if too many followers disconnect");
    cfg.one(10, servers, false).await;

    // 3 of 5 followers disconnect.
    let leader = cfg.check_one_leader().await;
    cfg.disconnect((leader + 1) % servers);
    cfg.disconnect((leader + 2) % servers);
    cfg.disconnect((leader + 3) % servers);

    let Some((index, _)) = cfg.start(leader, 20) else {
        panic!("leader rejected Start()");
    };
    assert_eq!(index, 2, "expected index 2, got {index}");

    sleep(2 * RAFT_ELECTION_TIMEOUT).await;

    let (n, _) = cfg.n_committed(index);
    assert_eq!(n, 0, "{n} committed but no majority");

    // Repair.
    cfg.connect((leader + 1) % servers);
    cfg.connect((leader + 2) % servers);
    cfg.connect((leader + 3) % servers);

    // The disconnected majority may have chosen a leader from among their
    // own ranks, forgetting index 2.
    let leader2 = cfg.check_one_leader().await;
    let Some((index2, _)) = cfg.start(leader2, 30) else {
        panic!("leader2 rejected Start()");
    };
    assert!((2..=3).contains(&index2), "unexpected index {index2}");

    cfg.one(1000, servers, true).await;
    cfg.end();
}

async fn concurrent_starts() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (3B): concurrent Start()s");

    let mut success = false;
    'tries: for attempt in 0..5 {
        if attempt > 0 {
            // Give the solution some time to settle.
            sleep(Duration::from_secs(3)).await;
        }
        let leader = cfg.check_one_leader().await;
        let Some((_, term)) = cfg.start(leader, 1) else {
            // The leader moved on really quickly.
            continue;
        };

        let iters = 5i64;
        let starters: Vec<_> = (0..iters)
            .map(|i| {
                let cfg = cfg.clone();
                tokio::spawn(async move {
                    match cfg.start(leader, 100 + i) {
                        Some((index, term1)) if term1 == term => Some(index),
                        _ => None,
                    }
                })
            })
            .collect();
        let mut indices = Vec::new();
        for starter in starters {
            if let Some(index) = starter.await.expect("a Start() task panicked") {
                indices.push(index);
            }
        }

        for j in 0..servers {
            if cfg.raft(j).is_some_and(|rf| rf.get_state().0 != term) {
                // The term changed: can't expect all Start()s to have succeeded.
                continue 'tries;
            }
        }

        let mut cmds = Vec::new();
        for index in indices {
            match cfg.wait(index, servers, Some(term)).await {
                // Peers moved on to later terms, so we can't expect all
                // Start()s to have succeeded.
                None => continue 'tries,
                Some(Cmd::Int(x)) => cmds.push(x),
                Some(other) => panic!("value {other} is not an int"),
            }
        }

        for x in (0..iters).map(|i| 100 + i) {
            assert!(cmds.contains(&x), "cmd {x} missing in {cmds:?}");
        }
        success = true;
        break;
    }
    assert!(success, "term changed too often");
    cfg.end();
}

async fn rejoin() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (3B): rejoin of partitioned leader");
    cfg.one(101, servers, true).await;

    // Leader network failure.
    let leader1 = cfg.check_one_leader().await;
    cfg.disconnect(leader1);

    // Make the old leader try to agree on some entries.
    cfg.start(leader1, 102);
    cfg.start(leader1, 103);
    cfg.start(leader1, 104);

    // The new leader commits, also for index 2.
    cfg.one(103, 2, true).await;

    // New leader network failure.
    let leader2 = cfg.check_one_leader().await;
    cfg.disconnect(leader2);

    // Old leader connected again.
    cfg.connect(leader1);
    cfg.one(104, 2, true).await;

    // All together now.
    cfg.connect(leader2);
    cfg.one(105, servers, true).await;
    cfg.end();
}

async fn backup() {
    let servers = 5;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (3B): leader backs up quickly over incorrect follower logs");
    cfg.one(rand_int(), servers, true).await;

    // Put the leader and one follower in a partition.
    let leader1 = cfg.check_one_leader().await;
    cfg.disconnect((leader1 + 2) % servers);
    cfg.disconnect((leader1 + 3) % servers);
    cfg.disconnect((leader1 + 4) % servers);

    // Submit lots of commands that won't commit.
    for _ in 0..50 {
        cfg.start(leader1, rand_int());
    }
    sleep(RAFT_ELECTION_TIMEOUT / 2).await;

    cfg.disconnect(leader1 % servers);
    cfg.disconnect((leader1 + 1) % servers);

    // Allow the other partition to recover.
    cfg.connect((leader1 + 2) % servers);
    cfg.connect((leader1 + 3) % servers);
    cfg.connect((leader1 + 4) % servers);

    // Lots of successful commands to the new group.
    for _ in 0..50 {
        cfg.one(rand_int(), 3, true).await;
    }

    // Now another partitioned leader and one follower.
    let leader2 = cfg.check_one_leader().await;
    let mut other = (leader1 + 2) % servers;
    if leader2 == other {
        other = (leader2 + 1) % servers;
    }
    cfg.disconnect(other);

    // Lots more commands that won't commit.
    for _ in 0..50 {
        cfg.start(leader2, rand_int());
    }
    sleep(RAFT_ELECTION_TIMEOUT / 2).await;

    // Bring the original leader back to life.
    for i in 0..servers {
        cfg.disconnect(i);
    }
    cfg.connect(leader1 % servers);
    cfg.connect((leader1 + 1) % servers);
    cfg.connect(other);

    // Lots of successful commands to the new group.
    for _ in 0..50 {
        cfg.one(rand_int(), 3, true).await;
    }

    // Now everyone.
    for i in 0..servers {
        cfg.connect(i);
    }
    cfg.one(rand_int(), servers, true).await;
    cfg.end();
}

async fn count() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (3B): RPC counts aren't too high");

    let rpcs = || (0..servers).map(|j| cfg.rpc_count(j)).sum::<u64>();

    cfg.check_one_leader().await;
    let total1 = rpcs();
    assert!(
        (1..=30).contains(&total1),
        "too many or few RPCs ({total1}) to elect initial leader"
    );

    let mut total2 = 0;
    let mut success = false;
    'tries: for attempt in 0..5 {
        if attempt > 0 {
            // Give the solution some time to settle.
            sleep(Duration::from_secs(3)).await;
        }
        let leader = cfg.check_one_leader().await;
        let total1 = rpcs();

        let iters = 10u64;
        let Some((starti, term)) = cfg.start(leader, 1) else {
            // The leader moved on really quickly.
            continue;
        };
        let mut cmds = Vec::new();
        for i in 1..iters + 2 {
            let x = rng::range(0..i64::from(i32::MAX));
            cmds.push(x);
            match cfg.start(leader, x) {
                Some((index1, term1)) if term1 == term => {
                    assert_eq!(starti + i, index1, "Start() failed");
                }
                _ => continue 'tries,
            }
        }

        for i in 1..=iters {
            match cfg.wait(starti + i, servers, Some(term)).await {
                None => continue 'tries,
                Some(cmd) => assert_eq!(
                    cmd.as_int(),
                    Some(cmds[i as usize - 1]),
                    "wrong value {cmd} committed for index {}; expected {cmds:?}",
                    starti + i
                ),
            }
        }

        let mut failed = false;
        total2 = 0;
        for j in 0..servers {
            if cfg.raft(j).is_some_and(|rf| rf.get_state().0 != term) {
                // The term changed: can't expect low RPC counts.
                failed = true;
            }
            total2 += cfg.rpc_count(j);
        }
        if failed {
            continue;
        }

        let bound = (iters + 1 + 3) * 3;
        println!(
            "  ... {} RPCs for {iters} entries (bound {bound})",
            total2 - total1
        );
        assert!(
            total2 - total1 <= bound,
            "too many RPCs ({}) for {iters} entries",
            total2 - total1
        );
        success = true;
        break;
    }
    assert!(success, "term changed too often");

    sleep(RAFT_ELECTION_TIMEOUT).await;
    let total3 = rpcs();
    println!(
        "  ... {} RPCs in 1 second of idleness (bound {})",
        total3 - total2,
        3 * 20
    );
    assert!(
        total3 - total2 <= 3 * 20,
        "too many RPCs ({}) for 1 second of idleness",
        total3 - total2
    );
    cfg.end();
}

async fn killed_peer_is_silent() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (3B): a killed peer sends and applies nothing");
    cfg.one(101, servers, false).await;

    // Kill the leader, the peer with the most reasons to keep talking.
    let leader = cfg.check_one_leader().await;
    let rf = cfg.raft(leader).expect("the leader runs");
    rf.kill();
    assert!(rf.is_killed());

    // Re-route the killed peer's own ends to a probe server: every RPC it
    // sends from now on is counted there. Calls already admitted before the
    // kill still reach their original servers.
    let probe = "killed-peer-probe";
    cfg.net().add_server(probe, Server::new());
    for name in cfg.end_names(leader) {
        cfg.net().connect(&name, probe);
    }
    let applied_before = cfg.applied_log(leader);
    let delivered_before = cfg.rpc_count(leader);

    assert_eq!(
        rf.start(Cmd::Int(102)),
        None,
        "a killed peer accepted Start()"
    );
    assert!(!rf.get_state().1, "a killed peer claims to lead");

    // The others elect a new leader and keep committing; they still send to
    // the dead peer, which must neither answer usefully nor apply.
    cfg.one(103, servers - 1, true).await;
    cfg.one(104, servers - 1, true).await;
    sleep(2 * RAFT_ELECTION_TIMEOUT).await;

    assert_eq!(
        cfg.net().count(probe),
        0,
        "the killed peer sent RPCs after kill()"
    );
    assert!(
        cfg.rpc_count(leader) > delivered_before,
        "the live peers should still have sent RPCs to the killed one"
    );
    assert_eq!(
        cfg.applied_log(leader),
        applied_before,
        "the killed peer applied entries after kill()"
    );
    cfg.end();
}
