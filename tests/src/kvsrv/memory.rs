//! The memory scenarios: the server must not keep what it does not need.
//!
//! Heap figures come from [`super::mem::live_bytes`], the live heap of this
//! simulation's thread (see `mem.rs`). The reference measures Go's
//! `HeapAlloc` of the whole test process after `runtime.GC()`; ours is exact
//! and excludes other tests running in parallel, so the same numeric bounds
//! apply to the same things: the server's state plus the (small) tester,
//! network and runtime. Where the reference compares whole MiB
//! (`HeapAlloc / MiB`), so do we.
//!
//! Each test prints one `  ... heap:` line with its figures.

use std::time::Duration;

use kvsrv::Clerk;

use super::config::Config;
use super::mem::{MIB, live_bytes};

/// Size of the large values, in MiB.
const MEM_MIB: i64 = 10;
/// Clerks in the many-clients tests.
const NCLIENT: i64 = 100_000;
/// The reference's pause before the last measurement ("allow threads
/// started by labrpc to finish"); kept so late work would be counted.
const SETTLE: Duration = Duration::from_secs(1);

/// A random value of `n` bytes, as the reference's `randValue`.
fn rand_value(n: i64) -> String {
    labrpc::rng::string(n as usize)
}

/// Unreliable net: Put 10 MiB, Get it from two clerks, Put "0"; the heap
/// must then be under 10 MiB (no copy of the old value kept by Get or Put).
pub async fn mem_get() {
    let cfg = Config::new(true);
    let mut ck0 = cfg.make_client();
    let mut ck1 = cfg.make_client();
    cfg.begin("Test: memory use get");

    let rd_val = rand_value(MIB * MEM_MIB);
    let len = rd_val.len();
    ck0.put("k", rd_val).await;
    let v = ck0.get("k").await;
    assert_eq!(v.len(), len, "error: incorrect len {}", v.len());
    drop(v);
    let v = ck1.get("k").await;
    assert_eq!(v.len(), len, "error: incorrect len {}", v.len());
    drop(v);
    ck0.put("k", "0").await;

    let m = live_bytes();
    println!("  ... heap: {m} B, {} MiB", m / MIB);
    assert!(
        m / MIB < MEM_MIB,
        "error: server using too much memory {} MiB ({m} B)",
        m / MIB
    );
    cfg.end();
    cfg.cleanup();
}

/// Put 10 MiB, then Put "" from another clerk: heap under 10 MiB.
pub async fn mem_put() {
    let cfg = Config::new(false);
    cfg.begin("Test: memory use put");
    let mut ck0 = cfg.make_client();
    let mut ck1 = cfg.make_client();

    ck0.put("k", rand_value(MIB * MEM_MIB)).await;
    ck1.put("k", "").await;

    let m = live_bytes();
    println!("  ... heap: {m} B, {} MiB", m / MIB);
    assert!(
        m / MIB < MEM_MIB,
        "error: server using too much memory {} MiB ({m} B)",
        m / MIB
    );
    cfg.end();
    cfg.cleanup();
}

/// Two clerks each Append 10 MiB to one key. The value is 20 MiB; the
/// reference allows one more copy of the old value (at most 30 whole MiB),
/// which is what a server that remembers the last Append's reply needs.
pub async fn mem_append() {
    let cfg = Config::new(false);
    cfg.begin("Test: memory use append");
    let mut ck0 = cfg.make_client();
    let mut ck1 = cfg.make_client();

    let old = ck0.append("k", rand_value(MIB * MEM_MIB)).await;
    drop(old);
    let old = ck1.append("k", rand_value(MIB * MEM_MIB)).await;
    assert_eq!(
        old.len() as i64,
        MIB * MEM_MIB,
        "second append saw the wrong old value"
    );
    drop(old);

    let m = live_bytes();
    println!("  ... heap: {m} B, {} MiB", m / MIB);
    assert!(
        m / MIB <= 3 * MEM_MIB,
        "error: server using too much memory {} MiB ({m} B)",
        m / MIB
    );
    cfg.end();
    cfg.cleanup();
}

/// Makes `n` clerks on a zero-latency network.
///
/// The many-clients tests make 100,000 sequential calls. At the default
/// one-way latency of 1 ms that is 200 s of virtual time, over the 120-s
/// limit; the reference, on real hardware, takes about 12 s. Latency is
/// irrelevant to what these tests measure (memory), so it is set to zero
/// and the calls take no virtual time at all.
fn many_clients(cfg: &Config, n: i64) -> Vec<Clerk> {
    cfg.net().set_latency(Duration::ZERO, Duration::ZERO);
    (0..n).map(|_| cfg.make_client()).collect()
}

/// 100,000 clerks each Put a 1000-byte value once: the heap may grow by at
/// most 200 bytes per clerk. The clerks and their ends exist before the
/// first measurement, as in the reference, so the growth is the server's
/// duplicate-detection state (a Put's sequence number per clerk that has not
/// sent a later request).
pub async fn mem_put_many_clients() {
    const VALUE: i64 = 1000;
    const PER_CLIENT: i64 = 200;
    let cfg = Config::new(false);
    let v = rand_value(VALUE);
    let mut cks = many_clients(&cfg, NCLIENT);
    tokio::time::sleep(SETTLE).await;
    cfg.begin("Test: memory use many put clients");

    let m0 = live_bytes();
    for ck in &mut cks {
        ck.put("k", v.as_str()).await;
    }
    tokio::time::sleep(SETTLE).await;
    let m1 = live_bytes();

    let per_client = (m1 - m0) as f64 / NCLIENT as f64;
    let remembered = cfg.server().remembered_clients();
    println!(
        "  ... heap: m0 {m0} m1 {m1} ({per_client:.2} B per client; server remembers {remembered} clerks)"
    );
    assert!(
        m1 <= m0 + NCLIENT * PER_CLIENT,
        "error: server using too much memory {m0} {m1} ({per_client:.2} per client)"
    );
    for ck in &cks {
        cfg.delete_client(ck);
    }
    cfg.end();
    cfg.cleanup();
}

/// 100,000 clerks each Get once: the heap must grow by less than 10 bytes
/// per clerk, i.e. a Get leaves nothing behind on the server.
pub async fn mem_get_many_clients() {
    const PER_CLIENT: i64 = 10;
    let cfg = Config::new(false);
    cfg.begin("Test: memory use many get client");
    let mut ck = cfg.make_client();
    ck.put("0", "").await;
    cfg.delete_client(&ck);
    let mut cks = many_clients(&cfg, NCLIENT);
    tokio::time::sleep(SETTLE).await;

    let m0 = live_bytes();
    for ck in &mut cks {
        ck.get("0").await;
    }
    tokio::time::sleep(SETTLE).await;
    let m1 = live_bytes();

    let per_client = (m1 - m0) as f64 / NCLIENT as f64;
    let remembered = cfg.server().remembered_clients();
    println!(
        "  ... heap: m0 {m0} m1 {m1} ({per_client:.2} B per client; server remembers {remembered} clerks)"
    );
    assert!(
        m1 < m0 + NCLIENT * PER_CLIENT,
        "error: server using too much memory m0 {m0} m1 {m1} ({per_client:.2} per client)"
    );
    for ck in &cks {
        cfg.delete_client(ck);
    }
    cfg.end();
    cfg.cleanup();
}

/// One clerk Appends 1000 values of 1000 bytes: the whole heap must stay
/// under 3 × 1000 × 1000 bytes, so the server cannot keep an old value per
/// Append (that would be about 500 MB).
pub async fn mem_many_appends() {
    const N: i64 = 1000;
    const VALUE: i64 = 1000;
    let cfg = Config::new(false);
    cfg.begin("Test: memory use many appends");
    let mut ck = cfg.make_client();
    let rd_val = rand_value(VALUE);

    let m0 = live_bytes();
    for _ in 0..N {
        let old = ck.append("k", rd_val.as_str()).await;
        drop(old);
    }
    tokio::time::sleep(SETTLE).await;
    let m1 = live_bytes();

    println!("  ... heap: m0 {m0} m1 {m1}");
    assert!(
        m1 < 3 * VALUE * N,
        "error: server using too much memory m0 {m0} m1 {m1}"
    );
    cfg.delete_client(&ck);
    cfg.end();
    cfg.cleanup();
}
