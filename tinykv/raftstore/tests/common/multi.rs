//! The 3B harness: the reference's `MustTransferLeader`, `MustAddPeer`,
//! `MustRemovePeer` over the mock scheduler, and GenericTest's conf-change
//! task.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tinykv_raftstore::Error;
use tinykv_raftstore::cmd::{AdminRequest, RaftCmdRequest, Response};
use tinykv_raftstore::meta::{Peer, Region};
use tinykv_raftstore::scheduler::Operator;
use tinykv_raftstore::store::Command;
use tokio::time::{Instant, sleep};

use super::scheduler::MockScheduler;
use super::{Client, Cluster};

/// The reference's peer polls (`MustHavePeer` / `MustNonePeer`): 500 × 10 ms.
pub const PEER_POLLS: usize = 500;
pub const PEER_POLL: Duration = Duration::from_millis(10);
/// The reference's `MustTransferLeader` budget.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(5);

/// `MustAddPeer`: the scheduler adds `peer` to `region_id`; it must show in
/// the scheduler's view within the poll budget.
pub async fn must_add_peer(scheduler: &MockScheduler, region_id: u64, peer: Peer) {
    scheduler.set_operator(region_id, Operator::AddPeer(peer));
    must_have_peer(scheduler, region_id, peer, true).await;
}

/// `MustRemovePeer`.
pub async fn must_remove_peer(scheduler: &MockScheduler, region_id: u64, peer: Peer) {
    scheduler.set_operator(region_id, Operator::RemovePeer(peer));
    must_have_peer(scheduler, region_id, peer, false).await;
}

async fn must_have_peer(scheduler: &MockScheduler, region_id: u64, peer: Peer, want: bool) {
    must_have_peer_after(scheduler, region_id, peer, want, || true).await;
}

/// Polls the scheduler's view until `peer`'s presence in `region_id` is
/// `want`; only polls made once `counting()` holds use up the budget of
/// [`PEER_POLLS`].
async fn must_have_peer_after(
    scheduler: &MockScheduler,
    region_id: u64,
    peer: Peer,
    want: bool,
    counting: impl Fn() -> bool,
) {
    let mut counted = 0;
    loop {
        let region = scheduler.region(region_id);
        if region.as_ref().is_some_and(|r| r.peers.contains(&peer)) == want {
            return;
        }
        if counting() {
            counted += 1;
            assert!(
                counted <= PEER_POLLS,
                "region {region_id}: peer {peer:?} present should be {want}; region is {region:?}"
            );
        }
        sleep(PEER_POLL).await;
    }
}

impl Cluster {
    pub async fn must_add_peer(&self, region_id: u64, peer: Peer) {
        must_add_peer(&self.scheduler, region_id, peer).await;
    }

    pub async fn must_remove_peer(&self, region_id: u64, peer: Peer) {
        must_remove_peer(&self.scheduler, region_id, peer).await;
    }

    /// The region as the scheduler has it.
    pub fn region_of(&self, region_id: u64) -> Region {
        self.scheduler.region(region_id).expect("a known region")
    }

    /// The reference's `MustTransferLeader`: until `peer` leads
    /// `region_id` (5 s at most), send TransferLeader to the leader; every
    /// answer must be the TransferLeader response.
    pub async fn must_transfer_leader(&mut self, region_id: u64, peer: Peer) {
        let start = Instant::now();
        loop {
            if let Some(s) = self.leader_of(region_id)
                && s == peer.store_id
                && self.stores[(s - 1) as usize]
                    .as_ref()
                    .and_then(|st| st.peer_of(region_id))
                    == Some(peer)
            {
                return;
            }
            assert!(
                start.elapsed() < TRANSFER_TIMEOUT,
                "region {region_id}: {peer:?} does not lead after {TRANSFER_TIMEOUT:?}"
            );
            let Some(leader) = self.leader_of(region_id) else {
                sleep(Duration::from_millis(10)).await;
                continue;
            };
            match self
                .client
                .admin_on(leader, region_id, AdminRequest::TransferLeader { peer })
                .await
            {
                Ok(r) => assert_eq!(r, vec![Response::TransferLeader], "not a transfer response"),
                Err(_) => sleep(Duration::from_millis(10)).await,
            }
            sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Client {
    /// Sends `request` to `store` once.
    ///
    /// # Errors
    /// The region error the store answers, or `StaleCommand` if the call
    /// was lost.
    pub async fn raw_command(
        &mut self,
        store: u64,
        request: &RaftCmdRequest,
    ) -> Result<Vec<Response>, Error> {
        let end = self.ends[(store - 1) as usize].clone();
        match end.call::<Command>(request).await {
            Ok(result) => result,
            Err(_) => Err(Error::StaleCommand),
        }
    }

    /// Sends a normal command for `region_id` (as the scheduler has it) to
    /// `store` once.
    ///
    /// # Errors
    /// The region error the store answers, or `StaleCommand` if the call
    /// was lost.
    pub async fn command_on(
        &mut self,
        store: u64,
        region_id: u64,
        requests: Vec<tinykv_raftstore::cmd::Request>,
    ) -> Result<Vec<Response>, Error> {
        self.send_on(store, region_id, |header| {
            RaftCmdRequest::new(header, requests)
        })
        .await
    }

    /// Sends `admin` for `region_id` to `store` once.
    ///
    /// # Errors
    /// The region error the store answers, or `StaleCommand` if the call
    /// was lost.
    pub async fn admin_on(
        &mut self,
        store: u64,
        region_id: u64,
        admin: AdminRequest,
    ) -> Result<Vec<Response>, Error> {
        self.send_on(store, region_id, |header| {
            RaftCmdRequest::admin(header, admin)
        })
        .await
    }

    /// Sends the request `make` builds for `region_id`'s peer on `store`
    /// (region and peer as the scheduler has them) once.
    async fn send_on(
        &mut self,
        store: u64,
        region_id: u64,
        make: impl FnOnce(tinykv_raftstore::cmd::CmdHeader) -> RaftCmdRequest,
    ) -> Result<Vec<Response>, Error> {
        let region = self
            .scheduler
            .region(region_id)
            .ok_or(Error::RegionNotFound { region_id })?;
        let peer = region
            .peer_on_store(store)
            .ok_or(Error::RegionNotFound { region_id })?;
        let end = self.ends[(store - 1) as usize].clone();
        let request = make(Client::header(&region, peer));
        match end.call::<Command>(&request).await {
            Ok(result) => result,
            Err(_) => Err(Error::StaleCommand),
        }
    }
}

/// GenericTest's conf-change task: until stopped, pick a random region and
/// store; remove the region's peer there (if the region keeps one more),
/// else add a new peer there; then pause up to 200 ms.
///
/// With `partitions`, a change's 5 s budget counts from the heal, not from
/// its start. The reference changes membership in round 1 only; we change
/// it in every round, and a change cannot commit while the region's peers
/// sit on two sides of a partition (a region shrunk to two peers on
/// opposite sides, re-drawn every ~0.6 s, can stay split for seconds —
/// seed 17 of conf_change_snapshot_unreliable_recover_concurrent_partition_p3b:
/// 0.64 s together in 4.9 s of partitions). Liveness is still checked: once
/// the network heals every pending change must show within the reference's
/// 500 × 10 ms, and none may hang the round.
pub async fn run_conf_changes(
    scheduler: Arc<MockScheduler>,
    n: u64,
    stop: Arc<AtomicBool>,
    partitions: bool,
) {
    let healed = |stop: &AtomicBool| !partitions || stop.load(Ordering::Relaxed);
    while !stop.load(Ordering::Relaxed) {
        let regions = scheduler.regions();
        let region = &regions[labrpc::rng::range(0..regions.len())];
        let store = labrpc::rng::range(1..=n);
        let change = match region.peer_on_store(store) {
            Some(peer) if region.peers.len() > 1 => Some((Operator::RemovePeer(peer), peer, false)),
            Some(_) => None,
            None => {
                let peer = Peer {
                    id: scheduler.alloc_id(),
                    store_id: store,
                };
                Some((Operator::AddPeer(peer), peer, true))
            }
        };
        if let Some((op, peer, want)) = change {
            scheduler.set_operator(region.id, op);
            must_have_peer_after(&scheduler, region.id, peer, want, || healed(&stop)).await;
        }
        sleep(Duration::from_millis(labrpc::rng::range(0..200u64))).await;
    }
}
