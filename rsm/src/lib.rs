//! # rsm — the replicated state machine (Lab 4A/4B, used again in 5A/5B)
//!
//! One crate that every service replicated by Raft builds on: kvraft (Lab
//! 4), shardctrler (5A) and shardkv (5B). A service describes its state as
//! a [`StateMachine`] (a pure, deterministic `apply`, plus `snapshot` and
//! `restore`); [`Rsm`] runs Raft under it and gives the service one call,
//! [`Rsm::submit`].
//!
//! ## What is yours
//! * [`Rsm::submit`] — **student code (4A)**: propose an op and wait until
//!   *that* op is applied at the index Raft gave it.
//! * `Inner::apply` — **student code (4A, 4B)**: apply committed ops in log
//!   order and answer the waiting submitters; snapshot near
//!   `max_raft_state` and install snapshots Raft hands up.
//!
//! The framework gives the rest: starting Raft and the applier task, the
//! snapshot header, the leader's no-op and [`RaftHandle`], the op-type-free
//! view of the peer that servers and the tester use.
//!
//! ## How it works
//! [`Rsm::submit`] proposes an op and waits until *that* op is applied at the
//! index Raft gave it. The applier task applies every committed op to the
//! [`StateMachine`] in log order and hands each waiting submitter its output
//! — or tells it that a different op took its index (leadership was lost),
//! so the caller can answer "wrong leader" and its client retries elsewhere.
//! [`Rsm::submit`] answers in the labs' one reply convention,
//! [`labrpc::ServiceError`] (`WrongLeader`, `Timeout`, `Killed`), so a
//! server passes a refusal on to its clerk unchanged.
//! When the persisted Raft state reaches `max_raft_state` bytes, the applier
//! snapshots the state machine.
//!
//! A replica that becomes leader proposes one no-op in its new term. Raft
//! commits entries of earlier terms only behind an entry of the current
//! term (Raft paper, §5.4.2 and §8), so without it a group restarted as a
//! whole could sit on committed-but-unknown entries until some client
//! happened to write — and shardkv's migration, which waits for its own
//! applied state to advance, would wait forever.
//!
//! ## Invariants
//! * Every committed op is applied exactly once per replica, in log order
//!   (`last_applied` only grows; a snapshot replaces a prefix).
//! * A submitter gets the output of its own op or a [`ServiceError`], never
//!   the output of another op that took its index.
//! * Every task of a replica (Raft's included) runs under one
//!   [`Shutdown`] tree rooted in [`Rsm::shutdown`]: [`Rsm::kill`] stops
//!   them all and [`Rsm::stopped`] completes once none is left. A service
//!   spawns its own tasks on a child of that root.
//! * The apply path never skips: a committed op Raft cannot decode or a
//!   snapshot from Raft that does not restore stops the replica with a
//!   typed error, which [`Rsm::failure`] reports to the tester.
//!
//! ## Tests
//! Through the services: `cargo test --release -p tests 4a` (and `4b`,
//! `5a`, `5b`); the stop on a bad snapshot: `cargo test --release -p rsm`.

#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use labrpc::{ClientEnd, CodecError, Service, ServiceError, Shutdown};
use raft::{ApplyMsg, Command, Persister, Raft};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// The errors of this crate: a replica that cannot start, or one that
/// stopped by itself ([`Rsm::failure`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Raft could not start (its persisted state is corrupt), or its peer
    /// stopped on a committed entry it cannot hand over
    /// ([`raft::Error::CorruptCommand`]).
    #[error(transparent)]
    Raft(#[from] raft::Error),
    /// The persisted snapshot could not be restored.
    #[error("corrupt snapshot: {0}")]
    CorruptSnapshot(#[from] SnapshotError),
    /// Raft handed up a snapshot (installed from the leader) that does not
    /// restore. The replica stops rather than ignore it: its state would
    /// no longer be the log's prefix up to `index`, and only a bug or
    /// corruption gets here.
    #[error(
        "replica {replica} stopped: the snapshot Raft handed up at index {index} does not restore: {error}"
    )]
    SnapshotFromRaft {
        /// The replica.
        replica: usize,
        /// The last index the snapshot covers.
        index: u64,
        /// Why it does not restore.
        #[source]
        error: SnapshotError,
    },
}

/// Why a snapshot could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The bytes do not decode as the state machine's state.
    #[error(transparent)]
    Decode(#[from] CodecError),
    /// The snapshot decodes, but it is another owner's state (shardkv: a
    /// snapshot of another group).
    #[error("snapshot of {found} given to {expected}")]
    WrongOwner {
        /// The owner restoring it.
        expected: u64,
        /// The owner the snapshot names.
        found: u64,
    },
}

/// A submitter gives up after this long, so a client is never stuck on a
/// partitioned leader; retrying is safe because services deduplicate.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_millis(800);
/// Capacity of the apply channel: deep enough that Raft rarely waits.
const APPLY_CHANNEL: usize = 64;

/// A deterministic state machine that Raft replicates.
pub trait StateMachine: Send + 'static {
    /// What goes through the log.
    type Op: Command;
    /// What applying an op returns to its submitter.
    type Output: Send + 'static;
    /// Applies one committed op. Must be deterministic: every replica applies
    /// the same ops in the same order and must end in the same state.
    fn apply(&mut self, op: &Self::Op) -> Self::Output;
    /// The whole state, encoded.
    fn snapshot(&self) -> Vec<u8>;
    /// Replaces the state by a decoded snapshot.
    ///
    /// # Errors
    /// Why `data` is not a snapshot of this state machine; the state must
    /// then be unchanged.
    fn restore(&mut self, data: &[u8]) -> Result<(), SnapshotError>;
}

/// The op as it travels through the log: tagged with a per-submission id so
/// a waiter recognises its own op at its index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tagged<O> {
    /// Unique per submission.
    pub id: u64,
    /// The service's op; `None` is a new leader's no-op.
    pub op: Option<O>,
}

/// A view of one replica's Raft peer that does not name the op type: what
/// a server and the tester need from it (is it the leader, in what term,
/// and its `Raft` labrpc service). Cheap to clone.
#[derive(Clone)]
pub struct RaftHandle {
    peer: Arc<dyn Peer>,
}

/// What [`RaftHandle`] erases [`Raft`]'s command type behind.
trait Peer: Send + Sync {
    fn get_state(&self) -> (u64, bool);
    fn state_changed(&self) -> futures::future::BoxFuture<'_, ()>;
    fn service(&self) -> Service;
}

impl<C: Command> Peer for Raft<C> {
    fn get_state(&self) -> (u64, bool) {
        Raft::get_state(self)
    }

    fn state_changed(&self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(Raft::state_changed(self))
    }

    fn service(&self) -> Service {
        Raft::service(self)
    }
}

impl RaftHandle {
    /// (current term, whether this peer believes it is the leader).
    pub fn get_state(&self) -> (u64, bool) {
        self.peer.get_state()
    }

    /// The current term.
    pub fn term(&self) -> u64 {
        self.get_state().0
    }

    /// Whether this peer believes it is the leader.
    pub fn is_leader(&self) -> bool {
        self.get_state().1
    }

    /// Completes at the next change of term, role or leader, or when the
    /// peer stops ([`Raft::state_changed`]); call it before reading the state.
    pub fn state_changed(&self) -> futures::future::BoxFuture<'_, ()> {
        self.peer.state_changed()
    }

    /// The `Raft` labrpc service to add to this replica's server.
    pub fn service(&self) -> Service {
        self.peer.service()
    }
}

impl std::fmt::Debug for RaftHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (term, leader) = self.get_state();
        f.debug_struct("RaftHandle")
            .field("term", &term)
            .field("leader", &leader)
            .finish()
    }
}

/// A replicated state machine: Raft plus the applier. Cheap to clone.
pub struct Rsm<S: StateMachine> {
    inner: Arc<Inner<S>>,
}

impl<S: StateMachine> Clone for Rsm<S> {
    fn clone(&self) -> Self {
        Rsm {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<S: StateMachine> {
    me: usize,
    rf: Raft<Tagged<S::Op>>,
    handle: RaftHandle,
    persister: Persister,
    max_raft_state: Option<usize>,
    state: Mutex<Applied<S>>,
    shutdown: Shutdown,
    /// Why the replica stopped by itself, if it did.
    failure: Mutex<Option<Error>>,
}

struct Applied<S: StateMachine> {
    sm: S,
    /// Highest log index applied to `sm`.
    last_applied: u64,
    /// Submitters waiting for an index: (their op's id, where to answer).
    waiters: BTreeMap<u64, (u64, Answer<S::Output>)>,
}

/// Where a submitter waits: `None` means another op took its index.
type Answer<T> = oneshot::Sender<Option<T>>;

#[derive(Serialize, Deserialize)]
struct SnapshotHeader {
    last_applied: u64,
    /// One length-prefixed block (the same bytes as a sequence of `u8`s,
    /// but written with one copy instead of one call per byte: encoding
    /// byte by byte was a quarter of the CPU of a many-client 4B test).
    #[serde(with = "serde_bytes")]
    state: Vec<u8>,
}

impl<S: StateMachine> Rsm<S> {
    /// Starts Raft and the applier, restoring `sm` from the persisted
    /// snapshot if there is one. Returns at once.
    ///
    /// # Errors
    /// If the persisted snapshot or Raft state cannot be decoded.
    pub fn start(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        max_raft_state: Option<usize>,
        mut sm: S,
    ) -> Result<Rsm<S>, Error> {
        let mut last_applied = 0;
        let snapshot = persister.read_snapshot();
        if !snapshot.is_empty() {
            let header: SnapshotHeader = labrpc::decode(&snapshot).map_err(SnapshotError::from)?;
            sm.restore(&header.state)?;
            last_applied = header.last_applied;
        }
        let (apply_tx, apply_rx) = mpsc::channel(APPLY_CHANNEL);
        let shutdown = Shutdown::new();
        let rf = Raft::make_with(servers, me, persister.clone(), apply_tx, shutdown.child())?;
        let handle = RaftHandle {
            peer: Arc::new(rf.clone()),
        };
        let inner = Arc::new(Inner {
            me,
            rf,
            handle,
            persister,
            max_raft_state,
            state: Mutex::new(Applied {
                sm,
                last_applied,
                waiters: BTreeMap::new(),
            }),
            shutdown: shutdown.clone(),
            failure: Mutex::new(None),
        });
        shutdown.spawn(applier(inner.clone(), apply_rx));
        shutdown.spawn(leader_noop(inner.clone()));
        Ok(Rsm { inner })
    }

    /// Proposes `op` and waits for its output.
    ///
    /// # Errors
    /// [`ServiceError::WrongLeader`] if this replica does not lead or lost
    /// leadership before the op was applied, [`ServiceError::Timeout`]
    /// after [`SUBMIT_TIMEOUT`], [`ServiceError::Killed`] once killed.
    pub async fn submit(&self, op: S::Op) -> Result<S::Output, ServiceError> {
        // SOLUTION BEGIN 4A: propose the op, then wait for *your* op at *your* index; give up when the term changes or another op takes the index
        let inner = &self.inner;
        if inner.shutdown.is_triggered() {
            return Err(ServiceError::Killed);
        }
        let id = labrpc::rng::u64();
        let (index, term) = inner
            .rf
            .start(Tagged { id, op: Some(op) })
            .ok_or(ServiceError::WrongLeader)?;
        let (tx, mut rx) = oneshot::channel();
        if let Some((_, old)) = inner.lock().waiters.insert(index, (id, tx)) {
            let _ = old.send(None);
        }
        let deadline = tokio::time::sleep(SUBMIT_TIMEOUT);
        tokio::pin!(deadline);
        loop {
            // Woken by Raft when term or role changes, not by polling.
            let changed = inner.rf.state_changed();
            let (now_term, leader) = inner.rf.get_state();
            let dead = inner.shutdown.is_triggered();
            let expired = deadline.is_elapsed();
            if now_term != term || !leader || expired || dead {
                let mut state = inner.lock();
                if state.waiters.get(&index).is_some_and(|(w, _)| *w == id) {
                    state.waiters.remove(&index);
                }
                return Err(if dead {
                    ServiceError::Killed
                } else if now_term != term || !leader {
                    ServiceError::WrongLeader
                } else {
                    ServiceError::Timeout
                });
            }
            tokio::select! {
                biased;
                result = &mut rx => return result.ok().flatten().ok_or(ServiceError::WrongLeader),
                () = changed => {}
                () = &mut deadline => {}
                () = inner.shutdown.wait() => {}
            }
        }
        // SOLUTION END
    }

    /// Reads the applied state.
    pub fn with_state<T>(&self, f: impl FnOnce(&S) -> T) -> T {
        f(&self.inner.lock().sm)
    }

    /// This replica's Raft peer, as the op-type-free [`RaftHandle`].
    pub fn raft(&self) -> &RaftHandle {
        &self.inner.handle
    }

    /// True after [`Rsm::kill`].
    pub fn is_killed(&self) -> bool {
        self.inner.shutdown.is_triggered()
    }

    /// The root of this replica's shutdown tree: Raft's tasks and the
    /// applier's run under it; a service spawns its own tasks on a
    /// [`Shutdown::child`] of it, so [`Rsm::kill`] stops them too and
    /// [`Rsm::stopped`] waits for them.
    pub fn shutdown(&self) -> &Shutdown {
        &self.inner.shutdown
    }

    /// Stops the replica: Raft, the applier, every waiting submitter and
    /// every task spawned under [`Rsm::shutdown`]. Returns at once; await
    /// [`Rsm::stopped`] for the tasks to end.
    pub fn kill(&self) {
        // Raft first, so it reports its own crash before its switch is
        // triggered from above.
        self.inner.rf.kill();
        self.inner.shutdown.trigger();
    }

    /// Completes once no task of this replica is left (after [`Rsm::kill`]).
    pub async fn stopped(&self) {
        self.inner.shutdown.finished().await;
    }

    /// Tasks of this replica still running (Raft's and the service's
    /// included).
    pub fn live_tasks(&self) -> usize {
        self.inner.shutdown.live_tasks()
    }

    /// Why the replica stopped by itself, if it did: a snapshot from Raft
    /// that does not restore ([`Error::SnapshotFromRaft`]), or Raft's own
    /// failure ([`raft::Raft::failure`]). Either can only come from a bug
    /// or corruption; the tester reports it.
    pub fn failure(&self) -> Option<Error> {
        let own = self
            .inner
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        own.or_else(|| self.inner.rf.failure().map(Error::Raft))
    }
}

impl<S: StateMachine> Inner<S> {
    fn lock(&self) -> MutexGuard<'_, Applied<S>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn apply(&self, msg: ApplyMsg<Tagged<S::Op>>) {
        // SOLUTION BEGIN 4A: apply committed ops in order and answer waiters; 4B: snapshot near max_raft_state and install snapshots from Raft
        match msg {
            ApplyMsg::Command { index, command, .. } => {
                let snapshot = {
                    let mut state = self.lock();
                    if index <= state.last_applied {
                        return;
                    }
                    let output = command.op.as_ref().map(|op| state.sm.apply(op));
                    state.last_applied = index;
                    if let Some((id, reply)) = state.waiters.remove(&index) {
                        let _ = reply.send(output.filter(|_| id == command.id));
                    }
                    self.should_snapshot().then(|| encode_snapshot(&state))
                };
                if let Some(data) = snapshot {
                    self.rf.snapshot(index, data);
                }
            }
            ApplyMsg::Snapshot { index, data, .. } => {
                let mut state = self.lock();
                if index <= state.last_applied {
                    return;
                }
                let restored = labrpc::decode::<SnapshotHeader>(&data)
                    .map_err(SnapshotError::from)
                    .and_then(|h| state.sm.restore(&h.state));
                if let Err(error) = restored {
                    drop(state);
                    self.stop(Error::SnapshotFromRaft {
                        replica: self.me,
                        index,
                        error,
                    });
                    return;
                }
                state.last_applied = index;
                // Ops proposed at covered indices will never be applied
                // here: their submitters must retry.
                let rest = state.waiters.split_off(&(index + 1));
                for (_, (_, reply)) in std::mem::replace(&mut state.waiters, rest) {
                    let _ = reply.send(None);
                }
            }
        }
        // SOLUTION END
    }

    /// Stops the replica by itself for `error`, which [`Rsm::failure`]
    /// then reports: Raft, the applier and every waiting submitter stop as
    /// on [`Rsm::kill`].
    fn stop(&self, error: Error) {
        tracing::error!(replica = self.me, %error, "replica stopped");
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
        self.rf.kill();
        self.shutdown.trigger();
    }

    fn should_snapshot(&self) -> bool {
        self.max_raft_state
            .is_some_and(|max| self.persister.raft_state_size() >= max)
    }
}

fn encode_snapshot<S: StateMachine>(state: &Applied<S>) -> Vec<u8> {
    labrpc::to_bytes(&SnapshotHeader {
        last_applied: state.last_applied,
        state: state.sm.snapshot(),
    })
}

/// Proposes a no-op once in each term in which this replica leads (see the
/// module docs for why).
async fn leader_noop<S: StateMachine>(inner: Arc<Inner<S>>) {
    let shutdown = inner.shutdown.clone();
    let mut proposed_in = None;
    loop {
        // Woken by Raft when term or role changes, not by polling.
        let changed = inner.rf.state_changed();
        tokio::select! {
            biased;
            () = shutdown.wait() => return,
            () = changed => {}
        }
        let (term, leader) = inner.rf.get_state();
        if leader && proposed_in != Some(term) {
            let noop = Tagged {
                id: labrpc::rng::u64(),
                op: None,
            };
            if inner.rf.start(noop).is_some() {
                proposed_in = Some(term);
            }
        }
    }
}

async fn applier<S: StateMachine>(
    inner: Arc<Inner<S>>,
    mut apply_rx: mpsc::Receiver<ApplyMsg<Tagged<S::Op>>>,
) {
    let shutdown = inner.shutdown.clone();
    loop {
        let msg = tokio::select! {
            biased;
            () = shutdown.wait() => return,
            msg = apply_rx.recv() => match msg {
                Some(msg) => msg,
                None => return,
            },
        };
        inner.apply(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter: the smallest state machine with a snapshot.
    struct Counter(u64);

    impl StateMachine for Counter {
        type Op = u64;
        type Output = u64;

        fn apply(&mut self, op: &u64) -> u64 {
            self.0 += op;
            self.0
        }

        fn snapshot(&self) -> Vec<u8> {
            labrpc::to_bytes(&self.0)
        }

        fn restore(&mut self, data: &[u8]) -> Result<(), SnapshotError> {
            self.0 = labrpc::decode(data)?;
            Ok(())
        }
    }

    /// A one-replica group that has applied one op (the counter is 5).
    async fn one_replica() -> Rsm<Counter> {
        let net = labrpc::Network::new();
        let end = net.make_end("rsm-0-to-0");
        let rsm = Rsm::start(vec![end], 0, Persister::new(), None, Counter(0)).unwrap();
        loop {
            match rsm.submit(5).await {
                Ok(out) => {
                    assert_eq!(out, 5);
                    return rsm;
                }
                Err(ServiceError::WrongLeader) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("submit failed: {e}"),
            }
        }
    }

    /// Hands the replica a snapshot as Raft does after an InstallSnapshot,
    /// and checks it stopped for exactly that snapshot, state untouched.
    async fn feed_bad_snapshot(data: Vec<u8>) -> SnapshotError {
        let rsm = one_replica().await;
        assert_eq!(rsm.failure(), None);
        let index = 100;
        rsm.inner.apply(ApplyMsg::Snapshot {
            index,
            term: 1,
            data,
        });
        let error = match rsm.failure() {
            Some(Error::SnapshotFromRaft {
                replica: 0,
                index: at,
                error,
            }) if at == index => error,
            other => panic!("expected SnapshotFromRaft at {index}, got {other:?}"),
        };
        assert!(rsm.is_killed(), "a replica that cannot restore must stop");
        assert_eq!(rsm.submit(1).await, Err(ServiceError::Killed));
        rsm.stopped().await;
        assert_eq!(rsm.live_tasks(), 0);
        assert_eq!(rsm.with_state(|c| c.0), 5, "the state must be unchanged");
        error
    }

    #[test]
    fn a_snapshot_from_raft_that_does_not_decode_stops_the_replica() {
        let error = labrpc::sim::Sim::new()
            .seed(1)
            .run(|| feed_bad_snapshot(vec![0xff, 0xff, 0xff]));
        assert!(matches!(error, SnapshotError::Decode(_)), "{error}");
    }

    #[test]
    fn a_snapshot_from_raft_the_state_machine_refuses_stops_the_replica() {
        // A well-formed header around state bytes the counter cannot read.
        let data = labrpc::to_bytes(&SnapshotHeader {
            last_applied: 100,
            state: vec![0xff; 12],
        });
        let error = labrpc::sim::Sim::new()
            .seed(2)
            .run(move || feed_bad_snapshot(data));
        assert!(matches!(error, SnapshotError::Decode(_)), "{error}");
    }

    #[test]
    fn the_snapshot_header_writes_the_state_as_one_block() {
        // Same bytes as the per-byte sequence it replaces: old snapshots
        // still read.
        #[derive(Serialize)]
        struct Plain {
            last_applied: u64,
            state: Vec<u8>,
        }
        let state: Vec<u8> = (0..=255).collect();
        let header = SnapshotHeader {
            last_applied: 7,
            state: state.clone(),
        };
        let plain = Plain {
            last_applied: 7,
            state,
        };
        assert_eq!(labrpc::to_bytes(&header), labrpc::to_bytes(&plain));
    }
}
