//! `tinykv-server --store raft`: one store of a raft cluster (the
//! raftstore of Projects 2–3) as a real process, its peers reached over
//! TCP, its two engines on disk.
//!
//! * Data directory: `DIR/raft` (the raft engine: logs and raft states)
//!   and `DIR/kv` (the kv engine: data, apply and region states), two
//!   redb directories, and a marker file ([`MARKER`]). The store's id is
//!   recorded in the kv engine (`STORE_IDENT_KEY`); a directory of another
//!   store, not ours, or unreadable is refused.
//! * First start: region 1 over the whole key space with one peer on every
//!   `--cluster` store (peer id = store id, epoch 1/1), as the reference's
//!   test cluster bootstraps. A restart rebuilds every peer from the
//!   engines.
//! * Durability ([`RaftEngine`], [`KvEngine`]): every raft-engine write of
//!   a Ready that appends entries or changes the term or vote is synced —
//!   a command is acknowledged only once its entry is committed, i.e.
//!   synced in the raft log of a majority. A write that only moves the
//!   commit index is not synced (raft needs no durable commit index), but
//!   the raft engine is always synced before the kv engine is, so a
//!   restart never finds more applied than committed. Applying a normal
//!   command (kv-engine writes) is not synced, nor even written at once
//!   (the writes gather and go to the engine as one, before any read): a
//!   crash may lose applied state, never a committed entry, and the
//!   restart applies the entries again from the log. The kv engine is synced before any raft-engine
//!   write that deletes (compaction, a snapshot, a destroyed peer), so a
//!   compaction's truncated state is durable before the log entries it
//!   drops are: the log always covers what the kv engine may have lost.
//!   Raft-log GC (that sync, then the deletes) runs on a thread of its own
//!   so the store's loop does not wait for it. A
//!   kv batch that changes a region (split, membership, snapshot, destroy)
//!   is synced at once.
//! * [`RaftStorage`] is the reference's `RaftStorage`: the
//!   [`Storage`] the raw and transactional handlers (unchanged) run on. A
//!   write is one command proposed and waited for until it applies, to the
//!   region holding its first key; a reader is a `Snap` command's read
//!   view. A raw read goes through the region holding its key (a get's, a
//!   scan's start) and a raw scan stops at that region's end, as the
//!   reference's `RegionReader`; a transactional read goes through the
//!   store's first region (the transactional API assumes one region: its
//!   encoded keys are not mapped to regions). Both block, so the handlers
//!   run on the blocking pool. A refusal (not leader, stale, timeout) is a
//!   region error: it goes back in the reply's `region_error`, with
//!   `[leader: store N at HOST:PORT]` when the leader is known
//!   ([`crate::cluster_client`] follows it).
//! * Raft messages between stores: the raftstore's own `Raftstore`
//!   service, served by [`Router::service`] and called through [`TcpPeer`]
//!   (a [`Transport`]).
//! * A leader hint names the store's address in `--client-addrs` (default:
//!   `--cluster`'s): behind `tinykv-cluster --faults` the stores dial each
//!   other's proxies, and a client must be sent to the store itself.
//! * Timestamps (`Tso.GetTimestamp`): with `--scheduler`, the scheduler's
//!   oracle, forwarded — one oracle for the cluster, as PD is TiKV's, so a
//!   transaction may take its start and commit timestamps from different
//!   stores. Without a scheduler, each store is its own [`WallTso`]:
//!   timestamps of different stores are not ordered, and a transactional
//!   client must keep to one store.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use labrpc::RpcError;
use tinykv_raftstore::cmd::{CmdHeader, RaftCmdRequest, Request, Response};
use tinykv_raftstore::meta::{Peer, Region, RegionEpoch};
use tinykv_raftstore::scheduler::{RemoteScheduler, SchedulerClient, TcpScheduler};
use tinykv_raftstore::store::{CallFuture, Store, Transport};
use tinykv_raftstore::{Answer, PeerConfig, bootstrap_region, first_region, keys};
use tinykv_scheduler::{Store as SchedulerStore, StoreState};
use tinykv_storage::raw::{RawDeleteRequest, RawGetRequest, RawPutRequest, RawScanRequest};
use tinykv_storage::service::{RawDelete, RawGet, RawPut, RawScan};
use tinykv_storage::{
    Cf, Context, DbIterator, DiskEngine, Engine, MemEngine, Modify, RawServer, Snapshot, Storage,
    WriteBatch, WriteOptions,
};
use tinykv_txn::TxnServer;
use tinykv_txn::service::*;

use crate::cli::{EngineKind, ServerArgs};
use crate::cluster_client::not_leader_text;
use crate::{Connection, Error, Mode, Router, WallTso};

/// The marker file of a raft store's data directory.
pub const MARKER: &str = "TINYKV-RAFTSTORE";
const MARKER_TEXT: &str = "tinykv raftstore data directory; raft/ and kv/ engines; layout 1\n";

/// How long a command waits to be applied before its caller gets a
/// region error (and retries).
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a raft message to another store may take before it counts as
/// lost.
pub const PEER_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Parses `--cluster 1=HOST:PORT,2=HOST:PORT,…`.
pub fn parse_cluster(text: &str) -> Result<BTreeMap<u64, String>, String> {
    let mut cluster = BTreeMap::new();
    for item in text.split(',') {
        let (id, addr) = item
            .split_once('=')
            .ok_or_else(|| format!("{item:?} is not STORE_ID=HOST:PORT"))?;
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| format!("{id:?} is not a store id"))?;
        let addr = addr.trim();
        if id == 0 {
            return Err("store ids start at 1".into());
        }
        if addr.is_empty() || !addr.contains(':') {
            return Err(format!("store {id}: {addr:?} is not HOST:PORT"));
        }
        if cluster.insert(id, addr.to_string()).is_some() {
            return Err(format!("store {id} is listed twice"));
        }
    }
    Ok(cluster)
}

mod engines;
mod storage;

pub use engines::{KV_BUFFER_BATCHES, KvEngine, RaftDirty, RaftEngine};
pub use storage::{REGION_CACHE_FOR, RaftStorage};
use storage::{raw_routes, txn_routes};

/// Figures of a running store, printed when it stops.
#[derive(Default)]
pub struct Stats {
    /// Client commands proposed (writes and reads).
    pub commands: AtomicU64,
    /// Synced raft-engine writes (one per persisted Ready).
    pub raft_syncs: AtomicU64,
    /// Kv-engine syncs.
    pub kv_syncs: AtomicU64,
    /// Raft-log GCs done (on the GC thread).
    pub log_gcs: AtomicU64,
}

/// The way to another store: one pipelined TCP connection, opened on
/// demand and again after it broke (not more than every
/// [`RECONNECT_EVERY`] while the store is down).
#[derive(Clone)]
pub struct TcpPeer {
    link: Arc<Link>,
}

struct Link {
    addr: String,
    conn: tokio::sync::Mutex<(Option<Connection>, Option<Instant>)>,
}

/// How often a store that refuses connections is tried again.
pub const RECONNECT_EVERY: Duration = Duration::from_millis(200);

impl TcpPeer {
    /// The way to the store at `addr`; connects on the first call.
    pub fn new(addr: &str) -> TcpPeer {
        TcpPeer {
            link: Arc::new(Link {
                addr: addr.to_string(),
                conn: tokio::sync::Mutex::new((None, None)),
            }),
        }
    }
}

impl Link {
    async fn connection(&self) -> Option<Connection> {
        let mut guard = self.conn.lock().await;
        if let Some(conn) = &guard.0 {
            return Some(conn.clone());
        }
        if guard.1.is_some_and(|after| Instant::now() < after) {
            return None;
        }
        let connect = Connection::connect(&self.addr);
        match tokio::time::timeout(Duration::from_secs(1), connect).await {
            Ok(Ok(conn)) => {
                guard.0 = Some(conn.clone());
                Some(conn)
            }
            _ => {
                guard.1 = Some(Instant::now() + RECONNECT_EVERY);
                None
            }
        }
    }

    async fn forget(&self) {
        self.conn.lock().await.0 = None;
    }
}

impl Transport for TcpPeer {
    fn call_bytes(&self, method: &'static str, args: Vec<u8>) -> CallFuture {
        let link = self.link.clone();
        Box::pin(async move {
            let lost = || RpcError::Disconnected {
                method: method.to_string(),
            };
            let conn = link.connection().await.ok_or_else(lost)?;
            match tokio::time::timeout(PEER_CALL_TIMEOUT, conn.call_bytes(method, &args)).await {
                Ok(Ok(reply)) => Ok(reply),
                // Declined (the store is stopping, or no reply to give).
                Ok(Err(Error::Remote(_))) | Err(_) => Err(lost()),
                Ok(Err(_)) => {
                    link.forget().await;
                    Err(lost())
                }
            }
        })
    }
}

/// Opens (or creates) `dir` as a raft store's data directory.
fn open_dir(dir: &Path) -> Result<(), Error> {
    let not_ours = |reason: String| {
        Error::Storage(tinykv_storage::Error::NotOurs {
            dir: dir.display().to_string(),
            reason,
        })
    };
    let io = |e: std::io::Error| Error::Io(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let marker = dir.join(MARKER);
    match std::fs::read_to_string(&marker) {
        Ok(text) if text == MARKER_TEXT => return Ok(()),
        Ok(_) => return Err(not_ours(format!("{MARKER} names another layout"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    if std::fs::read_dir(dir).map_err(io)?.next().is_some() {
        return Err(not_ours(format!(
            "it is not empty and has no {MARKER} file (a standalone server's, or not tinykv's)"
        )));
    }
    std::fs::write(&marker, MARKER_TEXT).map_err(io)
}

/// Checks the store id recorded in `kv` (or, on a fresh store, bootstraps
/// region 1 over `cluster` and records `store_id`).
fn bootstrap(
    store_id: u64,
    cluster: &BTreeMap<u64, String>,
    raft: &dyn Engine,
    kv: &dyn Engine,
    dir: &Path,
) -> Result<(), Error> {
    if let Some(ident) = kv.snapshot()?.get_cf(Cf::Meta, &keys::STORE_IDENT_KEY)? {
        let recorded = <[u8; 8]>::try_from(ident.as_slice())
            .map(u64::from_be_bytes)
            .map_err(|_| Error::Io(format!("{}: corrupt store ident", dir.display())))?;
        if recorded != store_id {
            return Err(Error::Storage(tinykv_storage::Error::NotOurs {
                dir: dir.display().to_string(),
                reason: format!("it holds store {recorded}, not store {store_id}"),
            }));
        }
        return Ok(());
    }
    let region = first_region(cluster.keys().copied());
    bootstrap_region(raft, kv, &region).map_err(|e| Error::Io(e.to_string()))?;
    let mut batch = WriteBatch::new();
    batch.put(
        Cf::Meta,
        keys::STORE_IDENT_KEY,
        store_id.to_be_bytes().to_vec(),
    );
    kv.write(&batch, WriteOptions::SYNC)?;
    Ok(())
}

/// The store's client of the scheduler at `addr`: it must be reachable at
/// start (a clear error otherwise); afterwards the client registers the
/// store, reports its regions and statistics, asks for split ids, and
/// reconnects on its own if the scheduler restarts
/// ([`RemoteScheduler`] over [`TcpScheduler`]).
fn connect_scheduler(
    addr: &str,
    store_id: u64,
    store_addr: &str,
) -> Result<Option<Arc<dyn SchedulerClient>>, Error> {
    use std::net::ToSocketAddrs;
    let sockets: Vec<_> = addr
        .to_socket_addrs()
        .map_err(|e| Error::Net(format!("scheduler address {addr}: {e}")))?
        .collect();
    let reachable = sockets
        .iter()
        .any(|s| std::net::TcpStream::connect_timeout(s, Duration::from_secs(2)).is_ok());
    if !reachable {
        return Err(Error::Net(format!(
            "cannot reach the scheduler at {addr} (is tinykv-scheduler running?)"
        )));
    }
    let store = SchedulerStore {
        id: store_id,
        address: store_addr.to_string(),
        state: StoreState::Up,
    };
    Ok(Some(Arc::new(RemoteScheduler::new(
        store,
        TcpScheduler::new(addr),
    ))))
}

/// A running raft store and what its server serves.
pub struct RaftNode {
    /// The store.
    pub store: Store,
    /// The raw and transactional APIs, the oracle and the `Raftstore`
    /// service.
    pub router: Router,
    /// Its figures.
    pub stats: Arc<Stats>,
}

/// Opens the store's engines (bootstrapping a fresh one), starts the store
/// and builds its router. Must run inside the server's runtime.
///
/// # Errors
/// Bad flags ([`Error::Usage`]), a data directory that is not this
/// store's, engine failures.
pub fn open(args: &ServerArgs) -> Result<RaftNode, Error> {
    let store_id = args
        .store_id
        .ok_or_else(|| Error::Usage("--store raft needs --store-id".into()))?;
    let cluster = args
        .cluster
        .clone()
        .ok_or_else(|| Error::Usage("--store raft needs --cluster".into()))?;
    if !cluster.contains_key(&store_id) {
        return Err(Error::Usage(format!(
            "--cluster does not list store {store_id} (it lists {})",
            cluster
                .keys()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if args.region_split_size > args.region_max_size {
        return Err(Error::Usage(format!(
            "--region-split-size {} is above --region-max-size {}",
            args.region_split_size, args.region_max_size
        )));
    }
    let scheduler = match &args.scheduler {
        Some(addr) => connect_scheduler(addr, store_id, &cluster[&store_id])?,
        None => None,
    };
    let (raft, kv): (Arc<dyn Engine>, Arc<dyn Engine>) = match args.engine {
        EngineKind::Disk => {
            open_dir(&args.data_dir)?;
            let dir: PathBuf = args.data_dir.clone();
            (
                Arc::new(DiskEngine::open(dir.join("raft"))?),
                Arc::new(DiskEngine::open(dir.join("kv"))?),
            )
        }
        EngineKind::Memory => (Arc::new(MemEngine::new()), Arc::new(MemEngine::new())),
    };
    // On the engines themselves: every bootstrap write synced at once.
    bootstrap(
        store_id,
        &cluster,
        raft.as_ref(),
        kv.as_ref(),
        &args.data_dir,
    )?;
    let durable = args.engine == EngineKind::Disk && !args.no_sync;
    let stats = Arc::new(Stats::default());
    let (raft, kv) = engines::wrap(raft, kv, durable, &stats);
    let raft: Arc<dyn Engine> = raft;
    let ends: BTreeMap<u64, Arc<dyn Transport>> = cluster
        .iter()
        .filter(|&(&id, _)| id != store_id)
        .map(|(&id, addr)| (id, Arc::new(TcpPeer::new(addr)) as Arc<dyn Transport>))
        .collect();
    let config = PeerConfig {
        raft_log_gc_count_limit: args.raft_log_gc_limit,
        raft_log_gc_ticks: 10,
        ..PeerConfig::default()
    }
    .with_split_sizes(args.region_max_size, args.region_split_size);
    let kv_engine: Arc<dyn Engine> = kv;
    let store = Store::start(store_id, raft.clone(), kv_engine, ends, config, scheduler)
        .map_err(|e| Error::Io(format!("{}: {e}", args.data_dir.display())))?;
    let hints = args.client_addrs.clone().unwrap_or(cluster);
    let storage = Arc::new(RaftStorage::new(store.clone(), hints, stats.clone()));
    let router = raw_routes(Router::new(), RawServer::new(storage.clone()));
    let router = txn_routes(router, TxnServer::new(storage));
    let router = match &args.scheduler {
        // The cluster's one oracle: every store hands out the scheduler's
        // timestamps, so a client may take them from any store.
        Some(addr) => {
            let scheduler = TcpScheduler::new(addr.as_str());
            router.handle_async::<GetTimestamp, _, _>(move |count| {
                let reply = scheduler.get_tso(count);
                async move {
                    reply
                        .await
                        .map_err(|e| format!("the scheduler's timestamp oracle: {e}"))
                }
            })
        }
        // No scheduler: this store's own oracle (see the module docs).
        None => router.tso(WallTso::open(durable.then(|| raft.clone()))?),
    };
    let router = router.service(store.service());
    Ok(RaftNode {
        store,
        router,
        stats,
    })
}

/// The store's figures for the stop line.
pub fn stop_line(stats: &Stats) -> String {
    format!(
        "{} client commands, {} synced raft-engine writes, {} kv-engine syncs, {} raft-log GCs",
        stats.commands.load(Ordering::Relaxed),
        stats.raft_syncs.load(Ordering::Relaxed),
        stats.kv_syncs.load(Ordering::Relaxed),
        stats.log_gcs.load(Ordering::Relaxed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_lists_parse_and_refuse() {
        let c = parse_cluster("1=127.0.0.1:1, 2=h:2,3=[::1]:3").unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[&2], "h:2");
        assert_eq!(c[&3], "[::1]:3");
        for bad in ["", "1", "x=h:1", "0=h:1", "1=h", "1=h:1,1=h:2", "1="] {
            assert!(parse_cluster(bad).is_err(), "{bad:?} parsed");
        }
    }

    use labrpc::Rpc;

    labrpc::rpc!(Echo = "Echo.Say": String => String);
    labrpc::rpc!(Silent = "Echo.Silent": () => ());

    /// A labrpc service served over TCP by [`Router::service`] and called
    /// through [`TcpPeer`]: replies come back, a declined call is a lost
    /// one, and so is a call to a store that is down — until it is back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_labrpc_service_runs_over_tcp() {
        let service = labrpc::Service::new("Echo")
            .handle::<Echo, _, _>(|s| async move {
                tokio::task::yield_now().await;
                format!("{s}!")
            })
            .handle_or_decline::<Silent, _, _>(|()| async { None });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let peer: Arc<dyn Transport> = Arc::new(TcpPeer::new(&addr));
        let lost = RpcError::Disconnected {
            method: Echo::METHOD.into(),
        };
        // Nobody listens yet: lost, at once.
        drop(listener);
        assert_eq!(peer.call::<Echo>(&"hi".into()).await, Err(lost.clone()));
        let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
        let server = tokio::spawn(crate::serve(listener, Router::new().service(service)));
        tokio::time::sleep(RECONNECT_EVERY).await;
        let calls: Vec<_> = (0..20)
            .map(|i| {
                let peer = peer.clone();
                tokio::spawn(async move { peer.call::<Echo>(&format!("hi{i}")).await })
            })
            .collect();
        for (i, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap(), Ok(format!("hi{i}!")));
        }
        assert_eq!(
            peer.call::<Silent>(&()).await,
            Err(RpcError::Disconnected {
                method: Silent::METHOD.into()
            })
        );
        server.abort();
    }
}
