//! What a store needs from the scheduler (the reference's `SchedulerClient`,
//! the parts Project 3B uses): region heartbeats answered with at most one
//! operator step, and ids for a split. The test harness provides a mock;
//! the store calls it synchronously from its ticker.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::meta::{Peer, Region};

/// A leader's report on its region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionHeartbeat {
    /// The region as the leader applied it.
    pub region: Region,
    /// The leader.
    pub leader: Peer,
    /// The region's size at the last split check, if known.
    pub approximate_size: Option<u64>,
}

/// One step the scheduler wants from a region's leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    /// Add this peer (a `ChangePeer` AddNode).
    AddPeer(Peer),
    /// Remove this peer (a `ChangePeer` RemoveNode).
    RemovePeer(Peer),
    /// Move leadership to this peer.
    TransferLeader(Peer),
}

/// The scheduler as a store sees it.
pub trait SchedulerClient: Send + Sync {
    /// Reports a region; the answer is the next step for its leader, if any.
    fn region_heartbeat(&self, heartbeat: RegionHeartbeat) -> Option<Operator>;

    /// Ids for splitting `region`: the new region's id and one new peer id
    /// per peer of `region`, in its order.
    ///
    /// # Errors
    /// Whatever the scheduler refuses with.
    fn ask_split(&self, region: &Region) -> Result<(u64, Vec<u64>), Error>;
}
