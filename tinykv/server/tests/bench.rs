//! `tinykv-bench` as a user runs it: bad flags and unreachable endpoints
//! are a clear error and a non-zero exit; a short run against a real
//! `tinykv-server` child prints the table with every operation counted;
//! the etcd mode, against a fake gateway in this test speaking the v3 JSON
//! API, writes and reads what the real one would.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use common::*;

const BENCH: &str = env!("CARGO_BIN_EXE_tinykv-bench");

fn bench(args: &[&str]) -> Output {
    Command::new(BENCH)
        .arg("--no-progress")
        .args(args)
        .output()
        .expect("cannot run tinykv-bench")
}

/// The table's data row, split into columns.
fn row(out: &Output) -> Vec<String> {
    let text = stdout(out);
    let mut lines = text.lines();
    assert!(lines.next().unwrap_or("").starts_with("target"), "{text}");
    lines
        .next()
        .unwrap_or_else(|| panic!("no row in {text:?}"))
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn bench_refuses_bad_flags_and_unreachable_endpoints() {
    for bad in [
        &["--clients", "0"][..],
        &["--duration", "1", "--total", "10"],
        &["--workload", "scan"],
        &["--value-size", "lots"],
        &["--frobnicate"],
    ] {
        let out = bench(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("error"), "{bad:?}");
    }
    // A port nobody listens on (bound, then released).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    // Something that accepts connections and never answers.
    let mute = TcpListener::bind("127.0.0.1:0").unwrap();
    let mute_addr = mute.local_addr().unwrap().to_string();
    // A tinykv-server taken for etcd: it hangs up on the HTTP request.
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProc::start_on(dir.path(), "memory");
    for (target, endpoint, why) in [
        ("tinykv", addr.clone(), "cannot connect"),
        ("etcd", format!("http://{addr}"), "cannot connect"),
        ("etcd", "ftp://h:1".into(), "only http://"),
        (
            "tinykv",
            mute_addr.clone(),
            "does not answer as a tinykv-server",
        ),
        (
            "etcd",
            format!("http://{}", server.addr),
            "does not answer as an etcd",
        ),
    ] {
        let out = bench(&[
            "--target",
            target,
            "--endpoints",
            &endpoint,
            "--connect-timeout",
            "0.3",
        ]);
        assert_eq!(out.status.code(), Some(1), "{target} {endpoint}");
        let err = stderr(&out);
        assert!(err.starts_with("tinykv-bench: error:"), "{err}");
        assert!(err.contains(why), "{target} {endpoint}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(stdout(&out).is_empty());
    }
}

#[test]
fn bench_short_run_against_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProc::start_on(dir.path(), "memory");
    let out = bench(&[
        "--endpoints",
        &server.addr,
        "--clients",
        "4",
        "--total",
        "300",
        "--value-size",
        "64",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cols = row(&out);
    assert_eq!(
        cols[..6],
        ["tinykv", "put", "4", "64", "300", "0"],
        "{cols:?}"
    );
    // The puts landed: a key in the space holds a 64-byte value.
    let got = ctl(&server.addr, &["raw", "scan", "bench", "--limit", "1"]);
    let line = stdout(&got);
    let (key, value) = line.trim_end().split_once('\t').unwrap();
    assert!(key.starts_with("bench"), "{line}");
    assert_eq!(value, "v".repeat(64));
    // Reads after the fill all find their key.
    let out = bench(&[
        "--endpoints",
        &server.addr,
        "--workload",
        "get",
        "--keys",
        "50",
        "--clients",
        "2",
        "--duration",
        "0.2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cols = row(&out);
    assert_eq!(cols[..2], ["tinykv", "get"]);
    assert!(cols[4].parse::<u64>().unwrap() > 0, "{cols:?}");
    assert!(!stdout(&out).contains("found no value"), "{}", stdout(&out));
}

/// A fake etcd member: the two gateway calls the bench makes, over
/// keep-alive HTTP/1.1, on a map. Replies alternate between a
/// Content-Length body and a chunked one, as Go's server may send either.
fn fake_etcd() -> (String, Arc<Mutex<BTreeMap<String, String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let kv = Arc::new(Mutex::new(BTreeMap::new()));
    let store = kv.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let kv = store.clone();
            std::thread::spawn(move || serve_fake(conn, &kv));
        }
    });
    (addr, kv)
}

fn serve_fake(conn: std::net::TcpStream, kv: &Mutex<BTreeMap<String, String>>) {
    let _ = conn.set_nodelay(true);
    let mut write = conn.try_clone().unwrap();
    let mut read = BufReader::new(conn);
    let mut n = 0;
    loop {
        let mut request_line = String::new();
        if read.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            read.read_line(&mut header).unwrap();
            if header == "\r\n" {
                break;
            }
            if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        read.read_exact(&mut body).unwrap();
        let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let key = req["key"].as_str().unwrap().to_string();
        let reply = if request_line.starts_with("POST /v3/kv/put ") {
            let value = req["value"].as_str().unwrap().to_string();
            kv.lock().unwrap().insert(key, value);
            r#"{"header":{"revision":"2"}}"#.to_string()
        } else if request_line.starts_with("POST /v3/kv/range ") {
            match kv.lock().unwrap().get(&key) {
                Some(v) => format!(r#"{{"kvs":[{{"key":"{key}","value":"{v}"}}],"count":"1"}}"#),
                None => r#"{"header":{}}"#.to_string(),
            }
        } else {
            let msg = r#"{"error":"Not Found","code":5}"#;
            let reply = format!(
                "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\n\r\n{msg}",
                msg.len()
            );
            let _ = write.write_all(reply.as_bytes());
            continue;
        };
        n += 1;
        let reply = if n % 2 == 0 {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{reply}",
                reply.len()
            )
        } else {
            let (a, b) = reply.split_at(reply.len() / 2);
            format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                a.len(),
                b.len()
            )
        };
        // One write: no Nagle stall between pieces of a reply.
        let _ = write.write_all(reply.as_bytes());
    }
}

#[test]
fn bench_against_etcd_gateway() {
    let (a, kv_a) = fake_etcd();
    let (b, kv_b) = fake_etcd();
    let endpoints = format!("http://{a},http://{b}/");
    let out = bench(&[
        "--target",
        "etcd",
        "--endpoints",
        &endpoints,
        "--workload",
        "mixed",
        "--keys",
        "20",
        "--clients",
        "2",
        "--total",
        "200",
        "--value-size",
        "5",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cols = row(&out);
    assert_eq!(
        cols[..6],
        ["etcd", "mixed", "2", "5", "200", "0"],
        "{cols:?}"
    );
    // Both members got clients; the fill wrote every key, base64-encoded
    // ("vvvvv" is "dnZ2dnY=").
    let (kv_a, kv_b) = (kv_a.lock().unwrap(), kv_b.lock().unwrap());
    assert!(!kv_a.is_empty() && !kv_b.is_empty());
    let keys: std::collections::BTreeSet<_> = kv_a.keys().chain(kv_b.keys()).collect();
    assert_eq!(keys.len(), 20);
    assert!(kv_a.values().chain(kv_b.values()).all(|v| v == "dnZ2dnY="));
    // The fakes are not one cluster: a client's reads miss the keys that
    // only the other member holds, and the bench says so.
    assert!(stdout(&out).contains("found no value"), "{}", stdout(&out));
}
