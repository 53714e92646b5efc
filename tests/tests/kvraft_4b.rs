//! Lab 4B: the replicated key/value service with snapshots — every
//! reference `TestXxx4B` scenario, each one line over the harness in
//! `tests::kvraft` (Raft paper §7: log compaction and InstallSnapshot;
//! Lab 4 handout: snapshot near `maxraftstate`, dedup state in the snapshot).
//!
//! `cargo test -p tests 4b`; a failure prints the seed that replays it.

use labrpc::sim;
use tests::kvraft::{self, Generic, MAX_RAFT_STATE};

/// A lagging server catches up by InstallSnapshot; the majority trims its log.
#[test]
fn snapshot_rpc_4b() {
    sim::run(|| kvraft::snapshot_rpc(MAX_RAFT_STATE));
}

/// 800 operations on one key: log ≤ 8 × maxraftstate and snapshot ≤ 500 bytes.
#[test]
fn snapshot_size_4b() {
    sim::run(|| kvraft::snapshot_size(MAX_RAFT_STATE));
}

/// With snapshots on, 1000 Appends still average ≤ 33.3 ms and ≤ 6 one-way latencies.
#[test]
fn speed_4b() {
    sim::run(|| kvraft::speed("4B", Some(MAX_RAFT_STATE)));
}

/// One clerk; all servers restart from snapshot plus log each round.
#[test]
fn snapshot_recover_4b() {
    sim::run(|| {
        Generic::new("4B", 1, 5)
            .crash()
            .snapshots(MAX_RAFT_STATE)
            .run()
    });
}

/// Twenty clerks; all servers restart from snapshot plus log each round.
#[test]
fn snapshot_recover_many_clients_4b() {
    sim::run(|| {
        Generic::new("4B", 20, 5)
            .crash()
            .snapshots(MAX_RAFT_STATE)
            .run()
    });
}

/// Five clerks on an unreliable network: dedup survives snapshots.
#[test]
fn snapshot_unreliable_4b() {
    sim::run(|| {
        Generic::new("4B", 5, 5)
            .unreliable()
            .snapshots(MAX_RAFT_STATE)
            .run()
    });
}

/// Five clerks, unreliable network, crash and restart from snapshots.
#[test]
fn snapshot_unreliable_recover_4b() {
    sim::run(|| {
        Generic::new("4B", 5, 5)
            .unreliable()
            .crash()
            .snapshots(MAX_RAFT_STATE)
            .run()
    });
}

/// Five clerks, unreliable network, partitions, crash and restart from snapshots.
#[test]
fn snapshot_unreliable_recover_concurrent_partition_4b() {
    sim::run(|| {
        Generic::new("4B", 5, 5)
            .unreliable()
            .crash()
            .partitions()
            .snapshots(MAX_RAFT_STATE)
            .run()
    });
}

/// Fifteen clerks on random keys, 7 servers, every fault, snapshots: linearizable.
#[test]
fn snapshot_unreliable_recover_concurrent_partition_linearizable_4b() {
    sim::run(|| {
        Generic::new("4B", 15, 7)
            .unreliable()
            .crash()
            .partitions()
            .snapshots(MAX_RAFT_STATE)
            .random_keys()
            .run()
    });
}

/// One seed, one execution, through the whole stack (clerks, kvraft, rsm,
/// raft, labrpc) with crashes, partitions, an unreliable network and
/// snapshots: two runs with one seed send the same RPCs and bytes, record
/// the same number of operations and end at the same virtual instant.
#[test]
fn deterministic_replay_4b() {
    let run = |seed| {
        sim::Sim::new().seed(seed).run(|| {
            Generic::new("4B", 5, 5)
                .unreliable()
                .crash()
                .partitions()
                .snapshots(MAX_RAFT_STATE)
                .run()
        })
    };
    let first = run(11);
    assert!(first.ops > 100, "too few operations to compare: {first:?}");
    assert_eq!(run(11), first, "two runs with seed 11 diverged");
    assert_ne!(run(12), first, "the seed does not influence the run");
}
