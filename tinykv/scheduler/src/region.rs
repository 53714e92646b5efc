//! The scheduler's view of regions: [`RegionInfo`] (a region as its
//! leader last reported it) and [`RegionsInfo`], the cache indexed by id,
//! by key range and by store.

use std::collections::{BTreeMap, BTreeSet};

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::meta::{Peer, Region, RegionEpoch};

/// A region as its leader last reported it in a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RegionInfo {
    /// The region itself: id, range, epoch, peers.
    pub meta: Region,
    /// The peer that sent the heartbeat (none: no known leader).
    pub leader: Option<Peer>,
    /// Peers still catching up (their logs lag far behind the leader's).
    pub pending_peers: Vec<Peer>,
    /// Approximate data size, in the reference's units (MiB there; the
    /// tests use small numbers).
    pub approximate_size: u64,
}

impl RegionInfo {
    /// A region led by `leader` (or with no leader), nothing pending, size 0.
    pub fn new(meta: Region, leader: Option<Peer>) -> RegionInfo {
        RegionInfo {
            meta,
            leader,
            pending_peers: Vec::new(),
            approximate_size: 0,
        }
    }

    /// The region's id.
    pub fn id(&self) -> u64 {
        self.meta.id
    }

    /// The region's epoch.
    pub fn epoch(&self) -> RegionEpoch {
        self.meta.region_epoch
    }

    /// The region's peer on `store_id`.
    pub fn store_peer(&self, store_id: u64) -> Option<Peer> {
        self.meta.peer_on_store(store_id)
    }

    /// The store of the leader.
    pub fn leader_store(&self) -> Option<u64> {
        self.leader.map(|p| p.store_id)
    }

    /// Whether `peer` is the leader (by peer id).
    pub fn is_leader(&self, peer: &Peer) -> bool {
        self.leader.is_some_and(|l| l.id == peer.id)
    }

    /// Whether the peer with `peer_id` is pending.
    pub fn is_pending(&self, peer_id: u64) -> bool {
        self.pending_peers.iter().any(|p| p.id == peer_id)
    }

    /// The stores holding a peer, ascending.
    pub fn store_ids(&self) -> BTreeSet<u64> {
        self.meta.peers.iter().map(|p| p.store_id).collect()
    }

    /// The peers that are not the leader.
    pub fn followers(&self) -> Vec<Peer> {
        self.meta
            .peers
            .iter()
            .copied()
            .filter(|p| !self.is_leader(p))
            .collect()
    }
}

/// The region cache: every region by id, a range index over their start
/// keys, and per store the regions it leads, follows in, and has pending.
///
/// Invariants: the ranges in the index are pairwise disjoint; every region
/// in `regions` is in `ranges` under its start key and in the per-store sets
/// of exactly its peers' stores (leader set for the leader's store, follower
/// set for the others; pending set in addition for pending peers).
#[derive(Debug, Clone, Default)]
pub struct RegionsInfo {
    regions: BTreeMap<u64, RegionInfo>,
    /// Start key → region id.
    ranges: BTreeMap<Vec<u8>, u64>,
    leaders: BTreeMap<u64, BTreeSet<u64>>,
    followers: BTreeMap<u64, BTreeSet<u64>>,
    pending: BTreeMap<u64, BTreeSet<u64>>,
}

impl RegionsInfo {
    /// An empty cache.
    pub fn new() -> RegionsInfo {
        RegionsInfo::default()
    }

    /// The region with `id`.
    pub fn get(&self, id: u64) -> Option<&RegionInfo> {
        self.regions.get(&id)
    }

    /// The region whose range holds `key`.
    pub fn get_by_key(&self, key: &[u8]) -> Option<&RegionInfo> {
        let (_, id) = self.ranges.range(..=key.to_vec()).next_back()?;
        let region = &self.regions[id];
        region.meta.contains(key).then_some(region)
    }

    /// Every region whose range overlaps `meta`'s, in key order (the region
    /// with `meta`'s own id included if its range overlaps).
    pub fn overlaps(&self, meta: &Region) -> Vec<&RegionInfo> {
        let mut found = Vec::new();
        // The region holding the start key may begin before it.
        if let Some((_, id)) = self.ranges.range(..=meta.start_key.clone()).next_back() {
            let region = &self.regions[id];
            if region.meta.overlaps(meta) {
                found.push(region);
            }
        }
        for (start, id) in self.ranges.range(meta.start_key.clone()..) {
            if start == &meta.start_key {
                continue; // seen above
            }
            if !meta.end_key.is_empty() && start >= &meta.end_key {
                break;
            }
            found.push(&self.regions[id]);
        }
        found
    }

    /// Stores `region`, replacing the region with its id and dropping every
    /// region its range overlaps. Returns what it removed (the old version
    /// of the same id included). No staleness check: that is the caller's.
    pub fn put(&mut self, region: RegionInfo) -> Vec<RegionInfo> {
        let mut removed = Vec::new();
        if let Some(old) = self.remove(region.id()) {
            removed.push(old);
        }
        let overlapping: Vec<u64> = self.overlaps(&region.meta).iter().map(|r| r.id()).collect();
        for id in overlapping {
            removed.extend(self.remove(id));
        }
        self.ranges
            .insert(region.meta.start_key.clone(), region.id());
        for peer in &region.meta.peers {
            let set = if region.is_leader(peer) {
                &mut self.leaders
            } else {
                &mut self.followers
            };
            set.entry(peer.store_id).or_default().insert(region.id());
        }
        for peer in &region.pending_peers {
            self.pending
                .entry(peer.store_id)
                .or_default()
                .insert(region.id());
        }
        self.regions.insert(region.id(), region);
        removed
    }

    /// Removes the region with `id` from every index.
    pub fn remove(&mut self, id: u64) -> Option<RegionInfo> {
        let region = self.regions.remove(&id)?;
        if self.ranges.get(&region.meta.start_key) == Some(&id) {
            self.ranges.remove(&region.meta.start_key);
        }
        for index in [&mut self.leaders, &mut self.followers, &mut self.pending] {
            for peer in region.meta.peers.iter().chain(&region.pending_peers) {
                if let Some(set) = index.get_mut(&peer.store_id) {
                    set.remove(&id);
                    if set.is_empty() {
                        index.remove(&peer.store_id);
                    }
                }
            }
        }
        Some(region)
    }

    /// Number of regions.
    pub fn len(&self) -> usize {
        self.regions.len()
    }

    /// Whether there is no region.
    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    /// Every region, by id.
    pub fn iter(&self) -> impl Iterator<Item = &RegionInfo> {
        self.regions.values()
    }

    fn count(index: &BTreeMap<u64, BTreeSet<u64>>, store_id: u64) -> usize {
        index.get(&store_id).map_or(0, BTreeSet::len)
    }

    fn size(&self, index: &BTreeMap<u64, BTreeSet<u64>>, store_id: u64) -> u64 {
        index.get(&store_id).map_or(0, |ids| {
            ids.iter().map(|id| self.regions[id].approximate_size).sum()
        })
    }

    /// Regions `store_id` leads.
    pub fn store_leader_count(&self, store_id: u64) -> usize {
        Self::count(&self.leaders, store_id)
    }

    /// Regions with a non-leader peer on `store_id`.
    pub fn store_follower_count(&self, store_id: u64) -> usize {
        Self::count(&self.followers, store_id)
    }

    /// Regions with a peer on `store_id`.
    pub fn store_region_count(&self, store_id: u64) -> usize {
        self.store_leader_count(store_id) + self.store_follower_count(store_id)
    }

    /// Regions with a pending peer on `store_id`.
    pub fn store_pending_peer_count(&self, store_id: u64) -> usize {
        Self::count(&self.pending, store_id)
    }

    /// Total approximate size of the regions `store_id` leads.
    pub fn store_leader_region_size(&self, store_id: u64) -> u64 {
        self.size(&self.leaders, store_id)
    }

    /// Total approximate size of the regions with a peer on `store_id`.
    pub fn store_region_size(&self, store_id: u64) -> u64 {
        self.size(&self.leaders, store_id) + self.size(&self.followers, store_id)
    }

    /// The region `store_id` leads with the id of `region`, as cached.
    pub fn leader_of(&self, store_id: u64, region_id: u64) -> Option<&RegionInfo> {
        self.leaders
            .get(&store_id)
            .filter(|s| s.contains(&region_id))
            .and_then(|_| self.regions.get(&region_id))
    }

    /// The region with `region_id` if `store_id` holds a follower of it.
    pub fn follower_of(&self, store_id: u64, region_id: u64) -> Option<&RegionInfo> {
        self.followers
            .get(&store_id)
            .filter(|s| s.contains(&region_id))
            .and_then(|_| self.regions.get(&region_id))
    }

    fn random(
        &self,
        index: &BTreeMap<u64, BTreeSet<u64>>,
        store_id: u64,
        rng: &mut (impl Rng + ?Sized),
    ) -> Option<&RegionInfo> {
        let ids = index.get(&store_id).filter(|s| !s.is_empty())?;
        let at = rng.random_range(0..ids.len());
        ids.iter().nth(at).map(|id| &self.regions[id])
    }

    /// A random region with a pending peer on `store_id`.
    pub fn random_pending_region(
        &self,
        store_id: u64,
        rng: &mut (impl Rng + ?Sized),
    ) -> Option<&RegionInfo> {
        self.random(&self.pending, store_id, rng)
    }

    /// A random region with a follower on `store_id`.
    pub fn random_follower_region(
        &self,
        store_id: u64,
        rng: &mut (impl Rng + ?Sized),
    ) -> Option<&RegionInfo> {
        self.random(&self.followers, store_id, rng)
    }

    /// A random region `store_id` leads.
    pub fn random_leader_region(
        &self,
        store_id: u64,
        rng: &mut (impl Rng + ?Sized),
    ) -> Option<&RegionInfo> {
        self.random(&self.leaders, store_id, rng)
    }
}
