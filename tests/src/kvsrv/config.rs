//! The Lab 2 harness: one server, clerks on fresh ends, op counting and the
//! summary line (the reference `kvsrv/config.go`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kvsrv::{Clerk, ClientId, KvServer};
use labrpc::{Network, Server, sim};

use linearizability::KvInput;

use crate::history::KvHistory as History;

/// The one server's name in the network (the reference uses server 0).
const SERVER: &str = "0";

/// The reference's per-test limit, checked in [`Config::end`] as the
/// reference does (the simulation also enforces it in virtual time).
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// One kvsrv test's world: network, server, clerks and counters.
///
/// Shared by reference (`Arc<Config>`) between the test body and its client
/// tasks; every method takes `&self`.
pub struct Config {
    net: Network,
    server: KvServer,
    /// Virtual time at creation, for the 120-s check.
    created: Duration,
    /// Virtual time, total RPC count and op count at `begin`.
    t0: Mutex<Duration>,
    rpcs0: AtomicU64,
    ops: AtomicU64,
    /// End name of each live clerk, so `delete_client` can remove it.
    clerk_ends: Mutex<BTreeMap<ClientId, String>>,
}

impl Config {
    /// A network (unreliable if asked) with one fresh kvsrv server. Call it
    /// inside a simulation: it reads the virtual clock.
    pub fn new(unreliable: bool) -> Config {
        let net = Network::new();
        net.set_reliable(!unreliable);
        let server = KvServer::new();
        let rpc_server = Server::new();
        rpc_server.add_service(server.service());
        net.add_server(SERVER, rpc_server);
        Config {
            net,
            server,
            created: sim::elapsed(),
            t0: Mutex::new(sim::elapsed()),
            rpcs0: AtomicU64::new(0),
            ops: AtomicU64::new(0),
            clerk_ends: Mutex::new(BTreeMap::new()),
        }
    }

    /// The network, for tests that change its settings.
    pub fn net(&self) -> &Network {
        &self.net
    }

    /// The server (for inspecting its duplicate table).
    pub fn server(&self) -> &KvServer {
        &self.server
    }

    /// A clerk on a new, enabled end with a random 20-character name.
    pub fn make_client(&self) -> Clerk {
        let name = labrpc::rng::string(20);
        let end = self.net.make_end(name.clone());
        self.net.connect(&name, SERVER);
        self.net.enable(&name, true);
        let clerk = Clerk::new(end);
        lock(&self.clerk_ends).insert(clerk.id(), name);
        clerk
    }

    /// Removes a clerk's end from the network.
    pub fn delete_client(&self, clerk: &Clerk) {
        if let Some(name) = lock(&self.clerk_ends).remove(&clerk.id()) {
            self.net.delete_end(&name);
        }
    }

    /// Starts a test: prints its description and resets the counters.
    pub fn begin(&self, description: &str) {
        println!("{description} ...");
        *lock(&self.t0) = sim::elapsed();
        self.rpcs0.store(self.net.total_count(), Ordering::Relaxed);
        self.ops.store(0, Ordering::Relaxed);
    }

    /// Ends a passing test: checks the time limit and prints the summary
    /// line with virtual seconds, RPCs and counted clerk operations.
    pub fn end(&self) {
        self.check_timeout();
        let t = (sim::elapsed() - *lock(&self.t0)).as_secs_f64();
        let nrpc = self.net.total_count() - self.rpcs0.load(Ordering::Relaxed);
        let ops = self.ops.load(Ordering::Relaxed);
        println!("  ... Passed -- t {t:4.1} nrpc {nrpc:5} ops {ops:4}");
    }

    /// Shuts the network down (calls on its ends fail from now on).
    pub fn cleanup(&self) {
        self.net.cleanup();
        self.check_timeout();
    }

    fn check_timeout(&self) {
        let used = sim::elapsed() - self.created;
        assert!(
            used <= TIME_LIMIT,
            "test took longer than {} seconds ({:.1} s of virtual time)",
            TIME_LIMIT.as_secs(),
            used.as_secs_f64()
        );
    }

    /// A counted Get, recorded in `history` as client `cli` if given.
    pub async fn get(
        &self,
        ck: &mut Clerk,
        key: &str,
        history: Option<&History>,
        cli: usize,
    ) -> String {
        let call = history.map(History::call);
        let value = ck.get(key).await;
        self.op();
        if let (Some(h), Some(call)) = (history, call) {
            h.record_kv(cli, KvInput::get(key), &value, call);
        }
        value
    }

    /// A counted Put, recorded in `history` as client `cli` if given.
    pub async fn put(
        &self,
        ck: &mut Clerk,
        key: &str,
        value: &str,
        history: Option<&History>,
        cli: usize,
    ) {
        let call = history.map(History::call);
        ck.put(key, value).await;
        self.op();
        if let (Some(h), Some(call)) = (history, call) {
            h.record_kv(cli, KvInput::put(key, value), "", call);
        }
    }

    /// A counted Append returning the old value, recorded in `history` as
    /// client `cli` if given.
    pub async fn append(
        &self,
        ck: &mut Clerk,
        key: &str,
        value: &str,
        history: Option<&History>,
        cli: usize,
    ) -> String {
        let call = history.map(History::call);
        let old = ck.append(key, value).await;
        self.op();
        // kvsrv's Append returns the old value: the model's AppendReturn
        // (the reference's op 3).
        if let (Some(h), Some(call)) = (history, call) {
            h.record_kv(cli, KvInput::append_return(key, value), &old, call);
        }
        old
    }

    fn op(&self) {
        self.ops.fetch_add(1, Ordering::Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking client task already fails the test; keep the harness usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}
