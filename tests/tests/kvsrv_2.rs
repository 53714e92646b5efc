//! Lab 2 (kvsrv): the reference scenarios, one line each, in virtual time.
//!
//! `cargo test -p tests --release --test kvsrv_2` (or `cargo test -p tests _2`).
//! A failure prints the seed and the command that replays it.

use labrpc::sim;
use tests::kvsrv;
use tests::kvsrv::mem::{CountingAllocator, live_bytes};

/// The heap counter of the memory scenarios, installed in this binary only
/// (see `tests::kvsrv::mem`).
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// The counter sees this thread's allocations, exactly, and no other's.
#[test]
fn heap_counter_counts_only_this_thread() {
    let before = live_bytes();
    let v: Vec<u8> = Vec::with_capacity(1 << 20);
    assert_eq!(live_bytes() - before, 1 << 20);
    drop(v);
    assert_eq!(live_bytes(), before);
    let there = std::thread::spawn(|| {
        let start = live_bytes();
        let v = vec![1u8; 1 << 22];
        let grown = live_bytes() - start;
        drop(v);
        grown
    });
    assert_eq!(there.join().unwrap(), 1 << 22);
}

/// One clerk, reliable net: Get/Put/Append semantics, Append's old value, linearizable history.
#[test]
fn basic_2() {
    sim::run(|| async { kvsrv::generic_test(1, false, false).await });
}

/// Five concurrent clerks on their own keys, reliable net.
#[test]
fn concurrent_2() {
    sim::run(|| async { kvsrv::generic_test(5, false, false).await });
}

/// Five clerks on an unreliable net: lost replies must not duplicate Appends.
#[test]
fn unreliable_2() {
    sim::run(|| async { kvsrv::generic_test(5, true, false).await });
}

/// Five clerks append to one key on an unreliable net: each append exactly once, in order.
#[test]
fn unreliable_one_key_2() {
    sim::run(|| async { kvsrv::unreliable_one_key().await });
}

/// Get keeps no copy of a 10-MiB value (heap under 10 MiB after it is overwritten).
#[test]
fn mem_get_2() {
    sim::run(|| async { kvsrv::mem_get().await });
}

/// Put keeps no copy of a replaced 10-MiB value (heap under 10 MiB).
#[test]
fn mem_put_2() {
    sim::run(|| async { kvsrv::mem_put().await });
}

/// Two 10-MiB Appends: at most one extra copy of the old value (heap ≤ 30 MiB).
#[test]
fn mem_append_2() {
    sim::run(|| async { kvsrv::mem_append().await });
}

/// 100,000 clerks Put once: at most 200 bytes of server state per clerk.
#[test]
fn mem_put_many_clients_2() {
    sim::run(|| async { kvsrv::mem_put_many_clients().await });
}

/// 100,000 clerks Get once: under 10 bytes of server state per clerk.
#[test]
fn mem_get_many_clients_2() {
    sim::run(|| async { kvsrv::mem_get_many_clients().await });
}

/// 1000 Appends of 1000 bytes: heap under 3,000,000 bytes (no old value kept per Append).
#[test]
fn mem_many_appends_2() {
    sim::run(|| async { kvsrv::mem_many_appends().await });
}
