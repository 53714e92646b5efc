//! The controller cluster under test: network, replicas, persisters, clerks.

use labrpc::{ClientEnd, Network, rng};
use shardctrler::{Clerk, ShardCtrler};
use tokio::time::Instant;

use crate::group::{Group, check_time_limit, server_with};

/// A shard-controller cluster on a simulated network (the reference's
/// `config`). Must be created inside a simulation. Dropping it kills every
/// replica and closes the network (the reference's `cleanup`).
pub struct Config {
    net: Network,
    group: Group<ShardCtrler>,
    /// When the config was made; the 120-s limit counts from here.
    created: Instant,
}

/// The labrpc server name of replica `i`.
fn server_name(i: usize) -> String {
    format!("ctrler-{i}")
}

impl Config {
    /// `n` controller replicas, all started and connected, on a network that
    /// is unreliable if asked (the reference's `make_config`).
    pub fn new(n: usize, unreliable: bool) -> Config {
        let net = Network::new();
        let config = Config {
            group: Group::new(&net, (0..n).map(server_name).collect()),
            net,
            created: Instant::now(),
        };
        for i in 0..n {
            config.start_server(i);
        }
        config.connect_all();
        config.net.set_reliable(!unreliable);
        config
    }

    /// Number of replicas.
    pub fn n(&self) -> usize {
        self.group.n()
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
        let mut ends: Vec<ClientEnd> = (0..self.n())
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

    /// Connects every replica to every other (the reference's `ConnectAll`).
    pub fn connect_all(&self) {
        self.group.connect_all();
    }

    /// Shuts replica `i` down, keeping what it persisted (the reference's
    /// `ShutdownServer`; see [`Group::crash`]).
    pub fn shutdown_server(&self, i: usize) {
        self.group.crash(i);
    }

    /// (Re)starts replica `i` from its persisted state with fresh ends to
    /// the other replicas (the reference's `StartServer`). Its ends start
    /// disabled; [`Config::connect_all`] attaches it.
    ///
    /// # Panics
    /// If the controller rejects its persisted state.
    pub fn start_server(&self, i: usize) {
        self.group.start(i, |ends, persister| {
            let ctrler = match ShardCtrler::start(ends, i, persister) {
                Ok(c) => c,
                Err(e) => panic!("start_server({i}): ShardCtrler::start failed: {e}"),
            };
            let server = server_with([ctrler.service(), ctrler.raft().service()]);
            (ctrler, server)
        });
    }

    /// The replica whose Raft believes it leads, if any (the reference's
    /// `Leader`: the lowest-numbered such replica).
    pub fn leader(&self) -> Option<usize> {
        let running = self.group.running();
        (0..self.n()).find(|&i| running[i].as_ref().is_some_and(|s| s.raft().get_state().1))
    }

    /// Starts a test: prints `Test: <description> ...`.
    pub fn begin(&self, description: &str) {
        println!("Test: {description} ...");
    }

    /// Ends a test: checks the reference's 120-s limit and prints
    /// `  ... Passed`.
    pub fn end(&self) {
        check_time_limit(self.created);
        self.group.check_failures();
        println!("  ... Passed");
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        self.group.kill_all();
        self.net.cleanup();
    }
}
