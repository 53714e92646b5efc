//! The async driver: owns the timers, the network ends, the persister and
//! the apply channel, and carries out what the pure core asks for.
//!
//! Every entry point (tick, RPC handler, reply, `start`, `snapshot`) takes
//! the lock, steps the core, then calls [`Node::process`], which persists
//! (synchronously, before anything that depends on it leaves), spawns one
//! task per outgoing request, and queues applies for the applier task. The
//! applier sends on the service's channel **without** holding the lock, so
//! the service may call [`Raft::snapshot`] from its apply loop.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

use labrpc::Shutdown;
use labrpc::{ClientEnd, Service};
use tokio::sync::{Notify, mpsc};

use crate::core::{Apply, Core, Request, TICK};
use crate::messages::{AppendEntries, InstallSnapshot, RequestVote};
use crate::{ApplyMsg, Command, Error, Persister};

/// One Raft peer. Cheap to clone: clones are handles to the same peer.
pub struct Raft<C: Command> {
    node: Arc<Node>,
    _command: PhantomData<fn() -> C>,
}

impl<C: Command> Clone for Raft<C> {
    fn clone(&self) -> Self {
        Raft {
            node: self.node.clone(),
            _command: PhantomData,
        }
    }
}

struct Node {
    me: usize,
    peers: Vec<ClientEnd>,
    state: Mutex<State>,
    /// Triggered by `kill`: the peer is dead, and every background task
    /// selects on it.
    shutdown: Shutdown,
    /// Wakes the applier when `State::applies` grows.
    apply_ready: Notify,
}

struct State {
    core: Core,
    persister: Persister,
    applies: VecDeque<Apply>,
}

impl<C: Command> Raft<C> {
    /// Starts a peer and returns at once. `peers[i]` reaches peer `i`
    /// (`peers[me]` is never used); state and snapshot are restored from
    /// `persister`. Must be called inside a tokio runtime (a simulation).
    ///
    /// # Errors
    /// [`Error::CorruptState`] if the persisted state cannot be decoded.
    pub fn make(
        peers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        apply_tx: mpsc::Sender<ApplyMsg<C>>,
    ) -> Result<Raft<C>, Error> {
        let core = Core::new(
            me,
            peers.len(),
            &persister.read_raft_state(),
            persister.read_snapshot(),
            labrpc::rng::fork(),
        )
        .map_err(Error::CorruptState)?;
        let node = Arc::new(Node {
            me,
            peers,
            state: Mutex::new(State {
                core,
                persister,
                applies: VecDeque::new(),
            }),
            shutdown: Shutdown::new(),
            apply_ready: Notify::new(),
        });
        tokio::spawn(ticker(node.clone()));
        tokio::spawn(applier::<C>(node.clone(), apply_tx));
        Ok(Raft {
            node,
            _command: PhantomData,
        })
    }

    /// The `Raft` labrpc service to add to this peer's server.
    pub fn service(&self) -> Service {
        let (n1, n2, n3) = (self.node.clone(), self.node.clone(), self.node.clone());
        Service::new("Raft")
            .handle::<RequestVote, _, _>(move |args| {
                let reply = n1.on_request(|core| core.handle_request_vote(&args));
                async move { reply.unwrap_or_default() }
            })
            .handle::<AppendEntries, _, _>(move |args| {
                let reply = n2.on_request(|core| core.handle_append_entries(&args));
                async move { reply.unwrap_or_default() }
            })
            .handle::<InstallSnapshot, _, _>(move |args| {
                let reply = n3.on_request(|core| core.handle_install_snapshot(&args));
                async move { reply.unwrap_or_default() }
            })
    }

    /// Proposes `command`. `Some((index, term))` if this peer leads (the
    /// command may still be lost); `None` otherwise. Returns at once.
    pub fn start(&self, command: C) -> Option<(u64, u64)> {
        let data = labrpc::encode(&command).ok()?;
        let mut state = self.node.lock()?;
        let result = state.core.propose(data);
        self.node.process(state);
        result
    }

    /// (current term, whether this peer believes it is the leader).
    pub fn get_state(&self) -> (u64, bool) {
        let state = self.node.state.lock().unwrap_or_else(|e| e.into_inner());
        (
            state.core.term(),
            state.core.is_leader() && !self.is_killed(),
        )
    }

    /// The service has snapshotted everything through `index`.
    pub fn snapshot(&self, index: u64, snapshot: Vec<u8>) {
        if let Some(mut state) = self.node.lock() {
            state.core.snapshot(index, snapshot);
            self.node.process(state);
        }
    }

    /// Stops the peer: it sends nothing, applies nothing, and its tasks end.
    pub fn kill(&self) {
        self.node.shutdown.trigger();
        tracing::debug!(node = self.node.me, "killed");
    }

    /// True after [`Raft::kill`].
    pub fn is_killed(&self) -> bool {
        self.node.shutdown.is_triggered()
    }
}

impl Node {
    /// The state, or `None` once killed.
    fn lock(&self) -> Option<MutexGuard<'_, State>> {
        if self.shutdown.is_triggered() {
            return None;
        }
        Some(self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn on_request<R>(self: &Arc<Self>, handle: impl FnOnce(&mut Core) -> R) -> Option<R> {
        let mut state = self.lock()?;
        let reply = handle(&mut state.core);
        self.process(state);
        Some(reply)
    }

    /// Persists, sends and queues applies, in that order.
    fn process(self: &Arc<Self>, mut guard: MutexGuard<'_, State>) {
        let state = &mut *guard;
        let ready = state.core.take_ready();
        if ready.persist_snapshot {
            state.persister.save(
                state.core.encode_state(),
                state.core.snapshot_data().to_vec(),
            );
        } else if ready.persist_state {
            state.persister.save_raft_state(state.core.encode_state());
        }
        if !ready.applies.is_empty() {
            state.applies.extend(ready.applies);
            self.apply_ready.notify_one();
        }
        drop(guard);
        for (to, request) in ready.messages {
            tokio::spawn(send(self.clone(), to, request));
        }
    }
}

/// Sends one request and steps the core with the reply.
async fn send(node: Arc<Node>, to: usize, request: Request) {
    let Some(end) = node.peers.get(to) else {
        return;
    };
    if node.shutdown.is_triggered() {
        return;
    }
    match request {
        Request::Vote(args) => {
            if let Ok(reply) = end.call::<RequestVote>(&args).await
                && let Some(mut state) = node.lock()
            {
                state.core.handle_request_vote_reply(to, &args, &reply);
                node.process(state);
            }
        }
        Request::Append(args) => {
            let result = end.call::<AppendEntries>(&args).await;
            if let Some(mut state) = node.lock() {
                match result {
                    Ok(reply) => state.core.handle_append_entries_reply(to, &args, &reply),
                    Err(_) => state.core.handle_append_entries_failure(to, &args),
                }
                node.process(state);
            }
        }
        Request::Snapshot(args) => {
            let result = end.call::<InstallSnapshot>(&args).await;
            if let Some(mut state) = node.lock() {
                match result {
                    Ok(reply) => state.core.handle_install_snapshot_reply(to, &args, &reply),
                    Err(_) => state.core.handle_install_snapshot_failure(to, &args),
                }
                node.process(state);
            }
        }
    }
}

/// Drives the core's clock.
async fn ticker(node: Arc<Node>) {
    let shutdown = node.shutdown.clone();
    let mut interval = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            biased;
            () = shutdown.wait() => return,
            _ = interval.tick() => {}
        }
        let Some(mut state) = node.lock() else { return };
        state.core.tick();
        node.process(state);
    }
}

/// Hands committed entries and snapshots to the service, in order, never
/// holding the lock while the service is busy.
async fn applier<C: Command>(node: Arc<Node>, apply_tx: mpsc::Sender<ApplyMsg<C>>) {
    let shutdown = node.shutdown.clone();
    loop {
        tokio::select! {
            biased;
            () = shutdown.wait() => return,
            _ = node.apply_ready.notified() => {}
        }
        loop {
            let batch: Vec<Apply> = match node.lock() {
                Some(mut state) => state.applies.drain(..).collect(),
                None => return,
            };
            if batch.is_empty() {
                break;
            }
            for apply in batch {
                let msg = match apply {
                    Apply::Command { index, term, data } => match labrpc::decode::<C>(&data) {
                        Ok(command) => ApplyMsg::Command {
                            index,
                            term,
                            command,
                        },
                        Err(e) => {
                            tracing::error!(
                                node = node.me,
                                index,
                                "cannot decode committed command: {e}"
                            );
                            continue;
                        }
                    },
                    Apply::Snapshot { index, term, data } => {
                        ApplyMsg::Snapshot { index, term, data }
                    }
                };
                tokio::select! {
                    biased;
                    () = shutdown.wait() => return,
                    sent = apply_tx.send(msg) => if sent.is_err() { return },
                }
            }
        }
    }
}
