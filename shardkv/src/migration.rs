//! The leader's background work: follow the controller's configurations,
//! pull gained shards from their previous owners, and let previous owners
//! delete what has arrived. Every step is an op in the group's log, so all
//! replicas move together; the tasks only decide when to propose them.

use std::time::Duration;

use futures::future::join_all;
use labrpc::{ClientEnd, Rpc};
use tokio::time::sleep;

use crate::messages::{DeleteArgs, DeleteShard, PullArgs, PullShard, ShardOp, Status};
use crate::server::ShardKv;

/// How often the leader asks the controller for the next configuration
/// (the lab asks for about every 100 ms).
pub const CONFIG_POLL: Duration = Duration::from_millis(100);
/// How often the leader retries pulling and deleting shards.
pub const MIGRATION_POLL: Duration = Duration::from_millis(50);

/// Sleeps, or returns false once the replica is killed.
async fn pause(kv: &ShardKv, period: Duration) -> bool {
    tokio::select! {
        biased;
        () = kv.shutdown.wait() => false,
        _ = sleep(period) => true,
    }
}

/// Proposes the next configuration whenever the group is stable.
pub(crate) async fn poll_config(kv: ShardKv, mut ctrler: shardctrler::Clerk) {
    // SOLUTION BEGIN 5B: follow the controller's configurations one at a time
    while pause(&kv, CONFIG_POLL).await {
        if !kv.is_leader() {
            continue;
        }
        let (stable, num) = kv.rsm.with_state(|sm| (sm.is_stable(), sm.config().num));
        if !stable {
            continue;
        }
        let next = tokio::select! {
            biased;
            () = kv.shutdown.wait() => return,
            config = ctrler.query(num as i64 + 1) => config,
        };
        if next.num == num + 1 {
            let _ = kv.rsm.submit(ShardOp::Reconfigure(next)).await;
        }
    }
    // SOLUTION END
}

/// Pulls every shard the group waits for, in parallel.
pub(crate) async fn pull_shards(kv: ShardKv) {
    // SOLUTION BEGIN 5B: pull gained shards from their previous owners
    while pause(&kv, MIGRATION_POLL).await {
        if !kv.is_leader() {
            continue;
        }
        let (num, wanted) = kv.rsm.with_state(|sm| (sm.config().num, sm.to_pull()));
        join_all(wanted.into_iter().map(|(shard, servers)| {
            let kv = kv.clone();
            async move {
                let args = PullArgs {
                    config_num: num,
                    shard,
                };
                let reply =
                    ask_group::<PullShard>(&kv, &servers, &args, |r| r.status == Status::Ok).await;
                if let Some(reply) = reply {
                    let op = ShardOp::Insert {
                        config_num: num,
                        shard,
                        data: reply.data,
                    };
                    let _ = kv.rsm.submit(op).await;
                }
            }
        }))
        .await;
    }
    // SOLUTION END
}

/// Tells previous owners to delete shards that have arrived here.
pub(crate) async fn collect_garbage(kv: ShardKv) {
    // SOLUTION BEGIN challenge 1: let previous owners delete shards that have arrived
    while pause(&kv, MIGRATION_POLL).await {
        if !kv.is_leader() {
            continue;
        }
        let (num, done) = kv.rsm.with_state(|sm| (sm.config().num, sm.to_gc()));
        join_all(done.into_iter().map(|(shard, servers)| {
            let kv = kv.clone();
            async move {
                let args = DeleteArgs {
                    config_num: num,
                    shard,
                };
                if ask_group::<DeleteShard>(&kv, &servers, &args, |r| r.status == Status::Ok)
                    .await
                    .is_some()
                {
                    let _ = kv
                        .rsm
                        .submit(ShardOp::GcDone {
                            config_num: num,
                            shard,
                        })
                        .await;
                }
            }
        }))
        .await;
    }
    // SOLUTION END
}

/// Tries each server of a group once; the first accepted reply wins.
async fn ask_group<R: Rpc>(
    kv: &ShardKv,
    servers: &[String],
    args: &R::Args,
    accept: impl Fn(&R::Reply) -> bool,
) -> Option<R::Reply> {
    for name in servers {
        if kv.rsm.is_killed() {
            return None;
        }
        let end: ClientEnd = kv.ends.get(name);
        if let Ok(reply) = end.call::<R>(args).await
            && accept(&reply)
        {
            return Some(reply);
        }
    }
    None
}
