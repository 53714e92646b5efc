//! A local TinyKV cluster of real processes: a scheduler and N
//! `tinykv-server --store raft` stores on loopback, each in its own data
//! directory with its own log file — what `tinykv-cluster` runs and what
//! the crash tests drive ([`Cluster::kill9`], [`Cluster::restart`], and,
//! with [`Spec::proxies`], partitions through [`crate::proxy`]).
//!
//! Layout of the data directory: `store-N/` (a store's data), `scheduler/`
//! (the scheduler's id and timestamp reservation),
//! `store-N.log` and `scheduler.log` (each child's stdout and stderr,
//! appended across restarts).
//!
//! Nothing is restarted on its own: a store that dies stays down until
//! [`Cluster::restart`]. Every child gets SIGKILL when the [`Cluster`] is
//! dropped; [`Cluster::stop`] asks them to stop first (SIGTERM).

pub mod cli;
mod process;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use process::{Proc, log_tail, stop_all};

use crate::Error;
use crate::proxy::{Faults, Mesh};

/// How long SIGTERM gets before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);

/// How long a child may take to start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the scheduler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulerKind {
    /// A `tinykv-scheduler` child process.
    Process,
    /// Inside this process, on the cluster's runtime (tests; no binary).
    InProcess,
    /// None: the stores run without `--scheduler`.
    None,
}

/// What to start.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Number of stores (ids 1..=N).
    pub stores: u64,
    /// The directory holding `tinykv-server` (and `tinykv-scheduler`).
    pub bin_dir: PathBuf,
    /// The data directory (created if missing).
    pub data_dir: PathBuf,
    /// Scheduler on this port, stores on the next N; none: free ports.
    pub base_port: Option<u16>,
    /// Where the scheduler runs.
    pub scheduler: SchedulerKind,
    /// Stores reach each other through a [`Mesh`] of proxies (so
    /// [`Cluster::faults`] can partition them).
    pub proxies: bool,
    /// More `tinykv-server` flags for every store (`--engine memory`,
    /// `--no-sync`).
    pub store_args: Vec<String>,
}

/// One store: its fixed address and arguments, its process if running.
struct StoreSlot {
    addr: SocketAddr,
    args: Vec<String>,
    log: PathBuf,
    proc: Option<Proc>,
}

/// A running cluster.
pub struct Cluster {
    spec: Spec,
    scheduler_addr: Option<SocketAddr>,
    scheduler: Option<Proc>,
    stores: BTreeMap<u64, StoreSlot>,
    mesh: Option<Arc<Mesh>>,
    /// Runs the proxies and an in-process scheduler; dropped last.
    runtime: tokio::runtime::Runtime,
}

impl Cluster {
    /// Starts the scheduler, then every store, and waits until each one
    /// listens. On any failure whatever was started is stopped and the
    /// error names the child and quotes its log.
    ///
    /// Must not be called (nor the cluster dropped) inside an async
    /// context: the cluster owns a runtime.
    pub fn start(spec: Spec) -> Result<Cluster, Error> {
        if spec.stores == 0 {
            return Err(Error::Usage("at least one store is needed".into()));
        }
        let _spawning = spawning();
        let server_bin = spec.bin_dir.join("tinykv-server");
        let scheduler_bin = spec.bin_dir.join("tinykv-scheduler");
        let mut needed = vec![&server_bin];
        if spec.scheduler == SchedulerKind::Process {
            needed.push(&scheduler_bin);
        }
        for bin in needed {
            if !bin.is_file() {
                return Err(Error::Usage(format!(
                    "{} not found (tinykv-cluster runs the binaries next to it; build them with \
                     `cargo build --release -p tinykv-server -p tinykv-scheduler`)",
                    bin.display()
                )));
            }
        }
        std::fs::create_dir_all(&spec.data_dir)
            .map_err(|e| Error::Io(format!("cannot create {}: {e}", spec.data_dir.display())))?;
        let mut held = ports(spec.base_port, spec.stores + 1)?;
        let ports = held.iter().map(port_of).collect::<Result<Vec<_>, _>>()?;
        let loopback = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tinykv-cluster")
            .enable_all()
            .build()
            .map_err(|e| Error::Io(format!("cannot start runtime: {e}")))?;
        let store_addrs: BTreeMap<u64, SocketAddr> = (1..=spec.stores)
            .zip(&ports[1..])
            .map(|(id, &port)| (id, loopback(port)))
            .collect();
        let mesh = match spec.proxies {
            true => Some(Arc::new(runtime.block_on(Mesh::start(&store_addrs))?)),
            false => None,
        };
        let mut cluster = Cluster {
            scheduler_addr: None,
            scheduler: None,
            stores: BTreeMap::new(),
            mesh,
            runtime,
            spec,
        };
        let sched_addr = loopback(ports[0]);
        // Released now for the scheduler; the stores' below.
        let store_ports = held.split_off(1);
        drop(held);
        match cluster.spec.scheduler {
            SchedulerKind::None => {}
            SchedulerKind::InProcess => {
                cluster.scheduler_addr = Some(sched_addr);
                let dir = cluster.scheduler_dir();
                cluster
                    .runtime
                    .block_on(in_process_scheduler(sched_addr, &dir))?;
            }
            SchedulerKind::Process => {
                cluster.scheduler_addr = Some(sched_addr);
                cluster.start_scheduler(sched_addr)?;
            }
        }
        let everyone = store_addrs
            .iter()
            .map(|(id, addr)| format!("{id}={addr}"))
            .collect::<Vec<_>>()
            .join(",");
        for (&id, &addr) in &store_addrs {
            let dir = cluster.spec.data_dir.join(format!("store-{id}"));
            let peers = match &cluster.mesh {
                Some(mesh) => mesh.cluster_arg(id),
                None => everyone.clone(),
            };
            let mut args: Vec<String> = [
                "--store",
                "raft",
                "--store-id",
                &id.to_string(),
                "--addr",
                &addr.to_string(),
                "--data-dir",
                &dir.to_string_lossy(),
                "--cluster",
                &peers,
            ]
            .map(String::from)
            .to_vec();
            if cluster.mesh.is_some() {
                // Leader hints name what clients dial, not the proxies.
                args.extend(["--client-addrs".to_string(), everyone.clone()]);
            }
            if let Some(s) = cluster.scheduler_addr {
                args.extend(["--scheduler".to_string(), s.to_string()]);
            }
            args.extend(cluster.spec.store_args.iter().cloned());
            let log = cluster.spec.data_dir.join(format!("store-{id}.log"));
            cluster.stores.insert(
                id,
                StoreSlot {
                    addr,
                    args,
                    log,
                    proc: None,
                },
            );
        }
        // All at once, then wait: the stores find each other while they start.
        drop(store_ports);
        for id in 1..=cluster.spec.stores {
            cluster.spawn_store(id)?;
        }
        for id in 1..=cluster.spec.stores {
            cluster.wait_store(id)?;
        }
        Ok(cluster)
    }

    /// The scheduler's data directory (its id and timestamp reservation),
    /// in or out of process.
    fn scheduler_dir(&self) -> PathBuf {
        self.spec.data_dir.join("scheduler")
    }

    /// Starts the `tinykv-scheduler` child on `addr` and its directory,
    /// and waits until it listens.
    fn start_scheduler(&mut self, addr: SocketAddr) -> Result<(), Error> {
        let bin = self.spec.bin_dir.join("tinykv-scheduler");
        let log = self.spec.data_dir.join("scheduler.log");
        let args = vec![
            "--addr".to_string(),
            addr.to_string(),
            "--data-dir".to_string(),
            self.scheduler_dir().to_string_lossy().into_owned(),
        ];
        let mut proc = Proc::spawn("scheduler", &bin, &args, &log)?;
        let ready = proc.wait_ready(START_TIMEOUT);
        self.scheduler = Some(proc);
        ready.map(drop)
    }

    /// SIGKILLs the scheduler ([`SchedulerKind::Process`] only): the stores
    /// keep serving and reconnect once it is back.
    pub fn kill9_scheduler(&mut self) -> Result<(), Error> {
        if self.spec.scheduler != SchedulerKind::Process {
            return Err(Error::Usage("the scheduler is not a process".into()));
        }
        if let Some(mut proc) = self.scheduler.take() {
            proc.kill9();
        }
        Ok(())
    }

    /// Starts the scheduler process again (it must be down), on its address
    /// and data directory, and waits until it listens.
    pub fn restart_scheduler(&mut self) -> Result<(), Error> {
        let addr = match (self.spec.scheduler, self.scheduler_addr) {
            (SchedulerKind::Process, Some(addr)) => addr,
            _ => return Err(Error::Usage("the scheduler is not a process".into())),
        };
        if self
            .scheduler
            .as_mut()
            .is_some_and(|p| p.exited().is_none())
        {
            return Err(Error::Usage("the scheduler is running".into()));
        }
        let _spawning = spawning();
        self.start_scheduler(addr)
    }

    fn spawn_store(&mut self, id: u64) -> Result<(), Error> {
        let bin = self.spec.bin_dir.join("tinykv-server");
        let slot = self.slot(id)?;
        let proc = Proc::spawn(&format!("store {id}"), &bin, &slot.args, &slot.log)?;
        self.slot(id)?.proc = Some(proc);
        Ok(())
    }

    fn wait_store(&mut self, id: u64) -> Result<(), Error> {
        match &mut self.slot(id)?.proc {
            Some(proc) => proc.wait_ready(START_TIMEOUT).map(drop),
            None => Err(Error::Usage(format!("store {id} is not running"))),
        }
    }

    fn slot(&mut self, id: u64) -> Result<&mut StoreSlot, Error> {
        self.stores
            .get_mut(&id)
            .ok_or_else(|| Error::Usage(format!("no store {id}")))
    }

    /// The stores' client addresses, by id.
    pub fn endpoints(&self) -> Vec<String> {
        self.stores.values().map(|s| s.addr.to_string()).collect()
    }

    /// Store `id`'s client address.
    pub fn addr(&self, id: u64) -> Option<SocketAddr> {
        self.stores.get(&id).map(|s| s.addr)
    }

    /// The store ids.
    pub fn ids(&self) -> Vec<u64> {
        self.stores.keys().copied().collect()
    }

    /// The scheduler's address, if there is one.
    pub fn scheduler_addr(&self) -> Option<SocketAddr> {
        self.scheduler_addr
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.spec.data_dir
    }

    /// The links' faults (with [`Spec::proxies`]).
    pub fn faults(&self) -> Option<Faults<'_>> {
        self.mesh.as_deref().map(Mesh::faults)
    }

    /// The proxies (with [`Spec::proxies`]), to share with a control
    /// server ([`crate::proxy::serve_control`]).
    pub fn mesh(&self) -> Option<Arc<Mesh>> {
        self.mesh.clone()
    }

    /// The cluster's runtime (the proxies run on it).
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// Whether store `id`'s process is running.
    pub fn is_running(&mut self, id: u64) -> bool {
        match self.stores.get_mut(&id).and_then(|s| s.proc.as_mut()) {
            Some(proc) => proc.exited().is_none(),
            None => false,
        }
    }

    /// SIGKILLs store `id` (no clean stop, nothing flushed).
    pub fn kill9(&mut self, id: u64) -> Result<(), Error> {
        if let Some(mut proc) = self.slot(id)?.proc.take() {
            proc.kill9();
        }
        Ok(())
    }

    /// Starts store `id` again on its data directory (it must be down) and
    /// waits until it listens.
    pub fn restart(&mut self, id: u64) -> Result<(), Error> {
        if self.is_running(id) {
            return Err(Error::Usage(format!("store {id} is running")));
        }
        let _spawning = spawning();
        self.spawn_store(id)?;
        self.wait_store(id)
    }

    /// The first child found dead (name and status), if any.
    pub fn dead_child(&mut self) -> Option<String> {
        let scheduler = self.scheduler.iter_mut();
        let stores = self.stores.values_mut().filter_map(|s| s.proc.as_mut());
        for proc in scheduler.chain(stores) {
            if let Some(status) = proc.exited() {
                return Some(proc.failure(&format!("exited ({status})")).to_string());
            }
        }
        None
    }

    /// Stops every child (SIGTERM, SIGKILL after [`GRACE`]); returns the
    /// ones that needed SIGKILL. Stores first, the scheduler last.
    pub fn stop(&mut self) -> Vec<String> {
        let mut killed = stop_all(
            self.stores.values_mut().filter_map(|s| s.proc.as_mut()),
            GRACE,
        );
        killed.extend(stop_all(self.scheduler.as_mut(), GRACE));
        killed
    }
}

/// Held by whoever starts children, from releasing their ports until they
/// listen. A port is held by a listener of ours until its child is about
/// to bind it; if another cluster of this process forked meanwhile, the
/// fork holds a copy of that listener until it execs, and the child finds
/// its port in use (seen with two clusters started at once in one test
/// binary: 6 failed starts in 34 runs, none in 30 with this lock). One
/// cluster starting at a time closes that window; a fork by anything
/// else in the process (a test running `tinykv-ctl`) still could.
fn spawning() -> std::sync::MutexGuard<'static, ()> {
    static SPAWNING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SPAWNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// `n` loopback ports: `base..base+n`, each checked free; or, without a
/// base, `n` ports the system finds free. Each is returned bound: the
/// caller releases a port just before its child binds it, so nothing this
/// process binds meanwhile (the proxies) can take it.
fn ports(base: Option<u16>, n: u64) -> Result<Vec<TcpListener>, Error> {
    match base {
        Some(base) => {
            let mut out = Vec::new();
            for i in 0..n {
                let port = u16::try_from(u64::from(base) + i)
                    .map_err(|_| Error::Usage(format!("--base-port {base} + {n} passes 65535")))?;
                out.push(
                    TcpListener::bind(("127.0.0.1", port))
                        .map_err(|e| Error::Net(format!("port {port} is not free: {e}")))?,
                );
            }
            Ok(out)
        }
        None => (0..n)
            .map(|_| TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Net(format!("no free port: {e}"))),
    }
}

fn port_of(listener: &TcpListener) -> Result<u16, Error> {
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::Net(format!("no free port: {e}")))
}

/// A scheduler served on the current runtime until it is dropped.
async fn in_process_scheduler(addr: SocketAddr, dir: &Path) -> Result<(), Error> {
    use tinykv_scheduler::{Clock, Config, SchedulerServer, net};
    let server = SchedulerServer::durable(Config::default(), 1, Clock::System, dir)
        .map_err(|e| Error::Io(e.to_string()))?;
    let listener = net::bind(&addr.to_string())
        .await
        .map_err(|e| Error::Net(e.to_string()))?;
    tokio::spawn(server.clone().run_schedulers(labrpc::Shutdown::new()));
    tokio::spawn(net::serve(listener, server));
    Ok(())
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
