//! Project 3C, `balance_test.go`: the balance-region scheduler (4 tests).
//! Stores are built as the reference's mock cluster builds them: a store's
//! region size is 10 × its region count, a region's approximate size is 10,
//! so a move needs a size gap above 20. The scheduler's random choices come
//! from the test's seed.

mod common;

use common::*;
use tinykv_scheduler::balance::balance_region;
use tinykv_scheduler::{Cluster, Config, Peer};

fn schedule(cluster: &mut Cluster) -> Option<tinykv_scheduler::Operator> {
    let mut rng = labrpc::rng::fork();
    balance_region(cluster, NOW, &mut rng)
}

fn new_cluster(max_replicas: usize) -> Cluster {
    Cluster::new(
        Config {
            max_replicas,
            ..Config::default()
        },
        1000,
    )
}

/// One replica: moved from the largest store (4) to the smallest, with the
/// leader transferred off it; an offline store is no target; a region
/// whose replica count differs from `max_replicas` is left alone.
#[test]
fn replicas1_p3c() {
    sim(|| {
        let mut tc = new_cluster(1);
        add_region_store(&mut tc, 1, 6);
        add_region_store(&mut tc, 2, 8);
        add_region_store(&mut tc, 3, 8);
        add_region_store(&mut tc, 4, 16);
        add_leader_region(&mut tc, 1, 4, &[]);
        check_transfer_peer_with_leader_transfer(schedule(&mut tc), 4, 1);

        // Store 1 offline is filtered out; store 2 becomes the smallest.
        set_store_offline(&mut tc, 1);
        update_region_count(&mut tc, 2, 6);
        check_transfer_peer_with_leader_transfer(schedule(&mut tc), 4, 2);

        tc.config.max_replicas = 3;
        assert_eq!(schedule(&mut tc), None);
        tc.config.max_replicas = 1;
        assert!(schedule(&mut tc).is_some());
    });
}

/// Three replicas on stores 1..=3: nothing to do until a smaller store
/// appears; then always the smallest suitable store; down stores are no
/// targets, and a larger store is not one either.
#[test]
fn replicas3_p3c() {
    sim(|| {
        let mut tc = new_cluster(3);
        add_region_store(&mut tc, 1, 16);
        add_region_store(&mut tc, 2, 15);
        add_region_store(&mut tc, 3, 14);
        add_leader_region(&mut tc, 1, 1, &[2, 3]);
        // Store 1 is largest, but every store already holds the region.
        assert_eq!(schedule(&mut tc), None);

        add_region_store(&mut tc, 4, 2);
        check_transfer_peer(schedule(&mut tc), 1, 4);
        add_region_store(&mut tc, 5, 1);
        check_transfer_peer(schedule(&mut tc), 1, 5);
        add_region_store(&mut tc, 6, 0);
        check_transfer_peer(schedule(&mut tc), 1, 6);

        // Store 6 down: store 5 is the smallest suitable one.
        set_store_down(&mut tc, 6);
        check_transfer_peer(schedule(&mut tc), 1, 5);

        // Stores 4, 5, 6 down; store 7 is larger than store 1.
        set_store_down(&mut tc, 4);
        set_store_down(&mut tc, 5);
        add_region_store(&mut tc, 7, 20);
        assert_eq!(schedule(&mut tc), None);
    });
}

/// Five replicas: the largest store's replica goes to the smallest store
/// not holding the region, as the region and the stores change.
#[test]
fn replicas5_p3c() {
    sim(|| {
        let mut tc = new_cluster(5);
        add_region_store(&mut tc, 1, 4);
        add_region_store(&mut tc, 2, 5);
        add_region_store(&mut tc, 3, 6);
        add_region_store(&mut tc, 4, 7);
        add_region_store(&mut tc, 5, 28);
        add_leader_region(&mut tc, 1, 1, &[2, 3, 4, 5]);

        add_region_store(&mut tc, 6, 1);
        check_transfer_peer(schedule(&mut tc), 5, 6);
        // Store 7 is larger than store 6: still 5 → 6.
        add_region_store(&mut tc, 7, 5);
        check_transfer_peer(schedule(&mut tc), 5, 6);

        // The region now on 2..=6: store 1 is the smallest without it.
        add_leader_region(&mut tc, 1, 2, &[3, 4, 5, 6]);
        check_transfer_peer(schedule(&mut tc), 5, 1);

        // Store 11 is the largest; store 6 the smallest without the region.
        add_region_store(&mut tc, 11, 29);
        add_region_store(&mut tc, 12, 8);
        add_region_store(&mut tc, 13, 7);
        add_leader_region(&mut tc, 1, 2, &[3, 11, 12, 13]);
        check_transfer_peer(schedule(&mut tc), 11, 6);
    });
}

/// A region with a pending peer on the source store is chosen before the
/// others.
#[test]
fn replace_pending_region_p3c() {
    sim(|| {
        let mut tc = new_cluster(3);
        add_region_store(&mut tc, 1, 16);
        add_region_store(&mut tc, 2, 7);
        add_region_store(&mut tc, 3, 15);
        // Smaller than store 1, and a better place than store 2, which
        // already holds every region.
        add_region_store(&mut tc, 4, 10);

        add_leader_region(&mut tc, 1, 1, &[2, 3]);
        add_leader_region(&mut tc, 2, 1, &[2, 3]);
        add_leader_region(&mut tc, 3, 2, &[1, 3]);
        let mut region = tc.get_region(3).unwrap().clone();
        let pending: Peer = region.store_peer(1).unwrap();
        region.pending_peers = vec![pending];
        tc.put_region(region);

        let op = schedule(&mut tc).expect("an operator");
        assert_eq!(op.region_id, 3);
        let op = check_transfer_peer(schedule(&mut tc), 1, 4);
        assert_eq!(op.region_id, 3);
    });
}
