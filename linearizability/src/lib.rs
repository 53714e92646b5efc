//! # linearizability — a Porcupine-class linearizability checker
//!
//! Framework crate (no student code): the judge of Lab 2 (kvsrv), Lab 4
//! (kvraft) and Lab 5B (shardkv). The testers record every clerk operation
//! with its virtual call and return times, then ask this crate whether some
//! single order of the operations, consistent with real time, explains every
//! result. On a violation it writes an HTML report a person can read.
//!
//! ## How the testers use it
//! ```
//! use linearizability::{
//!     CheckOptions, CheckResult, KvInput, KvModel, KvOutput, Operation,
//!     check_operations_verbose, visualize_temp,
//! };
//! // client 0 puts 'x' during [0, 10]; client 1 reads '' during [5, 20]:
//! // linearizable (the read may come first).
//! let history = vec![
//!     Operation::new(0, KvInput::put("k", "x"), 0, KvOutput::default(), 10),
//!     Operation::new(1, KvInput::get("k"), 5, KvOutput::new(""), 20),
//! ];
//! let (result, info) =
//!     check_operations_verbose(&KvModel, &history, CheckOptions::default()).unwrap();
//! match result {
//!     CheckResult::Ok => {}
//!     CheckResult::Illegal => {
//!         let path = visualize_temp(&KvModel, &info).unwrap();
//!         println!("info: wrote history visualization to {}", path.display());
//!         panic!("history is not linearizable");
//!     }
//!     CheckResult::Unknown => {
//!         println!("info: linearizability check timed out, assuming history is ok");
//!     }
//! }
//! # assert_eq!(result, CheckResult::Ok);
//! ```
//!
//! ## Layout
//! * `operation.rs` — [`Operation`] (client, input, call, output, return) and
//!   [`validate_history`].
//! * `model.rs` — the [`Model`] trait: init, step, equality, partition,
//!   descriptions.
//! * `checker.rs` — [`check_operations`], [`check_operations_budget`],
//!   [`check_operations_verbose`], [`CheckResult`], [`CheckOptions`] and the
//!   deterministic budget [`DEFAULT_MAX_STEPS`]; partitions share the budget
//!   round-robin.
//! * `search.rs` — the Wing–Gong/Lowe search over one partition: call and
//!   return entries sorted by time (calls first on ties) in a doubly linked
//!   list, depth-first with an undo stack, memo cache keyed by (bitset of
//!   linearized operations, state). Two additions to Porcupine's algorithm,
//!   both explained there: a legal read ([`Model::is_read_only`]) that may
//!   come next is linearized without branching, and verbose mode's
//!   bookkeeping is amortised instead of scanning the prefix per failure.
//! * `bitset.rs`, `cache.rs` — the memo cache: the set's bitset with its O(1)
//!   Zobrist hash, and flat arenas of (set, state) entries.
//! * `info.rs` — [`LinearizationInfo`]/[`PartitionInfo`]: per partition, the
//!   verdict and the longest partial linearizations.
//! * `kv.rs` — [`KvModel`]: get, put, append, append-with-old-value,
//!   partitioned by key.
//! * `history.rs` — histories to and from JSON ([`save_history`],
//!   [`load_history`]).
//! * `visualize.rs` (+ `visualize/report.{css,js}`) — the self-contained HTML
//!   report ([`visualize`], [`visualize_path`], [`visualize_temp`]).
//!
//! ## Invariants
//! * **Never a false `Illegal`.** `Illegal` is only returned when a search
//!   finished and proved that no order exists. Running out of budget gives
//!   `Unknown`.
//! * **Deterministic.** The budget counts search steps, not wall-clock time
//!   (Porcupine uses a timeout): the same history and options give the same
//!   verdict on any machine, under any load, which is what a replayable
//!   simulated test needs. No threads, no clocks, no randomness; the memo
//!   cache is a hash map that is looked up but never iterated.
//!   [`DEFAULT_MAX_STEPS`] is about one second of work on the development
//!   machine (measured by the benchmark). Storing a long state costs extra
//!   steps ([`Model::state_size`]), so the budget also bounds the memory the
//!   memo cache can take.
//! * Partitions are independent: the verdict is `Illegal` if any partition
//!   is, else `Unknown` if any ran out of budget, else `Ok`.
//!
//! ## Tests
//! `cargo test -p linearizability` (hand-made and random histories, a
//! brute-force cross-check, JSON round trips, the report);
//! `cargo bench -p linearizability` times a 10,000-operation history.

#![deny(missing_docs)]

mod bitset;
mod cache;
mod checker;
mod error;
mod history;
mod info;
mod kv;
mod model;
mod operation;
mod search;
mod visualize;

pub use checker::{
    CheckOptions, CheckResult, DEFAULT_MAX_STEPS, check_operations, check_operations_budget,
    check_operations_verbose,
};
pub use error::Error;
pub use history::{load_history, read_history, save_history, write_history};
pub use info::{LinearizationInfo, ModelInfo, PartialLinearization, PartitionInfo};
pub use kv::{KvInput, KvModel, KvOp, KvOperation, KvOutput};
pub use model::Model;
pub use operation::{Operation, validate_history};
pub use visualize::{MAX_DESCRIPTION_CHARS, visualize, visualize_path, visualize_temp};
