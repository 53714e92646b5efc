//! Times the checker on 10,000-operation key/value histories, and measures
//! how many search steps run in a second (the basis of DEFAULT_MAX_STEPS).
//!
//! `cargo bench -p linearizability` (release build). Wall-clock timing is
//! fine here: this is a benchmark, not a test.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::{Shape, hard_illegal, linearizable_kv};
use linearizability::{
    CheckOptions, CheckResult, DEFAULT_MAX_STEPS, KvModel, KvOp, KvOperation,
    check_operations_budget, check_operations_verbose, visualize,
};

/// Best of `runs` timings of `f`, in milliseconds, and its last result.
fn best_ms<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = f();
        best = best.min(start.elapsed().as_secs_f64() * 1e3);
        last = Some(out);
    }
    (best, last.expect("runs > 0"))
}

fn bench_history(name: &str, h: &[KvOperation]) {
    let (ms, result) = best_ms(5, || {
        check_operations_budget(&KvModel, h, CheckOptions::default()).unwrap()
    });
    assert_eq!(result, CheckResult::Ok);
    let (vms, (vresult, info)) = best_ms(5, || {
        check_operations_verbose(&KvModel, h, CheckOptions::default()).unwrap()
    });
    assert_eq!(vresult, CheckResult::Ok);
    println!(
        "{name:<44} {:>6} ops  check {ms:>8.2} ms  verbose {vms:>8.2} ms  {:>9} steps",
        h.len(),
        info.steps()
    );
}

fn main() {
    println!("linearizability checker, best of 5 runs, default budget {DEFAULT_MAX_STEPS} steps");
    let busy = Shape::busy(10_000);
    bench_history(
        "10 clients, 5 keys, get/put/append",
        &linearizable_kv(1, busy),
    );
    bench_history(
        "15 clients, 50 keys (kvraft random keys)",
        &linearizable_kv(
            2,
            Shape {
                clients: 15,
                keys: 50,
                ..busy
            },
        ),
    );
    bench_history(
        "5 clients, 1 key, append-with-return (kvsrv)",
        &linearizable_kv(
            3,
            Shape {
                clients: 5,
                keys: 1,
                get_pct: 30,
                put_pct: 0,
                append: KvOp::AppendReturn,
                ..busy
            },
        ),
    );
    bench_history(
        "5 clients, 5 keys, get/append (no puts)",
        &linearizable_kv(
            4,
            Shape {
                clients: 5,
                put_pct: 0,
                ..busy
            },
        ),
    );

    // Report on an illegal 10,000-operation history.
    let mut bad = linearizable_kv(1, busy);
    common::corrupt_read(&mut bad, 4321).unwrap();
    let (ms, (result, info)) = best_ms(3, || {
        check_operations_verbose(&KvModel, &bad, CheckOptions::default()).unwrap()
    });
    assert_eq!(result, CheckResult::Illegal);
    let (rms, len) = best_ms(3, || {
        let mut out = Vec::new();
        visualize(&KvModel, &info, &mut out).unwrap();
        out.len()
    });
    println!(
        "illegal 10,000-op history: verbose check {ms:.2} ms; HTML report {rms:.2} ms, {} KiB",
        len / 1024
    );

    // Steps per second on histories that exhaust the budget, the case the
    // budget exists for: the time these take is what DEFAULT_MAX_STEPS buys.
    // Short states: every order of 12 concurrent appends. Long states:
    // 2,000 appends and reads from 10 clients on one key, values of ~14 kB.
    let hard_short = hard_illegal("k", 12);
    let hard_long = linearizable_kv(
        0,
        Shape {
            clients: 10,
            keys: 1,
            put_pct: 0,
            ..Shape::busy(2000)
        },
    );
    for (label, hard) in [("short states", &hard_short), ("long states", &hard_long)] {
        for verbose in [false, true] {
            let budget = CheckOptions::default();
            let (ms, result) = best_ms(3, || {
                if verbose {
                    check_operations_verbose(&KvModel, hard, budget).unwrap().0
                } else {
                    check_operations_budget(&KvModel, hard, budget).unwrap()
                }
            });
            assert_eq!(result, CheckResult::Unknown);
            println!(
                "exhausting the default budget, {label:<12} {}: {ms:>6.0} ms = {:.1} M steps/s",
                if verbose { "verbose" } else { "plain  " },
                DEFAULT_MAX_STEPS as f64 / ms / 1e3
            );
        }
    }
}
