//! The transactional API through the real server process, on both
//! engines: the ctl's `txn` and `tso` commands, and Percolator clients
//! committing concurrent bank transfers over TCP while readers check that
//! every snapshot sees the same total.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{ServerProc, ctl, runtime, stderr, stdout};
use tinykv_server::Connection;
use tinykv_txn::{Client, physical};

fn ctl_txn_commands(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProc::start_on(dir.path(), engine);
    let addr = &server.addr;
    let ok = |args: &[&str]| {
        let out = ctl(addr, args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    assert!(ok(&["txn", "put", "a", "1", "b", "2"]).starts_with("committed"));
    assert_eq!(ok(&["txn", "get", "a"]), "1\n");
    assert_eq!(ok(&["txn", "get", "b"]), "2\n");
    assert!(ok(&["txn", "put", "a", "3"]).starts_with("committed"));
    assert_eq!(ok(&["txn", "get", "a"]), "3\n");
    ok(&["txn", "delete", "b"]);
    assert_eq!(ctl(addr, &["txn", "get", "b"]).status.code(), Some(3));
    assert_eq!(ok(&["txn", "scan"]), "a\t3\n");
    // The raw API sees the Percolator layout underneath: no lock left, and
    // four write records (a and b, a again, b's delete).
    assert_eq!(ok(&["raw", "scan", "--cf", "lock"]), "");
    assert_eq!(ok(&["raw", "scan", "--cf", "write"]).lines().count(), 4);
    // Timestamps increase and carry the wall clock's milliseconds.
    let t1: u64 = ok(&["tso"]).trim().parse().unwrap();
    let t2: u64 = ok(&["tso"]).trim().parse().unwrap();
    assert!(t2 > t1);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        physical(t2).abs_diff(now_ms) < 60_000,
        "{t2} vs {now_ms} ms"
    );
}

#[test]
fn ctl_txn_commands_memory() {
    ctl_txn_commands("memory");
}

#[test]
fn ctl_txn_commands_disk() {
    ctl_txn_commands("disk");
}

const ACCOUNTS: usize = 6;
const INITIAL: u64 = 100;
const CLIENTS: usize = 6;
const TRANSFERS: usize = 25;

fn account(i: usize) -> Vec<u8> {
    format!("acct{i}").into_bytes()
}

fn amount(v: Option<Vec<u8>>) -> u64 {
    String::from_utf8(v.expect("an account vanished"))
        .unwrap()
        .parse()
        .unwrap()
}

/// Concurrent two-key transfers over TCP (one connection per client), and
/// snapshot reads of every account in between: each sees the same total,
/// and the final balances account for every committed transfer.
fn bank_transfers(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProc::start_on(dir.path(), engine);
    let addr = server.addr.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (committed, aborted) = rt.block_on(async move {
        let conn = Connection::connect(&addr).await.unwrap();
        let setup = Client::new(conn.clone(), conn);
        let mut txn = setup.begin().await.unwrap();
        for i in 0..ACCOUNTS {
            txn.set(account(i), INITIAL.to_string());
        }
        assert!(setup.commit(txn).await.unwrap());
        let committed = Arc::new(AtomicU64::new(0));
        let aborted = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let conn = Connection::connect(&addr).await.unwrap();
            let client = Client::new(conn.clone(), conn);
            let (committed, aborted) = (committed.clone(), aborted.clone());
            tasks.push(tokio::spawn(async move {
                for n in 0..TRANSFERS {
                    let from = (c + n) % ACCOUNTS;
                    let to = (c * 7 + n * 3 + 1) % ACCOUNTS;
                    if from == to {
                        continue;
                    }
                    let mut txn = client.begin().await.unwrap();
                    let a = amount(client.get(&txn, &account(from)).await.unwrap());
                    let b = amount(client.get(&txn, &account(to)).await.unwrap());
                    let x = a.min(1 + (n as u64 % 5));
                    txn.set(account(from), (a - x).to_string());
                    txn.set(account(to), (b + x).to_string());
                    if client.commit(txn).await.unwrap() {
                        committed.fetch_add(1, Ordering::SeqCst);
                    } else {
                        aborted.fetch_add(1, Ordering::SeqCst);
                    }
                    // A full snapshot read between transfers.
                    let snap = client.begin().await.unwrap();
                    let mut total = 0;
                    for i in 0..ACCOUNTS {
                        total += amount(client.get(&snap, &account(i)).await.unwrap());
                    }
                    assert_eq!(
                        total,
                        INITIAL * ACCOUNTS as u64,
                        "a snapshot saw money move"
                    );
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        (
            committed.load(Ordering::SeqCst),
            aborted.load(Ordering::SeqCst),
        )
    });
    assert!(committed > 0, "no transfer committed");
    // The final state through the ctl, a separate process.
    let mut total = 0;
    for i in 0..ACCOUNTS {
        let out = ctl(&server.addr, &["txn", "get", &format!("acct{i}")]);
        assert!(out.status.success(), "{}", stderr(&out));
        total += stdout(&out).trim().parse::<u64>().unwrap();
    }
    assert_eq!(total, INITIAL * ACCOUNTS as u64);
    eprintln!("{engine}: {committed} transfers committed, {aborted} aborted");
}

#[test]
fn bank_transfers_over_tcp_memory() {
    bank_transfers("memory");
}

#[test]
fn bank_transfers_over_tcp_disk() {
    bank_transfers("disk");
}

#[test]
fn a_connection_shared_by_many_callers_answers_each_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProc::start_on(dir.path(), "memory");
    runtime().block_on(async {
        let conn = Connection::connect(&server.addr).await.unwrap();
        let client = Client::new(conn.clone(), conn);
        let mut txn = client.begin().await.unwrap();
        for i in 0..200 {
            txn.set(format!("k{i:03}"), format!("v{i}"));
        }
        assert!(client.commit(txn).await.unwrap());
        let reader = client.begin().await.unwrap();
        // 200 gets in flight at once on one connection, answered out of
        // order or not, each gets its own value.
        let gets = (0..200).map(|i| {
            let (client, reader) = (&client, &reader);
            async move {
                let got = client
                    .get(reader, format!("k{i:03}").as_bytes())
                    .await
                    .unwrap();
                assert_eq!(got, Some(format!("v{i}").into_bytes()));
            }
        });
        futures_join_all(gets).await;
    });
}

/// A minimal join-all (the crate does not depend on `futures`).
async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    std::future::poll_fn(|cx| {
        set.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if set.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}
