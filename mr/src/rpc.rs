//! The coordinator's RPC interface and the transports it runs over.
//!
//! The service is a tarpc trait; messages are bincode over length-delimited
//! frames. A UNIX socket is the default (one per job, path chosen by flag, so
//! several jobs and tests run at once); TCP lets workers on other machines
//! that share the file system join.

use std::fmt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tarpc::serde_transport;
use tarpc::tokio_serde::formats::Bincode;
use tarpc::tokio_util::codec::LengthDelimitedCodec;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use crate::MrError;

/// A task's identity: its kind and index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaskId {
    /// Map task `i` (input file `i`).
    Map(usize),
    /// Reduce task `i` (partition `i`).
    Reduce(usize),
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskId::Map(i) => write!(f, "map task {i}"),
            TaskId::Reduce(i) => write!(f, "reduce task {i}"),
        }
    }
}

/// The coordinator's answer to "give me work".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Assignment {
    /// Run map task `task` over `file`, partitioning into `n_reduce` files.
    Map {
        /// Map task index.
        task: usize,
        /// Which hand-out of this task this is (1 for the first); echoed back
        /// in the report so the coordinator can tell attempts apart in logs.
        attempt: u32,
        /// The input file, exactly as given to the coordinator.
        file: String,
        /// Number of reduce tasks (partitions).
        n_reduce: usize,
    },
    /// Run reduce task `task` over the intermediates of `n_map` maps.
    Reduce {
        /// Reduce task index.
        task: usize,
        /// Which hand-out of this task this is.
        attempt: u32,
        /// Number of map tasks (intermediate files to read).
        n_map: usize,
    },
    /// Nothing to do right now (the coordinator already waited a while);
    /// ask again.
    Wait,
    /// The job is over (done or failed): exit.
    Exit,
}

/// How a task ended on the worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The task's output files are in place.
    Done,
    /// The task cannot be done (e.g. an unreadable input); the job fails.
    Failed(String),
}

/// A worker's report on a task it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The task.
    pub task: TaskId,
    /// The attempt number from the [`Assignment`].
    pub attempt: u32,
    /// How it ended.
    pub outcome: Outcome,
}

/// Job progress, for `mrjob`'s progress bar and for tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Number of map tasks.
    pub n_map: usize,
    /// Map tasks finished.
    pub maps_done: usize,
    /// Number of reduce tasks.
    pub n_reduce: usize,
    /// Reduce tasks finished.
    pub reduces_done: usize,
    /// Whether every task is finished.
    pub finished: bool,
    /// Why the job failed, if it did.
    pub failed: Option<String>,
}

/// The coordinator's RPC service, as seen by workers.
#[tarpc::service]
pub trait Coordinator {
    /// Asks for a task. `worker` is the caller's process id, for logs only:
    /// the coordinator identifies workers by connection. May wait up to about
    /// a second for a task to become available before answering `Wait`.
    async fn get_task(worker: u32) -> Assignment;
    /// Reports how a task ended. Returns whether the report was accepted
    /// (false for duplicates and late reports, which change nothing).
    async fn report(report: Report) -> bool;
    /// The job's progress.
    async fn status() -> Status;
}

/// Where the coordinator listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A UNIX socket at this path.
    Unix(PathBuf),
    /// A TCP address, `host:port`.
    Tcp(String),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix:{}", path.display()),
            Endpoint::Tcp(addr) => write!(f, "tcp:{addr}"),
        }
    }
}

/// The per-user default socket: `$XDG_RUNTIME_DIR/mr-coordinator.sock` when
/// that directory exists, else `<temp dir>/mr-<uid>.sock`.
pub fn default_socket_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)
        && dir.is_dir()
    {
        return dir.join("mr-coordinator.sock");
    }
    std::env::temp_dir().join(format!("mr-{}.sock", user_tag()))
}

/// The user's id (or name), to keep per-user default paths apart.
pub fn user_tag() -> String {
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self")
        .map(|meta| meta.uid().to_string())
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "user".to_string())
}

/// A connected RPC client for the coordinator service.
pub type Client = CoordinatorClient;

impl Endpoint {
    /// Starts listening. For a UNIX socket: a stale socket file left by a
    /// dead coordinator is replaced; a socket a live coordinator answers on
    /// is an error, and so is a path that is not a socket at all.
    pub async fn bind(&self) -> Result<Listener, MrError> {
        let bind_error = |err: std::io::Error| MrError::Bind {
            endpoint: self.to_string(),
            reason: err.to_string(),
        };
        match self {
            Endpoint::Unix(path) => {
                clear_stale_socket(path).await?;
                let listener = UnixListener::bind(path).map_err(bind_error)?;
                let inode = std::fs::metadata(path).map_err(bind_error)?.ino();
                Ok(Listener(ListenerKind::Unix {
                    listener,
                    guard: SocketGuard {
                        path: path.clone(),
                        inode,
                    },
                }))
            }
            Endpoint::Tcp(addr) => {
                let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
                Ok(Listener(ListenerKind::Tcp(listener)))
            }
        }
    }

    /// Connects once; see [`Endpoint::connect_patiently`] for retries.
    pub async fn connect(&self) -> Result<Client, MrError> {
        let connect_error = |err: std::io::Error| MrError::Connect {
            endpoint: self.to_string(),
            reason: err.to_string(),
        };
        Ok(match self {
            Endpoint::Unix(path) => client(UnixStream::connect(path).await.map_err(connect_error)?),
            Endpoint::Tcp(addr) => {
                let stream = TcpStream::connect(addr).await.map_err(connect_error)?;
                // Requests are tiny; don't let Nagle hold them back.
                let _ = stream.set_nodelay(true);
                client(stream)
            }
        })
    }

    /// Connects, retrying every 50 ms for up to `patience`: workers are often
    /// started alongside the coordinator, before its socket exists.
    pub async fn connect_patiently(&self, patience: Duration) -> Result<Client, MrError> {
        let give_up = tokio::time::Instant::now() + patience;
        loop {
            match self.connect().await {
                Ok(client) => return Ok(client),
                Err(err) if tokio::time::Instant::now() >= give_up => return Err(err),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

fn client<S>(stream: S) -> Client
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let transport = serde_transport::new(
        LengthDelimitedCodec::builder().new_framed(stream),
        Bincode::default(),
    );
    CoordinatorClient::new(tarpc::client::Config::default(), transport).spawn()
}

/// Makes the path free for `bind`, or explains why it is not.
async fn clear_stale_socket(path: &Path) -> Result<(), MrError> {
    let shown = path.display().to_string();
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(MrError::io("cannot inspect", path, &err)),
    };
    if !meta.file_type().is_socket() {
        return Err(MrError::NotASocket(shown));
    }
    match UnixStream::connect(path).await {
        Ok(_) => Err(MrError::SocketInUse(shown)),
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
            // Nobody listens: the file is left over from a coordinator that
            // died without cleaning up.
            tracing::info!(socket = %shown, "replacing stale socket");
            std::fs::remove_file(path)
                .map_err(|e| MrError::io("cannot remove stale socket", path, &e))
        }
        Err(err) => Err(MrError::io("cannot probe socket", path, &err)),
    }
}

/// Removes the socket file when the coordinator stops, unless another
/// coordinator has since replaced it (checked by inode).
#[derive(Debug)]
pub(crate) struct SocketGuard {
    path: PathBuf,
    inode: u64,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        if std::fs::metadata(&self.path).is_ok_and(|meta| meta.ino() == self.inode) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A bound endpoint, ready to accept workers. Dropping it stops listening
/// and removes the UNIX socket file.
#[derive(Debug)]
pub struct Listener(pub(crate) ListenerKind);

#[derive(Debug)]
pub(crate) enum ListenerKind {
    Unix {
        listener: UnixListener,
        guard: SocketGuard,
    },
    Tcp(TcpListener),
}

impl Listener {
    /// The endpoint workers should connect to (for TCP, with the actual port
    /// when bound to port 0).
    pub fn endpoint(&self) -> Endpoint {
        match &self.0 {
            ListenerKind::Unix { guard, .. } => Endpoint::Unix(guard.path.clone()),
            ListenerKind::Tcp(listener) => match listener.local_addr() {
                Ok(addr) => Endpoint::Tcp(addr.to_string()),
                Err(_) => Endpoint::Tcp("?".to_string()),
            },
        }
    }
}
