//! [`RemoteScheduler`] over a scripted [`SchedulerRpc`] (registration,
//! the one-heartbeat lag, answers tied to one leadership, split ids pending
//! then ready, failures), and over both real transports: the labrpc
//! service in a simulation and the TCP server on localhost.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tinykv_scheduler::operator::{OpKind, OpStep};
use tinykv_scheduler::{Clock, Config, SchedulerServer, Store, StoreStats};

use super::*;

/// A scheduler that answers at once with what the test set.
#[derive(Default)]
struct Script {
    /// Every call, in order.
    calls: Vec<String>,
    /// The step every region heartbeat is answered with.
    operator: Option<Operator>,
    /// Every call fails with this, if set.
    fail: Option<tinykv_scheduler::Error>,
    next_id: u64,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<Script>>);

impl Fake {
    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.0.lock().unwrap()
    }

    fn calls(&self) -> Vec<String> {
        self.script().calls.clone()
    }

    /// Records `call` and answers `ok` unless the script fails it.
    fn answer<T: Send + 'static>(&self, call: String, ok: T) -> RpcFuture<T> {
        let mut script = self.script();
        script.calls.push(call);
        let result = match &script.fail {
            Some(e) => Err(Error::Scheduler(e.clone())),
            None => Ok(ok),
        };
        Box::pin(async move { result })
    }
}

impl SchedulerRpc for Fake {
    fn put_store(&self, store: Store) -> RpcFuture<()> {
        self.answer(format!("put_store {}", store.id), ())
    }
    fn store_heartbeat(&self, stats: StoreStats) -> RpcFuture<()> {
        self.answer(format!("store_heartbeat {}", stats.region_count), ())
    }
    fn region_heartbeat(&self, heartbeat: RegionHeartbeat) -> RpcFuture<Option<Operator>> {
        let op = self.script().operator;
        self.answer(format!("region_heartbeat {}", heartbeat.region.id), op)
    }
    fn ask_split(&self, region: Region) -> RpcFuture<(u64, Vec<u64>)> {
        let mut script = self.script();
        script.next_id += 10;
        let ids = (script.next_id, vec![script.next_id + 1; region.peers.len()]);
        drop(script);
        self.answer(format!("ask_split {}", region.id), ids)
    }
}

fn peer(id: u64, store_id: u64) -> Peer {
    Peer { id, store_id }
}

fn region(id: u64, conf_ver: u64) -> Region {
    Region {
        id,
        start_key: Vec::new(),
        end_key: Vec::new(),
        region_epoch: RegionEpoch {
            conf_ver,
            version: 1,
        },
        peers: vec![peer(1, 1), peer(2, 2), peer(3, 3)],
    }
}

fn heartbeat(region_id: u64, term: u64) -> RegionHeartbeat {
    RegionHeartbeat {
        region: region(region_id, 1),
        leader: peer(1, 1),
        term,
        approximate_size: Some(100),
    }
}

fn store(id: u64) -> Store {
    Store {
        id,
        ..Store::default()
    }
}

/// Lets every spawned RPC finish (virtual time).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// A client of store 1 over `fake`, registered.
async fn registered(fake: &Fake) -> RemoteScheduler {
    let client = RemoteScheduler::new(store(1), fake.clone());
    client.store_heartbeat(StoreStats::default());
    settle().await;
    assert!(client.is_registered());
    client
}

#[test]
fn registers_before_any_heartbeat() {
    labrpc::sim::run(|| async {
        let fake = Fake::default();
        let client = RemoteScheduler::new(store(1), fake.clone());
        assert_eq!(client.region_heartbeat(heartbeat(7, 5)), None);
        assert_eq!(client.region_heartbeat(heartbeat(7, 5)), None);
        client.store_heartbeat(StoreStats::default());
        // One registration in flight, nothing else sent meanwhile.
        assert_eq!(fake.calls(), ["put_store 1"]);
        settle().await;
        assert!(client.is_registered());
        let stats = StoreStats {
            region_count: 4,
            ..StoreStats::default()
        };
        client.store_heartbeat(stats.clone());
        client.store_heartbeat(stats); // the first is still in flight
        assert_eq!(client.region_heartbeat(heartbeat(7, 5)), None);
        assert_eq!(
            fake.calls(),
            ["put_store 1", "store_heartbeat 4", "region_heartbeat 7"]
        );
    });
}

#[test]
fn operator_comes_with_the_next_heartbeat_once() {
    labrpc::sim::run(|| async {
        let fake = Fake::default();
        let client = registered(&fake).await;
        let add = Operator::AddPeer(peer(9, 4));
        fake.script().operator = Some(add);
        // The first heartbeat has no answer yet: one heartbeat of lag.
        assert_eq!(client.region_heartbeat(heartbeat(7, 5)), None);
        settle().await;
        assert_eq!(client.region_heartbeat(heartbeat(7, 5)), Some(add));
        // Handed out once; the second heartbeat is still in flight, so
        // this one is not sent.
        assert_eq!(client.region_heartbeat(heartbeat(7, 5)), None);
        assert_eq!(
            fake.calls()
                .iter()
                .filter(|c| *c == "region_heartbeat 7")
                .count(),
            2
        );
        settle().await;
        // The scheduler resends the step until it is done.
        fake.script().operator = None;
        assert_eq!(client.region_heartbeat(heartbeat(7, 5)), Some(add));
        settle().await;
        assert_eq!(client.region_heartbeat(heartbeat(7, 5)), None);
        // Another region's answers are its own.
        fake.script().operator = Some(add);
        assert_eq!(client.region_heartbeat(heartbeat(8, 5)), None);
        settle().await;
        assert_eq!(client.region_heartbeat(heartbeat(7, 5)), None);
        assert_eq!(client.region_heartbeat(heartbeat(8, 5)), Some(add));
    });
}

#[test]
fn answer_for_another_leadership_is_dropped() {
    labrpc::sim::run(|| async {
        let fake = Fake::default();
        let client = registered(&fake).await;
        let transfer = Operator::TransferLeader(peer(2, 2));
        fake.script().operator = Some(transfer);
        client.region_heartbeat(heartbeat(7, 5));
        settle().await;
        // The leader lost the region and won it back in a later term.
        assert_eq!(client.region_heartbeat(heartbeat(7, 6)), None);
        settle().await;
        // A membership change since (conf_ver 2).
        let mut changed = heartbeat(7, 6);
        changed.region.region_epoch.conf_ver = 2;
        assert_eq!(client.region_heartbeat(changed.clone()), None);
        settle().await;
        assert_eq!(client.region_heartbeat(changed), Some(transfer));
    });
}

#[test]
fn ask_split_is_pending_then_ready_once() {
    labrpc::sim::run(|| async {
        let fake = Fake::default();
        let client = RemoteScheduler::new(store(1), fake.clone());
        let r = region(7, 1);
        let pending = Err(Error::SplitIdsPending { region_id: 7 });
        assert_eq!(client.ask_split(&r), pending);
        assert_eq!(client.ask_split(&r), pending);
        assert_eq!(fake.calls(), ["ask_split 7"], "one request in flight");
        settle().await;
        assert_eq!(client.ask_split(&r), Ok((10, vec![11, 11, 11])));
        // Used once: the next split asks anew.
        assert_eq!(client.ask_split(&r), pending);
        settle().await;
        // Ids asked for one epoch are not used for another.
        let newer = region(7, 2);
        assert_eq!(client.ask_split(&newer), pending);
        settle().await;
        assert_eq!(client.ask_split(&newer), Ok((30, vec![31, 31, 31])));
        assert_eq!(fake.calls().len(), 3);
    });
}

#[test]
fn failed_rpcs_are_retried_never_cached() {
    labrpc::sim::run(|| async {
        let fake = Fake::default();
        let down = tinykv_scheduler::Error::Net("connection refused".into());
        fake.script().fail = Some(down.clone());
        let client = RemoteScheduler::new(store(1), fake.clone());
        client.store_heartbeat(StoreStats::default());
        settle().await;
        assert!(!client.is_registered());
        assert_eq!(client.last_error(), Some(Error::Scheduler(down.clone())));
        let r = region(7, 1);
        let pending = Err(Error::SplitIdsPending { region_id: 7 });
        assert_eq!(client.ask_split(&r), pending);
        settle().await;
        assert_eq!(client.ask_split(&r), pending, "a failure is not an answer");
        assert_eq!(fake.calls(), ["put_store 1", "ask_split 7", "ask_split 7"]);

        // Back up: registration is retried, then heartbeats flow.
        fake.script().fail = None;
        fake.script().operator = Some(Operator::RemovePeer(peer(3, 3)));
        client.store_heartbeat(StoreStats::default());
        settle().await;
        assert!(client.is_registered());
        client.region_heartbeat(heartbeat(7, 5));
        settle().await;
        // A failed heartbeat drops the answer it would have replaced.
        fake.script().fail = Some(down);
        assert_eq!(
            client.region_heartbeat(heartbeat(7, 5)),
            Some(Operator::RemovePeer(peer(3, 3)))
        );
        settle().await;
        fake.script().fail = None;
        assert_eq!(client.region_heartbeat(heartbeat(7, 5)), None);

        // A scheduler that forgot the store (restarted): register again.
        fake.script().fail = Some(tinykv_scheduler::Error::UnknownStore(1));
        client.store_heartbeat(StoreStats::default());
        settle().await;
        assert!(!client.is_registered());
        fake.script().fail = None;
        let before = fake.calls().len();
        client.store_heartbeat(StoreStats::default());
        assert_eq!(fake.calls()[before..], ["put_store 1"]);
    });
}

#[test]
fn outside_a_runtime_nothing_is_sent_and_nothing_panics() {
    let fake = Fake::default();
    let client = RemoteScheduler::new(store(1), fake.clone());
    assert_eq!(client.region_heartbeat(heartbeat(7, 5)), None);
    assert!(client.ask_split(&region(7, 1)).is_err());
    client.store_heartbeat(StoreStats::default());
    assert!(fake.calls().len() <= 3);
    assert!(matches!(
        client.last_error(),
        Some(Error::Scheduler(tinykv_scheduler::Error::Net(_)))
    ));
}

/// The labrpc transport against the real scheduler's service: the store
/// registers, its region is cached, a move's first step comes back as
/// `AddPeer`, and split ids are allocated.
#[test]
fn labrpc_transport_reaches_the_real_scheduler() {
    labrpc::sim::run(|| async {
        let net = labrpc::Network::new();
        let server = SchedulerServer::new(Config::default(), 100, Clock::tokio());
        let rpc = labrpc::Server::new();
        rpc.add_service(server.service());
        net.add_server("scheduler", rpc);
        let end = net.make_end("store-1");
        net.connect("store-1", "scheduler");
        net.enable("store-1", true);
        let client = RemoteScheduler::new(store(1), end);
        client.store_heartbeat(StoreStats::default());
        settle().await;
        assert!(client.is_registered());
        assert_eq!(client.region_heartbeat(heartbeat(7, 5)), None);
        settle().await;
        let cached = server.cluster().get_region(7).cloned().expect("cached");
        assert_eq!(cached.meta, region(7, 1));
        assert_eq!(cached.approximate_size, 100);
        let op = tinykv_scheduler::Operator::new(
            "test",
            &cached,
            OpKind::REGION,
            vec![OpStep::AddPeer {
                to_store: 4,
                peer_id: 40,
            }],
            server.now_ms(),
        );
        assert!(server.cluster().add_operator(op));
        assert_eq!(client.region_heartbeat(heartbeat(7, 5)), None);
        settle().await;
        assert_eq!(
            client.region_heartbeat(heartbeat(7, 5)),
            Some(Operator::AddPeer(peer(40, 4)))
        );
        assert!(client.ask_split(&region(7, 1)).is_err());
        settle().await;
        let (new_id, peer_ids) = client.ask_split(&region(7, 1)).expect("ids");
        assert!(
            new_id >= 100 && peer_ids.len() == 3,
            "{new_id} {peer_ids:?}"
        );
    });
}

/// A `tinykv-scheduler` server on `addr` in a runtime of its own (dropping
/// the runtime kills it, connections and all); returns it, the scheduler
/// and the address it listens on.
fn serve_on(addr: &str) -> (tokio::runtime::Runtime, SchedulerServer, String) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = SchedulerServer::new(Config::default(), 100, Clock::System);
    // A restart may find the old listener not yet closed: retry a while.
    let listener = runtime.block_on(async {
        let mut tries = 0;
        loop {
            match tinykv_scheduler::net::bind(addr).await {
                Ok(listener) => break listener,
                Err(e) if tries == 100 => panic!("{e}"),
                Err(_) => tries += 1,
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let addr = listener.local_addr().unwrap().to_string();
    runtime.spawn(tinykv_scheduler::net::serve(listener, server.clone()));
    (runtime, server, addr)
}

/// Polls `done` every 10 ms (wall time) for up to 5 s.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// The TCP transport against a `tinykv-scheduler` server on localhost (a
/// real process's path: wall time, threads): every RPC; then a store's
/// `RemoteScheduler` registers, the scheduler restarts with no memory of
/// it, and the store reconnects and registers again.
#[test]
fn tcp_transport_reaches_the_real_scheduler() {
    let (first, _, addr) = serve_on("127.0.0.1:0");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = runtime.block_on(async {
        let rpc = tinykv_scheduler::net::connect(&addr).await.unwrap();
        SchedulerRpc::put_store(&rpc, store(1)).await.unwrap();
        let answer = SchedulerRpc::region_heartbeat(&rpc, heartbeat(7, 5)).await;
        assert_eq!(answer, Ok(None));
        let (new_id, peer_ids) = SchedulerRpc::ask_split(&rpc, region(7, 1)).await.unwrap();
        assert!(new_id >= 100 && peer_ids.len() == 3);
        let stranger = StoreStats {
            store_id: 9,
            ..StoreStats::default()
        };
        assert_eq!(
            SchedulerRpc::store_heartbeat(&rpc, stranger).await,
            Err(Error::Scheduler(tinykv_scheduler::Error::UnknownStore(9)))
        );
        let unreachable = RemoteScheduler::connect("127.0.0.1:1", store(3)).await;
        assert!(matches!(
            unreachable.err(),
            Some(Error::Scheduler(tinykv_scheduler::Error::Net(_)))
        ));
        let client = RemoteScheduler::connect(&addr, store(2)).await.unwrap();
        let registered = eventually(|| {
            client.store_heartbeat(StoreStats::default());
            client.is_registered()
        })
        .await;
        assert!(registered, "{:?}", client.last_error());
        client
    });
    // The scheduler restarts on the same address, knowing nothing.
    first.shutdown_timeout(Duration::from_secs(5));
    let (_second, restarted, _) = serve_on(&addr);
    runtime.block_on(async {
        let stats = StoreStats {
            store_id: 2,
            ..StoreStats::default()
        };
        let back = eventually(|| {
            client.store_heartbeat(stats.clone());
            restarted.cluster().get_store(2).is_some()
        })
        .await;
        assert!(back, "not registered again: {:?}", client.last_error());
    });
}
