//! The reference's `GenericTest` and `GenericTestSpeed`, and the append
//! checks they share with the special scenarios.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::OpLog;
use super::config::Config;
use super::{ELECTION_TIMEOUT, LATENCIES_PER_OP, REFERENCE_TIME_PER_OP};

/// Rounds of client load in a generic test.
const ROUNDS: usize = 3;
/// How long the clients run in each round.
const ROUND_TIME: Duration = Duration::from_secs(5);
/// With partitions: clients run this long undisturbed before the
/// partitioner starts.
const CALM_BEFORE_PARTITIONS: Duration = Duration::from_secs(1);
/// The partitioner sleeps an election timeout plus up to this much (exclusive).
const PARTITION_JITTER_MS: u64 = 200;
/// Appends in the speed test.
const SPEED_OPS: u32 = 1000;

/// The value client `cli` appends as its `j`-th append: `"x cli j y"`.
pub fn client_value(cli: usize, j: usize) -> String {
    format!("x {cli} {j} y")
}

/// Checks that `v` holds client `clnt`'s first `count` appends, each once
/// and in order (the reference `checkClntAppends`).
///
/// # Panics
/// On a missing, duplicated or misordered append.
pub fn check_clnt_appends(clnt: usize, v: &str, count: usize) {
    let mut last: Option<usize> = None;
    for j in 0..count {
        let wanted = client_value(clnt, j);
        let Some(off) = v.find(&wanted) else {
            panic!("{clnt} missing element {wanted:?} in Append result {v:?}");
        };
        assert_eq!(
            v.rfind(&wanted),
            Some(off),
            "duplicate element {wanted:?} in Append result"
        );
        assert!(
            last.is_none_or(|l| off > l),
            "wrong order for element {wanted:?} in Append result"
        );
        last = Some(off);
    }
}

/// Checks that `v` holds, for every client `i`, its first `counts[i]`
/// appends, each once and in order (the reference `checkConcurrentAppends`).
///
/// # Panics
/// On a missing, duplicated or misordered append.
pub fn check_concurrent_appends(v: &str, counts: &[usize]) {
    for (i, &count) in counts.iter().enumerate() {
        check_clnt_appends(i, v, count);
    }
}

/// The reference `GenericTest`: `clients` clerks run a random mix of
/// Appends, Gets (and, with random keys, Puts) for three rounds of 5 s while
/// the network is unreliable, partitioned every ~1 s and/or all servers
/// crash and restart between rounds; after each round every client's key
/// must hold all its appends once and in order, and the log and snapshot
/// sizes must respect `max_raft_state`; at the end the whole history must
/// be linearizable.
///
/// Build one with [`Generic::new`] and the flag methods, then
/// [`Generic::run`] it inside [`labrpc::sim::run`].
#[derive(Debug, Clone)]
pub struct Generic {
    part: &'static str,
    clients: usize,
    servers: usize,
    unreliable: bool,
    crash: bool,
    partitions: bool,
    max_raft_state: Option<usize>,
    random_keys: bool,
}

impl Generic {
    /// A reliable, crash-free, unpartitioned test of part `part` ("4A" or
    /// "4B") with `clients` clerks, `servers` replicas and no snapshots.
    pub fn new(part: &'static str, clients: usize, servers: usize) -> Generic {
        Generic {
            part,
            clients,
            servers,
            unreliable: false,
            crash: false,
            partitions: false,
            max_raft_state: None,
            random_keys: false,
        }
    }

    /// The network drops and delays requests and replies.
    pub fn unreliable(mut self) -> Generic {
        self.unreliable = true;
        self
    }

    /// All servers crash and restart after each round.
    pub fn crash(mut self) -> Generic {
        self.crash = true;
        self
    }

    /// A partitioner re-partitions the servers during each round.
    pub fn partitions(mut self) -> Generic {
        self.partitions = true;
        self
    }

    /// Servers snapshot when their Raft state reaches `max_raft_state`
    /// bytes; the log must stay within 8 × that.
    pub fn snapshots(mut self, max_raft_state: usize) -> Generic {
        self.max_raft_state = Some(max_raft_state);
        self
    }

    /// Clients pick a random key per operation (and sometimes Put), so only
    /// the linearizability check judges the values.
    pub fn random_keys(mut self) -> Generic {
        self.random_keys = true;
        self
    }

    /// The reference's test description.
    pub fn title(&self) -> String {
        let mut title = String::from("Test: ");
        if self.unreliable {
            title += "unreliable net, ";
        }
        if self.crash {
            title += "restarts, ";
        }
        if self.partitions {
            title += "partitions, ";
        }
        if self.max_raft_state.is_some() {
            title += "snapshots, ";
        }
        if self.random_keys {
            title += "random keys, ";
        }
        title += if self.clients > 1 {
            "many clients"
        } else {
            "one client"
        };
        format!("{title} ({})", self.part)
    }

    /// Runs the test; must be called inside a simulation. Returns what the
    /// run did, so determinism tests can compare two runs.
    ///
    /// # Panics
    /// On any failed check.
    pub async fn run(self) -> Outcome {
        let cfg = Config::new(self.servers, self.unreliable, self.max_raft_state);
        cfg.begin(&self.title());
        let log = OpLog::new();
        let mut ck = cfg.make_client(&cfg.all());

        for _ in 0..ROUNDS {
            let done_clients = Arc::new(AtomicBool::new(false));
            let done_partitioner = Arc::new(AtomicBool::new(false));
            let clients: Vec<JoinHandle<usize>> = (0..self.clients)
                .map(|cli| {
                    let (cfg, log, done) = (cfg.clone(), log.clone(), done_clients.clone());
                    tokio::spawn(self.clone().client(cfg, cli, log, done))
                })
                .collect();

            let partitioner = if self.partitions {
                // Let the clients make progress undisturbed first.
                tokio::time::sleep(CALM_BEFORE_PARTITIONS).await;
                Some(tokio::spawn(partitioner(
                    cfg.clone(),
                    done_partitioner.clone(),
                )))
            } else {
                None
            };
            tokio::time::sleep(ROUND_TIME).await;

            done_clients.store(true, Ordering::Relaxed);
            done_partitioner.store(true, Ordering::Relaxed);

            if let Some(partitioner) = partitioner {
                join(partitioner, "partitioner").await;
                // A client may have submitted a request in a minority; it
                // completes only once that server learns of a new term.
                cfg.connect_all();
                tokio::time::sleep(ELECTION_TIMEOUT).await;
            }

            if self.crash {
                for i in 0..self.servers {
                    cfg.shutdown_server(i);
                }
                // As the reference: give the shut-down servers a while.
                tokio::time::sleep(ELECTION_TIMEOUT).await;
                for i in 0..self.servers {
                    cfg.start_server(i);
                }
                cfg.connect_all();
            }

            for (i, client) in clients.into_iter().enumerate() {
                let appends = join(client, "client").await;
                let v = ck.get(&i.to_string(), Some(&log), 0).await;
                if !self.random_keys {
                    check_clnt_appends(i, &v, appends);
                }
            }

            if let Some(max) = self.max_raft_state {
                // Checked after the servers have applied every request and
                // had time to snapshot.
                let size = cfg.log_size();
                assert!(size <= 8 * max, "logs were not trimmed ({size} > 8*{max})");
            } else {
                let size = cfg.snapshot_size();
                assert!(
                    size == 0,
                    "snapshot too large ({size}), should not be used when maxraftstate = -1"
                );
            }
        }

        log.check();
        cfg.end();
        Outcome {
            rpcs: cfg.rpc_total(),
            bytes: cfg.net().total_bytes(),
            ops: log.len(),
            virtual_time: labrpc::sim::elapsed(),
        }
    }

    /// One client's round: Put its key to "" (fixed keys), then a random
    /// mix of operations until `done`, checking each Get against the value
    /// it expects. Returns how many values it appended or put.
    async fn client(self, cfg: Config, cli: usize, log: OpLog, done: Arc<AtomicBool>) -> usize {
        let mut ck = cfg.make_client(&cfg.all());
        let mut j = 0;
        // The value this client's key must hold (fixed keys only).
        let mut last = String::new();
        if !self.random_keys {
            ck.put(&cli.to_string(), &last, Some(&log), cli).await;
        }
        while !done.load(Ordering::Relaxed) {
            let key = if self.random_keys {
                labrpc::rng::range(0..self.clients).to_string()
            } else {
                cli.to_string()
            };
            let nv = client_value(cli, j);
            if labrpc::rng::range(0..1000) < 500 {
                ck.append(&key, &nv, Some(&log), cli).await;
                if !self.random_keys {
                    last.push_str(&nv);
                }
                j += 1;
            } else if self.random_keys && labrpc::rng::range(0..1000) < 100 {
                // Only with random keys: a Put would break the Get check.
                ck.put(&key, &nv, Some(&log), cli).await;
                j += 1;
            } else {
                let v = ck.get(&key, Some(&log), cli).await;
                assert!(
                    self.random_keys || v == last,
                    "get wrong value, key {key}, wanted:\n{last:?}\n, got\n{v:?}"
                );
            }
        }
        cfg.delete_client(ck);
        j
    }
}

/// What a [`Generic::run`] did: equal for two runs with one seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// RPCs sent, clerks' included.
    pub rpcs: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Operations in the checked history.
    pub ops: usize,
    /// Virtual time at the end.
    pub virtual_time: Duration,
}

/// Re-partitions the servers at random every election timeout plus
/// 0–199 ms until `done`.
async fn partitioner(cfg: Config, done: Arc<AtomicBool>) {
    while !done.load(Ordering::Relaxed) {
        let (mut p1, mut p2) = (Vec::new(), Vec::new());
        for i in 0..cfg.n() {
            if labrpc::rng::range(0..2) == 0 {
                p1.push(i);
            } else {
                p2.push(i);
            }
        }
        cfg.partition(&p1, &p2);
        let jitter = Duration::from_millis(labrpc::rng::range(0..PARTITION_JITTER_MS));
        tokio::time::sleep(ELECTION_TIMEOUT + jitter).await;
    }
}

/// Waits for a tester task. A panic in it has already failed the
/// simulation, so an error here only names the task.
async fn join<T>(task: JoinHandle<T>, what: &str) -> T {
    match task.await {
        Ok(value) => value,
        Err(e) => panic!("{what} task failed: {e}"),
    }
}

/// The reference `GenericTestSpeed`: on 3 reliable servers, after one Get
/// elects a leader, one clerk's 1000 Appends must average at most the
/// reference's 33.3 ms and at most [`LATENCIES_PER_OP`] one-way network
/// latencies each (virtual time), so no operation waits for a heartbeat.
/// Prints the measured average.
///
/// # Panics
/// If the appends are wrong or too slow.
pub async fn speed(part: &str, max_raft_state: Option<usize>) {
    let cfg = Config::new(3, false, max_raft_state);
    let mut ck = cfg.make_client(&cfg.all());
    cfg.begin(&format!("Test: ops complete fast enough ({part})"));

    // The first operation waits for an election.
    ck.clerk().get("x").await;

    let start = Instant::now();
    for i in 0..SPEED_OPS {
        ck.clerk().append("x", &client_value(0, i as usize)).await;
    }
    let per_op = start.elapsed() / SPEED_OPS;

    let v = ck.clerk().get("x").await;
    check_clnt_appends(0, &v, SPEED_OPS as usize);

    let ours = labrpc::network::DEFAULT_LATENCY_MEAN * LATENCIES_PER_OP;
    println!(
        "  ... {:.2} ms/op of virtual time (bounds: reference {:.2} ms/op, ours {} × {:?} = {:.2} ms/op)",
        ms(per_op),
        ms(REFERENCE_TIME_PER_OP),
        LATENCIES_PER_OP,
        labrpc::network::DEFAULT_LATENCY_MEAN,
        ms(ours)
    );
    assert!(
        per_op <= REFERENCE_TIME_PER_OP,
        "Operations completed too slowly {per_op:?}/op > {REFERENCE_TIME_PER_OP:?}/op"
    );
    assert!(
        per_op <= ours,
        "Operations completed too slowly {per_op:?}/op > {LATENCIES_PER_OP} one-way latencies \
         ({ours:?})/op: does an operation wait for a heartbeat?"
    );
    cfg.end();
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
