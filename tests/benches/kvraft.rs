//! kvraft throughput in operations per wall-clock second, on the reliable
//! simulated network (1-ms one-way latency), with 1 and with 16 concurrent
//! clerks, without snapshots and with `maxraftstate` = 1000 bytes.
//!
//! `cargo bench -p tests --bench kvraft`
//!
//! Each measurement is one whole simulation with a fixed seed: 3 replicas
//! elect a leader, then the clerks run a fixed number of operations (half
//! Appends to the clerk's own key, half Gets of it). A baseline simulation
//! that only elects a leader and does one Get is timed too and subtracted,
//! so the figure is the cost of the operations themselves. Virtual time is
//! reported alongside, for the simulated rate.

use std::time::{Duration, Instant};

use labrpc::sim::Sim;
use tests::kvraft::{Config, MAX_RAFT_STATE, client_value};

/// Replicas in the measured cluster (as in the speed tests).
const SERVERS: usize = 3;
/// Operations per measurement, split evenly over the clerks.
const TOTAL_OPS: usize = 2000;
/// Fixed seed: the same run every time.
const SEED: u64 = 1;

/// Runs one simulation: elect a leader, then `clerks` clerks run `ops`
/// operations each. Returns (wall time, virtual time of the operations).
fn measure(clerks: usize, ops: usize, max_raft_state: Option<usize>) -> (Duration, Duration) {
    let wall = Instant::now();
    let virt = Sim::new().seed(SEED).run(move || async move {
        let cfg = Config::new(SERVERS, false, max_raft_state);
        // The first operation waits for an election.
        let mut ck = cfg.make_client(&cfg.all());
        ck.clerk().get("warm-up").await;
        let start = tokio::time::Instant::now();
        let tasks: Vec<_> = (0..clerks)
            .map(|c| {
                let cfg = cfg.clone();
                tokio::spawn(async move {
                    let mut ck = cfg.make_client(&cfg.all());
                    let key = c.to_string();
                    for j in 0..ops {
                        if j % 2 == 0 {
                            ck.clerk().append(&key, &client_value(c, j)).await;
                        } else {
                            ck.clerk().get(&key).await;
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a clerk task failed");
        }
        start.elapsed()
    });
    (wall.elapsed(), virt)
}

fn main() {
    println!("kvraft throughput, {SERVERS} replicas, reliable network, seed {SEED}");
    println!(
        "{:>7} {:>12} {:>6} {:>10} {:>12} {:>14}",
        "clerks", "maxraftstate", "ops", "wall ms", "ops/wall s", "ops/virtual s"
    );
    for max_raft_state in [None, Some(MAX_RAFT_STATE)] {
        let (baseline, _) = measure(0, 0, max_raft_state);
        for clerks in [1, 16] {
            let ops = TOTAL_OPS / clerks;
            let (wall, virt) = measure(clerks, ops, max_raft_state);
            let total = (ops * clerks) as f64;
            let work = wall.saturating_sub(baseline).max(Duration::from_micros(1));
            println!(
                "{clerks:>7} {:>12} {:>6} {:>10.1} {:>12.0} {:>14.0}",
                max_raft_state.map_or("none".to_string(), |m| m.to_string()),
                ops * clerks,
                wall.as_secs_f64() * 1000.0,
                total / work.as_secs_f64(),
                total / virt.as_secs_f64(),
            );
        }
    }
}
