//! Bad input gets a clear error and never takes the server down.

use kvsrv::{Append, Clerk, Error, Get, GetArgs, KvServer, OpKind, Put, PutAppendArgs, Rejection};
use labrpc::{ClientEnd, Network, RpcError, Server, ServiceError, sim};

fn setup(net: &Network) -> ClientEnd {
    let server = Server::new();
    server.add_service(KvServer::new().service());
    net.add_server("kv", server);
    let end = net.make_end("c");
    net.connect("c", "kv");
    net.enable("c", true);
    end
}

fn write(key: &str, value: &str, client: u64, seq: u64) -> PutAppendArgs {
    PutAppendArgs {
        key: key.into(),
        value: value.into(),
        client,
        seq,
    }
}

#[test]
fn unknown_operations_and_garbage_are_errors_and_the_server_keeps_serving() {
    sim::run(|| async {
        let net = Network::new();
        let end = setup(&net);
        let err = end.call_bytes("KVServer.Delete", vec![]).await.unwrap_err();
        assert!(matches!(err, RpcError::UnknownMethod { .. }), "{err}");
        let err = end
            .call_bytes("KVServer.Put", vec![0xff; 3])
            .await
            .unwrap_err();
        assert!(matches!(err, RpcError::BadArgs { .. }), "{err}");

        let mut ck = Clerk::new(end);
        ck.put("k", "v").await;
        assert_eq!(ck.append("k", "w").await, "v");
        assert_eq!(ck.get("k").await, "vw");
    });
}

#[test]
fn bad_sequence_numbers_get_error_replies() {
    sim::run(|| async {
        let net = Network::new();
        let end = setup(&net);
        end.call::<Put>(&write("k", "v", 7, 5))
            .await
            .unwrap()
            .unwrap();
        let stale = GetArgs {
            key: "k".into(),
            client: 7,
            seq: 4,
        };
        assert_eq!(
            end.call::<Get>(&stale).await.unwrap(),
            Err(ServiceError::Rejected(Rejection::StaleRequest {
                client: 7,
                seq: 4,
                latest: 5
            }))
        );
        assert_eq!(
            end.call::<Append>(&write("k", "x", 7, 5)).await.unwrap(),
            Err(ServiceError::Rejected(Rejection::SequenceReused {
                client: 7,
                seq: 5,
                previous: OpKind::Put,
                now: OpKind::Append
            }))
        );
        // The refused requests changed nothing; the retried Put is a no-op.
        end.call::<Put>(&write("k", "v", 7, 5))
            .await
            .unwrap()
            .unwrap();
        let read = GetArgs {
            key: "k".into(),
            client: 8,
            seq: 1,
        };
        assert_eq!(end.call::<Get>(&read).await.unwrap(), Ok("v".into()));
    });
}

#[test]
fn a_clerk_reports_errors_retrying_cannot_fix() {
    sim::run(|| async {
        let net = Network::new();
        let mut ck = Clerk::new(setup(&net));
        net.cleanup();
        let err = ck.try_get("k").await.unwrap_err();
        assert!(
            matches!(err, Error::Rpc(RpcError::NetworkClosed { .. })),
            "{err}"
        );
    });
}
