//! The `tinykv-scheduler` command line. Bad flags or an address it cannot
//! listen on end in a one-line message and a non-zero exit — never a panic.

use std::process::ExitCode;

use clap::Parser;

use crate::Error;
use crate::cluster::Config;
use crate::server::{Clock, SchedulerServer};

/// `tinykv-scheduler`: serves the scheduler API over TCP.
#[derive(Debug, Parser)]
#[command(
    name = "tinykv-scheduler",
    version,
    about = "TinyKV scheduler (Project 3C): region/store bookkeeping, balancing, ids and timestamps"
)]
pub struct Args {
    /// Where to listen, HOST:PORT (port 0 picks one; the address is printed).
    #[arg(long)]
    pub addr: String,
    /// Replicas per region the balancer expects.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=15))]
    pub max_replicas: u64,
    /// The first id the allocator hands out.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub first_id: u64,
    /// Minutes of silence after which a store counts as down.
    #[arg(long, default_value_t = 30)]
    pub max_store_down_minutes: u64,
    /// Do not run the balance scheduler (bookkeeping, ids and TSO only).
    #[arg(long)]
    pub no_balance: bool,
    /// Keep the id and timestamp reservation here, so a restart never
    /// hands out an id or a timestamp again (created if missing). Without
    /// it a restarted scheduler may repeat them: only for throwaway runs.
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
}

/// Runs `tinykv-scheduler`.
pub fn main() -> ExitCode {
    let args = Args::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(Error::Net(format!("cannot start runtime: {e}"))),
    };
    let result = runtime.block_on(async {
        let config = Config {
            max_replicas: usize::try_from(args.max_replicas).unwrap_or(3),
            max_store_down_time_ms: args.max_store_down_minutes.saturating_mul(60_000),
            ..Config::default()
        };
        let server = match &args.data_dir {
            Some(dir) => SchedulerServer::durable(config, args.first_id, Clock::System, dir)?,
            None => {
                eprintln!(
                    "tinykv-scheduler: warning: no --data-dir: a restart may hand out ids and \
                     timestamps again"
                );
                SchedulerServer::new(config, args.first_id, Clock::System)
            }
        };
        let listener = crate::net::bind(&args.addr).await?;
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| args.addr.clone());
        // Tests and scripts read this line for the port.
        println!("tinykv-scheduler listening on {addr}");
        let shutdown = labrpc::Shutdown::new();
        if !args.no_balance {
            tokio::spawn(server.clone().run_schedulers(shutdown.clone()));
        }
        tokio::select! {
            biased;
            () = stop_signal() => {}
            () = crate::net::serve(listener, server) => {}
        }
        shutdown.trigger();
        Ok::<(), Error>(())
    });
    drop(runtime);
    match result {
        Ok(()) => {
            eprintln!("tinykv-scheduler: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
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

fn fail(e: Error) -> ExitCode {
    eprintln!("tinykv-scheduler: error: {e}");
    ExitCode::from(1)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
