//! Lab 3D: log compaction (Raft paper §7), as the reference's 3D tests. All
//! peers run the snapshot applier: a service snapshot every 10 entries.
//!
//! `cargo test -p tests 3d` runs them; `LAB_SEED=N` replays a run.

use labrpc::{rng, sim};
use tests::raft::{Config, MAX_LOG_SIZE, SNAPSHOT_INTERVAL, rand_int};

/// Snapshots trim the log while every follower keeps up (§7).
#[test]
fn snapshot_basic_3d() {
    sim::run(|| snap_common("Test (3D): snapshots basic", false, true, false));
}

/// A reconnected follower catches up through InstallSnapshot (§7).
#[test]
fn snapshot_install_3d() {
    sim::run(|| {
        snap_common(
            "Test (3D): install snapshots (disconnect)",
            true,
            true,
            false,
        )
    });
}

/// InstallSnapshot on an unreliable network (§7).
#[test]
fn snapshot_install_unreliable_3d() {
    sim::run(|| {
        snap_common(
            "Test (3D): install snapshots (disconnect+unreliable)",
            true,
            false,
            false,
        )
    });
}

/// A crashed follower restarts from its snapshot and catches up (§7, §5.4).
#[test]
fn snapshot_install_crash_3d() {
    sim::run(|| snap_common("Test (3D): install snapshots (crash)", false, true, true));
}

/// Crash and restart from snapshots on an unreliable network (§7, §5.4).
#[test]
fn snapshot_install_uncrash_3d() {
    sim::run(|| {
        snap_common(
            "Test (3D): install snapshots (unreliable+crash)",
            false,
            false,
            true,
        )
    });
}

/// Every peer crashes and restarts from its snapshot; the log keeps growing (§7).
#[test]
fn snapshot_all_crash_3d() {
    sim::run(snapshot_all_crash);
}

/// A restarted peer remembers its snapshot across a second crash (§7).
#[test]
fn snapshot_init_3d() {
    sim::run(snapshot_init);
}

/// A random number of `Start`s likely to cross a snapshot boundary: 5–14.
fn a_few() -> u64 {
    SNAPSHOT_INTERVAL / 2 + rng::range(0..SNAPSHOT_INTERVAL)
}

/// 30 rounds on 3 peers: optionally disconnect or crash a victim (the
/// leader's successor, or every third round the leader itself), submit 5–14
/// commands on the sender (not always the leader), check the persisted
/// state stays small, then bring the victim back so that it must catch up
/// from a snapshot.
async fn snap_common(name: &str, disconnect: bool, reliable: bool, crash: bool) {
    let iters = 30;
    let servers = 3;
    let cfg = Config::new(servers, !reliable, true);
    cfg.begin(name);

    cfg.one(rand_int(), servers, true).await;
    let mut leader1 = cfg.check_one_leader().await;

    for i in 0..iters {
        let mut victim = (leader1 + 1) % servers;
        let mut sender = leader1;
        if i % 3 == 1 {
            sender = (leader1 + 1) % servers;
            victim = leader1;
        }

        if disconnect {
            cfg.disconnect(victim);
            cfg.one(rand_int(), servers - 1, true).await;
        }
        if crash {
            cfg.crash1(victim);
            cfg.one(rand_int(), servers - 1, true).await;
        }

        // Perhaps send enough to get a snapshot.
        for _ in 0..a_few() {
            cfg.start(sender, rand_int());
        }

        // Let the appliers catch up with the Start()s.
        if !disconnect && !crash {
            // Make sure all followers have caught up, so that an
            // InstallSnapshot RPC isn't required for snapshot_basic_3d.
            cfg.one(rand_int(), servers, true).await;
        } else {
            cfg.one(rand_int(), servers - 1, true).await;
        }

        let size = cfg.log_size();
        assert!(
            size < MAX_LOG_SIZE,
            "Log size too large: {size} bytes (limit {MAX_LOG_SIZE})"
        );

        if disconnect {
            // Reconnect a follower, who may be behind and need a snapshot
            // to catch up.
            cfg.connect(victim);
            cfg.one(rand_int(), servers, true).await;
            leader1 = cfg.check_one_leader().await;
        }
        if crash {
            cfg.start1(victim);
            cfg.connect(victim);
            cfg.one(rand_int(), servers, true).await;
            leader1 = cfg.check_one_leader().await;
        }
    }
    // Tighter than the reference: a victim that fell behind by a snapshot
    // or more must have caught up through InstallSnapshot at least once in
    // 30 rounds (the reference only implies it).
    if disconnect || crash {
        assert!(
            cfg.snapshots_delivered() > 0,
            "no snapshot was ever installed on a lagging peer"
        );
    }
    cfg.end();
}

async fn snapshot_all_crash() {
    let servers = 3;
    let iters = 5;
    let cfg = Config::new(servers, false, true);
    cfg.begin("Test (3D): crash and restart all servers");

    cfg.one(rand_int(), servers, true).await;

    for _ in 0..iters {
        // Perhaps enough to get a snapshot.
        for _ in 0..a_few() {
            cfg.one(rand_int(), servers, true).await;
        }

        let index1 = cfg.one(rand_int(), servers, true).await;

        // Crash all, then revive all.
        for i in 0..servers {
            cfg.crash1(i);
        }
        for i in 0..servers {
            cfg.start1(i);
            cfg.connect(i);
        }

        let index2 = cfg.one(rand_int(), servers, true).await;
        assert!(index2 > index1, "index decreased from {index1} to {index2}");
    }
    cfg.end();
}

async fn snapshot_init() {
    let servers = 3;
    let cfg = Config::new(servers, false, true);
    cfg.begin("Test (3D): snapshot initialization after crash");

    cfg.one(rand_int(), servers, true).await;

    // Enough ops to make a snapshot.
    for _ in 0..=SNAPSHOT_INTERVAL {
        cfg.one(rand_int(), servers, true).await;
    }

    // Crash all, then revive all.
    for i in 0..servers {
        cfg.crash1(i);
    }
    for i in 0..servers {
        cfg.start1(i);
        cfg.connect(i);
    }

    // A single op, to get something written back to persistent storage.
    cfg.one(rand_int(), servers, true).await;

    // Crash all, then revive all.
    for i in 0..servers {
        cfg.crash1(i);
    }
    for i in 0..servers {
        cfg.start1(i);
        cfg.connect(i);
    }

    // Another op, to trigger a bug that forgets the snapshot on restart.
    cfg.one(rand_int(), servers, true).await;
    cfg.end();
}
