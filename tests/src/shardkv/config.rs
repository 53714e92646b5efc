//! The sharded store under test: controllers, replica groups, persisters,
//! ends by name, shutdown and restart (the reference `shardkv/config.go`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use labrpc::{ClientEnd, Network, rng};
use raft::Persister;
use shardctrler::ShardCtrler;
use shardkv::{Clerk, Gid, MakeEnd, ShardKv};
use tokio::time::Instant;

use crate::group::{Group, check_time_limit, server_with};

/// Replicas of the controller service.
pub const NCTRLERS: usize = 3;
/// Replica groups; group `gi` has gid [`FIRST_GID`]` + gi`.
pub const NGROUPS: usize = 3;
/// The gid of group 0.
pub const FIRST_GID: Gid = 100;

/// A fresh end with a random name, connected to `server` and enabled.
fn fresh_end(net: &Network, server: &str) -> (String, ClientEnd) {
    let name = rng::string(20);
    let end = net.make_end(name.as_str());
    net.connect(&name, server);
    net.enable(&name, true);
    (name, end)
}

/// The tester's `make_end`: each call makes a fresh, randomly named,
/// enabled end to the named server. These ends are never disabled, so a
/// killed replica must stop using them itself.
fn make_end_fn(net: &Network) -> MakeEnd {
    let net = net.clone();
    Arc::new(move |server: &str| fresh_end(&net, server).1)
}

/// A shard-controller service: `n` replicas named `ctlr-<random>`, so that
/// a test can run a second, independent service on the same network.
/// Dropping it kills its replicas.
pub struct Ctrlers {
    net: Network,
    names: Vec<String>,
    servers: Vec<ShardCtrler>,
}

impl Ctrlers {
    /// Starts `n` connected controller replicas on `net`.
    ///
    /// # Panics
    /// If a controller cannot start.
    pub fn start(net: &Network, n: usize) -> Ctrlers {
        let names: Vec<String> = (0..n)
            .map(|_| format!("ctlr-{}", rng::string(20)))
            .collect();
        let servers = (0..n)
            .map(|i| {
                let ends = names.iter().map(|s| fresh_end(net, s).1).collect();
                let ctrler = match ShardCtrler::start(ends, i, Persister::new()) {
                    Ok(c) => c,
                    Err(e) => panic!("controller {i}: ShardCtrler::start failed: {e}"),
                };
                let server = server_with([ctrler.service(), ctrler.raft().service()]);
                net.add_server(names[i].clone(), server);
                ctrler
            })
            .collect();
        Ctrlers {
            net: net.clone(),
            names,
            servers,
        }
    }

    /// The replicas' labrpc server names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Fresh, enabled ends to every replica.
    pub fn ends(&self) -> Vec<ClientEnd> {
        self.names
            .iter()
            .map(|s| fresh_end(&self.net, s).1)
            .collect()
    }

    /// A controller clerk on fresh ends.
    pub fn clerk(&self) -> shardctrler::Clerk {
        shardctrler::Clerk::new(self.ends())
    }
}

impl Drop for Ctrlers {
    fn drop(&mut self) {
        for c in &self.servers {
            c.kill();
        }
    }
}

/// One replica group: the shared [`Group`] machinery plus each replica's
/// ends to the controllers.
struct ReplicaGroup {
    gid: Gid,
    replicas: Group<ShardKv>,
    /// `mendnames[i]`: the ends replica `i` uses to reach the controllers.
    mendnames: Mutex<Vec<Vec<String>>>,
}

/// The labrpc server name of replica `i` of group `gid`.
pub fn server_name(gid: Gid, i: usize) -> String {
    format!("server-{gid}-{i}")
}

/// A sharded store on a simulated network: a controller service of
/// [`NCTRLERS`] replicas and [`NGROUPS`] groups of `n` replicas, all started
/// but no group joined (the reference's `make_config`).
///
/// Cheap to clone: clones drive the same system, so client tasks can hold
/// one. Dropping the last handle shuts every group and controller down and
/// closes the network (the reference's `cleanup`).
#[derive(Clone)]
pub struct Config {
    inner: Arc<Inner>,
}

struct Inner {
    net: Network,
    /// Replicas per group.
    n: usize,
    max_raft_state: Option<usize>,
    ctrlers: Ctrlers,
    /// The tester's own controller clerk (the reference's `mck`); a tokio
    /// mutex because it is held across the clerk's awaits.
    mck: tokio::sync::Mutex<shardctrler::Clerk>,
    groups: Vec<ReplicaGroup>,
    /// When the config was made; the 120-s limit counts from here.
    created: Instant,
}

impl Config {
    /// Starts the controllers and [`NGROUPS`] groups of `n` replicas with
    /// `max_raft_state` (`None`: never snapshot), then makes the network
    /// unreliable if asked.
    pub fn new(n: usize, unreliable: bool, max_raft_state: Option<usize>) -> Config {
        let net = Network::new();
        let ctrlers = Ctrlers::start(&net, NCTRLERS);
        let mck = tokio::sync::Mutex::new(ctrlers.clerk());
        let groups = (0..NGROUPS)
            .map(|gi| {
                let gid = FIRST_GID + gi as Gid;
                ReplicaGroup {
                    gid,
                    replicas: Group::new(&net, (0..n).map(|i| server_name(gid, i)).collect()),
                    mendnames: Mutex::new(vec![Vec::new(); n]),
                }
            })
            .collect();
        let cfg = Config {
            inner: Arc::new(Inner {
                net,
                n,
                max_raft_state,
                ctrlers,
                mck,
                groups,
                created: Instant::now(),
            }),
        };
        cfg.start_all();
        cfg.inner.net.set_reliable(!unreliable);
        cfg
    }

    fn start_all(&self) {
        for gi in 0..NGROUPS {
            self.start_group(gi);
        }
    }

    /// Replicas per group.
    pub fn n(&self) -> usize {
        self.inner.n
    }

    /// The network.
    pub fn net(&self) -> &Network {
        &self.inner.net
    }

    /// Makes the network unreliable or reliable again.
    pub fn set_unreliable(&self, unreliable: bool) {
        self.inner.net.set_reliable(!unreliable);
    }

    /// The gid of group `gi`.
    pub fn gid(&self, gi: usize) -> Gid {
        self.inner.groups[gi].gid
    }

    /// A clerk of the store with fresh ends to the controllers and the
    /// tester's `make_end` (the reference's `makeClient`).
    pub fn make_client(&self) -> Clerk {
        self.make_client_with(&self.inner.ctrlers)
    }

    /// A clerk that asks `ctrlers` (say, a second controller service) for
    /// configurations.
    pub fn make_client_with(&self, ctrlers: &Ctrlers) -> Clerk {
        Clerk::new(ctrlers.ends(), make_end_fn(&self.inner.net))
    }

    /// Starts a second, independent controller service on the network.
    pub fn start_ctrlers(&self) -> Ctrlers {
        Ctrlers::start(&self.inner.net, NCTRLERS)
    }

    /// (Re)starts replica `i` of group `gi` from its persisted state (the
    /// reference's `StartServer`): fresh ends to its group and to the
    /// controllers, a copy of its storage, and a labrpc server carrying
    /// both the `ShardKV` and the `Raft` service.
    ///
    /// # Panics
    /// If the replica rejects its persisted state.
    pub fn start_server(&self, gi: usize, i: usize) {
        tracing::info!("tester: start server {gi}-{i}");
        let net = &self.inner.net;
        let g = &self.inner.groups[gi];
        g.replicas.start(i, |ends, persister| {
            let (mnames, mends): (Vec<String>, Vec<ClientEnd>) = self
                .inner
                .ctrlers
                .names()
                .iter()
                .map(|s| fresh_end(net, s))
                .unzip();
            let old = std::mem::replace(&mut lock(&g.mendnames)[i], mnames);
            for name in old {
                net.delete_end(&name);
            }
            let kv = match ShardKv::start(
                ends,
                i,
                persister,
                self.inner.max_raft_state,
                g.gid,
                mends,
                make_end_fn(net),
            ) {
                Ok(kv) => kv,
                Err(e) => panic!("start_server({gi}, {i}): ShardKv::start failed: {e}"),
            };
            let server = server_with([kv.service(), kv.raft().service()]);
            (kv, server)
        });
        // The reference enables a new replica's ends at once.
        g.replicas.attach(i);
    }

    /// Shuts replica `i` of group `gi` down, keeping what it persisted (the
    /// reference's `ShutdownServer`): disable its ends to the controllers,
    /// then [`Group::crash`] (detach it from its group, delete its server
    /// before the persister is replaced, so it can never acknowledge an op
    /// it persisted only in the superseded persister, move its storage to a
    /// copy, kill it). Ends it made with `make_end` stay enabled: the killed
    /// instance must stop using them itself.
    pub fn shutdown_server(&self, gi: usize, i: usize) {
        tracing::info!("tester: shutdown server {gi}-{i}");
        let g = &self.inner.groups[gi];
        for name in lock(&g.mendnames)[i].iter() {
            self.inner.net.enable(name, false);
        }
        g.replicas.crash(i);
    }

    /// Shuts every replica of group `gi` down.
    pub fn shutdown_group(&self, gi: usize) {
        for i in 0..self.inner.n {
            self.shutdown_server(gi, i);
        }
    }

    /// Starts every replica of group `gi`.
    pub fn start_group(&self, gi: usize) {
        for i in 0..self.inner.n {
            self.start_server(gi, i);
        }
    }

    /// Tells the controller that group `gi` joins.
    pub async fn join(&self, gi: usize) {
        self.joinm(&[gi]).await;
    }

    /// Tells the controller that the groups `gis` join, in one Join.
    pub async fn joinm(&self, gis: &[usize]) {
        let servers = self.group_servers(gis);
        tracing::info!(gids = ?servers.keys().collect::<Vec<_>>(), "tester: join");
        if let Err(e) = self.inner.mck.lock().await.join(servers).await {
            panic!("tester: the controller refused Join of {gis:?}: {e}");
        }
        tracing::info!("tester: join done");
    }

    /// What a Join of groups `gis` passes: gid → server names.
    pub fn group_servers(&self, gis: &[usize]) -> BTreeMap<Gid, Vec<String>> {
        gis.iter()
            .map(|&gi| {
                let gid = self.gid(gi);
                let names = (0..self.inner.n).map(|i| server_name(gid, i)).collect();
                (gid, names)
            })
            .collect()
    }

    /// Tells the controller that group `gi` leaves.
    pub async fn leave(&self, gi: usize) {
        self.leavem(&[gi]).await;
    }

    /// Tells the controller that the groups `gis` leave, in one Leave.
    pub async fn leavem(&self, gis: &[usize]) {
        let gids: Vec<Gid> = gis.iter().map(|&gi| self.gid(gi)).collect();
        tracing::info!(?gids, "tester: leave");
        if let Err(e) = self.inner.mck.lock().await.leave(gids.clone()).await {
            panic!("tester: the controller refused Leave of {gids:?}: {e}");
        }
        tracing::info!("tester: leave done");
    }

    /// Configuration `num` (-1: the latest) from the controller.
    pub async fn query(&self, num: i64) -> shardctrler::Config {
        self.inner.mck.lock().await.query(num).await
    }

    /// The reference `checklogs`: with a `max_raft_state`, no replica's
    /// persisted Raft state exceeds 8 times it; without one, no replica
    /// has persisted a snapshot.
    pub fn checklogs(&self) {
        for g in &self.inner.groups {
            for (i, saved) in g.replicas.persisters().iter().enumerate() {
                let raft = saved.raft_state_size();
                let snap = saved.snapshot_size();
                match self.inner.max_raft_state {
                    Some(max) => assert!(
                        raft <= 8 * max,
                        "server-{}-{i}: persister.raft_state_size() {raft}, but max_raft_state {max}",
                        g.gid
                    ),
                    None => assert!(
                        snap == 0,
                        "server-{}-{i}: max_raft_state is None, but the snapshot is non-empty \
                         ({snap} bytes)",
                        g.gid
                    ),
                }
            }
        }
    }

    /// Bytes persisted by every replica of every group: Raft state plus
    /// snapshot (what challenge 1 bounds).
    pub fn persisted_bytes(&self) -> usize {
        self.inner
            .groups
            .iter()
            .flat_map(|g| g.replicas.persisters())
            .map(|p| p.raft_state_size() + p.snapshot_size())
            .sum()
    }

    /// Starts a test: prints its reference title line.
    pub fn begin(&self, title: &str) {
        println!("{title}");
    }

    /// Ends a test: checks the reference's 120-s limit and prints
    /// `  ... Passed`.
    pub fn end(&self) {
        check_time_limit(self.inner.created);
        for g in &self.inner.groups {
            g.replicas.check_failures();
        }
        println!("  ... Passed");
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for g in &self.groups {
            g.replicas.kill_all();
        }
        // The controllers die when `ctrlers` drops.
        self.net.cleanup();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking task already fails the test; keep the harness usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}
