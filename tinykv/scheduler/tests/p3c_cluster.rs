//! Project 3C, `cluster_test.go`: region heartbeats and the region cache
//! (18 tests). Setup as the reference's: stores 1..=3, regions 0..2 with
//! three peers on stores (i + j) mod 3 (store 0 is never registered), epoch
//! (2, 2), range `[i, i+1)`, led by the first peer. `check_regions` compares
//! the whole cache, the per-store indices and counts, and — stronger than
//! the reference — every registered store's cached statistics.

mod common;

use common::*;
use tinykv_scheduler::{Cluster, Config, Error, Region, RegionEpoch, RegionInfo, Store};

/// Same heartbeats again: nothing changes.
#[test]
fn region_not_update_p3c() {
    sim(|| {
        let (mut cluster, regions) = set_up_test_cluster();
        for region in &regions {
            cluster.process_region_heartbeat(region.clone()).unwrap();
            check_regions(&cluster, &regions);
        }
    });
}

/// `version` + 1 is accepted and replaces the cached region.
#[test]
fn region_update_version_p3c() {
    sim(|| {
        let (mut cluster, mut regions) = set_up_test_cluster();
        for i in 0..regions.len() {
            regions[i] = inc_version(&regions[i]);
            cluster
                .process_region_heartbeat(regions[i].clone())
                .unwrap();
            check_regions(&cluster, &regions);
        }
    });
}

/// `version` and `conf_ver` + 1 together are accepted.
#[test]
fn region_update_version_and_confver_p3c() {
    sim(|| {
        let (mut cluster, mut regions) = set_up_test_cluster();
        for i in 0..regions.len() {
            regions[i] = inc_conf_ver(&inc_version(&regions[i]));
            cluster
                .process_region_heartbeat(regions[i].clone())
                .unwrap();
            check_regions(&cluster, &regions);
        }
    });
}

/// After `version` + 1, the old version (even with a larger `conf_ver`)
/// is refused and changes nothing.
#[test]
fn region_with_stale_version_p3c() {
    sim(|| {
        let (mut cluster, mut regions) = set_up_test_cluster();
        for i in 0..regions.len() {
            let origin = regions[i].clone();
            regions[i] = inc_version(&origin);
            cluster
                .process_region_heartbeat(regions[i].clone())
                .unwrap();
            check_regions(&cluster, &regions);
            let stale = inc_conf_ver(&origin);
            let err = cluster.process_region_heartbeat(stale).unwrap_err();
            assert!(matches!(err, Error::StaleRegion { .. }), "{err}");
            check_regions(&cluster, &regions);
        }
    });
}

/// After `conf_ver` + 1, the original is refused and changes nothing.
#[test]
fn region_with_stale_conf_ver_p3c() {
    sim(|| {
        let (mut cluster, mut regions) = set_up_test_cluster();
        for i in 0..regions.len() {
            let origin = regions[i].clone();
            regions[i] = inc_conf_ver(&origin);
            cluster
                .process_region_heartbeat(regions[i].clone())
                .unwrap();
            check_regions(&cluster, &regions);
            let err = cluster.process_region_heartbeat(origin).unwrap_err();
            assert!(matches!(err, Error::StaleRegion { .. }), "{err}");
            check_regions(&cluster, &regions);
        }
    });
}

/// A pending peer (chosen at random) is recorded, in the region and in its
/// store's pending count.
#[test]
fn region_add_pending_peer_p3c() {
    sim(|| {
        let (mut cluster, mut regions) = set_up_test_cluster();
        for i in 0..regions.len() {
            let peers = regions[i].meta.peers.clone();
            let pending = peers[labrpc::rng::range(0..peers.len())];
            regions[i].pending_peers = vec![pending];
            cluster
                .process_region_heartbeat(regions[i].clone())
                .unwrap();
            check_regions(&cluster, &regions);
            assert!(cluster.regions().store_pending_peer_count(pending.store_id) >= 1);
        }
    });
}

/// Pending peers recorded, then cleared: stores 1..=3 end with none.
#[test]
fn region_remove_pending_peer_p3c() {
    sim(|| {
        let (mut cluster, mut regions) = set_up_test_cluster();
        for i in 0..regions.len() {
            let peers = regions[i].meta.peers.clone();
            regions[i].pending_peers = vec![peers[labrpc::rng::range(0..peers.len())]];
            cluster
                .process_region_heartbeat(regions[i].clone())
                .unwrap();
            check_regions(&cluster, &regions);
            regions[i].pending_peers.clear();
            cluster
                .process_region_heartbeat(regions[i].clone())
                .unwrap();
            check_regions(&cluster, &regions);
        }
        for id in 1..=3 {
            assert_eq!(cluster.get_store(id).unwrap().pending_peer_count, 0);
            assert_eq!(cluster.regions().store_pending_peer_count(id), 0);
        }
    });
}

/// Shrinking to one peer with an unchanged epoch is accepted.
#[test]
fn region_remove_peers_p3c() {
    sim(|| {
        let (mut cluster, mut regions) = set_up_test_cluster();
        for i in 0..regions.len() {
            regions[i].meta.peers.truncate(1);
            cluster
                .process_region_heartbeat(regions[i].clone())
                .unwrap();
            check_regions(&cluster, &regions);
        }
    });
}

/// Shrinking to one peer and growing back, epoch unchanged: both accepted.
#[test]
fn region_add_back_peers_p3c() {
    sim(|| {
        let (mut cluster, mut regions) = set_up_test_cluster();
        for i in 0..regions.len() {
            let origin = regions[i].clone();
            regions[i].meta.peers.truncate(1);
            cluster
                .process_region_heartbeat(regions[i].clone())
                .unwrap();
            check_regions(&cluster, &regions);
            regions[i] = origin;
            cluster
                .process_region_heartbeat(regions[i].clone())
                .unwrap();
            check_regions(&cluster, &regions);
        }
    });
}

/// A new leader moves the region between the leader and follower indices.
#[test]
fn region_change_leader_p3c() {
    sim(|| {
        let (mut cluster, mut regions) = set_up_test_cluster();
        for i in 0..regions.len() {
            regions[i].leader = Some(regions[i].meta.peers[1]);
            cluster
                .process_region_heartbeat(regions[i].clone())
                .unwrap();
            check_regions(&cluster, &regions);
        }
    });
}

/// A new approximate size (144) is stored and counted in store sizes.
#[test]
fn region_change_approximate_size_p3c() {
    sim(|| {
        let (mut cluster, mut regions) = set_up_test_cluster();
        for i in 0..regions.len() {
            regions[i].approximate_size = 144;
            cluster
                .process_region_heartbeat(regions[i].clone())
                .unwrap();
            check_regions(&cluster, &regions);
        }
        // Stores 1 and 2 hold every region; store 3 none (its peers would
        // be on store 3 mod 3 = 0).
        for (id, size) in [(1, 3 * 144), (2, 3 * 144), (3, 0)] {
            assert_eq!(cluster.get_store(id).unwrap().region_size, size);
        }
    });
}

/// Each store's region count is the number of regions with a peer on it.
#[test]
fn region_counts_p3c() {
    sim(|| {
        let (cluster, regions) = set_up_test_cluster();
        let mut counts = std::collections::BTreeMap::<u64, usize>::new();
        for region in &regions {
            for peer in &region.meta.peers {
                *counts.entry(peer.store_id).or_default() += 1;
            }
        }
        for (id, count) in counts {
            assert_eq!(cluster.regions().store_region_count(id), count);
            if let Some(store) = cluster.get_store(id) {
                assert_eq!(store.region_count, count);
            }
        }
    });
}

/// Every cached region equals its heartbeat.
#[test]
fn region_get_regions_p3c() {
    sim(|| {
        let (cluster, regions) = set_up_test_cluster();
        assert_eq!(cluster.regions().len(), regions.len());
        for region in cluster.regions().iter() {
            assert_eq!(region, &regions[region.id() as usize]);
        }
    });
}

/// A region's stores hold a peer of it; its follower stores hold a peer
/// that is not the leader. Unregistered stores (0) are left out.
#[test]
fn region_get_stores_p3c() {
    sim(|| {
        let (cluster, _) = set_up_test_cluster();
        for region in cluster.regions().iter() {
            let stores = cluster.region_stores(region);
            assert_eq!(
                stores.len(),
                2,
                "region {}: store 0 is unknown",
                region.id()
            );
            for store in stores {
                assert!(region.store_peer(store.id()).is_some());
            }
            for store in cluster.follower_stores(region) {
                let peer = region.store_peer(store.id()).unwrap();
                assert_ne!(Some(peer.id), region.leader.map(|l| l.id));
            }
        }
    });
}

/// Each store's leader and region counts and sizes equal the cache's.
/// Stronger than the reference (whose regions all have size 0 here): the
/// regions get distinct sizes and new leaders first, so a size or leader
/// statistic left stale is caught.
#[test]
fn region_get_stores_info_p3c() {
    sim(|| {
        let (mut cluster, mut regions) = set_up_test_cluster();
        for (i, region) in regions.iter_mut().enumerate() {
            region.approximate_size = 10 * (i as u64 + 1);
            region.leader = Some(region.meta.peers[(i + 1) % 3]);
            cluster.process_region_heartbeat(region.clone()).unwrap();
        }
        for store in cluster.stores() {
            let id = store.id();
            let cache = cluster.regions();
            assert_eq!(store.leader_count, cache.store_leader_count(id));
            assert_eq!(store.region_count, cache.store_region_count(id));
            assert_eq!(store.leader_size, cache.store_leader_region_size(id));
            assert_eq!(store.region_size, cache.store_region_size(id));
        }
        check_regions(&cluster, &regions);
    });
}

fn bare_region(id: u64, start: &[u8], end: &[u8], version: u64) -> RegionInfo {
    RegionInfo::new(
        Region {
            id,
            start_key: start.to_vec(),
            end_key: end.to_vec(),
            region_epoch: RegionEpoch {
                conf_ver: 1,
                version,
            },
            peers: Vec::new(),
        },
        None,
    )
}

/// A split seen in either order: the child first (equal epoch against the
/// old parent passes), leaving the parent's new range unmapped until the
/// parent's own heartbeat; then the parent first.
#[test]
fn heartbeat_split_p3c() {
    sim(|| {
        let mut cluster = Cluster::new(Config::default(), 1);
        // 1: [nil, nil)
        let mut region1 = bare_region(1, b"", b"", 1);
        cluster.process_region_heartbeat(region1.clone()).unwrap();
        assert_eq!(cluster.get_region_by_key(b"foo"), Some(&region1));

        // Split 1 into 2: [nil, m) and 1: [m, nil); 2 arrives first.
        region1.meta.start_key = b"m".to_vec();
        region1.meta.region_epoch.version += 1;
        let region2 = bare_region(2, b"", b"m", 1);
        cluster.process_region_heartbeat(region2.clone()).unwrap();
        assert_eq!(cluster.get_region_by_key(b"a"), Some(&region2));
        // [m, nil) is missing before region 1's heartbeat.
        assert_eq!(cluster.get_region_by_key(b"z"), None);
        cluster.process_region_heartbeat(region1.clone()).unwrap();
        assert_eq!(cluster.get_region_by_key(b"z"), Some(&region1));

        // Split 1 into 3: [m, q) and 1: [q, nil); 1 arrives first.
        region1.meta.start_key = b"q".to_vec();
        region1.meta.region_epoch.version += 1;
        let region3 = bare_region(3, b"m", b"q", 1);
        cluster.process_region_heartbeat(region1.clone()).unwrap();
        assert_eq!(cluster.get_region_by_key(b"z"), Some(&region1));
        assert_eq!(cluster.get_region_by_key(b"a"), Some(&region2));
        // [m, q) is missing before region 3's heartbeat.
        assert_eq!(cluster.get_region_by_key(b"n"), None);
        cluster.process_region_heartbeat(region3.clone()).unwrap();
        assert_eq!(cluster.get_region_by_key(b"n"), Some(&region3));
        assert_eq!(cluster.regions().len(), 3);
    });
}

/// `SplitRegions`: each region split at the middle byte of its range; the
/// halves get ids id + n and id + 2n and `version` + 1.
fn split_regions(regions: &[RegionInfo]) -> Vec<RegionInfo> {
    let n = regions.len() as u64;
    let mut out = Vec::with_capacity(regions.len() * 2);
    for r in regions {
        let start = r.meta.start_key.first().copied().unwrap_or(0);
        let end = r.meta.end_key.first().copied().unwrap_or(u8::MAX);
        let middle = vec![start / 2 + end / 2];
        let mut left = r.clone();
        left.meta.id = r.id() + n;
        left.meta.end_key = middle.clone();
        left.meta.region_epoch.version += 1;
        let mut right = r.clone();
        right.meta.id = r.id() + 2 * n;
        right.meta.start_key = middle;
        right.meta.region_epoch.version += 1;
        out.push(left);
        out.push(right);
    }
    out
}

/// `MergeRegions`: neighbours merged pairwise (id left + n, the larger
/// epoch with `version` + 1; an odd one out merges with itself).
fn merge_regions(regions: &[RegionInfo]) -> Vec<RegionInfo> {
    let n = regions.len() as u64;
    let mut out = Vec::with_capacity(regions.len() / 2 + 1);
    for pair in regions.chunks(2) {
        let left = &pair[0];
        let right = pair.get(1).unwrap_or(left);
        let mut epoch = if left.epoch().version > right.epoch().version {
            left.epoch()
        } else {
            right.epoch()
        };
        epoch.version += 1;
        out.push(RegionInfo::new(
            Region {
                id: left.id() + n,
                start_key: left.meta.start_key.clone(),
                end_key: right.meta.end_key.clone(),
                region_epoch: epoch,
                peers: Vec::new(),
            },
            None,
        ));
    }
    out
}

/// `heartbeatRegions`: each region accepted and found by id, by its start
/// key and by its last key, during and after the round; and not found past
/// its end.
fn heartbeat_regions(cluster: &mut Cluster, regions: &[RegionInfo]) {
    let check = |cluster: &Cluster, r: &RegionInfo| {
        assert_eq!(cluster.get_region(r.id()), Some(r));
        assert_eq!(cluster.get_region_by_key(&r.meta.start_key), Some(r));
        if let Some(&end) = r.meta.end_key.first() {
            assert_eq!(cluster.get_region_by_key(&[end - 1]), Some(r));
        }
    };
    for r in regions {
        cluster.process_region_heartbeat(r.clone()).unwrap();
        check(cluster, r);
    }
    for r in regions {
        check(cluster, r);
        if let Some(&end) = r.meta.end_key.first() {
            let past = cluster.get_region_by_key(&[end.wrapping_add(1)]);
            assert_ne!(past.map(|p| p.id()), Some(r.id()));
        }
    }
    assert_eq!(cluster.regions().len(), regions.len());
}

/// 7 rounds of splits, 7 of merges, 14 mixed (every third a merge), with
/// regions that have no peers.
#[test]
fn region_split_and_merge_p3c() {
    sim(|| {
        let mut cluster = Cluster::new(Config::default(), 1);
        let mut regions = vec![bare_region(0, b"", b"", 0)];
        regions[0].meta.region_epoch = RegionEpoch::default();
        // A byte range under- or overflows past 7 splits.
        let n = 7;
        for _ in 0..n {
            regions = split_regions(&regions);
            heartbeat_regions(&mut cluster, &regions);
        }
        for _ in 0..n {
            regions = merge_regions(&regions);
            heartbeat_regions(&mut cluster, &regions);
        }
        for i in 0..2 * n {
            regions = if (i + 1) % 3 == 0 {
                merge_regions(&regions)
            } else {
                split_regions(&regions)
            };
            heartbeat_regions(&mut cluster, &regions);
        }
    });
}

/// 2000 heartbeats of disjoint single-peer regions sent at once over the
/// simulated network to the `Scheduler` service: all succeed and all are
/// cached. (The reference uses a real server; ours is the labrpc service,
/// in virtual time.)
#[test]
fn concurrent_handle_region_p3c() {
    use tinykv_scheduler::messages::{PutStoreRequest, RegionHeartbeatRequest};
    use tinykv_scheduler::service::{PutStore, RegionHeartbeat};
    use tinykv_scheduler::{Clock, Peer, SchedulerServer};
    labrpc::sim::run(|| async {
        const CONCURRENT: u64 = 2000;
        let net = labrpc::Network::new();
        let server = SchedulerServer::new(Config::default(), 1, Clock::tokio());
        let rpc_server = labrpc::Server::new();
        rpc_server.add_service(server.service());
        net.add_server("scheduler", rpc_server);
        let mut ends = Vec::new();
        for store in 1..=3u64 {
            let name = format!("store-{store}");
            let end = net.make_end(name.clone());
            net.connect(&name, "scheduler");
            net.enable(&name, true);
            let store = Store {
                id: store,
                address: name,
                ..Store::default()
            };
            end.call::<PutStore>(&PutStoreRequest { store })
                .await
                .unwrap()
                .unwrap();
            ends.push(end);
        }
        let mut tasks = Vec::new();
        for i in 0..CONCURRENT {
            let store_id = i % 3 + 1;
            let end = ends[(store_id - 1) as usize].clone();
            let peer = Peer {
                id: 10_000 + i,
                store_id,
            };
            let req = RegionHeartbeatRequest {
                region: Region {
                    id: 1_000 + i,
                    start_key: format!("{i:5}").into_bytes(),
                    end_key: format!("{:5}", i + 1).into_bytes(),
                    region_epoch: RegionEpoch {
                        conf_ver: 1,
                        version: 1,
                    },
                    peers: vec![peer],
                },
                leader: Some(peer),
                pending_peers: Vec::new(),
                approximate_size: 1,
            };
            tasks.push(tokio::spawn(async move {
                end.call::<RegionHeartbeat>(&req).await
            }));
        }
        for task in tasks {
            let reply = task.await.unwrap().expect("network is reliable");
            reply.expect("heartbeat refused");
        }
        let cluster = server.cluster();
        assert_eq!(cluster.regions().len(), CONCURRENT as usize);
        for store in 1..=3 {
            let expected = (0..CONCURRENT).filter(|i| i % 3 + 1 == store).count();
            assert_eq!(cluster.get_store(store).unwrap().region_count, expected);
        }
        check_store_stats(&cluster);
    });
}
