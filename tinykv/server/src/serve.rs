//! The server side of the wire protocol: a [`Router`] of typed handlers by
//! method name (the labrpc RPC markers the simulation uses), served on a
//! TCP listener.
//!
//! Per connection one task reads and parses requests; replies go out
//! through the connection's [`Outbox`](wire::Outbox), those of a burst of
//! pipelined requests in one write. A handler that
//! only reads (RawGet, KvGet, …) runs right in the reader task — a hop to
//! another thread would cost more than the read. One that writes may wait
//! for an fsync or a latch, so it runs on tokio's blocking pool and never
//! stalls the connection. An async handler (a labrpc [`Service`]'s, e.g.
//! the raftstore's `Raftstore` service carrying raft messages between
//! stores) is polled once in the reader task — most finish right there, in
//! the order their requests arrived — and otherwise continues in a task of
//! its own. A request the server cannot parse or route gets
//! an error reply; a frame it cannot even read closes the connection. No
//! input makes it panic.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use labrpc::{Rpc, Service};
use tinykv_storage::RawServer;
use tinykv_storage::service::{RawDelete, RawGet, RawPut, RawScan};
use tinykv_txn::TxnServer;
use tinykv_txn::service::*;
use tokio::net::{TcpListener, TcpStream};

use crate::tso::WallTso;
use crate::wire;

/// Where a handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// In the connection's task: quick, never blocks.
    Inline,
    /// On the blocking pool: may wait for the disk or a latch.
    Blocking,
}

type Handler = Arc<dyn Fn(&[u8]) -> Result<Vec<u8>, String> + Send + Sync>;

/// The encoded reply of an async handler, or why there is none.
type ReplyFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send>>;
type AsyncHandler = Arc<dyn Fn(Vec<u8>) -> ReplyFuture + Send + Sync>;

#[derive(Clone)]
enum Route {
    Sync(Mode, Handler),
    Async(AsyncHandler),
}

/// The methods a server answers.
#[derive(Clone, Default)]
pub struct Router {
    methods: BTreeMap<String, Route>,
}

impl Router {
    /// No methods.
    pub fn new() -> Router {
        Router::default()
    }

    /// Answers RPC `R` with `handler`, run as `mode` says.
    pub fn handle<R: Rpc>(
        mut self,
        mode: Mode,
        handler: impl Fn(R::Args) -> R::Reply + Send + Sync + 'static,
    ) -> Router {
        let erased: Handler = Arc::new(move |bytes| {
            let args: R::Args = labrpc::decode(bytes)
                .map_err(|e| format!("{}: cannot decode the arguments: {e}", R::METHOD))?;
            Ok(labrpc::to_bytes(&handler(args)))
        });
        self.methods
            .insert(R::METHOD.to_string(), Route::Sync(mode, erased));
        self
    }

    /// Answers RPC `R` with an async `handler`, on the connection's task.
    pub fn handle_async<R, F, Fut>(mut self, handler: F) -> Router
    where
        R: Rpc,
        F: Fn(R::Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R::Reply> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let erased: AsyncHandler = Arc::new(move |bytes: Vec<u8>| {
            let handler = handler.clone();
            Box::pin(async move {
                let args: R::Args = labrpc::decode(&bytes)
                    .map_err(|e| format!("{}: cannot decode the arguments: {e}", R::METHOD))?;
                Ok(labrpc::to_bytes(&handler(args).await))
            })
        });
        self.methods
            .insert(R::METHOD.to_string(), Route::Async(erased));
        self
    }

    /// Answers every method of a labrpc `service` with its own (async)
    /// handlers — the same service the simulation serves, over TCP. A
    /// handler that declines (a killed store) is an error reply, which the
    /// caller takes as a lost call.
    pub fn service(mut self, service: Service) -> Router {
        let service = Arc::new(service);
        let names: Vec<String> = service
            .methods()
            .map(|m| format!("{}.{m}", service.name()))
            .collect();
        for name in names {
            let (service, method) = (service.clone(), name.clone());
            let handler: AsyncHandler = Arc::new(move |args| match service.call(&method, args) {
                Some(reply) => Box::pin(async move { reply.await.map_err(|e| e.to_string()) }),
                None => {
                    let why = format!("unknown method {method}");
                    Box::pin(async move { Err(why) })
                }
            });
            self.methods.insert(name, Route::Async(handler));
        }
        self
    }

    /// The raw API (`TinyKv.Raw*`).
    pub fn raw(self, raw: RawServer) -> Router {
        let (get, put, delete, scan) = (raw.clone(), raw.clone(), raw.clone(), raw);
        self.handle::<RawGet>(Mode::Inline, move |req| get.raw_get(req))
            .handle::<RawScan>(Mode::Inline, move |req| scan.raw_scan(req))
            .handle::<RawPut>(Mode::Blocking, move |req| put.raw_put(req))
            .handle::<RawDelete>(Mode::Blocking, move |req| delete.raw_delete(req))
    }

    /// The transactional API (`TinyKvTxn.Kv*`): reads inline, the writing
    /// commands (which latch and sync) on the blocking pool.
    pub fn txn(self, txn: TxnServer) -> Router {
        macro_rules! route {
            ($router:expr, $($rpc:ident => $mode:ident $method:ident),* $(,)?) => {{
                let router = $router;
                $(
                    let server = txn.clone();
                    let router = router.handle::<$rpc>(Mode::$mode, move |req| {
                        server.$method(req).map_err(|e| e.to_string())
                    });
                )*
                router
            }};
        }
        route!(self,
            KvGet => Inline kv_get,
            KvScan => Inline kv_scan,
            KvPrewrite => Blocking kv_prewrite,
            KvCommit => Blocking kv_commit,
            KvCheckTxnStatus => Blocking kv_check_txn_status,
            KvBatchRollback => Blocking kv_batch_rollback,
            KvResolveLock => Blocking kv_resolve_lock,
        )
    }

    /// The timestamp oracle (`Tso.GetTimestamp`). Inline: a call takes a
    /// mutex, and only once every [`WINDOW_MS`](crate::tso::WINDOW_MS)
    /// syncs its high-water mark — a short stall of one connection, against
    /// two hops between threads on every call (two calls per transaction).
    pub fn tso(self, tso: WallTso) -> Router {
        self.handle::<GetTimestamp>(Mode::Inline, move |count| {
            tso.get(count).map_err(|e| e.to_string())
        })
    }

    /// The names of the methods it answers, for error messages.
    fn names(&self) -> String {
        let names: Vec<&str> = self.methods.keys().map(String::as_str).collect();
        names.join(", ")
    }
}

/// Serves `router` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, router: Router) {
    let router = Arc::new(router);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // E.g. out of file descriptors: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        tokio::spawn(connection(stream, router.clone()));
    }
}

async fn connection(stream: TcpStream, router: Arc<Router>) {
    let _ = stream.set_nodelay(true);
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (read, write) = stream.into_split();
    let outbox = wire::Outbox::new(write);
    let mut read = wire::FrameReader::new(read, 64 * 1024);
    // Replies of inline handlers, sent together once every request already
    // received is handled (one write for a burst of pipelined requests).
    let mut out = Vec::new();
    loop {
        if !out.is_empty() && !read.has_frame() {
            if !outbox.send(&out) {
                return;
            }
            out.clear();
        }
        let frame = match read.next().await {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                // The client is done sending; it may still read.
                outbox.send(&out);
                return;
            }
            Err(e) => {
                tracing::warn!("connection from {peer} dropped: {e}");
                return;
            }
        };
        let req = match wire::parse_request(frame) {
            Ok(req) => req,
            Err(e) => {
                tracing::warn!("connection from {peer} dropped: malformed request: {e}");
                return;
            }
        };
        let id = req.id;
        let Some(route) = router.methods.get(req.method) else {
            let why = format!(
                "unknown method {:?} (this server answers {})",
                req.method,
                router.names()
            );
            wire::put_reply(&mut out, id, Err(&why));
            continue;
        };
        match route {
            Route::Async(handler) => {
                let mut reply = handler(req.args.to_vec());
                // Most finish at once (a raft message is stepped and
                // answered synchronously): answer in order, no task.
                match reply.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                    Poll::Ready(reply) => put_reply(&mut out, id, reply),
                    Poll::Pending => {
                        let outbox = outbox.clone();
                        tokio::spawn(async move {
                            let reply = reply.await;
                            let mut out = Vec::new();
                            put_reply(&mut out, id, reply);
                            outbox.send(&out);
                        });
                    }
                }
            }
            Route::Sync(Mode::Inline, handler) => put_reply(&mut out, id, handler(req.args)),
            Route::Sync(Mode::Blocking, handler) => {
                let (handler, args, outbox) = (handler.clone(), req.args.to_vec(), outbox.clone());
                tokio::spawn(async move {
                    let reply = match tokio::task::spawn_blocking(move || handler(&args)).await {
                        Ok(reply) => reply,
                        Err(e) => Err(format!("the handler failed: {e}")),
                    };
                    let mut out = Vec::new();
                    put_reply(&mut out, id, reply);
                    outbox.send(&out);
                });
            }
        }
    }
}

fn put_reply(out: &mut Vec<u8>, id: u64, reply: Result<Vec<u8>, String>) {
    match &reply {
        Ok(body) => wire::put_reply(out, id, Ok(body)),
        Err(why) => wire::put_reply(out, id, Err(why)),
    }
}
