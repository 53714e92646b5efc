//! The controller replica: the `ShardCtrler` labrpc service over a [`Rsm`].

use labrpc::{ClientEnd, Service};
use raft::Persister;
use rsm::{RaftHandle, Rsm};

use crate::Error;
use crate::messages::{ChangeReply, CtrlerOp, Join, Leave, Move, Query, QueryReply, Status};
use crate::state_machine::CtrlerStateMachine;

/// One controller replica. Cheap to clone.
#[derive(Clone)]
pub struct ShardCtrler {
    rsm: Rsm<CtrlerStateMachine>,
}

impl ShardCtrler {
    /// Starts a replica and returns at once. The controller's state is
    /// small, so it never snapshots.
    ///
    /// # Errors
    /// If the persisted state is corrupt.
    pub fn start(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
    ) -> Result<ShardCtrler, Error> {
        let rsm = Rsm::start(servers, me, persister, None, CtrlerStateMachine::default())?;
        Ok(ShardCtrler { rsm })
    }

    /// The `ShardCtrler` labrpc service.
    pub fn service(&self) -> Service {
        let (j, l, m, q) = (
            self.rsm.clone(),
            self.rsm.clone(),
            self.rsm.clone(),
            self.rsm.clone(),
        );
        Service::new("ShardCtrler")
            .handle::<Join, _, _>(move |args| change(j.clone(), CtrlerOp::Join(args)))
            .handle::<Leave, _, _>(move |args| change(l.clone(), CtrlerOp::Leave(args)))
            .handle::<Move, _, _>(move |args| change(m.clone(), CtrlerOp::Move(args)))
            .handle::<Query, _, _>(move |args| {
                let rsm = q.clone();
                async move {
                    match rsm.submit(CtrlerOp::Query(args)).await {
                        Ok(Ok(Some(config))) => QueryReply {
                            status: Status::Ok,
                            config,
                        },
                        _ => QueryReply {
                            status: Status::WrongLeader,
                            config: Default::default(),
                        },
                    }
                }
            })
    }

    /// This replica's Raft.
    pub fn raft(&self) -> &RaftHandle {
        self.rsm.raft()
    }

    /// Stops the replica.
    pub fn kill(&self) {
        self.rsm.kill();
    }
}

async fn change(rsm: Rsm<CtrlerStateMachine>, op: CtrlerOp) -> ChangeReply {
    let status = match rsm.submit(op).await {
        Ok(Ok(_)) => Status::Ok,
        Ok(Err(e)) => Status::Rejected(e),
        Err(_) => Status::WrongLeader,
    };
    ChangeReply { status }
}
