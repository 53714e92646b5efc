//! A group replica: the `ShardKV` labrpc service over a [`Rsm`] running the
//! [`ShardStateMachine`], plus the background tasks that poll the
//! controller and move shards (`migration.rs`).

use labrpc::{ClientEnd, Reply, Service, ServiceError};
use raft::Persister;
use rsm::{RaftHandle, Rsm};
use shardctrler::{Gid, NSHARDS};

use crate::clerk::Ends;
use crate::messages::{
    BadRequest, ClientOp, ClientReply, DeleteArgs, DeleteShard, Get, PullShard, PutAppend, ShardOp,
};
use crate::state_machine::ShardStateMachine;
use crate::{Error, MakeEnd};

/// One replica of one group. Cheap to clone.
#[derive(Clone)]
pub struct ShardKv {
    pub(crate) rsm: Rsm<ShardStateMachine>,
    /// Ends to other groups' servers, by name.
    pub(crate) ends: Ends,
    /// A child of the replica's shutdown tree ([`Rsm::shutdown`]): the
    /// shard movers are spawned on it and select on it; `kill` triggers it
    /// from the root.
    pub(crate) shutdown: labrpc::Shutdown,
}

impl ShardKv {
    /// Starts a replica and its background tasks; returns at once.
    /// `servers[i]` reaches replica `i` of this group, `ctrlers` the shard
    /// controllers, and `make_end(name)` any server by name.
    ///
    /// # Errors
    /// If the persisted state is corrupt.
    #[allow(clippy::too_many_arguments)] // the reference's StartServer signature
    pub fn start(
        servers: Vec<ClientEnd>,
        me: usize,
        persister: Persister,
        max_raft_state: Option<usize>,
        gid: Gid,
        ctrlers: Vec<ClientEnd>,
        make_end: MakeEnd,
    ) -> Result<ShardKv, Error> {
        let rsm = Rsm::start(
            servers,
            me,
            persister,
            max_raft_state,
            ShardStateMachine::new(gid),
        )?;
        let shutdown = rsm.shutdown().child();
        let kv = ShardKv {
            rsm,
            ends: Ends::new(make_end),
            shutdown: shutdown.clone(),
        };
        shutdown.spawn(crate::migration::poll_config(
            kv.clone(),
            shardctrler::Clerk::new(ctrlers),
        ));
        shutdown.spawn(crate::migration::pull_shards(kv.clone()));
        shutdown.spawn(crate::migration::collect_garbage(kv.clone()));
        Ok(kv)
    }

    /// The `ShardKV` labrpc service: clerk requests and shard migration.
    pub fn service(&self) -> Service {
        let (g, p, pull, del) = (self.clone(), self.clone(), self.clone(), self.clone());
        Service::new("ShardKV")
            .handle::<Get, _, _>(move |op| g.clone().client(op))
            .handle::<PutAppend, _, _>(move |op| p.clone().client(op))
            .handle::<PullShard, _, _>(move |args| {
                // The previous owner's data is final once it has reached the
                // configuration (it stopped serving the shard there), so any
                // replica that has applied that far may answer.
                let reply = pull
                    .rsm
                    .with_state(|sm| sm.pull(args.config_num, args.shard));
                async move { reply }
            })
            .handle::<DeleteShard, _, _>(move |args| del.clone().delete(args))
    }

    /// This replica's Raft.
    pub fn raft(&self) -> &RaftHandle {
        self.rsm.raft()
    }

    /// Stops the replica, its Raft and its background tasks (one
    /// shutdown tree); returns at once.
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

    pub(crate) fn is_leader(&self) -> bool {
        !self.shutdown.is_triggered() && self.rsm.raft().is_leader()
    }

    async fn client(self, op: ClientOp) -> ClientReply {
        match self.rsm.submit(ShardOp::Client(op)).await {
            Ok(reply) => reply,
            Err(e) => Err(e.widen()),
        }
    }

    async fn delete(self, args: DeleteArgs) -> Reply<(), BadRequest> {
        if args.shard >= NSHARDS {
            // Malformed: refuse before it reaches the log.
            return Err(ServiceError::Rejected(BadRequest::ShardOutOfRange(
                args.shard,
            )));
        }
        if self
            .rsm
            .with_state(|sm| sm.delete_done(args.config_num, args.shard))
        {
            return Ok(());
        }
        let op = ShardOp::Delete {
            config_num: args.config_num,
            shard: args.shard,
        };
        match self.rsm.submit(op).await {
            Ok(_)
                if self
                    .rsm
                    .with_state(|sm| sm.delete_done(args.config_num, args.shard)) =>
            {
                Ok(())
            }
            Ok(_) => Err(ServiceError::NotReady),
            Err(e) => Err(e.widen()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use labrpc::{Network, Server, sim};

    use super::*;
    use crate::NSHARDS;
    use crate::messages::PullArgs;

    /// A one-replica group (gid 100) on `net`, served as "kv-0"; its
    /// controller end leads nowhere, so it stays in configuration 0.
    fn one_replica(net: &Network) -> ShardKv {
        let own = net.make_end("kv-0-to-self");
        net.connect("kv-0-to-self", "kv-0");
        net.enable("kv-0-to-self", true);
        let ctrler = net.make_end("kv-0-to-ctrler");
        let make_end: MakeEnd = {
            let net = net.clone();
            Arc::new(move |server: &str| net.make_end(format!("kv-0-to-{server}")))
        };
        let kv = ShardKv::start(
            vec![own],
            0,
            Persister::new(),
            None,
            100,
            vec![ctrler],
            make_end,
        )
        .expect("a fresh replica starts");
        let server = Server::new();
        server.add_service(kv.service());
        server.add_service(kv.raft().service());
        net.add_server("kv-0", server);
        kv
    }

    /// PullShard and DeleteShard naming a shard out of range are rejected,
    /// without a panic and without touching the group's state.
    #[test]
    fn rpcs_with_a_shard_out_of_range_get_bad_request_5b() {
        sim::run(|| async {
            let net = Network::new();
            let kv = one_replica(&net);
            tokio::time::sleep(Duration::from_secs(2)).await; // elected
            assert!(kv.is_leader());
            let end = net.make_end("tester");
            net.connect("tester", "kv-0");
            net.enable("tester", true);
            let before = kv.rsm.with_state(|sm| sm.clone());
            for shard in [NSHARDS, NSHARDS + 7, usize::MAX] {
                let pull = end
                    .call::<PullShard>(&PullArgs {
                        config_num: 0,
                        shard,
                    })
                    .await
                    .expect("reliable network");
                let bad = ServiceError::Rejected(BadRequest::ShardOutOfRange(shard));
                assert_eq!(pull, Err(bad));
                let delete = end
                    .call::<DeleteShard>(&DeleteArgs {
                        config_num: 5,
                        shard,
                    })
                    .await
                    .expect("reliable network");
                assert_eq!(delete, Err(bad));
            }
            assert_eq!(kv.rsm.with_state(|sm| sm.clone()), before);
            // A well-formed pull of a shard this group does not hold.
            let pull = end
                .call::<PullShard>(&PullArgs {
                    config_num: 0,
                    shard: 3,
                })
                .await
                .expect("reliable network");
            assert_eq!(pull, Err(ServiceError::WrongGroup));
            kv.kill();
            net.cleanup();
        });
    }
}
