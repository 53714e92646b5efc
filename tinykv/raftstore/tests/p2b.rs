//! Stores of one region over the simulated network (labrpc), in virtual
//! time: the peer loop end to end, crashes and restarts from the engines,
//! and the reference's `TestOnePartition2B`.
//!
//! Each test is one seed of `labrpc::sim` (`LAB_SEED=N` replays one).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use labrpc::{ClientEnd, Network, Server};
use tinykv_raftstore::cmd::{CmdHeader, RaftCmdRequest, Request, Response};
use tinykv_raftstore::meta::{Peer, Region, RegionEpoch};
use tinykv_raftstore::store::{COMMAND_TIMEOUT, Command, Scan, ScanArgs, Store};
use tinykv_raftstore::{Error, bootstrap_region};
use tinykv_storage::{Cf, Engine, MemEngine};
use tokio::time::{Instant, sleep};

/// The reference's `Request`: at least 10 attempts and until 5 s, 100 ms
/// apart; each attempt is a `CallCommandOnLeader` that itself retries for
/// up to 5 s (one second per call, following leader hints). A request thus
/// fails only after some 50 s without an answer, not 5 s.
const REQUEST_ATTEMPTS: usize = 10;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// The reference's engine polls: 300 × 20 ms.
const ENGINE_POLLS: usize = 300;
const ENGINE_POLL: Duration = Duration::from_millis(20);

fn store_name(s: u64) -> String {
    format!("store-{s}")
}

fn link(from: u64, to: u64) -> String {
    format!("{from}->{to}")
}

struct Cluster {
    net: Network,
    n: u64,
    region: Region,
    engines: Vec<(Arc<dyn Engine>, Arc<dyn Engine>)>,
    ends: Vec<BTreeMap<u64, ClientEnd>>,
    stores: Vec<Option<Store>>,
    client: Client,
}

/// A client: one end per store and a leader hint.
#[derive(Clone)]
struct Client {
    ends: Vec<ClientEnd>,
    n: u64,
    epoch: RegionEpoch,
    /// The store that last answered a command.
    hint: u64,
}

impl Client {
    fn header(&self, store: u64) -> CmdHeader {
        CmdHeader {
            region_id: 1,
            peer: Peer {
                id: store,
                store_id: store,
            },
            region_epoch: self.epoch,
            term: 0,
        }
    }

    /// The reference's `Request`: attempts [`Client::call_on_leader`] at
    /// least [`REQUEST_ATTEMPTS`] times and for [`REQUEST_TIMEOUT`], pausing
    /// after each failed one; panics "request timeout" after that.
    async fn retry<T, F, Fut>(&mut self, what: &str, mut call: F) -> T
    where
        F: FnMut(ClientEnd, CmdHeader) -> Fut,
        Fut: std::future::Future<Output = Result<Result<T, Error>, labrpc::RpcError>>,
    {
        let start = Instant::now();
        let mut attempts = 0;
        while attempts < REQUEST_ATTEMPTS || start.elapsed() < REQUEST_TIMEOUT {
            attempts += 1;
            if let Some(value) = self.call_on_leader(&mut call).await {
                return value;
            }
            sleep(RETRY_PAUSE).await;
        }
        panic!("request timeout: {what}");
    }

    /// The reference's `CallCommandOnLeader`: calls `call` on stores for up
    /// to [`REQUEST_TIMEOUT`] until one answers Ok, following NotLeader
    /// hints; `None` if none did (or a store answered an error that no
    /// other store would answer differently).
    async fn call_on_leader<T, F, Fut>(&mut self, call: &mut F) -> Option<T>
    where
        F: FnMut(ClientEnd, CmdHeader) -> Fut,
        Fut: std::future::Future<Output = Result<Result<T, Error>, labrpc::RpcError>>,
    {
        let start = Instant::now();
        let mut store = self.hint;
        let mut stuck = std::collections::BTreeSet::new();
        while start.elapsed() <= REQUEST_TIMEOUT {
            let end = self.ends[(store - 1) as usize].clone();
            let sent = Instant::now();
            match call(end, self.header(store)).await {
                Ok(Ok(value)) => {
                    self.hint = store;
                    return Some(value);
                }
                Ok(Err(Error::NotLeader {
                    leader: Some(leader),
                    ..
                })) if leader.store_id != store && !stuck.contains(&leader.store_id) => {
                    store = leader.store_id;
                    continue;
                }
                Ok(Err(
                    Error::NotLeader { .. } | Error::StaleCommand | Error::EpochNotMatch { .. },
                )) => store = store % self.n + 1,
                // No answer within the call's second: a leader that cannot
                // commit. Like the reference's client, stop following hints
                // to it for this attempt. (A lost call fails sooner and
                // marks nothing.)
                Err(_) => {
                    if sent.elapsed() >= COMMAND_TIMEOUT {
                        stuck.insert(store);
                    }
                    store = store % self.n + 1;
                }
                Ok(Err(_)) => return None,
            }
            sleep(RETRY_PAUSE).await;
        }
        None
    }

    async fn request(&mut self, requests: Vec<Request>) -> Vec<Response> {
        let what = format!("{requests:?}");
        self.retry(&what, |end, header| {
            let request = RaftCmdRequest {
                header,
                requests: requests.clone(),
            };
            async move { end.call::<Command>(&request).await }
        })
        .await
    }

    async fn put(&mut self, key: &[u8], value: &[u8]) {
        let r = self
            .request(vec![Request::Put {
                cf: Cf::Default,
                key: key.to_vec(),
                value: value.to_vec(),
            }])
            .await;
        assert_eq!(r, vec![Response::Put]);
    }

    async fn delete(&mut self, key: &[u8]) {
        let r = self
            .request(vec![Request::Delete {
                cf: Cf::Default,
                key: key.to_vec(),
            }])
            .await;
        assert_eq!(r, vec![Response::Delete]);
    }

    /// The reference's `Scan`: a consistent read of `[start, end)`.
    async fn scan(&mut self, start: &[u8], end: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let what = format!("scan {start:?}..{end:?}");
        self.retry(&what, |client, header| {
            let args = ScanArgs {
                header,
                cf: Cf::Default,
                start: start.to_vec(),
                end: end.to_vec(),
            };
            async move { client.call::<Scan>(&args).await }
        })
        .await
    }
}

impl Cluster {
    fn new(n: u64) -> Cluster {
        let net = Network::new();
        let region = Region {
            id: 1,
            start_key: Vec::new(),
            end_key: Vec::new(),
            region_epoch: RegionEpoch {
                conf_ver: 1,
                version: 1,
            },
            peers: (1..=n).map(|s| Peer { id: s, store_id: s }).collect(),
        };
        let mut c = Cluster {
            net,
            n,
            region,
            engines: Vec::new(),
            ends: Vec::new(),
            stores: Vec::new(),
            client: Client {
                ends: Vec::new(),
                n,
                epoch: RegionEpoch {
                    conf_ver: 1,
                    version: 1,
                },
                hint: 1,
            },
        };
        for s in 1..=n {
            let raft: Arc<dyn Engine> = Arc::new(MemEngine::new());
            let kv: Arc<dyn Engine> = Arc::new(MemEngine::new());
            bootstrap_region(raft.as_ref(), kv.as_ref(), &c.region).unwrap();
            c.engines.push((raft, kv));
            let mut ends = BTreeMap::new();
            for t in (1..=n).filter(|&t| t != s) {
                let end = c.net.make_end(link(s, t));
                c.net.connect(&link(s, t), store_name(t));
                c.net.enable(&link(s, t), true);
                ends.insert(t, end);
            }
            c.ends.push(ends);
            let name = format!("client->{s}");
            let client = c.net.make_end(&name);
            c.net.connect(&name, store_name(s));
            c.net.enable(&name, true);
            c.client.ends.push(client);
            c.stores.push(None);
        }
        for s in 1..=n {
            c.start(s);
        }
        c
    }

    fn start(&mut self, s: u64) {
        let (raft, kv) = self.engines[(s - 1) as usize].clone();
        let ends = self.ends[(s - 1) as usize].clone();
        let store = Store::start(s, self.region.clone(), raft, kv, ends).unwrap();
        let server = Server::new();
        server.add_service(store.service());
        self.net.add_server(store_name(s), server);
        self.stores[(s - 1) as usize] = Some(store);
    }

    /// A crash: the store's memory is gone, its engines stay.
    fn stop(&mut self, s: u64) {
        if let Some(store) = self.stores[(s - 1) as usize].take() {
            store.kill();
        }
        self.net.delete_server(&store_name(s));
    }

    fn partition(&self, a: &[u64], b: &[u64]) {
        self.heal();
        for &i in a {
            for &j in b {
                self.net.enable(&link(i, j), false);
                self.net.enable(&link(j, i), false);
            }
        }
    }

    fn heal(&self) {
        for s in 1..=self.n {
            for t in (1..=self.n).filter(|&t| t != s) {
                self.net.enable(&link(s, t), true);
            }
        }
    }

    fn leader(&self) -> Option<u64> {
        self.stores
            .iter()
            .flatten()
            .zip(1..)
            .filter(|(st, _)| st.state().1)
            .max_by_key(|(st, _)| st.state().0)
            .map(|(_, s)| s)
    }

    async fn wait_leader(&self) -> u64 {
        // The reference's LeaderOfRegion: 500 × 10 ms.
        for _ in 0..500 {
            if let Some(l) = self.leader() {
                return l;
            }
            sleep(Duration::from_millis(10)).await;
        }
        panic!("no leader within 5 s");
    }

    async fn request(&mut self, requests: Vec<Request>) -> Vec<Response> {
        self.client.request(requests).await
    }

    fn client(&self) -> Client {
        self.client.clone()
    }

    async fn must_put(&mut self, key: &[u8], value: &[u8]) {
        let r = self
            .request(vec![Request::Put {
                cf: Cf::Default,
                key: key.to_vec(),
                value: value.to_vec(),
            }])
            .await;
        assert_eq!(r, vec![Response::Put]);
    }

    async fn must_get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        let r = self
            .request(vec![Request::Get {
                cf: Cf::Default,
                key: key.to_vec(),
            }])
            .await;
        match &r[..] {
            [Response::Get { value }] => value.clone(),
            other => panic!("not a get response: {other:?}"),
        }
    }

    fn engine_get(&self, s: u64, key: &[u8]) -> Option<Vec<u8>> {
        self.engines[(s - 1) as usize]
            .1
            .snapshot()
            .unwrap()
            .get_cf(Cf::Default, key)
            .unwrap()
    }

    /// The reference's `MustGetEqual` on a store's engine.
    async fn must_get_equal(&self, s: u64, key: &[u8], value: &[u8]) {
        for _ in 0..ENGINE_POLLS {
            if self.engine_get(s, key).as_deref() == Some(value) {
                return;
            }
            sleep(ENGINE_POLL).await;
        }
        panic!(
            "store {s}: {key:?} is {:?}, want {value:?}",
            self.engine_get(s, key)
        );
    }

    /// The reference's `MustGetNone` polls until absent; here the key must
    /// stay absent for the whole poll budget, a stronger check.
    async fn must_stay_none(&self, s: u64, key: &[u8]) {
        for _ in 0..ENGINE_POLLS / 10 {
            assert_eq!(self.engine_get(s, key), None, "store {s} has {key:?}");
            sleep(ENGINE_POLL).await;
        }
    }

    fn shutdown(&mut self) {
        for s in 1..=self.n {
            self.stop(s);
        }
    }
}

#[test]
fn puts_and_gets_over_the_network() {
    labrpc::sim::run(|| async {
        let mut c = Cluster::new(5);
        c.wait_leader().await;
        for i in 0..50u32 {
            let key = format!("k{i:03}");
            c.must_put(key.as_bytes(), key.as_bytes()).await;
        }
        for i in (0..50u32).step_by(7) {
            let key = format!("k{i:03}");
            assert_eq!(c.must_get(key.as_bytes()).await, Some(key.into_bytes()));
        }
        for s in 1..=5 {
            c.must_get_equal(s, b"k049", b"k049").await;
        }
        c.shutdown();
    });
}

#[test]
fn stores_restart_from_their_engines() {
    labrpc::sim::run(|| async {
        let mut c = Cluster::new(5);
        let leader = c.wait_leader().await;
        c.must_put(b"a", b"1").await;
        // The leader crashes; the rest go on.
        c.stop(leader);
        c.must_put(b"b", b"2").await;
        c.start(leader);
        c.must_get_equal(leader, b"b", b"2").await;
        // Everybody crashes and comes back: nothing acknowledged is lost.
        for s in 1..=5 {
            c.stop(s);
        }
        sleep(Duration::from_millis(500)).await;
        for s in 1..=5 {
            c.start(s);
        }
        assert_eq!(c.must_get(b"a").await, Some(b"1".to_vec()));
        assert_eq!(c.must_get(b"b").await, Some(b"2".to_vec()));
        c.must_put(b"c", b"3").await;
        for s in 1..=5 {
            c.must_get_equal(s, b"c", b"3").await;
        }
        c.shutdown();
    });
}

/// `TestOnePartition2B`: a leader stranded in a minority serves nothing;
/// the majority goes on; the minority catches up when healed.
#[test]
fn one_partition_p2b() {
    labrpc::sim::run(|| async {
        let mut c = Cluster::new(5);
        c.must_put(b"k0", b"v0").await;
        let leader = c.wait_leader().await;
        let others: Vec<u64> = (1..=5).filter(|&s| s != leader).collect();
        let mut s1 = vec![leader, others[0], others[1]];
        let mut s2 = vec![others[2], others[3]];
        c.partition(&s1, &s2);
        c.must_put(b"k1", b"v1").await;
        assert_eq!(c.must_get(b"k1").await, Some(b"v1".to_vec()));
        for &s in &s2 {
            c.must_stay_none(s, b"k1").await;
        }
        c.heal();
        // The old leader and one follower are now the minority.
        s2.push(s1.pop().unwrap());
        c.partition(&s1, &s2);
        // Move the client off the stranded leader as the reference's does.
        c.client.hint = s2[0];
        assert_eq!(c.must_get(b"k1").await, Some(b"v1".to_vec()));
        c.must_put(b"k1", b"changed").await;
        for &s in &s1 {
            c.must_get_equal(s, b"k1", b"v1").await;
            // It never sees the change while cut off.
            sleep(Duration::from_millis(200)).await;
            assert_eq!(c.engine_get(s, b"k1"), Some(b"v1".to_vec()));
        }
        c.heal();
        c.must_put(b"k2", b"v2").await;
        c.must_get_equal(leader, b"k2", b"v2").await;
        c.must_get_equal(leader, b"k1", b"changed").await;
        c.shutdown();
    });
}

/// The reference's election timeout in the test configuration (10 × 50 ms).
const ELECTION_TIMEOUT: Duration = Duration::from_millis(500);
/// How long each of GenericTest's three rounds runs its clients.
const ROUND: Duration = Duration::from_secs(5);

fn client_key(c: usize, j: usize) -> Vec<u8> {
    format!("{c} {j:08}").into_bytes()
}

fn client_value(c: usize, j: usize) -> Vec<u8> {
    format!("x {c} {j} y").into_bytes()
}

/// Client `c`'s puts `0..count`, concatenated: what a scan of its range
/// must read back, each exactly once and in order.
fn expected(c: usize, count: usize) -> Vec<u8> {
    (0..count).flat_map(|j| client_value(c, j)).collect()
}

fn concat(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    pairs.iter().flat_map(|(_, v)| v.clone()).collect()
}

/// One client of GenericTest: until stopped, put its next key or scan
/// everything it put so far (half and half); returns how many it put.
async fn run_client(
    mut client: Client,
    c: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> usize {
    let mut j = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if labrpc::rng::chance(0.5) {
            client.put(&client_key(c, j), &client_value(c, j)).await;
            j += 1;
        } else {
            let got = client.scan(&client_key(c, 0), &client_key(c, j)).await;
            assert_eq!(
                String::from_utf8_lossy(&concat(&got)),
                String::from_utf8_lossy(&expected(c, j)),
                "client {c}: a scan misses or repeats a put"
            );
        }
    }
    j
}

/// The reference's GenericTest for part 2B (no log limit, no conf change,
/// no split): `nclients` clients for three rounds of 5 s, with message loss,
/// partitions and whole-cluster crashes as asked; after each round every
/// client's puts must read back exactly once, in order.
///
/// Where ours differs: "unreliable" is labrpc's unreliable network (10 % of
/// requests and 10 % of replies lost, 0–26 ms delays, client calls included)
/// instead of drop filters that pile up within a round.
async fn generic_test(nclients: usize, unreliable: bool, crash: bool, partitions: bool) {
    let mut c = Cluster::new(5);
    sleep(2 * ELECTION_TIMEOUT).await;
    for _round in 0..3 {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let clients: Vec<_> = (0..nclients)
            .map(|i| tokio::spawn(run_client(c.client(), i, stop.clone())))
            .collect();
        if unreliable {
            c.net.set_reliable(false);
        }
        if partitions {
            let end = Instant::now() + ROUND;
            sleep(Duration::from_millis(300)).await;
            while Instant::now() < end {
                let (a, b): (Vec<u64>, Vec<u64>) = (1..=5).partition(|_| labrpc::rng::chance(0.5));
                c.partition(&a, &b);
                let jitter = Duration::from_millis(labrpc::rng::range(0..200u64));
                sleep(ELECTION_TIMEOUT + jitter).await;
            }
        } else {
            sleep(ROUND).await;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        c.heal();
        c.net.set_reliable(true);
        sleep(ELECTION_TIMEOUT).await;
        let mut counts = Vec::new();
        for handle in clients {
            counts.push(handle.await.expect("a client failed"));
        }
        if crash {
            for s in 1..=5 {
                c.stop(s);
            }
            sleep(ELECTION_TIMEOUT).await;
            for s in 1..=5 {
                c.start(s);
            }
        }
        let mut client = c.client();
        for (i, &count) in counts.iter().enumerate() {
            let got = client.scan(&client_key(i, 0), &client_key(i + 1, 0)).await;
            assert_eq!(
                String::from_utf8_lossy(&concat(&got)),
                String::from_utf8_lossy(&expected(i, count)),
                "client {i} after the round"
            );
            for j in 0..count {
                client.delete(&client_key(i, j)).await;
            }
        }
        assert!(
            counts.iter().sum::<usize>() > 0,
            "no client put anything in a round"
        );
    }
    c.shutdown();
}

fn sim(body: impl std::future::Future<Output = ()> + Send + 'static) {
    labrpc::sim::run(move || body);
}

/// `TestBasic2B`: one client, no faults.
#[test]
fn basic_p2b() {
    sim(generic_test(1, false, false, false));
}

/// `TestConcurrent2B`: five clients.
#[test]
fn concurrent_p2b() {
    sim(generic_test(5, false, false, false));
}

/// `TestUnreliable2B`: five clients over a lossy network.
#[test]
fn unreliable_p2b() {
    sim(generic_test(5, true, false, false));
}

/// `TestManyPartitionsOneClient2B`.
#[test]
fn many_partitions_one_client_p2b() {
    sim(generic_test(1, false, false, true));
}

/// `TestManyPartitionsManyClients2B`.
#[test]
fn many_partitions_many_clients_p2b() {
    sim(generic_test(5, false, false, true));
}

/// `TestPersistOneClient2B`: every store crashes after each round.
#[test]
fn persist_one_client_p2b() {
    sim(generic_test(1, false, true, false));
}

/// `TestPersistConcurrent2B`.
#[test]
fn persist_concurrent_p2b() {
    sim(generic_test(5, false, true, false));
}

/// `TestPersistConcurrentUnreliable2B`.
#[test]
fn persist_concurrent_unreliable_p2b() {
    sim(generic_test(5, true, true, false));
}

/// `TestPersistPartition2B`.
#[test]
fn persist_partition_p2b() {
    sim(generic_test(5, false, true, true));
}

/// `TestPersistPartitionUnreliable2B`.
#[test]
fn persist_partition_unreliable_p2b() {
    sim(generic_test(5, true, true, true));
}
