//! The replicated key/value server: the labrpc `KVServer` service in front
//! of a [`Rsm`] running the [`KvStateMachine`].

use labrpc::{ClientEnd, Service};
use raft::Persister;
use rsm::{RaftHandle, Rsm, StateMachine};

use crate::Error;
use crate::messages::{
    Append, Get, GetArgs, GetReply, Op, OpKind, Put, PutAppendArgs, PutAppendReply, Status,
};
use crate::state_machine::{KvStateMachine, OpResult};

impl StateMachine for KvStateMachine {
    type Op = Op;
    type Output = OpResult;

    fn apply(&mut self, op: &Op) -> OpResult {
        KvStateMachine::apply(self, op)
    }

    fn snapshot(&self) -> Vec<u8> {
        labrpc::encode(self).expect("the key/value state always encodes")
    }

    fn restore(&mut self, data: &[u8]) -> Result<(), String> {
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
                    let op = Op {
                        client_id: args.client_id,
                        seq: args.seq,
                        kind: OpKind::Get { key: args.key },
                    };
                    match rsm.submit(op).await {
                        Ok(r) => GetReply {
                            status: r.status,
                            value: r.value,
                        },
                        Err(_) => GetReply {
                            status: Status::WrongLeader,
                            value: String::new(),
                        },
                    }
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

    /// Stops the replica and its Raft.
    pub fn kill(&self) {
        self.rsm.kill();
    }
}

async fn write(
    rsm: &Rsm<KvStateMachine>,
    client_id: u64,
    seq: u64,
    kind: OpKind,
) -> PutAppendReply {
    let op = Op {
        client_id,
        seq,
        kind,
    };
    let status = match rsm.submit(op).await {
        Ok(r) => r.status,
        Err(_) => Status::WrongLeader,
    };
    PutAppendReply { status }
}
