//! A write acknowledged by the server (which syncs before replying)
//! survives `kill -9` of the server process.
//!
//! Raw writes: three rounds on one data directory: start the real
//! `tinykv-server`, check it serves everything acknowledged so far, stream
//! synced RawPuts from four connections (and, in a second test, from 64,
//! whose writes the server commits in groups sharing one fsync), and
//! SIGKILL the process mid-stream while requests are in flight. At the end
//! the directory is reopened with the engine directly and every
//! acknowledged key must hold its value.
//!
//! Transactions: the same rounds with Percolator clients committing
//! two-key transactions over TCP; after each kill a new server must show
//! every acknowledged commit whole, and each transaction in flight at the
//! kill whole or not at all — through the transaction client, which rolls
//! the dead transactions' locks forward or back.
//!
//! A last test checks the clean stop (SIGTERM) and restart.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::ServerProc;
use tinykv_server::Connection;
use tinykv_storage::raw::{RawGetRequest, RawPutRequest};
use tinykv_storage::service::{RawGet, RawPut};
use tinykv_storage::{Cf, DiskEngine, Engine};
use tinykv_txn::Client;

const CLIENTS: usize = 4;

fn value_of(key: &[u8]) -> Vec<u8> {
    // Distinct per key, up to a few KB, so a torn or mixed-up write shows.
    let n = key.iter().map(|&b| b as usize).sum::<usize>() % 3000;
    key.iter().cycle().take(n + key.len()).copied().collect()
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    raw_puts_across_kills(CLIENTS, |round| 80 + 57 * round);
}

/// The same with 64 connections putting at once, so the server commits
/// their synced writes in groups (one engine write and one fsync for many
/// callers): a caller acknowledged before its group's fsync, or a group
/// applied in part, shows here as a lost or torn key.
#[test]
fn many_concurrent_acknowledged_puts_survive_kill_9() {
    raw_puts_across_kills(64, |round| 400 + 173 * round);
}

/// Three rounds of `clients` connections streaming synced RawPuts, the
/// server SIGKILLed once `target(round)` of them are acknowledged; then
/// every acknowledged put must be on disk, and every key on disk whole.
fn raw_puts_across_kills(clients: usize, target: impl Fn(usize) -> usize) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut acked: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for round in 0..3usize {
        let mut server = ServerProc::start(&data);
        let addr = server.addr.clone();
        // Kill after a different number of acknowledgements each round.
        let target = target(round);
        let round_acked = rt.block_on(async {
            let client = Connection::connect(&addr).await.unwrap();
            for (key, value) in &acked {
                let req = RawGetRequest {
                    key: key.clone(),
                    cf: "default".into(),
                    ..Default::default()
                };
                let resp = client.call::<RawGet>(&req).await.unwrap();
                assert_eq!(
                    &resp.value,
                    value,
                    "lost after restart: {}",
                    key.escape_ascii()
                );
            }
            let done = Arc::new(Mutex::new(Vec::new()));
            let count = Arc::new(AtomicUsize::new(0));
            let mut writers = Vec::new();
            for c in 0..clients {
                let (done, count) = (done.clone(), count.clone());
                let client = Connection::connect(&addr).await.unwrap();
                writers.push(tokio::spawn(async move {
                    for i in 0.. {
                        let key = format!("r{round}-c{c}-{i:06}").into_bytes();
                        let req = RawPutRequest {
                            key: key.clone(),
                            value: value_of(&key),
                            cf: "default".into(),
                            ..Default::default()
                        };
                        match client.call::<RawPut>(&req).await {
                            Ok(resp) => {
                                assert_eq!(resp.error, "");
                                done.lock().unwrap().push(key);
                                count.fetch_add(1, Ordering::SeqCst);
                            }
                            // The server is gone: this write is unacknowledged.
                            Err(_) => return,
                        }
                    }
                }));
            }
            while count.load(Ordering::SeqCst) < target {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            server.kill9();
            for w in writers {
                w.await.unwrap();
            }
            done.lock().unwrap().clone()
        });
        assert!(round_acked.len() >= target);
        for key in round_acked {
            let value = value_of(&key);
            acked.insert(key, value);
        }
    }
    let engine = DiskEngine::open(&data).expect("reopen after kill -9");
    let snap = engine.snapshot().unwrap();
    for (key, value) in &acked {
        assert_eq!(
            snap.get_cf(Cf::Default, key).unwrap().as_ref(),
            Some(value),
            "acknowledged write lost: {}",
            key.escape_ascii()
        );
    }
    // Unacknowledged writes may or may not be there, but only whole.
    let all = snap.scan_cf(Cf::Default, b"", usize::MAX).unwrap();
    for pair in &all {
        assert_eq!(pair.value, value_of(&pair.key), "torn value");
    }
    eprintln!(
        "{clients} clients: {} acknowledged writes survived 3 kills; {} keys on disk",
        acked.len(),
        all.len()
    );
}

/// The two keys and values of transaction `i` of client `c` in `round`.
fn txn_keys(round: usize, c: usize, i: usize) -> [(Vec<u8>, Vec<u8>); 2] {
    let base = format!("t{round}-c{c}-{i:05}");
    [
        (format!("{base}-a").into_bytes(), value_of(base.as_bytes())),
        (format!("{base}-b").into_bytes(), base.clone().into_bytes()),
    ]
}

#[test]
fn acknowledged_commits_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Acknowledged transactions, and those in flight at a kill.
    let mut acked: Vec<(usize, usize, usize)> = Vec::new();
    let mut in_flight: Vec<(usize, usize, usize)> = Vec::new();
    for round in 0..3usize {
        let mut server = ServerProc::start(&data);
        let addr = server.addr.clone();
        let target = 30 + 17 * round;
        let (round_acked, round_in_flight) = rt.block_on(async {
            let conn = Connection::connect(&addr).await.unwrap();
            let client = Client::new(conn.clone(), conn);
            let reader = client.begin().await.unwrap();
            for &(r, c, i) in &acked {
                for (key, value) in txn_keys(r, c, i) {
                    let got = client.get(&reader, &key).await.unwrap();
                    assert_eq!(
                        got.as_ref(),
                        Some(&value),
                        "committed transaction lost after kill -9: {}",
                        key.escape_ascii()
                    );
                }
            }
            for &(r, c, i) in &in_flight {
                let [(a, _), (b, _)] = txn_keys(r, c, i);
                let (a, b) = (
                    client.get(&reader, &a).await.unwrap(),
                    client.get(&reader, &b).await.unwrap(),
                );
                assert_eq!(
                    a.is_some(),
                    b.is_some(),
                    "transaction t{r}-c{c}-{i} is half there"
                );
            }
            let done = Arc::new(Mutex::new(Vec::new()));
            let count = Arc::new(AtomicUsize::new(0));
            let mut writers = Vec::new();
            for c in 0..CLIENTS {
                let (done, count) = (done.clone(), count.clone());
                let conn = Connection::connect(&addr).await.unwrap();
                let client = Client::new(conn.clone(), conn);
                writers.push(tokio::spawn(async move {
                    for i in 0.. {
                        let Ok(mut txn) = client.begin().await else {
                            return None;
                        };
                        for (key, value) in txn_keys(round, c, i) {
                            txn.set(key, value);
                        }
                        match client.commit(txn).await {
                            Ok(true) => {
                                done.lock().unwrap().push((round, c, i));
                                count.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok(false) => panic!("disjoint transactions conflicted"),
                            // The server is gone: this commit's outcome is
                            // unknown.
                            Err(_) => return Some((round, c, i)),
                        }
                    }
                    None
                }));
            }
            while count.load(Ordering::SeqCst) < target {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            server.kill9();
            let mut unknown = Vec::new();
            for w in writers {
                unknown.extend(w.await.unwrap());
            }
            (done.lock().unwrap().clone(), unknown)
        });
        assert!(round_acked.len() >= target);
        acked.extend(round_acked);
        in_flight.extend(round_in_flight);
    }
    // A last server checks the third round, then the engine directly: no
    // lock is left of an acknowledged transaction once a reader has passed.
    let server = ServerProc::start(&data);
    rt.block_on(async {
        let conn = Connection::connect(&server.addr).await.unwrap();
        let client = Client::new(conn.clone(), conn);
        let reader = client.begin().await.unwrap();
        for &(r, c, i) in &acked {
            for (key, value) in txn_keys(r, c, i) {
                let got = client.get(&reader, &key).await.unwrap();
                assert_eq!(got.as_ref(), Some(&value), "lost: {}", key.escape_ascii());
            }
        }
        for &(r, c, i) in &in_flight {
            let [(a, _), (b, _)] = txn_keys(r, c, i);
            let (a, b) = (
                client.get(&reader, &a).await.unwrap(),
                client.get(&reader, &b).await.unwrap(),
            );
            assert_eq!(a.is_some(), b.is_some(), "t{r}-c{c}-{i} is half there");
        }
    });
    drop(server);
    let engine = DiskEngine::open(&data).expect("reopen after kill -9");
    let locks = engine
        .snapshot()
        .unwrap()
        .scan_cf(Cf::Lock, b"", usize::MAX)
        .unwrap();
    let acked_keys: std::collections::BTreeSet<Vec<u8>> = acked
        .iter()
        .flat_map(|&(r, c, i)| txn_keys(r, c, i).map(|(k, _)| k))
        .collect();
    for lock in &locks {
        assert!(
            !acked_keys.contains(&lock.key),
            "a lock of an acknowledged transaction survived a reader: {}",
            lock.key.escape_ascii()
        );
    }
    eprintln!(
        "{} acknowledged transactions survived 3 kills; {} were in flight",
        acked.len(),
        in_flight.len()
    );
}

/// SIGTERM stops the server cleanly (exit 0, database closed), and a new
/// server on the directory serves what the old one acknowledged.
#[test]
fn a_server_stopped_with_sigterm_restarts_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProc::start(dir.path());
    let put = common::ctl(&server.addr, &["raw", "put", "k", "v", "--cf", "write"]);
    assert!(put.status.success(), "{}", common::stderr(&put));
    let term = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "SIGTERM exit: {status}");

    let again = ServerProc::start(dir.path());
    let get = common::ctl(&again.addr, &["raw", "get", "k", "--cf", "write"]);
    assert_eq!(common::stdout(&get), "v\n", "{}", common::stderr(&get));
}
