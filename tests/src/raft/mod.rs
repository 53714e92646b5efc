//! The Raft tester (Lab 3), mirroring the reference `raft/config.go`.
//!
//! A [`Config`] builds, inside a running simulation ([`labrpc::sim::run`]),
//! a labrpc network with long delays on and `n` Raft peers, each with its own
//! [`raft::Persister`] and an applier task that checks what the peer applies.
//! Scenarios (in `tests/tests/raft_3{a,b,c,d}.rs`) drive it with the
//! reference's helpers:
//!
//! * `config.rs` — building the cluster, [`Config::crash1`] / [`Config::start1`]
//!   (fresh ends and a copied persister per restart), [`Config::connect`] /
//!   [`Config::disconnect`], and the `begin`/`end` summary line.
//! * `applier.rs` — the two appliers: agreement at every index and in-order
//!   apply; with snapshots, a service snapshot every [`SNAPSHOT_INTERVAL`]
//!   entries taken from inside the apply loop.
//! * `bounds.rs` — the byte bounds ([`MAX_LOG_SIZE`], [`RPC_BYTES_SLACK`]),
//!   each derived from what the reference's gob-sized number meant, with
//!   tests measuring the sizes the derivations rest on.
//! * `scenarios.rs` — the 3B byte-count and 3D snapshot scenarios, shared
//!   with the mutation tests.
//! * `checks.rs` — [`Config::check_one_leader`], [`Config::check_terms`],
//!   [`Config::check_no_leader`], [`Config::n_committed`], [`Config::one`],
//!   [`Config::wait`], [`Config::log_size`].
//!
//! All time is virtual (`tokio::time`) and all randomness comes from
//! [`labrpc::rng`], so a failing seed replays exactly.

mod applier;
pub mod bounds;
mod checks;
mod config;
mod scenarios;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use bounds::{MAX_LOG_SIZE, RPC_BYTES_SLACK};
pub use config::Config;
pub use scenarios::{a_few, rpc_bytes, snap_common, snap_common_limited};

/// What the reference calls `RaftElectionTimeout`: the tester's notion of
/// "enough time for an election" (it generously allows one second).
pub const RAFT_ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);

/// The snapshot applier asks Raft to snapshot after every this many entries.
pub const SNAPSHOT_INTERVAL: u64 = 10;

/// A command the tester replicates. The reference's commands are Go `int`s
/// and (in `rpc_bytes_3b`) 5000-character strings; one small enum covers both.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cmd {
    /// A number (most scenarios).
    Int(i64),
    /// A string (the RPC byte-count scenario).
    Text(String),
}

impl Cmd {
    /// The number, if this is [`Cmd::Int`].
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Cmd::Int(x) => Some(*x),
            Cmd::Text(_) => None,
        }
    }
}

impl From<i64> for Cmd {
    fn from(x: i64) -> Cmd {
        Cmd::Int(x)
    }
}

impl From<String> for Cmd {
    fn from(s: String) -> Cmd {
        Cmd::Text(s)
    }
}

impl std::fmt::Display for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cmd::Int(x) => write!(f, "{x}"),
            Cmd::Text(s) if s.len() > 24 => write!(f, "{:?}… ({} chars)", &s[..24], s.len()),
            Cmd::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// A random non-negative number, as Go's `rand.Int()` (63 bits), drawn from
/// the simulation's seeded RNG.
pub fn rand_int() -> i64 {
    (labrpc::rng::u64() >> 1) as i64
}
