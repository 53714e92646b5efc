//! Bad input never takes a kvraft server down: a corrupt snapshot is a
//! clear error from `start`, and malformed or unknown requests are clear
//! errors at the caller while the server keeps serving.

use std::time::Duration;

use kvraft::{Clerk, Error, KvServer};
use labrpc::{Network, RpcError, Server, sim};
use raft::Persister;

/// One server on its own: a majority of one, so it leads by itself.
fn single(net: &Network) -> KvServer {
    let end = net.make_end("self");
    let kv = KvServer::start(vec![end], 0, Persister::new(), None).expect("fresh start");
    let server = Server::new();
    server.add_service(kv.service());
    server.add_service(kv.raft().service());
    net.add_server("kv", server);
    net.connect("self", "kv");
    net.enable("self", true);
    kv
}

fn client_end(net: &Network, name: &str) -> labrpc::ClientEnd {
    let end = net.make_end(name);
    net.connect(name, "kv");
    net.enable(name, true);
    end
}

#[test]
fn corrupt_snapshot_is_a_clear_error_from_start() {
    sim::run(|| async {
        let net = Network::new();
        let persister = Persister::new();
        persister.save(Vec::new(), b"definitely not a snapshot".to_vec());
        let end = net.make_end("e");
        match KvServer::start(vec![end], 0, persister, Some(1000)) {
            Err(Error::Rsm(rsm::Error::CorruptSnapshot(why))) => {
                assert!(matches!(why, rsm::SnapshotError::Decode(_)), "{why}")
            }
            Err(other) => panic!("unexpected error: {other}"),
            Ok(_) => panic!("a corrupt snapshot was accepted"),
        }
    });
}

#[test]
fn malformed_and_unknown_requests_are_errors_and_the_server_serves_on() {
    sim::run(|| async {
        let net = Network::new();
        let kv = single(&net);
        let raw = client_end(&net, "raw");

        let garbage = raw.call_bytes("KVServer.Get", vec![0xff; 3]).await;
        assert!(
            matches!(garbage, Err(RpcError::BadArgs { .. })),
            "garbage arguments gave {garbage:?}"
        );
        let unknown = raw.call_bytes("KVServer.Delete", Vec::new()).await;
        assert!(
            matches!(unknown, Err(RpcError::UnknownMethod { .. })),
            "an unknown operation gave {unknown:?}"
        );

        // Still a working server.
        let mut ck = Clerk::new(vec![client_end(&net, "ck")]);
        tokio::time::sleep(Duration::from_secs(2)).await;
        ck.put("k", "v").await;
        assert_eq!(ck.get("k").await, "v");
        kv.kill();
    });
}
