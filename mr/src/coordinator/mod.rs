//! The coordinator: hands out tasks and decides when the job is done.
//!
//! [`state`] is the pure task table (all the rules, unit-tested);
//! `service` is the tarpc server around it; [`run_coordinator`] ties them to
//! a listener and a shutdown signal.

mod service;
pub mod state;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::rpc::Listener;
use crate::{MrError, files};
use service::Shared;
use state::TaskTable;

/// The reference's number of reduce tasks.
pub const DEFAULT_N_REDUCE: usize = 10;
/// The reference's silent-worker timeout.
pub const DEFAULT_TASK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the coordinator keeps answering after the job is done, so that
/// workers hear "exit" instead of finding the socket gone (the reference
/// sleeps 1 s after `Done()`).
pub const DEFAULT_LINGER: Duration = Duration::from_secs(1);
/// How long a `get_task` request waits for work before answering `Wait`.
const POLL_WINDOW: Duration = Duration::from_secs(1);

/// What a coordinator runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorConfig {
    /// Input files, one map task each, passed to map exactly as given.
    pub files: Vec<String>,
    /// Number of reduce tasks.
    pub n_reduce: usize,
    /// Silence after which a task is handed to another worker.
    pub task_timeout: Duration,
    /// How long to keep serving after the job is over.
    pub linger: Duration,
}

impl CoordinatorConfig {
    /// The reference configuration for `files`.
    pub fn new(files: Vec<String>) -> Self {
        CoordinatorConfig {
            files,
            n_reduce: DEFAULT_N_REDUCE,
            task_timeout: DEFAULT_TASK_TIMEOUT,
            linger: DEFAULT_LINGER,
        }
    }
}

/// A finished job's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobReport {
    /// Map tasks run.
    pub n_map: usize,
    /// Reduce tasks run.
    pub n_reduce: usize,
    /// From the first task handed out to the last one reported done: the
    /// job's time without process start-up.
    pub busy: Duration,
    /// From the coordinator's start to the last task reported done.
    pub total: Duration,
}

/// A running coordinator. [`run_coordinator`] is the one-call form; the
/// steps are separate so a caller can act the moment the job is done, before
/// the linger (`mrcoordinator` prints its timing line then).
pub struct Coordinator {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    started: Instant,
    linger: Duration,
}

impl Coordinator {
    /// Checks the inputs and starts serving workers on `listener`.
    pub fn start(config: CoordinatorConfig, listener: Listener) -> Result<Self, MrError> {
        files::check_inputs(&config.files)?;
        let table = TaskTable::new(config.files, config.n_reduce, config.task_timeout)?;
        let shared = Arc::new(Shared::new(table, POLL_WINDOW));
        let server = tokio::spawn(service::accept_loop(listener, shared.clone()));
        Ok(Coordinator {
            shared,
            server,
            started: Instant::now(),
            linger: config.linger,
        })
    }

    /// Waits until every task is done (or one failed). `shutdown` resolving
    /// first gives [`MrError::Interrupted`].
    pub async fn finished(&self, shutdown: impl Future<Output = ()>) -> Result<JobReport, MrError> {
        let mut shutdown = std::pin::pin!(shutdown);
        let outcome = loop {
            let changed = self.shared.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            if let Some(outcome) = self.shared.with_table(|t| t.outcome()) {
                break outcome;
            }
            tokio::select! {
                biased;
                () = &mut shutdown => return Err(MrError::Interrupted),
                () = changed => {}
            }
        };
        let done = Instant::now();
        let status = self.shared.with_table(|t| t.status());
        let first = self
            .shared
            .first_assignment
            .get()
            .copied()
            .unwrap_or(self.started);
        outcome.map(|()| JobReport {
            n_map: status.n_map,
            n_reduce: status.n_reduce,
            busy: done.saturating_duration_since(first),
            total: done.saturating_duration_since(self.started),
        })
    }

    /// Keeps answering (workers hear "exit") for the linger time or until
    /// `shutdown`, then stops listening and removes the socket file.
    pub async fn stop(self, shutdown: impl Future<Output = ()>) {
        tokio::select! {
            biased;
            () = shutdown => {}
            () = tokio::time::sleep(self.linger) => {}
        }
        self.server.abort();
        // Awaiting the aborted task makes sure the listener (and with it the
        // socket file) is gone before we return.
        let _ = self.server.await;
    }
}

/// Runs a job: serves workers on `listener` until every task is done (or one
/// failed), lingers, then stops listening. `shutdown` resolving stops it
/// early with [`MrError::Interrupted`].
pub async fn run_coordinator(
    config: CoordinatorConfig,
    listener: Listener,
    shutdown: impl Future<Output = ()>,
) -> Result<JobReport, MrError> {
    let coordinator = Coordinator::start(config, listener)?;
    let mut shutdown = std::pin::pin!(shutdown);
    let result = coordinator.finished(&mut shutdown).await;
    if result == Err(MrError::Interrupted) {
        coordinator.stop(std::future::ready(())).await;
    } else {
        coordinator.stop(&mut shutdown).await;
    }
    result
}
