//! The async driver: owns the timers, the network ends, the persister and
//! the apply channel, and carries out what the pure core asks for.
//!
//! Every entry point (tick, incoming RPC, an RPC's answer, `start`,
//! `snapshot`) takes the lock, steps the core, then calls [`Node::process`],
//! which takes the core's `Ready`, persists (synchronously, before anything
//! that depends on it leaves), emits the framework's events, spawns one task
//! per outgoing message, and queues applies for the applier task. The
//! applier sends on the service's channel **without** holding the lock, so
//! the service may call [`Raft::snapshot`] from its apply loop.
//!
//! Events: this file is framework code (no solution regions), so the events
//! it emits — `target: "raft::event"`, message `event` with a `kind` field —
//! describe any core, a student's included: `role` (role, term, leader),
//! `commit`, `snapshot`, `crash`, `restart`, `stopped`. `labtool timeline`
//! draws them.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

use labrpc::Shutdown;
use labrpc::{ClientEnd, Service};
use tokio::sync::{Notify, mpsc};

use crate::core::{Apply, Core, Message, Ready, Role, TICK};
use crate::messages::{AppendEntries, InstallSnapshot, RequestVote, TimeoutNow, TransferLeader};
use crate::{ApplyMsg, Command, Error, Persister};

/// The `tracing` target of the driver's structured events.
pub const EVENT_TARGET: &str = "raft::event";

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
    /// Why the peer stopped by itself, if it did.
    failure: Mutex<Option<Error>>,
    /// Woken (all waiters) whenever the term, the role or the known leader
    /// changes, and when the peer stops: see [`Raft::state_changed`].
    state_changed: Notify,
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
        Raft::make_with(peers, me, persister, apply_tx, Shutdown::new())
    }

    /// [`Raft::make`] under a given kill switch — typically a
    /// [`Shutdown::child`] of the service's — on which every task of the
    /// peer is spawned, so the service's kill stops them and its
    /// [`Shutdown::finished`] waits for them.
    ///
    /// # Errors
    /// As [`Raft::make`].
    pub fn make_with(
        peers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        apply_tx: mpsc::Sender<ApplyMsg<C>>,
        shutdown: Shutdown,
    ) -> Result<Raft<C>, Error> {
        let core = Core::new(
            me,
            peers.len(),
            &persister.read_raft_state(),
            persister.read_snapshot(),
            labrpc::rng::fork(),
        )?;
        tracing::debug!(
            target: EVENT_TARGET,
            node = me,
            kind = "restart",
            term = core.term(),
            "event"
        );
        let node = Arc::new(Node {
            me,
            peers,
            state: Mutex::new(State {
                core,
                persister,
                applies: VecDeque::new(),
            }),
            shutdown,
            apply_ready: Notify::new(),
            failure: Mutex::new(None),
            state_changed: Notify::new(),
        });
        node.shutdown.spawn(ticker(node.clone()));
        node.shutdown.spawn(applier::<C>(node.clone(), apply_tx));
        Ok(Raft {
            node,
            _command: PhantomData,
        })
    }

    /// The `Raft` labrpc service to add to this peer's server. A killed
    /// peer declines to answer: its callers see the call lost.
    pub fn service(&self) -> Service {
        let (n1, n2, n3, n4, n5) = (
            self.node.clone(),
            self.node.clone(),
            self.node.clone(),
            self.node.clone(),
            self.node.clone(),
        );
        Service::new("Raft")
            .handle_or_decline::<RequestVote, _, _>(move |args| {
                let from = args.candidate as usize;
                let reply = n1.on_request(from, Message::RequestVote(args));
                async move {
                    match reply? {
                        Message::RequestVoteReply(_, reply) => Some(reply),
                        _ => None,
                    }
                }
            })
            .handle_or_decline::<AppendEntries, _, _>(move |args| {
                let from = args.leader as usize;
                let reply = n2.on_request(from, Message::AppendEntries(args));
                async move {
                    match reply? {
                        Message::AppendEntriesReply(_, reply) => Some(reply),
                        _ => None,
                    }
                }
            })
            .handle_or_decline::<InstallSnapshot, _, _>(move |args| {
                let from = args.leader as usize;
                let reply = n3.on_request(from, Message::InstallSnapshot(args));
                async move {
                    match reply? {
                        Message::InstallSnapshotReply(_, reply) => Some(reply),
                        _ => None,
                    }
                }
            })
            .handle_or_decline::<TimeoutNow, _, _>(move |args| {
                let from = args.leader as usize;
                let alive = n4.on_notice(from, Message::TimeoutNow(args));
                async move { alive.then_some(()) }
            })
            .handle_or_decline::<TransferLeader, _, _>(move |args| {
                // The sender is not named; it is not needed (no reply).
                let alive = n5.on_notice(usize::MAX, Message::TransferLeader(args));
                async move { alive.then_some(()) }
            })
    }

    /// Proposes `command`. `Some((index, term))` if this peer leads (the
    /// command may still be lost); `None` otherwise. Returns at once.
    pub fn start(&self, command: C) -> Option<(u64, u64)> {
        let data = labrpc::encode(&command).ok()?;
        let mut state = self.node.lock()?;
        let result = state.core.propose(data);
        self.node.process(state, None);
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

    /// Completes at the next change of what [`Raft::get_state`] reports —
    /// term, role or known leader — or when the peer stops. It counts
    /// changes from the moment it is called, so call it *before* reading
    /// the state and a change in between is not missed:
    ///
    /// ```text
    /// loop {
    ///     let changed = rf.state_changed();
    ///     if rf.get_state().1 { break; }
    ///     changed.await;
    /// }
    /// ```
    ///
    /// Services wait on this instead of polling `get_state`.
    pub fn state_changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.node.state_changed.notified()
    }

    /// The service has snapshotted everything through `index`.
    pub fn snapshot(&self, index: u64, snapshot: Vec<u8>) {
        if let Some(mut state) = self.node.lock() {
            #[cfg(feature = "mutants")]
            if labrpc::sim::mutant(MUTANT_LAZY_COMPACTION)
                && state
                    .core
                    .entry(index.saturating_sub(LAZY_COMPACTION_KEEPS))
                    .is_none()
            {
                return;
            }
            state.core.snapshot(index, snapshot);
            self.node.process(state, None);
        }
    }

    /// Stops the peer: it sends nothing, applies nothing, and its tasks end.
    pub fn kill(&self) {
        if !self.node.shutdown.is_triggered() {
            tracing::debug!(target: EVENT_TARGET, node = self.node.me, kind = "crash", "event");
        }
        self.node.shutdown.trigger();
        self.node.state_changed.notify_waiters();
        tracing::debug!(node = self.node.me, "killed");
    }

    /// True after [`Raft::kill`], or once the peer stopped by itself.
    pub fn is_killed(&self) -> bool {
        self.node.shutdown.is_triggered()
    }

    /// Why the peer stopped by itself (it does so only on a committed entry
    /// it cannot hand to the service), if it did.
    pub fn failure(&self) -> Option<Error> {
        self.node
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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

    /// Steps an incoming request; returns the core's reply to `from`, or
    /// `None` once killed.
    fn on_request(self: &Arc<Self>, from: usize, message: Message) -> Option<Message> {
        let mut state = self.lock()?;
        state.core.step(from, message);
        self.process(state, Some(from))
    }

    /// Steps a message that needs no reply; false once killed.
    fn on_notice(self: &Arc<Self>, from: usize, message: Message) -> bool {
        let Some(mut state) = self.lock() else {
            return false;
        };
        state.core.step(from, message);
        self.process(state, None);
        true
    }

    /// Persists, emits events, sends and queues applies, in that order.
    /// Returns the reply to `reply_to`, if the ready holds one.
    fn process(
        self: &Arc<Self>,
        mut guard: MutexGuard<'_, State>,
        reply_to: Option<usize>,
    ) -> Option<Message> {
        let state = &mut *guard;
        let ready = state.core.ready();
        if ready.snapshot.is_some() {
            state.persister.save(
                state.core.encode_state(),
                state.core.snapshot_data().to_vec(),
            );
        } else if ready.must_sync {
            state.persister.save_raft_state(state.core.encode_state());
        }
        self.emit_events(&ready, state.core.term());
        let term_changed = ready
            .hard_state
            .is_some_and(|h| h.term != state.core.prev_hard.term);
        state.core.advance(&ready);
        let ready_soft_or_term = term_changed || ready.soft_state.is_some();
        let Ready {
            committed,
            messages,
            ..
        } = ready;
        if !committed.is_empty() {
            state.applies.extend(committed);
            self.apply_ready.notify_one();
        }
        drop(guard);
        if ready_soft_or_term {
            self.state_changed.notify_waiters();
        }
        let mut reply = None;
        for (to, message) in messages {
            if message.is_response() {
                if reply.is_none() && reply_to == Some(to) {
                    reply = Some(message);
                }
                continue;
            }
            self.shutdown.spawn(send(self.clone(), to, message));
        }
        reply
    }

    /// The framework's structured events for what `ready` changed.
    fn emit_events(&self, ready: &Ready, term: u64) {
        if let Some(soft) = ready.soft_state {
            let role = match soft.role {
                Role::Follower => "follower",
                Role::Candidate => "candidate",
                Role::Leader => "leader",
            };
            tracing::debug!(
                target: EVENT_TARGET,
                node = self.me,
                kind = "role",
                role,
                term,
                leader = soft.leader.map_or(-1, |l| l as i64),
                "event"
            );
        }
        if let Some(hard) = ready.hard_state {
            tracing::debug!(
                target: EVENT_TARGET,
                node = self.me,
                kind = "state",
                term = hard.term,
                commit = hard.commit,
                "event"
            );
        }
        if let Some(snapshot) = ready.snapshot {
            tracing::debug!(
                target: EVENT_TARGET,
                node = self.me,
                kind = "snapshot",
                term,
                index = snapshot.index,
                "event"
            );
        }
    }
}

/// The mutant `raft-lazy-compaction` (tester only, feature `mutants`): the
/// peer ignores the service's snapshots until its log holds more than
/// [`LAZY_COMPACTION_KEEPS`] entries before the snapshot's index, so it
/// keeps up to ~150 integer entries (at most 1,782 bytes on seeds 1–10 of
/// `snapshot_basic_3d`): under the reference's gob-sized 2,000-byte 3D
/// bound, over the 100 entries that bound meant.
#[cfg(feature = "mutants")]
pub const MUTANT_LAZY_COMPACTION: &str = "raft-lazy-compaction";

/// How many entries `raft-lazy-compaction` lets pile up before it trims.
#[cfg(feature = "mutants")]
const LAZY_COMPACTION_KEEPS: u64 = 140;

/// The mutant `raft-duplicate-append` (tester only, feature `mutants`):
/// every AppendEntries that carries entries is sent twice, so each
/// command crosses the network twice per follower.
#[cfg(feature = "mutants")]
pub const MUTANT_DUPLICATE_APPEND: &str = "raft-duplicate-append";

/// Sends one message and steps the core with the answer: the reply, or
/// `Unreachable` when none came. The one send path of every request kind.
async fn send(node: Arc<Node>, to: usize, message: Message) {
    let (Some(end), Some(sent)) = (node.peers.get(to), message.sent()) else {
        return;
    };
    if node.shutdown.is_triggered() {
        return;
    }
    // A message sent before a kill runs its course, as in the reference (a
    // crashed peer's last messages may still arrive); the task ends when
    // the call returns, which labrpc guarantees, and is counted until then.
    #[cfg(feature = "mutants")]
    if let Message::AppendEntries(args) = &message
        && !args.entries.is_empty()
        && labrpc::sim::mutant(MUTANT_DUPLICATE_APPEND)
    {
        let _ = end.call::<AppendEntries>(args).await;
    }
    let answer = match message {
        Message::RequestVote(args) => end
            .call::<RequestVote>(&args)
            .await
            .map(|reply| Some(Message::RequestVoteReply(sent, reply))),
        Message::AppendEntries(args) => end
            .call::<AppendEntries>(&args)
            .await
            .map(|reply| Some(Message::AppendEntriesReply(sent, reply))),
        Message::InstallSnapshot(args) => end
            .call::<InstallSnapshot>(&args)
            .await
            .map(|reply| Some(Message::InstallSnapshotReply(sent, reply))),
        Message::TimeoutNow(args) => end.call::<TimeoutNow>(&args).await.map(|()| None),
        Message::TransferLeader(args) => end.call::<TransferLeader>(&args).await.map(|()| None),
        // Answers are returned by the handlers, never sent on their own.
        _ => return,
    };
    let answer = match answer {
        Ok(Some(reply)) => reply,
        // A notice needs no answer.
        Ok(None) => return,
        Err(_) => Message::Unreachable(sent),
    };
    if let Some(mut state) = node.lock() {
        state.core.step(to, answer);
        node.process(state, None);
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
        node.process(state, None);
    }
}

/// Hands committed entries and snapshots to the service, in order, never
/// holding the lock while the service is busy. An entry it cannot hand over
/// stops the peer ([`Error::CorruptCommand`]): skipping it would break
/// "every index exactly once, in order".
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
                let msg = match to_apply_msg::<C>(node.me, apply) {
                    Ok(msg) => msg,
                    Err(error) => {
                        node.stop(error);
                        return;
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

fn to_apply_msg<C: Command>(peer: usize, apply: Apply) -> Result<ApplyMsg<C>, Error> {
    match apply {
        Apply::Command { index, term, data } => match labrpc::decode::<C>(&data) {
            Ok(command) => Ok(ApplyMsg::Command {
                index,
                term,
                command,
            }),
            Err(error) => Err(Error::CorruptCommand { peer, index, error }),
        },
        Apply::Snapshot { index, term, data } => Ok(ApplyMsg::Snapshot { index, term, data }),
        // This driver proposes no membership change; a committed one means
        // the log was written by something else.
        Apply::ConfChange { index, .. } => Err(Error::UnexpectedConfChange { peer, index }),
    }
}

impl Node {
    /// Stops the peer for `error`, which [`Raft::failure`] then reports.
    fn stop(&self, error: Error) {
        tracing::error!(target: EVENT_TARGET, node = self.me, kind = "stopped", %error, "event");
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
        self.shutdown.trigger();
        self.state_changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests;
