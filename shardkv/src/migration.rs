//! The leader's background work: follow the controller's configurations,
//! pull gained shards from their previous owners, and let previous owners
//! delete what has arrived. Every step is an op in the group's log, so all
//! replicas move together; the tasks only decide when to propose them.

use std::time::Duration;

use futures::future::join_all;
use labrpc::{ClientEnd, Rpc};
use tokio::time::sleep;

use crate::clerk::Ends;
use crate::messages::{
    DeleteArgs, DeleteShard, PullArgs, PullShard, PulledShard, ShardData, ShardOp,
};
use crate::server::ShardKv;
use crate::{Error, NSHARDS, key2shard};

/// How often the leader asks the controller for the next configuration
/// (the lab asks for about every 100 ms).
pub const CONFIG_POLL: Duration = Duration::from_millis(100);
/// How often the leader retries pulling and deleting shards.
pub const MIGRATION_POLL: Duration = Duration::from_millis(50);

/// Waits until this replica leads, then sleeps `period`; false once the
/// replica is killed. A follower waits on Raft's state-change notification
/// instead of waking every period to ask whether it leads.
async fn pause(kv: &ShardKv, period: Duration) -> bool {
    loop {
        let changed = kv.rsm.raft().state_changed();
        if kv.shutdown.is_triggered() {
            return false;
        }
        if kv.is_leader() {
            break;
        }
        tokio::select! {
            biased;
            () = kv.shutdown.wait() => return false,
            () = changed => {}
        }
    }
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
                let is_killed = || kv.shutdown.is_triggered();
                let Some(data) = fetch_shard(&kv.ends, is_killed, &servers, num, shard).await
                else {
                    return;
                };
                // The group may have moved on while the pull was in flight:
                // propose only data that still fits (apply checks again).
                if let Err(e) = kv.rsm.with_state(|sm| sm.check_insert(num, shard, &data)) {
                    tracing::debug!("pulled shard not proposed: {e}");
                    return;
                }
                let op = ShardOp::Insert {
                    config_num: num,
                    shard,
                    data,
                };
                let _ = kv.rsm.submit(op).await;
            }
        }))
        .await;
    }
    // SOLUTION END
}

/// Asks the servers of `shard`'s previous owner for its data as of
/// configuration `config_num`; returns the first data that answers this
/// very request. A reply that does not decode, answers another shard or
/// configuration, or carries keys of another shard is dropped (the next
/// server is tried), so it never reaches the log.
pub(crate) async fn fetch_shard(
    ends: &Ends,
    is_killed: impl Fn() -> bool,
    servers: &[String],
    config_num: u64,
    shard: usize,
) -> Option<ShardData> {
    let args = PullArgs { config_num, shard };
    let accept = |r: &Result<PulledShard, _>| {
        r.as_ref().is_ok_and(|pulled| {
            check_pull_reply(&args, pulled)
                .inspect_err(|e| tracing::warn!("malformed pull reply dropped: {e}"))
                .is_ok()
        })
    };
    match ask_servers::<PullShard>(ends, is_killed, servers, &args, accept).await {
        Some(Ok(pulled)) => Some(pulled.data),
        _ => None,
    }
}

/// Checks that `reply` answers `args` and that its data belongs to the
/// shard asked for.
///
/// # Errors
/// Why the reply does not fit.
pub(crate) fn check_pull_reply(args: &PullArgs, reply: &PulledShard) -> Result<(), Error> {
    if args.shard >= NSHARDS {
        return Err(Error::ShardOutOfRange(args.shard));
    }
    if reply.config_num != args.config_num || reply.shard != args.shard {
        return Err(Error::MismatchedReply {
            shard: args.shard,
            config_num: args.config_num,
            got_shard: reply.shard,
            got_config: reply.config_num,
        });
    }
    if let Some(key) = reply.data.kv.keys().find(|k| key2shard(k) != args.shard) {
        return Err(Error::ForeignKey {
            shard: args.shard,
            key: key.clone(),
        });
    }
    Ok(())
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
                if ask_group::<DeleteShard>(&kv, &servers, &args, Result::is_ok)
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
    ask_servers::<R>(
        &kv.ends,
        || kv.shutdown.is_triggered(),
        servers,
        args,
        accept,
    )
    .await
}

/// Tries each of `servers` once, until `is_killed`; the first reply that
/// decodes and is accepted wins.
async fn ask_servers<R: Rpc>(
    ends: &Ends,
    is_killed: impl Fn() -> bool,
    servers: &[String],
    args: &R::Args,
    accept: impl Fn(&R::Reply) -> bool,
) -> Option<R::Reply> {
    for name in servers {
        if is_killed() {
            return None;
        }
        let end: ClientEnd = ends.get(name);
        match end.call::<R>(args).await {
            Ok(reply) if accept(&reply) => return Some(reply),
            Ok(_) => {}
            Err(e) if !e.is_disconnected() => tracing::warn!("{e}"),
            Err(_) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use labrpc::{Network, Server, Service, sim};

    use super::*;

    /// A `PullShard` lookalike whose reply is not a pull reply at all.
    mod garbage {
        labrpc::rpc!(
            /// Same method name, a reply that cannot decode as a pull reply.
            pub BadPull = "ShardKV.PullShard": crate::messages::PullArgs => ()
        );
    }

    fn args() -> PullArgs {
        PullArgs {
            config_num: 4,
            shard: 0,
        }
    }

    /// A correct answer to [`args`]: key "2" is in shard 0.
    fn good_reply() -> PulledShard {
        PulledShard {
            config_num: 4,
            shard: 0,
            data: ShardData {
                kv: BTreeMap::from([("2".to_string(), "x".to_string())]),
                last_write: BTreeMap::from([(1, 1)]),
            },
        }
    }

    #[test]
    fn pull_replies_that_do_not_answer_the_request_are_refused_5b() {
        assert_eq!(check_pull_reply(&args(), &good_reply()), Ok(()));
        let mut other_config = good_reply();
        other_config.config_num = 3;
        let mut other_shard = good_reply();
        other_shard.shard = 1;
        for bad in [other_config, other_shard] {
            assert!(
                matches!(
                    check_pull_reply(&args(), &bad),
                    Err(Error::MismatchedReply { .. })
                ),
                "{bad:?}"
            );
        }
        let mut foreign = good_reply();
        foreign.data.kv.insert("3".into(), "evil".into());
        assert_eq!(
            check_pull_reply(&args(), &foreign),
            Err(Error::ForeignKey {
                shard: 0,
                key: "3".into()
            })
        );
        let out_of_range = PullArgs {
            config_num: 4,
            shard: NSHARDS,
        };
        let mut reply = good_reply();
        reply.shard = NSHARDS;
        reply.data.kv.clear();
        assert_eq!(
            check_pull_reply(&out_of_range, &reply),
            Err(Error::ShardOutOfRange(NSHARDS))
        );
    }

    /// Registers a fake `ShardKV` server called `name` on `net`.
    fn fake(net: &Network, name: &str, service: Service) {
        let server = Server::new();
        server.add_service(service);
        net.add_server(name, server);
    }

    /// A fake previous owner that always gives `reply`.
    fn replying(reply: PulledShard) -> Service {
        Service::new("ShardKV").handle::<PullShard, _, _>(move |_| {
            let reply = reply.clone();
            async move { Ok::<_, labrpc::ServiceError<crate::BadRequest>>(reply) }
        })
    }

    /// Malformed replies (bytes that do not decode, another configuration,
    /// another shard, keys of another shard) are all dropped: with only
    /// such servers nothing is fetched, so nothing could be proposed; a
    /// fitting reply after them is taken.
    #[test]
    fn fetch_shard_drops_malformed_replies_5b() {
        sim::run(|| async {
            let net = Network::new();
            fake(
                &net,
                "undecodable",
                Service::new("ShardKV").handle::<garbage::BadPull, _, _>(|_| async {}),
            );
            let mut r = good_reply();
            r.config_num = 3;
            fake(&net, "other-config", replying(r));
            let mut r = good_reply();
            r.shard = 1;
            fake(&net, "other-shard", replying(r));
            let mut r = good_reply();
            r.data.kv.insert("3".into(), "evil".into());
            fake(&net, "foreign-key", replying(r));
            fake(&net, "good", replying(good_reply()));

            let make_end: crate::MakeEnd = {
                let net = net.clone();
                Arc::new(move |server: &str| {
                    let name = format!("to-{server}");
                    let end = net.make_end(name.as_str());
                    net.connect(&name, server);
                    net.enable(&name, true);
                    end
                })
            };
            let ends = Ends::new(make_end);
            let mut servers: Vec<String> =
                ["undecodable", "other-config", "other-shard", "foreign-key"]
                    .map(String::from)
                    .to_vec();
            let got = fetch_shard(&ends, || false, &servers, 4, 0).await;
            assert_eq!(got, None, "a malformed reply was accepted");
            servers.push("good".into());
            let got = fetch_shard(&ends, || false, &servers, 4, 0).await;
            assert_eq!(got, Some(good_reply().data));
            net.cleanup();
        });
    }
}
