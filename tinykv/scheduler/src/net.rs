//! The scheduler as a real server over TCP (tarpc, bincode frames), as
//! `tinykv-scheduler` runs it.

use futures::StreamExt;
use tarpc::serde_transport;
use tarpc::server::{BaseChannel, Channel};
use tarpc::tokio_serde::formats::Bincode;
use tarpc::tokio_util::codec::LengthDelimitedCodec;
use tokio::net::{TcpListener, TcpStream};

use crate::Error;
use crate::messages::{
    AskSplitRequest, AskSplitResponse, GetRegionResponse, PutStoreRequest, RegionHeartbeatRequest,
    RegionHeartbeatResponse, StoreHeartbeatRequest, TsoRequest,
};
use crate::region::RegionInfo;
use crate::server::SchedulerServer;
use crate::store::StoreInfo;

/// Largest frame either side accepts (a region heartbeat is small; this
/// bounds what a bad client can make the server buffer).
pub const MAX_FRAME: usize = 4 * 1024 * 1024;

/// The scheduler service as tarpc sees it; each method is the
/// [`SchedulerServer`] method of the same name.
#[tarpc::service]
pub trait SchedulerRpc {
    /// See [`SchedulerServer::put_store`].
    async fn put_store(req: PutStoreRequest) -> Result<(), Error>;
    /// See [`SchedulerServer::store_heartbeat`].
    async fn store_heartbeat(req: StoreHeartbeatRequest) -> Result<(), Error>;
    /// See [`SchedulerServer::region_heartbeat`].
    async fn region_heartbeat(
        req: RegionHeartbeatRequest,
    ) -> Result<RegionHeartbeatResponse, Error>;
    /// See [`SchedulerServer::alloc_id`].
    async fn alloc_id() -> Result<u64, Error>;
    /// See [`SchedulerServer::get_tso`].
    async fn get_tso(req: TsoRequest) -> Result<u64, Error>;
    /// See [`SchedulerServer::get_region`].
    async fn get_region(key: Vec<u8>) -> Result<Option<GetRegionResponse>, Error>;
    /// See [`SchedulerServer::ask_split`].
    async fn ask_split(req: AskSplitRequest) -> Result<AskSplitResponse, Error>;
    /// See [`SchedulerServer::list_regions`].
    async fn list_regions() -> Result<Vec<RegionInfo>, Error>;
    /// See [`SchedulerServer::list_stores`].
    async fn list_stores() -> Result<Vec<StoreInfo>, Error>;
}

/// The per-connection handler: every call is a short critical section, so
/// it runs inline.
#[derive(Clone)]
struct Handler(SchedulerServer);

impl SchedulerRpc for Handler {
    async fn put_store(
        self,
        _: tarpc::context::Context,
        req: PutStoreRequest,
    ) -> Result<(), Error> {
        self.0.put_store(req)
    }
    async fn store_heartbeat(
        self,
        _: tarpc::context::Context,
        req: StoreHeartbeatRequest,
    ) -> Result<(), Error> {
        self.0.store_heartbeat(req)
    }
    async fn region_heartbeat(
        self,
        _: tarpc::context::Context,
        req: RegionHeartbeatRequest,
    ) -> Result<RegionHeartbeatResponse, Error> {
        self.0.region_heartbeat(req)
    }
    async fn alloc_id(self, _: tarpc::context::Context) -> Result<u64, Error> {
        self.0.alloc_id()
    }
    async fn get_tso(self, _: tarpc::context::Context, req: TsoRequest) -> Result<u64, Error> {
        self.0.get_tso(req)
    }
    async fn get_region(
        self,
        _: tarpc::context::Context,
        key: Vec<u8>,
    ) -> Result<Option<GetRegionResponse>, Error> {
        self.0.get_region(key)
    }
    async fn ask_split(
        self,
        _: tarpc::context::Context,
        req: AskSplitRequest,
    ) -> Result<AskSplitResponse, Error> {
        self.0.ask_split(req)
    }
    async fn list_regions(self, _: tarpc::context::Context) -> Result<Vec<RegionInfo>, Error> {
        self.0.list_regions()
    }
    async fn list_stores(self, _: tarpc::context::Context) -> Result<Vec<StoreInfo>, Error> {
        self.0.list_stores()
    }
}

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

/// Binds `addr` (port 0 picks a free port).
pub async fn bind(addr: &str) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Net(format!("cannot listen on {addr}: {e}")))
}

/// Serves `server` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, server: SchedulerServer) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
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
pub type Client = SchedulerRpcClient;

/// Connects to a scheduler at `addr`.
pub async fn connect(addr: &str) -> Result<Client, Error> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| Error::Net(format!("cannot connect to {addr}: {e}")))?;
    let _ = stream.set_nodelay(true);
    let transport = serde_transport::new(
        tarpc::tokio_util::codec::Framed::new(stream, codec()),
        Bincode::default(),
    );
    Ok(SchedulerRpcClient::new(tarpc::client::Config::default(), transport).spawn())
}

/// A call's deadline (10 s).
pub fn context() -> tarpc::context::Context {
    let mut ctx = tarpc::context::current();
    ctx.deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    ctx
}
