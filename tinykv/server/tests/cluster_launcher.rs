//! `tinykv-cluster` as a user runs it: it starts the stores (the scheduler
//! inline: its binary belongs to another crate), prints where they listen,
//! serves `tinykv-ctl` through them, and stops everything on SIGTERM with
//! exit 0; a missing binary, a port in use or a store that cannot start is
//! a clear message, nothing left running, and exit 1.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tinykv_scheduler::reserve::ReservationFile;

const LAUNCHER: &str = env!("CARGO_BIN_EXE_tinykv-cluster");

/// One launch at a time: each picks free ports and releases them just
/// before its children bind them, and another test probing ports in that
/// moment could take one.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
const CTL: &str = env!("CARGO_BIN_EXE_tinykv-ctl");

/// A running launcher and what its ready banner said.
struct Launcher {
    child: Child,
    endpoints: String,
    scheduler: String,
    /// The fault control's address (with `--faults`).
    faults: String,
}

impl Drop for Launcher {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Stops a launcher the way a user does (SIGTERM: it stops its stores and
/// scheduler), and SIGKILLs it only if it has not exited 20 s later — a
/// SIGKILLed launcher would leave its children running, and a failed test
/// would leave a cluster behind.
fn stop(child: &mut Child) {
    if matches!(child.try_wait(), Ok(None)) {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let give_up = Instant::now() + Duration::from_secs(20);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A launcher child stopped (as [`stop`] does) when dropped: also when the
/// test fails half-way.
struct Stopping(Option<Child>);

impl Drop for Stopping {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            stop(child);
        }
    }
}

fn launcher(args: &[&str]) -> Command {
    let mut cmd = Command::new(LAUNCHER);
    cmd.args(["--scheduler", "inline"]).args(args);
    cmd
}

/// Starts the launcher and reads its banner up to the ready line.
fn start(args: &[&str]) -> Launcher {
    let mut child = launcher(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let (mut endpoints, mut scheduler, mut faults) = (String::new(), String::new(), String::new());
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("tinykv-cluster printed no ready line within 60 s");
        if let Some(e) = line.strip_prefix("endpoints: ") {
            endpoints = e.to_string();
        }
        if let Some(s) = line.strip_prefix("scheduler: ") {
            scheduler = s.to_string();
        }
        if let Some(f) = line.strip_prefix("faults: ") {
            faults = f.split_whitespace().next().unwrap_or_default().to_string();
        }
        if line.starts_with("tinykv-cluster ready") {
            break;
        }
    }
    Launcher {
        child,
        endpoints,
        scheduler,
        faults,
    }
}

/// Runs the launcher to its end (60 s at most).
fn run(args: &[&str]) -> Output {
    let child = launcher(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_output(child, Duration::from_secs(60))
}

fn wait_output(mut child: Child, within: Duration) -> Output {
    let give_up = Instant::now() + within;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > give_up {
            let _ = child.kill();
            panic!("tinykv-cluster did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn ctl(args: &[&str]) -> Output {
    Command::new(CTL).args(args).output().unwrap()
}

/// Polls `tinykv-ctl TABLE --scheduler ADDR` until `ready` holds for its
/// output (10 s at most: the stores heartbeat every 100 ms); returns it.
fn wait_for_table(scheduler: &str, table: &str, ready: impl Fn(&str) -> bool) -> String {
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let out = ctl(&[table, "--scheduler", scheduler]);
        assert!(out.status.success(), "{table}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if ready(&text) {
            return text;
        }
        assert!(
            Instant::now() < give_up,
            "the scheduler's {table} table is still not what the stores report:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn listening(addr: &str) -> bool {
    TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_millis(200)).is_ok()
}

/// A base port with `n` free ports from it.
fn free_ports(n: u16) -> u16 {
    for _ in 0..100 {
        let base = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if base < 60000 && (0..n).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no {n} consecutive free ports");
}

#[test]
fn serves_ctl_and_stops_everything_on_sigterm() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cluster");
    let mut l = start(&[
        "--stores",
        "3",
        "--data-dir",
        data.to_str().unwrap(),
        "--faults",
    ]);
    let stores: Vec<String> = l.endpoints.split(',').map(String::from).collect();
    assert_eq!(stores.len(), 3, "endpoints {:?}", l.endpoints);

    let put = ctl(&["--addr", &l.endpoints, "raw", "put", "hello", "world"]);
    assert!(put.status.success(), "put: {put:?}");
    let get = ctl(&["--addr", &l.endpoints, "raw", "get", "hello"]);
    assert!(get.status.success(), "get: {get:?}");
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), "world");
    let table = ctl(&["stores", "--scheduler", &l.scheduler]);
    assert!(table.status.success(), "stores: {table:?}");
    assert!(String::from_utf8_lossy(&table.stdout).starts_with("STORE"));
    let table = ctl(&["regions", "--scheduler", &l.scheduler]);
    assert!(table.status.success(), "regions: {table:?}");

    // The fault control: cut store 1 off, then heal.
    let fault = |words: &[&str]| {
        let out = ctl(&[&["fault", "--control", &l.faults][..], words].concat());
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    };
    assert_eq!(
        fault(&["isolate", "1", "drop"]),
        (Some(0), "store 1 drop".into())
    );
    assert_eq!(
        fault(&["status"]).1,
        "1->2 drop, 1->3 drop, 2->1 drop, 3->1 drop"
    );
    assert_eq!(fault(&["isolate", "9", "drop"]).0, Some(1));
    assert_eq!(fault(&["heal"]), (Some(0), "healed".into()));
    let put = ctl(&["--addr", &l.endpoints, "raw", "put", "after", "heal"]);
    assert!(put.status.success(), "put after the heal: {put:?}");

    let term = Command::new("kill")
        .args(["-TERM", &l.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let give_up = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = l.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < give_up, "no exit 20 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit after SIGTERM: {status}");
    for addr in stores.iter().chain([&l.scheduler]) {
        assert!(!listening(addr), "{addr} still listening after the stop");
    }
    // --data-dir is kept: each store's data and log.
    for id in 1..=3 {
        assert!(data.join(format!("store-{id}")).is_dir());
        assert!(data.join(format!("store-{id}.log")).is_file());
    }
}

#[test]
fn missing_binaries_are_named() {
    let _serial = serial();
    let empty = tempfile::tempdir().unwrap();
    let out = run(&["--bin-dir", empty.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("tinykv-server not found"), "{stderr}");
    assert!(stderr.contains("cargo build --release"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_port_in_use_is_refused() {
    let _serial = serial();
    let base = free_ports(4);
    let _taken = TcpListener::bind(("127.0.0.1", base + 2)).unwrap();
    let out = run(&["--base-port", &base.to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("port {} is not free", base + 2)),
        "{stderr}"
    );
    for port in [base, base + 1, base + 3] {
        assert!(!listening(&format!("127.0.0.1:{port}")));
    }
}

#[test]
fn a_store_that_cannot_start_stops_the_others() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    // Store 2's data directory is a file: it exits at start.
    std::fs::write(data.join("store-2"), b"not a directory").unwrap();
    let base = free_ports(4);
    let out = run(&[
        "--base-port",
        &base.to_string(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("store 2 exited at start"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for port in base..base + 4 {
        assert!(
            !listening(&format!("127.0.0.1:{port}")),
            "port {port} still served"
        );
    }
    assert!(Path::new(&data.join("store-2.log")).is_file());
}

/// The default: the scheduler as a `tinykv-scheduler` child process. Its
/// binary belongs to another crate: `cargo test --workspace` (CI) builds it
/// next to ours; a run of this crate alone may not have it, and says so.
#[test]
fn a_scheduler_process_serves_and_stops_with_the_stores() {
    let _serial = serial();
    let bin_dir = Path::new(LAUNCHER).parent().unwrap();
    if !bin_dir.join("tinykv-scheduler").is_file() {
        eprintln!("skipped: no tinykv-scheduler in {}", bin_dir.display());
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let mut guard = Stopping(Some(
        Command::new(LAUNCHER)
            .args(["--stores", "3", "--data-dir"])
            .arg(data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    ));
    let child = guard.0.as_mut().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut scheduler = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(s) = line.strip_prefix("scheduler: ") {
            scheduler = s.to_string();
        }
        if line.starts_with("tinykv-cluster ready") {
            break;
        }
    }
    assert!(
        !scheduler.is_empty(),
        "tinykv-cluster ended before its ready line"
    );
    assert!(listening(&scheduler), "scheduler {scheduler:?}");
    // The stores report to the scheduler process: all three registered,
    // each holding region 1, whose leader heartbeats it with its 3 peers.
    let stores = wait_for_table(&scheduler, "stores", |t| {
        t.lines().filter(|l| l.contains(" Up ")).count() == 3
            && t.contains("3 stores")
            && t.lines().skip(1).take(3).all(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.get(4) == Some(&"1")
            })
    });
    assert!(stores.contains("3 stores"), "{stores}");
    let regions = wait_for_table(&scheduler, "regions", |t| {
        t.lines()
            .any(|l| l.starts_with("1 ") && l.contains("1@1,2@2,3@3") && !l.contains(" - "))
    });
    assert!(regions.contains("1 regions"), "{regions}");
    // The scheduler keeps its id reservation in the cluster's directory,
    // above the ids the stores bootstrapped with (its balancer reserves the
    // id it may need every round).
    let file = data.path().join("scheduler/reservation");
    let started = Instant::now();
    while !file.exists() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        file.exists(),
        "no scheduler/reservation in the cluster's data directory"
    );
    let reserved = ReservationFile::open(&data.path().join("scheduler"))
        .unwrap()
        .current();
    assert!(reserved.ids_below > 3, "{reserved:?}");
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let child = guard.0.take().unwrap();
    let out = wait_output(child, Duration::from_secs(20));
    assert!(out.status.success(), "{out:?}");
    assert!(
        !listening(&scheduler),
        "the scheduler outlived the launcher"
    );
}
