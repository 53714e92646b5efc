//! `tinykv-ctl regions` and `tinykv-ctl stores` print what a real
//! scheduler (served over TCP in this process) was told by heartbeats;
//! an unreachable scheduler is a one-line error and exit 1.

use std::process::{Command, Output};

use tinykv_scheduler::messages::{PutStoreRequest, RegionHeartbeatRequest};
use tinykv_scheduler::{Clock, Config, Peer, Region, RegionEpoch, SchedulerServer, Store, net};

fn ctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tinykv-ctl"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn tables_show_what_the_heartbeats_said() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(async {
        let listener = net::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = SchedulerServer::new(Config::default(), 1, Clock::System);
        for id in 1..=3 {
            let store = Store {
                id,
                address: format!("127.0.0.1:2016{id}"),
                ..Store::default()
            };
            server.put_store(PutStoreRequest { store }).unwrap();
        }
        let peers: Vec<Peer> = (1..=3).map(|s| Peer { id: s, store_id: s }).collect();
        for (id, start, end, leader) in [(1, "", "m", 0), (4, "m", "", 2)] {
            let hb = RegionHeartbeatRequest {
                region: Region {
                    id,
                    start_key: start.as_bytes().to_vec(),
                    end_key: end.as_bytes().to_vec(),
                    region_epoch: RegionEpoch {
                        conf_ver: 1,
                        version: 2,
                    },
                    peers: peers.clone(),
                },
                leader: Some(peers[leader]),
                ..Default::default()
            };
            server.region_heartbeat(hb).unwrap();
        }
        tokio::spawn(net::serve(listener, server));
        addr
    });

    let out = ctl(&["regions", "--scheduler", &addr]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "REGION  START  END   EPOCH  LEADER  PEERS        PENDING\n\
         1       -inf   m     1/2    1@1     1@1,2@2,3@3  -\n\
         4       m      +inf  1/2    3@3     1@1,2@2,3@3  -\n\
         2 regions\n"
    );
    let out = ctl(&["stores", "--scheduler", &addr]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 5, "{text}");
    assert_eq!(rows[0][0], "STORE");
    // id, address, state, leaders, regions, pending.
    assert_eq!(rows[1][..6], ["1", "127.0.0.1:20161", "Up", "1", "2", "0"]);
    assert_eq!(rows[2][..6], ["2", "127.0.0.1:20162", "Up", "0", "2", "0"]);
    assert_eq!(rows[3][..6], ["3", "127.0.0.1:20163", "Up", "1", "2", "0"]);
    assert_eq!(rows[4], ["3", "stores"]);

    drop(rt); // the scheduler is gone
    let out = ctl(&["regions", "--scheduler", &addr]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("tinykv-ctl: error:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let out = ctl(&["regions"]);
    assert_eq!(out.status.code(), Some(2), "--scheduler is required");
}
