//! A killed kvraft server leaves no task behind: every task of a replica
//! (Raft's ticker, applier and message senders, the state machine's applier
//! and no-op proposer) runs under one shutdown tree, and `kill` ends them
//! all.

use std::time::Duration;

use kvraft::{Clerk, KvServer};
use labrpc::{Network, Server, sim};
use raft::Persister;

const N: usize = 3;

/// Long enough for every killed task to end, in virtual time: a message
/// Raft sent before the kill runs its course (at most labrpc's longest
/// call, `LONG_TIMEOUT_MAX`, on a reliable network far less), every other
/// task ends at once.
const QUIET_WITHIN: Duration = labrpc::network::LONG_TIMEOUT_MAX;

/// Ends from `from` to each of "kv-0".."kv-2".
fn ends(net: &Network, from: &str) -> Vec<labrpc::ClientEnd> {
    (0..N)
        .map(|j| {
            let name = format!("{from}-to-{j}");
            let end = net.make_end(name.as_str());
            net.connect(&name, format!("kv-{j}"));
            net.enable(&name, true);
            end
        })
        .collect()
}

/// Three replicas "kv-0".."kv-2" on a reliable network.
fn cluster(net: &Network) -> Vec<KvServer> {
    let servers: Vec<KvServer> = (0..N)
        .map(|i| {
            KvServer::start(ends(net, &i.to_string()), i, Persister::new(), Some(1000))
                .expect("fresh start")
        })
        .collect();
    for (i, kv) in servers.iter().enumerate() {
        let server = Server::new();
        server.add_service(kv.service());
        server.add_service(kv.raft().service());
        net.add_server(format!("kv-{i}"), server);
    }
    servers
}

fn clerk(net: &Network) -> Clerk {
    Clerk::new(ends(net, "ck"))
}

/// `Ok` once no task of `kv` is left; otherwise how many still run.
async fn no_task_left(kv: &KvServer) -> Result<(), usize> {
    tokio::time::timeout(QUIET_WITHIN, kv.stopped())
        .await
        .map_err(|_| kv.live_tasks())
}

/// Busy replicas (a leader replicating and snapshotting, followers
/// applying), killed one by one: each is quiet soon after its kill, and
/// the others keep serving until they lose their majority.
#[test]
fn a_killed_kvraft_server_has_no_task_left() {
    sim::run(|| async {
        let net = Network::new();
        let servers = cluster(&net);
        let mut ck = clerk(&net);
        for i in 0..50 {
            ck.append("k", &format!("x{i}")).await;
        }
        for kv in &servers {
            assert!(kv.live_tasks() >= 4, "a live replica runs its tasks");
        }
        servers[0].kill();
        assert_eq!(no_task_left(&servers[0]).await, Ok(()));
        ck.put("k", "after").await;
        assert_eq!(ck.get("k").await, "after");
        for kv in &servers[1..] {
            kv.kill();
            assert_eq!(no_task_left(kv).await, Ok(()));
        }
        net.cleanup();
    });
}

/// The check catches a task that ignores the kill: spawned on the
/// replica's shutdown tree, it is still counted after the kill.
#[test]
fn a_task_that_ignores_the_kill_is_caught() {
    sim::run(|| async {
        let net = Network::new();
        let servers = cluster(&net);
        let mut ck = clerk(&net);
        ck.put("k", "v").await;
        servers[1].shutdown().child().spawn(async {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        for kv in &servers {
            kv.kill();
        }
        assert_eq!(no_task_left(&servers[0]).await, Ok(()));
        assert_eq!(no_task_left(&servers[1]).await, Err(1));
        net.cleanup();
    });
}
