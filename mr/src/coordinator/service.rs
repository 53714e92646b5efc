//! The thin async layer around the task table: accepts connections, serves
//! the tarpc service, turns closed connections into `disconnected` calls and
//! wakes waiting requests whenever the table changes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use tarpc::context::Context;
use tarpc::serde_transport;
use tarpc::server::{BaseChannel, Channel};
use tarpc::tokio_serde::formats::Bincode;
use tarpc::tokio_util::codec::LengthDelimitedCodec;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::state::{ConnId, ReportEffect, TaskTable};
use crate::rpc::{Assignment, Coordinator, Listener, ListenerKind, Report, Status};

/// State shared by every connection.
pub(crate) struct Shared {
    /// The task table. A std mutex: it is never held across an await, and
    /// every critical section is a few field updates.
    table: Mutex<TaskTable>,
    /// Signalled after every change that could let a waiting request
    /// proceed (a report, a closed connection) or end the job.
    pub(crate) changed: Notify,
    /// The table's time zero.
    start: Instant,
    /// How long `get_task` waits for work before answering `Wait`; well under
    /// tarpc's default 10 s request deadline.
    poll_window: Duration,
    /// When the first task was handed out, to time the job without start-up.
    pub(crate) first_assignment: OnceLock<Instant>,
    next_conn: AtomicU64,
}

impl Shared {
    pub(crate) fn new(table: TaskTable, poll_window: Duration) -> Self {
        Shared {
            table: Mutex::new(table),
            changed: Notify::new(),
            start: Instant::now(),
            poll_window,
            first_assignment: OnceLock::new(),
            next_conn: AtomicU64::new(0),
        }
    }

    /// Runs `f` on the table. A panic elsewhere cannot leave the table
    /// half-updated (each method finishes its writes), so poisoning is ignored.
    pub(crate) fn with_table<R>(&self, f: impl FnOnce(&mut TaskTable) -> R) -> R {
        let mut table = self
            .table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut table)
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

/// One worker connection's view of the service.
#[derive(Clone)]
struct Session {
    shared: Arc<Shared>,
    conn: ConnId,
}

impl Coordinator for Session {
    async fn get_task(self, _: Context, worker: u32) -> Assignment {
        let shared = &self.shared;
        let give_up = Instant::now() + shared.poll_window;
        loop {
            // Register for wake-ups before looking, so a change between the
            // look and the wait is not missed.
            let changed = shared.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            let (assignment, expiry) =
                shared.with_table(|t| (t.assign(self.conn, shared.now()), t.next_expiry()));
            if assignment != Assignment::Wait || Instant::now() >= give_up {
                if matches!(
                    assignment,
                    Assignment::Map { .. } | Assignment::Reduce { .. }
                ) {
                    shared.first_assignment.get_or_init(Instant::now);
                    tracing::debug!(worker, conn = self.conn, ?assignment, "assigned");
                }
                return assignment;
            }
            // Look again when something changes or the next running task
            // times out, whichever is first.
            let wake = expiry.map_or(give_up, |at| (shared.start + at).min(give_up));
            tokio::select! {
                biased;
                () = &mut changed => {}
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    async fn report(self, _: Context, report: Report) -> bool {
        let effect = self.shared.with_table(|t| t.report(&report));
        match effect {
            ReportEffect::Accepted => tracing::debug!(conn = self.conn, ?report, "task done"),
            ReportEffect::Failed => tracing::warn!(conn = self.conn, ?report, "task failed"),
            ReportEffect::Ignored => tracing::debug!(conn = self.conn, ?report, "report ignored"),
        }
        if effect != ReportEffect::Ignored {
            self.shared.changed.notify_waiters();
        }
        effect != ReportEffect::Ignored
    }

    async fn status(self, _: Context) -> Status {
        self.shared.with_table(|t| t.status())
    }
}

/// Accepts connections until dropped; dropping it closes the listener (and
/// removes the socket file) and every connection.
pub(crate) async fn accept_loop(listener: Listener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
        let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
        let accepted = match &listener.0 {
            ListenerKind::Unix { listener, .. } => listener.accept().await.map(|(stream, _)| {
                connections.spawn(serve_connection(stream, shared.clone(), conn));
            }),
            ListenerKind::Tcp(listener) => listener.accept().await.map(|(stream, _)| {
                let _ = stream.set_nodelay(true);
                connections.spawn(serve_connection(stream, shared.clone(), conn));
            }),
        };
        if let Err(err) = accepted {
            // Typically out of file descriptors: back off rather than spin.
            tracing::warn!(%err, "accept failed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Serves one connection until it closes, then releases its tasks.
async fn serve_connection<S>(stream: S, shared: Arc<Shared>, conn: ConnId)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let transport = serde_transport::new(
        LengthDelimitedCodec::builder().new_framed(stream),
        Bincode::default(),
    );
    let session = Session {
        shared: shared.clone(),
        conn,
    };
    // Requests run as their own tasks so that a waiting `get_task` does not
    // stop us from noticing that the connection closed.
    BaseChannel::with_defaults(transport)
        .execute(session.serve())
        .for_each(|request| async {
            tokio::spawn(request);
        })
        .await;
    let released = shared.with_table(|t| t.disconnected(conn));
    if released > 0 {
        tracing::info!(
            conn,
            released,
            "worker connection closed while holding a task; re-issuing it"
        );
    }
    shared.changed.notify_waiters();
}
