//! A 3-store raft cluster of real processes survives `kill -9` of its
//! leader and of a follower, round after round, and a partition of its
//! leader, with no acknowledged write lost and a linearizable history.
//!
//! Four clients put and get over the routing client
//! ([`tinykv_server::cluster_client::ClusterClient`]) the whole time, each
//! operation recorded with its call and return times on the monotonic
//! clock. Each client writes only its own keys, one put at a time, with
//! values that never repeat, and reads everyone's. Meanwhile the test, per
//! round, SIGKILLs the leader (found by asking each store for a read),
//! restarts it on its data directory, then does the same to a follower;
//! after each restart it waits until writes are acknowledged again. A
//! last round cuts the leader off from the other stores through the proxy
//! mesh ([`tinykv_server::proxy`]) — connections dropped, then silently
//! blackholed — and heals it.
//!
//! At the end every key is read back: its value must be the last
//! acknowledged put's or a later one's (a put whose outcome the client
//! never learned may have landed); and the whole history, final reads
//! included, must be linearizable under the key/value model (a put with
//! no known outcome may take effect at any time after its call).
//!
//! The stores compact their raft logs every [`GC_LIMIT`] entries (the
//! default is 10,000), so log GC runs many times under the kills, and a
//! store that comes back behind a compaction catches up by snapshot; the
//! test checks from the stores' stop lines that GC ran.
//!
//! `KILL9_ROUNDS` sets the number of kill rounds (default 3, a few seconds
//! each).

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use linearizability::{
    CheckOptions, CheckResult, KvInput, KvModel, KvOutput, Operation, check_operations_verbose,
    visualize_temp,
};
use tinykv_server::Connection;
use tinykv_server::cluster::{Cluster, log_tail};
use tinykv_server::cluster_client::ClusterClient;
use tinykv_server::proxy::Fault;
use tinykv_storage::raw::{RawGetRequest, RawPutRequest};
use tinykv_storage::service::{RawGet, RawPut};

const CLIENTS: usize = 4;
const KEYS_PER_CLIENT: usize = 3;
/// `--raft-log-gc-limit` of the stores.
const GC_LIMIT: &str = "100";
/// How long a store stays down.
const DOWN: Duration = Duration::from_millis(600);
/// How long a partition lasts.
const PARTITION: Duration = Duration::from_millis(1500);
/// Writes acknowledged after a fault heals before the next fault.
const PROGRESS: usize = 5;
/// How long the cluster may take to acknowledge them.
const PROGRESS_WITHIN: Duration = Duration::from_secs(30);

type Op = Operation<KvInput, KvOutput>;

/// What the clients share with the test.
struct Shared {
    t0: Instant,
    stop: AtomicBool,
    acked: AtomicUsize,
    ops: Mutex<Vec<Op>>,
    /// Puts with no known outcome: their call stamps; their return is set
    /// to the end of the history.
    unknown: Mutex<Vec<Op>>,
    /// The last failure a client saw, for a stuck test's message.
    last_error: Mutex<String>,
}

impl Shared {
    fn now(&self) -> u64 {
        self.t0.elapsed().as_nanos() as u64
    }
}

fn key(client: usize, j: usize) -> String {
    format!("c{client}-k{j}")
}

/// The value a client writes: unique per put, its sequence number inside.
fn value(client: usize, seq: u64) -> String {
    format!("c{client}-{seq}")
}

fn seq_of(value: &str) -> Option<u64> {
    value.rsplit_once('-')?.1.parse().ok()
}

/// A client's loop: put one of its keys or get anyone's, until told to
/// stop; returns the last acknowledged sequence number per key it owns.
async fn client(c: usize, cc: ClusterClient, shared: Arc<Shared>) -> BTreeMap<String, u64> {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (c as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut seq = 0u64;
    let mut last_acked = BTreeMap::new();
    while !shared.stop.load(Ordering::SeqCst) {
        if next() % 2 == 0 {
            seq += 1;
            let k = key(c, next() as usize % KEYS_PER_CLIENT);
            let v = value(c, seq);
            let req = RawPutRequest {
                key: k.clone().into_bytes(),
                value: v.clone().into_bytes(),
                cf: "default".into(),
                ..Default::default()
            };
            let call = shared.now();
            let result = cc.call::<RawPut>(&req).await;
            let ret = shared.now();
            let op = Operation::new(c, KvInput::put(&k, &v), call, KvOutput::default(), ret);
            match result {
                Ok(resp) if resp.error.is_empty() => {
                    shared.ops.lock().unwrap().push(op);
                    shared.acked.fetch_add(1, Ordering::SeqCst);
                    last_acked.insert(k, seq);
                }
                other => {
                    *shared.last_error.lock().unwrap() = format!("put {k}: {other:?}");
                    shared.unknown.lock().unwrap().push(op);
                }
            }
        } else {
            let k = key(next() as usize % CLIENTS, next() as usize % KEYS_PER_CLIENT);
            let call = shared.now();
            match get(&cc, &k).await {
                Ok(v) => {
                    let ret = shared.now();
                    let op = Operation::new(c, KvInput::get(&k), call, KvOutput::new(v), ret);
                    shared.ops.lock().unwrap().push(op);
                }
                Err(e) => *shared.last_error.lock().unwrap() = format!("get {k}: {e}"),
            }
        }
    }
    last_acked
}

/// A get through the routing client: the value (`""` when absent), or
/// why it failed.
async fn get(cc: &ClusterClient, k: &str) -> Result<String, String> {
    let req = RawGetRequest {
        key: k.as_bytes().to_vec(),
        cf: "default".into(),
        ..Default::default()
    };
    match cc.call::<RawGet>(&req).await {
        Ok(resp) if resp.error.is_empty() && resp.region_error.is_none() => {
            Ok(String::from_utf8_lossy(&resp.value).into_owned())
        }
        Ok(resp) => Err(format!("{resp:?}")),
        Err(e) => Err(e.to_string()),
    }
}

/// The store that serves a read itself (the leader), if one does now.
async fn probe_leader(cluster_addrs: &[(u64, String)]) -> Option<u64> {
    for (id, addr) in cluster_addrs {
        let attempt = async {
            let conn = Connection::connect(addr).await.ok()?;
            let req = RawGetRequest {
                key: b"probe".to_vec(),
                cf: "default".into(),
                ..Default::default()
            };
            let resp = conn.call::<RawGet>(&req).await.ok()?;
            (resp.region_error.is_none() && resp.error.is_empty()).then_some(*id)
        };
        if let Ok(Some(id)) = tokio::time::timeout(Duration::from_secs(1), attempt).await {
            return Some(id);
        }
    }
    None
}

struct Driver {
    cluster: Cluster,
    rt: tokio::runtime::Runtime,
    shared: Arc<Shared>,
}

impl Driver {
    fn addrs(&self) -> Vec<(u64, String)> {
        self.cluster
            .ids()
            .into_iter()
            .filter_map(|id| Some((id, self.cluster.addr(id)?.to_string())))
            .collect()
    }

    /// The leader, waiting for one (an election) up to 20 s.
    fn leader(&self) -> u64 {
        let give_up = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(id) = self.rt.block_on(probe_leader(&self.addrs())) {
                return id;
            }
            assert!(
                Instant::now() < give_up,
                "no leader for 20 s{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until [`PROGRESS`] more writes are acknowledged.
    fn progress(&mut self, what: &str) {
        let target = self.shared.acked.load(Ordering::SeqCst) + PROGRESS;
        let give_up = Instant::now() + PROGRESS_WITHIN;
        while self.shared.acked.load(Ordering::SeqCst) < target {
            if let Some(dead) = self.cluster.dead_child() {
                panic!("after {what}: {dead}");
            }
            assert!(
                Instant::now() < give_up,
                "no write acknowledged within {PROGRESS_WITHIN:?} after {what}{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill_and_restart(&mut self, id: u64, role: &str) {
        self.cluster.kill9(id).unwrap();
        std::thread::sleep(DOWN);
        self.cluster
            .restart(id)
            .unwrap_or_else(|e| panic!("restarting {role} store {id}: {e}"));
        self.progress(&format!(
            "kill -9 of the {role} (store {id}) and its restart"
        ));
    }

    fn partition(&mut self, fault: Fault) {
        let leader = self.leader();
        let faults = self.cluster.faults().expect("started with proxies");
        assert!(faults.isolate(leader, fault));
        std::thread::sleep(PARTITION);
        self.cluster.faults().unwrap().heal();
        self.progress(&format!(
            "isolating the leader (store {leader}, {fault}) and healing"
        ));
    }

    fn logs(&self) -> String {
        let mut out = format!(
            "\nthe clients' last failure: {}",
            self.shared.last_error.lock().unwrap()
        );
        let endpoints: Vec<String> = self.addrs().into_iter().map(|(_, a)| a).collect();
        let fresh = ClusterClient::new(&endpoints, 0).unwrap();
        let started = Instant::now();
        let got = self.rt.block_on(get(&fresh, "probe"));
        out.push_str(&format!(
            "\na new client's read: {got:?} after {:?}",
            started.elapsed()
        ));
        for (id, addr) in self.addrs() {
            let probe = self.rt.block_on(async {
                let conn = Connection::connect(&addr)
                    .await
                    .map_err(|e| e.to_string())?;
                let req = RawGetRequest {
                    key: b"probe".to_vec(),
                    cf: "default".into(),
                    ..Default::default()
                };
                tokio::time::timeout(Duration::from_secs(5), conn.call::<RawGet>(&req))
                    .await
                    .map_err(|_| "no reply within 5 s".to_string())?
                    .map_err(|e| e.to_string())
            });
            out.push_str(&format!("\nstore {id} answers a read with {probe:?}"));
        }
        for id in self.cluster.ids() {
            let log = self.cluster.data_dir().join(format!("store-{id}.log"));
            out.push_str(&format!("\n--- store {id}:\n{}", log_tail(&log, 15)));
        }
        out
    }
}

#[test]
fn acknowledged_writes_survive_kill_9_of_leader_and_follower() {
    let rounds: usize = std::env::var("KILL9_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let cluster = common::proxied_cluster_with(dir.path(), &["--raft-log-gc-limit", GC_LIMIT]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let shared = Arc::new(Shared {
        t0: Instant::now(),
        stop: AtomicBool::new(false),
        acked: AtomicUsize::new(0),
        ops: Mutex::new(Vec::new()),
        unknown: Mutex::new(Vec::new()),
        last_error: Mutex::new(String::new()),
    });
    let endpoints = cluster.endpoints();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let cc = ClusterClient::new(&endpoints, c).unwrap();
            rt.spawn(client(c, cc, shared.clone()))
        })
        .collect();
    let mut d = Driver {
        cluster,
        rt,
        shared: shared.clone(),
    };
    let started = Instant::now();
    d.progress("the start");
    for round in 0..rounds {
        let leader = d.leader();
        d.kill_and_restart(leader, "leader");
        let leader = d.leader();
        let follower = d
            .cluster
            .ids()
            .into_iter()
            .find(|&id| id != leader)
            .unwrap();
        d.kill_and_restart(follower, "follower");
        eprintln!(
            "kill9_cluster: round {} done at {:.1?}, {} writes acknowledged",
            round + 1,
            started.elapsed(),
            shared.acked.load(Ordering::SeqCst)
        );
    }
    d.partition(Fault::Drop);
    d.partition(Fault::Blackhole);

    shared.stop.store(true, Ordering::SeqCst);
    let mut last_acked = BTreeMap::new();
    for c in clients {
        last_acked.extend(d.rt.block_on(c).unwrap());
    }
    let faults_time = started.elapsed();

    // Every key read back, as one more client of the history.
    let reader = ClusterClient::new(&endpoints, 0).unwrap();
    let mut lost = Vec::new();
    for c in 0..CLIENTS {
        for j in 0..KEYS_PER_CLIENT {
            let k = key(c, j);
            let call = shared.now();
            let v =
                d.rt.block_on(get(&reader, &k))
                    .unwrap_or_else(|e| panic!("final read of {k} failed: {e}{}", d.logs()));
            let ret = shared.now();
            if let Some(&acked) = last_acked.get(&k)
                && seq_of(&v).is_none_or(|s| s < acked)
            {
                lost.push(format!(
                    "{k}: acknowledged {} but read {v:?}",
                    value(c, acked)
                ));
            }
            let op = Operation::new(CLIENTS, KvInput::get(&k), call, KvOutput::new(v), ret);
            shared.ops.lock().unwrap().push(op);
        }
    }
    let end = shared.now() + 1;
    let mut history = shared.ops.lock().unwrap().clone();
    let unknown = shared.unknown.lock().unwrap().clone();
    let unknown_count = unknown.len();
    history.extend(unknown.into_iter().map(|mut op| {
        op.return_time = end;
        op
    }));
    let checking = Instant::now();
    let (result, info) =
        check_operations_verbose(&KvModel, &history, CheckOptions::default()).unwrap();
    let check_time = checking.elapsed();
    eprintln!(
        "kill9_cluster: {rounds} kill rounds + 2 partitions in {faults_time:.1?}: {} operations \
         ({} writes acknowledged, {unknown_count} with no known outcome), {} lost writes, \
         linearizability check {check_time:.1?}: {result:?}",
        history.len(),
        shared.acked.load(Ordering::SeqCst),
        lost.len()
    );
    let verdict = match result {
        CheckResult::Ok => None,
        CheckResult::Illegal => {
            let path = visualize_temp(&KvModel, &info).unwrap();
            Some(format!(
                "the history is not linearizable; see {}",
                path.display()
            ))
        }
        CheckResult::Unknown => Some("the linearizability check ran out of budget".into()),
    };
    assert!(
        lost.is_empty() && verdict.is_none(),
        "lost acknowledged writes: {lost:#?}\n{}",
        verdict.unwrap_or_default()
    );
    d.cluster.stop();
    let gcs: u64 = d.cluster.ids().into_iter().map(|id| last_gcs(&d, id)).sum();
    eprintln!("kill9_cluster: {gcs} raft-log GCs in the stores' last runs");
    assert!(gcs > 0, "no raft-log GC ran{}", d.logs());
}

/// The raft-log GCs store `id`'s last run did, from its stop line
/// (`…, N raft-log GCs)`); 0 without one.
fn last_gcs(d: &Driver, id: u64) -> u64 {
    let log = d.cluster.data_dir().join(format!("store-{id}.log"));
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .rev()
        .find_map(|line| {
            let rest = line.strip_suffix(" raft-log GCs)")?;
            rest.rsplit(' ').next()?.parse().ok()
        })
        .unwrap_or(0)
}
