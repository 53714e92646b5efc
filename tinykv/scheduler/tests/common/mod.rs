//! Helpers shared by the test files: the reference's test regions and its
//! `checkRegions`, and the mock cluster's store and region builders.

#![allow(dead_code)] // each test file uses part of it

use tinykv_scheduler::{
    Cluster, Config, OpKind, OpStep, Operator, Peer, Region, RegionEpoch, RegionInfo, Store,
    StoreInfo,
};

/// The clock reading the pure tests use: a day in, so "down for 30 min" is
/// expressible as a heartbeat at time 0.
pub const NOW: u64 = 24 * 3600 * 1000;

/// Runs a test body in the simulation, so its random choices come from the
/// seed (`LAB_SEED`) and a failure prints its replay command.
pub fn sim(body: impl FnOnce() + Send + 'static) {
    labrpc::sim::run(|| async move { body() });
}

/// `newTestRegions(n, np)`: region i has peers i·np + j on stores
/// (i + j) mod n (so store 0, never registered, appears), range
/// `[i, i+1)`, epoch (conf_ver 2, version 2), led by its first peer.
pub fn new_test_regions(n: u64, np: u64) -> Vec<RegionInfo> {
    (0..n)
        .map(|i| {
            let peers: Vec<Peer> = (0..np)
                .map(|j| Peer {
                    id: i * np + j,
                    store_id: (i + j) % n,
                })
                .collect();
            let leader = peers[0];
            let meta = Region {
                id: i,
                start_key: vec![i as u8],
                end_key: vec![i as u8 + 1],
                region_epoch: RegionEpoch {
                    conf_ver: 2,
                    version: 2,
                },
                peers,
            };
            RegionInfo::new(meta, Some(leader))
        })
        .collect()
}

/// A cluster with stores 1..=3 registered and the three test regions
/// heartbeated one by one, the cache checked after each.
pub fn set_up_test_cluster() -> (Cluster, Vec<RegionInfo>) {
    let mut cluster = Cluster::new(Config::default(), 1);
    for id in 1..=3 {
        cluster
            .put_store(
                Store {
                    id,
                    ..Store::default()
                },
                NOW,
            )
            .unwrap();
    }
    let regions = new_test_regions(3, 3);
    for (i, region) in regions.iter().enumerate() {
        cluster.process_region_heartbeat(region.clone()).unwrap();
        check_regions(&cluster, &regions[..=i]);
    }
    (cluster, regions)
}

/// `checkRegions`: the cache holds exactly `regions` (indexed by id), each
/// in the leader or follower index of each of its peers' stores, with the
/// per-store counts that implies; and every registered store's cached
/// statistics equal the cache's.
pub fn check_regions(cluster: &Cluster, regions: &[RegionInfo]) {
    use std::collections::BTreeMap;
    let cache = cluster.regions();
    let mut region_count: BTreeMap<u64, usize> = BTreeMap::new();
    let mut leader_count: BTreeMap<u64, usize> = BTreeMap::new();
    let mut follower_count: BTreeMap<u64, usize> = BTreeMap::new();
    let mut pending_count: BTreeMap<u64, usize> = BTreeMap::new();
    for region in regions {
        for peer in &region.meta.peers {
            *region_count.entry(peer.store_id).or_default() += 1;
            if region.is_leader(peer) {
                *leader_count.entry(peer.store_id).or_default() += 1;
                assert_eq!(
                    cache.leader_of(peer.store_id, region.id()),
                    Some(region),
                    "region {} not in store {}'s leader index",
                    region.id(),
                    peer.store_id
                );
            } else {
                *follower_count.entry(peer.store_id).or_default() += 1;
                assert_eq!(
                    cache.follower_of(peer.store_id, region.id()),
                    Some(region),
                    "region {} not in store {}'s follower index",
                    region.id(),
                    peer.store_id
                );
            }
        }
        for peer in &region.pending_peers {
            *pending_count.entry(peer.store_id).or_default() += 1;
        }
    }
    assert_eq!(cache.len(), regions.len(), "region count");
    for (&id, &n) in &region_count {
        assert_eq!(cache.store_region_count(id), n, "store {id} region count");
    }
    for (&id, &n) in &leader_count {
        assert_eq!(cache.store_leader_count(id), n, "store {id} leader count");
    }
    for (&id, &n) in &follower_count {
        assert_eq!(
            cache.store_follower_count(id),
            n,
            "store {id} follower count"
        );
    }
    for (&id, &n) in &pending_count {
        assert_eq!(
            cache.store_pending_peer_count(id),
            n,
            "store {id} pending count"
        );
    }
    for region in cache.iter() {
        let expected = regions
            .iter()
            .find(|r| r.id() == region.id())
            .unwrap_or_else(|| panic!("region {} cached but not expected", region.id()));
        assert_eq!(region, expected);
    }
    check_store_stats(cluster);
}

/// Every registered store's cached statistics equal the region cache's.
pub fn check_store_stats(cluster: &Cluster) {
    let cache = cluster.regions();
    for store in cluster.stores() {
        let id = store.id();
        assert_eq!(
            store.leader_count,
            cache.store_leader_count(id),
            "store {id} leaders"
        );
        assert_eq!(
            store.region_count,
            cache.store_region_count(id),
            "store {id} regions"
        );
        assert_eq!(
            store.pending_peer_count,
            cache.store_pending_peer_count(id),
            "store {id} pending peers"
        );
        assert_eq!(
            store.leader_size,
            cache.store_leader_region_size(id),
            "store {id} leader size"
        );
        assert_eq!(
            store.region_size,
            cache.store_region_size(id),
            "store {id} region size"
        );
    }
}

/// A copy of `r` with `version` + 1.
pub fn inc_version(r: &RegionInfo) -> RegionInfo {
    let mut r = r.clone();
    r.meta.region_epoch.version += 1;
    r
}

/// A copy of `r` with `conf_ver` + 1.
pub fn inc_conf_ver(r: &RegionInfo) -> RegionInfo {
    let mut r = r.clone();
    r.meta.region_epoch.conf_ver += 1;
    r
}

// ---- the reference's mock cluster, for the balance tests -------------

/// `AddRegionStore(id, count)`: an Up store heartbeating now, holding
/// `count` regions of size 10 each by its statistics.
pub fn add_region_store(cluster: &mut Cluster, id: u64, count: usize) {
    cluster.put_store_info(StoreInfo {
        meta: Store {
            id,
            ..Store::default()
        },
        last_heartbeat_ms: NOW,
        region_count: count,
        region_size: count as u64 * 10,
        ..StoreInfo::default()
    });
}

/// `UpdateRegionCount(id, count)`.
pub fn update_region_count(cluster: &mut Cluster, id: u64, count: usize) {
    let store = cluster.get_store_mut(id).unwrap();
    store.region_count = count;
    store.region_size = count as u64 * 10;
}

/// `SetStoreOffline(id)`.
pub fn set_store_offline(cluster: &mut Cluster, id: u64) {
    cluster.get_store_mut(id).unwrap().meta.state = tinykv_scheduler::StoreState::Offline;
}

/// `SetStoreDown(id)`: last heard from at time 0, a day ago.
pub fn set_store_down(cluster: &mut Cluster, id: u64) {
    cluster.get_store_mut(id).unwrap().last_heartbeat_ms = 0;
}

/// `AddLeaderRegion(id, leader, followers…)`: a region of size 10 with
/// fresh peer ids, put into the cache as it is (replacing one with its id).
pub fn add_leader_region(cluster: &mut Cluster, id: u64, leader: u64, followers: &[u64]) {
    let mut peers = Vec::new();
    for &store_id in std::iter::once(&leader).chain(followers) {
        peers.push(Peer {
            id: cluster.alloc_id().unwrap(),
            store_id,
        });
    }
    let meta = Region {
        id,
        start_key: format!("{id:20}").into_bytes(),
        end_key: format!("{:20}", id + 1).into_bytes(),
        region_epoch: RegionEpoch {
            conf_ver: 1,
            version: 1,
        },
        peers: peers.clone(),
    };
    let mut region = RegionInfo::new(meta, Some(peers[0]));
    region.approximate_size = 10;
    cluster.put_region(region);
}

/// `CheckTransferPeer`: AddPeer(target) → RemovePeer(source), or with a
/// TransferLeader away from the source in between; a balance operator.
pub fn check_transfer_peer(op: Option<Operator>, source: u64, target: u64) -> Operator {
    let op = op.expect("expected an operator, got none");
    let mut kind = OpKind::BALANCE | OpKind::REGION;
    assert!(
        matches!(op.steps[0], OpStep::AddPeer { to_store, .. } if to_store == target),
        "{op:?}: first step is not AddPeer to {target}"
    );
    if op.len() == 2 {
        assert_eq!(
            op.steps[1],
            OpStep::RemovePeer { from_store: source },
            "{op:?}"
        );
    } else {
        assert_eq!(op.len(), 3, "{op:?}");
        assert!(
            matches!(op.steps[1], OpStep::TransferLeader { from_store, .. } if from_store == source),
            "{op:?}: second step is not TransferLeader from {source}"
        );
        assert_eq!(
            op.steps[2],
            OpStep::RemovePeer { from_store: source },
            "{op:?}"
        );
        kind = kind | OpKind::LEADER;
    }
    assert!(op.kind.contains(kind), "{op:?}: kind lacks {kind:?}");
    op
}

/// `CheckTransferPeerWithLeaderTransfer`: three steps.
pub fn check_transfer_peer_with_leader_transfer(
    op: Option<Operator>,
    source: u64,
    target: u64,
) -> Operator {
    let op = check_transfer_peer(op, source, target);
    assert_eq!(op.len(), 3, "{op:?}: no leader transfer");
    op
}
