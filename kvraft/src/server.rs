//! The replicated key/value server: the labrpc `KVServer` service in front
//! of a [`Rsm`] running the [`KvStateMachine`].

use labrpc::{ClientEnd, Reply, Service, Shutdown};
use raft::Persister;
use rsm::{RaftHandle, Rsm, SnapshotError, StateMachine};

use crate::Error;
use crate::messages::{Append, Get, GetArgs, Op, OpKind, Put, PutAppendArgs};
use crate::state_machine::KvStateMachine;

impl StateMachine for KvStateMachine {
    type Op = Op;
    type Output = String;

    fn apply(&mut self, op: &Op) -> String {
        KvStateMachine::apply(self, op)
    }

    fn snapshot(&self) -> Vec<u8> {
        labrpc::to_bytes(self)
    }

    fn restore(&mut self, data: &[u8]) -> Result<(), SnapshotError> {
        *self = labrpc::decode(data)?;
        Ok(())
    }
}

/// One key/value replica. Cheap to clone.
#[derive(Clone)]
pub struct KvServer {
    rsm: Rsm<KvStateMachine>,
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
        let rsm = Rsm::start(
            servers,
            me,
            persister,
            max_raft_state,
            KvStateMachine::default(),
        )?;
        Ok(KvServer { rsm })
    }

    /// The `KVServer` labrpc service.
    pub fn service(&self) -> Service {
        let (g, p, a) = (self.rsm.clone(), self.rsm.clone(), self.rsm.clone());
        Service::new("KVServer")
            .handle::<Get, _, _>(move |args: GetArgs| {
                let rsm = g.clone();
                async move {
                    #[cfg(feature = "mutants")]
                    if labrpc::sim::mutant(MUTANT_LOCAL_GET) && rsm.raft().get_state().1 {
                        let value = rsm.with_state(|sm| sm.get(&args.key).map(str::to_string));
                        return Ok(value.unwrap_or_default());
                    }
                    let op = Op {
                        client_id: args.client_id,
                        seq: args.seq,
                        kind: OpKind::Get { key: args.key },
                    };
                    rsm.submit(op).await
                }
            })
            .handle::<Put, _, _>(move |args: PutAppendArgs| {
                let rsm = p.clone();
                async move {
                    let kind = OpKind::Put {
                        key: args.key,
                        value: args.value,
                    };
                    write(&rsm, args.client_id, args.seq, kind).await
                }
            })
            .handle::<Append, _, _>(move |args: PutAppendArgs| {
                let rsm = a.clone();
                async move {
                    let kind = OpKind::Append {
                        key: args.key,
                        value: args.value,
                    };
                    write(&rsm, args.client_id, args.seq, kind).await
                }
            })
    }

    /// This replica's Raft (the tester asks it for term and leadership).
    pub fn raft(&self) -> &RaftHandle {
        self.rsm.raft()
    }

    /// Stops the replica, its Raft and every task of theirs; returns at
    /// once (await [`KvServer::stopped`] for the tasks to end).
    pub fn kill(&self) {
        self.rsm.kill();
    }

    /// Why the replica stopped by itself, if it did ([`rsm::Rsm::failure`]:
    /// a committed op or a snapshot it cannot apply; a bug or corruption).
    pub fn failure(&self) -> Option<rsm::Error> {
        self.rsm.failure()
    }

    /// Completes once no task of this replica is left (after a kill).
    pub async fn stopped(&self) {
        self.rsm.stopped().await;
    }

    /// Tasks of this replica still running, Raft's included.
    pub fn live_tasks(&self) -> usize {
        self.rsm.live_tasks()
    }

    /// The root of this replica's shutdown tree: a task spawned on it (or
    /// a child) is stopped by [`KvServer::kill`] and counted in
    /// [`KvServer::live_tasks`].
    pub fn shutdown(&self) -> &Shutdown {
        self.rsm.shutdown()
    }
}

/// The mutant `kvraft-local-get` (tester only): with the feature `mutants`
/// and this mutant switched on, a replica that believes it leads answers a
/// Get from its own state without going through the log.
#[cfg(feature = "mutants")]
pub const MUTANT_LOCAL_GET: &str = "kvraft-local-get";

async fn write(rsm: &Rsm<KvStateMachine>, client_id: u64, seq: u64, kind: OpKind) -> Reply<()> {
    let op = Op {
        client_id,
        seq,
        kind,
    };
    rsm.submit(op).await.map(drop)
}
