//! The cluster under test: network, replicas, persisters, partitions, crash
//! and restart, and the summary line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kvraft::KvServer;
use labrpc::Network;
use raft::Persister;
use tokio::time::Instant;

use super::ELECTION_TIMEOUT;
use super::client::{Client, ClientEnds};
use crate::group::{Group, check_time_limit, server_with};

/// How often [`Config::make_partition`] looks for a leader while waiting.
const LEADER_POLL: Duration = Duration::from_millis(10);

/// A replicated key/value service on a simulated network (the reference's
/// `config`).
///
/// Cheap to clone: clones drive the same cluster, so client tasks and the
/// partitioner can each hold one. Must be created inside a simulation.
/// Dropping the last handle kills every replica and closes the network (the
/// reference's `cleanup`).
#[derive(Clone)]
pub struct Config {
    inner: Arc<Inner>,
}

struct Inner {
    net: Network,
    max_raft_state: Option<usize>,
    group: Group<KvServer>,
    /// Clerk operations made through the counting wrappers of [`Client`].
    ops: Arc<AtomicU64>,
    /// When the config was made; the 120-s limit counts from here.
    created: Instant,
    /// Counters at `begin`, for the summary line.
    begun: Mutex<Begun>,
}

struct Begun {
    t0: Instant,
    rpcs0: u64,
}

/// The labrpc server name of replica `i`.
fn server_name(i: usize) -> String {
    format!("kv-{i}")
}

impl Config {
    /// `n` replicas, all started and connected, on a network that is
    /// unreliable if asked; `max_raft_state` is passed to every replica
    /// (`None` is the reference's −1: never snapshot).
    pub fn new(n: usize, unreliable: bool, max_raft_state: Option<usize>) -> Config {
        let net = Network::new();
        net.set_reliable(!unreliable);
        let now = Instant::now();
        let config = Config {
            inner: Arc::new(Inner {
                group: Group::new(&net, (0..n).map(server_name).collect()),
                net,
                max_raft_state,
                ops: Arc::new(AtomicU64::new(0)),
                created: now,
                begun: Mutex::new(Begun { t0: now, rpcs0: 0 }),
            }),
        };
        for i in 0..n {
            config.start_server(i);
        }
        config.connect_all();
        config
    }

    /// Number of replicas.
    pub fn n(&self) -> usize {
        self.inner.group.n()
    }

    /// `[0, 1, …, n−1]`: every replica (the reference `All`).
    pub fn all(&self) -> Vec<usize> {
        (0..self.n()).collect()
    }

    /// The network (for statistics and fault settings).
    pub fn net(&self) -> &Network {
        &self.inner.net
    }

    /// Every call made on the network so far, client calls included.
    pub fn rpc_total(&self) -> u64 {
        self.inner.net.total_count()
    }

    /// Clerk operations made through the counting wrappers so far.
    pub fn ops(&self) -> u64 {
        self.inner.ops.load(Ordering::Relaxed)
    }

    /// Replica `i`'s running instance, if it is not shut down.
    pub fn server(&self, i: usize) -> Option<KvServer> {
        self.inner.group.get(i)
    }

    /// The largest persisted Raft state of any replica, in bytes (the
    /// reference `LogSize`).
    pub fn log_size(&self) -> usize {
        self.inner
            .group
            .persisters()
            .iter()
            .map(Persister::raft_state_size)
            .max()
            .unwrap_or(0)
    }

    /// The largest persisted snapshot of any replica, in bytes (the
    /// reference `SnapshotSize`).
    pub fn snapshot_size(&self) -> usize {
        self.inner
            .group
            .persisters()
            .iter()
            .map(Persister::snapshot_size)
            .max()
            .unwrap_or(0)
    }

    /// Connects every replica to every other (the reference `ConnectAll`).
    pub fn connect_all(&self) {
        self.inner.group.connect_all();
    }

    /// Splits the replicas into two groups that can talk only among
    /// themselves (either may be empty).
    pub fn partition(&self, p1: &[usize], p2: &[usize]) {
        self.inner.group.partition(&[p1, p2]);
    }

    /// A replica that believes it leads, preferring the highest term (a
    /// deposed leader that has not heard of the new term yet may still
    /// claim it).
    pub fn leader(&self) -> Option<usize> {
        self.inner
            .group
            .running()
            .iter()
            .enumerate()
            .filter_map(|(i, kv)| {
                let (term, leader) = kv.as_ref()?.raft().get_state();
                leader.then_some((term, i))
            })
            .max()
            .map(|(_, i)| i)
    }

    /// Two groups for [`Config::partition`] with the current leader in the
    /// minority: `p1` has `n/2 + 1` replicas, `p2` the other `n/2`, the
    /// leader last (the reference `make_partition`). Waits up to an election
    /// timeout for a leader to be known.
    ///
    /// # Panics
    /// If no replica claims leadership within that time.
    pub async fn make_partition(&self) -> (Vec<usize>, Vec<usize>) {
        let deadline = Instant::now() + ELECTION_TIMEOUT;
        let leader = loop {
            if let Some(l) = self.leader() {
                break l;
            }
            assert!(
                Instant::now() < deadline,
                "make_partition: no leader within {ELECTION_TIMEOUT:?}"
            );
            tokio::time::sleep(LEADER_POLL).await;
        };
        let n = self.n();
        let mut p1: Vec<usize> = (0..n).filter(|&i| i != leader).collect();
        let mut p2 = p1.split_off(n / 2 + 1);
        p2.push(leader);
        (p1, p2)
    }

    /// A new client whose ends reach every replica but are enabled only for
    /// those in `to` (the reference `makeClient`). The clerk gets its ends
    /// shuffled, so it cannot rely on end `i` reaching replica `i`.
    pub fn make_client(&self, to: &[usize]) -> Client {
        let net = &self.inner.net;
        let names: Vec<String> = (0..self.n()).map(|_| labrpc::rng::string(20)).collect();
        let mut ends: Vec<labrpc::ClientEnd> = names
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let end = net.make_end(name.as_str());
                net.connect(name, server_name(j));
                end
            })
            .collect();
        labrpc::rng::shuffle(&mut ends);
        let client = Client::new(
            kvraft::Clerk::new(ends),
            ClientEnds::new(names),
            self.inner.ops.clone(),
        );
        self.connect_client(client.ends(), to);
        client
    }

    /// Removes a client's ends from the network (the reference
    /// `deleteClient`).
    pub fn delete_client(&self, client: Client) {
        for name in client.ends().names() {
            self.inner.net.delete_end(name);
        }
    }

    /// Enables the client's ends to the replicas in `to` (the reference
    /// `ConnectClient`); ends to other replicas keep their state.
    pub fn connect_client(&self, ends: &ClientEnds, to: &[usize]) {
        for &j in to {
            self.inner.net.enable(&ends.names()[j], true);
        }
    }

    /// Disables the client's ends to the replicas in `from`.
    pub fn disconnect_client(&self, ends: &ClientEnds, from: &[usize]) {
        for &j in from {
            self.inner.net.enable(&ends.names()[j], false);
        }
    }

    /// Crashes replica `i` (the reference `ShutdownServer`; see
    /// [`Group::crash`]).
    pub fn shutdown_server(&self, i: usize) {
        self.inner.group.crash(i);
    }

    /// (Re)starts replica `i` from a copy of its persisted state (the
    /// reference `StartServer`): fresh ends, `KvServer::start`, and a
    /// labrpc server with its `KVServer` and `Raft` services. Does **not**
    /// connect it.
    ///
    /// # Panics
    /// If `KvServer::start` rejects the persisted state.
    pub fn start_server(&self, i: usize) {
        let max_raft_state = self.inner.max_raft_state;
        self.inner.group.start(i, |ends, persister| {
            let kv = match KvServer::start(ends, i, persister, max_raft_state) {
                Ok(kv) => kv,
                Err(e) => panic!("start_server({i}): KvServer::start failed: {e}"),
            };
            let server = server_with([kv.service(), kv.raft().service()]);
            (kv, server)
        });
    }

    /// Starts a test: prints its description and takes the counters the
    /// summary line reports differences of.
    pub fn begin(&self, description: &str) {
        println!("{description} ...");
        *self.inner.begun.lock().unwrap_or_else(|e| e.into_inner()) = Begun {
            t0: Instant::now(),
            rpcs0: self.rpc_total(),
        };
        self.inner.ops.store(0, Ordering::Relaxed);
    }

    /// Ends a test: checks the time limit, then prints
    /// `  ... Passed --  time peers rpcs ops` (virtual seconds since
    /// `begin`; RPCs, client calls included, and counted clerk operations
    /// since `begin`).
    pub fn end(&self) {
        check_time_limit(self.inner.created);
        self.inner.group.check_failures();
        let begun = self.inner.begun.lock().unwrap_or_else(|e| e.into_inner());
        let secs = begun.t0.elapsed().as_secs_f64();
        let rpcs = self.rpc_total() - begun.rpcs0;
        println!(
            "  ... Passed --  {secs:4.1}  {} {rpcs:5} {:4}",
            self.n(),
            self.ops()
        );
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.group.kill_all();
        self.net.cleanup();
    }
}
