//! The Lab 2 (kvsrv) harness: the reference `kvsrv/config.go` and the
//! bodies of its tests, each a parameterised `async fn` that
//! `tests/kvsrv_2.rs` runs in a simulation.
//!
//! * `config.rs` — [`Config`]: one server, clerks on random end names,
//!   counted and recorded operations, the `  ... Passed --` summary line.
//! * `generic.rs` — [`generic_test`] (the reference `GenericTest`) and
//!   [`unreliable_one_key`].
//! * `memory.rs` — the six memory scenarios.
//! * [`mem`] — the counting global allocator those scenarios read.
//! * [`History`] — the shared [`crate::history::Recorder`] under the
//!   key/value model; `History::check` is the final check.

mod config;
mod generic;
pub mod mem;
mod memory;

pub use crate::history::KvHistory as History;
pub use config::Config;
pub use generic::{generic_test, unreliable_one_key};
pub use memory::{
    mem_append, mem_get, mem_get_many_clients, mem_many_appends, mem_put, mem_put_many_clients,
};
