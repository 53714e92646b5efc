//! Engine and service benchmark (not a test: it prints figures, it asserts
//! nothing about speed).
//!
//! ```sh
//! cargo bench -p tinykv-storage                    # redb (+ memory)
//! cargo bench -p tinykv-storage --features fjall   # and the runner-up, fjall
//! cargo bench -p tinykv-storage -- service         # only the TCP service part
//! ```
//!
//! Per engine: one batch put of 100,000 keys × 100 B values (synced),
//! 100,000 point gets in random order on one snapshot, one 10,000-key scan,
//! and the time to reopen after writing 200 MB. Then the raw service over
//! TCP (tarpc, loopback) with 1 and 16 clients against the redb engine
//! called directly from 1 and 16 threads, for RawGet and synced RawPut.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tinykv_storage::raw::{RawGetRequest, RawPutRequest};
use tinykv_storage::{
    Cf, DiskEngine, Engine, MemEngine, RawServer, StandaloneStorage, WriteBatch, WriteOptions,
};

const KEYS: u32 = 100_000;
const VALUE: usize = 100;
const SCAN: usize = 10_000;
const REOPEN_BYTES: usize = 200 << 20;

fn key(i: u32) -> [u8; 8] {
    // Spread the keys so insertion order is not key order.
    (u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_be_bytes()
}

fn rate(n: usize, d: Duration) -> String {
    format!(
        "{:>9.0}/s  ({:.3} s)",
        n as f64 / d.as_secs_f64(),
        d.as_secs_f64()
    )
}

/// The four engine measurements; `open` opens (or reopens) the engine in a
/// directory.
fn bench_engine(name: &str, open: &dyn Fn(&std::path::Path) -> Arc<dyn Engine>) {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let mut batch = WriteBatch::new();
    for i in 0..KEYS {
        batch.put(Cf::Default, key(i), vec![i as u8; VALUE]);
    }
    let t = Instant::now();
    engine.write(&batch, WriteOptions::SYNC).unwrap();
    println!(
        "{name:<6} batch put {KEYS} × {VALUE} B   {}",
        rate(KEYS as usize, t.elapsed())
    );

    let snap = engine.snapshot().unwrap();
    let mut x = 12345u32;
    let t = Instant::now();
    for _ in 0..KEYS {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let got = snap.get_cf(Cf::Default, &key(x % KEYS)).unwrap();
        assert_eq!(got.map(|v| v.len()), Some(VALUE));
    }
    println!(
        "{name:<6} point get {KEYS}            {}",
        rate(KEYS as usize, t.elapsed())
    );

    let t = Instant::now();
    let mut it = snap.iter_cf(Cf::Default).unwrap();
    it.seek(&key(7)).unwrap();
    let mut n = 0;
    while n < SCAN && it.valid() {
        n += 1;
        it.next().unwrap();
    }
    assert_eq!(n, SCAN);
    drop(it);
    drop(snap);
    println!(
        "{name:<6} scan {SCAN}                  {}",
        rate(SCAN, t.elapsed())
    );
    if name == "mem" {
        return; // nothing to reopen
    }

    // 200 MB more in 1 KiB values, 1,000 per batch, then a clean close.
    let t = Instant::now();
    let value = vec![7u8; 1024];
    let batches = REOPEN_BYTES / (1024 * 1000);
    for b in 0..batches {
        let mut batch = WriteBatch::new();
        for i in 0..1000 {
            batch.put(
                Cf::Write,
                ((b * 1000 + i) as u64).to_be_bytes(),
                value.clone(),
            );
        }
        let last = b + 1 == batches;
        let opts = if last {
            WriteOptions::SYNC
        } else {
            WriteOptions::NO_SYNC
        };
        engine.write(&batch, opts).unwrap();
    }
    let wrote = t.elapsed();
    drop(engine);
    let t = Instant::now();
    let engine = open(dir.path());
    let reopen = t.elapsed();
    let snap = engine.snapshot().unwrap();
    assert!(
        snap.get_cf(Cf::Write, &0u64.to_be_bytes())
            .unwrap()
            .is_some()
    );
    println!(
        "{name:<6} write 200 MB {:.2} s; reopen {:.3} s; on disk {} MB",
        wrote.as_secs_f64(),
        reopen.as_secs_f64(),
        du(dir.path()) >> 20
    );
}

fn du(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => du(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
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

fn bench_service() {
    let dir = tempfile::tempdir().unwrap();
    let engine: Arc<dyn Engine> = Arc::new(DiskEngine::open(dir.path()).unwrap());
    let mut batch = WriteBatch::new();
    for i in 0..KEYS {
        batch.put(Cf::Default, key(i), vec![1u8; VALUE]);
    }
    engine.write(&batch, WriteOptions::SYNC).unwrap();
    let server = RawServer::new(Arc::new(StandaloneStorage::new(engine.clone())));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(async {
        let listener = tinykv_storage::net::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(tinykv_storage::net::serve(listener, server));
        addr
    });

    const GETS: usize = 20_000;
    const PUTS: usize = 400;
    // (clients, connections): 16 clients either on a connection each or
    // all multiplexed on one (tarpc pipelines their calls).
    for (clients, connections) in [(1usize, 1usize), (16, 16), (16, 1)] {
        let direct_get = threads(clients, GETS, |i| {
            let snap = engine.snapshot().unwrap();
            snap.get_cf(Cf::Default, &key(i as u32)).unwrap().unwrap();
        });
        let direct_put = threads(clients, PUTS, |i| {
            let mut b = WriteBatch::new();
            b.put(Cf::Lock, key(i as u32), vec![clients as u8; VALUE]);
            engine.write(&b, WriteOptions::SYNC).unwrap();
        });
        let (tcp_get, tcp_put) = rt.block_on(async {
            let mut conns = Vec::new();
            for _ in 0..connections {
                conns.push(tinykv_storage::net::connect(&addr).await.unwrap());
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
                                    let ctx = tinykv_storage::net::context();
                                    if put {
                                        let req = RawPutRequest {
                                            key: key(i as u32).to_vec(),
                                            value: vec![100 + clients as u8; VALUE],
                                            cf: "lock".into(),
                                            ..Default::default()
                                        };
                                        let r = client.raw_put(ctx, req).await.unwrap();
                                        assert_eq!(r.error, "");
                                    } else {
                                        let req = RawGetRequest {
                                            key: key(i as u32).to_vec(),
                                            cf: "default".into(),
                                            ..Default::default()
                                        };
                                        let r = client.raw_get(ctx, req).await.unwrap();
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
            (run(false, GETS).await, run(true, PUTS).await)
        });
        let ratio = |svc: Duration, direct: Duration| svc.as_secs_f64() / direct.as_secs_f64();
        let cpu = |n: usize, (_, cpu): (Duration, Duration)| {
            format!("{:>5.1} µs CPU/op", cpu.as_secs_f64() * 1e6 / n as f64)
        };
        for (op, n, tcp, direct) in [
            ("get", GETS, tcp_get, direct_get),
            ("put", PUTS, tcp_put, direct_put),
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

#[cfg(feature = "fjall")]
#[path = "support/fjall_engine.rs"]
mod fjall_engine;

fn main() {
    let start = Instant::now();
    // `-- service` skips the engine measurements (cargo also passes
    // `--bench`, which is ignored).
    if std::env::args().skip(1).any(|a| a == "service") {
        bench_service();
        println!("total {:.1} s", start.elapsed().as_secs_f64());
        return;
    }
    bench_engine("mem", &|_| Arc::new(MemEngine::new()));
    bench_engine("redb", &|p| Arc::new(DiskEngine::open(p).unwrap()));
    #[cfg(feature = "fjall")]
    bench_engine("fjall", &|p| Arc::new(fjall_engine::FjallEngine::open(p)));
    #[cfg(not(feature = "fjall"))]
    println!("(fjall: run with --features fjall to measure the runner-up)");
    bench_service();
    println!("total {:.1} s", start.elapsed().as_secs_f64());
}
