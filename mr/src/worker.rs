//! The worker: ask for a task, run it, report, repeat until told to exit.
//!
//! One connection for the worker's whole life: the coordinator recognises a
//! worker by its connection, and re-issues its task as soon as the
//! connection closes (the process died). Map and reduce run on a blocking
//! thread so that the runtime keeps the connection and the shutdown signal
//! alive meanwhile.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use tarpc::context;

use crate::rpc::{Assignment, Endpoint, Outcome, Report, TaskId};
use crate::{App, MrError, task};

/// How long a worker keeps trying to reach a coordinator that is not (yet)
/// listening before giving up.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How a worker runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Where intermediate and output files go (the binaries use the current
    /// directory, as the reference does).
    pub dir: PathBuf,
    /// How long to retry the first connection.
    pub connect_timeout: Duration,
}

impl WorkerConfig {
    /// Files in `dir`, reference connect patience.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        WorkerConfig {
            dir: dir.into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// Why a worker stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerExit {
    /// The coordinator said the job is over.
    Told,
    /// The coordinator stopped answering; as in the reference, the worker
    /// takes that to mean the job is over.
    CoordinatorGone,
}

/// What a worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSummary {
    /// Map tasks this worker completed.
    pub maps: usize,
    /// Reduce tasks this worker completed.
    pub reduces: usize,
    /// Why it stopped.
    pub exit: WorkerExit,
}

/// Runs a worker for `app` against the coordinator at `endpoint` until the
/// job ends. Fails if no coordinator answers within the connect timeout, if
/// a task fails (after reporting it), or when `shutdown` resolves.
pub async fn run_worker(
    endpoint: &Endpoint,
    app: App,
    config: WorkerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<WorkerSummary, MrError> {
    let mut shutdown = std::pin::pin!(shutdown);
    let client = tokio::select! {
        biased;
        () = &mut shutdown => return Err(MrError::Interrupted),
        client = endpoint.connect_patiently(config.connect_timeout) => client?,
    };
    // SOLUTION BEGIN 1: ask for a task, run it with task::run_map / task::run_reduce on a blocking thread, report the outcome; stop on Exit or when the coordinator is gone
    let pid = std::process::id();
    let mut summary = WorkerSummary {
        maps: 0,
        reduces: 0,
        exit: WorkerExit::Told,
    };
    loop {
        let assignment = tokio::select! {
            biased;
            () = &mut shutdown => return Err(MrError::Interrupted),
            reply = client.get_task(context::current(), pid) => reply,
        };
        let assignment = match assignment {
            Ok(assignment) => assignment,
            Err(err) => {
                tracing::info!(%err, "coordinator unreachable; assuming the job is over");
                summary.exit = WorkerExit::CoordinatorGone;
                return Ok(summary);
            }
        };
        let (id, attempt) = match &assignment {
            Assignment::Map { task, attempt, .. } => (TaskId::Map(*task), *attempt),
            Assignment::Reduce { task, attempt, .. } => (TaskId::Reduce(*task), *attempt),
            // The coordinator already waited before saying so.
            Assignment::Wait => continue,
            Assignment::Exit => return Ok(summary),
        };
        tracing::debug!(?assignment, "running");
        let dir = config.dir.clone();
        let job = tokio::task::spawn_blocking(move || match assignment {
            Assignment::Map {
                task,
                file,
                n_reduce,
                ..
            } => task::run_map(app, &dir, task, &file, n_reduce),
            Assignment::Reduce { task, n_map, .. } => {
                task::run_reduce(app, &dir, task, n_map).map(drop)
            }
            Assignment::Wait | Assignment::Exit => Ok(()),
        });
        let result = tokio::select! {
            biased;
            () = &mut shutdown => return Err(MrError::Interrupted),
            joined = job => joined.unwrap_or_else(|err| Err(MrError::TaskFailed {
                task: id.to_string(),
                reason: format!("the app panicked: {err}"),
            })),
        };
        let outcome = match &result {
            Ok(()) => Outcome::Done,
            Err(err) => Outcome::Failed(err.to_string()),
        };
        let report = Report {
            task: id,
            attempt,
            outcome,
        };
        if let Err(err) = client.report(context::current(), report).await {
            tracing::info!(%err, "coordinator unreachable; assuming the job is over");
            summary.exit = WorkerExit::CoordinatorGone;
            return result.map(|()| summary);
        }
        result?;
        match id {
            TaskId::Map(_) => summary.maps += 1,
            TaskId::Reduce(_) => summary.reduces += 1,
        }
    }
    // SOLUTION END
}
