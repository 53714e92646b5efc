//! # MapReduce (Lab 1)
//!
//! A coordinator hands out map and reduce tasks to worker processes over RPC;
//! workers run an application's `map` and `reduce` functions and exchange
//! data through files in a shared directory. This is the one lab that runs
//! real processes in real time (no simulated network).
//!
//! ## What a student implements, and where
//! * `coordinator/state.rs`: the task table — hand out maps, then reduces;
//!   re-issue a task after a silent-worker timeout; ignore duplicate and late
//!   reports; tell workers to exit when the job is done.
//! * `worker.rs`: ask for a task, run it (with `task.rs`'s [`run_map`] /
//!   [`run_reduce`], which write `mr-X-Y` / `mr-out-Y` atomically), report,
//!   repeat.
//!
//! These are the `SOLUTION 1` regions that `labtool skeleton` turns into
//! holes; `task.rs` stays given because `mrsequential`, the scenarios'
//! reference output, runs through it too.
//!
//! ## What the framework provides
//! * `rpc.rs`: the RPC messages ([`Assignment`], [`Report`], [`Status`]),
//!   the tarpc service, UNIX-socket and TCP transports ([`Endpoint`]),
//!   stale-socket handling. `coordinator/service.rs` is the thin async layer
//!   that drives the task table; [`Coordinator`] / [`run_coordinator`] start
//!   it.
//! * [`apps`]: the reference's eight apps (`wc`, `indexer`, `mtiming`,
//!   `rtiming`, `jobcount`, `early_exit`, `crash`, `nocrash`), chosen by name.
//! * `files.rs`: file naming, the intermediate format, atomic writes;
//!   `ihash.rs`: the reference's key partitioning (FNV-1a, 31 bits).
//!
//! Not in the library: the binaries' command lines (`src/bin/front/cli.rs`)
//! and `mrjob`, the one-command demo with its generated corpus and progress
//! display (`src/bin/mrjob/`).
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
mod coordinator;
mod error;
mod files;
mod ihash;
mod rpc;
mod task;
mod worker;

pub use app::{App, KeyValue, MapFn, ReduceFn, app_names, find_app};
pub use coordinator::{
    Coordinator, CoordinatorConfig, DEFAULT_LINGER, DEFAULT_N_REDUCE, DEFAULT_TASK_TIMEOUT,
    JobReport, run_coordinator,
};
pub use error::MrError;
pub use files::{check_inputs, intermediate_name, is_job_file, output_name};
pub use ihash::{ihash, partition};
pub use rpc::{
    Assignment, Client, Endpoint, Listener, Outcome, Report, Status, TaskId, default_socket_path,
    user_tag,
};
pub use task::{run_map, run_reduce, run_sequential};
pub use worker::{DEFAULT_CONNECT_TIMEOUT, WorkerConfig, WorkerExit, WorkerSummary, run_worker};
