//! The pure core beyond the 3C tests: the TSO and the id allocator,
//! operator steps, completion conditions and timeouts, a move driven end to
//! end through heartbeats, the `2 × approximate_size` boundary, and bad
//! input (typed errors that change nothing).

mod common;

use common::*;
use tinykv_scheduler::balance::balance_region;
use tinykv_scheduler::messages::{
    AskSplitRequest, ConfChangeType, RegionHeartbeatRequest, StoreHeartbeatRequest,
};
use tinykv_scheduler::operator::{
    LEADER_OPERATOR_WAIT_MS, REGION_OPERATOR_WAIT_MS, create_move_peer_operator,
};
use tinykv_scheduler::tso::{MAX_LOGICAL, compose_ts, logical, physical};
use tinykv_scheduler::{
    Cluster, Config, Error, IdAllocator, OpKind, OpStep, Operator, Peer, Region, RegionEpoch,
    RegionInfo, Store, StoreState, StoreStats, Tso,
};

#[test]
fn tso_layout_and_monotonic() {
    assert_eq!(compose_ts(5, 7), (5 << 18) | 7);
    assert_eq!(physical(compose_ts(123_456, 9)), 123_456);
    assert_eq!(logical(compose_ts(123_456, 9)), 9);
    let mut tso = Tso::new();
    let a = tso.next(1000, 1).unwrap();
    assert_eq!((physical(a), logical(a)), (1000, 1));
    let b = tso.next(1000, 10).unwrap();
    assert_eq!(b, a + 10, "a batch returns its last timestamp");
    // The clock going back does not make timestamps go back.
    let c = tso.next(900, 1).unwrap();
    assert!(c > b);
    assert_eq!(physical(c), 1000);
    // A new millisecond restarts the logical counter.
    let d = tso.next(1001, 1).unwrap();
    assert_eq!((physical(d), logical(d)), (1001, 1));
    // A full millisecond borrows the next one.
    let big = (MAX_LOGICAL - 1) as u32;
    let e = tso.next(1001, big).unwrap();
    assert!(e > d);
    assert_eq!(physical(e), 1002);
    assert!(tso.next(1001, 0).is_err());
    assert!(tso.next(1001, MAX_LOGICAL as u32).is_err());
}

#[test]
fn ids_are_unique_and_ascending() {
    let mut ids = IdAllocator::new(4);
    assert_eq!(ids.alloc(), Ok(4));
    assert_eq!(ids.alloc(), Ok(5));
    let mut last = IdAllocator::new(u64::MAX);
    assert_eq!(last.alloc(), Err(Error::IdsExhausted));
    assert_eq!(IdAllocator::new(0).alloc(), Ok(1), "0 is never an id");
}

fn three_peer_region() -> RegionInfo {
    let peers = vec![
        Peer {
            id: 11,
            store_id: 1,
        },
        Peer {
            id: 12,
            store_id: 2,
        },
        Peer {
            id: 13,
            store_id: 3,
        },
    ];
    let mut r = RegionInfo::new(
        Region {
            id: 7,
            start_key: Vec::new(),
            end_key: Vec::new(),
            region_epoch: RegionEpoch {
                conf_ver: 3,
                version: 1,
            },
            peers: peers.clone(),
        },
        Some(peers[0]),
    );
    r.approximate_size = 10;
    r
}

#[test]
fn operator_steps_finish_on_what_the_region_shows() {
    let region = three_peer_region();
    let op = create_move_peer_operator("t", &region, OpKind::BALANCE, 1, 4, 20, 0).unwrap();
    assert_eq!(
        op.steps,
        vec![
            OpStep::AddPeer {
                to_store: 4,
                peer_id: 20
            },
            OpStep::TransferLeader {
                from_store: 1,
                to_store: 2
            },
            OpStep::RemovePeer { from_store: 1 },
        ]
    );
    assert!(
        op.kind
            .contains(OpKind::BALANCE | OpKind::REGION | OpKind::LEADER)
    );
    // A follower's move needs no leader transfer.
    let op2 = create_move_peer_operator("t", &region, OpKind::BALANCE, 2, 4, 20, 0).unwrap();
    assert_eq!(op2.len(), 2);
    assert!(!op2.kind.contains(OpKind::LEADER));
    // Bad moves are refused.
    assert!(create_move_peer_operator("t", &region, OpKind::BALANCE, 9, 4, 20, 0).is_err());
    assert!(create_move_peer_operator("t", &region, OpKind::BALANCE, 1, 2, 20, 0).is_err());

    let mut op = op;
    let mut r = region.clone();
    assert_eq!(op.check(&r), Some(op.steps[0]));
    // Added but still pending: not done.
    let new_peer = Peer {
        id: 20,
        store_id: 4,
    };
    r.meta.peers.push(new_peer);
    r.pending_peers = vec![new_peer];
    assert_eq!(op.check(&r), Some(op.steps[0]));
    // A different peer id on the store is not the one asked for.
    let mut other = r.clone();
    other.meta.peers[3].id = 99;
    other.pending_peers.clear();
    assert_eq!(op.check(&other), Some(op.steps[0]));
    r.pending_peers.clear();
    assert_eq!(op.check(&r), Some(op.steps[1]));
    r.leader = Some(r.meta.peers[1]);
    assert_eq!(op.check(&r), Some(op.steps[2]));
    r.meta.peers.remove(0);
    assert_eq!(op.check(&r), None);
    assert!(op.is_finished());
}

#[test]
fn operators_time_out() {
    let region = three_peer_region();
    let op = create_move_peer_operator("t", &region, OpKind::BALANCE, 2, 4, 20, 1000).unwrap();
    assert!(!op.is_timeout(1000 + REGION_OPERATOR_WAIT_MS));
    assert!(op.is_timeout(1000 + REGION_OPERATOR_WAIT_MS + 1));
    let leader_only = Operator::new(
        "t",
        &region,
        OpKind::LEADER,
        vec![OpStep::TransferLeader {
            from_store: 1,
            to_store: 2,
        }],
        1000,
    );
    assert!(!leader_only.is_timeout(1000 + LEADER_OPERATOR_WAIT_MS));
    assert!(leader_only.is_timeout(1000 + LEADER_OPERATOR_WAIT_MS + 1));
}

fn cluster_with_stores(n: u64) -> Cluster {
    let mut c = Cluster::new(Config::default(), 100);
    for id in 1..=n {
        c.put_store(
            Store {
                id,
                ..Store::default()
            },
            NOW,
        )
        .unwrap();
    }
    c
}

fn heartbeat_of(r: &RegionInfo) -> RegionHeartbeatRequest {
    RegionHeartbeatRequest {
        region: r.meta.clone(),
        leader: r.leader,
        pending_peers: r.pending_peers.clone(),
        approximate_size: r.approximate_size,
    }
}

/// The real stores bootstrap region 1 with fixed ids (peer id = store id)
/// that the scheduler never handed out; a fresh scheduler starts at id 1.
/// Its first split must not reuse them (it used to answer region 1 and
/// peers 2, 3, 4: a second region 1, a second peer 2).
#[test]
fn ids_a_store_or_region_already_uses_are_never_handed_out() {
    let mut c = Cluster::new(Config::default(), 1);
    for id in 1..=3 {
        let store = Store {
            id,
            ..Store::default()
        };
        c.put_store(store, NOW).unwrap();
    }
    assert_eq!(c.next_id(), 4, "store ids are taken");
    let peers: Vec<Peer> = (1..=3).map(|s| Peer { id: s, store_id: s }).collect();
    let mut region = Region {
        id: 1,
        start_key: Vec::new(),
        end_key: Vec::new(),
        region_epoch: RegionEpoch {
            conf_ver: 1,
            version: 1,
        },
        peers: peers.clone(),
    };
    region.peers[2].id = 40;
    let mut hb = RegionHeartbeatRequest {
        region: region.clone(),
        leader: Some(region.peers[0]),
        pending_peers: Vec::new(),
        approximate_size: 1,
    };
    // A refused heartbeat changes nothing, ids included.
    hb.leader = Some(Peer {
        id: 99,
        store_id: 1,
    });
    assert!(c.handle_region_heartbeat(hb.clone(), NOW).is_err());
    assert_eq!(c.next_id(), 4);
    hb.leader = Some(region.peers[0]);
    c.handle_region_heartbeat(hb, NOW).unwrap();
    assert_eq!(c.next_id(), 41, "peer 40 is taken");
    let split = c.ask_split(AskSplitRequest { region }).unwrap();
    assert_eq!(split.new_region_id, 41);
    assert_eq!(split.new_peer_ids, [42, 43, 44]);
    // Resuming (after a restart) never goes back.
    c.resume(10, 0);
    assert_eq!(c.alloc_id(), Ok(45));
    c.resume(1_000, 0);
    assert_eq!(c.alloc_id(), Ok(1_000));
}

#[test]
fn a_resumed_tso_starts_at_its_floor_and_never_goes_back() {
    let mut tso = Tso::new();
    let a = tso.next(5_000, 1).unwrap();
    tso.resume_at(4_000);
    let b = tso.next(4_500, 1).unwrap();
    assert!(b > a, "a floor below what was handed out changes nothing");
    tso.resume_at(8_000);
    let c = tso.next(7_000, 1).unwrap();
    assert_eq!((physical(c), logical(c)), (8_000, 1));
    assert_eq!(tso.physical_ms(), 8_000);
}

/// A move driven through heartbeats: each answer is the operator's next
/// step, resent until the region shows it done; then nothing.
#[test]
fn operator_is_driven_by_heartbeats() {
    let mut c = cluster_with_stores(4);
    let mut r = three_peer_region();
    c.handle_region_heartbeat(heartbeat_of(&r), NOW).unwrap();
    let op = create_move_peer_operator("t", &r, OpKind::BALANCE, 1, 4, 20, NOW).unwrap();
    assert!(c.add_operator(op.clone()));
    assert!(!c.add_operator(op), "one operator per region");

    for _ in 0..2 {
        let resp = c.handle_region_heartbeat(heartbeat_of(&r), NOW).unwrap();
        let cp = resp.change_peer.expect("AddPeer is (re)sent");
        assert_eq!(cp.change_type, ConfChangeType::AddNode);
        assert_eq!(
            cp.peer,
            Peer {
                id: 20,
                store_id: 4
            }
        );
        assert_eq!(resp.target_peer, r.leader);
    }
    r.meta.peers.push(Peer {
        id: 20,
        store_id: 4,
    });
    r.meta.region_epoch.conf_ver += 1;
    let resp = c.handle_region_heartbeat(heartbeat_of(&r), NOW).unwrap();
    assert_eq!(
        resp.transfer_leader,
        Some(Peer {
            id: 12,
            store_id: 2
        })
    );
    assert_eq!(resp.change_peer, None);

    // The new leader reports.
    r.leader = Some(Peer {
        id: 12,
        store_id: 2,
    });
    let resp = c.handle_region_heartbeat(heartbeat_of(&r), NOW).unwrap();
    let cp = resp.change_peer.expect("RemovePeer");
    assert_eq!(cp.change_type, ConfChangeType::RemoveNode);
    assert_eq!(
        cp.peer,
        Peer {
            id: 11,
            store_id: 1
        }
    );

    r.meta.peers.retain(|p| p.store_id != 1);
    r.meta.region_epoch.conf_ver += 1;
    let resp = c.handle_region_heartbeat(heartbeat_of(&r), NOW).unwrap();
    assert!(!resp.has_command());
    assert_eq!(c.operator_count(), 0);
    assert_eq!(c.get_store(4).unwrap().region_count, 1);
    assert_eq!(c.get_store(1).unwrap().region_count, 0);
}

/// A split since the operator was made, or its timeout, retires it.
#[test]
fn operator_retired_on_split_or_timeout() {
    let mut c = cluster_with_stores(4);
    let mut r = three_peer_region();
    c.handle_region_heartbeat(heartbeat_of(&r), NOW).unwrap();
    let op = create_move_peer_operator("t", &r, OpKind::BALANCE, 2, 4, 20, NOW).unwrap();
    assert!(c.add_operator(op.clone()));
    r.meta.region_epoch.version += 1;
    let resp = c.handle_region_heartbeat(heartbeat_of(&r), NOW).unwrap();
    assert!(!resp.has_command());
    assert_eq!(c.operator_count(), 0);

    let op = create_move_peer_operator("t", &r, OpKind::BALANCE, 2, 4, 21, NOW).unwrap();
    assert!(c.add_operator(op));
    let later = NOW + REGION_OPERATOR_WAIT_MS + 1;
    let resp = c.handle_region_heartbeat(heartbeat_of(&r), later).unwrap();
    assert!(!resp.has_command());
    assert_eq!(c.operator_count(), 0);
}

/// The move rule is strict: a gap of exactly 2 × size does not move; one
/// more does. (A `>=` variant fails the first assertion.)
#[test]
fn balance_gap_must_exceed_twice_the_region_size() {
    sim(|| {
        let mut rng = labrpc::rng::fork();
        let mut tc = Cluster::new(
            Config {
                max_replicas: 1,
                ..Config::default()
            },
            1000,
        );
        add_region_store(&mut tc, 1, 0);
        add_region_store(&mut tc, 2, 2); // size 20 = 2 × 10
        add_leader_region(&mut tc, 1, 2, &[]);
        assert_eq!(balance_region(&mut tc, NOW, &mut rng), None);
        tc.get_store_mut(2).unwrap().region_size = 21;
        assert!(balance_region(&mut tc, NOW, &mut rng).is_some());
        // The limit: `schedule` adds the operator, then refuses a second
        // one for the same region.
        assert!(tc.schedule(NOW, &mut rng).is_some());
        assert_eq!(tc.operator_count(), 1);
        assert_eq!(tc.schedule(NOW, &mut rng), None);
    });
}

// ---- bad input --------------------------------------------------------

/// Everything a bad request could have changed, for before/after checks.
fn snapshot(c: &Cluster) -> String {
    let regions: Vec<_> = c.regions().iter().cloned().collect();
    let stores: Vec<_> = c.stores().cloned().collect();
    format!("{regions:?} {stores:?} {}", c.operator_count())
}

#[test]
fn heartbeat_from_unknown_store_is_refused_unchanged() {
    let mut c = cluster_with_stores(3);
    let r = three_peer_region();
    c.handle_region_heartbeat(heartbeat_of(&r), NOW).unwrap();
    let before = snapshot(&c);
    let mut bad = inc_version(&r);
    bad.meta.peers.push(Peer {
        id: 50,
        store_id: 9,
    });
    bad.leader = Some(Peer {
        id: 50,
        store_id: 9,
    });
    assert_eq!(
        c.handle_region_heartbeat(heartbeat_of(&bad), NOW),
        Err(Error::UnknownStore(9))
    );
    let unknown = StoreHeartbeatRequest {
        stats: StoreStats {
            store_id: 9,
            ..StoreStats::default()
        },
    };
    assert_eq!(
        c.handle_store_heartbeat(unknown, NOW),
        Err(Error::UnknownStore(9))
    );
    // Tombstone stores are refused too.
    c.get_store_mut(3).unwrap().meta.state = StoreState::Tombstone;
    let before_tomb = snapshot(&c);
    let tomb = StoreHeartbeatRequest {
        stats: StoreStats {
            store_id: 3,
            ..StoreStats::default()
        },
    };
    assert_eq!(
        c.handle_store_heartbeat(tomb, NOW),
        Err(Error::StoreTombstone(3))
    );
    assert_eq!(
        c.put_store(
            Store {
                id: 3,
                ..Store::default()
            },
            NOW
        ),
        Err(Error::StoreTombstone(3))
    );
    assert_eq!(snapshot(&c), before_tomb);
    assert_ne!(before, before_tomb);
}

#[test]
fn stale_epoch_is_refused_unchanged() {
    let mut c = cluster_with_stores(3);
    let r = inc_conf_ver(&inc_version(&three_peer_region()));
    c.handle_region_heartbeat(heartbeat_of(&r), NOW).unwrap();
    let before = snapshot(&c);
    for stale in [three_peer_region(), inc_version(&three_peer_region())] {
        let mut stale = stale;
        stale.leader = Some(stale.meta.peers[1]); // would change the leader
        let err = c
            .handle_region_heartbeat(heartbeat_of(&stale), NOW)
            .unwrap_err();
        assert!(
            matches!(err, Error::StaleRegion { region_id: 7, .. }),
            "{err}"
        );
        assert_eq!(snapshot(&c), before);
    }
    // A new region overlapping with an older version is stale too.
    let mut overlapping = three_peer_region();
    overlapping.meta.id = 8;
    overlapping.meta.start_key = b"k".to_vec();
    let err = c
        .handle_region_heartbeat(heartbeat_of(&overlapping), NOW)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::StaleRegion {
                region_id: 8,
                against_id: 7,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(snapshot(&c), before);
    // AskSplit with a stale epoch, or for an unknown region.
    let err = c
        .ask_split(AskSplitRequest {
            region: three_peer_region().meta,
        })
        .unwrap_err();
    assert!(matches!(err, Error::StaleRegion { .. }), "{err}");
    let mut unknown = r.meta.clone();
    unknown.id = 99;
    assert_eq!(
        c.ask_split(AskSplitRequest { region: unknown }),
        Err(Error::RegionNotFound(99))
    );
    let ok = c
        .ask_split(AskSplitRequest {
            region: r.meta.clone(),
        })
        .unwrap();
    assert_eq!(ok.new_peer_ids.len(), 3);
    assert!(ok.new_peer_ids.iter().all(|&id| id > ok.new_region_id));
}

#[test]
fn malformed_heartbeats_are_refused_unchanged() {
    let mut c = cluster_with_stores(3);
    let before = snapshot(&c);
    let mut no_leader = heartbeat_of(&three_peer_region());
    no_leader.leader = None;
    assert!(matches!(
        c.handle_region_heartbeat(no_leader, NOW),
        Err(Error::InvalidRequest(_))
    ));
    let mut foreign_leader = heartbeat_of(&three_peer_region());
    foreign_leader.leader = Some(Peer {
        id: 77,
        store_id: 1,
    });
    assert!(matches!(
        c.handle_region_heartbeat(foreign_leader, NOW),
        Err(Error::InvalidRequest(_))
    ));
    let mut zero = heartbeat_of(&three_peer_region());
    zero.region.id = 0;
    assert!(matches!(
        c.handle_region_heartbeat(zero, NOW),
        Err(Error::InvalidRequest(_))
    ));
    let mut inverted = heartbeat_of(&three_peer_region());
    inverted.region.start_key = b"z".to_vec();
    inverted.region.end_key = b"a".to_vec();
    assert!(matches!(
        c.handle_region_heartbeat(inverted, NOW),
        Err(Error::InvalidRequest(_))
    ));
    assert!(matches!(
        c.put_store(Store::default(), NOW),
        Err(Error::InvalidRequest(_))
    ));
    assert_eq!(snapshot(&c), before);
}

/// Pending before follower: with four follower regions on the largest
/// store and one of them pending there, every pick is the pending one.
/// (The reference's replace-pending test cannot tell the two orders apart:
/// its pending region is also the source's only follower region.)
#[test]
fn pending_region_is_preferred_over_other_followers() {
    sim(|| {
        let mut rng = labrpc::rng::fork();
        let mut tc = Cluster::new(Config::default(), 1000);
        add_region_store(&mut tc, 1, 16);
        add_region_store(&mut tc, 2, 15);
        add_region_store(&mut tc, 3, 14);
        add_region_store(&mut tc, 4, 0);
        for id in 1..=4 {
            add_leader_region(&mut tc, id, 2, &[1, 3]);
        }
        let mut region = tc.get_region(3).unwrap().clone();
        region.pending_peers = vec![region.store_peer(1).unwrap()];
        tc.put_region(region);
        for _ in 0..10 {
            let op = balance_region(&mut tc, NOW, &mut rng).expect("an operator");
            assert_eq!(op.region_id, 3, "{op:?}");
            assert_eq!(op.steps.last(), Some(&OpStep::RemovePeer { from_store: 1 }));
        }
    });
}
