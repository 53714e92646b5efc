//! The reference labrpc test suite, scenario for scenario, in virtual time.
//! (The reference's benchmark is `cargo bench -p labrpc`.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use labrpc::{ClientEnd, Network, RpcError, Server, Service, sim};
use serde::{Deserialize, Serialize};
use tokio::time::{Instant, sleep};

labrpc::rpc!(Handler1 = "Junk.Handler1": String => i64);
labrpc::rpc!(Handler2 = "Junk.Handler2": i64 => String);
labrpc::rpc!(Handler4 = "Junk.Handler4": Junk4Args => String);
labrpc::rpc!(Handler5 = "Junk.Handler5": Vec<Option<u32>> => u64);
labrpc::rpc!(Handler6 = "Junk.Handler6": String => u64);
labrpc::rpc!(Handler7 = "Junk.Handler7": u64 => String);
labrpc::rpc!(Sleepy = "Junk.Sleepy": u64 => u64);

#[derive(Debug, Serialize, Deserialize)]
struct Junk4Args {
    x: String,
    n: u32,
}

/// A server that records which handler calls it received.
#[derive(Clone, Default)]
struct Junk {
    log: Arc<Mutex<Vec<String>>>,
}

impl Junk {
    fn calls(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn service(&self) -> Service {
        let (l1, l2, l6) = (self.log.clone(), self.log.clone(), self.log.clone());
        Service::new("Junk")
            .handle::<Handler1, _, _>(move |s| {
                l1.lock().unwrap().push(format!("h1 {s}"));
                async move { s.parse().unwrap_or(-1) }
            })
            .handle::<Handler2, _, _>(move |n| {
                l2.lock().unwrap().push(format!("h2 {n}"));
                async move { format!("handler2-{n}") }
            })
            .handle::<Handler4, _, _>(|a| async move { format!("{}:{}", a.x, a.n) })
            .handle::<Handler5, _, _>(
                |v| async move { v.iter().flatten().map(|&x| u64::from(x)).sum() },
            )
            .handle::<Handler6, _, _>(move |s| {
                l6.lock().unwrap().push(format!("h6 {}", s.len()));
                async move { s.len() as u64 }
            })
            .handle::<Handler7, _, _>(|n| async move { "y".repeat(n as usize) })
            .handle::<Sleepy, _, _>(|ms| async move {
                sleep(Duration::from_millis(ms)).await;
                ms
            })
    }
}

/// A network with one Junk server named "server" and one enabled end.
fn setup(net: &Network, end_name: &str) -> (Junk, Server, ClientEnd) {
    let junk = Junk::default();
    let server = Server::new();
    server.add_service(junk.service());
    net.add_server("server", server.clone());
    let end = connected_end(net, end_name);
    (junk, server, end)
}

fn connected_end(net: &Network, name: &str) -> ClientEnd {
    let end = net.make_end(name);
    net.connect(name, "server");
    net.enable(name, true);
    end
}

#[test]
fn basic() {
    sim::run(|| async {
        let net = Network::new();
        let (_, _, end) = setup(&net, "end1-99");
        assert_eq!(end.call::<Handler2>(&111).await.unwrap(), "handler2-111");
        assert_eq!(end.call::<Handler1>(&"9099".into()).await.unwrap(), 9099);
    });
}

#[test]
fn types() {
    sim::run(|| async {
        let net = Network::new();
        let (_, _, end) = setup(&net, "end1-99");
        let args = Junk4Args {
            x: "pointer".into(),
            n: 7,
        };
        assert_eq!(end.call::<Handler4>(&args).await.unwrap(), "pointer:7");
        let v = vec![Some(1), None, Some(41)];
        assert_eq!(end.call::<Handler5>(&v).await.unwrap(), 42);
    });
}

#[test]
fn disconnect() {
    sim::run(|| async {
        let net = Network::new();
        let junk = Junk::default();
        let server = Server::new();
        server.add_service(junk.service());
        net.add_server("server", server);
        let end = net.make_end("end1-99");
        net.connect("end1-99", "server");

        let r = end.call::<Handler2>(&111).await;
        assert!(matches!(r, Err(RpcError::Disconnected { .. })), "{r:?}");
        assert!(junk.calls().is_empty(), "a disabled end reached the server");

        net.enable("end1-99", true);
        assert_eq!(end.call::<Handler1>(&"9099".into()).await.unwrap(), 9099);
    });
}

#[test]
fn counts() {
    sim::run(|| async {
        let net = Network::new();
        let (_, _, end) = setup(&net, "end1-99");
        for i in 0..17 {
            assert_eq!(
                end.call::<Handler2>(&i).await.unwrap(),
                format!("handler2-{i}")
            );
        }
        assert_eq!(net.count("server"), 17);
    });
}

/// The reference expects about 5000 bytes for 17 calls with a 284-byte
/// argument and about 2000 for 17 replies of 107 bytes; bincode's
/// length-prefixed strings land inside the same windows.
#[test]
fn bytes() {
    sim::run(|| async {
        let net = Network::new();
        let (_, _, end) = setup(&net, "end1-99");
        let x = "x".repeat(71);
        let arg = format!("{x}{x}{x}{x}");
        assert_eq!(arg.len(), 284);
        for _ in 0..17 {
            assert_eq!(end.call::<Handler6>(&arg).await.unwrap(), 284);
        }
        let n0 = net.total_bytes();
        assert!((4828..=6000).contains(&n0), "wrong byte count {n0}");

        for _ in 0..17 {
            let reply = end.call::<Handler7>(&107).await.unwrap();
            assert_eq!(reply.len(), 107);
        }
        let delta = net.total_bytes() - n0;
        assert!(
            (1800..=2500).contains(&delta),
            "wrong reply byte count {delta}"
        );
    });
}

#[test]
fn concurrent_many() {
    sim::run(|| async {
        let net = Network::new();
        let (_, _, _) = setup(&net, "unused");
        let mut tasks = Vec::new();
        for i in 0..20 {
            let end = connected_end(&net, &format!("end-{i}"));
            tasks.push(tokio::spawn(async move {
                let mut ok = 0;
                for j in 0..10 {
                    let n = i * 100 + j;
                    if end.call::<Handler2>(&n).await.unwrap() == format!("handler2-{n}") {
                        ok += 1;
                    }
                }
                ok
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        assert_eq!(total, 200);
        assert_eq!(net.count("server"), 200);
    });
}

#[test]
fn unreliable() {
    sim::run(|| async {
        let net = Network::new();
        net.set_reliable(false);
        let (_, _, _) = setup(&net, "unused");
        let mut tasks = Vec::new();
        for i in 0..300 {
            let end = connected_end(&net, &format!("end-{i}"));
            tasks.push(tokio::spawn(async move {
                match end.call::<Handler2>(&(i + 100)).await {
                    Ok(reply) => {
                        assert_eq!(reply, format!("handler2-{}", i + 100));
                        true
                    }
                    Err(e) => {
                        assert!(e.is_disconnected(), "{e}");
                        false
                    }
                }
            }));
        }
        let mut ok = 0;
        for t in tasks {
            ok += usize::from(t.await.unwrap());
        }
        assert!(
            ok > 0 && ok < 300,
            "{ok} of 300 succeeded: expected some but not all"
        );
    });
}

#[test]
fn concurrent_one() {
    sim::run(|| async {
        let net = Network::new();
        let (junk, _, end) = setup(&net, "end1-99");
        let mut tasks = Vec::new();
        for i in 0..20 {
            let end = end.clone();
            tasks.push(tokio::spawn(async move {
                end.call::<Handler2>(&(100 + i)).await.unwrap() == format!("handler2-{}", 100 + i)
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap());
        }
        assert_eq!(junk.calls().len(), 20, "wrong number of RPCs delivered");
        assert_eq!(net.count("server"), 20);
    });
}

/// Calls made while an end is disabled must not be delivered once it is
/// enabled, and must not slow down a later call.
#[test]
fn regression1() {
    sim::run(|| async {
        let net = Network::new();
        let (junk, _, _) = setup(&net, "unused");
        let end = net.make_end("end1-99");
        net.connect("end1-99", "server");
        for i in 0..20 {
            let end = end.clone();
            tokio::spawn(async move {
                assert!(end.call::<Handler2>(&i).await.is_err());
            });
        }
        sleep(Duration::from_millis(100)).await;
        net.enable("end1-99", true);

        let t0 = Instant::now();
        assert_eq!(end.call::<Handler2>(&99).await.unwrap(), "handler2-99");
        let took = t0.elapsed();
        assert!(
            took <= Duration::from_millis(30),
            "RPC took too long ({took:?}) after Enable"
        );
        assert_eq!(junk.calls(), vec!["h2 99".to_string()]);
        assert_eq!(net.count("server"), 1);
    });
}

/// A killed server's reply must never arrive, and the caller learns fast.
#[test]
fn killed() {
    sim::run(|| async {
        let net = Network::new();
        let (_, _, end) = setup(&net, "end1-99");
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            let _ = tx.send(end.call::<Sleepy>(&20_000).await).await;
        });
        sleep(Duration::from_secs(1)).await;
        let early = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await;
        assert!(early.is_err(), "handler returned without sleeping 20 s");

        net.delete_server("server");
        let late = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await;
        match late {
            Ok(Some(Err(e))) => assert!(e.is_disconnected(), "{e}"),
            Ok(other) => panic!("a deleted server replied: {other:?}"),
            Err(_) => panic!("call did not return within 100 ms of DeleteServer"),
        }
    });
}

/// The reference decides delivery when the request is sent: an end disabled
/// while its request travels still gets the handler run ("the server
/// executed it but the client timed out"); only the reply is lost.
#[test]
fn disabled_during_flight_handler_ran_caller_timed_out() {
    sim::run(|| async {
        let net = Network::new();
        net.set_latency(Duration::from_millis(10), Duration::from_millis(10));
        let (junk, _, end) = setup(&net, "end1-99");
        let call = tokio::spawn(async move { end.call::<Handler1>(&"7".to_string()).await });
        sleep(Duration::from_millis(5)).await;
        net.enable("end1-99", false);
        let reply = call.await.expect("caller task");
        match reply {
            Err(e) => assert!(e.is_disconnected(), "{e}"),
            Ok(v) => panic!("a disabled end got its reply: {v}"),
        }
        assert_eq!(
            junk.calls(),
            vec!["h1 7".to_string()],
            "the handler did not run"
        );
    });
}

/// Each message draws its own latency, so concurrent calls between two
/// peers on the reliable network can arrive out of order (the reference's
/// racing goroutines), on some seed of a few.
#[test]
fn reliable_network_reorders_concurrent_calls() {
    let reordered = (1..=5).any(|seed| {
        sim::Sim::new().seed(seed).run(|| async {
            let net = Network::new();
            let (junk, _, end) = setup(&net, "end1-99");
            let calls: Vec<_> = (0..20)
                .map(|i| {
                    let end = end.clone();
                    tokio::spawn(async move { end.call::<Handler2>(&i).await })
                })
                .collect();
            for c in calls {
                c.await.expect("caller task").expect("reliable call");
            }
            let sent: Vec<String> = (0..20).map(|i| format!("h2 {i}")).collect();
            junk.calls() != sent
        })
    });
    assert!(
        reordered,
        "20 concurrent calls arrived in send order on 5 seeds"
    );
}
