//! The kvraft tester (Lab 4A/4B), mirroring the reference `kvraft/config.go`
//! and the helpers of `kvraft/test_test.go`.
//!
//! A [`Config`] builds, inside a running simulation ([`labrpc::sim::run`]),
//! a labrpc network with `n` replicas, each a labrpc server that carries both
//! the replica's `KVServer` service and its `Raft` service. Scenarios (in
//! `tests/tests/kvraft_4{a,b}.rs`) are one line each over the helpers here:
//!
//! * `config.rs` — the cluster: [`Config::shutdown_server`] /
//!   [`Config::start_server`] (crash and restart from a copied persister),
//!   [`Config::partition`], [`Config::make_partition`],
//!   [`Config::connect_all`], [`Config::log_size`], [`Config::snapshot_size`],
//!   and the `begin`/`end` summary line.
//! * `client.rs` — [`Client`]: a clerk whose ends to the replicas the tester
//!   can enable and disable, and the counted, recorded operations.
//! * [`OpLog`] — the shared [`crate::history::Recorder`] under the
//!   key/value model: the history of timed operations and the final
//!   linearizability check with its HTML report.
//! * `generic.rs` — [`Generic`] (the reference `GenericTest`: clients,
//!   partitioner, crash and restart of all servers, the per-client append
//!   checks, log and snapshot bounds) and [`speed`] (`GenericTestSpeed`).
//! * `special.rs` — the scenarios that do not fit `GenericTest`:
//!   concurrent appends to one key, the three-stage one-partition test,
//!   InstallSnapshot and snapshot size.
//!
//! All time is virtual (`tokio::time`, and history stamps from
//! [`crate::history::Recorder`]) and all randomness comes from [`labrpc::rng`],
//! so a failing seed replays exactly.

mod client;
mod config;
mod generic;
mod special;

use std::time::Duration;

pub use crate::history::KvHistory as OpLog;
pub use client::{Client, ClientEnds};
pub use config::Config;
pub use generic::{
    Generic, Outcome, check_clnt_appends, check_concurrent_appends, client_value, speed,
};
pub use special::{one_partition, snapshot_rpc, snapshot_size, unreliable_one_key};

/// What the reference calls `electionTimeout`: the tester generously allows
/// one second for an election.
pub const ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);

/// The `maxraftstate` of every 4B scenario, in bytes.
///
/// The 4B log bound, `persisted Raft state ≤ 8 × maxraftstate` (the
/// reference's "logs were not trimmed"), carries over unchanged: it is a
/// ratio to a threshold the service itself compares with the persister's
/// size in the same bytes (ours), so it means what the reference meant in
/// any encoding — the service snapshots when its Raft state reaches
/// `maxraftstate`, and the state may overshoot that by seven thresholds'
/// worth of entries before the snapshot lands.
pub const MAX_RAFT_STATE: usize = 1000;

/// 4B: a server's snapshot may not exceed this many bytes in
/// `snapshot_size_4b` (the reference's `maxsnapshotstate`). Derivation: the
/// scenario's state is one key with a one-byte value and one clerk's
/// duplicate-table record (about 20 bytes here, under 100 in gob with its
/// type descriptors), and it runs 800 operations, 400 of them writes. The
/// reference's 500 bytes is below one byte per operation, so any snapshot
/// that keeps something per operation or per write — a log, a history, a
/// reply cache that is never pruned — fails in any encoding, while the
/// state itself fits many times over in either. That meaning does not
/// depend on gob's sizes, so the number carries over; tightening it to our
/// ~20 bytes would only fail correct solutions that encode their state
/// differently (the mutant `kvraft-dedup-history`, ~12 bytes per write,
/// is caught).
pub const MAX_SNAPSHOT_STATE: usize = 500;

/// The reference's per-operation bound in the speed tests: at least three
/// operations per 100-ms heartbeat interval, i.e. 33.3 ms per operation.
pub const REFERENCE_TIME_PER_OP: Duration = Duration::from_nanos(100_000_000 / 3);

/// Our tighter speed bound, in one-way network latencies per operation: a
/// client hop, one replication round trip and the reply hop are four, plus
/// two of slack. An implementation that waits for a heartbeat before
/// replicating cannot meet it.
pub const LATENCIES_PER_OP: u32 = 6;
