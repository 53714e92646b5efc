//! `tinykv-cluster`: starts a scheduler and N raft stores on loopback,
//! prints where they listen, and stops them all on Ctrl-C or SIGTERM
//! (SIGTERM to each, SIGKILL after a grace period), exiting 0. A child that
//! cannot start (a port in use, a missing binary, a bad data directory) is
//! a clear message quoting its log, the others stopped, and exit 1. A
//! child that dies later is reported once and not restarted.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use super::{Cluster, SchedulerKind, Spec};
use crate::Error;
use crate::cli::{EngineKind, stop_signal};

/// Where the scheduler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchedulerMode {
    /// A `tinykv-scheduler` child process.
    Process,
    /// Inside `tinykv-cluster` (no `tinykv-scheduler` binary needed).
    Inline,
    /// No scheduler (the stores run without `--scheduler`).
    None,
}

/// `tinykv-cluster`: a local TinyKV cluster of real processes.
#[derive(Debug, Parser)]
#[command(
    name = "tinykv-cluster",
    version,
    about = "Starts a TinyKV scheduler and N raft stores on loopback; Ctrl-C stops them"
)]
pub struct Args {
    /// Number of stores.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=9))]
    pub stores: u64,
    /// Keep the data and logs here (default: a temporary directory,
    /// removed at exit).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The scheduler listens on this port, the stores on the next ones
    /// (default: free ports).
    #[arg(long)]
    pub base_port: Option<u16>,
    /// The stores' engine.
    #[arg(long, value_enum, default_value = "disk")]
    pub engine: EngineKind,
    /// The stores acknowledge writes before syncing them.
    #[arg(long)]
    pub no_sync: bool,
    /// Where the scheduler runs.
    #[arg(long, value_enum, default_value = "process")]
    pub scheduler: SchedulerMode,
    /// Route the stores' traffic to each other through fault-injecting
    /// proxies, controlled by one-line commands on a printed port
    /// (`tinykv-ctl fault --control HOST:PORT isolate 2 drop`, or `nc`; see
    /// `tinykv_server::proxy`).
    #[arg(long)]
    pub faults: bool,
    /// Where the binaries are (default: next to tinykv-cluster).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
}

/// Runs `tinykv-cluster`.
pub fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tinykv-cluster: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: Args) -> Result<(), Error> {
    let bin_dir = match args.bin_dir {
        Some(dir) => dir,
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(PathBuf::from))
            .ok_or_else(|| Error::Io("cannot find my own executable".into()))?,
    };
    // A temporary directory is removed when `_temporary` drops, at exit.
    let (data_dir, _temporary) = match args.data_dir {
        Some(dir) => (dir, None),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("tinykv-cluster-")
                .tempdir()
                .map_err(|e| Error::Io(format!("cannot create a temporary directory: {e}")))?;
            (dir.path().to_path_buf(), Some(dir))
        }
    };
    let mut store_args = vec![
        "--engine".to_string(),
        format!("{:?}", args.engine).to_lowercase(),
    ];
    if args.no_sync {
        store_args.push("--no-sync".into());
    }
    let spec = Spec {
        stores: args.stores,
        bin_dir,
        data_dir,
        base_port: args.base_port,
        scheduler: match args.scheduler {
            SchedulerMode::Process => SchedulerKind::Process,
            SchedulerMode::Inline => SchedulerKind::InProcess,
            SchedulerMode::None => SchedulerKind::None,
        },
        proxies: args.faults,
        store_args,
    };
    serve(spec, args.faults)
}

fn serve(spec: Spec, faults: bool) -> Result<(), Error> {
    eprintln!(
        "tinykv-cluster: starting {} stores in {}",
        spec.stores,
        spec.data_dir.display()
    );
    let mut cluster = Cluster::start(spec)?;
    let endpoints = cluster.endpoints().join(",");
    for id in cluster.ids() {
        if let Some(addr) = cluster.addr(id) {
            println!(
                "store {id}: {addr} (log {}/store-{id}.log)",
                cluster.data_dir().display()
            );
        }
    }
    let scheduler = cluster.scheduler_addr();
    if let Some(addr) = scheduler {
        println!("scheduler: {addr}");
    }
    if faults {
        let listener = cluster
            .runtime()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .map_err(|e| Error::Net(format!("cannot listen for fault control: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Net(e.to_string()))?;
        println!("faults: {addr} (tinykv-ctl fault --control {addr} isolate 1 drop|heal|status)");
        if let Some(mesh) = cluster.mesh() {
            cluster
                .runtime()
                .spawn(crate::proxy::serve_control(listener, mesh));
        }
    }
    println!("endpoints: {endpoints}");
    println!("try: tinykv-ctl --addr {endpoints} raw put hello world");
    if let Some(addr) = scheduler {
        println!("     tinykv-ctl regions --scheduler {addr}");
    }
    println!("     tinykv-bench --endpoints {endpoints}");
    println!(
        "tinykv-cluster ready: {} stores; Ctrl-C stops them",
        cluster.ids().len()
    );
    let mut reported = std::collections::BTreeSet::new();
    let runtime = cluster.runtime().handle().clone();
    runtime.block_on(async {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let signal = stop_signal();
        tokio::pin!(signal);
        loop {
            tokio::select! {
                biased;
                () = &mut signal => return,
                _ = tick.tick() => {}
            }
            // Reported once each; nothing is restarted.
            for id in cluster.ids() {
                if !cluster.is_running(id) && reported.insert(id) {
                    eprintln!("tinykv-cluster: store {id} is down (not restarted)");
                }
            }
        }
    });
    eprintln!("tinykv-cluster: stopping");
    let killed = cluster.stop();
    if !killed.is_empty() {
        eprintln!(
            "tinykv-cluster: killed after {:?}: {}",
            super::GRACE,
            killed.join(", ")
        );
    }
    eprintln!("tinykv-cluster: stopped");
    Ok(())
}
