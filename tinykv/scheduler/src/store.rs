//! The scheduler's view of a store: its registration, its last heartbeat
//! and the statistics the balance scheduler reads.

use serde::{Deserialize, Serialize};

use crate::meta::{Store, StoreState};

/// What a store reports in its heartbeat (the reference's `StoreStats`,
/// trimmed to what the scheduler uses).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StoreStats {
    /// The reporting store.
    pub store_id: u64,
    /// Disk capacity in bytes.
    pub capacity: u64,
    /// Free bytes.
    pub available: u64,
    /// Bytes used by the store's data.
    pub used_size: u64,
    /// Regions the store says it holds.
    pub region_count: u64,
    /// Snapshots it is sending.
    pub sending_snap_count: u32,
    /// Snapshots it is receiving.
    pub receiving_snap_count: u32,
}

/// A store and what the scheduler knows about it.
///
/// The counts and sizes are refreshed from the region cache whenever a
/// heartbeat changes a region on this store (see
/// [`crate::Cluster::process_region_heartbeat`]); between refreshes they are
/// what the scheduler decides on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StoreInfo {
    /// The registration.
    pub meta: Store,
    /// The last store heartbeat's statistics.
    pub stats: StoreStats,
    /// Time of the last store heartbeat (ms on the scheduler's clock).
    pub last_heartbeat_ms: u64,
    /// Regions this store leads.
    pub leader_count: usize,
    /// Regions with a peer on this store.
    pub region_count: usize,
    /// Regions with a pending peer on this store.
    pub pending_peer_count: usize,
    /// Total approximate size of the regions it leads.
    pub leader_size: u64,
    /// Total approximate size of the regions with a peer on it.
    pub region_size: u64,
}

impl StoreInfo {
    /// A store registered at `now_ms`, with no statistics yet.
    pub fn new(meta: Store, now_ms: u64) -> StoreInfo {
        StoreInfo {
            meta,
            last_heartbeat_ms: now_ms,
            ..StoreInfo::default()
        }
    }

    /// The store's id.
    pub fn id(&self) -> u64 {
        self.meta.id
    }

    /// Whether the store is in state Up.
    pub fn is_up(&self) -> bool {
        self.meta.state == StoreState::Up
    }

    /// Whether the store is a tombstone.
    pub fn is_tombstone(&self) -> bool {
        self.meta.state == StoreState::Tombstone
    }

    /// Time since the last heartbeat (0 if the clock is behind it).
    pub fn down_time_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.last_heartbeat_ms)
    }
}
