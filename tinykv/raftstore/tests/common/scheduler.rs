//! The mock scheduler (the reference's `MockSchedulerClient`): the region
//! map as leaders report it, operators handed out one step per heartbeat,
//! and id allocation. Where the reference panics — a heartbeat showing more
//! than one membership change against its view, or peers changed without a
//! `conf_ver` bump — this records a failure; the cluster asserts there is
//! none at shutdown (a panic in a store's task would not fail the test).

use std::collections::BTreeMap;
use std::sync::Mutex;

use tinykv_raftstore::Error;
use tinykv_raftstore::meta::{Peer, Region};
use tinykv_raftstore::scheduler::{Operator, RegionHeartbeat, SchedulerClient};

#[derive(Default)]
struct Inner {
    /// Regions by id, as last accepted.
    regions: BTreeMap<u64, Region>,
    /// The leader each region last reported from.
    leaders: BTreeMap<u64, Peer>,
    /// The pending operator of each region.
    operators: BTreeMap<u64, Operator>,
    next_id: u64,
    /// What the reference would have panicked on.
    failures: Vec<String>,
}

pub struct MockScheduler {
    inner: Mutex<Inner>,
}

fn peers_diff(a: &Region, b: &Region) -> usize {
    a.peers.iter().filter(|p| !b.peers.contains(p)).count()
}

fn overlaps(a: &Region, b: &Region) -> bool {
    (a.end_key.is_empty() || b.start_key < a.end_key)
        && (b.end_key.is_empty() || a.start_key < b.end_key)
}

impl MockScheduler {
    /// Knows `region` (bootstrapped) and allocates ids from `first_id`.
    pub fn new(region: Region, first_id: u64) -> MockScheduler {
        let mut inner = Inner {
            next_id: first_id,
            ..Inner::default()
        };
        inner.regions.insert(region.id, region);
        MockScheduler {
            inner: Mutex::new(inner),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn alloc_id(&self) -> u64 {
        let mut inner = self.lock();
        inner.next_id += 1;
        inner.next_id
    }

    /// The region containing `key`.
    pub fn region_by_key(&self, key: &[u8]) -> Option<Region> {
        self.lock()
            .regions
            .values()
            .find(|r| r.contains(key))
            .cloned()
    }

    pub fn region(&self, id: u64) -> Option<Region> {
        self.lock().regions.get(&id).cloned()
    }

    pub fn regions(&self) -> Vec<Region> {
        self.lock().regions.values().cloned().collect()
    }

    pub fn leader(&self, region_id: u64) -> Option<Peer> {
        self.lock().leaders.get(&region_id).copied()
    }

    pub fn set_operator(&self, region_id: u64, op: Operator) {
        self.lock().operators.insert(region_id, op);
    }

    pub fn failures(&self) -> Vec<String> {
        self.lock().failures.clone()
    }
}

impl SchedulerClient for MockScheduler {
    fn region_heartbeat(&self, hb: RegionHeartbeat) -> Option<Operator> {
        let mut inner = self.lock();
        let region = hb.region;
        let (epoch, id) = (region.region_epoch, region.id);
        // Stale against the same id or any overlapping region: ignored.
        let stale = inner.regions.values().any(|r| {
            (r.id == id || overlaps(r, &region))
                && (region.region_epoch.version < r.region_epoch.version
                    || (r.id == id && epoch.conf_ver < r.region_epoch.conf_ver))
        });
        if stale {
            return None;
        }
        if let Some(known) = inner.regions.get(&id).cloned() {
            let (added, removed) = (peers_diff(&region, &known), peers_diff(&known, &region));
            if epoch.conf_ver > known.region_epoch.conf_ver {
                if added + removed != 1 {
                    inner.failures.push(format!(
                        "region {id}: more than one membership change in one heartbeat: {:?} -> {:?}",
                        known.peers, region.peers
                    ));
                }
            } else if epoch.conf_ver == known.region_epoch.conf_ver && added + removed != 0 {
                inner.failures.push(format!(
                    "region {id}: peers changed without a conf_ver bump: {:?} -> {:?}",
                    known.peers, region.peers
                ));
            }
        }
        // Newer: replaces what it overlaps.
        inner
            .regions
            .retain(|&rid, r| rid == id || !overlaps(r, &region));
        inner.regions.insert(id, region.clone());
        inner.leaders.insert(id, hb.leader);
        let op = *inner.operators.get(&id)?;
        let done = match op {
            Operator::AddPeer(p) => region.peers.contains(&p),
            Operator::RemovePeer(p) => !region.peers.iter().any(|q| q.id == p.id),
            Operator::TransferLeader(p) => hb.leader.id == p.id,
        };
        if done {
            inner.operators.remove(&id);
            return None;
        }
        Some(op)
    }

    fn ask_split(&self, region: &Region) -> Result<(u64, Vec<u64>), Error> {
        let mut inner = self.lock();
        let mut next = || {
            inner.next_id += 1;
            inner.next_id
        };
        let new_id = next();
        let peers = region.peers.iter().map(|_| next()).collect();
        Ok((new_id, peers))
    }
}
