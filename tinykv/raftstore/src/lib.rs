//! # tinykv-raftstore — TinyKV Project 2B/2C/3B: the raftstore
//!
//! A store hosts one peer of each region it replicates (3B: many regions,
//! peers added and removed, leadership moved, regions split); a peer is a raft
//! core (`raft::Core`) whose log, hard state and apply state live in the
//! store's two engines (`tinykv-storage`), so a crash loses nothing a peer
//! acknowledged and a restart rebuilds the peer from the engines.
//!
//! ## Layout
//! * `keys.rs` — the reference's key layout in `Cf::Meta` (framework).
//! * `meta.rs` — the persisted records: `RaftLocalState`, `RaftApplyState`,
//!   `RegionLocalState`; `Region`, `RegionEpoch`, `Peer` are the
//!   scheduler's own (`tinykv_scheduler::meta`) (framework).
//! * `peer_storage.rs` — **student code (p2b, p2c)**: [`PeerStorage`], the
//!   log and states over the engines; `append` and `save_ready_state` are
//!   the p2b holes, `apply_snapshot`, `compact_to` and `gc_raft_log` the
//!   p2c ones.
//! * `snap.rs` — **student code (p2c)**: region snapshots — cut from one
//!   kv-engine view at its applied index, refused when stale, foreign or
//!   overlapping, installed by wiping the range and ingesting.
//! * `cmd.rs` — commands (`Get`/`Put`/`Delete`/`Snap`), responses and the
//!   region checks (framework).
//! * `peer.rs` — **student code (p2b, p2c)**: [`Peer`], the raft-ready
//!   loop: propose, persist, send, apply, answer, advance (p2b); the
//!   raft-log GC tick proposing CompactLog, applying it, filling outgoing
//!   snapshots and refusing bad incoming ones (p2c).
//! * `peer/apply.rs` — **student code (p2b, p2c)**: applying committed
//!   entries (one kv batch each, with the applied index), answering their
//!   proposals (p2b); CompactLog applied and the raft log collected after
//!   it, proposals a snapshot overtook (p2c).
//! * `peer/admin.rs` — **student code (p3b)**: admin commands (TransferLeader,
//!   ChangePeer, Split) proposed and applied, the split checker, and
//!   [`Peer::destroy`].
//! * `scheduler/` — what a store needs from the scheduler (framework):
//!   `mod.rs` the synchronous [`scheduler::SchedulerClient`] the store
//!   calls from its ticker (the mock in the tests); `remote.rs`
//!   [`scheduler::RemoteScheduler`], that client over the real
//!   scheduler's asynchronous RPCs ([`scheduler::SchedulerRpc`]);
//!   `transport.rs` those RPCs over labrpc (the simulation) and over the
//!   scheduler's TCP client ([`scheduler::TcpScheduler`], reconnecting;
//!   a real process).
//! * `store.rs` — [`store::Store`], the thin async layer: peers by region
//!   id behind one lock, a ticker, region heartbeats, the `Raftstore`
//!   labrpc service carrying raft messages between stores and client
//!   commands (framework); `store/transport.rs` — [`store::Transport`],
//!   how a store reaches the others: labrpc ends in the simulation, TCP
//!   connections in `tinykv-server --store raft` (framework); commands that
//!   queue while a Ready is persisted are proposed together into the next
//!   one; `store/router.rs` — **student code (p3b)**:
//!   routing, lazy peer creation, tombstones, removed senders, and the
//!   store's side of peer events.
//!
//! ## The peer's loop (after every batch of messages, ticks and proposals)
//! 1. Take the core's `Ready`.
//! 2. Persist hard state and new entries in **one** raft-engine batch.
//! 3. Send the messages.
//! 4. Apply committed entries: each entry's writes and the new applied
//!    index in **one** kv-engine batch; answer the proposal that waits on it.
//! 5. `advance`.
//!
//! ## Log GC and snapshots (2C)
//! On its GC tick a leader whose applied index is `raft_log_gc_count_limit`
//! past its first index — or past the last CompactLog it applied, if older
//! (a leader that joined by snapshot has a short log, its followers may
//! not) — proposes `CompactLog{applied − 1}`; applying it
//! moves the truncated state (with the applied index, in the entry's kv
//! batch), deletes the entries from the raft engine and lets the core drop
//! them (`Core::snapshot` with empty bytes: the core only tracks where the
//! log starts). When the core must send a snapshot, [`Peer::handle_ready`]
//! cuts a fresh one from the kv engine at its applied index
//! (`snap::RegionSnapshot`); the receiver installs it in one kv batch.
//!
//! ## Invariants
//! * `truncated index <= applied index <= commit <= last index`, on disk
//!   and in memory.
//! * An entry's effect and the applied index that covers it are persisted
//!   atomically, so a restart never applies an entry twice or skips one.
//! * A proposal is answered at most once: with its result when its own
//!   (index, term) applies, or `StaleCommand` when another entry took its
//!   place.
//! * Corrupt or inconsistent persisted state is a typed [`Error`], never a
//!   panic.
//! * (3B) Every applied membership change bumps `conf_ver` by one, every
//!   split bumps `version` of both halves; a command is applied only if the
//!   epoch it was proposed against still holds. A destroyed peer leaves a
//!   tombstone (the region as last known): only a message with a newer
//!   `conf_ver` recreates it. A sender with an older epoch that the live
//!   region — or the tombstone — no longer lists is told to destroy itself,
//!   whichever peer id it addressed.
//! * (3B) Raft peers vote also for candidates their configuration does not
//!   list yet (`raft::Config::vote_for_non_members`).
//!   Initialised peers on one store have disjoint ranges.
//!
//! ## Tests
//! `cargo test --release -p tinykv-raftstore` runs the peer-storage unit
//! tests (the reference's `TestPeerStorageTerm/ClearMeta/Entries/Append`,
//! log GC), the snapshot unit tests, the peer tests over a deterministic
//! in-memory network of stores (`peer/tests.rs`; 3B admin input and the
//! split/early-peer crash window in `peer/tests/admin.rs`), and the 2B/2C/3B scenarios (`tests/p2b.rs`,
//! `tests/p2c.rs`, `tests/p3b.rs`, with a mock scheduler) over labrpc in
//! virtual time, each history checked for linearizability; and
//! `tests/p3_balance.rs` (`p3c`): the cluster with the real scheduler,
//! which balances regions onto a store that joins while clients write.

#![deny(missing_docs)]

pub mod cmd;
pub mod keys;
pub mod meta;
mod peer;
mod peer_storage;
pub mod scheduler;
pub mod snap;
pub mod store;

pub use peer::{Answer, Peer, PeerConfig, PeerEvent, raft_config};
pub use peer_storage::{PeerStorage, bootstrap_region, first_region};

use meta::{Peer as PeerMeta, Region};

impl From<tinykv_storage::Error> for Error {
    fn from(e: tinykv_storage::Error) -> Error {
        Error::Engine(e.to_string())
    }
}

/// The errors of this crate: storage failures, and the region errors a
/// command is answered with (the reference's `errorpb.Error`).
///
/// Serde so it travels in command replies; the engine's error travels as text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum Error {
    /// The engine failed.
    #[error("engine: {0}")]
    Engine(String),
    /// A persisted record or entry does not decode, or the states contradict
    /// each other.
    #[error("corrupt record at key {key:02x?}: {reason}")]
    Corrupt {
        /// The key.
        key: Vec<u8>,
        /// What is wrong.
        reason: String,
    },
    /// The entry was compacted away (`raft.ErrCompacted`).
    #[error("log entry {index} is compacted")]
    Compacted {
        /// The index asked for.
        index: u64,
    },
    /// The entry is not (yet) in the log (`raft.ErrUnavailable`).
    #[error("log entry {index} is unavailable")]
    Unavailable {
        /// The first index missing.
        index: u64,
    },
    /// A committed configuration change: membership changes are Project 3B.
    #[error("conf change at {index}: membership changes are not implemented yet (3B)")]
    ConfChangeUnsupported {
        /// The entry's index.
        index: u64,
    },
    /// The peer is not the leader; `leader` is the one it knows of.
    #[error("region {region_id}: not leader (leader: {leader:?})")]
    NotLeader {
        /// The region.
        region_id: u64,
        /// The known leader, if any.
        leader: Option<PeerMeta>,
    },
    /// The proposal lost its place in the log (a leader change), or its
    /// header term is too old.
    #[error("stale command")]
    StaleCommand,
    /// The command's epoch differs from the region's.
    #[error("epoch not match: region is now {current:?}")]
    EpochNotMatch {
        /// The region as this peer has it.
        current: Box<Region>,
    },
    /// A key outside the region's range.
    #[error("key {key:02x?} is not in region {region_id} [{start_key:02x?}, {end_key:02x?})")]
    KeyNotInRegion {
        /// The key.
        key: Vec<u8>,
        /// The region.
        region_id: u64,
        /// Its start key.
        start_key: Vec<u8>,
        /// Its end key.
        end_key: Vec<u8>,
    },
    /// No such region on this store, or its peer was destroyed.
    #[error("region {region_id} not found")]
    RegionNotFound {
        /// The region.
        region_id: u64,
    },
    /// A malformed admin command (a split key that would leave an empty
    /// region, a peer added on a store that already has one, removing the
    /// last peer): refused, nothing changed.
    #[error("invalid admin command: {reason}")]
    InvalidAdmin {
        /// Why.
        reason: String,
    },
    /// An admin command names a store the cluster does not have.
    #[error("store {store_id} not found")]
    StoreNotFound {
        /// The store.
        store_id: u64,
    },
    /// The scheduler refused a request, or could not be reached
    /// (`tinykv_scheduler::Error::Net`).
    #[error("scheduler: {0}")]
    Scheduler(tinykv_scheduler::Error),
    /// Split ids were asked of the scheduler and are not in yet: the split
    /// checker asks again on its next tick and gets them then.
    #[error("region {region_id}: split ids pending")]
    SplitIdsPending {
        /// The region to split.
        region_id: u64,
    },
    /// The command was addressed to another store.
    #[error("store not match: request for store {request}, this is store {actual}")]
    StoreNotMatch {
        /// The store the request names.
        request: u64,
        /// This store.
        actual: u64,
    },
}
