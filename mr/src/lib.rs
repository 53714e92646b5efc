//! # MapReduce (Lab 1)
//!
//! A coordinator hands out map and reduce tasks to worker processes over RPC;
//! workers run an application's `map` and `reduce` functions and exchange
//! data through files in a shared directory. This is the one lab that runs
//! real processes in real time (no simulated network).
//!
//! ## What a student implements, and where
//! * [`coordinator::state`]: the task table — hand out maps, then reduces;
//!   re-issue a task after a silent-worker timeout; ignore duplicate and late
//!   reports; tell workers to exit when the job is done.
//! * [`worker`]: ask for a task, run it (with [`task`]'s `run_map` /
//!   `run_reduce`, which write `mr-X-Y` / `mr-out-Y` atomically), report,
//!   repeat.
//!
//! These are the `SOLUTION 1` regions that `labtool skeleton` turns into
//! holes; [`task`] stays given because `mrsequential`, the scenarios'
//! reference output, runs through it too.
//!
//! ## What the framework provides
//! * [`rpc`]: the tarpc service definition, UNIX-socket and TCP transports,
//!   stale-socket handling. [`coordinator`]'s `service` module is the thin
//!   async layer that drives the task table.
//! * [`apps`]: the reference's eight apps (`wc`, `indexer`, `mtiming`,
//!   `rtiming`, `jobcount`, `early_exit`, `crash`, `nocrash`), chosen by name.
//! * [`files`]: file naming, the intermediate format, atomic writes;
//!   [`ihash`]: the reference's key partitioning (FNV-1a, 31 bits).
//! * [`cli`]: the binaries' front ends (`mrcoordinator`, `mrworker`,
//!   `mrsequential`, `mrjob`), reusable by a user's own app crate.
//! * [`job`] and [`corpus`]: `mrjob`, the one-command demo, and its
//!   deterministic generated corpus.
//!
//! ## Invariants
//! * No reduce task starts before every map task is done.
//! * Each task is counted done once; its output files appear only complete
//!   (temporary file + rename), so a killed worker never corrupts output.
//! * A job with crashing workers produces exactly `mrsequential`'s output.
//! * Binaries never panic on bad input: one clear line, non-zero exit.
//!
//! ## Running
//! * One job: `cargo run --release -p mr --bin mrjob`.
//! * Tests (the seven `test-mr.sh` scenarios with real processes, plus unit
//!   tests): `cargo test --release -p mr`. The scenarios also run on the
//!   Gutenberg books when `../shared/data/pg` exists next to the workspace.
//! * Benchmark (sequential vs. distributed `wc` on the books):
//!   `cargo bench -p mr --bench wc`.
#![deny(missing_docs)]

mod app;
pub mod apps;
pub mod cli;
pub mod coordinator;
pub mod corpus;
mod error;
pub mod files;
pub mod ihash;
pub mod job;
pub mod progress;
pub mod rng;
pub mod rpc;
pub mod task;
pub mod worker;

pub use app::{App, KeyValue, MapFn, ReduceFn, app_names, find_app};
pub use coordinator::{CoordinatorConfig, JobReport, run_coordinator};
pub use error::MrError;
pub use rpc::{Endpoint, Listener, default_socket_path};
pub use worker::{WorkerConfig, WorkerExit, WorkerSummary, run_worker};
