//! Project 2C over the simulated network: raft-log GC through CompactLog
//! and lagging or restarted peers caught up with region snapshots — the
//! reference's `TestOneSnapshot2C` and its five 2C GenericTest scenarios
//! (maxraftlog 100), the crash ones also on the disk engine (`disk::…`).
//! Every client operation is recorded and the history checked for
//! linearizability at the end.
//!
//! Each test is one seed of `labrpc::sim` (`LAB_SEED=N` replays one).

mod common;

use std::time::Duration;

use common::{Backing, Cluster, Generic};
use tinykv_raftstore::PeerConfig;
use tinykv_raftstore::meta::{RAFT_INIT_LOG_INDEX, RAFT_INIT_LOG_TERM};
use tinykv_storage::Cf;
use tokio::time::sleep;

/// `TestOneSnapshot2C`: three stores, GC limit 10, keys in the lock CF.
/// Store 1 is cut off while the others write past the limit and compact;
/// when healed it can only catch up by snapshot — which also removes the
/// key deleted meanwhile — and it restarts from that snapshot.
#[test]
fn one_snapshot_p2c() {
    labrpc::sim::run(|| async {
        let mut c = Cluster::with(3, PeerConfig::with_gc_limit(10), Backing::Memory);
        let cf = Cf::Lock;
        c.must_put_cf(cf, b"k1", b"v1").await;
        c.must_put_cf(cf, b"k2", b"v2").await;
        c.must_get_cf_equal(1, cf, b"k1", b"v1").await;
        c.must_get_cf_equal(1, cf, b"k2", b"v2").await;
        for s in 1..=3 {
            let (_, truncated) = c.applied_and_truncated(s);
            assert_eq!(
                truncated, RAFT_INIT_LOG_INDEX,
                "store {s} compacted too early"
            );
            let _ = RAFT_INIT_LOG_TERM;
        }
        // Store 1 is cut off; the others take a leader of their own.
        c.partition(&[1], &[2, 3]);
        c.client.hints.insert(1, 2);
        for i in 100..115 {
            let k = format!("k{i}");
            c.must_put_cf(cf, k.as_bytes(), k.as_bytes()).await;
        }
        c.must_delete_cf(cf, b"k2").await;
        sleep(Duration::from_millis(500)).await;
        c.must_get_cf_none(1, cf, b"k100").await;
        // The majority compacted past what store 1 has: only a snapshot helps.
        let (_, truncated) = c.applied_and_truncated(1);
        let (_, majority_truncated) = c.applied_and_truncated(c.leader_among(&[2, 3]).await);
        assert!(
            majority_truncated > truncated,
            "the majority did not compact (truncated {majority_truncated})"
        );
        c.heal();
        // Store 1 gets the snapshot.
        c.must_get_cf_equal(1, cf, b"k1", b"v1").await;
        c.must_get_cf_equal(1, cf, b"k100", b"k100").await;
        c.must_get_cf_none(1, cf, b"k2").await;
        let (applied, truncated) = c.applied_and_truncated(1);
        assert!(
            truncated >= majority_truncated,
            "store 1 did not install a snapshot ({applied}, {truncated})"
        );
        c.stop(1);
        c.start(1);
        c.must_get_cf_equal(1, cf, b"k1", b"v1").await;
        for s in 1..=3 {
            let (applied, truncated) = c.applied_and_truncated(s);
            assert!(
                applied - truncated <= 20,
                "store {s}: applied {applied}, truncated {truncated}"
            );
        }
        c.shutdown();
    });
}

/// `TestSnapshotRecover2C`.
#[test]
fn snapshot_recover_p2c() {
    Generic::new(1).crash().maxraftlog(100).run();
}

/// `TestSnapshotRecoverManyClients2C`.
#[test]
fn snapshot_recover_many_clients_p2c() {
    Generic::new(20).crash().maxraftlog(100).run();
}

/// `TestSnapshotUnreliable2C`.
#[test]
fn snapshot_unreliable_p2c() {
    Generic::new(5).unreliable().maxraftlog(100).run();
}

/// `TestSnapshotUnreliableRecover2C`.
#[test]
fn snapshot_unreliable_recover_p2c() {
    Generic::new(5).unreliable().crash().maxraftlog(100).run();
}

/// `TestSnapshotUnreliableRecoverConcurrentPartition2C`.
#[test]
fn snapshot_unreliable_recover_concurrent_partition_p2c() {
    Generic::new(5)
        .unreliable()
        .crash()
        .partitions()
        .maxraftlog(100)
        .run();
}

/// The crash scenarios again on the disk engine — all but the 20-client
/// one: redb commits cost it about 36 s of CPU on the development machine,
/// past the simulation's 20 s ceiling, and its 5-client siblings cover the
/// same recovery paths.
mod disk {
    use super::Generic;

    /// `TestSnapshotRecover2C` on disk.
    #[test]
    fn snapshot_recover_p2c() {
        Generic::new(1).crash().maxraftlog(100).on_disk().run();
    }

    /// `TestSnapshotUnreliableRecover2C` on disk.
    #[test]
    fn snapshot_unreliable_recover_p2c() {
        Generic::new(5)
            .unreliable()
            .crash()
            .maxraftlog(100)
            .on_disk()
            .run();
    }

    /// `TestSnapshotUnreliableRecoverConcurrentPartition2C` on disk.
    #[test]
    fn snapshot_unreliable_recover_concurrent_partition_p2c() {
        Generic::new(5)
            .unreliable()
            .crash()
            .partitions()
            .maxraftlog(100)
            .on_disk()
            .run();
    }
}
