//! Project 3B over the simulated network: leader transfer, membership
//! change and region split in a multi-raft store, with the mock scheduler
//! handing out operators in heartbeat responses — the reference's
//! `TestTransferLeader3B`, `TestBasicConfChange3B`,
//! `TestConfChangeRemoveLeader3B`, `TestOneSplit3B` and its twelve 3B
//! GenericTest scenarios. Every client operation is recorded and the
//! history checked for linearizability at the end (per key, across
//! regions); the mock scheduler's complaints fail the test.
//!
//! Each test is one seed of `labrpc::sim` (`LAB_SEED=N` replays one).

mod common;

use common::{Cluster, Generic};
use tinykv_raftstore::meta::Peer;

fn peer(store_id: u64, id: u64) -> Peer {
    Peer { id, store_id }
}

/// `TestTransferLeader3B`: leadership of region 1 moves to each store in turn.
#[test]
fn transfer_leader_p3b() {
    labrpc::sim::run(|| async {
        let mut c = Cluster::new(5);
        c.wait_leader().await;
        for s in 1..=5 {
            c.must_transfer_leader(1, peer(s, s)).await;
        }
        c.shutdown();
    });
}

/// `TestBasicConfChange3B`: remove four peers, add them back one by one
/// (also a removed peer again, and a new peer id on a store that had one);
/// a removed store's data is wiped, an added one catches up.
#[test]
fn basic_conf_change_p3b() {
    labrpc::sim::run(|| async {
        let mut c = Cluster::new(5);
        c.wait_leader().await;
        c.must_transfer_leader(1, peer(1, 1)).await;
        for s in 2..=5 {
            c.must_remove_peer(1, peer(s, s)).await;
        }
        c.must_put(b"k1", b"v1").await;
        c.must_stay_none(2, b"k1").await;

        c.must_add_peer(1, peer(2, 2)).await;
        c.must_put(b"k2", b"v2").await;
        assert_eq!(c.must_get(b"k2").await, Some(b"v2".to_vec()));
        c.must_get_equal(2, b"k1", b"v1").await;
        c.must_get_equal(2, b"k2", b"v2").await;
        assert!(c.region_of(1).region_epoch.conf_ver > 1);
        c.must_stay_none(5, b"k1").await;

        c.must_add_peer(1, peer(3, 3)).await;
        c.must_remove_peer(1, peer(2, 2)).await;
        c.must_put(b"k3", b"v3").await;
        assert_eq!(c.must_get(b"k3").await, Some(b"v3".to_vec()));
        for (k, v) in [(b"k1", b"v1"), (b"k2", b"v2"), (b"k3", b"v3")] {
            c.must_get_equal(3, k, v).await;
        }
        // Store 2's peer was destroyed: its data is wiped.
        c.must_get_cf_none(2, tinykv_storage::Cf::Default, b"k1")
            .await;
        c.must_get_cf_none(2, tinykv_storage::Cf::Default, b"k2")
            .await;

        c.must_add_peer(1, peer(2, 2)).await;
        for (k, v) in [(b"k1", b"v1"), (b"k2", b"v2"), (b"k3", b"v3")] {
            c.must_get_equal(2, k, v).await;
        }

        c.must_remove_peer(1, peer(2, 2)).await;
        c.must_add_peer(1, peer(2, 4)).await;
        c.must_remove_peer(1, peer(3, 3)).await;
        c.must_put(b"k4", b"v4").await;
        c.must_get_equal(2, b"k1", b"v1").await;
        c.must_get_equal(2, b"k4", b"v4").await;
        c.must_get_cf_none(3, tinykv_storage::Cf::Default, b"k1")
            .await;
        c.must_get_cf_none(3, tinykv_storage::Cf::Default, b"k4")
            .await;
        c.shutdown();
    });
}

/// `TestConfChangeRemoveLeader3B`: removing the leader (also of a
/// two-peer group) leaves a group that goes on; the removed store's data
/// is wiped and comes back when it is added again.
#[test]
fn conf_change_remove_leader_p3b() {
    labrpc::sim::run(|| async {
        let mut c = Cluster::new(5);
        c.wait_leader().await;
        c.must_transfer_leader(1, peer(1, 1)).await;
        c.must_remove_peer(1, peer(1, 1)).await;
        c.must_put(b"k0", b"v0").await;
        c.must_stay_none(1, b"k0").await;

        c.must_add_peer(1, peer(1, 1)).await;
        c.must_transfer_leader(1, peer(1, 1)).await;
        c.must_put(b"k1", b"v1").await;
        c.must_get_equal(1, b"k0", b"v0").await;
        c.must_get_equal(1, b"k1", b"v1").await;

        for s in 2..=4 {
            c.must_remove_peer(1, peer(s, s)).await;
        }
        // {1, 5} with 1 leading: remove the leader of a two-peer group.
        c.must_remove_peer(1, peer(1, 1)).await;
        c.must_put(b"k2", b"v2").await;
        c.must_stay_none(1, b"k2").await;

        c.must_add_peer(1, peer(1, 1)).await;
        c.must_put(b"k3", b"v3").await;
        c.must_stay_none(3, b"k3").await;
        c.must_get_equal(1, b"k3", b"v3").await;
        c.shutdown();
    });
}

// The six conf-change GenericTest variants (clients; U unreliable, C
// crash, P partitions, S100 maxraftlog 100).

/// `TestConfChangeRecover3B` (1; C CC).
#[test]
fn conf_change_recover_p3b() {
    Generic::new(1).crash().confchange().run();
}

/// `TestConfChangeRecoverManyClients3B` (20; C CC).
#[test]
fn conf_change_recover_many_clients_p3b() {
    Generic::new(20).crash().confchange().run();
}

/// `TestConfChangeUnreliable3B` (5; U CC).
#[test]
fn conf_change_unreliable_p3b() {
    Generic::new(5).unreliable().confchange().run();
}

/// `TestConfChangeUnreliableRecover3B` (5; U C CC).
#[test]
fn conf_change_unreliable_recover_p3b() {
    Generic::new(5).unreliable().crash().confchange().run();
}

/// `TestConfChangeSnapshotUnreliableRecover3B` (5; U C S100 CC).
#[test]
fn conf_change_snapshot_unreliable_recover_p3b() {
    Generic::new(5)
        .unreliable()
        .crash()
        .maxraftlog(100)
        .confchange()
        .run();
}

/// `TestConfChangeSnapshotUnreliableRecoverConcurrentPartition3B` (5; U C P S100 CC).
#[test]
fn conf_change_snapshot_unreliable_recover_concurrent_partition_p3b() {
    Generic::new(5)
        .unreliable()
        .crash()
        .partitions()
        .maxraftlog(100)
        .confchange()
        .run();
}
