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
//! * `checks.rs` — [`Config::check_one_leader`], [`Config::check_terms`],
//!   [`Config::check_no_leader`], [`Config::n_committed`], [`Config::one`],
//!   [`Config::wait`], [`Config::log_size`].
//!
//! All time is virtual (`tokio::time`) and all randomness comes from
//! [`labrpc::rng`], so a failing seed replays exactly.

mod applier;
mod checks;
mod config;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use config::Config;

/// What the reference calls `RaftElectionTimeout`: the tester's notion of
/// "enough time for an election" (it generously allows one second).
pub const RAFT_ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);

/// The snapshot applier asks Raft to snapshot after every this many entries.
pub const SNAPSHOT_INTERVAL: u64 = 10;

/// 3D: the persisted Raft state (term, vote, log) must stay below this many
/// bytes. The reference's bound was for gob; ours is bincode (standard
/// config: varint integers, length-prefixed byte strings), which encodes the
/// same state in no more bytes, so the number carries over unchanged.
pub const MAX_LOG_SIZE: usize = 2000;

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
