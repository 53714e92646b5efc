//! Lab 3C: persistence (Raft paper §5.4, Figure 2's persistent state, and
//! Figure 8), as the reference's 3C tests, plus a check that one seed
//! replays one execution.
//!
//! `cargo test -p tests 3c` runs them; `LAB_SEED=N` replays a run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use labrpc::rng;
use labrpc::sim::{self, Sim};
use tests::raft::{Cmd, Config, RAFT_ELECTION_TIMEOUT, rand_int};
use tokio::time::sleep;

/// Committed entries survive crashes of all, the leader, and a follower (§5.4, Figure 2).
#[test]
fn persist1_3c() {
    sim::run(persist1);
}

/// Repeated crash/restart of minorities and majorities keeps agreement (§5.4).
#[test]
fn persist2_3c() {
    sim::run(persist2);
}

/// A crashed partitioned leader and follower restart from persisted state (§5.4).
#[test]
fn persist3_3c() {
    sim::run(persist3);
}

/// Leaders crash at random moments; no committed entry is lost (§5.4.2, Figure 8).
#[test]
fn figure8_3c() {
    sim::run(figure8);
}

/// Agreement on an unreliable network with concurrent clients (§5.3).
#[test]
fn unreliable_agree_3c() {
    sim::run(unreliable_agree);
}

/// Figure 8 by disconnection on an unreliable network with long reordering (§5.4.2).
#[test]
fn figure8_unreliable_3c() {
    sim::run(|| async {
        figure8_unreliable("Test (3C): Figure 8 (unreliable)", 1000, 200).await;
    });
}

/// Clients commit through disconnects, crashes and restarts (§5.3, §5.4).
#[test]
fn reliable_churn_3c() {
    sim::run(|| churn(false));
}

/// The same churn on an unreliable network (§5.3, §5.4).
#[test]
fn unreliable_churn_3c() {
    sim::run(|| churn(true));
}

/// One seed, one execution: an unreliable Figure 8 run twice with one seed
/// applies the same logs with the same RPC counts, and another seed differs.
#[test]
fn deterministic_replay_3c() {
    let run = |seed| Sim::new().seed(seed).run(fingerprint);
    let first = run(17);
    let second = run(17);
    assert!(
        first.logs.iter().all(|log| log.len() > 10),
        "too little was applied for the comparison to mean anything"
    );
    assert_eq!(first, second, "two runs with seed 17 diverged");
    assert_ne!(run(18), first, "the seed does not influence the run");
}

async fn persist1() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (3C): basic persistence");

    cfg.one(11, servers, true).await;

    // Crash and re-start all.
    for i in 0..servers {
        cfg.start1(i);
    }
    for i in 0..servers {
        cfg.disconnect(i);
        cfg.connect(i);
    }

    cfg.one(12, servers, true).await;

    let leader1 = cfg.check_one_leader().await;
    cfg.disconnect(leader1);
    cfg.start1(leader1);
    cfg.connect(leader1);

    cfg.one(13, servers, true).await;

    let leader2 = cfg.check_one_leader().await;
    cfg.disconnect(leader2);
    cfg.one(14, servers - 1, true).await;
    cfg.start1(leader2);
    cfg.connect(leader2);

    // Wait for leader2 to join before killing i3.
    cfg.wait(4, servers, None).await;

    let i3 = (cfg.check_one_leader().await + 1) % servers;
    cfg.disconnect(i3);
    cfg.one(15, servers - 1, true).await;
    cfg.start1(i3);
    cfg.connect(i3);

    cfg.one(16, servers, true).await;
    cfg.end();
}

async fn persist2() {
    let servers = 5;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (3C): more persistence");

    let mut index = 1;
    for _ in 0..5 {
        cfg.one(10 + index, servers, true).await;
        index += 1;

        let leader1 = cfg.check_one_leader().await;

        cfg.disconnect((leader1 + 1) % servers);
        cfg.disconnect((leader1 + 2) % servers);

        cfg.one(10 + index, servers - 2, true).await;
        index += 1;

        cfg.disconnect(leader1 % servers);
        cfg.disconnect((leader1 + 3) % servers);
        cfg.disconnect((leader1 + 4) % servers);

        cfg.start1((leader1 + 1) % servers);
        cfg.start1((leader1 + 2) % servers);
        cfg.connect((leader1 + 1) % servers);
        cfg.connect((leader1 + 2) % servers);

        sleep(RAFT_ELECTION_TIMEOUT).await;

        cfg.start1((leader1 + 3) % servers);
        cfg.connect((leader1 + 3) % servers);

        cfg.one(10 + index, servers - 2, true).await;
        index += 1;

        cfg.connect((leader1 + 4) % servers);
        cfg.connect(leader1 % servers);
    }

    cfg.one(1000, servers, true).await;
    cfg.end();
}

async fn persist3() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (3C): partitioned leader and one follower crash, leader restarts");

    cfg.one(101, 3, true).await;

    let leader = cfg.check_one_leader().await;
    cfg.disconnect((leader + 2) % servers);

    cfg.one(102, 2, true).await;

    cfg.crash1(leader % servers);
    cfg.crash1((leader + 1) % servers);
    cfg.connect((leader + 2) % servers);
    cfg.start1(leader % servers);
    cfg.connect(leader % servers);

    cfg.one(103, 2, true).await;

    cfg.start1((leader + 1) % servers);
    cfg.connect((leader + 1) % servers);

    cfg.one(104, servers, true).await;
    cfg.end();
}

/// Sleeps as Figure 8 does between iterations: usually 0–12 ms, with
/// probability 10 % up to half an election timeout, so that leaders
/// sometimes have time to replicate and sometimes don't.
async fn figure8_pause() {
    let ms = if rng::range(0..1000) < 100 {
        rng::range(0..RAFT_ELECTION_TIMEOUT.as_millis() as u64 / 2)
    } else {
        rng::range(0..13)
    };
    sleep(Duration::from_millis(ms)).await;
}

async fn figure8() {
    let servers = 5;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (3C): Figure 8");

    cfg.one(rand_int(), 1, true).await;

    let mut nup = servers;
    for _ in 0..1000 {
        let mut leader = None;
        for i in 0..servers {
            if cfg.start(i, rand_int()).is_some() {
                leader = Some(i);
            }
        }

        figure8_pause().await;

        if let Some(leader) = leader {
            cfg.crash1(leader);
            nup -= 1;
        }

        if nup < 3 {
            let s = rng::range(0..servers);
            if cfg.raft(s).is_none() {
                cfg.start1(s);
                cfg.connect(s);
                nup += 1;
            }
        }
    }

    for i in 0..servers {
        if cfg.raft(i).is_none() {
            cfg.start1(i);
            cfg.connect(i);
        }
    }

    cfg.one(rand_int(), servers, true).await;
    cfg.end();
}

async fn unreliable_agree() {
    let servers = 5;
    let cfg = Config::new(servers, true, false);
    cfg.begin("Test (3C): unreliable agreement");

    let mut clients = Vec::new();
    for iters in 1..50i64 {
        for j in 0..4 {
            let cfg = cfg.clone();
            clients.push(tokio::spawn(async move {
                cfg.one(100 * iters + j, 1, true).await;
            }));
        }
        cfg.one(iters, 1, true).await;
    }

    cfg.set_unreliable(false);

    for client in clients {
        client.await.expect("a client panicked");
    }

    cfg.one(100, servers, true).await;
    cfg.end();
}

/// Figure 8 with disconnection instead of crashes, on an unreliable
/// network; long reordering starts at iteration `reorder_from` and stays on.
async fn figure8_unreliable(description: &str, iterations: usize, reorder_from: usize) -> Config {
    let servers = 5;
    let cfg = Config::new(servers, true, false);
    cfg.begin(description);

    cfg.one(rng::range(0..10_000i64), 1, true).await;

    let mut nup = servers;
    for iters in 0..iterations {
        if iters == reorder_from {
            cfg.set_long_reordering(true);
        }
        let mut leader = None;
        for i in 0..servers {
            if cfg.start(i, rng::range(0..10_000i64)).is_some() && cfg.is_connected(i) {
                leader = Some(i);
            }
        }

        figure8_pause().await;

        let half_timeout = RAFT_ELECTION_TIMEOUT.as_millis() as u64 / 2;
        if let Some(leader) = leader
            && rng::range(0..1000) < half_timeout
        {
            cfg.disconnect(leader);
            nup -= 1;
        }

        if nup < 3 {
            let s = rng::range(0..servers);
            if !cfg.is_connected(s) {
                cfg.connect(s);
                nup += 1;
            }
        }
    }

    for i in 0..servers {
        if !cfg.is_connected(i) {
            cfg.connect(i);
        }
    }

    // Still unreliable, still reordering.
    cfg.one(rng::range(0..10_000i64), servers, true).await;
    cfg.end();
    cfg
}

/// What a run of the determinism scenario produced.
#[derive(Debug, PartialEq, Eq)]
struct Fingerprint {
    logs: Vec<Vec<Option<Cmd>>>,
    per_server_rpcs: Vec<u64>,
    total_rpcs: u64,
    total_bytes: u64,
}

async fn fingerprint() -> Fingerprint {
    let description = "Test (3C): determinism (Figure 8 unreliable, 150 iterations)";
    let cfg = figure8_unreliable(description, 150, 50).await;
    Fingerprint {
        logs: (0..cfg.n()).map(|i| cfg.applied_log(i)).collect(),
        per_server_rpcs: (0..cfg.n()).map(|i| cfg.rpc_count(i)).collect(),
        total_rpcs: cfg.rpc_total(),
        total_bytes: cfg.bytes_total(),
    }
}

async fn churn(unreliable: bool) {
    let servers = 5;
    let cfg = Config::new(servers, unreliable, false);
    if unreliable {
        cfg.begin("Test (3C): unreliable churn");
    } else {
        cfg.begin("Test (3C): churn");
    }

    let stop = Arc::new(AtomicBool::new(false));

    // Concurrent clients: each returns the values it saw committed.
    let client = |me: u64| {
        let cfg = cfg.clone();
        let stop = stop.clone();
        async move {
            let mut values = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let x = rand_int();
                let mut index = None;
                for i in 0..servers {
                    // Try them all, maybe one of them is a leader.
                    if let Some((index1, _)) = cfg.start(i, x) {
                        index = Some(index1);
                    }
                }
                let Some(index) = index else {
                    sleep(Duration::from_millis(79 + me * 17)).await;
                    continue;
                };
                // Maybe the leader will commit our value, maybe not, but
                // don't wait forever.
                for to in [10, 20, 50, 100, 200] {
                    let (nd, cmd) = cfg.n_committed(index);
                    if nd > 0 {
                        match cmd {
                            Some(Cmd::Int(xx)) if xx == x => values.push(x),
                            Some(Cmd::Int(_)) => {}
                            other => panic!("wrong command type: {other:?}"),
                        }
                        break;
                    }
                    sleep(Duration::from_millis(to)).await;
                }
            }
            values
        }
    };
    let clients: Vec<_> = (0..3).map(|me| tokio::spawn(client(me))).collect();

    for _ in 0..20 {
        if rng::range(0..1000) < 200 {
            let i = rng::range(0..servers);
            cfg.disconnect(i);
        }
        if rng::range(0..1000) < 500 {
            let i = rng::range(0..servers);
            if cfg.raft(i).is_none() {
                cfg.start1(i);
            }
            cfg.connect(i);
        }
        if rng::range(0..1000) < 200 {
            let i = rng::range(0..servers);
            if cfg.raft(i).is_some() {
                cfg.crash1(i);
            }
        }
        // Often enough that peers are rarely settled, seldom enough that
        // they can often keep up: a bit less than an election timeout.
        sleep(RAFT_ELECTION_TIMEOUT * 7 / 10).await;
    }

    sleep(RAFT_ELECTION_TIMEOUT).await;
    cfg.set_unreliable(false);
    for i in 0..servers {
        if cfg.raft(i).is_none() {
            cfg.start1(i);
        }
        cfg.connect(i);
    }

    stop.store(true, Ordering::SeqCst);

    let mut values = Vec::new();
    for client in clients {
        values.extend(client.await.expect("client failed"));
    }

    sleep(RAFT_ELECTION_TIMEOUT).await;

    let last_index = cfg.one(rand_int(), servers, true).await;

    let mut really = Vec::new();
    for index in 1..=last_index {
        match cfg.wait(index, servers, None).await {
            Some(Cmd::Int(v)) => really.push(v),
            other => panic!("not an int: {other:?}"),
        }
    }

    for v1 in values {
        assert!(really.contains(&v1), "didn't find a value: {v1}");
    }
    cfg.end();
}
