//! Three `tinykv-server --store raft` processes on loopback: writes through
//! `tinykv-ctl` and the routing client, the leader killed with `kill -9`,
//! writes going on with the other two, the killed store restarted from its
//! data directory, and every acknowledged write read back — the last time
//! with another store down, so the restarted one must have recovered its
//! log and caught up for the cluster to answer at all; and all three
//! stores killed at once under load.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{ServerProc, ctl, free_addrs, runtime, stderr, stdout};
use tinykv_server::{ClusterClient, Connection};
use tinykv_storage::raw::{RawGetRequest, RawPutRequest, RawScanRequest};
use tinykv_storage::service::{RawGet, RawPut, RawScan};

fn start_store(id: usize, addrs: &[String], dir: &Path) -> ServerProc {
    let cluster: Vec<String> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{}={a}", i + 1))
        .collect();
    let data = dir.join(format!("store{id}"));
    ServerProc::start_with(&[
        "--store",
        "raft",
        "--store-id",
        &id.to_string(),
        "--addr",
        &addrs[id - 1],
        "--cluster",
        &cluster.join(","),
        "--data-dir",
        data.to_str().unwrap(),
    ])
}

async fn put(client: &ClusterClient, key: &str, value: &str) {
    let req = RawPutRequest {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
        cf: "default".into(),
        ..Default::default()
    };
    let resp = client.call::<RawPut>(&req).await.expect("put failed");
    assert_eq!(resp.error, "", "put {key}");
    assert_eq!(resp.region_error, None, "put {key}");
}

async fn get(client: &ClusterClient, key: &str) -> Option<String> {
    let req = RawGetRequest {
        key: key.as_bytes().to_vec(),
        cf: "default".into(),
        ..Default::default()
    };
    let resp = client.call::<RawGet>(&req).await.expect("get failed");
    assert_eq!(resp.error, "", "get {key}");
    assert_eq!(resp.region_error, None, "get {key}");
    (!resp.not_found).then(|| String::from_utf8(resp.value).unwrap())
}

/// The store that answers a read itself (no region error): the leader.
async fn leader(addrs: &[String]) -> usize {
    let give_up = Instant::now() + Duration::from_secs(20);
    loop {
        for (i, addr) in addrs.iter().enumerate() {
            let Ok(conn) = Connection::connect(addr).await else {
                continue;
            };
            let req = RawGetRequest {
                key: b"who-leads".to_vec(),
                cf: "default".into(),
                ..Default::default()
            };
            if let Ok(resp) = conn.call::<RawGet>(&req).await
                && resp.region_error.is_none()
                && resp.error.is_empty()
            {
                return i + 1;
            }
        }
        assert!(Instant::now() < give_up, "no leader within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn a_three_store_cluster_survives_losing_its_leader() {
    let dir = tempfile::tempdir().unwrap();
    let addrs = free_addrs(3);
    let mut stores: Vec<Option<ServerProc>> = (1..=3)
        .map(|id| Some(start_store(id, &addrs, dir.path())))
        .collect();
    let all = addrs.join(",");

    // The command line client follows the leader from any store.
    let out = ctl(&all, &["raw", "put", "hello", "world"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ctl(&all, &["raw", "get", "hello"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "world\n");
    let out = ctl(&all, &["raw", "scan"]);
    assert_eq!(stdout(&out), "hello\tworld\n", "{}", stderr(&out));
    let out = ctl(&all, &["raw", "delete", "hello"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ctl(&all, &["raw", "get", "hello"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));

    let rt = runtime();
    rt.block_on(async {
        let client = ClusterClient::new(&addrs, 0).unwrap();
        let mut acked = Vec::new();
        for i in 0..30 {
            let (k, v) = (format!("k{i:03}"), format!("v{i}"));
            put(&client, &k, &v).await;
            acked.push((k, v));
        }
        let first = leader(&addrs).await;
        stores[first - 1].take().unwrap().kill9();
        // The two others elect a leader and go on.
        for i in 30..60 {
            let (k, v) = (format!("k{i:03}"), format!("v{i}"));
            put(&client, &k, &v).await;
            acked.push((k, v));
        }
        for (k, v) in &acked {
            assert_eq!(get(&client, k).await.as_deref(), Some(v.as_str()), "{k}");
        }
        // Back from its data directory; then another store goes down, so
        // that nothing is answered unless the restarted one takes part.
        stores[first - 1] = Some(start_store(first, &addrs, dir.path()));
        for i in 60..70 {
            let (k, v) = (format!("k{i:03}"), format!("v{i}"));
            put(&client, &k, &v).await;
            acked.push((k, v));
        }
        let other = (1..=3).find(|&s| s != first).unwrap();
        stores[other - 1].take().unwrap().kill9();
        for (k, v) in &acked {
            assert_eq!(get(&client, k).await.as_deref(), Some(v.as_str()), "{k}");
        }
        assert_eq!(get(&client, "hello").await, None);
    });

    // A clean stop reports how the commands were batched.
    let mut last = stores.into_iter().flatten().next().unwrap();
    assert!(last.terminate().success());
}

/// All three stores killed with `kill -9` at once while 16 clients write:
/// after a restart every acknowledged write is there. The stores sync only
/// what raft needs (entries, term, vote) and let the commit index and the
/// applied data go to disk later; this is the check that a crash loses
/// nothing the log does not give back.
#[test]
fn acknowledged_writes_survive_killing_every_store() {
    let dir = tempfile::tempdir().unwrap();
    let addrs = free_addrs(3);
    let mut stores: Vec<ServerProc> = (1..=3)
        .map(|id| start_store(id, &addrs, dir.path()))
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let acked = rt.block_on(async {
        let client = ClusterClient::new(&addrs, 0).unwrap();
        put(&client, "warm", "up").await;
        // Writers give up soon once the stores are gone.
        let client = client.retry_for(Duration::from_millis(300));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = (0..16)
            .map(|w| {
                let (client, stop) = (client.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut acked = Vec::new();
                    for i in 0.. {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        let (k, v) = (format!("w{w}-{i:05}"), format!("v{w}.{i}"));
                        let req = RawPutRequest {
                            key: k.clone().into_bytes(),
                            value: v.clone().into_bytes(),
                            cf: "default".into(),
                            ..Default::default()
                        };
                        match client.call::<RawPut>(&req).await {
                            Ok(r) if r.error.is_empty() && r.region_error.is_none() => {
                                acked.push((k, v))
                            }
                            _ => break,
                        }
                    }
                    acked
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        for store in &mut stores {
            store.kill9();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut acked = Vec::new();
        for w in writers {
            acked.extend(w.await.unwrap());
        }
        acked
    });
    assert!(acked.len() > 50, "only {} writes acknowledged", acked.len());
    eprintln!("{} writes acknowledged before the kill", acked.len());
    let _stores: Vec<ServerProc> = (1..=3)
        .map(|id| start_store(id, &addrs, dir.path()))
        .collect();
    runtime().block_on(async {
        let client = ClusterClient::new(&addrs, 0).unwrap();
        // One scan: a get each would take a raft round each.
        let req = RawScanRequest {
            start_key: b"w".to_vec(),
            limit: u32::MAX,
            cf: "default".into(),
            ..Default::default()
        };
        let resp = client.call::<RawScan>(&req).await.expect("scan failed");
        assert_eq!((resp.error.as_str(), &resp.region_error), ("", &None));
        let stored: std::collections::BTreeMap<String, String> = resp
            .kvs
            .into_iter()
            .map(|kv| {
                let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
                (text(kv.key), text(kv.value))
            })
            .collect();
        for (k, v) in &acked {
            assert_eq!(
                stored.get(k),
                Some(v),
                "{k} (of {} acknowledged)",
                acked.len()
            );
        }
    });
}
