//! The shard controller tester (Lab 5A), mirroring the reference
//! `shardctrler/config.go` and the checks of its `test_test.go`.
//!
//! A [`Config`] builds, inside a running simulation ([`labrpc::sim::run`]),
//! a reliable labrpc network with `n` controller replicas, each with its own
//! [`raft::Persister`]. Scenarios (in `tests/tests/shardctrler_5a.rs`) drive
//! it through [`shardctrler::Clerk`]s:
//!
//! * `config.rs` — the cluster: [`Config::make_client`],
//!   [`Config::shutdown_server`] / [`Config::start_server`] (a copied
//!   persister and fresh ends per restart), [`Config::leader`], and the
//!   `begin`/`end` lines.
//! * `checks.rs` — what the scenarios assert: the reference's [`check`]
//!   (exactly these groups, every shard on one of them, balanced within one
//!   shard) and [`check_same_config`], plus the minimal-movement checks
//!   [`check_join_moves`], [`check_leave_moves`] and [`check_history`] that
//!   make the reference's vacuous "minimal transfer" checks real.
//!
//! All time is virtual (`tokio::time`) and all randomness comes from
//! [`labrpc::rng`], so a failing seed replays exactly.

mod checks;
mod config;

pub use checks::{
    check, check_history, check_join_moves, check_leave_moves, check_same_config, min_moves,
    moved_shards,
};
pub use config::Config;
