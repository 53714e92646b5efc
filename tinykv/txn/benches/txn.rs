//! Committed transactions per wall-second through the whole stack — client,
//! simulated network, server, engine — with 2 keys per transaction, 1 and
//! 16 concurrent clients, on the memory and the disk engine (synced
//! writes). The network runs in virtual time, so wall time is the CPU (and
//! fsync) cost of the protocol. Two workloads: `disjoint` (each client its
//! own keys: no aborts) and `contended` (all clients on 8 keys: the abort
//! rate is the share of commits that returned `false`).
//!
//! `cargo bench -p tinykv-txn`

use std::sync::Arc;
use std::time::Instant;

use labrpc::{Network, Server, sim};
use tinykv_storage::{DiskEngine, Engine, MemEngine, StandaloneStorage};
use tinykv_txn::{Client, Tso, TxnServer};

struct Run {
    committed: u64,
    aborted: u64,
    secs: f64,
}

fn run(disk: bool, clients: u32, txns_per_client: u32, contended: bool) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let engine: Arc<dyn Engine> = if disk {
        Arc::new(DiskEngine::open(dir.path()).unwrap())
    } else {
        Arc::new(MemEngine::new())
    };
    let start = Instant::now();
    let (committed, aborted) = sim::Sim::new().seed(1).run(move || async move {
        let net = Network::new();
        let kv = Server::new();
        kv.add_service(TxnServer::new(Arc::new(StandaloneStorage::new(engine))).service());
        net.add_server("tinykv", kv);
        let tso = Server::new();
        tso.add_service(Tso::new().service());
        net.add_server("tso", tso);
        let all: Vec<Client> = (0..clients)
            .map(|i| {
                let (t, k) = (format!("c{i}-tso"), format!("c{i}-kv"));
                let client = Client::new(net.make_end(t.clone()), net.make_end(k.clone()));
                net.connect(&t, "tso");
                net.connect(&k, "tinykv");
                net.enable(&t, true);
                net.enable(&k, true);
                client
            })
            .collect();
        let work = all.iter().enumerate().map(|(i, c)| async move {
            let (mut committed, mut aborted) = (0u64, 0u64);
            for n in 0..txns_per_client {
                let key = |j: u32| {
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
        });
        let results = futures::future::join_all(work).await;
        results
            .iter()
            .fold((0, 0), |(c, a), (c2, a2)| (c + c2, a + a2))
    });
    Run {
        committed,
        aborted,
        secs: start.elapsed().as_secs_f64(),
    }
}

fn main() {
    println!("engine  clients  workload   committed  aborted  abort%   wall s   txns/wall-s");
    for disk in [false, true] {
        for clients in [1, 16] {
            for contended in [false, true] {
                if clients == 1 && contended {
                    continue;
                }
                let per_client = if disk { 640 / clients } else { 3200 / clients };
                let r = run(disk, clients, per_client, contended);
                let total = (r.committed + r.aborted).max(1);
                println!(
                    "{:<7} {:>7}  {:<9} {:>10} {:>8} {:>6.1} {:>8.2} {:>13.0}",
                    if disk { "disk" } else { "memory" },
                    clients,
                    if contended { "contended" } else { "disjoint" },
                    r.committed,
                    r.aborted,
                    100.0 * r.aborted as f64 / total as f64,
                    r.secs,
                    r.committed as f64 / r.secs
                );
            }
        }
    }
}
