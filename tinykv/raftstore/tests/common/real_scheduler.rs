//! The test cluster with the real scheduler (`tinykv-scheduler`) in place
//! of the mock: its labrpc service `Scheduler` on the simulated network,
//! its balance loop (`run_schedulers`) on the virtual clock, and every
//! store reporting to it through a `RemoteScheduler` over its own labrpc
//! end — the path a store takes in a real process, with labrpc for TCP.
//! Operators and split ids come from the real scheduler only.
//!
//! The mock stays as an observer: each store shows it every heartbeat
//! before sending it on, so its region map — which the test client routes
//! by, as the reference's client asks its scheduler — stays current, and
//! its checks (one membership change per `conf_ver` bump) still fail the
//! test at shutdown. It hands out no operators and no ids here.
//!
//! And the scenario no reference test has: the scheduler balances regions
//! onto a store that joins while clients write.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use labrpc::{ClientEnd, Network, Shutdown};
use tinykv_raftstore::meta::{Peer, Region};
use tinykv_raftstore::scheduler::{
    Operator, RegionHeartbeat, RemoteScheduler, SchedulerClient, StoreStats,
};
use tinykv_raftstore::{Error, PeerConfig, bootstrap_region, first_region};
use tinykv_scheduler::{Clock, Config, SchedulerServer, Store as StoreMeta};
use tinykv_storage::{Engine, MemEngine};
use tokio::time::{Instant, sleep};

use super::scheduler::MockScheduler;
use super::{
    Cluster, ELECTION_TIMEOUT, client_end, client_key, client_value, concat, expected, run_client,
    store_name,
};

/// The scheduler's server name on the network.
pub const SCHEDULER: &str = "scheduler";
/// The scheduler's first id: above every bootstrapped peer id.
pub const FIRST_ID: u64 = 1000;

/// The real scheduler of a test cluster.
pub struct RealScheduler {
    /// The scheduler itself (its cluster state is open to the test).
    pub server: SchedulerServer,
    /// Each store's end to the scheduler.
    ends: BTreeMap<u64, ClientEnd>,
    /// Stops the balance loop (also on drop).
    balancing: Shutdown,
}

impl Drop for RealScheduler {
    fn drop(&mut self) {
        self.balancing.trigger();
    }
}

impl RealScheduler {
    /// Stops the balance loop: running operators still finish (heartbeats
    /// keep being answered), no new ones are made.
    pub fn stop_balancing(&self) {
        self.balancing.trigger();
    }

    /// Store `s`'s scheduler client: a new `RemoteScheduler` (a restarted
    /// store registers again), with `mock` shown every heartbeat.
    pub fn client(&self, s: u64, mock: Arc<MockScheduler>) -> Arc<dyn SchedulerClient> {
        let meta = StoreMeta {
            id: s,
            address: store_name(s),
            ..StoreMeta::default()
        };
        Arc::new(Observed {
            mock,
            real: RemoteScheduler::new(meta, self.ends[&s].clone()),
        })
    }

    /// Regions with a peer on store `s`, as the scheduler has them.
    pub fn region_count(&self, s: u64) -> usize {
        self.server.cluster().regions().store_region_count(s)
    }

    /// The regions as the scheduler has them, by id.
    pub fn regions(&self) -> Vec<Region> {
        let cluster = self.server.cluster();
        let mut regions: Vec<Region> = cluster.regions().iter().map(|r| r.meta.clone()).collect();
        regions.sort_by_key(|r| r.id);
        regions
    }

    /// Each store's region count and size, as the scheduler has them.
    pub fn stores(&self) -> Vec<(u64, usize, u64)> {
        let cluster = self.server.cluster();
        cluster
            .stores()
            .map(|s| (s.id(), s.region_count, s.region_size))
            .collect()
    }
}

/// A store's scheduler client: the real scheduler, the mock watching.
struct Observed {
    mock: Arc<MockScheduler>,
    real: RemoteScheduler,
}

impl SchedulerClient for Observed {
    fn region_heartbeat(&self, heartbeat: RegionHeartbeat) -> Option<Operator> {
        // The mock has no operators to give here: only its view and checks.
        let _ = self.mock.region_heartbeat(heartbeat.clone());
        self.real.region_heartbeat(heartbeat)
    }

    fn ask_split(&self, region: &Region) -> Result<(u64, Vec<u64>), Error> {
        self.real.ask_split(region)
    }

    fn store_heartbeat(&self, stats: StoreStats) {
        self.real.store_heartbeat(stats);
    }
}

impl Cluster {
    /// `total` stores on in-memory engines, region 1 (peer id = store id)
    /// bootstrapped on stores `1..=initial`, which are started; the others
    /// have empty engines and join when `start`ed. Every store reports to
    /// the real scheduler, whose balance loop runs from the start.
    pub fn with_real_scheduler(initial: u64, total: u64, config: PeerConfig) -> Cluster {
        assert!(initial <= total);
        let net = Network::new();
        let region = first_region(1..=initial);
        let server = SchedulerServer::new(Config::default(), FIRST_ID, Clock::tokio());
        let rpc = labrpc::Server::new();
        rpc.add_service(server.service());
        net.add_server(SCHEDULER, rpc);
        let balancing = Shutdown::new();
        tokio::spawn(server.clone().run_schedulers(balancing.clone()));
        let mut real = RealScheduler {
            server,
            ends: BTreeMap::new(),
            balancing,
        };
        let mock = Arc::new(MockScheduler::new(region.clone(), FIRST_ID));
        let mut c = Cluster::empty(net, total, region, config, mock);
        for s in 1..=total {
            let (raft, kv): (Arc<dyn Engine>, Arc<dyn Engine>) =
                (Arc::new(MemEngine::new()), Arc::new(MemEngine::new()));
            if s <= initial {
                bootstrap_region(raft.as_ref(), kv.as_ref(), &c.region).unwrap();
            }
            c.add_store(s, (raft, kv));
            let name = format!("{}->{SCHEDULER}", store_name(s));
            let end = c.net.make_end(&name);
            c.net.connect(&name, SCHEDULER);
            c.net.enable(&name, true);
            real.ends.insert(s, end);
            c.add_client_end(s);
        }
        c.real = Some(real);
        for s in 1..=initial {
            c.start(s);
        }
        c
    }

    /// The real scheduler (a cluster made by `with_real_scheduler`).
    pub fn real(&self) -> &RealScheduler {
        self.real
            .as_ref()
            .expect("a cluster with the real scheduler")
    }

    /// The regions store `s`'s initialised peers hold (none if it is down).
    pub fn regions_on(&self, s: u64) -> Vec<Region> {
        self.stores[(s - 1) as usize]
            .as_ref()
            .map(|store| store.regions())
            .unwrap_or_default()
    }
}

/// The balance scenario's parameters.
#[derive(Debug, Clone, Copy)]
pub struct Balance {
    /// Clients writing throughout.
    pub nclients: usize,
    /// labrpc's unreliable network (10 % of requests and of replies lost,
    /// delays), scheduler RPCs included, while the clients write.
    pub unreliable: bool,
    /// Once the moves are done, every store crashes and restarts (each
    /// registers again) before the checks.
    pub crash: bool,
}

/// `RegionMaxSize` / `RegionSplitSize` of the scenario: small, so the
/// clients' writes make several regions within a second or two.
pub const BALANCE_MAX_SIZE: u64 = 1024;
pub const BALANCE_SPLIT_SIZE: u64 = 512;
/// Regions there must be before the new store joins.
pub const BALANCE_MIN_REGIONS: usize = 4;
/// Virtual time for the clients to make that many.
pub const SPLIT_BUDGET: Duration = Duration::from_secs(20);
/// Virtual time for the scheduler to move a region onto the new store.
pub const BALANCE_BUDGET: Duration = Duration::from_secs(10);
/// How long the clients keep writing once it has one.
pub const WRITE_ON: Duration = Duration::from_secs(2);
/// Virtual time for the running operators to finish once balancing stops.
pub const SETTLE_BUDGET: Duration = Duration::from_secs(10);

/// Stores 1–3 hold region 1; clients write until it has split into
/// [`BALANCE_MIN_REGIONS`] regions; store 4 joins (empty); the real
/// scheduler must move at least one region onto it within
/// [`BALANCE_BUDGET`] while the clients keep writing. Then: balancing
/// stops and the running operators finish (and with `crash` every store
/// crashes and restarts); the scheduler's region map
/// comes to equal what the stores reported (the mock's) and the peers the
/// stores have (each listed peer exists, no unlisted one is left); store 4
/// holds at least one region, and every acknowledged put in its regions is
/// in its engine; every client's puts read back
/// exactly once and in order; the mock saw no illegal membership change;
/// the whole history is linearizable.
pub async fn balance_test(b: Balance) {
    const NEW: u64 = 4;
    let config = PeerConfig::test().with_split_sizes(BALANCE_MAX_SIZE, BALANCE_SPLIT_SIZE);
    let mut c = Cluster::with_real_scheduler(3, NEW, config);
    sleep(2 * ELECTION_TIMEOUT).await;
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..b.nclients)
        .map(|i| tokio::spawn(run_client(c.client(i), i, stop.clone())))
        .collect();
    if b.unreliable {
        c.net.set_reliable(false);
    }
    let start = Instant::now();
    while c.scheduler.regions().len() < BALANCE_MIN_REGIONS {
        assert!(
            start.elapsed() < SPLIT_BUDGET,
            "only {} regions after {SPLIT_BUDGET:?} of writes",
            c.scheduler.regions().len()
        );
        sleep(Duration::from_millis(100)).await;
    }
    let regions_before = c.scheduler.regions().len();

    c.start(NEW);
    let joined = Instant::now();
    while c.regions_on(NEW).is_empty() || c.real().region_count(NEW) == 0 {
        assert!(
            joined.elapsed() < BALANCE_BUDGET,
            "store {NEW} got no region within {BALANCE_BUDGET:?} of joining \
             (it holds {}; the scheduler's stores (id, regions, size): {:?}; \
             {} operators running; {regions_before} regions when it joined)",
            c.regions_on(NEW).len(),
            c.real().stores(),
            c.real().server.cluster().operator_count(),
        );
        sleep(Duration::from_millis(50)).await;
    }
    let first_move = joined.elapsed();
    sleep(WRITE_ON).await;
    stop.store(true, Ordering::Relaxed);
    c.net.set_reliable(true);
    let mut counts = Vec::new();
    for handle in clients {
        counts.push(handle.await.expect("a client failed"));
    }

    c.real().stop_balancing();
    let settling = Instant::now();
    while c.real().server.cluster().operator_count() > 0 {
        assert!(
            settling.elapsed() < SETTLE_BUDGET,
            "operators still running {SETTLE_BUDGET:?} after balancing stopped"
        );
        sleep(Duration::from_millis(50)).await;
    }
    if b.crash {
        for s in 1..=NEW {
            c.stop(s);
        }
        sleep(ELECTION_TIMEOUT).await;
        for s in 1..=NEW {
            c.start(s);
        }
    }
    // The heartbeats got through: the scheduler has what the stores have.
    let settling = Instant::now();
    loop {
        let (real, reported) = (c.real().regions(), c.scheduler.regions());
        let missing: Vec<(u64, Peer)> = real
            .iter()
            .flat_map(|r| r.peers.iter().map(move |p| (r.id, *p)))
            .filter(|(id, p)| {
                c.stores[(p.store_id - 1) as usize]
                    .as_ref()
                    .and_then(|s| s.peer_of(*id))
                    != Some(*p)
            })
            .collect();
        // And no store keeps a peer the scheduler does not list (a removed
        // peer destroys itself once it hears of its removal).
        let extra: Vec<(u64, Peer)> = (1..=NEW)
            .flat_map(|s| {
                c.regions_on(s)
                    .into_iter()
                    .filter_map(move |r| Some((r.id, r.peer_on_store(s)?)))
            })
            .filter(|(id, p)| !real.iter().any(|r| r.id == *id && r.peers.contains(p)))
            .collect();
        if real == reported && missing.is_empty() && extra.is_empty() {
            break;
        }
        assert!(
            settling.elapsed() < SETTLE_BUDGET,
            "{SETTLE_BUDGET:?} after the last operator the scheduler's regions \
             {real:#?}\ndiffer from those reported {reported:#?}\nor list peers \
             the stores lack: {missing:?}\nor the stores keep peers it does not \
             list: {extra:?}"
        );
        sleep(Duration::from_millis(50)).await;
    }
    let held: Vec<Region> = c
        .real()
        .regions()
        .into_iter()
        .filter(|r| r.peer_on_store(NEW).is_some())
        .collect();
    println!(
        "first region on store {NEW} after {first_move:?}; at the end it holds {} of {} regions; \
         the scheduler's stores (id, regions, size): {:?}; puts per client: {counts:?}",
        held.len(),
        c.scheduler.regions().len(),
        c.real().stores()
    );
    assert!(!held.is_empty(), "store {NEW} lost every region it got");

    // Every acknowledged put in store 4's regions is in its engine.
    let mut in_new = 0;
    for (i, &count) in counts.iter().enumerate() {
        for j in 0..count {
            let key = client_key(i, j);
            if held.iter().any(|r| r.contains(&key)) {
                c.must_get_equal(NEW, &key, &client_value(i, j)).await;
                in_new += 1;
            }
        }
    }
    assert!(
        in_new > 0,
        "store {NEW}'s regions hold no client key: {held:?}"
    );

    // Every acknowledged put reads back, exactly once and in order.
    let mut checker = c.client(b.nclients);
    for (i, &count) in counts.iter().enumerate() {
        let got = checker.scan(&client_key(i, 0), &client_end(i)).await;
        assert_eq!(
            String::from_utf8_lossy(&concat(&got)),
            String::from_utf8_lossy(&expected(i, count)),
            "client {i}: a scan misses or repeats a put"
        );
    }
    c.shutdown();
}
