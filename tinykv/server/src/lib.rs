//! # tinykv-server — TinyKV as a real server process
//!
//! The framework side of the TinyKV track: no student code lives here. It
//! serves the handlers students write in `tinykv-storage` (the raw API,
//! Project 1) and `tinykv-txn` (the transactional API, Project 4) over TCP
//! from a real process, with a timestamp oracle, and gives the command
//! line client. The simulation serves the very same handlers over labrpc;
//! both sides share the message types and method names (the labrpc RPC
//! markers), so what passes in the simulation runs here unchanged.
//!
//! ## Layout
//! * `wire.rs` — the protocol: length-prefixed frames, each request tagged
//!   with an id, many in flight per connection, coalesced writes.
//! * `serve.rs` — [`Router`] (handlers by method name; reads inline, writes
//!   on the blocking pool) and [`serve`].
//! * `client.rs` — [`Connection`]: one pipelined connection shared by any
//!   number of callers; it is the transaction client's
//!   [`Transport`](tinykv_txn::client::Transport), so
//!   `tinykv_txn::Client::new(conn.clone(), conn)` runs Percolator over TCP.
//! * `raft.rs` — `--store raft`: one store of a raft cluster (the
//!   raftstore) over TCP on disk: data directory and bootstrap,
//!   [`raft::RaftStorage`] (the `Storage` the raw and transactional
//!   handlers run on), [`raft::TcpPeer`] (the raftstore's transport to the
//!   other stores); `raft/engines.rs` — the engines' durability (what is
//!   synced when); [`Router::service`] serves the raftstore's own labrpc
//!   service.
//! * `cluster_client.rs` — [`ClusterClient`]: several addresses, follows the
//!   leader hint in region errors, retries; `tinykv-ctl` and `tinykv-bench`
//!   use it.
//! * `tso.rs` — [`WallTso`], the standalone oracle: wall-clock physical
//!   part, a synced high-water mark so timestamps keep increasing across
//!   crashes.
//! * `cli.rs` — the binaries: `tinykv-server --store standalone|raft …` and
//!   `tinykv-ctl raw …|txn …|tso`.
//! * `bench.rs` — `tinykv-bench`: put/get/mixed workloads from N clients
//!   against tinykv or etcd, a progress bar, throughput and latency
//!   percentiles; `etcd.rs` — its etcd v3 client (the JSON gateway over
//!   HTTP/1.1); `scripts/bench-vs-etcd.sh` runs both side by side.
//! * `cluster/` — `tinykv-cluster`: a scheduler and N raft stores as child
//!   processes on loopback ([`cluster::Cluster`]), optionally with the
//!   stores' links through `proxy.rs`, a fault injector needing no root
//!   ([`proxy::Mesh`]: per ordered pair of stores, drop / blackhole /
//!   delay, i.e. partitions, set at run time).
//! * `ctl_cluster.rs` — `tinykv-ctl regions|stores`: the scheduler's tables.
//!
//! ## Invariants
//! * A write (raw put/delete, a transactional command) is acknowledged only
//!   after the engine synced it (unless the server runs with `--no-sync`):
//!   acknowledged raw writes and committed transactions survive `kill -9`
//!   (`tests/durability.rs`, with 4 and with 64 connections writing).
//!   Concurrent synced writes share one engine write and one fsync
//!   ([`tinykv_storage::GroupCommit`] over the disk engine, in `cli.rs`).
//! * Timestamps strictly increase, across restarts too.
//! * Bad input — a wrong flag, a data directory that is not ours or is
//!   locked, a malformed frame, an unknown method, undecodable arguments —
//!   is a clear message and a non-zero exit, an error reply, or a closed
//!   connection; never a panic, and nothing stored is lost.
//!
//! ## Tests
//! `cargo test --release -p tinykv-server` starts real `tinykv-server`
//! processes: `tests/bad_input.rs` (flags, directories, refused requests),
//! `tests/durability.rs` (raw writes and transactions across `kill -9`,
//! clean SIGTERM restart), `tests/txn.rs` (the transactional API and the
//! ctl's `txn` commands on both engines, concurrent bank transfers),
//! `tests/bench.rs` (`tinykv-bench`'s flags, a short run, its etcd mode
//! against a fake gateway), `tests/raft_cluster.rs` (three `--store raft`
//! processes: the leader killed with `kill -9`, writes going on, the store
//! restarted from its data directory, every acknowledged write read back;
//! all three killed at once under 16 writers, every acknowledged write
//! back after the restart), `tests/kill9_cluster.rs` (a 3-store cluster
//! through the proxies: rounds of `kill -9` of the leader then a follower,
//! the leader partitioned; recorded clients, no acknowledged write lost, a
//! linearizable history; `KILL9_ROUNDS`), `tests/cluster_launcher.rs`
//! (`tinykv-cluster` up, serving, partitioned and healed, stopped by
//! SIGTERM; its refusals), `tests/ctl_cluster.rs` (`tinykv-ctl
//! regions|stores` against a scheduler). The proxies' faults are
//! unit-tested in `proxy_tests.rs`.
//! `cargo bench -p tinykv-server` measures RawGet/RawPut over TCP against
//! the engine called directly, and committed transactions per second.

#![deny(missing_docs)]

pub mod bench;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod cluster_client;
pub mod ctl_cluster;
pub mod etcd;
pub mod proxy;
pub mod raft;
pub mod serve;
pub mod tso;
pub mod wire;

pub use client::Connection;
pub use cluster_client::ClusterClient;
pub use serve::{Mode, Router, serve};
pub use tso::WallTso;

/// The errors of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The storage refused or failed (opening the data directory, a write).
    #[error("{0}")]
    Storage(#[from] tinykv_storage::Error),
    /// The transaction client failed.
    #[error("{0}")]
    Txn(#[from] tinykv_txn::Error),
    /// The network: cannot listen or connect, connection lost, no reply.
    #[error("network error: {0}")]
    Net(String),
    /// The server could not handle the request (unknown method,
    /// undecodable arguments); its message.
    #[error("the server refused the request: {0}")]
    Remote(String),
    /// A message could not be encoded or decoded on this side.
    #[error("{method}: {reason}")]
    Encode {
        /// The RPC.
        method: &'static str,
        /// What the codec found.
        reason: labrpc::CodecError,
    },
    /// The operating system refused something else.
    #[error("i/o error: {0}")]
    Io(String),
    /// A command line that parsed but cannot be run (e.g. an endpoint
    /// that is not a URL).
    #[error("{0}")]
    Usage(String),
}
