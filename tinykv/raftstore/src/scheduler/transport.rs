//! The transports of [`SchedulerRpc`]: a `labrpc::ClientEnd` to the
//! scheduler's labrpc service `Scheduler` (the simulation), and the
//! scheduler's TCP client (`tinykv_scheduler::net`, a real process) —
//! as is, or as [`TcpScheduler`], which connects on first use and again
//! after a failure. All carry the scheduler's own messages; the
//! conversions are [`heartbeat_request`] and [`operator_of`].

use std::fmt::Display;
use std::sync::{Arc, Mutex};

use labrpc::ClientEnd;
use tinykv_scheduler::messages::{
    AskSplitRequest, PutStoreRequest, StoreHeartbeatRequest, TsoRequest,
};
use tinykv_scheduler::{Store, StoreStats, net, service};

use super::remote::{RemoteScheduler, RpcFuture, SchedulerRpc, heartbeat_request, operator_of};
use super::{Operator, RegionHeartbeat};
use crate::Error;
use crate::meta::Region;

/// A reply of the scheduler over a transport whose failure is `E`: a lost
/// call is a `Net` error, a refusal the scheduler's own.
fn flatten<T, E: Display>(
    reply: Result<Result<T, tinykv_scheduler::Error>, E>,
) -> Result<T, Error> {
    match reply {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(refusal)) => Err(Error::Scheduler(refusal)),
        Err(lost) => Err(Error::Scheduler(tinykv_scheduler::Error::Net(
            lost.to_string(),
        ))),
    }
}

/// The simulation: calls the `Scheduler` labrpc service.
impl SchedulerRpc for ClientEnd {
    fn put_store(&self, store: Store) -> RpcFuture<()> {
        let end = self.clone();
        Box::pin(async move {
            let request = PutStoreRequest { store };
            flatten(end.call::<service::PutStore>(&request).await)
        })
    }

    fn store_heartbeat(&self, stats: StoreStats) -> RpcFuture<()> {
        let end = self.clone();
        Box::pin(async move {
            let request = StoreHeartbeatRequest { stats };
            flatten(end.call::<service::StoreHeartbeat>(&request).await)
        })
    }

    fn region_heartbeat(&self, heartbeat: RegionHeartbeat) -> RpcFuture<Option<Operator>> {
        let end = self.clone();
        Box::pin(async move {
            let request = heartbeat_request(heartbeat);
            flatten(end.call::<service::RegionHeartbeat>(&request).await).map(operator_of)
        })
    }

    fn ask_split(&self, region: Region) -> RpcFuture<(u64, Vec<u64>)> {
        let end = self.clone();
        Box::pin(async move {
            let request = AskSplitRequest { region };
            let reply = flatten(end.call::<service::AskSplit>(&request).await)?;
            Ok((reply.new_region_id, reply.new_peer_ids))
        })
    }
}

/// A real process: calls a `tinykv-scheduler` over TCP, each call with
/// the client's 10 s deadline ([`net::context`]).
impl SchedulerRpc for net::Client {
    fn put_store(&self, store: Store) -> RpcFuture<()> {
        let client = self.clone();
        Box::pin(async move {
            let request = PutStoreRequest { store };
            flatten(client.put_store(net::context(), request).await)
        })
    }

    fn store_heartbeat(&self, stats: StoreStats) -> RpcFuture<()> {
        let client = self.clone();
        Box::pin(async move {
            let request = StoreHeartbeatRequest { stats };
            flatten(client.store_heartbeat(net::context(), request).await)
        })
    }

    fn region_heartbeat(&self, heartbeat: RegionHeartbeat) -> RpcFuture<Option<Operator>> {
        let client = self.clone();
        Box::pin(async move {
            let request = heartbeat_request(heartbeat);
            flatten(client.region_heartbeat(net::context(), request).await).map(operator_of)
        })
    }

    fn ask_split(&self, region: Region) -> RpcFuture<(u64, Vec<u64>)> {
        let client = self.clone();
        Box::pin(async move {
            let request = AskSplitRequest { region };
            let reply = flatten(client.ask_split(net::context(), request).await)?;
            Ok((reply.new_region_id, reply.new_peer_ids))
        })
    }
}

/// The `tinykv-scheduler` at an address, over TCP: connected on first use,
/// and again on the call after one that failed in transport (the
/// scheduler restarted or the connection broke; a refusal keeps the
/// connection). A real process's transport.
#[derive(Clone)]
pub struct TcpScheduler {
    addr: String,
    /// The connection, if one is up.
    client: Arc<Mutex<Option<net::Client>>>,
}

impl TcpScheduler {
    /// The scheduler at `addr`; nothing is connected yet.
    pub fn new(addr: impl Into<String>) -> TcpScheduler {
        TcpScheduler {
            addr: addr.into(),
            client: Arc::default(),
        }
    }

    /// Runs `call` over the connection, connecting first if there is none,
    /// and drops the connection if the call failed in transport.
    fn with_client<T: Send + 'static>(
        &self,
        call: impl FnOnce(net::Client) -> RpcFuture<T> + Send + 'static,
    ) -> RpcFuture<T> {
        let this = self.clone();
        Box::pin(async move {
            let existing = this.lock().clone();
            let client = match existing {
                Some(client) => client,
                None => {
                    let client = net::connect(&this.addr).await.map_err(Error::Scheduler)?;
                    *this.lock() = Some(client.clone());
                    client
                }
            };
            let result = call(client).await;
            if let Err(Error::Scheduler(tinykv_scheduler::Error::Net(_))) = &result {
                *this.lock() = None;
            }
            result
        })
    }

    /// `count` consecutive timestamps from the scheduler's oracle (the
    /// cluster's one oracle, as PD is TiKV's): the last of them.
    pub fn get_tso(&self, count: u32) -> RpcFuture<u64> {
        self.with_client(move |client| {
            Box::pin(async move {
                let request = TsoRequest { count };
                flatten(client.get_tso(net::context(), request).await)
            })
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<net::Client>> {
        self.client.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SchedulerRpc for TcpScheduler {
    fn put_store(&self, store: Store) -> RpcFuture<()> {
        self.with_client(move |c| SchedulerRpc::put_store(&c, store))
    }

    fn store_heartbeat(&self, stats: StoreStats) -> RpcFuture<()> {
        self.with_client(move |c| SchedulerRpc::store_heartbeat(&c, stats))
    }

    fn region_heartbeat(&self, heartbeat: RegionHeartbeat) -> RpcFuture<Option<Operator>> {
        self.with_client(move |c| SchedulerRpc::region_heartbeat(&c, heartbeat))
    }

    fn ask_split(&self, region: Region) -> RpcFuture<(u64, Vec<u64>)> {
        self.with_client(move |c| SchedulerRpc::ask_split(&c, region))
    }
}

impl RemoteScheduler {
    /// Store `store`'s client of the `tinykv-scheduler` at `addr`, over TCP
    /// ([`TcpScheduler`]: reconnected after a failure; the store registers
    /// on its first call and again with a scheduler that forgot it). A real
    /// process.
    ///
    /// # Errors
    /// `Error::Scheduler(Net(..))` if the scheduler cannot be reached now.
    pub async fn connect(addr: &str, store: Store) -> Result<RemoteScheduler, Error> {
        let tcp = TcpScheduler::new(addr);
        let client = net::connect(addr).await.map_err(Error::Scheduler)?;
        *tcp.lock() = Some(client);
        Ok(RemoteScheduler::new(store, tcp))
    }
}
