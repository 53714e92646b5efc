//! The thin async layer: a store hosting one peer, driven by a ticker and
//! by the `Raftstore` labrpc service, which carries raft messages between
//! stores and client commands into the peer. Everything protocol-shaped is
//! in [`Peer`]; this file only moves bytes and time.
//!
//! Every raft request is one RPC whose reply is stepped back into the
//! sender's core (a lost one as `Unreachable`), as in the 6.5840 driver.
//! A killed store declines every call and its tasks end; a restart is a new
//! [`Store`] over the same engines.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use labrpc::{ClientEnd, Service, Shutdown};
use raft::{
    AppendEntriesArgs, AppendEntriesReply, InstallSnapshotArgs, InstallSnapshotReply, Message,
    RequestVoteArgs, RequestVoteReply, TimeoutNowArgs, TransferLeaderArgs,
};
use serde::{Deserialize, Serialize};
use tinykv_storage::{Cf, Engine};
use tokio::sync::oneshot;

use crate::cmd::{CmdHeader, RaftCmdRequest, Request, Response};
use crate::meta::Region;
use crate::{Answer, Error, Peer, PeerConfig};

/// The raftstore's base tick (the reference's test configuration: 50 ms;
/// with 2 heartbeat and 10 election ticks, elections take 0.5–1 s).
pub const RAFT_BASE_TICK: Duration = Duration::from_millis(50);
/// How long a command handler waits for its entry to apply before it
/// declines (the client sees the call lost and retries): the reference's
/// one second per call.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// A raft message between two peers of one region.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// The region.
    pub region_id: u64,
    /// The sending peer.
    pub from: u64,
    /// The receiving peer.
    pub to: u64,
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

/// Key/value pairs, in key order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

struct Node {
    region_id: u64,
    me: u64,
    peer: Mutex<Peer>,
    /// Ends to the other peers' stores, by peer id.
    ends: BTreeMap<u64, ClientEnd>,
    waiters: Arc<Mutex<BTreeMap<u64, Waiter>>>,
    next_id: AtomicU64,
    shutdown: Shutdown,
}

/// A running store with its one peer. Cloning gives another handle.
#[derive(Clone)]
pub struct Store {
    node: Arc<Node>,
}

impl Store {
    /// Starts the peer of `region` on `store_id` from the engines, with
    /// `ends` to the other peers (by peer id) and the given configuration;
    /// spawns its ticker.
    ///
    /// # Errors
    /// As [`Peer::open`].
    pub fn start(
        store_id: u64,
        region: Region,
        raft_engine: Arc<dyn Engine>,
        kv_engine: Arc<dyn Engine>,
        ends: BTreeMap<u64, ClientEnd>,
        config: PeerConfig,
    ) -> Result<Store, Error> {
        let mut peer = Peer::open_with(
            store_id,
            region,
            raft_engine,
            kv_engine,
            config,
            labrpc::rng::fork(),
        )?;
        let waiters: Arc<Mutex<BTreeMap<u64, Waiter>>> = Arc::default();
        let sink_waiters = waiters.clone();
        peer.set_answer_sink(Box::new(move |answer: Answer| {
            let waiter = sink_waiters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&answer.id);
            if let Some(on_answer) = waiter {
                on_answer(answer);
            }
        }));
        let node = Arc::new(Node {
            region_id: peer.region().id,
            me: peer.meta().id,
            peer: Mutex::new(peer),
            ends,
            waiters,
            next_id: AtomicU64::new(1),
            shutdown: Shutdown::new(),
        });
        tokio::spawn(ticker(node.clone()));
        Ok(Store { node })
    }

    /// Stops the store: it answers nothing more and its tasks end.
    pub fn kill(&self) {
        self.node.shutdown.trigger();
        self.node
            .waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// (term, whether the peer believes it leads).
    pub fn state(&self) -> (u64, bool) {
        let peer = self.node.peer.lock().unwrap_or_else(|e| e.into_inner());
        (peer.term(), peer.is_leader())
    }

    /// The peer's applied and truncated index (GenericTest's log-size check).
    pub fn applied_and_truncated(&self) -> (u64, u64) {
        let peer = self.node.peer.lock().unwrap_or_else(|e| e.into_inner());
        (
            peer.storage().applied_index(),
            peer.storage().truncated_index(),
        )
    }

    /// The `Raftstore` service to add to this store's server.
    pub fn service(&self) -> Service {
        let n: [Arc<Node>; 7] = std::array::from_fn(|_| self.node.clone());
        let [n1, n2, n3, n4, n5, n6, n7] = n;
        Service::new("Raftstore")
            .handle_or_decline::<Vote, _, _>(move |e| {
                let reply = n1.on_request(e.region_id, e.from, Message::RequestVote(e.message));
                async move {
                    match reply? {
                        Message::RequestVoteReply(_, r) => Some(r),
                        _ => None,
                    }
                }
            })
            .handle_or_decline::<Append, _, _>(move |e| {
                let reply = n2.on_request(e.region_id, e.from, Message::AppendEntries(e.message));
                async move {
                    match reply? {
                        Message::AppendEntriesReply(_, r) => Some(r),
                        _ => None,
                    }
                }
            })
            .handle_or_decline::<InstallSnapshot, _, _>(move |e| {
                let reply = n3.on_request(e.region_id, e.from, Message::InstallSnapshot(e.message));
                async move {
                    match reply? {
                        Message::InstallSnapshotReply(_, r) => Some(r),
                        _ => None,
                    }
                }
            })
            .handle_or_decline::<TimeoutNow, _, _>(move |e| {
                let alive = n4.on_notice(e.region_id, e.from, Message::TimeoutNow(e.message));
                async move { alive.then_some(()) }
            })
            .handle_or_decline::<TransferLeader, _, _>(move |e| {
                let alive = n5.on_notice(e.region_id, e.from, Message::TransferLeader(e.message));
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
    fn lock(&self) -> Option<MutexGuard<'_, Peer>> {
        if self.shutdown.is_triggered() {
            return None;
        }
        Some(self.peer.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Steps a request from peer `from`; returns the core's reply to it.
    fn on_request(
        self: &Arc<Self>,
        region_id: u64,
        from: u64,
        message: Message,
    ) -> Option<Message> {
        if region_id != self.region_id {
            return None;
        }
        let mut peer = self.lock()?;
        if !peer.step(from, message) {
            // Refused (a bad snapshot): no reply, the sender tries again.
            self.process(peer, None);
            return None;
        }
        self.process(peer, Some(from))
    }

    /// Steps a message that needs no reply; false once killed.
    fn on_notice(self: &Arc<Self>, region_id: u64, from: u64, message: Message) -> bool {
        if region_id != self.region_id {
            return false;
        }
        let Some(mut peer) = self.lock() else {
            return false;
        };
        let _ = peer.step(from, message);
        self.process(peer, None);
        true
    }

    /// Proposes `request`; `on_answer` runs when the peer answers it.
    /// `None` if the store is down.
    fn propose(self: &Arc<Self>, request: RaftCmdRequest, on_answer: Waiter) -> Option<()> {
        let mut peer = self.lock()?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, on_answer);
        peer.propose(id, &request);
        self.process(peer, None);
        Some(())
    }

    /// Runs the peer's ready loop, answers waiting commands, sends the
    /// requests; returns the reply to `reply_to`, if the ready holds one.
    fn process(
        self: &Arc<Self>,
        mut peer: MutexGuard<'_, Peer>,
        reply_to: Option<u64>,
    ) -> Option<Message> {
        let messages = match peer.handle_ready() {
            Ok(messages) => messages,
            Err(error) => {
                tracing::error!(store = self.me, %error, "peer stopped");
                self.shutdown.trigger();
                return None;
            }
        };
        let answers = peer.take_answers();
        drop(peer);
        if !answers.is_empty() {
            let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            for answer in answers {
                if let Some(on_answer) = waiters.remove(&answer.id) {
                    on_answer(answer);
                }
            }
        }
        let mut reply = None;
        for (to, message) in messages {
            if message.is_response() {
                if reply.is_none() && reply_to == Some(to) {
                    reply = Some(message);
                }
                continue;
            }
            tokio::spawn(send(self.clone(), to, message));
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

/// Sends one raft request and steps the sender's core with the answer.
async fn send(node: Arc<Node>, to: u64, message: Message) {
    let (Some(end), Some(sent)) = (node.ends.get(&to), message.sent()) else {
        return;
    };
    if node.shutdown.is_triggered() {
        return;
    }
    let (region_id, from) = (node.region_id, node.me);
    fn wrap<T>(region_id: u64, from: u64, to: u64, message: T) -> Envelope<T> {
        Envelope {
            region_id,
            from,
            to,
            message,
        }
    }
    let answer = match message {
        Message::RequestVote(a) => end
            .call::<Vote>(&wrap(region_id, from, to, a))
            .await
            .map(|r| Some(Message::RequestVoteReply(sent, r))),
        Message::AppendEntries(a) => end
            .call::<Append>(&wrap(region_id, from, to, a))
            .await
            .map(|r| Some(Message::AppendEntriesReply(sent, r))),
        Message::InstallSnapshot(a) => end
            .call::<InstallSnapshot>(&wrap(region_id, from, to, a))
            .await
            .map(|r| Some(Message::InstallSnapshotReply(sent, r))),
        Message::TimeoutNow(a) => end
            .call::<TimeoutNow>(&wrap(region_id, from, to, a))
            .await
            .map(|()| None),
        Message::TransferLeader(a) => end
            .call::<TransferLeader>(&wrap(region_id, from, to, a))
            .await
            .map(|()| None),
        _ => return,
    };
    let answer = match answer {
        Ok(Some(reply)) => reply,
        Ok(None) => return,
        Err(_) => Message::Unreachable(sent),
    };
    if let Some(mut peer) = node.lock() {
        let _ = peer.step(to, answer);
        node.process(peer, None);
    }
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
        let Some(mut peer) = node.lock() else { return };
        peer.tick();
        node.process(peer, None);
    }
}
