//! The cluster metadata (the reference's `metapb`): peers, epochs, regions
//! and stores. Plain serde records with no behaviour beyond a few queries;
//! the raftstore uses them as its own (`tinykv_raftstore::meta` re-exports
//! `Peer`, `RegionEpoch` and `Region`, and persists them).

use serde::{Deserialize, Serialize};

/// One replica of a region: `{id, store_id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Peer {
    /// The peer's id (also its raft node id); unique in the cluster.
    pub id: u64,
    /// The store hosting it.
    pub store_id: u64,
}

/// A region's epoch: `conf_ver` +1 per applied membership change,
/// `version` +1 per split or merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RegionEpoch {
    /// Membership version.
    pub conf_ver: u64,
    /// Range version.
    pub version: u64,
}

impl RegionEpoch {
    /// Whether `self` is older than `other` in either component — the
    /// scheduler's staleness rule (equal passes).
    pub fn is_stale_against(&self, other: &RegionEpoch) -> bool {
        self.version < other.version || self.conf_ver < other.conf_ver
    }
}

/// A key range `[start_key, end_key)` (empty end: +∞) replicated by one raft
/// group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Region {
    /// The region's id.
    pub id: u64,
    /// First key in the region (empty: −∞).
    pub start_key: Vec<u8>,
    /// First key past the region; empty for +∞.
    pub end_key: Vec<u8>,
    /// The epoch.
    pub region_epoch: RegionEpoch,
    /// The replicas.
    pub peers: Vec<Peer>,
}

impl Region {
    /// Whether `key` lies in `[start_key, end_key)`.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start_key.as_slice()
            && (self.end_key.is_empty() || key < self.end_key.as_slice())
    }

    /// Whether the two ranges share a key.
    pub fn overlaps(&self, other: &Region) -> bool {
        let left_of_other_end = other.end_key.is_empty() || self.start_key < other.end_key;
        let right_of_other_start = self.end_key.is_empty() || other.start_key < self.end_key;
        left_of_other_end && right_of_other_start
    }

    /// The peer of this region on `store_id`.
    pub fn peer_on_store(&self, store_id: u64) -> Option<Peer> {
        self.peers.iter().copied().find(|p| p.store_id == store_id)
    }
}

/// A store's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum StoreState {
    /// Serving; a candidate for new replicas.
    #[default]
    Up,
    /// Being drained: keeps its replicas for now, receives none.
    Offline,
    /// Gone for good; its heartbeats are refused.
    Tombstone,
}

/// A store as registered with the scheduler.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Store {
    /// The store's id (never 0).
    pub id: u64,
    /// Where its server listens (informational).
    pub address: String,
    /// Its lifecycle state.
    pub state: StoreState,
}
