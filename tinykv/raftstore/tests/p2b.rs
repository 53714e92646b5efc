//! Stores of one region over the simulated network (labrpc), in virtual
//! time: the peer loop end to end, crashes and restarts from the engines,
//! the reference's `TestOnePartition2B` and its ten 2B GenericTest
//! scenarios (the persistence ones also on the disk engine, `disk::…`).
//! Every client operation is recorded and the history checked for
//! linearizability at the end (`common/history.rs`).
//!
//! Each test is one seed of `labrpc::sim` (`LAB_SEED=N` replays one).

mod common;

use std::time::Duration;

use common::{Cluster, Generic};
use tokio::time::sleep;

#[test]
fn puts_and_gets_over_the_network() {
    labrpc::sim::run(|| async {
        let mut c = Cluster::new(5);
        c.wait_leader().await;
        for i in 0..50u32 {
            let key = format!("k{i:03}");
            c.must_put(key.as_bytes(), key.as_bytes()).await;
        }
        for i in (0..50u32).step_by(7) {
            let key = format!("k{i:03}");
            assert_eq!(c.must_get(key.as_bytes()).await, Some(key.into_bytes()));
        }
        for s in 1..=5 {
            c.must_get_equal(s, b"k049", b"k049").await;
        }
        c.shutdown();
    });
}

#[test]
fn stores_restart_from_their_engines() {
    labrpc::sim::run(|| async {
        let mut c = Cluster::new(5);
        let leader = c.wait_leader().await;
        c.must_put(b"a", b"1").await;
        // The leader crashes; the rest go on.
        c.stop(leader);
        c.must_put(b"b", b"2").await;
        c.start(leader);
        c.must_get_equal(leader, b"b", b"2").await;
        // Everybody crashes and comes back: nothing acknowledged is lost.
        for s in 1..=5 {
            c.stop(s);
        }
        sleep(Duration::from_millis(500)).await;
        for s in 1..=5 {
            c.start(s);
        }
        assert_eq!(c.must_get(b"a").await, Some(b"1".to_vec()));
        assert_eq!(c.must_get(b"b").await, Some(b"2".to_vec()));
        c.must_put(b"c", b"3").await;
        for s in 1..=5 {
            c.must_get_equal(s, b"c", b"3").await;
        }
        c.shutdown();
    });
}

/// `TestOnePartition2B`: a leader stranded in a minority serves nothing;
/// the majority goes on; the minority catches up when healed.
#[test]
fn one_partition_p2b() {
    labrpc::sim::run(|| async {
        let mut c = Cluster::new(5);
        c.must_put(b"k0", b"v0").await;
        let leader = c.wait_leader().await;
        let others: Vec<u64> = (1..=5).filter(|&s| s != leader).collect();
        let mut s1 = vec![leader, others[0], others[1]];
        let mut s2 = vec![others[2], others[3]];
        c.partition(&s1, &s2);
        c.must_put(b"k1", b"v1").await;
        assert_eq!(c.must_get(b"k1").await, Some(b"v1".to_vec()));
        for &s in &s2 {
            c.must_stay_none(s, b"k1").await;
        }
        c.heal();
        // The old leader and one follower are now the minority.
        s2.push(s1.pop().unwrap());
        c.partition(&s1, &s2);
        // Move the client off the stranded leader as the reference's does.
        c.client.hints.insert(1, s2[0]);
        assert_eq!(c.must_get(b"k1").await, Some(b"v1".to_vec()));
        c.must_put(b"k1", b"changed").await;
        for &s in &s1 {
            c.must_get_equal(s, b"k1", b"v1").await;
            // It never sees the change while cut off.
            sleep(Duration::from_millis(200)).await;
            assert_eq!(c.engine_get(s, b"k1"), Some(b"v1".to_vec()));
        }
        c.heal();
        c.must_put(b"k2", b"v2").await;
        c.must_get_equal(leader, b"k2", b"v2").await;
        c.must_get_equal(leader, b"k1", b"changed").await;
        c.shutdown();
    });
}

/// `TestBasic2B`: one client, no faults.
#[test]
fn basic_p2b() {
    Generic::new(1).run();
}

/// `TestConcurrent2B`: five clients.
#[test]
fn concurrent_p2b() {
    Generic::new(5).run();
}

/// `TestUnreliable2B`: five clients over a lossy network.
#[test]
fn unreliable_p2b() {
    Generic::new(5).unreliable().run();
}

/// `TestManyPartitionsOneClient2B`.
#[test]
fn many_partitions_one_client_p2b() {
    Generic::new(1).partitions().run();
}

/// `TestManyPartitionsManyClients2B`.
#[test]
fn many_partitions_many_clients_p2b() {
    Generic::new(5).partitions().run();
}

/// `TestPersistOneClient2B`: every store crashes after each round.
#[test]
fn persist_one_client_p2b() {
    Generic::new(1).crash().run();
}

/// `TestPersistConcurrent2B`.
#[test]
fn persist_concurrent_p2b() {
    Generic::new(5).crash().run();
}

/// `TestPersistConcurrentUnreliable2B`.
#[test]
fn persist_concurrent_unreliable_p2b() {
    Generic::new(5).unreliable().crash().run();
}

/// `TestPersistPartition2B`.
#[test]
fn persist_partition_p2b() {
    Generic::new(5).crash().partitions().run();
}

/// `TestPersistPartitionUnreliable2B`.
#[test]
fn persist_partition_unreliable_p2b() {
    Generic::new(5).unreliable().crash().partitions().run();
}

/// The persistence scenarios again on the disk engine (redb in temporary
/// directories): a crash keeps exactly what the engine made durable.
mod disk {
    use super::Generic;

    /// `TestPersistOneClient2B` on disk.
    #[test]
    fn persist_one_client_p2b() {
        Generic::new(1).crash().on_disk().run();
    }

    /// `TestPersistConcurrent2B` on disk.
    #[test]
    fn persist_concurrent_p2b() {
        Generic::new(5).crash().on_disk().run();
    }

    /// `TestPersistConcurrentUnreliable2B` on disk.
    #[test]
    fn persist_concurrent_unreliable_p2b() {
        Generic::new(5).unreliable().crash().on_disk().run();
    }

    /// `TestPersistPartition2B` on disk.
    #[test]
    fn persist_partition_p2b() {
        Generic::new(5).crash().partitions().on_disk().run();
    }
}
