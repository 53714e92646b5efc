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
    for _ in 0..PEER_POLLS {
        let region = scheduler.region(region_id);
        let has = region.as_ref().is_some_and(|r| r.peers.contains(&peer));
        if has == want {
            return;
        }
        sleep(PEER_POLL).await;
    }
    let region = scheduler.region(region_id);
    panic!("region {region_id}: peer {peer:?} present should be {want}; region is {region:?}");
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
        let region = self
            .scheduler
            .region(region_id)
            .ok_or(Error::RegionNotFound { region_id })?;
        let peer = region
            .peer_on_store(store)
            .ok_or(Error::RegionNotFound { region_id })?;
        let end = self.ends[(store - 1) as usize].clone();
        let request = RaftCmdRequest::new(Client::header(&region, peer), requests);
        match end.call::<Command>(&request).await {
            Ok(result) => result,
            Err(_) => Err(Error::StaleCommand),
        }
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
        let region = self
            .scheduler
            .region(region_id)
            .ok_or(Error::RegionNotFound { region_id })?;
        let peer = region
            .peer_on_store(store)
            .ok_or(Error::RegionNotFound { region_id })?;
        let end = self.ends[(store - 1) as usize].clone();
        let request = RaftCmdRequest::admin(Client::header(&region, peer), admin);
        match end.call::<Command>(&request).await {
            Ok(result) => result,
            Err(_) => Err(Error::StaleCommand),
        }
    }
}

/// GenericTest's conf-change task: until stopped, pick a random region and
/// store; remove the region's peer there (if the region keeps one more),
/// else add a new peer there; then pause up to 200 ms.
pub async fn run_conf_changes(scheduler: Arc<MockScheduler>, n: u64, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let regions = scheduler.regions();
        let region = &regions[labrpc::rng::range(0..regions.len())];
        let store = labrpc::rng::range(1..=n);
        match region.peer_on_store(store) {
            Some(peer) => {
                if region.peers.len() > 1 {
                    must_remove_peer(&scheduler, region.id, peer).await;
                }
            }
            None => {
                let peer = Peer {
                    id: scheduler.alloc_id(),
                    store_id: store,
                };
                must_add_peer(&scheduler, region.id, peer).await;
            }
        }
        sleep(Duration::from_millis(labrpc::rng::range(0..200u64))).await;
    }
}
