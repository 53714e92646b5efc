//! What a store needs from the scheduler (the reference's `SchedulerClient`,
//! the parts Project 3B uses): region heartbeats answered with at most one
//! operator step, ids for a split, and (for the real scheduler's balance)
//! the store's registration and statistics. The store calls it
//! synchronously from its ticker, holding its lock; the test harness's mock
//! answers at once, and [`RemoteScheduler`] (`remote.rs`) bridges to the
//! real scheduler's asynchronous RPCs (labrpc in the simulation, TCP in a
//! real process; `transport.rs`).

mod remote;
mod transport;

pub use remote::{RemoteScheduler, RpcFuture, SchedulerRpc, heartbeat_request, operator_of};
pub use tinykv_scheduler::StoreStats;
pub use transport::TcpScheduler;

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
    /// The leader's term: with `region`'s epoch it names one leadership of
    /// one configuration, which is what an operator step is good for.
    pub term: u64,
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
    /// Whatever the scheduler refuses with; [`Error::SplitIdsPending`] when
    /// the answer is still on its way (ask again later).
    fn ask_split(&self, region: &Region) -> Result<(u64, Vec<u64>), Error>;

    /// Reports the store's statistics (with every round of region
    /// heartbeats). The mock ignores them; the real scheduler counts a
    /// store silent for too long as down.
    fn store_heartbeat(&self, _stats: StoreStats) {}
}
