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
use tinykv_raftstore::store::{Command, Store};
use tinykv_raftstore::{Error, bootstrap_region};
use tinykv_storage::{Cf, Engine, MemEngine};
use tokio::time::{Instant, sleep};

/// The reference's `Request` budget: retry until 5 s (at least 10 tries),
/// 100 ms after a failed try.
const REQUEST_BUDGET: Duration = Duration::from_secs(5);
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
    clients: Vec<ClientEnd>,
    /// The store that last answered a command (the client's leader hint).
    hint: u64,
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
            clients: Vec::new(),
            hint: 1,
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
            c.clients.push(client);
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

    /// Sends `requests` until a store applies them, following NotLeader
    /// hints; panics "request timeout" after the reference's budget.
    async fn request(&mut self, requests: Vec<Request>) -> Vec<Response> {
        let deadline = Instant::now() + REQUEST_BUDGET;
        let mut store = self.hint;
        let mut tries = 0;
        let mut stuck = std::collections::BTreeSet::new();
        while Instant::now() < deadline || tries < 10 {
            tries += 1;
            let request = RaftCmdRequest {
                header: CmdHeader {
                    region_id: 1,
                    peer: Peer {
                        id: store,
                        store_id: store,
                    },
                    region_epoch: self.region.region_epoch,
                    term: 0,
                },
                requests: requests.clone(),
            };
            let client = &self.clients[(store - 1) as usize];
            match client.call::<Command>(&request).await {
                Ok(Ok(responses)) => {
                    self.hint = store;
                    return responses;
                }
                Ok(Err(Error::NotLeader {
                    leader: Some(leader),
                    ..
                })) if leader.store_id != store && !stuck.contains(&leader.store_id) => {
                    store = leader.store_id;
                    continue;
                }
                // No answer within the call's second: a leader that cannot
                // commit (or a crashed store). Like the reference's client,
                // stop following hints to it for this request.
                Err(_) => {
                    stuck.insert(store);
                    store = store % self.n + 1;
                }
                _ => store = store % self.n + 1,
            }
            sleep(RETRY_PAUSE).await;
        }
        panic!("request timeout: {requests:?}");
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
        c.hint = s2[0];
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
