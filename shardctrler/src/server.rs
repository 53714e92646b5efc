//! The controller replica: the `ShardCtrler` labrpc service over a [`Rsm`].

use labrpc::{ClientEnd, Reply, Service, ServiceError};
use raft::Persister;
use rsm::{RaftHandle, Rsm};

use crate::Error;
use crate::messages::{CtrlerError, CtrlerOp, Join, Leave, Move, Query};
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
                        Ok(Ok(Some(config))) => Ok(config),
                        // Never: a Query always yields its configuration.
                        // Answered as a refusal to retry, not a panic.
                        Ok(_) => Err(ServiceError::WrongLeader),
                        Err(e) => Err(e),
                    }
                }
            })
    }

    /// This replica's Raft.
    pub fn raft(&self) -> &RaftHandle {
        self.rsm.raft()
    }

    /// Stops the replica and every task of it (one shutdown tree,
    /// [`rsm::Rsm::shutdown`]).
    pub fn kill(&self) {
        self.rsm.kill();
    }

    /// Why the replica stopped by itself, if it did ([`rsm::Rsm::failure`]:
    /// a committed op or a snapshot it cannot apply; a bug or corruption).
    pub fn failure(&self) -> Option<rsm::Error> {
        self.rsm.failure()
    }
}

async fn change(rsm: Rsm<CtrlerStateMachine>, op: CtrlerOp) -> Reply<(), CtrlerError> {
    match rsm.submit(op).await {
        Ok(outcome) => outcome.map(drop).map_err(ServiceError::Rejected),
        Err(e) => Err(e.widen()),
    }
}
