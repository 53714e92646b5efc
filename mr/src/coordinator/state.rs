//! The coordinator's task table: a pure state machine.
//!
//! No clocks, sockets or tasks here. Time comes in as `now` (time since the
//! coordinator started) and connections as opaque [`ConnId`]s, so every rule
//! below is unit-tested without processes or sleeps.
//!
//! Rules:
//! * All map tasks are handed out before any reduce task: a reduce needs
//!   every map's output.
//! * A task handed out more than `timeout` ago and not reported is presumed
//!   lost and handed out again (the reference's 10 s silent-worker rule).
//! * A task whose worker's connection closed is handed out again at once: a
//!   crashed worker process closes its socket, and waiting out the timeout
//!   would only slow recovery down. The timeout still covers workers that
//!   hang with the connection open.
//! * The first `Done` report for a task counts, whichever attempt sent it;
//!   all attempts write the same files atomically, so any finished attempt's
//!   output is good. Later reports for it are ignored.
//! * A `Failed` report (e.g. an unreadable input) fails the whole job.
//! * Once the job is finished or failed, every request is answered `Exit`.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::MrError;
use crate::rpc::{Assignment, Outcome, Report, Status, TaskId};

/// Identifies one worker connection.
pub type ConnId = u64;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Waiting to be handed out (never, or again after a loss).
    Idle,
    /// Handed to `holder` at `since`.
    Running { holder: ConnId, since: Duration },
    /// Finished; its output files are in place.
    Done,
}

#[derive(Debug, Clone)]
struct Task {
    state: State,
    /// Hand-outs so far; the current attempt's number.
    attempts: u32,
}

/// What became of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportEffect {
    /// The task is now done.
    Accepted,
    /// The job has now failed.
    Failed,
    /// Ignored: the task was already done, the job is over, or the report
    /// names a task or attempt that was never handed out.
    Ignored,
}

/// The task table. See the module docs for the rules it keeps.
#[derive(Debug, Clone)]
pub struct TaskTable {
    /// Input files; map task `i` reads `files[i]`.
    files: Vec<String>,
    /// Silence after which a running task is handed out again.
    timeout: Duration,
    maps: Vec<Task>,
    reduces: Vec<Task>,
    /// Invariant: equals the number of `maps` in `State::Done`.
    maps_done: usize,
    /// Invariant: equals the number of `reduces` in `State::Done`.
    reduces_done: usize,
    /// Connections known to be closed: never hand them work (a request
    /// already in flight when the connection dropped must not take a task
    /// with it).
    closed: BTreeSet<ConnId>,
    /// Set once, by the first `Failed` report.
    failure: Option<(TaskId, String)>,
}

impl TaskTable {
    /// A table for one map task per file and `n_reduce` reduce tasks.
    pub fn new(files: Vec<String>, n_reduce: usize, timeout: Duration) -> Result<Self, MrError> {
        if files.is_empty() {
            return Err(MrError::Config(
                "a job needs at least one input file".into(),
            ));
        }
        if n_reduce == 0 {
            return Err(MrError::Config(
                "the number of reduce tasks must be at least 1".into(),
            ));
        }
        let idle = || Task {
            state: State::Idle,
            attempts: 0,
        };
        Ok(TaskTable {
            maps: (0..files.len()).map(|_| idle()).collect(),
            reduces: (0..n_reduce).map(|_| idle()).collect(),
            files,
            timeout,
            maps_done: 0,
            reduces_done: 0,
            closed: BTreeSet::new(),
            failure: None,
        })
    }

    /// Whether every task is done.
    pub fn finished(&self) -> bool {
        self.reduces_done == self.reduces.len()
    }

    /// `Some` once the job is over: `Ok` when finished, the error when failed.
    pub fn outcome(&self) -> Option<Result<(), MrError>> {
        if let Some((task, reason)) = &self.failure {
            return Some(Err(MrError::TaskFailed {
                task: task.to_string(),
                reason: reason.clone(),
            }));
        }
        self.finished().then_some(Ok(()))
    }

    /// Hands `conn` a task, or tells it to wait or exit.
    pub fn assign(&mut self, conn: ConnId, now: Duration) -> Assignment {
        // SOLUTION BEGIN 1: hand out every map, then the reduces; a task silent for `timeout` goes out again; Exit once the job is over, Wait when nothing is free
        if self.outcome().is_some() {
            return Assignment::Exit;
        }
        if self.closed.contains(&conn) {
            return Assignment::Wait;
        }
        let in_map_phase = self.maps_done < self.maps.len();
        let timeout = self.timeout;
        let tasks = if in_map_phase {
            &mut self.maps
        } else {
            &mut self.reduces
        };
        // Prefer a task nobody holds over one whose holder may yet finish.
        let lost = |task: &Task| matches!(task.state, State::Running { since, .. } if now.saturating_sub(since) >= timeout);
        let Some(index) = tasks
            .iter()
            .position(|t| t.state == State::Idle)
            .or_else(|| tasks.iter().position(lost))
        else {
            return Assignment::Wait;
        };
        let task = &mut tasks[index];
        task.attempts += 1;
        task.state = State::Running {
            holder: conn,
            since: now,
        };
        let attempt = task.attempts;
        if in_map_phase {
            Assignment::Map {
                task: index,
                attempt,
                file: self.files[index].clone(),
                n_reduce: self.reduces.len(),
            }
        } else {
            Assignment::Reduce {
                task: index,
                attempt,
                n_map: self.maps.len(),
            }
        }
        // SOLUTION END
    }

    /// Applies a worker's report.
    pub fn report(&mut self, report: &Report) -> ReportEffect {
        // SOLUTION BEGIN 1: the first Done for a task counts, once; late, duplicate and unknown reports are ignored; a Failed report fails the job
        if self.outcome().is_some() {
            return ReportEffect::Ignored;
        }
        let task = match report.task {
            TaskId::Map(i) => self.maps.get_mut(i),
            TaskId::Reduce(i) => self.reduces.get_mut(i),
        };
        let Some(task) = task else {
            return ReportEffect::Ignored;
        };
        if report.attempt == 0 || report.attempt > task.attempts || task.state == State::Done {
            return ReportEffect::Ignored;
        }
        match &report.outcome {
            Outcome::Done => {
                task.state = State::Done;
                match report.task {
                    TaskId::Map(_) => self.maps_done += 1,
                    TaskId::Reduce(_) => self.reduces_done += 1,
                }
                ReportEffect::Accepted
            }
            Outcome::Failed(reason) => {
                self.failure = Some((report.task, reason.clone()));
                ReportEffect::Failed
            }
        }
        // SOLUTION END
    }

    /// Records that `conn` closed; its running tasks go back to idle.
    /// Returns how many tasks were released.
    pub fn disconnected(&mut self, conn: ConnId) -> usize {
        // SOLUTION BEGIN 1: never give this connection work again; its running tasks go back to idle at once
        self.closed.insert(conn);
        let mut released = 0;
        for task in self.maps.iter_mut().chain(self.reduces.iter_mut()) {
            if matches!(task.state, State::Running { holder, .. } if holder == conn) {
                task.state = State::Idle;
                released += 1;
            }
        }
        released
        // SOLUTION END
    }

    /// The earliest time a running task of the current phase will count as
    /// lost, so a waiting request knows when to look again.
    pub fn next_expiry(&self) -> Option<Duration> {
        let tasks = if self.maps_done < self.maps.len() {
            &self.maps
        } else {
            &self.reduces
        };
        tasks
            .iter()
            .filter_map(|task| match task.state {
                State::Running { since, .. } => Some(since + self.timeout),
                _ => None,
            })
            .min()
    }

    /// Progress counters.
    pub fn status(&self) -> Status {
        Status {
            n_map: self.maps.len(),
            maps_done: self.maps_done,
            n_reduce: self.reduces.len(),
            reduces_done: self.reduces_done,
            finished: self.finished(),
            failed: self
                .failure
                .as_ref()
                .map(|(task, reason)| format!("{task} failed: {reason}")),
        }
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
