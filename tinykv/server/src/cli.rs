//! The two binaries' command lines: `tinykv-server` serves a standalone
//! store over TCP (the raw API, the transactional API and a timestamp
//! oracle), `tinykv-ctl raw …` / `txn …` / `tso` talk to it. Bad flags, a
//! data directory that is not ours or is locked, an unreachable server or
//! a refused request all end in a one-line message and a non-zero exit —
//! never a panic.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use tinykv_storage::raw::{RawDeleteRequest, RawGetRequest, RawPutRequest, RawScanRequest};
use tinykv_storage::service::{RawDelete, RawGet, RawPut, RawScan};
use tinykv_storage::{
    DiskEngine, Engine, GroupCommit, MemEngine, RawServer, StandaloneStorage, WriteOptions,
};
use tinykv_txn::proto::{KeyError, ScanRequest};
use tinykv_txn::service::KvScan;
use tinykv_txn::{Client, TxnServer};

use crate::{ClusterClient, Error, Router, WallTso};

/// Exit code of a request the server refused or a failure to reach it.
const FAILED: u8 = 1;
/// Exit code of `get` on an absent key.
const NOT_FOUND: u8 = 3;
/// Exit code of a transaction that did not commit (a conflict).
const ABORTED: u8 = 4;

/// Which storage the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// One engine, no replication (Project 1).
    Standalone,
    /// One store of a raft cluster (Projects 2–3): `--store-id`,
    /// `--cluster` name the cluster.
    Raft,
}

/// Which engine holds the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineKind {
    /// redb in the data directory (durable).
    Disk,
    /// Memory only: lost when the server stops (the data directory is unused).
    Memory,
}

/// `tinykv-server`: serves the raw and transactional KV APIs and a
/// timestamp oracle over TCP.
#[derive(Debug, Parser)]
#[command(
    name = "tinykv-server",
    version,
    about = "TinyKV server (raw and transactional APIs, timestamp oracle): standalone, or one store of a raft cluster"
)]
pub struct ServerArgs {
    /// The storage to serve.
    #[arg(long, value_enum)]
    pub store: StoreKind,
    /// The engine holding the data.
    #[arg(long, value_enum, default_value = "disk")]
    pub engine: EngineKind,
    /// The data directory (created if missing; must be empty or ours).
    #[arg(long)]
    pub data_dir: std::path::PathBuf,
    /// Where to listen, HOST:PORT (port 0 picks one; the address is printed).
    #[arg(long)]
    pub addr: String,
    /// Acknowledge writes before they are synced to disk (faster; a crash
    /// may then lose acknowledged writes).
    #[arg(long)]
    pub no_sync: bool,
    /// (raft) This store's id, one of `--cluster`'s.
    #[arg(long, required_if_eq("store", "raft"), value_parser = clap::value_parser!(u64).range(1..))]
    pub store_id: Option<u64>,
    /// (raft) Every store of the cluster: `1=HOST:PORT,2=HOST:PORT,…`. A
    /// fresh store bootstraps region 1 with a peer on each.
    #[arg(long, required_if_eq("store", "raft"), value_parser = crate::raft::parse_cluster)]
    pub cluster: Option<std::collections::BTreeMap<u64, String>>,
    /// (raft) The scheduler, HOST:PORT (region heartbeats, splits,
    /// timestamps); without it the store runs alone with its peers.
    #[arg(long)]
    pub scheduler: Option<String>,
    /// (raft) Where clients reach each store, `1=HOST:PORT,…`, for the
    /// leader a region error names (default: `--cluster`'s addresses).
    /// `tinykv-cluster --faults` gives the stores proxies in `--cluster`
    /// and their own addresses here.
    #[arg(long, value_parser = crate::raft::parse_cluster)]
    pub client_addrs: Option<std::collections::BTreeMap<u64, String>>,
    /// (raft) Compact a region's raft log once this many applied entries
    /// are in it (the raft-log GC); a store further behind than that
    /// catches up by snapshot.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub raft_log_gc_limit: u64,
    /// (raft) Split a region once its keys and values take this many bytes
    /// (the reference's `RegionMaxSize`, 144 MiB); the new regions' ids
    /// come from `--scheduler`, so without one nothing splits.
    #[arg(long, default_value_t = 144 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub region_max_size: u64,
    /// (raft) Where a split cuts: the first key at which the running size
    /// passes this (`RegionSplitSize`, 96 MiB); at most
    /// `--region-max-size`.
    #[arg(long, default_value_t = 96 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub region_split_size: u64,
}

/// Runs `tinykv-server`.
pub fn server_main() -> ExitCode {
    let args = ServerArgs::parse();
    init_tracing();
    if args.store == StoreKind::Raft {
        return raft_server_main(&args);
    }
    let runtime = match runtime(None) {
        Ok(rt) => rt,
        Err(e) => return fail("tinykv-server", e),
    };
    let result = runtime.block_on(async {
        // Bind first: a bad address must not leave a new data directory behind.
        let listener = listen(&args.addr).await?;
        let (router, group) = open_server(&args)?;
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| args.addr.clone());
        // Tests and scripts read this line for the port.
        println!(
            "tinykv-server listening on {addr} (store standalone, engine {:?}, data {})",
            args.engine,
            args.data_dir.display()
        );
        tokio::select! {
            biased;
            () = stop_signal() => {}
            () = crate::serve(listener, router) => {}
        }
        Ok::<_, Error>(group)
    });
    // Dropping the runtime ends every connection; the last handle on the
    // engine goes with them, which closes the database cleanly.
    drop(runtime);
    match result {
        Ok(group) => {
            match group.map(|g| g.stats()) {
                Some(st) if st.batches > 0 => eprintln!(
                    "tinykv-server: stopped ({} synced batches in {} engine writes, largest group {})",
                    st.batches, st.writes, st.largest
                ),
                _ => eprintln!("tinykv-server: stopped"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail("tinykv-server", e),
    }
}

/// The server's multi-threaded runtime (`workers` threads, or one per core).
fn runtime(workers: Option<usize>) -> Result<tokio::runtime::Runtime, Error> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    builder
        .enable_all()
        .build()
        .map_err(|e| Error::Io(format!("cannot start runtime: {e}")))
}

/// Binds the server's listener; a port in use is a clear error.
async fn listen(addr: &str) -> Result<tokio::net::TcpListener, Error> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Net(format!("cannot listen on {addr}: {e}")))
}

/// `tinykv-server --store raft`: one store of a raft cluster
/// ([`crate::raft`]).
fn raft_server_main(args: &ServerArgs) -> ExitCode {
    // The store persists a Ready under its lock on whichever thread steps
    // it: more workers than cores keep the connections moving meanwhile.
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(8);
    let runtime = match runtime(Some(workers)) {
        Ok(rt) => rt,
        Err(e) => return fail("tinykv-server", e),
    };
    let result = runtime.block_on(async {
        let listener = listen(&args.addr).await?;
        let node = crate::raft::open(args)?;
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| args.addr.clone());
        println!(
            "tinykv-server listening on {addr} (store raft {}, engine {:?}, data {})",
            args.store_id.unwrap_or_default(),
            args.engine,
            args.data_dir.display()
        );
        let router = node.router.clone();
        tokio::select! {
            biased;
            () = stop_signal() => {}
            () = crate::serve(listener, router) => {}
        }
        node.store.kill();
        Ok::<_, Error>(node.stats)
    });
    // Waiting handlers end within their apply timeout; the engines close
    // with the last handle.
    runtime.shutdown_timeout(crate::raft::APPLY_TIMEOUT * 2);
    match result {
        Ok(stats) => {
            eprintln!(
                "tinykv-server: stopped ({})",
                crate::raft::stop_line(&stats)
            );
            ExitCode::SUCCESS
        }
        Err(e @ Error::Usage(_)) => {
            eprintln!("tinykv-server: error: {e}");
            ExitCode::from(2)
        }
        Err(e) => fail("tinykv-server", e),
    }
}

/// Opens the engine and builds the three services over it; also returns
/// the disk engine's group commit, for its figures at the stop.
fn open_server(args: &ServerArgs) -> Result<(Router, Option<Arc<GroupCommit>>), Error> {
    let (engine, group): (Arc<dyn Engine>, _) = match args.engine {
        // Synced writes of concurrent requests (each on its own blocking
        // thread) share one engine write and one fsync.
        EngineKind::Disk => {
            let disk: Arc<dyn Engine> = Arc::new(DiskEngine::open(&args.data_dir)?);
            let group = Arc::new(GroupCommit::new(disk));
            (group.clone(), Some(group))
        }
        EngineKind::Memory => (Arc::new(MemEngine::new()), None),
    };
    let durable = group.is_some();
    let opts = if args.no_sync {
        WriteOptions::NO_SYNC
    } else {
        WriteOptions::SYNC
    };
    let tso = WallTso::open(durable.then(|| engine.clone()))?;
    let storage = Arc::new(StandaloneStorage::new(engine).with_options(opts));
    let router = Router::new()
        .raw(RawServer::new(storage.clone()))
        .txn(TxnServer::new(storage))
        .tso(tso);
    Ok((router, group))
}

/// SIGTERM or Ctrl-C (the servers' and the launcher's clean stop).
pub(crate) async fn stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// `tinykv-ctl`: a client for `tinykv-server`.
#[derive(Debug, Parser)]
#[command(name = "tinykv-ctl", version, about = "Talk to a tinykv-server")]
pub struct CtlArgs {
    /// The server's address, HOST:PORT; for a raft cluster, several,
    /// comma-separated (requests follow the leader).
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:20160")]
    pub addr: Vec<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// `tinykv-ctl` commands.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// The raw KV API.
    #[command(subcommand)]
    Raw(RawCommand),
    /// The transactional API, through the Percolator client (each command
    /// is one transaction).
    #[command(subcommand)]
    Txn(TxnCommand),
    /// Prints a fresh timestamp from the server's oracle.
    Tso,
    /// The scheduler's tables (`regions`, `stores`): see [`crate::ctl_cluster`].
    #[command(flatten)]
    Cluster(crate::ctl_cluster::ClusterCommand),
}

/// `tinykv-ctl txn …`. Keys and values are UTF-8 text, printed escaped.
#[derive(Debug, Subcommand)]
pub enum TxnCommand {
    /// Prints the value of KEY at a fresh timestamp (exit 3 when absent),
    /// resolving locks in the way.
    Get {
        /// The key.
        key: String,
    },
    /// Sets KEY to VALUE (more KEY VALUE pairs: all in one transaction);
    /// exit 4 when the transaction conflicts and does not commit.
    Put {
        /// KEY VALUE [KEY VALUE …]
        #[arg(required = true, num_args = 2..)]
        pairs: Vec<String>,
    },
    /// Deletes every KEY in one transaction (exit 4 on a conflict).
    Delete {
        /// The keys.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Prints up to LIMIT pairs from START on at a fresh timestamp, one
    /// `key<TAB>value` a line (a locked key: `key<TAB>locked by START_TS`).
    Scan {
        /// The first key (default: the start).
        #[arg(default_value = "")]
        start: String,
        /// At most this many pairs.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

/// `tinykv-ctl raw …`. Keys and values are taken as UTF-8 text and printed
/// with non-printable bytes escaped.
#[derive(Debug, Subcommand)]
pub enum RawCommand {
    /// Prints the value of KEY (exit 3 when absent).
    Get {
        /// The key.
        key: String,
        /// The column family: default, lock or write.
        #[arg(long, default_value = "default")]
        cf: String,
    },
    /// Sets KEY to VALUE.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// The column family.
        #[arg(long, default_value = "default")]
        cf: String,
    },
    /// Removes KEY.
    Delete {
        /// The key.
        key: String,
        /// The column family.
        #[arg(long, default_value = "default")]
        cf: String,
    },
    /// Prints up to LIMIT pairs from START on, one `key<TAB>value` a line.
    Scan {
        /// The first key (default: the start of the CF).
        #[arg(default_value = "")]
        start: String,
        /// At most this many pairs.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// The column family.
        #[arg(long, default_value = "default")]
        cf: String,
    },
}

/// Runs `tinykv-ctl`.
pub fn ctl_main() -> ExitCode {
    let args = CtlArgs::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return fail(
                "tinykv-ctl",
                Error::Io(format!("cannot start runtime: {e}")),
            );
        }
    };
    match runtime.block_on(ctl(args)) {
        Ok(code) => code,
        Err(e) => fail("tinykv-ctl", e),
    }
}

async fn ctl(args: CtlArgs) -> Result<ExitCode, Error> {
    if let CtlCommand::Cluster(command) = args.command {
        return crate::ctl_cluster::run(command).await;
    }
    let conn = ClusterClient::new(&args.addr, 0)?;
    match args.command {
        CtlCommand::Raw(command) => raw(&conn, command).await,
        CtlCommand::Txn(command) => txn(conn, command).await,
        CtlCommand::Cluster(command) => crate::ctl_cluster::run(command).await,
        CtlCommand::Tso => {
            let client = Client::new(conn.clone(), conn);
            println!("{}", client.get_timestamp().await?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn refused(error: String) -> Result<ExitCode, Error> {
    eprintln!("tinykv-ctl: server refused: {error}");
    Ok(ExitCode::from(FAILED))
}

async fn raw(conn: &ClusterClient, command: RawCommand) -> Result<ExitCode, Error> {
    match command {
        RawCommand::Get { key, cf } => {
            let req = RawGetRequest {
                key: key.into_bytes(),
                cf,
                ..Default::default()
            };
            let resp = conn.call::<RawGet>(&req).await?;
            if !resp.error.is_empty() {
                return refused(resp.error);
            }
            if resp.not_found {
                eprintln!("tinykv-ctl: not found");
                return Ok(ExitCode::from(NOT_FOUND));
            }
            println!("{}", resp.value.escape_ascii());
        }
        RawCommand::Put { key, value, cf } => {
            let req = RawPutRequest {
                key: key.into_bytes(),
                value: value.into_bytes(),
                cf,
                ..Default::default()
            };
            let resp = conn.call::<RawPut>(&req).await?;
            if !resp.error.is_empty() {
                return refused(resp.error);
            }
        }
        RawCommand::Delete { key, cf } => {
            let req = RawDeleteRequest {
                key: key.into_bytes(),
                cf,
                ..Default::default()
            };
            let resp = conn.call::<RawDelete>(&req).await?;
            if !resp.error.is_empty() {
                return refused(resp.error);
            }
        }
        RawCommand::Scan { start, limit, cf } => {
            let req = RawScanRequest {
                start_key: start.into_bytes(),
                limit,
                cf,
                ..Default::default()
            };
            let resp = conn.call::<RawScan>(&req).await?;
            if !resp.error.is_empty() {
                return refused(resp.error);
            }
            for kv in resp.kvs {
                println!("{}\t{}", kv.key.escape_ascii(), kv.value.escape_ascii());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn txn(conn: ClusterClient, command: TxnCommand) -> Result<ExitCode, Error> {
    let client = Client::new(conn.clone(), conn.clone());
    let mut txn = client.begin().await?;
    match command {
        TxnCommand::Get { key } => match client.get(&txn, key.as_bytes()).await? {
            Some(value) => println!("{}", value.escape_ascii()),
            None => {
                eprintln!("tinykv-ctl: not found");
                return Ok(ExitCode::from(NOT_FOUND));
            }
        },
        TxnCommand::Put { pairs } => {
            if pairs.len() % 2 != 0 {
                eprintln!("tinykv-ctl: error: txn put takes KEY VALUE pairs");
                return Ok(ExitCode::from(FAILED));
            }
            for pair in pairs.chunks(2) {
                txn.set(pair[0].as_bytes(), pair[1].as_bytes());
            }
            return commit(&client, txn).await;
        }
        TxnCommand::Delete { keys } => {
            for key in keys {
                txn.delete(key.into_bytes());
            }
            return commit(&client, txn).await;
        }
        TxnCommand::Scan { start, limit } => {
            let req = ScanRequest {
                start_key: start.into_bytes(),
                limit,
                version: txn.start_ts(),
                ..Default::default()
            };
            let resp = match conn.call::<KvScan>(&req).await? {
                Ok(resp) => resp,
                Err(error) => return refused(error),
            };
            for pair in resp.pairs {
                match pair.error {
                    None => println!("{}\t{}", pair.key.escape_ascii(), pair.value.escape_ascii()),
                    Some(KeyError::Locked(lock)) => println!(
                        "{}\tlocked by {}",
                        pair.key.escape_ascii(),
                        lock.lock_version
                    ),
                    Some(other) => println!("{}\terror {other:?}", pair.key.escape_ascii()),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn commit(client: &Client<ClusterClient>, txn: tinykv_txn::Txn) -> Result<ExitCode, Error> {
    let start_ts = txn.start_ts();
    if client.commit(txn).await? {
        println!("committed (start {start_ts})");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("tinykv-ctl: aborted: the transaction conflicted; nothing was written");
        Ok(ExitCode::from(ABORTED))
    }
}

fn fail(program: &str, e: Error) -> ExitCode {
    eprintln!("{program}: error: {e}");
    ExitCode::from(FAILED)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
