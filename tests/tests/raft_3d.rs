//! Lab 3D: log compaction (Raft paper §7), as the reference's 3D tests. All
//! peers run the snapshot applier: a service snapshot every 10 entries.
//!
//! `cargo test -p tests 3d` runs them; `LAB_SEED=N` replays a run.

use labrpc::sim;
use tests::raft::{Config, SNAPSHOT_INTERVAL, a_few, rand_int, snap_common};

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
