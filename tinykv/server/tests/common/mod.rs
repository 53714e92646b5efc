//! Running the real binaries: a `tinykv-server` child process and
//! `tinykv-ctl` invocations.

#![allow(dead_code)] // each test file uses part of it

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const SERVER: &str = env!("CARGO_BIN_EXE_tinykv-server");
pub const CTL: &str = env!("CARGO_BIN_EXE_tinykv-ctl");

/// A running server; killed (SIGKILL) when dropped.
pub struct ServerProc {
    pub child: Child,
    pub addr: String,
}

impl ServerProc {
    /// Starts a standalone server on the disk engine in `data` and waits
    /// for its address line.
    pub fn start(data: &Path) -> ServerProc {
        ServerProc::start_on(data, "disk")
    }

    /// Starts a standalone server on `engine` (`disk` or `memory`).
    pub fn start_on(data: &Path, engine: &str) -> ServerProc {
        let data = data.to_str().unwrap();
        ServerProc::start_with(&[
            "--store",
            "standalone",
            "--engine",
            engine,
            "--addr",
            "127.0.0.1:0",
            "--data-dir",
            data,
        ])
    }

    /// Starts `tinykv-server ARGS…` and waits for its address line.
    pub fn start_with(args: &[&str]) -> ServerProc {
        let mut child = Command::new(SERVER)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start tinykv-server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("tinykv-server printed no address within 20 s");
        let addr = line
            .split_whitespace()
            .nth(3)
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        ServerProc { child, addr }
    }

    /// SIGTERM, and wait for the process to be gone: its exit status and
    /// what it wrote to stderr is not captured (inherited).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `n` free loopback addresses (bound and released: another process
/// could take one in between, which the tests accept).
pub fn free_addrs(n: usize) -> Vec<String> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().to_string())
        .collect()
}

/// Runs `tinykv-ctl --addr ADDR ARGS…`.
pub fn ctl(addr: &str, args: &[&str]) -> Output {
    Command::new(CTL)
        .arg("--addr")
        .arg(addr)
        .args(args)
        .output()
        .expect("cannot run tinykv-ctl")
}

/// Runs `tinykv-server ARGS…` to completion, giving up after 20 s.
pub fn server_exits(args: &[&str]) -> Output {
    let mut child = Command::new(SERVER)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start tinykv-server");
    let give_up = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > give_up {
            let _ = child.kill();
            panic!("tinykv-server {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// A current-thread runtime for a test's client side.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Three stores in `dir` behind the fault proxies, with a scheduler in
/// this process (its binary belongs to another crate), as
/// `tinykv-cluster --faults --scheduler inline` starts them.
pub fn proxied_cluster(dir: &Path) -> tinykv_server::cluster::Cluster {
    proxied_cluster_with(dir, &[])
}

/// [`proxied_cluster`] with `store_args` added to every store's flags.
pub fn proxied_cluster_with(dir: &Path, store_args: &[&str]) -> tinykv_server::cluster::Cluster {
    use tinykv_server::cluster::{Cluster, SchedulerKind, Spec};
    Cluster::start(Spec {
        stores: 3,
        bin_dir: Path::new(SERVER).parent().unwrap().to_path_buf(),
        data_dir: dir.to_path_buf(),
        base_port: None,
        scheduler: SchedulerKind::InProcess,
        proxies: true,
        store_args: store_args.iter().map(|s| s.to_string()).collect(),
    })
    .unwrap_or_else(|e| panic!("cannot start the cluster: {e}"))
}
