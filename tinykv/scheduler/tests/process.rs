//! The real `tinykv-scheduler` process over TCP: ids, timestamps, heartbeats
//! and region lookup; bad flags and bad input refused with a clear message.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use tinykv_scheduler::messages::{
    PutStoreRequest, RegionHeartbeatRequest, StoreHeartbeatRequest, TsoRequest,
};
use tinykv_scheduler::tso::physical;
use tinykv_scheduler::{Error, Peer, Region, RegionEpoch, Store, StoreStats, net};

const BIN: &str = env!("CARGO_BIN_EXE_tinykv-scheduler");

/// A running scheduler; killed when dropped.
struct Proc {
    child: Child,
    addr: String,
}

impl Proc {
    fn start(extra: &[&str]) -> Proc {
        let mut child = Command::new(BIN)
            .args(["--addr", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start tinykv-scheduler");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("tinykv-scheduler printed no address within 20 s");
        let addr = line
            .split_whitespace()
            .nth(3)
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Proc { child, addr }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("cannot run tinykv-scheduler")
}

#[test]
fn serves_ids_timestamps_and_heartbeats() {
    let proc = Proc::start(&["--first-id", "100"]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = net::connect(&proc.addr).await.unwrap();
        let ctx = net::context;
        for id in 1..=3 {
            let store = Store {
                id,
                address: format!("s{id}"),
                ..Store::default()
            };
            c.put_store(ctx(), PutStoreRequest { store })
                .await
                .unwrap()
                .unwrap();
        }
        let ids: Vec<u64> = futures::future::join_all((0..5).map(|_| c.alloc_id(ctx())))
            .await
            .into_iter()
            .map(|r| r.unwrap().unwrap())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, (100..105).collect::<Vec<_>>(), "{ids:?}");

        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let mut last = 0;
        for _ in 0..100 {
            let ts = c
                .get_tso(ctx(), TsoRequest { count: 1 })
                .await
                .unwrap()
                .unwrap();
            assert!(ts > last);
            last = ts;
        }
        assert!(
            physical(last).abs_diff(wall) < 60_000,
            "physical part {} is not near the wall clock {wall}",
            physical(last)
        );

        let peers: Vec<Peer> = (1..=3)
            .map(|s| Peer {
                id: 10 + s,
                store_id: s,
            })
            .collect();
        let region = Region {
            id: 2,
            start_key: Vec::new(),
            end_key: Vec::new(),
            region_epoch: RegionEpoch {
                conf_ver: 1,
                version: 1,
            },
            peers: peers.clone(),
        };
        let hb = RegionHeartbeatRequest {
            region: region.clone(),
            leader: Some(peers[0]),
            pending_peers: Vec::new(),
            approximate_size: 1,
        };
        let resp = c
            .region_heartbeat(ctx(), hb.clone())
            .await
            .unwrap()
            .unwrap();
        assert!(!resp.has_command());
        let got = c
            .get_region(ctx(), b"any".to_vec())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(got.region, region);

        // The tables `tinykv-ctl regions` and `stores` print.
        let regions = c.list_regions(ctx()).await.unwrap().unwrap();
        assert_eq!(regions.len(), 1);
        assert_eq!(regions[0].meta, region);
        assert_eq!(regions[0].leader, Some(peers[0]));
        let stores = c.list_stores(ctx()).await.unwrap().unwrap();
        let ids: Vec<u64> = stores.iter().map(|s| s.meta.id).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(stores[0].meta.address, "s1");
        assert_eq!(stores[0].leader_count, 1, "store 1 leads region 2");
        assert_eq!(stores[1].leader_count, 0);
        assert_eq!(stores[1].region_count, 1);

        // Bad input: typed refusals, the server keeps serving.
        let stats = StoreStats {
            store_id: 42,
            ..StoreStats::default()
        };
        assert_eq!(
            c.store_heartbeat(ctx(), StoreHeartbeatRequest { stats })
                .await
                .unwrap(),
            Err(Error::UnknownStore(42))
        );
        let mut stale = hb;
        stale.region.region_epoch.version = 0;
        assert!(matches!(
            c.region_heartbeat(ctx(), stale).await.unwrap(),
            Err(Error::StaleRegion { .. })
        ));
        assert!(c.alloc_id(ctx()).await.unwrap().is_ok());
    });
}

/// kill -9 and a restart on the same `--data-dir`: ids and timestamps
/// carry on above the old ones. A data directory holding something that
/// is not a reservation is refused before listening.
#[test]
fn a_killed_scheduler_restarts_above_its_ids_and_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("scheduler");
    let data_arg = data.to_str().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ask = |proc: &Proc| {
        rt.block_on(async {
            let c = net::connect(&proc.addr).await.unwrap();
            let id = c.alloc_id(net::context()).await.unwrap().unwrap();
            let ts = c
                .get_tso(net::context(), TsoRequest { count: 1 })
                .await
                .unwrap()
                .unwrap();
            (id, ts)
        })
    };
    let mut first = Proc::start(&["--data-dir", data_arg]);
    let (id1, ts1) = ask(&first);
    assert_eq!(id1, 1);
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let second = Proc::start(&["--data-dir", data_arg]);
    let (id2, ts2) = ask(&second);
    assert!(id2 > id1, "id {id2} after a restart, {id1} before");
    assert!(ts2 > ts1);
    drop(second);

    std::fs::write(data.join("reservation"), "garbage").unwrap();
    let out = run(&["--addr", "127.0.0.1:0", "--data-dir", data_arg]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not a tinykv-scheduler reservation"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
    assert_eq!(
        std::fs::read_to_string(data.join("reservation")).unwrap(),
        "garbage"
    );
}

#[test]
fn bad_flags_are_refused() {
    for args in [
        vec![],
        vec!["--addr", "127.0.0.1:0", "--bogus"],
        vec!["--addr", "127.0.0.1:0", "--max-replicas", "0"],
        vec!["--addr", "127.0.0.1:0", "--first-id", "-3"],
        vec!["--addr", "127.0.0.1:0", "--max-store-down-minutes", "soon"],
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let out = run(&["--addr", "nonsense"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot listen on nonsense"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
