//! The replicated key/value server: a labrpc service in front of Raft.
//!
//! A request becomes an [`Op`] proposed to Raft; the handler then waits for
//! that log index to be applied. The applier task applies every committed op
//! to the [`KvStateMachine`] in log order and hands each waiting handler its
//! result — or tells it the index was taken by a different op (leadership was
//! lost), so its clerk retries elsewhere. When the persisted Raft state nears
//! `max_raft_state`, the applier snapshots the state machine.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use labrpc::{ClientEnd, Service};
use raft::{ApplyMsg, Persister, Raft};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use crate::Error;
use crate::messages::{
    Append, Get, GetArgs, GetReply, Op, OpKind, Put, PutAppendArgs, PutAppendReply, Status,
};
use crate::state_machine::{KvStateMachine, OpResult};

/// How often a waiting handler checks that its leader still holds the term.
const LEADERSHIP_CHECK: Duration = Duration::from_millis(50);
/// A handler gives up after this long (the clerk retries, safely, because
/// writes are deduplicated) so a clerk is never stuck on a partitioned leader.
const HANDLER_TIMEOUT: Duration = Duration::from_millis(800);
/// Capacity of the apply channel: deep enough that Raft rarely waits for us.
const APPLY_CHANNEL: usize = 64;

/// One key/value replica. Cheap to clone.
#[derive(Clone)]
pub struct KvServer {
    inner: Arc<Inner>,
}

struct Inner {
    me: usize,
    rf: Raft<Op>,
    persister: Persister,
    /// Snapshot when the persisted Raft state reaches this many bytes.
    max_raft_state: Option<usize>,
    state: Mutex<Applied>,
    dead: AtomicBool,
    shutdown: watch::Sender<bool>,
}

struct Applied {
    sm: KvStateMachine,
    /// Highest log index applied to `sm`.
    last_applied: u64,
    /// Handlers waiting for an index, with the op they proposed there.
    waiters: BTreeMap<u64, Waiter>,
}

struct Waiter {
    client_id: u64,
    seq: u64,
    /// `None`: a different op took the index; retry elsewhere.
    reply: oneshot::Sender<Option<OpResult>>,
}

/// What a snapshot holds.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    last_applied: u64,
    sm: KvStateMachine,
}

impl KvServer {
    /// Starts a replica and returns at once. `servers[i]` reaches replica
    /// `i`'s Raft; `max_raft_state` bounds the persisted Raft state in bytes
    /// (`None`: never snapshot).
    ///
    /// # Errors
    /// If the persisted snapshot or Raft state is corrupt.
    pub fn start(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        max_raft_state: Option<usize>,
    ) -> Result<KvServer, Error> {
        let (sm, last_applied) = match decode_snapshot(&persister.read_snapshot())? {
            Some(s) => (s.sm, s.last_applied),
            None => (KvStateMachine::default(), 0),
        };
        let (apply_tx, apply_rx) = mpsc::channel(APPLY_CHANNEL);
        let rf = Raft::make(servers, me, persister.clone(), apply_tx)?;
        let inner = Arc::new(Inner {
            me,
            rf,
            persister,
            max_raft_state,
            state: Mutex::new(Applied {
                sm,
                last_applied,
                waiters: BTreeMap::new(),
            }),
            dead: AtomicBool::new(false),
            shutdown: watch::Sender::new(false),
        });
        tokio::spawn(applier(inner.clone(), apply_rx));
        Ok(KvServer { inner })
    }

    /// The `KVServer` labrpc service.
    pub fn service(&self) -> Service {
        let (g, p, a) = (self.inner.clone(), self.inner.clone(), self.inner.clone());
        Service::new("KVServer")
            .handle::<Get, _, _>(move |args: GetArgs| {
                let inner = g.clone();
                async move {
                    let op = Op {
                        client_id: args.client_id,
                        seq: args.seq,
                        kind: OpKind::Get { key: args.key },
                    };
                    match inner.execute(op).await {
                        Some(r) => GetReply {
                            status: r.status,
                            value: r.value,
                        },
                        None => GetReply {
                            status: Status::WrongLeader,
                            value: String::new(),
                        },
                    }
                }
            })
            .handle::<Put, _, _>(move |args: PutAppendArgs| {
                let inner = p.clone();
                async move {
                    let kind = OpKind::Put {
                        key: args.key,
                        value: args.value,
                    };
                    inner.write(args.client_id, args.seq, kind).await
                }
            })
            .handle::<Append, _, _>(move |args: PutAppendArgs| {
                let inner = a.clone();
                async move {
                    let kind = OpKind::Append {
                        key: args.key,
                        value: args.value,
                    };
                    inner.write(args.client_id, args.seq, kind).await
                }
            })
    }

    /// This replica's Raft (the tester asks it for term and leadership).
    pub fn raft(&self) -> &Raft<Op> {
        &self.inner.rf
    }

    /// Stops the replica and its Raft.
    pub fn kill(&self) {
        self.inner.dead.store(true, Ordering::SeqCst);
        self.inner.rf.kill();
        self.inner.shutdown.send_replace(true);
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Applied> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn write(&self, client_id: u64, seq: u64, kind: OpKind) -> PutAppendReply {
        let op = Op {
            client_id,
            seq,
            kind,
        };
        let status = match self.execute(op).await {
            Some(r) => r.status,
            None => Status::WrongLeader,
        };
        PutAppendReply { status }
    }

    /// Replicates `op` and waits for its result; `None` if this replica is
    /// not (or stops being) the leader before the op is applied.
    async fn execute(&self, op: Op) -> Option<OpResult> {
        if self.dead.load(Ordering::SeqCst) {
            return None;
        }
        let (client_id, seq) = (op.client_id, op.seq);
        let (index, term) = self.rf.start(op)?;
        let (tx, mut rx) = oneshot::channel();
        let waiter = Waiter {
            client_id,
            seq,
            reply: tx,
        };
        if let Some(old) = self.lock().waiters.insert(index, waiter) {
            let _ = old.reply.send(None);
        }
        let deadline = tokio::time::Instant::now() + HANDLER_TIMEOUT;
        loop {
            tokio::select! {
                biased;
                result = &mut rx => return result.ok().flatten(),
                _ = tokio::time::sleep(LEADERSHIP_CHECK) => {
                    let (now_term, leader) = self.rf.get_state();
                    let expired = tokio::time::Instant::now() >= deadline;
                    if now_term != term || !leader || expired || self.dead.load(Ordering::SeqCst) {
                        let mut state = self.lock();
                        if state.waiters.get(&index).is_some_and(|w| w.client_id == client_id && w.seq == seq) {
                            state.waiters.remove(&index);
                        }
                        return None;
                    }
                }
            }
        }
    }

    fn apply(&self, msg: ApplyMsg<Op>) {
        match msg {
            ApplyMsg::Command { index, command, .. } => {
                let snapshot = {
                    let mut state = self.lock();
                    if index <= state.last_applied {
                        return;
                    }
                    let result = state.sm.apply(&command);
                    state.last_applied = index;
                    if let Some(w) = state.waiters.remove(&index) {
                        let mine = w.client_id == command.client_id && w.seq == command.seq;
                        let _ = w.reply.send(mine.then_some(result));
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
                match decode_snapshot(&data) {
                    Ok(Some(s)) => {
                        state.sm = s.sm;
                        state.last_applied = index;
                        // Ops proposed at covered indices will never be
                        // applied here: their clerks must retry.
                        let covered: Vec<u64> =
                            state.waiters.range(..=index).map(|(i, _)| *i).collect();
                        for i in covered {
                            if let Some(w) = state.waiters.remove(&i) {
                                let _ = w.reply.send(None);
                            }
                        }
                    }
                    Ok(None) => {
                        tracing::error!(node = self.me, index, "empty snapshot from raft ignored")
                    }
                    Err(e) => {
                        tracing::error!(node = self.me, index, "snapshot from raft ignored: {e}")
                    }
                }
            }
        }
    }

    fn should_snapshot(&self) -> bool {
        self.max_raft_state
            .is_some_and(|max| self.persister.raft_state_size() >= max)
    }
}

fn encode_snapshot(state: &Applied) -> Vec<u8> {
    labrpc::encode(&SnapshotRef {
        last_applied: state.last_applied,
        sm: &state.sm,
    })
    .expect("the state machine always encodes")
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    last_applied: u64,
    sm: &'a KvStateMachine,
}

fn decode_snapshot(data: &[u8]) -> Result<Option<Snapshot>, Error> {
    if data.is_empty() {
        return Ok(None);
    }
    labrpc::decode(data)
        .map(Some)
        .map_err(Error::CorruptSnapshot)
}

async fn applier(inner: Arc<Inner>, mut apply_rx: mpsc::Receiver<ApplyMsg<Op>>) {
    let mut shutdown = inner.shutdown.subscribe();
    loop {
        let msg = tokio::select! {
            biased;
            _ = shutdown.wait_for(|dead| *dead) => return,
            msg = apply_rx.recv() => match msg {
                Some(msg) => msg,
                None => return,
            },
        };
        inner.apply(msg);
    }
}
