//! Peers of one region on several stores over a deterministic in-memory
//! network (no clock: a round ticks every live peer once and then delivers
//! messages until the network is quiet). Drops, partitions and crashes come
//! from one seeded RNG, so a seed is one execution.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tinykv_storage::{Cf, Engine, MemEngine, WriteBatch, WriteOptions};

use super::*;
use crate::bootstrap_region;
use crate::cmd::{CmdHeader, Request};
use crate::meta::{Peer as PeerMeta, RegionEpoch};

/// Rounds a command may take before the client gives up on that store.
const REQUEST_ROUNDS: usize = 60;

struct Cluster {
    region: Region,
    engines: Vec<(Arc<dyn Engine>, Arc<dyn Engine>)>,
    /// Index `store_id - 1`; `None` while crashed.
    peers: Vec<Option<Peer>>,
    queue: VecDeque<(u64, u64, Message)>,
    rng: SmallRng,
    /// Messages dropped per thousand.
    drop_permille: u32,
    /// Stores on one side of a partition (the rest are on the other).
    side: Option<BTreeSet<u64>>,
    answers: BTreeMap<u64, Answer>,
    next_id: u64,
    config: PeerConfig,
}

fn region_over(stores: u64, start: &[u8], end: &[u8]) -> Region {
    Region {
        id: 1,
        start_key: start.to_vec(),
        end_key: end.to_vec(),
        region_epoch: RegionEpoch {
            conf_ver: 1,
            version: 1,
        },
        peers: (1..=stores)
            .map(|s| PeerMeta { id: s, store_id: s })
            .collect(),
    }
}

impl Cluster {
    fn new(stores: u64, seed: u64) -> Cluster {
        Cluster::with_region(region_over(stores, b"", b""), seed)
    }

    fn with_region(region: Region, seed: u64) -> Cluster {
        let stores = region.peers.len() as u64;
        let mut cluster = Cluster {
            region: region.clone(),
            engines: Vec::new(),
            peers: Vec::new(),
            queue: VecDeque::new(),
            rng: SmallRng::seed_from_u64(seed),
            drop_permille: 0,
            side: None,
            answers: BTreeMap::new(),
            next_id: 1,
            config: PeerConfig::test(),
        };
        for _ in 1..=stores {
            let raft: Arc<dyn Engine> = Arc::new(MemEngine::new());
            let kv: Arc<dyn Engine> = Arc::new(MemEngine::new());
            bootstrap_region(raft.as_ref(), kv.as_ref(), &region).unwrap();
            cluster.engines.push((raft, kv));
            cluster.peers.push(None);
        }
        for store in 1..=stores {
            cluster.start(store);
        }
        cluster
    }

    fn start(&mut self, store: u64) {
        let (raft, kv) = self.engines[(store - 1) as usize].clone();
        let rng = SmallRng::seed_from_u64(self.rng.random());
        let peer = Peer::open_with(store, self.region.clone(), raft, kv, self.config, rng).unwrap();
        self.peers[(store - 1) as usize] = Some(peer);
    }

    /// A crash: the in-memory peer is gone, the engines stay.
    fn stop(&mut self, store: u64) {
        self.peers[(store - 1) as usize] = None;
    }

    fn kv(&self, store: u64) -> &Arc<dyn Engine> {
        &self.engines[(store - 1) as usize].1
    }

    fn peer(&self, store: u64) -> &Peer {
        self.peers[(store - 1) as usize].as_ref().unwrap()
    }

    fn passes(&mut self, from: u64, to: u64) -> bool {
        if let Some(side) = &self.side
            && side.contains(&from) != side.contains(&to)
        {
            return false;
        }
        self.drop_permille == 0 || self.rng.random_range(0..1000) >= self.drop_permille
    }

    /// Every live peer ticks once; then messages flow until quiet.
    fn round(&mut self) {
        for peer in self.peers.iter_mut().flatten() {
            peer.tick();
        }
        for _ in 0..1000 {
            for i in 0..self.peers.len() {
                let Some(peer) = self.peers[i].as_mut() else {
                    continue;
                };
                let from = peer.meta().id;
                for (to, m) in peer.handle_ready().unwrap() {
                    self.queue.push_back((from, to, m));
                }
                for answer in peer.take_answers() {
                    self.answers.insert(answer.id, answer);
                }
            }
            if self.queue.is_empty() {
                return;
            }
            for (from, to, m) in std::mem::take(&mut self.queue) {
                if !self.passes(from, to) {
                    continue;
                }
                if let Some(Some(peer)) = self.peers.get_mut((to - 1) as usize) {
                    let _ = peer.step(from, m);
                }
            }
        }
        panic!("the network never went quiet");
    }

    fn rounds(&mut self, n: usize) {
        for _ in 0..n {
            self.round();
        }
    }

    fn leader(&self) -> Option<u64> {
        // The leader of the highest term (a stale one may linger in a minority).
        self.peers
            .iter()
            .flatten()
            .filter(|p| p.is_leader())
            .max_by_key(|p| p.term())
            .map(|p| p.meta().store_id)
    }

    fn header(&self, store: u64) -> CmdHeader {
        CmdHeader {
            region_id: 1,
            peer: PeerMeta {
                id: store,
                store_id: store,
            },
            region_epoch: self.region.region_epoch,
            term: 0,
        }
    }

    /// Proposes on `store` and runs rounds until it answers (None: no answer
    /// in [`REQUEST_ROUNDS`], e.g. a leader cut off from its majority).
    fn request_on(&mut self, store: u64, request: RaftCmdRequest) -> Option<Answer> {
        let id = self.next_id;
        self.next_id += 1;
        self.peers[(store - 1) as usize]
            .as_mut()?
            .propose(id, &request);
        for _ in 0..REQUEST_ROUNDS {
            self.round();
            if let Some(answer) = self.answers.remove(&id) {
                return Some(answer);
            }
        }
        None
    }

    /// Retries on the leader (following hints) until a command succeeds.
    fn must(&mut self, requests: Vec<Request>) -> Vec<Response> {
        for _ in 0..50 {
            let Some(store) = self.leader() else {
                self.rounds(5);
                continue;
            };
            let request = RaftCmdRequest {
                header: self.header(store),
                requests: requests.clone(),
                admin: None,
            };
            if let Some(Answer {
                result: Ok(responses),
                ..
            }) = self.request_on(store, request)
            {
                return responses;
            }
        }
        panic!("request timeout: {requests:?}");
    }

    fn must_put(&mut self, key: &[u8], value: &[u8]) {
        self.must(vec![Request::Put {
            cf: Cf::Default,
            key: key.to_vec(),
            value: value.to_vec(),
        }]);
    }

    fn must_get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        match &self.must(vec![Request::Get {
            cf: Cf::Default,
            key: key.to_vec(),
        }])[..]
        {
            [Response::Get { value }] => value.clone(),
            other => panic!("not a get response: {other:?}"),
        }
    }

    fn engine_get(&self, store: u64, key: &[u8]) -> Option<Vec<u8>> {
        self.kv(store)
            .snapshot()
            .unwrap()
            .get_cf(Cf::Default, key)
            .unwrap()
    }

    /// The default CF of a store's kv engine.
    fn data(&self, store: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
        let snap = self.kv(store).snapshot().unwrap();
        let mut iter = snap.iter_cf(Cf::Default).unwrap();
        iter.seek(&[]).unwrap();
        let mut out = Vec::new();
        while let Some((k, v)) = iter.item() {
            out.push((k.to_vec(), v.to_vec()));
            iter.next().unwrap();
        }
        out
    }

    fn elect(&mut self) -> u64 {
        for _ in 0..200 {
            self.round();
            if let Some(leader) = self.leader() {
                return leader;
            }
        }
        panic!("no leader");
    }
}

#[test]
fn puts_and_gets_replicate_to_every_store() {
    let mut c = Cluster::new(3, 1);
    c.elect();
    for i in 0..20u8 {
        c.must_put(&[b'k', i], &[b'v', i]);
    }
    for i in 0..20u8 {
        assert_eq!(c.must_get(&[b'k', i]), Some(vec![b'v', i]));
    }
    c.must(vec![Request::Delete {
        cf: Cf::Default,
        key: b"k\x00".to_vec(),
    }]);
    assert_eq!(c.must_get(b"k\x00"), None);
    c.rounds(5);
    for store in 1..=3 {
        assert_eq!(c.data(store).len(), 19, "store {store}");
        assert_eq!(c.engine_get(store, b"k\x05"), Some(b"v\x05".to_vec()));
        let s = c.peer(store).storage();
        assert_eq!(s.applied_index(), s.raft_state().hard_state.commit);
    }
}

/// A kv engine that counts the read views taken of it.
struct CountingViews {
    inner: MemEngine,
    views: std::sync::atomic::AtomicUsize,
}

impl Engine for CountingViews {
    fn write(&self, batch: &WriteBatch, opts: WriteOptions) -> Result<(), tinykv_storage::Error> {
        self.inner.write(batch, opts)
    }

    fn snapshot(&self) -> Result<Box<dyn tinykv_storage::Snapshot>, tinykv_storage::Error> {
        self.views
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.snapshot()
    }
}

/// Answering a put takes no read view of the kv engine: on disk a view
/// costs an engine commit of the applied writes buffered so far (under 64
/// clients, one per command halved the throughput of a real store).
#[test]
fn a_write_is_answered_without_a_read_view() {
    let mut c = Cluster::new(3, 7);
    // The split checker's periodic scan is a view of its own: not here.
    c.config.split_check_ticks = u32::MAX;
    let counting: Vec<Arc<CountingViews>> = (1..=3)
        .map(|store| {
            let engine = Arc::new(CountingViews {
                inner: MemEngine::new(),
                views: Default::default(),
            });
            let region = c.region.clone();
            bootstrap_region(c.engines[store - 1].0.as_ref(), &engine.inner, &region).unwrap();
            engine
        })
        .collect();
    for store in 1..=3u64 {
        c.stop(store);
        c.engines[(store - 1) as usize].1 = counting[(store - 1) as usize].clone();
        c.start(store);
    }
    let leader = c.elect();
    let views = || -> Vec<usize> {
        counting
            .iter()
            .map(|e| e.views.load(std::sync::atomic::Ordering::Relaxed))
            .collect()
    };
    let before = views();
    for i in 0..10u8 {
        c.must_put(&[b'w', i], b"v");
    }
    assert_eq!(views(), before, "views taken while answering puts");
    assert_eq!(c.must_get(b"w\x03"), Some(b"v".to_vec()));
    let after = views();
    assert!(
        after[(leader - 1) as usize] > before[(leader - 1) as usize],
        "a get reads through a view: {before:?} -> {after:?}"
    );
}

#[test]
fn a_follower_answers_not_leader_with_the_leaders_hint() {
    let mut c = Cluster::new(3, 2);
    let leader = c.elect();
    c.rounds(3);
    let follower = if leader == 1 { 2 } else { 1 };
    let request = RaftCmdRequest {
        header: c.header(follower),
        requests: vec![Request::Snap],
        admin: None,
    };
    let answer = c.request_on(follower, request).unwrap();
    assert_eq!(
        answer.result.unwrap_err(),
        Error::NotLeader {
            region_id: 1,
            leader: Some(PeerMeta {
                id: leader,
                store_id: leader
            })
        }
    );
}

#[test]
fn region_errors() {
    let mut c = Cluster::with_region(region_over(3, b"b", b"m"), 3);
    let leader = c.elect();
    let put = |key: &[u8]| Request::Put {
        cf: Cf::Default,
        key: key.to_vec(),
        value: b"v".to_vec(),
    };
    let ask = |c: &mut Cluster, header: CmdHeader, requests| {
        c.request_on(leader, RaftCmdRequest::new(header, requests))
            .unwrap()
            .result
    };
    let mut header = c.header(leader);
    header.region_id = 9;
    assert_eq!(
        ask(&mut c, header, vec![put(b"c")]),
        Err(Error::RegionNotFound { region_id: 9 })
    );
    let mut header = c.header(leader);
    header.region_epoch.version = 2;
    assert!(matches!(
        ask(&mut c, header, vec![put(b"c")]),
        Err(Error::EpochNotMatch { .. })
    ));
    for key in [&b"a"[..], b"m", b"z"] {
        let header = c.header(leader);
        assert!(
            matches!(
                ask(&mut c, header, vec![put(key)]),
                Err(Error::KeyNotInRegion { region_id: 1, .. })
            ),
            "{key:?}"
        );
    }
    let mut header = c.header(leader);
    header.peer.store_id = 7;
    assert_eq!(
        ask(&mut c, header, vec![put(b"c")]),
        Err(Error::StoreNotMatch {
            request: 7,
            actual: leader
        })
    );
    let header = c.header(leader);
    assert_eq!(
        ask(&mut c, header, vec![put(b"c")]),
        Ok(vec![Response::Put])
    );
    // A header term older than current - 1 is stale.
    for _ in 0..3 {
        let l = c.leader().unwrap();
        c.stop(l);
        c.elect();
        c.start(l);
    }
    let leader = c.elect();
    let mut header = c.header(leader);
    header.term = 1;
    assert!(c.peer(leader).term() > 2);
    assert_eq!(
        c.request_on(leader, RaftCmdRequest::new(header, vec![put(b"c")]))
            .unwrap()
            .result,
        Err(Error::StaleCommand)
    );
}

#[test]
fn a_leader_cut_off_answers_stale_command_once_replaced() {
    let mut c = Cluster::new(5, 4);
    let old = c.elect();
    c.must_put(b"a", b"1");
    c.side = Some([old].into());
    // The old leader takes two commands but cannot commit them. The new
    // leader's no-op takes the first one's index and its put the second's:
    // both lose their place, whatever took it.
    let ids = [1000, 1001];
    for id in ids {
        let header = c.header(old);
        c.peers[(old - 1) as usize].as_mut().unwrap().propose(
            id,
            &RaftCmdRequest::new(
                header,
                vec![Request::Put {
                    cf: Cf::Default,
                    key: b"a".to_vec(),
                    value: b"lost".to_vec(),
                }],
            ),
        );
    }
    c.rounds(50);
    assert!(
        ids.iter().all(|id| !c.answers.contains_key(id)),
        "answered without a majority"
    );
    // A read on the minority leader must not be served either.
    let header = c.header(old);
    let read = RaftCmdRequest::new(
        header,
        vec![Request::Get {
            cf: Cf::Default,
            key: b"a".to_vec(),
        }],
    );
    let answer = c.request_on(old, read);
    assert!(
        answer.as_ref().is_none_or(|a| a.result.is_err()),
        "{answer:?}"
    );
    let new = c.leader().unwrap();
    assert_ne!(new, old);
    c.must_put(b"a", b"2");
    c.side = None;
    c.rounds(50);
    for id in ids {
        assert_eq!(
            c.answers.remove(&id).map(|a| a.result),
            Some(Err(Error::StaleCommand)),
            "proposal {id}"
        );
    }
    for store in 1..=5 {
        assert_eq!(
            c.engine_get(store, b"a"),
            Some(b"2".to_vec()),
            "store {store}"
        );
    }
}

#[test]
fn a_crashed_store_restarts_from_its_engines_and_catches_up() {
    let mut c = Cluster::new(3, 5);
    c.elect();
    c.must_put(b"x", b"1");
    c.rounds(3);
    let victim = if c.leader() == Some(3) { 2 } else { 3 };
    c.stop(victim);
    for i in 0..10u8 {
        c.must_put(&[b'y', i], b"2");
    }
    c.start(victim);
    c.rounds(30);
    assert_eq!(c.data(victim), c.data(c.leader().unwrap()));
    // Everybody crashes; nothing acknowledged is lost, nothing is applied twice.
    let applied: Vec<u64> = (1..=3)
        .map(|s| c.peer(s).storage().applied_index())
        .collect();
    for s in 1..=3 {
        c.stop(s);
    }
    for s in 1..=3 {
        c.start(s);
        assert_eq!(
            c.peer(s).storage().applied_index(),
            applied[(s - 1) as usize]
        );
    }
    c.elect();
    assert_eq!(c.must_get(b"x"), Some(b"1".to_vec()));
    assert_eq!(c.must_get(b"y\x09"), Some(b"2".to_vec()));
}

#[test]
fn a_corrupt_entry_at_restart_is_an_error() {
    let mut c = Cluster::new(3, 6);
    c.elect();
    c.must_put(b"x", b"1");
    c.stop(1);
    let (raft, kv) = c.engines[0].clone();
    let last = PeerStorage::new(raft.clone(), kv.clone(), c.region.clone())
        .unwrap()
        .last_index();
    let mut wb = WriteBatch::new();
    wb.put(Cf::Meta, keys::raft_log_key(1, last), b"\xff\xff".to_vec());
    raft.write(&wb, WriteOptions::SYNC).unwrap();
    let err = Peer::open(1, c.region.clone(), raft, kv, SmallRng::seed_from_u64(1))
        .err()
        .unwrap();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
}

/// Many seeds of puts under drops, partitions and crashes: every
/// acknowledged put is on every store in the end, and the stores agree.
#[test]
fn acknowledged_puts_survive_drops_partitions_and_crashes() {
    for seed in 1..=20 {
        let mut c = Cluster::new(5, seed);
        c.drop_permille = 100;
        let mut acked = BTreeMap::new();
        for i in 0..40u32 {
            match c.rng.random_range(0..10) {
                0 => {
                    let side = (1..=5).filter(|_| c.rng.random_bool(0.5)).collect();
                    c.side = Some(side);
                }
                1 => c.side = None,
                2 => {
                    let s = c.rng.random_range(1..=5);
                    c.stop(s);
                    c.rounds(2);
                    c.start(s);
                }
                _ => {}
            }
            let Some(store) = c.leader() else {
                c.rounds(10);
                continue;
            };
            let key = format!("k{i:04}").into_bytes();
            let request = RaftCmdRequest {
                header: c.header(store),
                requests: vec![Request::Put {
                    cf: Cf::Default,
                    key: key.clone(),
                    value: key.clone(),
                }],
                admin: None,
            };
            if let Some(Answer { result: Ok(_), .. }) = c.request_on(store, request) {
                acked.insert(key.clone(), key);
            }
        }
        c.side = None;
        c.drop_permille = 0;
        c.elect();
        c.must_put(b"zz", b"end");
        c.rounds(20);
        let first = c.data(1);
        for store in 2..=5 {
            assert_eq!(c.data(store), first, "seed {seed}: store {store} differs");
        }
        let present: BTreeMap<_, _> = first.into_iter().collect();
        for (k, v) in &acked {
            assert_eq!(
                present.get(k),
                Some(v),
                "seed {seed}: lost an acknowledged put"
            );
        }
        assert!(
            acked.len() >= 10,
            "seed {seed}: only {} puts got through",
            acked.len()
        );
    }
}

/// 2C end to end: with a GC limit of 5 the leader compacts while a store is
/// down; the raft engines lose the compacted entries; the store, restarted,
/// can only catch up through a snapshot — it ends with the leader's data
/// (a key deleted meanwhile gone too) and a truncated index past the one it
/// stopped at, and restarts from that snapshot.
#[test]
fn a_lagging_store_catches_up_by_snapshot_after_compaction() {
    let mut c = Cluster::new(3, 7);
    c.config = PeerConfig::with_gc_limit(5);
    for s in 1..=3 {
        c.stop(s);
        c.start(s);
    }
    let leader = c.elect();
    c.must_put(b"gone", b"soon");
    c.rounds(3);
    let victim = (1..=3).find(|&s| s != leader).unwrap();
    let before = c.peer(victim).storage().truncated_index();
    c.stop(victim);
    for i in 0..30u8 {
        c.must_put(&[b'k', i], &[b'v', i]);
        c.rounds(2);
    }
    c.must(vec![Request::Delete {
        cf: Cf::Default,
        key: b"gone".to_vec(),
    }]);
    c.rounds(5);
    let leader = c.leader().unwrap();
    let truncated = c.peer(leader).storage().truncated_index();
    assert!(
        truncated > before + 10,
        "no compaction: truncated {truncated}"
    );
    let s = c.peer(leader).storage();
    assert!(
        s.applied_index() - s.truncated_index() <= 10,
        "log not kept short: {:?}",
        s.apply_state()
    );
    assert!(
        s.entries(before + 1, before + 2).is_err(),
        "compacted entries still readable"
    );
    c.start(victim);
    c.rounds(30);
    assert_eq!(c.data(victim), c.data(leader));
    assert_eq!(c.engine_get(victim, b"gone"), None);
    let vs = c.peer(victim).storage();
    assert!(
        vs.truncated_index() > before,
        "victim did not install a snapshot: {:?}",
        vs.apply_state()
    );
    c.stop(victim);
    c.start(victim);
    c.rounds(5);
    assert_eq!(c.data(victim), c.data(leader));
    c.must_put(b"after", b"restart");
    c.rounds(5);
    assert_eq!(c.engine_get(victim, b"after"), Some(b"restart".to_vec()));
}

/// A split persists the new region whole: its region state and its apply
/// state in the entry's batch, so a leader of the new region can cut a
/// snapshot before it applies anything of its own (a follower created from
/// a message needs one at once). Without the apply state, cutting one
/// failed as "corrupt" and stopped the store (3B, seed 2 of
/// split_conf_change_snapshot_unreliable_recover_concurrent_partition_p3b).
#[test]
fn a_split_region_can_be_snapshotted_before_it_applies_anything() {
    let mut c = Cluster::new(3, 11);
    let leader = c.elect();
    for k in [b"a", b"n", b"z"] {
        c.must_put(k, k);
    }
    let request = RaftCmdRequest {
        header: c.header(leader),
        requests: Vec::new(),
        admin: Some(AdminRequest::Split {
            split_key: b"m".to_vec(),
            new_region_id: 100,
            new_peer_ids: vec![101, 102, 103],
        }),
    };
    let answer = c
        .request_on(leader, request)
        .expect("the split is answered");
    assert!(answer.result.is_ok(), "split refused: {:?}", answer.result);
    c.rounds(5);
    for s in 1..=3 {
        let kv = c.kv(s).clone();
        let state: RegionLocalState =
            crate::peer_storage::read_record(kv.as_ref(), &keys::region_state_key(100))
                .unwrap()
                .expect("the new region's state is persisted");
        assert_eq!(state.region.start_key, b"m".to_vec());
        let snap = crate::snap::RegionSnapshot::generate(kv.as_ref(), &state.region, Ok)
            .unwrap_or_else(|e| panic!("store {s}: cannot cut a snapshot of the new region: {e}"));
        assert_eq!(snap.index, crate::meta::RAFT_INIT_LOG_INDEX);
        let keys: Vec<&[u8]> = snap.pairs.iter().map(|(_, k, _)| k.as_slice()).collect();
        assert_eq!(keys, vec![b"n".as_slice(), b"z".as_slice()]);
    }
}

mod admin;
