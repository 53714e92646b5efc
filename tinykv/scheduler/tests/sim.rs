//! The `Scheduler` labrpc service in the simulation: every RPC, and the
//! balance scheduler driving a toy store model to balance (stronger than
//! the reference, whose 3C tests stop at the operator a scheduler returns).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use labrpc::{ClientEnd, Network};
use tinykv_scheduler::messages::{
    AskSplitRequest, ConfChangeType, PutStoreRequest, RegionHeartbeatRequest,
    StoreHeartbeatRequest, TsoRequest,
};
use tinykv_scheduler::service::{
    AllocId, AskSplit, GetRegion, GetTso, PutStore, RegionHeartbeat, StoreHeartbeat,
};
use tinykv_scheduler::tso::physical;
use tinykv_scheduler::{
    Clock, Config, Error, Peer, Region, RegionEpoch, SIMULATED_EPOCH_MS, SchedulerServer, Store,
    StoreStats,
};

fn start(net: &Network, first_id: u64) -> SchedulerServer {
    let server = SchedulerServer::new(Config::default(), first_id, Clock::tokio());
    let rpc = labrpc::Server::new();
    rpc.add_service(server.service());
    net.add_server("scheduler", rpc);
    server
}

fn end(net: &Network, name: &str) -> ClientEnd {
    let end = net.make_end(name);
    net.connect(name, "scheduler");
    net.enable(name, true);
    end
}

fn region(id: u64, start: &str, end: &str, peers: Vec<Peer>) -> Region {
    Region {
        id,
        start_key: start.as_bytes().to_vec(),
        end_key: end.as_bytes().to_vec(),
        region_epoch: RegionEpoch {
            conf_ver: 1,
            version: 1,
        },
        peers,
    }
}

/// Every RPC once, with its typed refusals.
#[test]
fn every_rpc_over_labrpc() {
    labrpc::sim::run(|| async {
        let net = Network::new();
        let _server = start(&net, 10);
        let c = end(&net, "client");
        for id in 1..=2 {
            let store = Store {
                id,
                ..Store::default()
            };
            c.call::<PutStore>(&PutStoreRequest { store })
                .await
                .unwrap()
                .unwrap();
        }
        let a = c.call::<AllocId>(&()).await.unwrap().unwrap();
        let b = c.call::<AllocId>(&()).await.unwrap().unwrap();
        assert_eq!((a, b), (10, 11));

        let t1 = c
            .call::<GetTso>(&TsoRequest { count: 1 })
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let t2 = c
            .call::<GetTso>(&TsoRequest { count: 3 })
            .await
            .unwrap()
            .unwrap();
        assert!(t2 > t1);
        assert!(physical(t1) >= SIMULATED_EPOCH_MS);
        assert!(physical(t2) >= physical(t1) + 5, "virtual time moved 5 ms");
        assert!(matches!(
            c.call::<GetTso>(&TsoRequest { count: 0 }).await.unwrap(),
            Err(Error::InvalidRequest(_))
        ));

        let peer = Peer { id: 3, store_id: 1 };
        let r = region(2, "", "", vec![peer, Peer { id: 4, store_id: 2 }]);
        let hb = RegionHeartbeatRequest {
            region: r.clone(),
            leader: Some(peer),
            ..RegionHeartbeatRequest::default()
        };
        let resp = c.call::<RegionHeartbeat>(&hb).await.unwrap().unwrap();
        assert!(!resp.has_command());
        let got = c
            .call::<GetRegion>(&b"k".to_vec())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!((got.region, got.leader), (r.clone(), Some(peer)));

        let split = c
            .call::<AskSplit>(&AskSplitRequest { region: r.clone() })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(split.new_region_id, 12);
        assert_eq!(split.new_peer_ids, vec![13, 14]);

        let stats = StoreStats {
            store_id: 1,
            capacity: 100,
            ..StoreStats::default()
        };
        c.call::<StoreHeartbeat>(&StoreHeartbeatRequest { stats })
            .await
            .unwrap()
            .unwrap();
        // Refusals: typed, and nothing changes.
        let stats = StoreStats {
            store_id: 7,
            ..StoreStats::default()
        };
        assert_eq!(
            c.call::<StoreHeartbeat>(&StoreHeartbeatRequest { stats })
                .await
                .unwrap(),
            Err(Error::UnknownStore(7))
        );
        let stranger = Peer { id: 9, store_id: 7 };
        let mut bad = hb.clone();
        bad.region.peers.push(stranger);
        bad.region.region_epoch.conf_ver += 1;
        bad.leader = Some(stranger);
        assert_eq!(
            c.call::<RegionHeartbeat>(&bad).await.unwrap(),
            Err(Error::UnknownStore(7))
        );
        let got = c
            .call::<GetRegion>(&b"k".to_vec())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(got.region, r);
    });
}

/// A toy raftstore: regions whose leaders heartbeat every 100 ms and obey
/// the answers (one membership change or leader transfer at a time, each
/// bumping `conf_ver` by one), with a peer pending for one round after it
/// is added.
struct ToyRegion {
    meta: Region,
    leader: Peer,
    pending: Vec<Peer>,
}

async fn balance_scenario(reliable: bool) {
    const STORES: u64 = 4;
    const REGIONS: u64 = 6;
    let net = Network::new();
    net.set_reliable(reliable);
    let server = start(&net, 1000);
    let ends: BTreeMap<u64, ClientEnd> = (1..=STORES)
        .map(|s| (s, end(&net, &format!("store-{s}"))))
        .collect();
    for s in 1..=STORES {
        let store = Store {
            id: s,
            ..Store::default()
        };
        loop {
            if let Ok(reply) = ends[&s]
                .call::<PutStore>(&PutStoreRequest {
                    store: store.clone(),
                })
                .await
            {
                reply.unwrap();
                break;
            }
        }
    }
    // Regions [i, i+1) on stores 1..=3, led by store (i mod 3) + 1.
    let mut regions: Vec<ToyRegion> = (0..REGIONS)
        .map(|i| {
            let peers: Vec<Peer> = (1..=3)
                .map(|s| Peer {
                    id: i * 10 + s,
                    store_id: s,
                })
                .collect();
            let leader = peers[(i % 3) as usize];
            ToyRegion {
                meta: region(i + 1, &i.to_string(), &(i + 1).to_string(), peers),
                leader,
                pending: Vec::new(),
            }
        })
        .collect();
    let shutdown = labrpc::Shutdown::new();
    tokio::spawn(server.clone().run_schedulers(shutdown.clone()));
    let mut changes = 0;
    for _round in 0..300 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        for s in 1..=STORES {
            let stats = StoreStats {
                store_id: s,
                ..StoreStats::default()
            };
            let _ = ends[&s]
                .call::<StoreHeartbeat>(&StoreHeartbeatRequest { stats })
                .await;
        }
        for r in &mut regions {
            let req = RegionHeartbeatRequest {
                region: r.meta.clone(),
                leader: Some(r.leader),
                pending_peers: r.pending.clone(),
                approximate_size: 10,
            };
            // A peer catches up one round after it is added.
            r.pending.clear();
            let Ok(reply) = ends[&r.leader.store_id].call::<RegionHeartbeat>(&req).await else {
                continue; // dropped: the next round reports again
            };
            let resp = match reply {
                Ok(resp) => resp,
                // A delayed duplicate of an older report can lose to a newer one.
                Err(Error::StaleRegion { .. }) if !reliable => continue,
                Err(e) => panic!("heartbeat of {req:?} refused: {e}"),
            };
            assert_eq!(resp.region_epoch, req.region.region_epoch);
            assert!(
                !(resp.change_peer.is_some() && resp.transfer_leader.is_some()),
                "two commands in one answer: {resp:?}"
            );
            if let Some(cp) = resp.change_peer {
                match cp.change_type {
                    ConfChangeType::AddNode => {
                        if r.meta.peer_on_store(cp.peer.store_id).is_none() {
                            r.meta.peers.push(cp.peer);
                            r.pending.push(cp.peer);
                            r.meta.region_epoch.conf_ver += 1;
                            changes += 1;
                        }
                    }
                    ConfChangeType::RemoveNode => {
                        assert_ne!(cp.peer, r.leader, "asked to remove the leader");
                        if r.meta.peers.contains(&cp.peer) {
                            r.meta.peers.retain(|p| *p != cp.peer);
                            r.meta.region_epoch.conf_ver += 1;
                            changes += 1;
                        }
                    }
                }
            }
            if let Some(to) = resp.transfer_leader {
                assert!(
                    r.meta.peers.contains(&to),
                    "transfer to a non-member {to:?}"
                );
                r.leader = to;
            }
        }
    }
    shutdown.trigger();
    // Store 4 received replicas, every region kept 3, the cache matches the
    // toy stores, and the sizes ended within the move rule's gap.
    let cluster = server.cluster();
    let on_store_4 = regions
        .iter()
        .filter(|r| r.meta.peer_on_store(4).is_some())
        .count();
    assert!(on_store_4 >= 1, "nothing was moved to the new store");
    assert!(changes >= 2 * on_store_4);
    for r in &regions {
        assert_eq!(r.meta.peers.len(), 3, "{:?}", r.meta);
        assert_eq!(
            cluster.get_region(r.meta.id).map(|c| &c.meta),
            Some(&r.meta)
        );
    }
    let sizes: Vec<u64> = cluster.stores().map(|s| s.region_size).collect();
    let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!(max - min <= 20, "not balanced: {sizes:?}");
    common::check_store_stats(&cluster);
}

/// A new store receives replicas until the stores are balanced.
#[test]
fn balance_onto_new_store() {
    labrpc::sim::run(|| balance_scenario(true));
}

/// The same over an unreliable network (dropped heartbeats and answers).
#[test]
fn balance_onto_new_store_unreliable() {
    labrpc::sim::run(|| balance_scenario(false));
}
