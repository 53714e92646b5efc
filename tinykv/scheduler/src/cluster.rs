//! [`Cluster`]: the scheduler's whole state and every request's handling,
//! with time passed in (milliseconds on the scheduler's clock) and
//! randomness passed in, so the same calls give the same results.

use std::collections::BTreeMap;

use rand::Rng;

use crate::Error;
use crate::messages::{
    AskSplitRequest, AskSplitResponse, ChangePeer, ConfChangeType, GetRegionResponse,
    RegionHeartbeatRequest, RegionHeartbeatResponse, StoreHeartbeatRequest,
};
use crate::meta::Store;
use crate::operator::{OpStep, Operator};
use crate::region::{RegionInfo, RegionsInfo};
use crate::store::{StoreInfo, StoreStats};
use crate::tso::{IdAllocator, Tso};

/// The scheduler's settings (the reference's defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Replicas a region should have; the balance scheduler moves only
    /// regions with exactly this many (3).
    pub max_replicas: usize,
    /// A store silent for longer is down and gets no new replicas (30 min).
    pub max_store_down_time_ms: u64,
    /// At most this many operators at once (64).
    pub region_schedule_limit: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_replicas: 3,
            max_store_down_time_ms: 30 * 60 * 1000,
            region_schedule_limit: 64,
        }
    }
}

/// Stores, regions, operators, the TSO and the id allocator.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The settings.
    pub config: Config,
    stores: BTreeMap<u64, StoreInfo>,
    regions: RegionsInfo,
    operators: BTreeMap<u64, Operator>,
    ids: IdAllocator,
    tso: Tso,
}

impl Cluster {
    /// An empty cluster whose first allocated id is `first_id`.
    pub fn new(config: Config, first_id: u64) -> Cluster {
        Cluster {
            config,
            stores: BTreeMap::new(),
            regions: RegionsInfo::new(),
            operators: BTreeMap::new(),
            ids: IdAllocator::new(first_id),
            tso: Tso::new(),
        }
    }

    // ---- regions -------------------------------------------------------

    /// Takes a region heartbeat into the cache, or refuses it as stale.
    ///
    /// Stale (an error, nothing changed): the cached region with the same
    /// id, or any cached region whose range overlaps, has a larger
    /// `version` or a larger `conf_ver` (equal passes). Otherwise the
    /// region replaces the one with its id and every overlapping one, and
    /// the statistics of every store involved (the new region's and the
    /// replaced regions') are refreshed. Peers on unknown stores, no peers
    /// and no leader are all fine.
    pub fn process_region_heartbeat(&mut self, region: RegionInfo) -> Result<(), Error> {
        // SOLUTION BEGIN p3c: refuse a heartbeat older than the cached region with its id or any overlapping region (version or conf_ver smaller), else put it and refresh the statistics of every store it or the regions it replaced touch
        let epoch = region.epoch();
        let stale = |against: &RegionInfo| Error::StaleRegion {
            region_id: region.id(),
            epoch,
            against_id: against.id(),
            against_epoch: against.epoch(),
        };
        if let Some(origin) = self.regions.get(region.id()) {
            if epoch.is_stale_against(&origin.epoch()) {
                return Err(stale(origin));
            }
        }
        for other in self.regions.overlaps(&region.meta) {
            if epoch.is_stale_against(&other.epoch()) {
                return Err(stale(other));
            }
        }
        let mut touched: Vec<u64> = region.store_ids().into_iter().collect();
        for old in self.regions.put(region) {
            touched.extend(old.store_ids());
        }
        touched.sort_unstable();
        touched.dedup();
        for store_id in touched {
            self.update_store_status(store_id);
        }
        Ok(())
        // SOLUTION END
    }

    /// Refreshes `store_id`'s counts and sizes from the region cache (no-op
    /// for an unknown store).
    pub fn update_store_status(&mut self, store_id: u64) {
        let regions = &self.regions;
        if let Some(store) = self.stores.get_mut(&store_id) {
            store.leader_count = regions.store_leader_count(store_id);
            store.region_count = regions.store_region_count(store_id);
            store.pending_peer_count = regions.store_pending_peer_count(store_id);
            store.leader_size = regions.store_leader_region_size(store_id);
            store.region_size = regions.store_region_size(store_id);
        }
    }

    /// Puts `region` into the cache as it is: no staleness check, no
    /// statistics refresh (what the reference's mock cluster does; for
    /// tests and tools).
    pub fn put_region(&mut self, region: RegionInfo) {
        self.regions.put(region);
    }

    /// The region cache.
    pub fn regions(&self) -> &RegionsInfo {
        &self.regions
    }

    /// The region with `id`.
    pub fn get_region(&self, id: u64) -> Option<&RegionInfo> {
        self.regions.get(id)
    }

    /// The region whose range holds `key`.
    pub fn get_region_by_key(&self, key: &[u8]) -> Option<&RegionInfo> {
        self.regions.get_by_key(key)
    }

    /// The registered stores holding a peer of `region`.
    pub fn region_stores(&self, region: &RegionInfo) -> Vec<&StoreInfo> {
        region
            .store_ids()
            .into_iter()
            .filter_map(|id| self.stores.get(&id))
            .collect()
    }

    /// The registered stores holding a follower of `region`.
    pub fn follower_stores(&self, region: &RegionInfo) -> Vec<&StoreInfo> {
        region
            .followers()
            .into_iter()
            .filter_map(|p| self.stores.get(&p.store_id))
            .collect()
    }

    // ---- stores --------------------------------------------------------

    /// Registers `store` (or updates a registered one's address and
    /// state). Refuses id 0 and a store that is already a tombstone.
    pub fn put_store(&mut self, store: Store, now_ms: u64) -> Result<(), Error> {
        if store.id == 0 {
            return Err(Error::InvalidRequest("store id 0".into()));
        }
        match self.stores.get_mut(&store.id) {
            Some(old) if old.is_tombstone() => Err(Error::StoreTombstone(store.id)),
            Some(old) => {
                old.meta = store;
                Ok(())
            }
            None => {
                let id = store.id;
                self.ids.observe(id);
                self.stores.insert(id, StoreInfo::new(store, now_ms));
                self.update_store_status(id);
                Ok(())
            }
        }
    }

    /// Puts a store record as it is (for tests and tools: statistics and
    /// heartbeat time included).
    pub fn put_store_info(&mut self, store: StoreInfo) {
        self.stores.insert(store.id(), store);
    }

    /// The store with `id`.
    pub fn get_store(&self, id: u64) -> Option<&StoreInfo> {
        self.stores.get(&id)
    }

    /// The store with `id`, to change (tests and tools).
    pub fn get_store_mut(&mut self, id: u64) -> Option<&mut StoreInfo> {
        self.stores.get_mut(&id)
    }

    /// Every registered store, by id.
    pub fn stores(&self) -> impl Iterator<Item = &StoreInfo> {
        self.stores.values()
    }

    /// Records a store heartbeat. Refuses an unregistered or tombstone
    /// store, changing nothing.
    pub fn handle_store_heartbeat(
        &mut self,
        req: StoreHeartbeatRequest,
        now_ms: u64,
    ) -> Result<(), Error> {
        let StoreStats { store_id, .. } = req.stats;
        let store = self
            .stores
            .get_mut(&store_id)
            .ok_or(Error::UnknownStore(store_id))?;
        if store.is_tombstone() {
            return Err(Error::StoreTombstone(store_id));
        }
        store.stats = req.stats;
        store.last_heartbeat_ms = store.last_heartbeat_ms.max(now_ms);
        Ok(())
    }

    // ---- heartbeats, operators, scheduling -----------------------------

    /// A region heartbeat from a leader: validated (a non-empty range; the
    /// leader is one of the region's peers, on a registered store that is
    /// not a tombstone),
    /// taken into the cache, and answered with the region's operator's next
    /// step, if any. A refused heartbeat changes nothing.
    pub fn handle_region_heartbeat(
        &mut self,
        req: RegionHeartbeatRequest,
        now_ms: u64,
    ) -> Result<RegionHeartbeatResponse, Error> {
        let leader = req
            .leader
            .ok_or_else(|| Error::InvalidRequest("region heartbeat without a leader".into()))?;
        if req.region.id == 0 {
            return Err(Error::InvalidRequest("region id 0".into()));
        }
        let r = &req.region;
        if !r.end_key.is_empty() && r.start_key >= r.end_key {
            return Err(Error::InvalidRequest(format!(
                "region {} has an empty or inverted range",
                r.id
            )));
        }
        if !req.region.peers.contains(&leader) {
            return Err(Error::InvalidRequest(format!(
                "leader {leader:?} is not a peer of region {}",
                req.region.id
            )));
        }
        match self.stores.get(&leader.store_id) {
            None => return Err(Error::UnknownStore(leader.store_id)),
            Some(s) if s.is_tombstone() => return Err(Error::StoreTombstone(leader.store_id)),
            Some(_) => {}
        }
        self.process_region_heartbeat(req.to_region_info())?;
        // Ids the allocator did not hand out (a region bootstrapped with
        // fixed ids, or ids from before a restart) must never be handed
        // out again.
        self.ids.observe(req.region.id);
        for peer in &req.region.peers {
            self.ids.observe(peer.id);
        }
        let mut resp = RegionHeartbeatResponse {
            region_id: req.region.id,
            region_epoch: req.region.region_epoch,
            target_peer: Some(leader),
            ..RegionHeartbeatResponse::default()
        };
        let region = self.regions.get(req.region.id).cloned();
        let (Some(region), Some(step)) = (region.as_ref(), self.dispatch(req.region.id, now_ms))
        else {
            return Ok(resp);
        };
        match step {
            OpStep::AddPeer { to_store, peer_id } => {
                resp.change_peer = Some(ChangePeer {
                    change_type: ConfChangeType::AddNode,
                    peer: crate::meta::Peer {
                        id: peer_id,
                        store_id: to_store,
                    },
                });
            }
            OpStep::RemovePeer { from_store } => {
                resp.change_peer = region.store_peer(from_store).map(|peer| ChangePeer {
                    change_type: ConfChangeType::RemoveNode,
                    peer,
                });
            }
            OpStep::TransferLeader { to_store, .. } => {
                resp.transfer_leader = region.store_peer(to_store);
            }
        }
        Ok(resp)
    }

    /// The next step of the operator on region `region_id`, after
    /// retiring it if it is finished, timed out, or obsolete (the region
    /// split or merged since it was made).
    pub fn dispatch(&mut self, region_id: u64, now_ms: u64) -> Option<OpStep> {
        let region = self.regions.get(region_id)?;
        let op = self.operators.get_mut(&region_id)?;
        let obsolete = region.epoch().version > op.region_epoch.version;
        let next = if obsolete || op.is_timeout(now_ms) {
            tracing::info!(region_id, obsolete, "operator cancelled: {}", op.desc);
            None
        } else {
            op.check(region)
        };
        if next.is_none() {
            self.operators.remove(&region_id);
        }
        next
    }

    /// Adds `op` unless its region already has one or the schedule limit
    /// is reached. Returns whether it was added.
    pub fn add_operator(&mut self, op: Operator) -> bool {
        if self.operators.contains_key(&op.region_id)
            || self.operators.len() >= self.config.region_schedule_limit
        {
            return false;
        }
        self.operators.insert(op.region_id, op);
        true
    }

    /// The operator running on region `region_id`.
    pub fn operator(&self, region_id: u64) -> Option<&Operator> {
        self.operators.get(&region_id)
    }

    /// Number of running operators.
    pub fn operator_count(&self) -> usize {
        self.operators.len()
    }

    /// One round of the balance-region scheduler: if it proposes a move and
    /// the limit allows, the operator is added and returned.
    pub fn schedule(&mut self, now_ms: u64, rng: &mut (impl Rng + ?Sized)) -> Option<Operator> {
        if self.operators.len() >= self.config.region_schedule_limit {
            return None;
        }
        let op = crate::balance::balance_region(self, now_ms, rng)?;
        self.add_operator(op.clone()).then_some(op)
    }

    // ---- ids, timestamps, splits ---------------------------------------

    /// A new cluster-unique id.
    pub fn alloc_id(&mut self) -> Result<u64, Error> {
        self.ids.alloc()
    }

    /// The id [`Cluster::alloc_id`] hands out next.
    pub fn next_id(&self) -> u64 {
        self.ids.peek()
    }

    /// The physical part (ms) of the last timestamp handed out.
    pub fn tso_physical_ms(&self) -> u64 {
        self.tso.physical_ms()
    }

    /// Resumes after a restart: ids from `next_id` on, timestamps with a
    /// physical part of at least `tso_floor_ms`.
    pub fn resume(&mut self, next_id: u64, tso_floor_ms: u64) {
        if next_id > 0 {
            self.ids.observe(next_id - 1);
        }
        self.tso.resume_at(tso_floor_ms);
    }

    /// `count` timestamps at clock reading `now_ms`; returns the last.
    pub fn tso(&mut self, now_ms: u64, count: u32) -> Result<u64, Error> {
        self.tso.next(now_ms, count)
    }

    /// Ids for splitting a region: refused if the region is unknown or the
    /// request's epoch is older than the cached one.
    pub fn ask_split(&mut self, req: AskSplitRequest) -> Result<AskSplitResponse, Error> {
        let cached = self
            .regions
            .get(req.region.id)
            .ok_or(Error::RegionNotFound(req.region.id))?;
        if req.region.region_epoch.is_stale_against(&cached.epoch()) {
            return Err(Error::StaleRegion {
                region_id: req.region.id,
                epoch: req.region.region_epoch,
                against_id: cached.id(),
                against_epoch: cached.epoch(),
            });
        }
        let new_region_id = self.alloc_id()?;
        let new_peer_ids = req
            .region
            .peers
            .iter()
            .map(|_| self.alloc_id())
            .collect::<Result<_, _>>()?;
        Ok(AskSplitResponse {
            new_region_id,
            new_peer_ids,
        })
    }

    /// The region holding `key` and its leader.
    pub fn region_by_key(&self, key: &[u8]) -> Option<GetRegionResponse> {
        self.get_region_by_key(key).map(|r| GetRegionResponse {
            region: r.meta.clone(),
            leader: r.leader,
        })
    }
}
