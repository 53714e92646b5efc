//! The two binaries' command lines: `tinykv-server` serves a standalone
//! store over TCP, `tinykv-ctl raw …` talks to it. Bad flags, a data
//! directory that is not ours or is locked, an unreachable server or a
//! refused request all end in a one-line message and a non-zero exit —
//! never a panic.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::raw::{RawDeleteRequest, RawGetRequest, RawPutRequest, RawScanRequest};
use crate::{DiskEngine, Engine, Error, MemEngine, RawServer, StandaloneStorage, WriteOptions};

/// Exit code of a request the server refused or a failure to reach it.
const FAILED: u8 = 1;
/// Exit code of `get` on an absent key.
const NOT_FOUND: u8 = 3;

/// Which storage the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// One engine, no replication (Project 1).
    Standalone,
}

/// Which engine holds the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineKind {
    /// redb in the data directory (durable).
    Disk,
    /// Memory only: lost when the server stops (the data directory is unused).
    Memory,
}

/// `tinykv-server`: serves the raw KV API over TCP.
#[derive(Debug, Parser)]
#[command(
    name = "tinykv-server",
    version,
    about = "TinyKV server (Project 1: standalone)"
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
}

/// Runs `tinykv-server`.
pub fn server_main() -> ExitCode {
    let args = ServerArgs::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return fail(
                "tinykv-server",
                Error::Io(format!("cannot start runtime: {e}")),
            );
        }
    };
    let result = runtime.block_on(async {
        // Bind first: a bad address must not leave a new data directory behind.
        let listener = crate::net::bind(&args.addr).await?;
        let server = open_server(&args)?;
        let addr = crate::net::local_addr(&listener)
            .map(|a| a.to_string())
            .unwrap_or_else(|| args.addr.clone());
        // Tests and scripts read this line for the port.
        println!(
            "tinykv-server listening on {addr} (store standalone, engine {:?}, data {})",
            args.engine,
            args.data_dir.display()
        );
        tokio::select! {
            biased;
            () = stop_signal() => {}
            () = crate::net::serve(listener, server) => {}
        }
        Ok::<(), Error>(())
    });
    // Dropping the runtime ends every connection; the last handle on the
    // engine goes with them, which closes the database cleanly.
    drop(runtime);
    match result {
        Ok(()) => {
            eprintln!("tinykv-server: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => fail("tinykv-server", e),
    }
}

fn open_server(args: &ServerArgs) -> Result<RawServer, Error> {
    let engine: Arc<dyn Engine> = match args.engine {
        EngineKind::Disk => Arc::new(DiskEngine::open(&args.data_dir)?),
        EngineKind::Memory => Arc::new(MemEngine::new()),
    };
    let opts = if args.no_sync {
        WriteOptions::NO_SYNC
    } else {
        WriteOptions::SYNC
    };
    let storage = StandaloneStorage::new(engine).with_options(opts);
    Ok(RawServer::new(Arc::new(storage)))
}

async fn stop_signal() {
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
    /// The server's address, HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:20160")]
    pub addr: String,
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
    let client = crate::net::connect(&args.addr).await?;
    let ctx = crate::net::context;
    let rpc = |e: tarpc::client::RpcError| Error::Net(format!("{}: {e}", args.addr));
    let refused = |error: String| {
        eprintln!("tinykv-ctl: server refused: {error}");
        Ok(ExitCode::from(FAILED))
    };
    let CtlCommand::Raw(command) = args.command;
    match command {
        RawCommand::Get { key, cf } => {
            let req = RawGetRequest {
                key: key.into_bytes(),
                cf,
                ..Default::default()
            };
            let resp = client.raw_get(ctx(), req).await.map_err(rpc)?;
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
            let resp = client.raw_put(ctx(), req).await.map_err(rpc)?;
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
            let resp = client.raw_delete(ctx(), req).await.map_err(rpc)?;
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
            let resp = client.raw_scan(ctx(), req).await.map_err(rpc)?;
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
