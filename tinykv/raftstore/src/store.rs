//! The thin async layer: a store hosting one peer per region it
//! replicates, driven by a ticker and by the `Raftstore` labrpc service,
//! which carries raft messages between stores and client commands into
//! the peers. Everything protocol-shaped is in [`Peer`]; this file moves
//! bytes and time, routes by region id, and (3B) creates and destroys
//! peers: lazily from a message for an added peer, for a split, and when a
//! peer was removed or superseded.
//!
//! Every raft request is one RPC whose reply is stepped back into the
//! sender's core (a lost one as `Unreachable`), as in the 6.5840 driver.
//! A killed store declines every call and its tasks end; a restart is a new
//! [`Store`] over the same engines, which opens every live region it finds.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use std::time::Duration;

use labrpc::{Service, Shutdown};
use raft::{
    AppendEntriesArgs, AppendEntriesReply, InstallSnapshotArgs, InstallSnapshotReply, Message,
    RequestVoteArgs, RequestVoteReply, TimeoutNowArgs, TransferLeaderArgs,
};
use serde::{Deserialize, Serialize};
use tinykv_storage::{Cf, Engine};
use tokio::sync::oneshot;

use crate::cmd::{AdminRequest, ChangeType, CmdHeader, RaftCmdRequest, Request, Response};
use crate::meta::{Peer as PeerMeta, PeerState, Region, RegionEpoch, RegionLocalState};
use crate::peer_storage::read_record;
use crate::scheduler::{Operator, RegionHeartbeat, SchedulerClient, StoreStats};
use crate::{Answer, Error, Peer, PeerConfig, keys};

/// The raftstore's base tick (the reference's test configuration: 50 ms;
/// with 2 heartbeat and 10 election ticks, elections take 0.5–1 s).
pub const RAFT_BASE_TICK: Duration = Duration::from_millis(50);
/// How long a command handler waits for its entry to apply before it
/// declines (the client sees the call lost and retries): the reference's
/// one second per call.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// A raft message between two peers of one region, with what the
/// receiving store needs to route it, create the receiver, or drop the
/// message as stale (the reference's `RaftMessage`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// The region.
    pub region_id: u64,
    /// The sending peer.
    pub from: PeerMeta,
    /// The receiving peer.
    pub to: PeerMeta,
    /// The sender's region epoch.
    pub region_epoch: RegionEpoch,
    /// The sender's region range start.
    pub start_key: Vec<u8>,
    /// The sender's region range end.
    pub end_key: Vec<u8>,
    /// The raft request.
    pub message: T,
}

labrpc::rpc!(
    /// A candidate's vote request.
    pub Vote = "Raftstore.Vote": Envelope<RequestVoteArgs> => RequestVoteReply
);
labrpc::rpc!(
    /// A leader's AppendEntries (or heartbeat).
    pub Append = "Raftstore.Append": Envelope<AppendEntriesArgs> => AppendEntriesReply
);
labrpc::rpc!(
    /// A leader's snapshot.
    pub InstallSnapshot = "Raftstore.InstallSnapshot": Envelope<InstallSnapshotArgs> => InstallSnapshotReply
);
labrpc::rpc!(
    /// A leader hands over.
    pub TimeoutNow = "Raftstore.TimeoutNow": Envelope<TimeoutNowArgs> => ()
);
labrpc::rpc!(
    /// A follower forwards a transfer request.
    pub TransferLeader = "Raftstore.TransferLeader": Envelope<TransferLeaderArgs> => ()
);
labrpc::rpc!(
    /// (3B) "You were removed": sent back to a peer whose message shows an
    /// older epoch and which the receiver's region no longer lists; it
    /// destroys itself.
    pub Gc = "Raftstore.Gc": Envelope<()> => ()
);
labrpc::rpc!(
    /// A client's command; the reply is its responses or a region error.
    pub Command = "Raftstore.Command": RaftCmdRequest => Result<Vec<Response>, Error>
);

/// A scan of `[start, end)` (empty end: to the region's end) in `cf`, read
/// from the view a `Snap` command takes when it applies, and confined to
/// the region — the reference's `Scan` helper, run next to the engine
/// because a read view cannot cross the network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanArgs {
    /// Where the Snap command goes.
    pub header: CmdHeader,
    /// The CF.
    pub cf: Cf,
    /// First key.
    pub start: Vec<u8>,
    /// First key not wanted; empty for no bound.
    pub end: Vec<u8>,
}

labrpc::rpc!(
    /// A consistent scan through a Snap command.
    pub Scan = "Raftstore.Scan": ScanArgs => Result<Pairs, Error>
);

/// What to do with a command's answer, run as soon as the peer gives it:
/// a Snap's read view is used and dropped at once, before the next write
/// (the in-memory engine copies a CF on the first write under a live view).
type Waiter = Box<dyn FnOnce(Answer) + Send>;

/// What waits for the peers' lock (see `Node::queued`).
enum Queued {
    /// A client's command.
    Propose(RaftCmdRequest, Waiter),
    /// Another store's answer to a raft request of peer `from` (or
    /// `Unreachable`), from peer `to`.
    Step {
        region_id: u64,
        from: u64,
        to: u64,
        answer: Message,
    },
}

/// Key/value pairs, in key order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

mod router;
mod transport;

pub use transport::{CallFuture, Transport};

/// The peers of one store and what it remembers of destroyed ones.
#[derive(Default)]
struct Peers {
    /// Live peers by region id (initialised or awaiting a snapshot).
    by_region: BTreeMap<u64, Peer>,
    /// Destroyed regions as they were last known here: a message must
    /// carry a newer epoch to recreate the peer, and a stale sender they
    /// no longer list is told to destroy itself.
    tombstones: BTreeMap<u64, Region>,
    /// Base ticks since the last round of region heartbeats.
    heartbeat_elapsed: u32,
}

struct Node {
    store_id: u64,
    peers: Mutex<Peers>,
    /// Ends to the other stores, by store id.
    ends: BTreeMap<u64, Arc<dyn Transport>>,
    raft_engine: Arc<dyn Engine>,
    kv_engine: Arc<dyn Engine>,
    config: PeerConfig,
    scheduler: Option<Arc<dyn SchedulerClient>>,
    waiters: Arc<Mutex<BTreeMap<u64, Waiter>>>,
    /// Commands and peers' replies waiting for the peers' lock; whoever
    /// takes it next proposes or steps all of them and then runs each
    /// touched region's Ready once, so what queues while a Ready is being
    /// persisted shares the next one (one raft-engine write, one fsync).
    queued: Mutex<Vec<Queued>>,
    /// Someone is carrying out the queue: a caller that finds it so leaves
    /// its item to them instead of waiting for the lock.
    draining: AtomicBool,
    next_id: AtomicU64,
    shutdown: Shutdown,
}

/// A running store and its peers. Cloning gives another handle.
#[derive(Clone)]
pub struct Store {
    node: Arc<Node>,
}

/// Where a message from a peer came from, as its envelope says.
struct Origin {
    region_id: u64,
    from: PeerMeta,
    to: PeerMeta,
    region_epoch: RegionEpoch,
    start_key: Vec<u8>,
    end_key: Vec<u8>,
}

impl<T> Envelope<T> {
    /// The message and the rest of the envelope.
    fn detach(self) -> (T, Envelope<()>) {
        let header = Envelope {
            region_id: self.region_id,
            from: self.from,
            to: self.to,
            region_epoch: self.region_epoch,
            start_key: self.start_key,
            end_key: self.end_key,
            message: (),
        };
        (self.message, header)
    }

    fn split(self) -> (Origin, T) {
        let origin = Origin {
            region_id: self.region_id,
            from: self.from,
            to: self.to,
            region_epoch: self.region_epoch,
            start_key: self.start_key,
            end_key: self.end_key,
        };
        (origin, self.message)
    }
}

impl Envelope<()> {
    /// This envelope around `message`.
    fn with<M>(&self, message: M) -> Envelope<M> {
        Envelope {
            region_id: self.region_id,
            from: self.from,
            to: self.to,
            region_epoch: self.region_epoch,
            start_key: self.start_key.clone(),
            end_key: self.end_key.clone(),
            message,
        }
    }
}

impl Store {
    /// Starts store `store_id` over its engines: a peer for every live
    /// region the kv engine holds (bootstrapped, split or received), with
    /// `ends` to the other stores (by store id; labrpc ends in the
    /// simulation, TCP connections in `tinykv-server`), the configuration, and
    /// the scheduler to report to (none: no heartbeats, no splits); spawns
    /// its ticker.
    ///
    /// # Errors
    /// As [`Peer::open`], for any region.
    pub fn start(
        store_id: u64,
        raft_engine: Arc<dyn Engine>,
        kv_engine: Arc<dyn Engine>,
        ends: BTreeMap<u64, Arc<dyn Transport>>,
        config: PeerConfig,
        scheduler: Option<Arc<dyn SchedulerClient>>,
    ) -> Result<Store, Error> {
        let node = Arc::new(Node {
            store_id,
            peers: Mutex::default(),
            ends,
            raft_engine,
            kv_engine,
            config,
            scheduler,
            waiters: Arc::default(),
            queued: Mutex::default(),
            draining: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            shutdown: Shutdown::new(),
        });
        let mut regions = Vec::new();
        {
            let view = node.kv_engine.snapshot()?;
            let mut iter = view.iter_cf(Cf::Meta)?;
            iter.seek(&keys::region_state_min_key())?;
            while let Some((key, _)) = iter.item() {
                if key.first() != Some(&keys::LOCAL_PREFIX) || key.get(1) != Some(&0x03) {
                    break;
                }
                if let Some(id) = keys::region_state_id(key) {
                    regions.push(id);
                }
                iter.next()?;
            }
        }
        {
            let mut peers = node.peers.lock().unwrap_or_else(|e| e.into_inner());
            for region_id in regions {
                let key = keys::region_state_key(region_id);
                let Some(state): Option<RegionLocalState> =
                    read_record(node.kv_engine.as_ref(), &key)?
                else {
                    continue;
                };
                if state.state == PeerState::Tombstone {
                    peers.tombstones.insert(region_id, state.region);
                    continue;
                }
                let peer = node.open_peer(state.region)?;
                peers.by_region.insert(region_id, peer);
            }
        }
        tokio::spawn(ticker(node.clone()));
        Ok(Store { node })
    }

    /// Stops the store: it answers nothing more and its tasks end.
    pub fn kill(&self) {
        self.node.shutdown.trigger();
        self.node.queue().clear();
        self.node
            .waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Region `region_id`'s peer here: (term, whether it believes it
    /// leads); `None` without one.
    pub fn state(&self, region_id: u64) -> Option<(u64, bool)> {
        let peers = self.node.peers.lock().unwrap_or_else(|e| e.into_inner());
        let peer = peers.by_region.get(&region_id)?;
        Some((peer.term(), peer.is_leader()))
    }

    /// Region `region_id`'s peer here: its applied and truncated index
    /// (GenericTest's log-size check).
    pub fn applied_and_truncated(&self, region_id: u64) -> Option<(u64, u64)> {
        let peers = self.node.peers.lock().unwrap_or_else(|e| e.into_inner());
        let peer = peers.by_region.get(&region_id)?;
        Some((
            peer.storage().applied_index(),
            peer.storage().truncated_index(),
        ))
    }

    /// The regions this store's initialised peers hold, by id.
    pub fn regions(&self) -> Vec<Region> {
        let peers = self.node.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers
            .by_region
            .values()
            .filter(|p| p.storage().is_initialised())
            .map(|p| p.region().clone())
            .collect()
    }

    /// Proposes `request` (a client's command) to its region's peer here;
    /// `on_answer` runs once with the answer: the responses (with the read
    /// view of a `Snap`), or a region error (at once for a region this
    /// store lacks, a peer that does not lead, a stale epoch). False (and
    /// `on_answer` dropped unrun) when the store is down. A command that
    /// lost its place may never be answered: callers time out.
    pub fn propose(
        &self,
        request: RaftCmdRequest,
        on_answer: impl FnOnce(Answer) + Send + 'static,
    ) -> bool {
        self.node.propose(request, Box::new(on_answer)).is_some()
    }

    /// Region `region_id`'s peer here, if any.
    pub fn peer_of(&self, region_id: u64) -> Option<PeerMeta> {
        let peers = self.node.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers.by_region.get(&region_id).map(Peer::meta)
    }

    /// The `Raftstore` service to add to this store's server.
    pub fn service(&self) -> Service {
        let n: [Arc<Node>; 8] = std::array::from_fn(|_| self.node.clone());
        let [n1, n2, n3, n4, n5, n6, n7, n8] = n;
        Service::new("Raftstore")
            .handle_or_decline::<Vote, _, _>(move |e| {
                let (origin, m) = e.split();
                let reply = n1.on_request(origin, Message::RequestVote(m));
                async move {
                    match reply? {
                        Message::RequestVoteReply(_, r) => Some(r),
                        _ => None,
                    }
                }
            })
            .handle_or_decline::<Append, _, _>(move |e| {
                let (origin, m) = e.split();
                let reply = n2.on_request(origin, Message::AppendEntries(m));
                async move {
                    match reply? {
                        Message::AppendEntriesReply(_, r) => Some(r),
                        _ => None,
                    }
                }
            })
            .handle_or_decline::<InstallSnapshot, _, _>(move |e| {
                let (origin, m) = e.split();
                let reply = n3.on_request(origin, Message::InstallSnapshot(m));
                async move {
                    match reply? {
                        Message::InstallSnapshotReply(_, r) => Some(r),
                        _ => None,
                    }
                }
            })
            .handle_or_decline::<TimeoutNow, _, _>(move |e| {
                let (origin, m) = e.split();
                let alive = n4.on_notice(origin, Message::TimeoutNow(m));
                async move { alive.then_some(()) }
            })
            .handle_or_decline::<TransferLeader, _, _>(move |e| {
                let (origin, m) = e.split();
                let alive = n5.on_notice(origin, Message::TransferLeader(m));
                async move { alive.then_some(()) }
            })
            .handle_or_decline::<Gc, _, _>(move |e| {
                let alive = n8.on_gc(&e);
                async move { alive.then_some(()) }
            })
            .handle_or_decline::<Command, _, _>(move |request| {
                let (tx, rx) = oneshot::channel();
                let proposed = n6.propose(
                    request,
                    Box::new(move |answer: Answer| {
                        let _ = tx.send(answer.result);
                    }),
                );
                async move {
                    proposed?;
                    tokio::time::timeout(COMMAND_TIMEOUT, rx).await.ok()?.ok()
                }
            })
            .handle_or_decline::<Scan, _, _>(move |args| {
                let request = RaftCmdRequest::new(args.header.clone(), vec![Request::Snap]);
                let (tx, rx) = oneshot::channel();
                let proposed = n7.propose(
                    request,
                    Box::new(move |answer: Answer| {
                        let _ = tx.send(scan(answer, &args));
                    }),
                );
                async move {
                    proposed?;
                    tokio::time::timeout(COMMAND_TIMEOUT, rx).await.ok()?.ok()
                }
            })
    }
}

impl Node {
    fn lock(&self) -> Option<MutexGuard<'_, Peers>> {
        if self.shutdown.is_triggered() {
            return None;
        }
        Some(self.peers.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A peer whose answers go to this store's waiters.
    fn with_sink(&self, mut peer: Peer) -> Peer {
        let waiters = self.waiters.clone();
        peer.set_answer_sink(Box::new(move |answer: Answer| {
            let waiter = waiters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&answer.id);
            if let Some(on_answer) = waiter {
                on_answer(answer);
            }
        }));
        peer
    }

    /// Opens the peer of an initialised `region` from the engines.
    fn open_peer(&self, region: Region) -> Result<Peer, Error> {
        let peer = Peer::open_with(
            self.store_id,
            region,
            self.raft_engine.clone(),
            self.kv_engine.clone(),
            self.config,
            labrpc::rng::fork(),
        )?;
        Ok(self.with_sink(peer))
    }

    /// Steps a request from another store's peer; returns its peer's reply.
    fn on_request(self: &Arc<Self>, origin: Origin, message: Message) -> Option<Message> {
        let mut peers = self.lock()?;
        // The sender's staleness first (the reference's checkMessage): a
        // removed peer must be told to go whichever peer id it addresses.
        if self.sender_removed(&peers, &origin) || !self.route(&mut peers, &origin, &message) {
            return None;
        }
        if let Message::InstallSnapshot(args) = &message
            && Node::snapshot_overlaps(&peers, origin.region_id, args)
        {
            return None;
        }
        let peer = peers.by_region.get_mut(&origin.region_id)?;
        if !peer.step(origin.from.id, message) {
            // Refused (a bad snapshot): no reply, the sender tries again.
            self.process(&mut peers, origin.region_id, None);
            return None;
        }
        let reply = self.process(&mut peers, origin.region_id, Some(origin.from.id));
        // A peer destroyed by this very message (it applied its own
        // removal) does not answer: its acknowledgement would reach the
        // leader as that of the peer id's next incarnation, should the same
        // id be added back, and keep the leader from catching that one up.
        let alive = peers
            .by_region
            .get(&origin.region_id)
            .is_some_and(|p| p.meta() == origin.to);
        reply.filter(|_| alive)
    }

    /// Steps a message that needs no reply; false once killed.
    fn on_notice(self: &Arc<Self>, origin: Origin, message: Message) -> bool {
        let Some(mut peers) = self.lock() else {
            return false;
        };
        if self.sender_removed(&peers, &origin) {
            return true;
        }
        if let Some(peer) = peers.by_region.get_mut(&origin.region_id)
            && peer.meta().id == origin.to.id
        {
            let _ = peer.step(origin.from.id, message);
            self.process(&mut peers, origin.region_id, None);
        }
        true
    }

    /// Proposes `request` to its region's peer; `on_answer` runs when the
    /// peer answers it (at once for a region this store lacks). `None` if
    /// the store is down.
    fn propose(self: &Arc<Self>, request: RaftCmdRequest, on_answer: Waiter) -> Option<()> {
        self.enqueue(Queued::Propose(request, on_answer))
    }

    /// Queues `item` and makes sure it is carried out: if another caller is
    /// already carrying out the queue, it will take this item too and this
    /// caller returns at once; else this caller takes the peers' lock and
    /// carries out everything queued, each touched region's Ready run once
    /// for all of it, until the queue stays empty. Under load, the commands
    /// and replies that arrive while a Ready is persisted go into the next
    /// Ready together, and no thread but one waits for the lock. In the
    /// simulation (one thread) the queue never holds more than the one
    /// item: the same steps, in the same order, as without a queue. `None`
    /// if the store is down.
    fn enqueue(self: &Arc<Self>, item: Queued) -> Option<()> {
        if self.shutdown.is_triggered() {
            return None;
        }
        self.queue().push(item);
        loop {
            if self
                .draining
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return Some(());
            }
            let drained = self.drain();
            self.draining.store(false, Ordering::Release);
            drained?;
            // An item queued after the last look, by a caller that saw the
            // queue being carried out, is ours to carry out.
            if self.queue().is_empty() {
                return Some(());
            }
        }
    }

    /// Carries out the queue until it is empty (see [`Node::enqueue`]).
    fn drain(self: &Arc<Self>) -> Option<()> {
        let mut peers = self.lock()?;
        loop {
            let queued = std::mem::take(&mut *self.queue());
            if queued.is_empty() {
                return Some(());
            }
            self.carry_out(&mut peers, queued);
        }
    }

    /// Proposes or steps `queued`, runs each touched region's Ready once,
    /// and answers the commands refused without a proposal.
    fn carry_out(self: &Arc<Self>, peers: &mut MutexGuard<'_, Peers>, queued: Vec<Queued>) {
        let mut answered = Vec::new();
        let mut touched: Vec<u64> = Vec::new();
        for item in queued {
            match item {
                Queued::Propose(request, on_answer) => {
                    if let Some(answer) = self.propose_one(peers, &request, on_answer, &mut touched)
                    {
                        answered.push(answer);
                    }
                }
                Queued::Step {
                    region_id,
                    from,
                    to,
                    answer,
                } => {
                    if let Some(peer) = peers.by_region.get_mut(&region_id)
                        && peer.meta().id == from
                    {
                        let _ = peer.step(to, answer);
                        if !touched.contains(&region_id) {
                            touched.push(region_id);
                        }
                    }
                }
            }
        }
        for region_id in touched {
            self.process(peers, region_id, None);
        }
        for (on_answer, answer) in answered {
            on_answer(answer);
        }
    }

    fn queue(&self) -> MutexGuard<'_, Vec<Queued>> {
        self.queued.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Proposes one command to its peer (its region joins `touched`); a
    /// refusal that needs no proposal is returned, to be answered once the
    /// lock is released.
    fn propose_one(
        &self,
        peers: &mut Peers,
        request: &RaftCmdRequest,
        on_answer: Waiter,
        touched: &mut Vec<u64>,
    ) -> Option<(Waiter, Answer)> {
        let region_id = request.header.region_id;
        let refusal = match &request.admin {
            Some(AdminRequest::ChangePeer {
                change_type: ChangeType::AddNode,
                peer,
            }) if peer.store_id != self.store_id && !self.ends.contains_key(&peer.store_id) => {
                Some(Error::StoreNotFound {
                    store_id: peer.store_id,
                })
            }
            // A new region id this store knows: its state would be overwritten.
            Some(AdminRequest::Split { new_region_id, .. })
                if peers.by_region.contains_key(new_region_id)
                    || peers.tombstones.contains_key(new_region_id) =>
            {
                Some(Error::InvalidAdmin {
                    reason: format!("region {new_region_id} exists"),
                })
            }
            _ => None,
        };
        let Some(peer) = peers.by_region.get_mut(&region_id) else {
            let answer = Answer {
                id: 0,
                result: Err(Error::RegionNotFound { region_id }),
                snapshot: None,
                term: 0,
            };
            return Some((on_answer, answer));
        };
        if let Some(error) = refusal {
            let answer = Answer {
                id: 0,
                result: Err(error),
                snapshot: None,
                term: peer.term(),
            };
            return Some((on_answer, answer));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, on_answer);
        peer.propose(id, request);
        if !touched.contains(&region_id) {
            touched.push(region_id);
        }
        None
    }

    /// Proposes an admin command nobody waits for on `region_id`'s peer.
    fn propose_admin(self: &Arc<Self>, peers: &mut Peers, region_id: u64, admin: AdminRequest) {
        let Some(peer) = peers.by_region.get_mut(&region_id) else {
            return;
        };
        let header = CmdHeader {
            region_id,
            peer: peer.meta(),
            region_epoch: peer.region().region_epoch,
            term: 0,
        };
        peer.propose(0, &RaftCmdRequest::admin(header, admin));
    }

    /// Reports `region_id` to the scheduler if its peer here leads, and
    /// proposes the step the scheduler answers with.
    fn heartbeat(self: &Arc<Self>, peers: &mut Peers, region_id: u64) {
        let Some(scheduler) = &self.scheduler else {
            return;
        };
        let Some(peer) = peers.by_region.get(&region_id) else {
            return;
        };
        if !peer.is_leader() || !peer.storage().is_initialised() {
            return;
        }
        let heartbeat = RegionHeartbeat {
            region: peer.region().clone(),
            leader: peer.meta(),
            term: peer.term(),
            approximate_size: peer.approximate_size(),
        };
        let admin = match scheduler.region_heartbeat(heartbeat) {
            None => return,
            Some(Operator::AddPeer(p)) => AdminRequest::ChangePeer {
                change_type: ChangeType::AddNode,
                peer: p,
            },
            Some(Operator::RemovePeer(p)) => AdminRequest::ChangePeer {
                change_type: ChangeType::RemoveNode,
                peer: p,
            },
            Some(Operator::TransferLeader(p)) => AdminRequest::TransferLeader { peer: p },
        };
        self.propose_admin(peers, region_id, admin);
    }

    /// Runs region `region_id`'s ready loop, answers waiting commands
    /// (through the peer's sink), sends the requests, and carries out the
    /// peer's events (3B); returns the reply to `reply_to`, if the ready
    /// holds one.
    fn process(
        self: &Arc<Self>,
        peers: &mut Peers,
        region_id: u64,
        reply_to: Option<u64>,
    ) -> Option<Message> {
        let peer = peers.by_region.get_mut(&region_id)?;
        let messages = match peer.handle_ready() {
            Ok(messages) => messages,
            Err(error) => {
                tracing::error!(store = self.store_id, %error, "peer stopped");
                self.shutdown.trigger();
                return None;
            }
        };
        let from = peer.meta();
        let sends_any = messages.iter().any(|(_, m)| !m.is_response());
        let region = if sends_any {
            peer.region().clone()
        } else {
            Region::default()
        };
        let mut reply = None;
        for (to, message) in messages {
            if message.is_response() {
                if reply.is_none() && reply_to == Some(to) {
                    reply = Some(message);
                }
                continue;
            }
            let Some(to) = peer.peer_meta(to) else {
                continue;
            };
            let envelope = Envelope {
                region_id,
                from,
                to,
                region_epoch: region.region_epoch,
                start_key: region.start_key.clone(),
                end_key: region.end_key.clone(),
                message,
            };
            tokio::spawn(send(self.clone(), envelope));
        }
        let events = peer.take_events();
        for event in events {
            self.on_event(peers, region_id, event);
        }
        reply
    }
}

/// Reads `[args.start, args.end)` of the Snap answer's view, within its region.
fn scan(answer: Answer, args: &ScanArgs) -> Result<Pairs, Error> {
    let responses = answer.result?;
    let (Some(view), Some(Response::Snap { region })) = (answer.snapshot, responses.first()) else {
        return Err(Error::StaleCommand);
    };
    let start = args.start.as_slice().max(region.start_key.as_slice());
    let mut iter = view.iter_cf(args.cf)?;
    iter.seek(start)?;
    let mut out = Vec::new();
    while let Some((key, value)) = iter.item() {
        let past = |end: &[u8]| !end.is_empty() && key >= end;
        if past(&args.end) || past(&region.end_key) {
            break;
        }
        out.push((key.to_vec(), value.to_vec()));
        iter.next()?;
    }
    Ok(out)
}

/// Sends one raft request and steps the sender's peer with the answer.
async fn send(node: Arc<Node>, envelope: Envelope<Message>) {
    let Some(end) = node.ends.get(&envelope.to.store_id) else {
        return;
    };
    let Some(sent) = envelope.message.sent() else {
        return;
    };
    if node.shutdown.is_triggered() {
        return;
    }
    let (region_id, from, to) = (envelope.region_id, envelope.from, envelope.to);
    let (message, header) = envelope.detach();
    let answer = match message {
        Message::RequestVote(a) => end
            .call::<Vote>(&header.with(a))
            .await
            .map(|r| Some(Message::RequestVoteReply(sent, r))),
        Message::AppendEntries(a) => end
            .call::<Append>(&header.with(a))
            .await
            .map(|r| Some(Message::AppendEntriesReply(sent, r))),
        Message::InstallSnapshot(a) => end
            .call::<InstallSnapshot>(&header.with(a))
            .await
            .map(|r| Some(Message::InstallSnapshotReply(sent, r))),
        Message::TimeoutNow(a) => end.call::<TimeoutNow>(&header.with(a)).await.map(|()| None),
        Message::TransferLeader(a) => end
            .call::<TransferLeader>(&header.with(a))
            .await
            .map(|()| None),
        _ => return,
    };
    let answer = match answer {
        Ok(Some(reply)) => reply,
        Ok(None) => return,
        Err(_) => Message::Unreachable(sent),
    };
    let _ = node.enqueue(Queued::Step {
        region_id,
        from: from.id,
        to: to.id,
        answer,
    });
}

async fn ticker(node: Arc<Node>) {
    let shutdown = node.shutdown.clone();
    let mut interval = tokio::time::interval(RAFT_BASE_TICK);
    loop {
        tokio::select! {
            biased;
            () = shutdown.wait() => return,
            _ = interval.tick() => {}
        }
        let Some(mut peers) = node.lock() else { return };
        peers.heartbeat_elapsed += 1;
        let heartbeat = peers.heartbeat_elapsed >= node.config.region_heartbeat_ticks;
        if heartbeat {
            peers.heartbeat_elapsed = 0;
            if let Some(scheduler) = &node.scheduler {
                scheduler.store_heartbeat(StoreStats {
                    store_id: node.store_id,
                    region_count: peers.by_region.len() as u64,
                    ..StoreStats::default()
                });
            }
        }
        let regions: Vec<u64> = peers.by_region.keys().copied().collect();
        for region_id in regions {
            let Some(peer) = peers.by_region.get_mut(&region_id) else {
                continue;
            };
            peer.tick();
            if heartbeat {
                node.heartbeat(&mut peers, region_id);
            }
            node.process(&mut peers, region_id, None);
        }
    }
}
