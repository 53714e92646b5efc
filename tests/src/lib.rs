//! # tests — the tester
//!
//! The harness of every simulated lab, mirroring the reference `config.go`
//! files, and (under `tests/`) every lab's test scenarios. It uses only the
//! public APIs of the lab crates. **Students never edit this crate**: the
//! grader runs it as it is.
//!
//! ## Layout
//! * [`raft`]: the Raft harness (`make_config`, `check_one_leader`, `one`, crash and restart, the appliers).
//! * [`kvsrv`]: the Lab 2 harness and the memory accounting its tests use.
//! * [`kvraft`]: the Lab 4 harness (`GenericTest`, partitions, crash and restart).
//! * [`shardctrler`]: the Lab 5A controller harness.
//! * [`shardkv`]: the Lab 5B harness (groups, controllers, `make_end` by name).
//! * [`group`]: the replica group every config builds on (servers, ends,
//!   persisters, crash, restart, partitions).
//! * [`history`]: the one history recorder the kv labs instantiate, with
//!   stamps that keep the real order, and the final linearizability check
//!   (re-exported from the `tester` crate, which the TinyKV tests share).
//!
//! ## Invariants
//! * Every bound is the reference's, in virtual time, or tighter; where one
//!   cannot carry over (gob byte counts, Go heap figures) the scenario says
//!   in a comment how ours was derived.
//! * Every scenario runs inside [`labrpc::sim`], so its whole execution is
//!   a function of its seed; `deterministic_replay_3c`, `_4b` and `_5b`
//!   check that for each stack, and `labtool stress --twice` checks it for
//!   any test and seed.
//!
//! ## Running
//! `cargo test -p tests 3a` runs the 3A scenarios (any part: `3b`, `4a`, `_2`, …);
//! a failing scenario prints its seed and the command that replays it.

pub mod group;
pub use tester::history;
pub mod kvraft;
pub mod kvsrv;
pub mod raft;
pub mod shardctrler;
pub mod shardkv;
