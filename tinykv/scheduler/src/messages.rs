//! The scheduler's requests and replies (the reference's `schedulerpb`,
//! trimmed), shared by the labrpc service and the TCP server. Every reply
//! is a `Result<_, Error>`: a refusal is a typed error, never a panic.

use serde::{Deserialize, Serialize};

use crate::meta::{Peer, Region, RegionEpoch, Store};
use crate::region::RegionInfo;
use crate::store::StoreStats;

/// `PutStore`: register a store (or update its address).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PutStoreRequest {
    /// The store.
    pub store: Store,
}

/// `StoreHeartbeat`: a registered store's periodic statistics.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StoreHeartbeatRequest {
    /// Its statistics (`stats.store_id` names the store).
    pub stats: StoreStats,
}

/// `RegionHeartbeat`: a region leader's periodic report.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RegionHeartbeatRequest {
    /// The region as the leader sees it.
    pub region: Region,
    /// The reporting leader; its store must be registered.
    pub leader: Option<Peer>,
    /// Peers still catching up.
    pub pending_peers: Vec<Peer>,
    /// Approximate data size.
    pub approximate_size: u64,
}

impl RegionHeartbeatRequest {
    /// The report as the region cache stores it.
    pub fn to_region_info(&self) -> RegionInfo {
        RegionInfo {
            meta: self.region.clone(),
            leader: self.leader,
            pending_peers: self.pending_peers.clone(),
            approximate_size: self.approximate_size,
        }
    }
}

/// Add or remove a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfChangeType {
    /// Add the peer.
    AddNode,
    /// Remove the peer.
    RemoveNode,
}

/// A membership change for the leader to propose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePeer {
    /// Add or remove.
    pub change_type: ConfChangeType,
    /// The peer added or removed.
    pub peer: Peer,
}

/// What the scheduler wants the region's leader to do next (at most one
/// of `change_peer` and `transfer_leader`; neither: nothing to do).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RegionHeartbeatResponse {
    /// The region the command is for.
    pub region_id: u64,
    /// The epoch the command was made against (the heartbeat's).
    pub region_epoch: RegionEpoch,
    /// The peer to execute it (the reporting leader).
    pub target_peer: Option<Peer>,
    /// Propose this membership change.
    pub change_peer: Option<ChangePeer>,
    /// Hand leadership to this peer.
    pub transfer_leader: Option<Peer>,
}

impl RegionHeartbeatResponse {
    /// Whether there is a command in it.
    pub fn has_command(&self) -> bool {
        self.change_peer.is_some() || self.transfer_leader.is_some()
    }
}

/// `GetTso`: `count` consecutive timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TsoRequest {
    /// How many (1 ..= 2^18 − 1).
    pub count: u32,
}

/// A region and its leader, as cached.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GetRegionResponse {
    /// The region.
    pub region: Region,
    /// Its leader, if known.
    pub leader: Option<Peer>,
}

/// `AskSplit`: ids for splitting `region`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AskSplitRequest {
    /// The region to split, with its current epoch.
    pub region: Region,
}

/// The ids of the new region and of its peers (one per current peer, in
/// the order of the request's peers).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AskSplitResponse {
    /// The new region's id.
    pub new_region_id: u64,
    /// The new peers' ids.
    pub new_peer_ids: Vec<u64>,
}
