//! # labrpc — the simulated network and the deterministic simulation
//!
//! The foundation every lab stands on (the reference's `labrpc` package plus
//! what makes our tests replayable). Students use it; they do not change it.
//!
//! ## What it provides
//! * [`Network`], [`ClientEnd`], [`Server`], [`Service`]: a simulated RPC
//!   network with the reference's fault model and numbers — drops, delays,
//!   disconnection, long delays, long reordering, per-server and total RPC and
//!   byte counts. Arguments and replies are always serialized, so no memory
//!   is shared between peers. The fault model, with every number, is
//!   documented in [`network`].
//! * [`Service::call`] runs one of a service's handlers on encoded
//!   arguments, so the same service can be served over another transport
//!   (TinyKV's raftstore over TCP in `tinykv-server`).
//! * [`rpc!`] declares a typed RPC once; [`ClientEnd::call`] and
//!   [`Service::handle`] both name it, so argument and reply types are
//!   checked at compile time.
//! * [`sim`]: runs a test in virtual time on one thread from one seed, with a
//!   120-s virtual limit, a watchdog against spinning tasks, and a replay
//!   command printed on any failure. The rules simulated code must follow
//!   are listed there.
//! * [`rng`]: the single source of randomness for simulated code.
//! * [`ServiceError`] and [`Reply`] (module [`reply`]): the one reply
//!   convention of every lab service — `Result<T, ServiceError<R>>` with
//!   `WrongLeader`, `WrongGroup`, `NotReady`, `Timeout`, `Killed` and
//!   `Rejected(reason)` — and [`ServiceError::retry`], the clerks' one
//!   retry rule ([`Retry`]). kvsrv, kvraft, shardctrler, shardkv and `rsm`
//!   all use it.
//! * [`Shutdown`]: a server's kill switch, a tree of child switches with a
//!   count of the tasks still running under each ([`Shutdown::spawn`],
//!   [`Shutdown::finished`]), so a kill can be awaited until quiet.
//! * [`encode`], [`decode`] with a typed [`CodecError`], and [`to_bytes`]
//!   for the framework's own types, whose encoding cannot fail.
//!
//! ## Invariants
//! * A call always returns, and `Ok` means the handler ran and its reply was
//!   delivered; `Err(Disconnected)` may mean the handler ran anyway.
//! * A server deleted or replaced while its handler runs never delivers
//!   that reply.
//! * One seed, one execution: same messages, same drops, same log bytes.
//!
//! ## Example
//! ```
//! use labrpc::{Network, Server, Service, sim};
//! labrpc::rpc!(pub Echo = "Echo.Say": String => String);
//!
//! sim::run(|| async {
//!     let net = Network::new();
//!     let server = Server::new();
//!     server.add_service(Service::new("Echo").handle::<Echo, _, _>(|s| async move { s }));
//!     net.add_server("echo", server);
//!     let end = net.make_end("client");
//!     net.connect("client", "echo");
//!     net.enable("client", true);
//!     assert_eq!(end.call::<Echo>(&"hi".to_string()).await.unwrap(), "hi");
//! });
//! ```
//!
//! ## Tests
//! `cargo test -p labrpc` runs the reference's labrpc scenarios and the
//! determinism checks; `cargo bench -p labrpc` measures the cost of one RPC.
//! `LAB_SEED=7 RUST_LOG=debug cargo test -p labrpc unreliable -- --nocapture`
//! prints the same bytes on every run.

#![deny(missing_docs)]

mod codec;
mod end;
mod error;
mod log;
pub mod network;
pub mod reply;
pub mod rng;
mod rpc;
mod server;
mod shutdown;
pub mod sim;

pub use codec::{CodecError, decode, encode, to_bytes};
pub use end::ClientEnd;
pub use error::RpcError;
pub use network::Network;
pub use reply::{Never, Reply, Retry, ServiceError};
pub use rpc::Rpc;
pub use server::{Server, Service};
pub use shutdown::Shutdown;
