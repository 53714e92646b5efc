//! The controller cluster under test: network, replicas, persisters, clerks.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use labrpc::{ClientEnd, Network, Server, rng};
use raft::Persister;
use shardctrler::{Clerk, ShardCtrler};
use tokio::time::Instant;

/// The reference harness fails a test that takes longer than this
/// (here: of virtual time, counted from [`Config::new`]).
const TEST_TIME_LIMIT: Duration = Duration::from_secs(120);

/// A shard-controller cluster on a simulated network (the reference's
/// `config`). Must be created inside a simulation. Dropping it kills every
/// replica and closes the network (the reference's `cleanup`).
pub struct Config {
    net: Network,
    n: usize,
    replicas: Mutex<Replicas>,
    /// When the config was made; the 120-s limit counts from here.
    created: Instant,
}

/// Per-replica state; index `i` is replica `i`.
struct Replicas {
    /// The running instance, `None` while shut down.
    servers: Vec<Option<ShardCtrler>>,
    /// The persister the current (or next) instance uses.
    saved: Vec<Persister>,
    /// `endnames[i][j]`: the end replica `i` uses to reach replica `j`. Fresh
    /// random names on every start, so a dead instance's ends lead nowhere.
    endnames: Vec<Vec<String>>,
}

/// The labrpc server name of replica `i`.
fn server_name(i: usize) -> String {
    format!("ctrler-{i}")
}

impl Config {
    /// `n` controller replicas, all started and connected, on a network that
    /// is unreliable if asked (the reference's `make_config`).
    pub fn new(n: usize, unreliable: bool) -> Config {
        let config = Config {
            net: Network::new(),
            n,
            replicas: Mutex::new(Replicas {
                servers: (0..n).map(|_| None).collect(),
                saved: (0..n).map(|_| Persister::new()).collect(),
                endnames: vec![Vec::new(); n],
            }),
            created: Instant::now(),
        };
        for i in 0..n {
            config.start_server(i);
        }
        config.connect_all();
        config.net.set_reliable(!unreliable);
        config
    }

    fn replicas(&self) -> MutexGuard<'_, Replicas> {
        self.replicas.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of replicas.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The network.
    pub fn net(&self) -> &Network {
        &self.net
    }

    /// A clerk with fresh, enabled ends to every replica, in random order
    /// (the reference's `makeClient(cfg.All())` with `random_handles`). The
    /// ends stay enabled across shutdowns: a clerk must cope with a dead
    /// replica by timing out and trying the next.
    pub fn make_client(&self) -> Clerk {
        let mut ends: Vec<ClientEnd> = (0..self.n)
            .map(|j| {
                let name = rng::string(20);
                let end = self.net.make_end(name.as_str());
                self.net.connect(&name, server_name(j));
                self.net.enable(&name, true);
                end
            })
            .collect();
        rng::shuffle(&mut ends);
        Clerk::new(ends)
    }

    /// Enables the ends between replica `i` and every replica, both ways.
    fn connect(&self, i: usize) {
        let r = self.replicas();
        for j in 0..self.n {
            if let Some(name) = r.endnames[i].get(j) {
                self.net.enable(name, true);
            }
            if let Some(name) = r.endnames[j].get(i) {
                self.net.enable(name, true);
            }
        }
    }

    /// Disables the ends between replica `i` and every replica, both ways.
    fn disconnect(&self, i: usize) {
        let r = self.replicas();
        for j in 0..self.n {
            if let Some(name) = r.endnames[i].get(j) {
                self.net.enable(name, false);
            }
            if let Some(name) = r.endnames[j].get(i) {
                self.net.enable(name, false);
            }
        }
    }

    /// Connects every replica to every other (the reference's `ConnectAll`).
    pub fn connect_all(&self) {
        for i in 0..self.n {
            self.connect(i);
        }
    }

    /// Shuts replica `i` down, keeping what it persisted (the reference's
    /// `ShutdownServer`): cut it off, delete its server so replies to calls it
    /// is handling are never delivered, move its storage to a copy the dead
    /// instance cannot write to, and kill it.
    pub fn shutdown_server(&self, i: usize) {
        self.disconnect(i);
        self.net.delete_server(&server_name(i));
        let mut r = self.replicas();
        r.saved[i] = r.saved[i].copy();
        if let Some(server) = r.servers[i].take() {
            server.kill();
        }
    }

    /// (Re)starts replica `i` from its persisted state with fresh ends to
    /// the other replicas (the reference's `StartServer`). Its ends start
    /// disabled; [`Config::connect_all`] attaches it.
    ///
    /// # Panics
    /// If the controller rejects its persisted state.
    pub fn start_server(&self, i: usize) {
        if self.replicas().servers[i].is_some() {
            self.shutdown_server(i);
        }
        let names: Vec<String> = (0..self.n).map(|_| rng::string(20)).collect();
        let ends = names
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let end = self.net.make_end(name.as_str());
                self.net.connect(name, server_name(j));
                end
            })
            .collect();
        let mut r = self.replicas();
        r.endnames[i] = names;
        let persister = r.saved[i].copy();
        r.saved[i] = persister.clone();
        let ctrler = match ShardCtrler::start(ends, i, persister) {
            Ok(c) => c,
            Err(e) => panic!("start_server({i}): ShardCtrler::start failed: {e}"),
        };
        let server = Server::new();
        server.add_service(ctrler.service());
        server.add_service(ctrler.raft().service());
        r.servers[i] = Some(ctrler);
        drop(r);
        self.net.add_server(server_name(i), server);
    }

    /// The replica whose Raft believes it leads, if any (the reference's
    /// `Leader`: the lowest-numbered such replica).
    pub fn leader(&self) -> Option<usize> {
        let r = self.replicas();
        (0..self.n).find(|&i| {
            r.servers[i]
                .as_ref()
                .is_some_and(|s| s.raft().get_state().1)
        })
    }

    /// Starts a test: prints `Test: <description> ...`.
    pub fn begin(&self, description: &str) {
        println!("Test: {description} ...");
    }

    /// Ends a test: checks the reference's 120-s limit and prints
    /// `  ... Passed`.
    pub fn end(&self) {
        let took = self.created.elapsed();
        assert!(
            took <= TEST_TIME_LIMIT,
            "test took longer than {} seconds ({:.1} s of virtual time)",
            TEST_TIME_LIMIT.as_secs(),
            took.as_secs_f64()
        );
        println!("  ... Passed");
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        let r = self.replicas.get_mut().unwrap_or_else(|e| e.into_inner());
        for server in r.servers.iter().flatten() {
            server.kill();
        }
        self.net.cleanup();
    }
}
