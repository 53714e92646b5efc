//! `tinykv-bench`: one workload (puts, gets or a mix) from N concurrent
//! clients against a `tinykv-server` or an etcd cluster, for a number of
//! operations or a time; a progress bar while it runs, then a table of
//! throughput and latency percentiles. Both targets are driven by the same
//! loop, so the figures compare like with like: each client has its own
//! connection and one request in flight; keys are drawn uniformly from
//! `--keys` with a seeded generator.
//!
//! Exit codes: 0 done, 1 a failure (an endpoint unreachable, an operation
//! failed: the table still prints, with the first error), 2 bad flags.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use tinykv_storage::raw::{RawGetRequest, RawPutRequest};
use tinykv_storage::service::{RawGet, RawPut};

use crate::etcd::Gateway;
use crate::{ClusterClient, Error};

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// A `tinykv-server` (its raw API, column family `default`).
    Tinykv,
    /// An etcd v3 cluster, through its JSON gateway on the client URLs.
    Etcd,
}

/// The operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Writes only.
    Put,
    /// Reads only (of keys written beforehand, unless `--no-fill`).
    Get,
    /// Reads and writes, `--read-percent` of them reads.
    Mixed,
}

/// `tinykv-bench`'s flags.
#[derive(Debug, Parser)]
#[command(
    name = "tinykv-bench",
    version,
    about = "Benchmark a tinykv-server or an etcd cluster with the same workload"
)]
pub struct BenchArgs {
    /// The system to measure.
    #[arg(long, value_enum, default_value = "tinykv")]
    pub target: Target,
    /// Where it listens, comma-separated: HOST:PORT for tinykv, client URLs
    /// (http://HOST:PORT) for etcd. Client i uses endpoint i mod their
    /// number; against a tinykv raft cluster (several endpoints) it then
    /// follows the leader.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:20160")]
    pub endpoints: Vec<String>,
    /// The operations.
    #[arg(long, value_enum, default_value = "put")]
    pub workload: Workload,
    /// Concurrent clients, each on its own connection with one request in
    /// flight.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub clients: u32,
    /// How many distinct keys the operations draw from.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub keys: u64,
    /// Bytes per written value.
    #[arg(long, default_value_t = 256, value_parser = value_size)]
    pub value_size: usize,
    /// Run for this many seconds (instead of `--total` operations).
    #[arg(long, conflicts_with = "total", value_parser = seconds)]
    pub duration: Option<Duration>,
    /// Run this many operations in all [default: 10000].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub total: Option<u64>,
    /// In the mixed workload, the share of reads, in percent.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub read_percent: u8,
    /// Do not write the key space before a get or mixed workload.
    #[arg(long)]
    pub no_fill: bool,
    /// Seed of the key choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How long connecting and the first request on each connection may
    /// take, in seconds.
    #[arg(long, default_value = "5", value_parser = seconds)]
    pub connect_timeout: Duration,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
}

/// The largest value: within both tinykv's and etcd's default request limit.
pub const MAX_VALUE: usize = 1024 * 1024;

fn value_size(text: &str) -> Result<usize, String> {
    let n: usize = text.parse().map_err(|e| format!("{e}"))?;
    if n > MAX_VALUE {
        return Err(format!("at most {MAX_VALUE} bytes"));
    }
    Ok(n)
}

fn seconds(text: &str) -> Result<Duration, String> {
    let s: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if !(s > 0.0 && s <= 86_400.0) {
        return Err("seconds must be above 0 and at most 86400".into());
    }
    Ok(Duration::from_secs_f64(s))
}

/// One client's connection.
enum Store {
    Tinykv(ClusterClient),
    Etcd(Gateway),
}

impl Store {
    /// Client `c`'s store: for tinykv, a client of every endpoint (a raft
    /// cluster's stores) starting with endpoint `c` mod their number and
    /// following the leader.
    async fn connect(target: Target, endpoints: &[String], c: usize) -> Result<Store, Error> {
        let endpoint = endpoints[c % endpoints.len()].trim();
        Ok(match target {
            Target::Tinykv => Store::Tinykv(ClusterClient::new(endpoints, c)?),
            Target::Etcd => Store::Etcd(Gateway::connect(endpoint).await?),
        })
    }

    /// One read, so that an endpoint that is not what `target` says (or
    /// does not answer) fails before anything is measured.
    async fn probe(
        &mut self,
        target: Target,
        endpoint: &str,
        limit: Duration,
    ) -> Result<(), Error> {
        let what = match target {
            Target::Tinykv => "a tinykv-server",
            Target::Etcd => "an etcd v3 gateway",
        };
        match tokio::time::timeout(limit, self.get(b"bench-probe".to_vec())).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Error::Net(format!(
                "{endpoint} does not answer as {what}: {e}"
            ))),
            Err(_) => Err(Error::Net(format!(
                "{endpoint} does not answer as {what} (no reply within {limit:?})"
            ))),
        }
    }

    async fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), Error> {
        match self {
            Store::Tinykv(conn) => {
                let req = RawPutRequest {
                    key,
                    value,
                    cf: "default".into(),
                    ..Default::default()
                };
                let resp = conn.call::<RawPut>(&req).await?;
                if !resp.error.is_empty() {
                    return Err(Error::Remote(resp.error));
                }
                Ok(())
            }
            Store::Etcd(etcd) => etcd.put(&key, &value).await,
        }
    }

    async fn get(&mut self, key: Vec<u8>) -> Result<bool, Error> {
        match self {
            Store::Tinykv(conn) => {
                let req = RawGetRequest {
                    key,
                    cf: "default".into(),
                    ..Default::default()
                };
                let resp = conn.call::<RawGet>(&req).await?;
                if !resp.error.is_empty() {
                    return Err(Error::Remote(resp.error));
                }
                Ok(!resp.not_found)
            }
            Store::Etcd(etcd) => Ok(etcd.get(&key).await?.is_some()),
        }
    }
}

/// SplitMix64: a small seeded generator (a benchmark needs no more).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("bench{i:010}").into_bytes()
}

/// When the measured run stops.
#[derive(Clone, Copy)]
enum Until {
    Total(u64),
    Deadline(Instant),
}

/// What the run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Operations that succeeded.
    pub ops: u64,
    /// Reads that found no value.
    pub misses: u64,
    /// Wall time of the measured part.
    pub elapsed: Duration,
    /// Latencies of the successful operations, sorted, in microseconds.
    pub latencies: Vec<u32>,
    /// The first failure, if any (the run stops at it).
    pub error: Option<String>,
}

impl Report {
    /// The `p`-th percentile latency (nearest rank), `p` in 0..=100.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        let at = rank.clamp(1, self.latencies.len()) - 1;
        Duration::from_micros(u64::from(self.latencies[at]))
    }
}

/// What each client task returns: (ops, misses, latencies µs, error).
type ClientResult = (u64, u64, Vec<u32>, Option<String>);

/// Runs the benchmark `args` describes (the clients connect first: an
/// unreachable endpoint fails before anything is measured).
pub async fn run(args: &BenchArgs) -> Result<Report, Error> {
    if args.endpoints.is_empty() || args.endpoints.iter().any(|e| e.trim().is_empty()) {
        return Err(Error::Usage("--endpoints names no endpoint".into()));
    }
    if args.target == Target::Etcd {
        for e in &args.endpoints {
            crate::etcd::parse_endpoint(e)?;
        }
    }
    let mut stores = Vec::new();
    for c in 0..args.clients as usize {
        let endpoint = args.endpoints[c % args.endpoints.len()].trim();
        let connect = Store::connect(args.target, &args.endpoints, c);
        let mut store = match tokio::time::timeout(args.connect_timeout, connect).await {
            Ok(store) => store?,
            Err(_) => {
                return Err(Error::Net(format!(
                    "cannot connect to {endpoint}: no answer within {:?}",
                    args.connect_timeout
                )));
            }
        };
        store
            .probe(args.target, endpoint, args.connect_timeout)
            .await?;
        stores.push(store);
    }
    let progress = |len: u64, what: &str| {
        let bar = if args.no_progress {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new(len)
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg:8} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec})",
        ) {
            bar.set_style(style);
        }
        bar.set_message(what.to_string());
        bar
    };
    let value = Arc::new(vec![b'v'; args.value_size]);
    if args.workload != Workload::Put && !args.no_fill {
        let bar = progress(args.keys, "filling");
        // Client c fills keys c, c + n, c + 2n, …: every client (so every
        // endpoint) writes its share, however the tasks are scheduled.
        let keys = args.keys;
        let n = stores.len() as u64;
        let fill: Vec<_> = stores
            .drain(..)
            .enumerate()
            .map(|(c, mut store)| {
                let (value, bar) = (value.clone(), bar.clone());
                tokio::spawn(async move {
                    for i in (c as u64..keys).step_by(n as usize) {
                        store.put(key(i), value.to_vec()).await?;
                        bar.inc(1);
                    }
                    Ok::<Store, Error>(store)
                })
            })
            .collect();
        for task in fill {
            stores.push(join(task).await??);
        }
        bar.finish_and_clear();
    }

    let until = match args.duration {
        Some(d) => Until::Deadline(Instant::now() + d),
        None => Until::Total(args.total.unwrap_or(10_000)),
    };
    let bar = match until {
        Until::Total(n) => progress(n, "running"),
        Until::Deadline(_) => {
            let secs = args.duration.map_or(1, |d| d.as_secs().max(1));
            let bar = progress(secs, "running");
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} s",
            ) {
                bar.set_style(style);
            }
            bar
        }
    };
    let counters = Arc::new(Counters::default());
    let t0 = Instant::now();
    let (workload, keys, read_percent) = (args.workload, args.keys, args.read_percent);
    let clients: Vec<_> = stores
        .into_iter()
        .enumerate()
        .map(|(c, mut store)| {
            let (counters, value) = (counters.clone(), value.clone());
            let mut rng = Rng(args.seed ^ (c as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
            tokio::spawn(async move {
                let (mut ops, mut misses, mut latencies) = (0u64, 0u64, Vec::new());
                loop {
                    if counters.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match until {
                        Until::Total(n) => {
                            if counters.started.fetch_add(1, Ordering::Relaxed) >= n {
                                break;
                            }
                        }
                        Until::Deadline(at) => {
                            if Instant::now() >= at {
                                break;
                            }
                        }
                    }
                    let k = key(rng.below(keys));
                    let read = match workload {
                        Workload::Put => false,
                        Workload::Get => true,
                        Workload::Mixed => rng.below(100) < u64::from(read_percent),
                    };
                    let t = Instant::now();
                    let outcome = if read {
                        store.get(k).await.map(|found| !found)
                    } else {
                        store.put(k, value.to_vec()).await.map(|()| false)
                    };
                    match outcome {
                        Ok(missed) => {
                            let us = t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                            latencies.push(us);
                            ops += 1;
                            misses += u64::from(missed);
                            counters.done.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            counters.stop.store(true, Ordering::Relaxed);
                            return (ops, misses, latencies, Some(e.to_string()));
                        }
                    }
                }
                (ops, misses, latencies, None)
            })
        })
        .collect();
    let watch = {
        let (bar, counters) = (bar.clone(), counters.clone());
        tokio::spawn(async move {
            loop {
                match until {
                    Until::Total(_) => bar.set_position(counters.done.load(Ordering::Relaxed)),
                    Until::Deadline(_) => {
                        bar.set_position(t0.elapsed().as_secs());
                        let done = counters.done.load(Ordering::Relaxed);
                        bar.set_message(format!("running, {done} ops"));
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let mut results: Vec<ClientResult> = Vec::new();
    for task in clients {
        results.push(join(task).await?);
    }
    let elapsed = t0.elapsed();
    watch.abort();
    bar.finish_and_clear();
    let mut report = Report {
        ops: 0,
        misses: 0,
        elapsed,
        latencies: Vec::new(),
        error: None,
    };
    for (ops, misses, latencies, error) in results {
        report.ops += ops;
        report.misses += misses;
        report.latencies.extend(latencies);
        if report.error.is_none() {
            report.error = error;
        }
    }
    report.latencies.sort_unstable();
    Ok(report)
}

/// The run's shared counters.
#[derive(Default)]
struct Counters {
    /// Operations claimed (`--total`).
    started: AtomicU64,
    /// Operations done (the progress bar).
    done: AtomicU64,
    /// A client failed: everyone stops.
    stop: AtomicBool,
}

async fn join<T>(task: tokio::task::JoinHandle<T>) -> Result<T, Error> {
    task.await
        .map_err(|e| Error::Io(format!("a client task failed: {e}")))
}

/// The table's header.
pub const HEADER: &str = "target  workload  clients  value B      ops   errors   secs      ops/s   p50 ms   p90 ms   p99 ms   max ms";

/// The table's row for `report`.
pub fn row(args: &BenchArgs, report: &Report) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let target = match args.target {
        Target::Tinykv => "tinykv",
        Target::Etcd => "etcd",
    };
    let workload = match args.workload {
        Workload::Put => "put",
        Workload::Get => "get",
        Workload::Mixed => "mixed",
    };
    format!(
        "{target:<7} {workload:<9} {:>7} {:>7} {:>8} {:>8} {:>6.2} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        args.clients,
        args.value_size,
        report.ops,
        u64::from(report.error.is_some()),
        report.elapsed.as_secs_f64(),
        report.ops as f64 / report.elapsed.as_secs_f64().max(1e-9),
        ms(report.percentile(50.0)),
        ms(report.percentile(90.0)),
        ms(report.percentile(99.0)),
        ms(report.percentile(100.0)),
    )
}

/// Runs `tinykv-bench`.
pub fn bench_main() -> ExitCode {
    let args = BenchArgs::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(Error::Io(format!("cannot start runtime: {e}"))),
    };
    let report = match runtime.block_on(run(&args)) {
        Ok(report) => report,
        Err(e) => return fail(e),
    };
    println!("{HEADER}");
    println!("{}", row(&args, &report));
    if report.misses > 0 {
        println!("({} reads found no value)", report.misses);
    }
    match report.error {
        Some(e) => {
            eprintln!("tinykv-bench: error: an operation failed, run stopped: {e}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}

fn fail(e: Error) -> ExitCode {
    eprintln!("tinykv-bench: error: {e}");
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let report = Report {
            ops: 100,
            misses: 0,
            elapsed: Duration::from_secs(1),
            latencies: (1..=100).collect(),
            error: None,
        };
        assert_eq!(report.percentile(50.0), Duration::from_micros(50));
        assert_eq!(report.percentile(99.0), Duration::from_micros(99));
        assert_eq!(report.percentile(100.0), Duration::from_micros(100));
        assert_eq!(report.percentile(0.0), Duration::from_micros(1));
        let empty = Report {
            latencies: Vec::new(),
            ..report
        };
        assert_eq!(empty.percentile(99.0), Duration::ZERO);
    }

    #[test]
    fn flags_parse_and_refuse() {
        let ok = BenchArgs::try_parse_from([
            "tinykv-bench",
            "--target",
            "etcd",
            "--endpoints",
            "http://a:1,http://b:2",
            "--clients",
            "64",
            "--duration",
            "1.5",
        ])
        .unwrap();
        assert_eq!(ok.endpoints, ["http://a:1", "http://b:2"]);
        assert_eq!(ok.duration, Some(Duration::from_millis(1500)));
        for bad in [
            &["--clients", "0"][..],
            &["--duration", "1", "--total", "5"],
            &["--duration", "-1"],
            &["--total", "0"],
            &["--value-size", "2000000"],
            &["--workload", "scan"],
            &["--target", "redis"],
            &["--read-percent", "101"],
            &["--keys", "0"],
        ] {
            let argv = std::iter::once("tinykv-bench").chain(bad.iter().copied());
            assert!(BenchArgs::try_parse_from(argv).is_err(), "{bad:?} accepted");
        }
    }
}
