//! # tester — what the 6.5840 tester and the TinyKV tests share
//!
//! The 6.5840 tester (the `tests` crate) pulls in every lab; the TinyKV
//! tests must not. What both need lives here, on top of only `labrpc` (the
//! simulation's virtual clock and report line) and `linearizability` (the
//! checker). Students never edit this crate.
//!
//! ## Layout
//! * [`history`]: the one history recorder — stamps strictly increasing in
//!   recording order, so "returned before the next call" is always visible
//!   to the checker — and the final linearizability check with its
//!   `LAB_SIM_REPORT` verdict and `LAB_STRICT_CHECK` rule. The kv labs use
//!   [`history::KvHistory`]; a service with its own model records its own
//!   operation types in a [`history::Recorder`] and checks them under that
//!   model (or a model built from the whole history, as the raftstore's
//!   interning one is, with [`history::check_linearizable`]).
//!
//! ## Invariants
//! * Every stamp a recorder hands out is larger than every earlier one, and
//!   within a few nanoseconds of virtual time.
//! * A check's verdict depends only on the history and the step budget,
//!   never on wall time, so a seed always gets the same verdict.
//!
//! ## Tests
//! `cargo test --release -p tester`.

#![deny(missing_docs)]

pub mod history;
