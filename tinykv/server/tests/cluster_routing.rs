//! What a client is told by a cluster started as `tinykv-cluster --faults`
//! starts it (three stores dialling each other through the fault proxies,
//! a scheduler): a follower's region error names the leader at the address
//! the client dials, not at the proxy the follower dials; and every store
//! hands out the scheduler's timestamps, so timestamps taken from the
//! stores in turn strictly increase.

mod common;

use std::time::{Duration, Instant};

use tinykv_server::cluster_client::leader_hint;
use tinykv_server::{ClusterClient, Connection};
use tinykv_storage::raw::{RawGetRequest, RawPutRequest};
use tinykv_storage::service::{RawGet, RawPut};
use tinykv_txn::service::GetTimestamp;

fn get_request(key: &[u8]) -> RawGetRequest {
    RawGetRequest {
        key: key.to_vec(),
        cf: "default".into(),
        ..Default::default()
    }
}

#[test]
fn hints_name_client_addresses_and_every_store_serves_one_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = common::proxied_cluster(dir.path());
    let endpoints = cluster.endpoints();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // A write through the routing client: a leader exists.
        let client = ClusterClient::new(&endpoints, 0).unwrap();
        let put = RawPutRequest {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            cf: "default".into(),
            ..Default::default()
        };
        let reply = client.call::<RawPut>(&put).await.unwrap();
        assert!(reply.error.is_empty(), "{reply:?}");

        // Each store in turn: the leader answers, a follower names it.
        let give_up = Instant::now() + Duration::from_secs(20);
        let mut leaders = Vec::new();
        let mut hints = Vec::new();
        while hints.len() < 2 {
            assert!(
                Instant::now() < give_up,
                "no leader and two hints within 20 s: leaders {leaders:?}, hints {hints:?}"
            );
            leaders.clear();
            hints.clear();
            for id in cluster.ids() {
                let addr = cluster.addr(id).unwrap().to_string();
                let conn = Connection::connect(&addr).await.unwrap();
                let reply = conn.call::<RawGet>(&get_request(b"k")).await.unwrap();
                match reply.region_error {
                    None => leaders.push(id),
                    Some(text) => {
                        if let Some((leader, at)) = leader_hint(&text) {
                            hints.push((id, leader, at.to_string()));
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(leaders.len(), 1, "leaders {leaders:?}, hints {hints:?}");
        let leader = leaders[0];
        let leader_addr = cluster.addr(leader).unwrap().to_string();
        for (follower, named, at) in &hints {
            assert_eq!(
                (*named, at.as_str()),
                (leader, leader_addr.as_str()),
                "store {follower} named store {named} at {at}; the leader is store {leader} at \
                 {leader_addr} (endpoints {endpoints:?})"
            );
        }

        // Timestamps from the stores in turn: one oracle, strictly rising.
        let mut conns = Vec::new();
        for addr in &endpoints {
            conns.push(Connection::connect(addr).await.unwrap());
        }
        let mut last = 0u64;
        for i in 0..300 {
            let conn = &conns[i % conns.len()];
            let ts = conn
                .call::<GetTimestamp>(&1)
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("{}: {e}", endpoints[i % conns.len()]));
            assert!(
                ts > last,
                "call {i}: {} handed out {ts} after {last}",
                endpoints[i % conns.len()]
            );
            last = ts;
        }
    });
}
