//! # tinykv-scheduler — TinyKV Project 3C: the scheduler
//!
//! A trimmed placement driver: it learns the cluster from heartbeats
//! (regions from their leaders, statistics from the stores), keeps a range
//! index of the regions, balances replicas across stores with operators
//! (AddPeer → TransferLeader → RemovePeer) that it hands back one step per
//! heartbeat, and allocates ids and timestamps. It runs in the simulation as
//! the labrpc service `Scheduler` and as the real process
//! `tinykv-scheduler` over TCP.
//!
//! ## Layout
//! * `meta.rs` — the records: [`Peer`], [`RegionEpoch`], [`Region`],
//!   [`Store`] (plain serde types the raftstore can reuse as its own).
//! * `region.rs` — [`RegionInfo`] and [`RegionsInfo`], the region cache
//!   indexed by id, by start key and by store (leader / follower / pending).
//! * `store.rs` — [`StoreInfo`]: registration, last heartbeat, statistics.
//! * `cluster.rs` — [`Cluster`]: the whole state and every request, pure
//!   (time and randomness passed in). **Student code (p3c)**:
//!   [`Cluster::process_region_heartbeat`], the staleness rules and the
//!   statistics refresh.
//! * `balance.rs` — **student code (p3c)**: [`balance::balance_region`],
//!   the balance-region scheduler.
//! * `operator.rs` — [`Operator`]s, their steps' completion conditions and
//!   timeouts, and [`operator::create_move_peer_operator`].
//! * `tso.rs` — the timestamp oracle ([`Tso`], `physical_ms << 18 |
//!   logical`) and the [`IdAllocator`].
//! * `reserve.rs` — the process's high-water marks: ids and timestamps are
//!   reserved on disk (`--data-dir`) in windows before they are handed
//!   out, so a restart resumes above them.
//! * `messages.rs` — requests and replies of the service.
//! * `server.rs` — [`SchedulerServer`]: the cluster behind a lock with a
//!   [`Clock`], and the scheduling loop.
//! * `service.rs` — the labrpc `Scheduler` service; `net.rs` — the tarpc
//!   server and client (both also list every region and store, for
//!   `tinykv-ctl regions|stores`); `cli.rs` — the `tinykv-scheduler` binary.
//!
//! ## Invariants
//! * Cached region ranges are pairwise disjoint, and a region is in the
//!   per-store indices of exactly its peers' stores.
//! * A heartbeat whose `version` or `conf_ver` is smaller than the cached
//!   region with its id, or than any cached region it overlaps, changes
//!   nothing and is answered [`Error::StaleRegion`].
//! * After a heartbeat, the statistics of every store it touched equal
//!   what the region cache says.
//! * At most one operator per region; each step is resent until the
//!   region's heartbeat shows it done; a split or merge (a larger
//!   `version`) or a timeout (10 s leader-only, 10 min with peer moves)
//!   retires it.
//! * Timestamps strictly increase; ids are unique and ascending, and never
//!   one a registered store or a region heartbeat already uses (the real
//!   stores bootstrap region 1 with ids of their own). With a data
//!   directory both hold across restarts: nothing leaves the scheduler
//!   that its reservation file does not cover.
//! * Bad input (an unknown or tombstone store, a heartbeat without a
//!   leader, a stale epoch) is a typed error, never a panic.
//!
//! ## Tests
//! `cargo test --release -p tinykv-scheduler p3c` runs the 22 Project 3C
//! tests (`tests/p3c_cluster.rs`: heartbeats and the region cache;
//! `tests/p3c_balance.rs`: the balance-region scheduler). The whole crate's
//! tests (`cargo test --release -p tinykv-scheduler`) add the operators,
//! the TSO, bad input, the labrpc service in the simulation and a
//! `tinykv-scheduler` process.

#![deny(missing_docs)]

pub mod balance;
pub mod cli;
mod cluster;
pub mod messages;
pub mod meta;
pub mod net;
pub mod operator;
mod region;
pub mod reserve;
mod server;
pub mod service;
mod store;
pub mod tso;

pub use cluster::{Cluster, Config};
pub use meta::{Peer, Region, RegionEpoch, Store, StoreState};
pub use operator::{OpKind, OpStep, Operator};
pub use region::{RegionInfo, RegionsInfo};
pub use server::{Clock, SCHEDULE_INTERVAL, SIMULATED_EPOCH_MS, SchedulerServer};
pub use store::{StoreInfo, StoreStats};
pub use tso::{IdAllocator, Tso};

use serde::{Deserialize, Serialize};

/// The errors of this crate; `Clone + PartialEq` so tests compare them, and
/// serde so the services send them in replies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum Error {
    /// A heartbeat or request older than what the scheduler knows.
    #[error(
        "region {region_id} epoch {epoch:?} is stale against region {against_id} epoch {against_epoch:?}"
    )]
    StaleRegion {
        /// The region of the request.
        region_id: u64,
        /// Its epoch in the request.
        epoch: RegionEpoch,
        /// The cached region it lost to.
        against_id: u64,
        /// That region's epoch.
        against_epoch: RegionEpoch,
    },
    /// A request from or about a store that never registered.
    #[error("store {0} is not registered")]
    UnknownStore(u64),
    /// A request from or about a store that has been removed for good.
    #[error("store {0} is a tombstone")]
    StoreTombstone(u64),
    /// A request about a region the scheduler does not know.
    #[error("region {0} not found")]
    RegionNotFound(u64),
    /// An operator asked to remove a replica the region does not have.
    #[error("region {region_id} has no peer on store {store_id}")]
    NoPeerOnStore {
        /// The region.
        region_id: u64,
        /// The store.
        store_id: u64,
    },
    /// An operator asked to add a replica where the region already has one.
    #[error("region {region_id} already has a peer on store {store_id}")]
    PeerAlreadyOnStore {
        /// The region.
        region_id: u64,
        /// The store.
        store_id: u64,
    },
    /// A malformed request.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The id space is used up.
    #[error("ids exhausted")]
    IdsExhausted,
    /// A network error of the TCP server or client.
    #[error("network error: {0}")]
    Net(String),
    /// The data directory could not be read or written (the process only).
    #[error("storage error: {0}")]
    Storage(String),
}
