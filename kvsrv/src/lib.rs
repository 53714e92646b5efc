//! # kvsrv — Lab 2: a key/value server with at-most-once writes
//!
//! One server holds a map from string keys to string values; clerks call
//! `Get`, `Put` and `Append` (which returns the old value) over the
//! simulated network. The network may drop requests and — after the handler
//! ran — replies, so clerks retry, and the server must apply each write at
//! most once while keeping almost no memory per clerk.
//!
//! ## Layout
//! * `store.rs` — **student code**: [`KvStore`], the pure state machine:
//!   apply a request, answer it, and the duplicate table that makes retries
//!   harmless. No clocks, tasks or network; unit-tested directly.
//! * `server.rs` — **student code**: [`KvServer`], the labrpc `KVServer`
//!   service, a thin lock-apply-reply layer over the store.
//! * `clerk.rs` — **student code**: [`Clerk`], which numbers its operations
//!   and retries each until it gets a reply.
//! * `messages.rs` — the three RPCs ([`Get`], [`Put`], [`Append`]) and their
//!   arguments.
//!
//! The framework gives the simulated network and the deterministic
//! simulation (`labrpc`) and the tester (`tests` crate, `tests/src/kvsrv`).
//!
//! ## Invariants
//! * Each clerk operation takes effect at most once, however often it is
//!   retried, and a retry gets the first execution's answer.
//! * The server remembers at most one write per clerk — the last one — and
//!   forgets it when the clerk's next request shows it saw the reply. Gets
//!   are never remembered; an Append's reply is kept as a *length* into the
//!   current value, not a copy, whenever that is possible.
//! * Replies follow the labs' one convention, [`labrpc::Reply`]: a
//!   malformed request (stale or reused sequence number) is refused with
//!   `ServiceError::Rejected(`[`Rejection`]`)`, which the clerk returns
//!   rather than retrying; no input makes a server task panic.
//!
//! ## Tests
//! `cargo test -p kvsrv` runs the state machine's unit tests and
//! `tests/bad_input.rs` (malformed requests get error replies);
//! `cargo test -p tests --release --test kvsrv_2` runs the reference
//! scenarios (including the memory checks) in virtual time. A failure prints
//! the `LAB_SEED=… cargo test …` command that replays it.

#![deny(missing_docs)]

mod clerk;
mod messages;
mod server;
mod store;

pub use clerk::Clerk;
pub use messages::{Append, ClientId, Get, GetArgs, OpKind, Put, PutAppendArgs};
pub use server::KvServer;
#[cfg(feature = "mutants")]
pub use server::MUTANT_FORGETS_DUPLICATES;
pub use store::KvStore;

use serde::{Deserialize, Serialize};

/// The errors of this crate: what [`Clerk::try_get`] and friends return
/// when retrying cannot help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The server refused the request (see [`Rejection`]).
    #[error("request rejected: {0}")]
    Rejected(#[from] Rejection),
    /// A network error that retrying cannot fix: the network was shut down,
    /// or the server has no `KVServer` service.
    #[error("rpc failed: {0}")]
    Rpc(#[from] labrpc::RpcError),
}

/// Why the server refuses to apply a request: the reason it sends in
/// `ServiceError::Rejected`. Kept apart from [`Error`] because it travels
/// in replies, so it must be serializable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum Rejection {
    /// A request older than the clerk's last remembered write: a clerk with
    /// one call outstanding never sends one.
    #[error("client {client:#x}: request {seq} arrived after request {latest}")]
    StaleRequest {
        /// The clerk.
        client: ClientId,
        /// The request's sequence number.
        seq: u64,
        /// The clerk's latest remembered sequence number.
        latest: u64,
    },
    /// A sequence number reused for a different operation: a retry must
    /// resend the same operation.
    #[error("client {client:#x}: sequence number {seq} used for a {previous} and then a {now}")]
    SequenceReused {
        /// The clerk.
        client: ClientId,
        /// The reused sequence number.
        seq: u64,
        /// The remembered operation.
        previous: OpKind,
        /// The operation now sent with the same number.
        now: OpKind,
    },
    /// The server could not rebuild the reply of a remembered Append (a
    /// broken duplicate table; reported rather than guessed).
    #[error("client {client:#x}: the reply to append {seq} was lost by the server")]
    ReplyLost {
        /// The clerk.
        client: ClientId,
        /// The Append's sequence number.
        seq: u64,
    },
}
