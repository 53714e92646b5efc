//! The cluster under test: network, peers, persisters, crash and restart.

use std::sync::{Arc, Mutex, MutexGuard};

use labrpc::Network;
use raft::Raft;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Cmd;
use super::applier::{self, Applied, Killed, SharedApplied};
use crate::group::{Group, check_time_limit, server_with};

/// A Raft cluster on a simulated network (the reference's `config`).
///
/// Cheap to clone: clones drive the same cluster, so client tasks spawned by
/// a scenario can hold one. Must be created inside a simulation. Dropping the
/// last handle kills every peer and closes the network (the reference's
/// `cleanup`).
#[derive(Clone)]
pub struct Config {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) net: Network,
    /// Peers run the snapshot applier (3D) instead of the plain one.
    snapshot: bool,
    pub(super) group: Group<Raft<Cmd>>,
    /// `appliers[i]`: the switch that tells the task reading peer `i`'s
    /// running instance's apply channel that the instance was killed.
    appliers: Mutex<Vec<Option<Killed>>>,
    pub(super) applied: SharedApplied,
    /// When the config was made; the 120-s limit counts from here.
    created: Instant,
    /// Counters at `begin`, for the summary line.
    begun: Mutex<Begun>,
}

struct Begun {
    t0: Instant,
    rpcs0: u64,
    bytes0: u64,
    max_index0: u64,
}

/// The labrpc server name of peer `i`.
fn server_name(i: usize) -> String {
    format!("raft-{i}")
}

impl Config {
    /// `n` peers, all started and connected, on a network with long delays
    /// (so a leader that waits for each RPC in turn gets stuck) that is
    /// unreliable if asked; `snapshot` selects the snapshot applier (3D).
    pub fn new(n: usize, unreliable: bool, snapshot: bool) -> Config {
        let net = Network::new();
        net.set_reliable(!unreliable);
        net.set_long_delays(true);
        let now = Instant::now();
        let config = Config {
            inner: Arc::new(Inner {
                group: Group::new(&net, (0..n).map(server_name).collect()),
                net,
                snapshot,
                appliers: Mutex::new((0..n).map(|_| None).collect()),
                applied: Arc::new(Mutex::new(Applied::new(n))),
                created: now,
                begun: Mutex::new(Begun {
                    t0: now,
                    rpcs0: 0,
                    bytes0: 0,
                    max_index0: 0,
                }),
            }),
        };
        for i in 0..n {
            config.start1(i);
        }
        for i in 0..n {
            config.connect(i);
        }
        config
    }

    pub(super) fn applied(&self) -> MutexGuard<'_, Applied> {
        applier::lock(&self.inner.applied)
    }

    /// Number of peers.
    pub fn n(&self) -> usize {
        self.inner.group.n()
    }

    /// The network (for statistics and traces).
    pub fn net(&self) -> &Network {
        &self.inner.net
    }

    /// Peer `i`'s running instance, if it is not crashed.
    pub fn raft(&self, i: usize) -> Option<Raft<Cmd>> {
        self.inner.group.get(i)
    }

    /// `Start(cmd)` on peer `i` if it runs: `Some((index, term))` if it leads.
    pub fn start(&self, i: usize, cmd: impl Into<Cmd>) -> Option<(u64, u64)> {
        self.raft(i)?.start(cmd.into())
    }

    /// Whether peer `i` is connected.
    pub fn is_connected(&self, i: usize) -> bool {
        self.inner.group.is_connected(i)
    }

    /// The names of the ends peer `i`'s current instance sends on.
    pub fn end_names(&self, i: usize) -> Vec<String> {
        self.inner.group.end_names(i)
    }

    /// What peer `i` has applied: entry `k` is the command at index `k`.
    pub fn applied_log(&self, i: usize) -> Vec<Option<Cmd>> {
        self.applied().logs[i].clone()
    }

    /// How many snapshots Raft has delivered on the peers' apply channels.
    pub fn snapshots_delivered(&self) -> u64 {
        self.applied().snapshots_delivered
    }

    /// RPCs delivered to peer `i`'s current server (the reference `rpcCount`).
    pub fn rpc_count(&self, i: usize) -> u64 {
        self.inner.net.count(&server_name(i))
    }

    /// Every call made on the network so far.
    pub fn rpc_total(&self) -> u64 {
        self.inner.net.total_count()
    }

    /// Every byte sent on the network so far.
    pub fn bytes_total(&self) -> u64 {
        self.inner.net.total_bytes()
    }

    /// Makes the network unreliable (drops and delays) or reliable.
    pub fn set_unreliable(&self, unreliable: bool) {
        self.inner.net.set_reliable(!unreliable);
    }

    /// Turns long reordering of replies on or off.
    pub fn set_long_reordering(&self, on: bool) {
        self.inner.net.set_long_reordering(on);
    }

    /// Starts a test: prints its description and takes the counters the
    /// summary line reports differences of.
    pub fn begin(&self, description: &str) {
        println!("{description} ...");
        let max_index0 = self.applied().max_index;
        *self.inner.begun.lock().unwrap_or_else(|e| e.into_inner()) = Begun {
            t0: Instant::now(),
            rpcs0: self.rpc_total(),
            bytes0: self.bytes_total(),
            max_index0,
        };
    }

    /// Ends a test: checks the time limit and that no apply error was
    /// recorded, then prints `  ... Passed --  time peers rpcs bytes commits`
    /// (virtual seconds since `begin`; RPCs, bytes and the highest applied
    /// index since `begin`).
    pub fn end(&self) {
        check_time_limit(self.inner.created);
        self.check_apply_errors();
        self.inner.group.check_failures();
        let begun = self.inner.begun.lock().unwrap_or_else(|e| e.into_inner());
        let secs = begun.t0.elapsed().as_secs_f64();
        let rpcs = self.rpc_total() - begun.rpcs0;
        let bytes = self.bytes_total() - begun.bytes0;
        let commits = self.applied().max_index - begun.max_index0;
        println!(
            "  ... Passed --  {secs:4.1}  {} {rpcs:4} {bytes:7} {commits:4}",
            self.n()
        );
    }

    /// Kills peer `i`, keeping what it persisted for a later [`Config::start1`]
    /// (the reference `crash1`; see [`Group::crash`]).
    pub fn crash1(&self, i: usize) {
        self.inner.group.crash(i);
        // The dead instance's applier keeps reading: what it still applies
        // is checked against every peer, and anything past the messages in
        // flight at the kill fails the test, but nothing touches the record
        // of the next instance.
        if let Some(killed) = self.appliers()[i].take() {
            killed.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn appliers(&self) -> MutexGuard<'_, Vec<Option<Killed>>> {
        self.inner
            .appliers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// (Re)starts peer `i` from its persisted state (the reference `start1`):
    /// crash any running instance, give it fresh ends and a copy of its
    /// storage, ingest its snapshot as the service would, make the Raft and
    /// register its server. Does **not** connect it.
    ///
    /// # Panics
    /// If `Raft::make` rejects the persisted state, or the tester cannot
    /// read the persisted snapshot.
    pub fn start1(&self, i: usize) {
        self.crash1(i);
        let killed = Killed::default();
        self.inner.group.start(i, |ends, persister| {
            {
                let mut applied = self.applied();
                applied.last_applied[i] = 0;
                let snapshot = persister.read_snapshot();
                if !snapshot.is_empty()
                    && let Err(e) = applied.ingest_snapshot(i, &snapshot, None)
                {
                    panic!("start1({i}): {e}");
                }
            }
            let (tx, rx) = mpsc::channel(1);
            let rf = match Raft::make(ends, i, persister, tx) {
                Ok(rf) => rf,
                Err(e) => panic!("start1({i}): Raft::make failed: {e}"),
            };
            let applied = self.inner.applied.clone();
            let k = killed.clone();
            if self.inner.snapshot {
                tokio::spawn(applier::with_snapshots(i, rx, applied, rf.clone(), k));
            } else {
                tokio::spawn(applier::plain(i, rx, applied, k));
            }
            let server = server_with([rf.service()]);
            (rf, server)
        });
        self.appliers()[i] = Some(killed);
    }

    /// Attaches peer `i` to the network: enables its ends to, and the ends
    /// from, every connected peer.
    pub fn connect(&self, i: usize) {
        self.inner.group.attach(i);
    }

    /// Detaches peer `i`: disables every end from it and to it.
    pub fn disconnect(&self, i: usize) {
        self.inner.group.detach(i);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.group.kill_all();
        self.net.cleanup();
    }
}
