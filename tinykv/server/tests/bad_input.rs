//! Bad input to the binaries and the service: a clear message, a non-zero
//! exit or an error reply, and nothing lost.

mod common;

use common::{ServerProc, ctl, runtime, server_exits, stderr, stdout};
use std::path::Path;

use tinykv_server::{Connection, Error, wire};
use tinykv_storage::raw::{MAX_KEY_LEN, MAX_VALUE_LEN, RawGetRequest, RawPutRequest};
use tinykv_storage::service::{RawGet, RawPut};
use tinykv_txn::proto::{CommitRequest, Mutation, PrewriteRequest};
use tinykv_txn::service::{KvCommit, KvPrewrite};

#[test]
fn wrong_flags_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let data = data.to_str().unwrap();
    for args in [
        vec!["--data-dir", data, "--addr", "127.0.0.1:0"],
        vec![
            "--store",
            "raft",
            "--data-dir",
            data,
            "--addr",
            "127.0.0.1:0",
        ],
        vec![
            "--store",
            "standalone",
            "--data-dir",
            data,
            "--addr",
            "127.0.0.1:0",
            "--bogus",
        ],
        vec!["--store", "standalone", "--addr", "127.0.0.1:0"],
    ] {
        let out = server_exits(&args);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(
            stderr(&out).contains("error:"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let out = server_exits(&[
        "--store",
        "standalone",
        "--data-dir",
        data,
        "--addr",
        "nonsense",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot listen on nonsense"),
        "{}",
        stderr(&out)
    );
    assert!(
        !dir.path().join("d").exists(),
        "a refused start created the data directory"
    );

    let out = ctl("127.0.0.1:1", &["raw", "frobnicate", "k"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("error:"), "{}", stderr(&out));
}

#[test]
fn a_directory_that_is_not_ours_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("thesis.tex"), "precious").unwrap();
    let data = dir.path().to_str().unwrap();
    let out = server_exits(&[
        "--store",
        "standalone",
        "--data-dir",
        data,
        "--addr",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is not a tinykv data directory"),
        "{}",
        stderr(&out)
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["thesis.tex"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("thesis.tex")).unwrap(),
        "precious"
    );
}

#[test]
fn a_second_server_on_a_locked_directory_is_refused_and_the_first_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let first = ServerProc::start(dir.path());
    assert!(ctl(&first.addr, &["raw", "put", "k", "v"]).status.success());
    let data = dir.path().to_str().unwrap();
    let out = server_exits(&[
        "--store",
        "standalone",
        "--data-dir",
        data,
        "--addr",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is locked"), "{}", stderr(&out));
    let out = ctl(&first.addr, &["raw", "get", "k"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "v\n");
}

#[test]
fn bad_requests_get_errors_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProc::start(dir.path());
    let addr = &server.addr;
    assert!(ctl(addr, &["raw", "put", "k", "v"]).status.success());
    assert!(
        ctl(addr, &["raw", "put", "k", "w", "--cf", "lock"])
            .status
            .success()
    );

    for (args, message) in [
        (
            vec!["raw", "put", "k", "x", "--cf", "bogus"],
            "unknown column family \"bogus\"",
        ),
        (
            vec!["raw", "get", "k", "--cf", "meta"],
            "unknown column family \"meta\"",
        ),
        (vec!["raw", "put", "", "x"], "empty key"),
        (vec!["raw", "delete", ""], "empty key"),
        (vec!["raw", "scan", "--cf", "nope"], "unknown column family"),
    ] {
        let out = ctl(addr, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
    let out = ctl(addr, &["raw", "get", "absent"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "not found has its own exit code"
    );

    runtime().block_on(async {
        let client = Connection::connect(addr).await.unwrap();
        let put = |key: Vec<u8>, value: Vec<u8>| RawPutRequest {
            key,
            value,
            cf: "default".into(),
            ..Default::default()
        };
        let resp = client
            .call::<RawPut>(&put(b"k".to_vec(), vec![0; MAX_VALUE_LEN + 1]))
            .await
            .unwrap();
        assert!(resp.error.contains("exceeds the limit"), "{}", resp.error);
        let resp = client
            .call::<RawPut>(&put(vec![b'k'; MAX_KEY_LEN + 1], b"x".to_vec()))
            .await
            .unwrap();
        assert!(resp.error.contains("exceeds the limit"), "{}", resp.error);
        // The largest accepted value goes through the network in one piece.
        let resp = client
            .call::<RawPut>(&put(b"big".to_vec(), vec![9; MAX_VALUE_LEN]))
            .await
            .unwrap();
        assert_eq!(resp.error, "");
    });

    // Nothing lost, nothing added by the refused requests.
    let out = ctl(addr, &["raw", "scan"]);
    assert!(out.status.success());
    let listing = stdout(&out);
    let keys: Vec<&str> = listing
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(keys, vec!["big", "k"]);
    assert_eq!(stdout(&ctl(addr, &["raw", "get", "k"])), "v\n");
    assert_eq!(
        stdout(&ctl(addr, &["raw", "get", "k", "--cf", "lock"])),
        "w\n"
    );
}

#[test]
fn a_client_without_a_server_says_so() {
    let out = ctl("127.0.0.1:1", &["raw", "get", "k"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot connect to 127.0.0.1:1"),
        "{}",
        stderr(&out)
    );
}

/// Requests the server cannot route or decode get an error reply and the
/// connection goes on serving; a frame it cannot read (over the size limit,
/// or not a request) closes that connection only; bad transactional input
/// is refused with nothing written.
#[test]
fn malformed_requests_are_refused_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProc::start(dir.path());
    let addr = server.addr.clone();
    runtime().block_on(async {
        let conn = Connection::connect(&addr).await.unwrap();
        let err = conn.call_bytes("TinyKv.Frobnicate", b"").await.unwrap_err();
        assert!(
            matches!(&err, Error::Remote(m) if m.contains("unknown method") && m.contains("TinyKvTxn.KvGet")),
            "{err:?}"
        );
        let err = conn.call_bytes("TinyKv.RawGet", &[0xff; 3]).await.unwrap_err();
        assert!(
            matches!(&err, Error::Remote(m) if m.contains("cannot decode")),
            "{err:?}"
        );
        // Bad transactional input: a typed refusal, nothing written.
        let prewrite = PrewriteRequest {
            mutations: vec![Mutation {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
                ..Default::default()
            }],
            primary_lock: Vec::new(),
            start_version: 10,
            lock_ttl: 100,
            ..Default::default()
        };
        let reply = conn.call::<KvPrewrite>(&prewrite).await.unwrap();
        assert!(
            matches!(&reply, Err(m) if m.contains("empty primary")),
            "{reply:?}"
        );
        let commit = CommitRequest {
            start_version: 10,
            keys: vec![b"k".to_vec()],
            commit_version: 5,
            ..Default::default()
        };
        let reply = conn.call::<KvCommit>(&commit).await.unwrap();
        assert!(
            matches!(&reply, Err(m) if m.contains("is not after start")),
            "{reply:?}"
        );
        // The same connection still serves.
        let get = RawGetRequest {
            key: b"k".to_vec(),
            ..Default::default()
        };
        assert!(conn.call::<RawGet>(&get).await.unwrap().not_found);

        // Garbage on a raw socket: that connection is closed, no other.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        for garbage in [
            ((wire::MAX_FRAME + 1) as u32).to_le_bytes().to_vec(),
            vec![2, 0, 0, 0, 1, 2],
        ] {
            let mut raw = tokio::net::TcpStream::connect(&addr).await.unwrap();
            raw.write_all(&garbage).await.unwrap();
            let mut rest = Vec::new();
            let read = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                raw.read_to_end(&mut rest),
            )
            .await
            .expect("the server kept a garbled connection open");
            assert!(read.is_err() || rest.is_empty(), "{rest:?}");
        }
        assert!(conn.call::<RawGet>(&get).await.unwrap().not_found);
    });
    let out = ctl(&addr, &["txn", "get", "k"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = ctl(&addr, &["txn", "put", "k", "v", "odd"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("KEY VALUE pairs"), "{}", stderr(&out));
}

/// `--store raft` with bad input: a port in use, a `--cluster` list without
/// this store, a malformed list, another store's data directory, a
/// standalone server's, a corrupt one — each a clear message and a
/// non-zero exit, never a panic.
#[test]
fn a_raft_store_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let addrs = common::free_addrs(2);
    let cluster = format!("1={},2={}", addrs[0], addrs[1]);
    let data = dir.path().join("store1");
    let data = data.to_str().unwrap();
    let flags = |id: &'static str, addr: &str, cluster: &str, data: &str| -> Vec<String> {
        let flags = [
            "--store",
            "raft",
            "--store-id",
            id,
            "--addr",
            addr,
            "--cluster",
            cluster,
            "--data-dir",
            data,
        ];
        flags.map(String::from).to_vec()
    };
    let exits = |flags: Vec<String>| {
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        server_exits(&flags)
    };
    let raft = |id, addr: &str, cluster: &str, data: &str| exits(flags(id, addr, cluster, data));
    let refused = |out: &std::process::Output, code: i32, says: &str| {
        let err = stderr(out);
        assert_eq!(out.status.code(), Some(code), "{err}");
        assert!(err.contains(says), "expected {says:?} in: {err}");
        assert!(!err.contains("panicked"), "{err}");
    };

    let out = raft("3", &addrs[0], &cluster, data);
    refused(&out, 2, "--cluster does not list store 3");
    let out = raft("1", &addrs[0], "1=nowhere", data);
    refused(&out, 2, "is not HOST:PORT");
    // A scheduler that is down at start (nothing listens on a free port).
    let nowhere = common::free_addrs(1).remove(0);
    let mut with_scheduler = flags("1", &addrs[0], &cluster, data);
    with_scheduler.extend(["--scheduler".to_string(), nowhere]);
    let out = exits(with_scheduler);
    refused(&out, 1, "cannot reach the scheduler");
    assert!(
        !Path::new(data).exists(),
        "a refused start left {data} behind"
    );
    let mut sizes = flags("1", &addrs[0], &cluster, data);
    sizes.extend(["--region-max-size", "1000", "--region-split-size", "2000"].map(String::from));
    let out = exits(sizes);
    refused(
        &out,
        2,
        "--region-split-size 2000 is above --region-max-size 1000",
    );
    assert!(!Path::new(data).exists(), "a bad flag left {data} behind");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let out = raft("1", &taken_addr, &cluster, data);
    refused(&out, 1, "cannot listen on");
    drop(taken);

    // Store 1 bootstraps its directory, then stops.
    let bootstrap = flags("1", &addrs[0], &cluster, data);
    let mut store =
        ServerProc::start_with(&bootstrap.iter().map(String::as_str).collect::<Vec<_>>());
    store.kill9();
    let out = raft("2", &addrs[1], &cluster, data);
    refused(&out, 1, "holds store 1, not store 2");

    // A standalone server's directory is not a raft store's.
    let standalone = dir.path().join("standalone");
    drop(ServerProc::start(&standalone));
    let out = raft("1", &addrs[0], &cluster, standalone.to_str().unwrap());
    refused(&out, 1, "not a tinykv data directory");

    // A corrupt kv engine, and a marker of another layout.
    std::fs::write(Path::new(data).join("kv").join("kv.redb"), b"garbage").unwrap();
    let out = raft("1", &addrs[0], &cluster, data);
    refused(&out, 1, "error:");
    std::fs::write(Path::new(data).join(tinykv_server::raft::MARKER), b"v99").unwrap();
    let out = raft("1", &addrs[0], &cluster, data);
    refused(&out, 1, "another layout");
}
