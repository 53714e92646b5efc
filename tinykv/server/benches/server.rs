//! The server's benchmark (not a test: it prints figures and asserts
//! nothing about speed).
//!
//! ```sh
//! cargo bench -p tinykv-server            # both parts
//! cargo bench -p tinykv-server -- raw     # RawGet / RawPut over TCP vs direct
//! cargo bench -p tinykv-server -- txn     # transactions over TCP
//! cargo bench -p tinykv-server -- get     # RawGet only
//! cargo bench -p tinykv-server -- get 16x1   # only 16 clients on 1 connection
//! ```
//!
//! `raw`: the raw service over TCP on loopback (server and clients in this
//! process, sharing the machine's cores) with 1 and 16 clients, on a
//! connection each or all 16 pipelined on one, against the redb engine
//! called directly from as many threads — RawGet, and synced RawPut (the
//! service writes through `GroupCommit` as the real server does; direct
//! puts are measured on the bare engine and through `GroupCommit`). Each
//! line gives wall-clock throughput and this process's CPU time per
//! operation (server and clients together for TCP): on a shared machine
//! the CPU figure is the steadier one, and the direct side's 16 OS threads
//! get a larger share of a loaded machine than the runtime's 2 workers.
//!
//! `txn`: committed two-key transactions per wall-second through a real
//! `tinykv-server` process (memory and disk engines, synced), 1 and 16
//! clients each on its own connection; `disjoint` (each client its own
//! keys) and `contended` (all clients on 8 hot keys: the abort rate is the
//! share of commits that returned `false`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tinykv_server::{Connection, Router};
use tinykv_storage::raw::{RawGetRequest, RawPutRequest};
use tinykv_storage::service::{RawGet, RawPut};
use tinykv_storage::{
    Cf, DiskEngine, Engine, GroupCommit, RawServer, StandaloneStorage, WriteBatch, WriteOptions,
};
use tinykv_txn::Client;

const KEYS: u32 = 100_000;
const VALUE: usize = 100;

fn key(i: u32) -> [u8; 8] {
    (u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_be_bytes()
}

fn rate(n: usize, d: Duration) -> String {
    format!(
        "{:>9.0}/s  ({:.3} s)",
        n as f64 / d.as_secs_f64(),
        d.as_secs_f64()
    )
}

/// This process's CPU time so far (user + system, all threads), from
/// `/proc/self/stat`; zero where that is not readable. On a loaded machine
/// CPU time per operation varies much less than wall time.
fn cpu_time() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the parenthesised command name; utime and stime
            // are fields 14 and 15 of the whole line.
            let rest = &stat[stat.rfind(')')? + 2..];
            let mut fields = rest.split(' ').skip(11);
            let user: u64 = fields.next()?.parse().ok()?;
            let system: u64 = fields.next()?.parse().ok()?;
            Some(user + system)
        })
        .unwrap_or(0);
    // The kernel reports in USER_HZ, 100 per second on Linux.
    Duration::from_millis(ticks * 10)
}

/// `ops` calls split over `clients` threads, each calling `f(i)`; wall and
/// CPU time.
fn threads(clients: usize, ops: usize, f: impl Fn(usize) + Sync) -> (Duration, Duration) {
    let (t, cpu) = (Instant::now(), cpu_time());
    std::thread::scope(|s| {
        for c in 0..clients {
            let f = &f;
            s.spawn(move || {
                for i in (c..ops).step_by(clients) {
                    f(i);
                }
            });
        }
    });
    (t.elapsed(), cpu_time().saturating_sub(cpu))
}

fn bench_raw(with_puts: bool) {
    let dir = tempfile::tempdir().unwrap();
    let engine: Arc<dyn Engine> = Arc::new(DiskEngine::open(dir.path()).unwrap());
    let mut batch = WriteBatch::new();
    for i in 0..KEYS {
        batch.put(Cf::Default, key(i), vec![1u8; VALUE]);
    }
    engine.write(&batch, WriteOptions::SYNC).unwrap();
    // The service writes through group commit, as `tinykv-server` does;
    // the direct puts are measured both on the bare engine and through it.
    let grouped: Arc<dyn Engine> = Arc::new(GroupCommit::new(engine.clone()));
    let server = RawServer::new(Arc::new(StandaloneStorage::new(grouped.clone())));
    let router = Router::new().raw(server);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(tinykv_server::serve(listener, router));
        addr
    });

    const GETS: usize = 100_000;
    const PUTS: usize = 400;
    // (clients, connections): 16 clients either on a connection each or
    // all pipelined on one.
    let configs: Vec<(usize, usize)> = [(1usize, 1usize), (16, 16), (16, 1)]
        .into_iter()
        .filter(|(c, n)| {
            let only: Vec<String> = std::env::args().filter(|a| a.contains('x')).collect();
            only.is_empty() || only.contains(&format!("{c}x{n}"))
        })
        .collect();
    for (clients, connections) in configs {
        let direct_get = threads(clients, GETS, |i| {
            let snap = engine.snapshot().unwrap();
            snap.get_cf(Cf::Default, &key(i as u32)).unwrap().unwrap();
        });
        let direct_put = threads(clients, if with_puts { PUTS } else { 0 }, |i| {
            let mut b = WriteBatch::new();
            b.put(Cf::Lock, key(i as u32), vec![clients as u8; VALUE]);
            engine.write(&b, WriteOptions::SYNC).unwrap();
        });
        let direct_grouped = threads(clients, if with_puts { PUTS } else { 0 }, |i| {
            let mut b = WriteBatch::new();
            b.put(Cf::Lock, key(i as u32), vec![50 + clients as u8; VALUE]);
            grouped.write(&b, WriteOptions::SYNC).unwrap();
        });
        let (tcp_get, tcp_put) = rt.block_on(async {
            let mut conns = Vec::new();
            for _ in 0..connections {
                conns.push(Connection::connect(&addr).await.unwrap());
            }
            let conns: Vec<_> = (0..clients)
                .map(|c| conns[c % connections].clone())
                .collect();
            let run = |put: bool, ops: usize| {
                let conns = conns.clone();
                async move {
                    let (t, cpu) = (Instant::now(), cpu_time());
                    let tasks: Vec<_> = conns
                        .into_iter()
                        .enumerate()
                        .map(|(c, client)| {
                            tokio::spawn(async move {
                                for i in (c..ops).step_by(clients) {
                                    if put {
                                        let req = RawPutRequest {
                                            key: key(i as u32).to_vec(),
                                            value: vec![100 + clients as u8; VALUE],
                                            cf: "lock".into(),
                                            ..Default::default()
                                        };
                                        let r = client.call::<RawPut>(&req).await.unwrap();
                                        assert_eq!(r.error, "");
                                    } else {
                                        let req = RawGetRequest {
                                            key: key(i as u32).to_vec(),
                                            cf: "default".into(),
                                            ..Default::default()
                                        };
                                        let r = client.call::<RawGet>(&req).await.unwrap();
                                        assert!(!r.not_found);
                                    }
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                    (t.elapsed(), cpu_time().saturating_sub(cpu))
                }
            };
            (
                run(false, GETS).await,
                run(true, if with_puts { PUTS } else { 0 }).await,
            )
        });
        let ratio = |svc: Duration, direct: Duration| svc.as_secs_f64() / direct.as_secs_f64();
        let cpu = |n: usize, (_, cpu): (Duration, Duration)| {
            format!("{:>5.1} µs CPU/op", cpu.as_secs_f64() * 1e6 / n as f64)
        };
        for (op, n, tcp, direct) in [
            ("get", GETS, tcp_get, direct_get),
            ("put", PUTS, tcp_put, direct_put),
            ("put, direct grouped", PUTS, tcp_put, direct_grouped),
        ] {
            println!(
                "service {clients:>2} clients {connections:>2} conns  {op}: tcp {} {}  direct {} {}  ×{:.2}",
                rate(n, tcp.0),
                cpu(n, tcp),
                rate(n, direct.0),
                cpu(n, direct),
                ratio(tcp.0, direct.0)
            );
        }
    }
}

/// A real `tinykv-server` process; killed when dropped.
struct ServerProc(std::process::Child, String);

impl ServerProc {
    fn start(engine: &str, data: &std::path::Path) -> ServerProc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tinykv-server"))
            .args(["--store", "standalone", "--engine", engine])
            .args(["--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot start tinykv-server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.split_whitespace().nth(3).unwrap().to_string();
        ServerProc(child, addr)
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bench_txn() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "txn over TCP: engine  clients  workload   committed  aborted  abort%   wall s   txns/s"
    );
    for engine in ["memory", "disk"] {
        for (clients, contended) in [(1usize, false), (16, false), (16, true)] {
            let dir = tempfile::tempdir().unwrap();
            let server = ServerProc::start(engine, dir.path());
            let per_client = if engine == "disk" {
                320 / clients
            } else {
                3200 / clients
            };
            let addr = server.1.clone();
            let (committed, aborted, secs) = rt.block_on(async move {
                let mut all = Vec::new();
                for _ in 0..clients {
                    let conn = Connection::connect(&addr).await.unwrap();
                    all.push(Client::new(conn.clone(), conn));
                }
                let t = Instant::now();
                let tasks: Vec<_> = all
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| {
                        tokio::spawn(async move {
                            let (mut committed, mut aborted) = (0u64, 0u64);
                            for n in 0..per_client {
                                let key = |j: usize| {
                                    if contended {
                                        format!("hot{}", (n * 2 + j) % 8)
                                    } else {
                                        format!("c{i}-k{}", (n * 2 + j) % 64)
                                    }
                                };
                                let mut txn = c.begin().await.unwrap();
                                for j in 0..2 {
                                    let _ = c.get(&txn, key(j).as_bytes()).await.unwrap();
                                    txn.set(key(j).into_bytes(), n.to_string());
                                }
                                match c.commit(txn).await {
                                    Ok(true) => committed += 1,
                                    _ => aborted += 1,
                                }
                            }
                            (committed, aborted)
                        })
                    })
                    .collect();
                let (mut committed, mut aborted) = (0, 0);
                for task in tasks {
                    let (c, a) = task.await.unwrap();
                    committed += c;
                    aborted += a;
                }
                (committed, aborted, t.elapsed().as_secs_f64())
            });
            let total = (committed + aborted).max(1);
            println!(
                "              {engine:<7} {clients:>7}  {:<9} {committed:>10} {aborted:>8} {:>6.1} {secs:>8.2} {:>8.0}",
                if contended { "contended" } else { "disjoint" },
                100.0 * aborted as f64 / total as f64,
                committed as f64 / secs
            );
        }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn main() {
    let start = Instant::now();
    println!("load average before: {}", load_average());
    let args: Vec<String> = std::env::args().skip(1).collect();
    let only = |part: &str| {
        !args.iter().any(|a| a == "raw" || a == "txn" || a == "get")
            || args.iter().any(|a| a == part)
    };
    if args.iter().any(|a| a == "get") {
        bench_raw(false);
    } else if only("raw") {
        bench_raw(true);
    }
    if only("txn") {
        bench_txn();
    }
    println!("load average after: {}", load_average());
    println!("total {:.1} s", start.elapsed().as_secs_f64());
}
