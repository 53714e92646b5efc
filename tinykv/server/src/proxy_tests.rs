//! The proxy's faults on real loopback sockets, with an echo server behind
//! each link (real time, a few hundred milliseconds in all).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};

use super::{Fault, Link, Mesh, control};

/// Short enough to keep the tests fast, long enough to tell from loopback.
const QUIET: Duration = Duration::from_millis(150);

async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Sends `msg` and waits up to `within` for it to come back whole.
async fn round_trip(stream: &mut TcpStream, msg: &[u8], within: Duration) -> Option<Vec<u8>> {
    stream.write_all(msg).await.ok()?;
    let mut got = vec![0u8; msg.len()];
    match timeout(within, stream.read_exact(&mut got)).await {
        Ok(Ok(_)) => Some(got),
        _ => None,
    }
}

/// Whether the proxy closed `stream` (end of stream or reset) within `within`.
async fn closed(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 16];
    matches!(
        timeout(within, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn pass_forwards_both_ways() {
    let link = Link::start("127.0.0.1:0", echo_server().await)
        .await
        .unwrap();
    let mut c = TcpStream::connect(link.addr()).await.unwrap();
    for msg in [&b"hello"[..], &[7u8; 5000][..]] {
        assert_eq!(
            round_trip(&mut c, msg, QUIET * 4).await.as_deref(),
            Some(msg)
        );
    }
}

#[tokio::test]
async fn delay_adds_latency_each_way_on_open_connections() {
    let link = Link::start("127.0.0.1:0", echo_server().await)
        .await
        .unwrap();
    let mut c = TcpStream::connect(link.addr()).await.unwrap();
    assert!(round_trip(&mut c, b"warm", QUIET).await.is_some());
    link.set(Fault::Delay(Duration::from_millis(100)));
    let start = Instant::now();
    assert_eq!(
        round_trip(&mut c, b"slow", Duration::from_secs(2))
            .await
            .as_deref(),
        Some(&b"slow"[..])
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(200),
        "delayed round trip took {took:?}"
    );
    link.set(Fault::Pass);
    let start = Instant::now();
    assert!(round_trip(&mut c, b"fast", QUIET * 4).await.is_some());
    // Well under the delayed round trip, even on a loaded machine.
    let took = start.elapsed();
    assert!(
        took < Duration::from_millis(200),
        "healed round trip took {took:?}"
    );
}

#[tokio::test]
async fn blackhole_swallows_then_heal_closes_the_torn_connection() {
    let link = Link::start("127.0.0.1:0", echo_server().await)
        .await
        .unwrap();
    let mut c = TcpStream::connect(link.addr()).await.unwrap();
    assert!(round_trip(&mut c, b"before", QUIET).await.is_some());
    link.set(Fault::Blackhole);
    // Silence, but the connection stays open.
    assert_eq!(round_trip(&mut c, b"lost", QUIET).await, None);
    // A new connection is accepted and swallowed too.
    let mut c2 = TcpStream::connect(link.addr()).await.unwrap();
    assert_eq!(round_trip(&mut c2, b"lost too", QUIET).await, None);
    // A connection that sent nothing during the blackhole survives the heal.
    let mut idle = TcpStream::connect(link.addr()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    link.set(Fault::Pass);
    // Bytes were lost in the middle of their streams: closed, not resumed.
    assert!(closed(&mut c, QUIET * 4).await, "torn connection kept open");
    assert!(
        closed(&mut c2, QUIET * 4).await,
        "torn connection kept open"
    );
    assert!(round_trip(&mut idle, b"intact", QUIET * 4).await.is_some());
    let mut c3 = TcpStream::connect(link.addr()).await.unwrap();
    assert!(round_trip(&mut c3, b"after", QUIET * 4).await.is_some());
}

#[tokio::test]
async fn drop_closes_open_and_new_connections_until_healed() {
    let link = Link::start("127.0.0.1:0", echo_server().await)
        .await
        .unwrap();
    let mut c = TcpStream::connect(link.addr()).await.unwrap();
    assert!(round_trip(&mut c, b"before", QUIET).await.is_some());
    link.set(Fault::Drop);
    assert!(
        closed(&mut c, QUIET * 4).await,
        "open connection survived a drop"
    );
    let mut c2 = TcpStream::connect(link.addr()).await.unwrap();
    assert!(closed(&mut c2, QUIET * 4).await, "new connection accepted");
    link.set(Fault::Pass);
    let mut c3 = TcpStream::connect(link.addr()).await.unwrap();
    assert!(round_trip(&mut c3, b"after", QUIET * 4).await.is_some());
}

#[tokio::test]
async fn a_down_target_closes_the_connection() {
    // A port that was free a moment ago: nothing listens there.
    let free = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let link = Link::start("127.0.0.1:0", free).await.unwrap();
    let mut c = TcpStream::connect(link.addr()).await.unwrap();
    assert!(closed(&mut c, QUIET * 4).await);
}

#[tokio::test]
async fn mesh_isolates_one_store_and_leaves_the_other_links() {
    let mut stores = BTreeMap::new();
    for id in 1..=3u64 {
        stores.insert(id, echo_server().await);
    }
    let mesh = Mesh::start(&stores).await.unwrap();
    // Store 1's list: its own real address, proxies to 2 and 3.
    let arg = mesh.cluster_arg(1);
    let entries: Vec<&str> = arg.split(',').collect();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0], format!("1={}", stores[&1]));
    let via = |from: u64, to: u64| -> SocketAddr {
        let arg = mesh.cluster_arg(from);
        let entry = arg
            .split(',')
            .find(|e| e.starts_with(&format!("{to}=")))
            .unwrap()
            .to_string();
        entry[2..].parse().unwrap()
    };
    assert_ne!(via(1, 2), stores[&2]);
    assert_ne!(via(1, 2), via(3, 2), "one link per ordered pair");

    let faults = mesh.faults();
    assert!(faults.isolate(3, Fault::Drop));
    assert_eq!(faults.active().len(), 4, "1->3, 2->3, 3->1, 3->2");
    for (from, to, open) in [(1, 2, true), (2, 1, true), (1, 3, false), (3, 2, false)] {
        let mut c = TcpStream::connect(via(from, to)).await.unwrap();
        let echoed = round_trip(&mut c, b"x", QUIET).await.is_some();
        assert_eq!(echoed, open, "link {from}->{to}");
    }
    faults.heal();
    assert!(faults.active().is_empty());
    let mut c = TcpStream::connect(via(3, 1)).await.unwrap();
    assert!(round_trip(&mut c, b"x", QUIET * 4).await.is_some());
    assert!(!faults.isolate(9, Fault::Drop), "unknown store");
}

#[tokio::test]
async fn control_commands() {
    let mut stores = BTreeMap::new();
    for id in 1..=3u64 {
        stores.insert(id, echo_server().await);
    }
    let mesh = Mesh::start(&stores).await.unwrap();
    let faults = mesh.faults();
    assert_eq!(
        control(&faults, "isolate 2 blackhole").unwrap(),
        "store 2 blackhole"
    );
    assert_eq!(
        control(&faults, "link 1 3 delay 20").unwrap(),
        "1->3 delay 20ms"
    );
    assert_eq!(control(&faults, "pair 1 3 drop").unwrap(), "1<->3 drop");
    assert_eq!(
        control(&faults, "status").unwrap(),
        "1->2 blackhole, 1->3 drop, 2->1 blackhole, 2->3 blackhole, 3->1 drop, 3->2 blackhole"
    );
    assert_eq!(control(&faults, "heal").unwrap(), "healed");
    assert_eq!(control(&faults, "status").unwrap(), "");
    for bad in [
        "isolate 7 drop",
        "isolate x drop",
        "isolate 1 sideways",
        "link 1 1 drop",
        "delay 1 2 5",
        "isolate 1 delay soon",
        "",
    ] {
        assert!(control(&faults, bad).is_err(), "{bad:?} accepted");
    }
}
