//! The raw KV service as a real server over TCP (tarpc, bincode frames),
//! as `tinykv-server` runs it and `tinykv-ctl` talks to it.

use std::net::SocketAddr;

use futures::StreamExt;
use tarpc::serde_transport;
use tarpc::server::{BaseChannel, Channel};
use tarpc::tokio_serde::formats::Bincode;
use tarpc::tokio_util::codec::LengthDelimitedCodec;
use tokio::net::{TcpListener, TcpStream};

use crate::Error;
use crate::raw::{
    RawDeleteRequest, RawDeleteResponse, RawGetRequest, RawGetResponse, RawPutRequest,
    RawPutResponse, RawScanRequest, RawScanResponse, RawServer,
};

/// Largest frame either side accepts: a maximal value or scan plus room.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// The raw KV service as tarpc sees it.
#[tarpc::service]
pub trait TinyKv {
    /// See [`RawServer::raw_get`].
    async fn raw_get(req: RawGetRequest) -> RawGetResponse;
    /// See [`RawServer::raw_put`].
    async fn raw_put(req: RawPutRequest) -> RawPutResponse;
    /// See [`RawServer::raw_delete`].
    async fn raw_delete(req: RawDeleteRequest) -> RawDeleteResponse;
    /// See [`RawServer::raw_scan`].
    async fn raw_scan(req: RawScanRequest) -> RawScanResponse;
}

/// The per-connection tarpc handler. Writes may block on disk (a synced
/// commit waits for fsync), so they run on tokio's blocking pool and never
/// stall the connections' I/O; reads only touch pages already mapped or
/// cached and run inline (a hop to the blocking pool cost more than the
/// read itself in the benchmark).
#[derive(Clone)]
struct Handler(RawServer);

impl Handler {
    async fn blocking<T: Send + 'static>(
        self,
        f: impl FnOnce(RawServer) -> T + Send + 'static,
        failed: impl FnOnce(String) -> T,
    ) -> T {
        match tokio::task::spawn_blocking(move || f(self.0)).await {
            Ok(reply) => reply,
            Err(e) => failed(format!("server task failed: {e}")),
        }
    }
}

impl TinyKv for Handler {
    async fn raw_get(self, _: tarpc::context::Context, req: RawGetRequest) -> RawGetResponse {
        self.0.raw_get(req)
    }
    async fn raw_put(self, _: tarpc::context::Context, req: RawPutRequest) -> RawPutResponse {
        self.blocking(
            move |s| s.raw_put(req),
            |error| RawPutResponse {
                error,
                ..Default::default()
            },
        )
        .await
    }
    async fn raw_delete(
        self,
        _: tarpc::context::Context,
        req: RawDeleteRequest,
    ) -> RawDeleteResponse {
        self.blocking(
            move |s| s.raw_delete(req),
            |error| RawDeleteResponse {
                error,
                ..Default::default()
            },
        )
        .await
    }
    async fn raw_scan(self, _: tarpc::context::Context, req: RawScanRequest) -> RawScanResponse {
        self.0.raw_scan(req)
    }
}

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

/// Binds `addr` (port 0 picks a free port; see the returned address).
pub async fn bind(addr: &str) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Net(format!("cannot listen on {addr}: {e}")))
}

/// Serves `server` on `listener` until the task is dropped; each
/// connection gets its own task, each request its own.
pub async fn serve(listener: TcpListener, server: RawServer) {
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
        let _ = stream.set_nodelay(true);
        let handler = Handler(server.clone());
        tokio::spawn(async move {
            let transport = serde_transport::new(
                tarpc::tokio_util::codec::Framed::new(stream, codec()),
                Bincode::default(),
            );
            BaseChannel::with_defaults(transport)
                .execute(handler.serve())
                .for_each(|request| async {
                    tokio::spawn(request);
                })
                .await;
        });
    }
}

/// A connected client.
pub type Client = TinyKvClient;

/// Connects to a server at `addr`.
pub async fn connect(addr: &str) -> Result<Client, Error> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| Error::Net(format!("cannot connect to {addr}: {e}")))?;
    let _ = stream.set_nodelay(true);
    let transport = serde_transport::new(
        tarpc::tokio_util::codec::Framed::new(stream, codec()),
        Bincode::default(),
    );
    Ok(TinyKvClient::new(tarpc::client::Config::default(), transport).spawn())
}

/// A call's deadline: far enough for a maximal scan on a slow disk.
pub fn context() -> tarpc::context::Context {
    let mut ctx = tarpc::context::current();
    ctx.deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    ctx
}

/// The address a listener is bound to, for printing.
pub fn local_addr(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}
