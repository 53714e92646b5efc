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

use std::time::Duration;

use common::{Backing, Cluster, Generic};
use tinykv_raftstore::cmd::Request;
use tinykv_raftstore::meta::Peer;
use tinykv_raftstore::{Error, PeerConfig};
use tokio::time::sleep;

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

/// `TestOneSplit3B`: with max 800 B and split 500 B, a hundred more puts
/// split region 1 at a key between k1 and k2; both halves are contiguous,
/// the old region answers KeyNotInRegion for the right half's key, and a
/// store cut off during the split catches up.
#[test]
fn one_split_p3b() {
    labrpc::sim::run(|| async {
        let config = PeerConfig::test().with_split_sizes(800, 500);
        let mut c = Cluster::with(5, config, Backing::Memory);
        c.must_put(b"k1", b"v1").await;
        c.must_put(b"k2", b"v2").await;
        let region = c.scheduler.region_by_key(b"k1").expect("a region");
        assert_eq!(Some(&region), c.scheduler.region_by_key(b"k2").as_ref());
        assert!(region.end_key.is_empty());

        c.partition(&[1, 2, 3, 4], &[5]);
        for i in 100..200 {
            let (k, v) = (format!("k{i}"), format!("v{i}"));
            c.must_put(k.as_bytes(), v.as_bytes()).await;
        }
        sleep(Duration::from_millis(200)).await;
        c.heal();

        // The new region's leader reports within a heartbeat or two after
        // its election; the reference reads the scheduler right away after
        // its 200 ms, we poll for up to its region budget (100 × 20 ms).
        let (left, right) = {
            let mut found = None;
            for _ in 0..100 {
                let l = c.scheduler.region_by_key(b"k1");
                let r = c.scheduler.region_by_key(b"k2");
                if let (Some(l), Some(r)) = (l, r)
                    && l.id != r.id
                {
                    found = Some((l, r));
                    break;
                }
                sleep(Duration::from_millis(20)).await;
            }
            found.expect("region 1 is not split")
        };
        assert_eq!(left.start_key, region.start_key);
        assert_eq!(left.end_key, right.start_key);
        assert_eq!(right.end_key, region.end_key);

        // A Get of k2 addressed to the left region.
        let leader = loop {
            if let Some(l) = c.leader_of(left.id) {
                break l;
            }
            sleep(Duration::from_millis(10)).await;
        };
        let got = c
            .client
            .command_on(
                leader,
                left.id,
                vec![Request::Get {
                    cf: tinykv_storage::Cf::Default,
                    key: b"k2".to_vec(),
                }],
            )
            .await;
        assert!(
            matches!(got, Err(Error::KeyNotInRegion { .. })),
            "a get of k2 in the left region: {got:?}"
        );
        c.must_get_equal(5, b"k100", b"v100").await;
        c.shutdown();
    });
}

// The six split GenericTest variants (max 300 B, split 200 B).

/// `TestSplitRecover3B` (1; C SP).
#[test]
fn split_recover_p3b() {
    Generic::new(1).crash().split().run();
}

/// `TestSplitRecoverManyClients3B` (20; C SP).
#[test]
fn split_recover_many_clients_p3b() {
    Generic::new(20).crash().split().run();
}

/// `TestSplitUnreliable3B` (5; U SP).
#[test]
fn split_unreliable_p3b() {
    Generic::new(5).unreliable().split().run();
}

/// `TestSplitUnreliableRecover3B` (5; U C SP).
#[test]
fn split_unreliable_recover_p3b() {
    Generic::new(5).unreliable().crash().split().run();
}

/// `TestSplitConfChangeSnapshotUnreliableRecover3B` (5; U C S100 CC SP).
#[test]
fn split_conf_change_snapshot_unreliable_recover_p3b() {
    Generic::new(5)
        .unreliable()
        .crash()
        .maxraftlog(100)
        .confchange()
        .split()
        .run();
}

/// `TestSplitConfChangeSnapshotUnreliableRecoverConcurrentPartition3B` (5; U C P S100 CC SP).
#[test]
fn split_conf_change_snapshot_unreliable_recover_concurrent_partition_p3b() {
    Generic::new(5)
        .unreliable()
        .crash()
        .partitions()
        .maxraftlog(100)
        .confchange()
        .split()
        .run();
}

/// Bad admin input is refused with a typed error and changes nothing: a
/// split key outside the region (before it, past it), an empty one or the
/// region's start key, too few new peer ids, a new region id that is
/// taken; a ChangePeer adding a peer on a store the cluster lacks or a
/// second peer on a store that has one, removing a peer the region does
/// not have; a ChangePeer and a Split with a stale epoch.
#[test]
fn bad_admin_commands_p3b() {
    use tinykv_raftstore::cmd::{AdminRequest, ChangeType};
    labrpc::sim::run(|| async {
        let mut c = Cluster::new(3);
        c.must_put(b"a", b"1").await;
        let leader = c.wait_leader().await;
        let before = c.region_of(1);
        // Region 1 is split at "m" first (region 100 is the right half),
        // so "a" lies outside region 100 and "z" outside region 1. The bad
        // splits name a free region id, 200.
        let split = |key: &[u8]| AdminRequest::Split {
            split_key: key.to_vec(),
            new_region_id: 200,
            new_peer_ids: vec![201, 202, 203],
        };
        let got = c.client.admin_on(leader, 1, split(b"")).await;
        assert!(matches!(got, Err(Error::InvalidAdmin { .. })), "{got:?}");
        let got = c
            .client
            .admin_on(
                leader,
                1,
                AdminRequest::Split {
                    split_key: b"m".to_vec(),
                    new_region_id: 100,
                    new_peer_ids: vec![101],
                },
            )
            .await;
        assert!(matches!(got, Err(Error::InvalidAdmin { .. })), "{got:?}");
        let good = AdminRequest::Split {
            split_key: b"m".to_vec(),
            new_region_id: 100,
            new_peer_ids: vec![101, 102, 103],
        };
        let got = c.client.admin_on(leader, 1, good).await;
        assert!(got.is_ok(), "a good split: {got:?}");
        let mut right = None;
        for _ in 0..100 {
            right = c.scheduler.region(100);
            if right.is_some() && c.scheduler.region(1).unwrap().region_epoch.version > 1 {
                break;
            }
            sleep(Duration::from_millis(20)).await;
        }
        let right = right.expect("the new region reports");
        let right_leader = loop {
            if let Some(l) = c.leader_of(100) {
                break l;
            }
            sleep(Duration::from_millis(10)).await;
        };
        // Split keys outside the region: before its start, past its end;
        // and its own start key (an empty left half).
        let got = c.client.admin_on(right_leader, 100, split(b"a")).await;
        assert!(matches!(got, Err(Error::KeyNotInRegion { .. })), "{got:?}");
        let got = c.client.admin_on(leader, 1, split(b"z")).await;
        assert!(matches!(got, Err(Error::KeyNotInRegion { .. })), "{got:?}");
        let got = c.client.admin_on(right_leader, 100, split(b"m")).await;
        assert!(matches!(got, Err(Error::InvalidAdmin { .. })), "{got:?}");
        // A new region id that is taken: the region's own, or region 100's.
        for taken in [1, 100] {
            let got = c
                .client
                .admin_on(
                    leader,
                    1,
                    AdminRequest::Split {
                        split_key: b"f".to_vec(),
                        new_region_id: taken,
                        new_peer_ids: vec![201, 202, 203],
                    },
                )
                .await;
            assert!(matches!(got, Err(Error::InvalidAdmin { .. })), "{got:?}");
        }

        let add = |store_id, id| AdminRequest::ChangePeer {
            change_type: ChangeType::AddNode,
            peer: Peer { id, store_id },
        };
        let got = c.client.admin_on(leader, 1, add(9, 50)).await;
        assert_eq!(got, Err(Error::StoreNotFound { store_id: 9 }));
        let got = c.client.admin_on(leader, 1, add(2, 51)).await;
        assert!(matches!(got, Err(Error::InvalidAdmin { .. })), "{got:?}");
        // Removing a peer the region does not have (on an unknown store, or
        // an unknown id on a known one).
        for (store_id, id) in [(9, 52), (2, 53)] {
            let remove = AdminRequest::ChangePeer {
                change_type: ChangeType::RemoveNode,
                peer: Peer { id, store_id },
            };
            let got = c.client.admin_on(leader, 1, remove).await;
            assert!(matches!(got, Err(Error::InvalidAdmin { .. })), "{got:?}");
        }

        // A stale epoch: the one region 1 had before the split.
        let region = c.scheduler.region(1).unwrap();
        let peer = region.peer_on_store(leader).unwrap();
        let stale = tinykv_raftstore::cmd::RaftCmdRequest::admin(
            tinykv_raftstore::cmd::CmdHeader {
                region_id: 1,
                peer,
                region_epoch: before.region_epoch,
                term: 0,
            },
            AdminRequest::ChangePeer {
                change_type: ChangeType::RemoveNode,
                peer: region
                    .peers
                    .iter()
                    .copied()
                    .find(|p| p.store_id != leader)
                    .unwrap(),
            },
        );
        let got = c.client.raw_command(leader, &stale).await;
        assert!(matches!(got, Err(Error::EpochNotMatch { .. })), "{got:?}");
        // A split with that stale epoch, at a key still in the region.
        let stale = tinykv_raftstore::cmd::RaftCmdRequest::admin(
            tinykv_raftstore::cmd::CmdHeader {
                region_id: 1,
                peer,
                region_epoch: before.region_epoch,
                term: 0,
            },
            split(b"f"),
        );
        let got = c.client.raw_command(leader, &stale).await;
        assert!(matches!(got, Err(Error::EpochNotMatch { .. })), "{got:?}");

        // Nothing changed: region 1 and region 100 still have three peers,
        // their epochs and ranges are the good split's, no other region
        // appeared, and on every store both regions still have it.
        sleep(Duration::from_millis(500)).await;
        let left = c.scheduler.region(1).unwrap();
        assert_eq!(left.peers.len(), 3);
        assert_eq!(left.region_epoch.conf_ver, 1);
        assert_eq!(left.region_epoch.version, 2);
        assert_eq!(left.end_key, b"m".to_vec());
        assert_eq!(c.scheduler.region(100).unwrap(), right);
        assert_eq!(c.scheduler.regions().len(), 2);
        for s in 1..=3 {
            let regions = c.stores[s - 1].as_ref().unwrap().regions();
            assert_eq!(regions, vec![left.clone(), right.clone()], "store {s}");
        }
        assert_eq!(c.must_get(b"a").await, Some(b"1".to_vec()));
        c.shutdown();
    });
}
