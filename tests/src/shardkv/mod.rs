//! The sharded key/value store tester (Lab 5A/5B and the challenges),
//! mirroring the reference `shardkv/config.go`.
//!
//! A [`Config`] builds, inside a running simulation ([`labrpc::sim::run`]),
//! a labrpc network with a controller service of [`NCTRLERS`] replicas and
//! [`NGROUPS`] replica groups (gids 100, 101, 102) of `n` replicas named
//! `server-<gid>-<i>`, all started but none joined. Scenarios (in
//! `tests/tests/shardkv_5.rs`) drive it:
//!
//! * `config.rs` — the system: [`Config::make_client`] (the tester's
//!   `make_end` gives a fresh, enabled, randomly named end per call),
//!   [`Config::shutdown_server`] / [`Config::start_server`] and their group
//!   forms, [`Config::join`] / [`Config::leave`] / [`Config::joinm`] /
//!   [`Config::leavem`] through the tester's controller clerk,
//!   [`Config::checklogs`], [`Config::persisted_bytes`], and a second
//!   controller service ([`Ctrlers`]) for the rejection scenario.
//! * this module — the value checks the scenarios share ([`check`],
//!   [`within`]).
//! * `workload.rs` — what the scenarios do to it: the test keys
//!   ([`keys`], [`put_keys`], [`check_all`], [`check_and_append`]),
//!   [`count_completions`], background [`Appenders`], and the
//!   checker-judged scenario [`unreliable3`] (in the library so the
//!   mutation tests can run it too).
//! * `challenge.rs` — challenge 1 ([`challenge1_delete`]) and its
//!   persisted-bytes bound [`CHALLENGE1_MAX_PERSISTED`], derived from the
//!   reference's intent (also run by the mutation tests).
//! * [`History`] — the shared [`crate::history::Recorder`] under the
//!   key/value model, for the linearizability check of `unreliable3_5b`.
//!
//! All time is virtual (`tokio::time`) and all randomness comes from
//! [`labrpc::rng`], so a failing seed replays exactly.

mod challenge;
mod config;
mod workload;

use std::future::Future;
use std::time::Duration;

pub use crate::history::KvHistory as History;
pub use challenge::{CHALLENGE1_MAX_PERSISTED, challenge1_delete};
pub use config::{Config, Ctrlers, FIRST_GID, NCTRLERS, NGROUPS, server_name};
pub use workload::{
    Appenders, QUIET, check_all, check_and_append, count_completions, keys, put_keys,
    unreliable_schedule, unreliable3,
};

/// The reference `check`: `Get(key)` returns exactly `value`.
pub async fn check(ck: &mut shardkv::Clerk, key: &str, value: &str) {
    tracing::debug!(key, "tester: check");
    let v = ck.get(key).await;
    assert!(v == value, "Get({key}): expected:\n{value}\nreceived:\n{v}");
}

/// Runs `op`, failing the test with `what` if it takes longer than `limit`
/// of virtual time. The reference would simply hang until its test
/// timeout; a bounded wait names the operation that never completed.
pub async fn within<T>(limit: Duration, what: &str, op: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, op).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not complete within {limit:?} of virtual time"),
    }
}
