//! The raftstore test cluster (the reference's `kv/test_raftstore`): stores
//! of one region over the simulated network (labrpc), in virtual time, on
//! in-memory engines or on the disk engine in temporary directories; the
//! reference's client helpers and retry budgets (`client.rs`); its
//! GenericTest (`generic.rs`); and the history every client operation is
//! recorded in and checked for linearizability at the end of each
//! scenario (`history.rs`).
//!
//! Each test is one seed of `labrpc::sim` (`LAB_SEED=N` replays one).

#![allow(dead_code)]

mod client;
mod generic;
pub mod history;
pub mod multi;
pub mod real_scheduler;
pub mod scheduler;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use client::Client;
pub use generic::*;

use history::{History, Input, Output, summarize};
use labrpc::{ClientEnd, Network, Server};
use scheduler::MockScheduler;
use tinykv_raftstore::cmd::{CmdHeader, RaftCmdRequest, Request, Response};
use tinykv_raftstore::meta::{Peer, Region};
use tinykv_raftstore::scheduler::SchedulerClient;
use tinykv_raftstore::store::{COMMAND_TIMEOUT, Command, Scan, ScanArgs, Store, Transport};
use tinykv_raftstore::{Error, PeerConfig, bootstrap_region, first_region};
use tinykv_storage::{Cf, DiskEngine, Engine, MemEngine};
use tokio::time::{Instant, sleep};

/// The reference's `Request`: at least 10 attempts and until 5 s, 100 ms
/// apart; each attempt is a `CallCommandOnLeader` that itself retries for
/// up to 5 s (one second per call, following leader hints). A request thus
/// fails only after some 50 s without an answer, not 5 s.
pub const REQUEST_ATTEMPTS: usize = 10;
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
pub const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// The reference's region polls (`GetRegion`): 100 × 20 ms.
pub const REGION_POLLS: usize = 100;
pub const REGION_POLL: Duration = Duration::from_millis(20);
/// The reference's engine polls: 300 × 20 ms.
pub const ENGINE_POLLS: usize = 300;
pub const ENGINE_POLL: Duration = Duration::from_millis(20);
/// The reference's election timeout in the test configuration (10 × 50 ms).
pub const ELECTION_TIMEOUT: Duration = Duration::from_millis(500);
/// How long each of GenericTest's three rounds runs its clients.
pub const ROUND: Duration = Duration::from_secs(5);
/// Most keys GenericTest's clean-up deletes in one command.
pub const DELETE_BATCH: usize = 64;

fn store_name(s: u64) -> String {
    format!("store-{s}")
}

fn link(from: u64, to: u64) -> String {
    format!("{from}->{to}")
}

/// Where the stores keep their engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// `MemEngine`s.
    Memory,
    /// `DiskEngine`s, each in its own temporary directory (under `/dev/shm`
    /// when it exists, so fsyncs cost little), removed with the cluster.
    Disk,
}

pub struct Cluster {
    pub net: Network,
    pub n: u64,
    pub region: Region,
    pub config: PeerConfig,
    pub engines: Vec<(Arc<dyn Engine>, Arc<dyn Engine>)>,
    ends: Vec<BTreeMap<u64, ClientEnd>>,
    pub stores: Vec<Option<Store>>,
    pub client: Client,
    /// The mock scheduler every store reports to (with `real`: that only
    /// watches).
    pub scheduler: Arc<MockScheduler>,
    /// The real scheduler, if the cluster runs with it
    /// (`real_scheduler.rs`).
    pub real: Option<real_scheduler::RealScheduler>,
    /// Every client operation of the scenario.
    pub history: History,
    _dirs: Vec<tempfile::TempDir>,
}

fn temp_dir() -> tempfile::TempDir {
    let builder = {
        let mut b = tempfile::Builder::new();
        b.prefix("test-raftstore-");
        b
    };
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        builder.tempdir_in(shm)
    } else {
        builder.tempdir()
    };
    dir.expect("cannot create a temporary directory")
}

impl Cluster {
    /// `n` stores of region 1 (peer id = store id) on in-memory engines,
    /// with the reference's test configuration.
    pub fn new(n: u64) -> Cluster {
        Cluster::with(n, PeerConfig::test(), Backing::Memory)
    }

    /// A cluster of `n` store slots, none added yet, over `net`, with
    /// `region` as the bootstrap region and `scheduler` as the mock.
    fn empty(
        net: Network,
        n: u64,
        region: Region,
        config: PeerConfig,
        scheduler: Arc<MockScheduler>,
    ) -> Cluster {
        let history = History::default();
        Cluster {
            net,
            n,
            region,
            config,
            engines: Vec::new(),
            ends: Vec::new(),
            stores: Vec::new(),
            client: Client {
                ends: Vec::new(),
                n,
                scheduler: scheduler.clone(),
                hints: BTreeMap::new(),
                last_error: None,
                id: 0,
                history: history.clone(),
            },
            scheduler,
            real: None,
            history,
            _dirs: Vec::new(),
        }
    }

    /// Store `s`'s engines and its ends to every other store.
    fn add_store(&mut self, s: u64, engines: (Arc<dyn Engine>, Arc<dyn Engine>)) {
        self.engines.push(engines);
        let mut ends = BTreeMap::new();
        for t in (1..=self.n).filter(|&t| t != s) {
            let end = self.net.make_end(link(s, t));
            self.net.connect(&link(s, t), store_name(t));
            self.net.enable(&link(s, t), true);
            ends.insert(t, end);
        }
        self.ends.push(ends);
    }

    /// The client's end to store `s`, which is not started yet.
    fn add_client_end(&mut self, s: u64) {
        let name = format!("client->{s}");
        let client = self.net.make_end(&name);
        self.net.connect(&name, store_name(s));
        self.net.enable(&name, true);
        self.client.ends.push(client);
        self.stores.push(None);
    }

    /// `n` stores with the given configuration and engines.
    pub fn with(n: u64, config: PeerConfig, backing: Backing) -> Cluster {
        let net = Network::new();
        let region = first_region(1..=n);
        let scheduler = Arc::new(MockScheduler::new(region.clone(), n));
        let mut c = Cluster::empty(net, n, region, config, scheduler);
        for s in 1..=n {
            let (raft, kv): (Arc<dyn Engine>, Arc<dyn Engine>) = match backing {
                Backing::Memory => (Arc::new(MemEngine::new()), Arc::new(MemEngine::new())),
                Backing::Disk => {
                    let dir = temp_dir();
                    let raft = DiskEngine::open(dir.path().join("raft")).unwrap();
                    let kv = DiskEngine::open(dir.path().join("kv")).unwrap();
                    c._dirs.push(dir);
                    (Arc::new(raft), Arc::new(kv))
                }
            };
            bootstrap_region(raft.as_ref(), kv.as_ref(), &c.region).unwrap();
            c.add_store(s, (raft, kv));
            c.add_client_end(s);
        }
        for s in 1..=n {
            c.start(s);
        }
        c
    }

    pub fn start(&mut self, s: u64) {
        let (raft, kv) = self.engines[(s - 1) as usize].clone();
        let ends = self.ends[(s - 1) as usize]
            .iter()
            .map(|(&t, end)| (t, Arc::new(end.clone()) as Arc<dyn Transport>))
            .collect();
        let scheduler: Arc<dyn SchedulerClient> = self.scheduler.clone();
        let scheduler = self
            .real
            .as_ref()
            .map_or(scheduler, |r| r.client(s, self.scheduler.clone()));
        let store = Store::start(s, raft, kv, ends, self.config, Some(scheduler)).unwrap();
        let server = Server::new();
        server.add_service(store.service());
        self.net.add_server(store_name(s), server);
        self.stores[(s - 1) as usize] = Some(store);
    }

    /// A crash: the store's memory is gone, its engines stay.
    pub fn stop(&mut self, s: u64) {
        if let Some(store) = self.stores[(s - 1) as usize].take() {
            store.kill();
        }
        self.net.delete_server(&store_name(s));
    }

    pub fn partition(&self, a: &[u64], b: &[u64]) {
        self.heal();
        for &i in a {
            for &j in b {
                self.net.enable(&link(i, j), false);
                self.net.enable(&link(j, i), false);
            }
        }
    }

    pub fn heal(&self) {
        for s in 1..=self.n {
            for t in (1..=self.n).filter(|&t| t != s) {
                self.net.enable(&link(s, t), true);
            }
        }
    }

    /// The store whose peer of region 1 leads (the highest term's).
    pub fn leader(&self) -> Option<u64> {
        self.leader_of(1)
    }

    /// The store whose peer of `region_id` leads (the highest term's).
    pub fn leader_of(&self, region_id: u64) -> Option<u64> {
        (1..=self.n)
            .filter_map(|s| Some((s, self.stores[(s - 1) as usize].as_ref()?.state(region_id)?)))
            .filter(|(_, (_, leads))| *leads)
            .max_by_key(|(_, (term, _))| *term)
            .map(|(s, _)| s)
    }

    pub async fn wait_leader(&self) -> u64 {
        // The reference's LeaderOfRegion: 500 × 10 ms.
        for _ in 0..500 {
            if let Some(l) = self.leader() {
                return l;
            }
            sleep(Duration::from_millis(10)).await;
        }
        panic!("no leader within 5 s");
    }

    /// A new client handle recording as client `id`.
    pub fn client(&self, id: usize) -> Client {
        Client {
            id,
            ..self.client.clone()
        }
    }

    pub async fn must_put(&mut self, key: &[u8], value: &[u8]) {
        self.client.put(key, value).await;
    }

    pub async fn must_put_cf(&mut self, cf: Cf, key: &[u8], value: &[u8]) {
        self.client.put_cf(cf, key, value).await;
    }

    pub async fn must_delete_cf(&mut self, cf: Cf, key: &[u8]) {
        self.client.delete_cf(cf, key).await;
    }

    pub async fn must_get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        self.client.get(key).await
    }

    pub fn engine_get_cf(&self, s: u64, cf: Cf, key: &[u8]) -> Option<Vec<u8>> {
        self.engines[(s - 1) as usize]
            .1
            .snapshot()
            .unwrap()
            .get_cf(cf, key)
            .unwrap()
    }

    pub fn engine_get(&self, s: u64, key: &[u8]) -> Option<Vec<u8>> {
        self.engine_get_cf(s, Cf::Default, key)
    }

    /// The reference's `MustGetCfEqual` on a store's engine.
    pub async fn must_get_cf_equal(&self, s: u64, cf: Cf, key: &[u8], value: &[u8]) {
        for _ in 0..ENGINE_POLLS {
            if self.engine_get_cf(s, cf, key).as_deref() == Some(value) {
                return;
            }
            sleep(ENGINE_POLL).await;
        }
        panic!(
            "store {s}: {key:?} is {:?}, want {value:?}",
            self.engine_get_cf(s, cf, key)
        );
    }

    pub async fn must_get_equal(&self, s: u64, key: &[u8], value: &[u8]) {
        self.must_get_cf_equal(s, Cf::Default, key, value).await;
    }

    /// The reference's `MustGetCfNone`: polls until `key` is absent.
    pub async fn must_get_cf_none(&self, s: u64, cf: Cf, key: &[u8]) {
        for _ in 0..ENGINE_POLLS {
            if self.engine_get_cf(s, cf, key).is_none() {
                return;
            }
            sleep(ENGINE_POLL).await;
        }
        panic!("store {s} still has {key:?}");
    }

    /// The reference's `MustGetNone` polls until absent; here the key must
    /// stay absent for the whole poll budget, a stronger check.
    pub async fn must_stay_none(&self, s: u64, key: &[u8]) {
        for _ in 0..ENGINE_POLLS / 10 {
            assert_eq!(self.engine_get(s, key), None, "store {s} has {key:?}");
            sleep(ENGINE_POLL).await;
        }
    }

    /// A running store's (applied, truncated) index.
    pub fn applied_and_truncated(&self, s: u64) -> (u64, u64) {
        self.stores[(s - 1) as usize]
            .as_ref()
            .expect("store is running")
            .applied_and_truncated(1)
            .expect("the store has region 1")
    }

    /// Stops every store and checks the history.
    pub fn shutdown(&mut self) {
        for s in 1..=self.n {
            self.stop(s);
        }
        println!("history: {} operations", self.history.len());
        let failures = self.scheduler.failures();
        assert!(failures.is_empty(), "the mock scheduler saw: {failures:#?}");
        self.history.check();
    }
}

impl Cluster {
    /// The leader among `stores` (waiting for one, as `wait_leader`).
    pub async fn leader_among(&self, stores: &[u64]) -> u64 {
        for _ in 0..500 {
            let found = stores
                .iter()
                .copied()
                .filter_map(|s| Some((s, self.stores[(s - 1) as usize].as_ref()?.state(1)?)))
                .filter(|(_, (_, leads))| *leads)
                .max_by_key(|(_, (term, _))| *term);
            if let Some((s, _)) = found {
                return s;
            }
            sleep(Duration::from_millis(10)).await;
        }
        panic!("no leader among {stores:?} within 5 s");
    }
}
