//! Project 3B and 3C together, stronger than the reference (whose 3C tests
//! stop at the operator a scheduler returns): the raftstore cluster runs
//! with the real scheduler — its labrpc service and balance loop in the
//! simulation, each store reporting through `RemoteScheduler` — and a
//! store that joins while clients write receives regions. Every client
//! operation is recorded and the history checked for linearizability.
//!
//! Each test is one seed of `labrpc::sim` (`LAB_SEED=N` replays one).

mod common;

use common::real_scheduler::{Balance, balance_test};

/// The scheduler moves regions onto a new, empty store while five clients
/// write; nothing acknowledged is lost.
#[test]
fn balance_onto_new_store_p3c() {
    labrpc::sim::run(|| {
        balance_test(Balance {
            nclients: 5,
            unreliable: false,
            crash: false,
        })
    });
}

/// As above on an unreliable network (scheduler RPCs lost and delayed too).
#[test]
fn balance_onto_new_store_unreliable_p3c() {
    labrpc::sim::run(|| {
        balance_test(Balance {
            nclients: 5,
            unreliable: true,
            crash: false,
        })
    });
}

/// As the first, then every store crashes and restarts: the moved regions
/// survive on the new store, and every store registers again.
#[test]
fn balance_onto_new_store_recover_p3c() {
    labrpc::sim::run(|| {
        balance_test(Balance {
            nclients: 5,
            unreliable: false,
            crash: true,
        })
    });
}
