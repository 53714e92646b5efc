//! Engine and service benchmark (not a test: it prints figures, it asserts
//! nothing about speed).
//!
//! ```sh
//! cargo bench -p tinykv-storage                    # redb (+ memory)
//! cargo bench -p tinykv-storage --features fjall   # and the runner-up, fjall
//! ```
//!
//! Per engine: one batch put of 100,000 keys × 100 B values (synced),
//! 100,000 point gets in random order on one snapshot, one 10,000-key scan,
//! and the time to reopen after writing 200 MB. The raw service over TCP
//! is measured by `cargo bench -p tinykv-server`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tinykv_storage::{Cf, DiskEngine, Engine, MemEngine, WriteBatch, WriteOptions};

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

#[cfg(feature = "fjall")]
#[path = "support/fjall_engine.rs"]
mod fjall_engine;

fn main() {
    let start = Instant::now();
    bench_engine("mem", &|_| Arc::new(MemEngine::new()));
    bench_engine("redb", &|p| Arc::new(DiskEngine::open(p).unwrap()));
    #[cfg(feature = "fjall")]
    bench_engine("fjall", &|p| Arc::new(fjall_engine::FjallEngine::open(p)));
    #[cfg(not(feature = "fjall"))]
    println!("(fjall: run with --features fjall to measure the runner-up)");
    println!("total {:.1} s", start.elapsed().as_secs_f64());
}
