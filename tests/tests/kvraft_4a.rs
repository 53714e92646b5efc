//! Lab 4A: the replicated key/value service without snapshots — every
//! reference `TestXxx4A` scenario, each one line over the harness in
//! `tests::kvraft` (Raft paper §8: client interaction, at-most-once writes,
//! no stale reads; Lab 4 handout).
//!
//! `cargo test -p tests 4a`; a failure prints the seed that replays it.

use labrpc::sim;
use tests::kvraft::{self, Generic};

/// One clerk on 5 reliable servers: appends land once, in order; Gets see them.
#[test]
fn basic_4a() {
    sim::run(|| Generic::new("4A", 1, 5).run());
}

/// 1000 Appends average ≤ 33.3 ms (reference) and ≤ 6 one-way latencies (ours).
#[test]
fn speed_4a() {
    sim::run(|| kvraft::speed("4A", None));
}

/// Five clerks at once on 5 servers: each key holds its clerk's appends.
#[test]
fn concurrent_4a() {
    sim::run(|| Generic::new("4A", 5, 5).run());
}

/// Five clerks on an unreliable network: retries are applied at most once.
#[test]
fn unreliable_4a() {
    sim::run(|| Generic::new("4A", 5, 5).unreliable().run());
}

/// Five clerks append to one key on an unreliable network: none lost or doubled.
#[test]
fn unreliable_one_key_4a() {
    sim::run(kvraft::unreliable_one_key);
}

/// Leader in a minority: the majority progresses, the minority does not, heal completes it.
#[test]
fn one_partition_4a() {
    sim::run(kvraft::one_partition);
}

/// One clerk while the servers are re-partitioned every second.
#[test]
fn many_partitions_one_client_4a() {
    sim::run(|| Generic::new("4A", 1, 5).partitions().run());
}

/// Five clerks while the servers are re-partitioned every second.
#[test]
fn many_partitions_many_clients_4a() {
    sim::run(|| Generic::new("4A", 5, 5).partitions().run());
}

/// One clerk; all servers crash and restart from their persisted state each round.
#[test]
fn persist_one_client_4a() {
    sim::run(|| Generic::new("4A", 1, 5).crash().run());
}

/// Five clerks; all servers crash and restart each round.
#[test]
fn persist_concurrent_4a() {
    sim::run(|| Generic::new("4A", 5, 5).crash().run());
}

/// Five clerks, unreliable network, crash and restart of all servers.
#[test]
fn persist_concurrent_unreliable_4a() {
    sim::run(|| Generic::new("4A", 5, 5).unreliable().crash().run());
}

/// Five clerks, partitions and crash/restart of all servers.
#[test]
fn persist_partition_4a() {
    sim::run(|| Generic::new("4A", 5, 5).crash().partitions().run());
}

/// Five clerks, unreliable network, partitions and crash/restart.
#[test]
fn persist_partition_unreliable_4a() {
    sim::run(|| {
        Generic::new("4A", 5, 5)
            .unreliable()
            .crash()
            .partitions()
            .run()
    });
}

/// Fifteen clerks on random keys, 7 servers, every fault: the history must be linearizable.
#[test]
fn persist_partition_unreliable_linearizable_4a() {
    sim::run(|| {
        Generic::new("4A", 15, 7)
            .unreliable()
            .crash()
            .partitions()
            .random_keys()
            .run()
    });
}
