//! What every peer applied, and the two applier tasks that check it.
//!
//! Each peer's apply channel is read by one task. The plain applier checks
//! that a value committed at an index agrees with every other peer's value
//! there and that the index before it was applied first. The snapshot
//! applier additionally requires indices to arrive exactly one after the
//! other, asks Raft for a snapshot every [`SNAPSHOT_INTERVAL`] entries —
//! synchronously, from inside the apply loop, which is what forces Raft to
//! apply without holding a lock `snapshot()` needs — and replaces its view of
//! the log when Raft delivers a snapshot.
//!
//! An error is recorded for the checks to report (`n_committed` panics with
//! it, as the reference does) *and* fails the test at once by panicking the
//! task: the reference calls `log.Fatalf` here.

use std::sync::{Arc, Mutex, MutexGuard};

use raft::{ApplyMsg, Raft};
use tokio::sync::mpsc;

use super::{Cmd, SNAPSHOT_INTERVAL};

/// The tester's record of what each peer applied. Shared by the appliers
/// and the checks; never locked across an `.await`.
#[derive(Debug)]
pub(crate) struct Applied {
    /// `logs[i][index]`: what peer `i` applied at `index`; index 0 is the
    /// reference's `nil` placeholder. Survives a restart (as the reference's
    /// map does) unless the peer restarts from, or receives, a snapshot.
    pub(crate) logs: Vec<Vec<Option<Cmd>>>,
    /// Snapshot applier only: the last index peer `i` applied.
    pub(crate) last_applied: Vec<u64>,
    /// Highest index any peer applied (the summary's "commits" column).
    pub(crate) max_index: u64,
    /// The first apply error of each peer.
    pub(crate) errors: Vec<Option<String>>,
    /// Snapshots Raft delivered on apply channels (not counting those the
    /// tester reads from a persister at restart).
    pub(crate) snapshots_delivered: u64,
}

/// Handle shared between the config and the applier tasks.
pub(crate) type SharedApplied = Arc<Mutex<Applied>>;

/// Locks the record; a panicking task must not hide the record from the checks.
pub(crate) fn lock(applied: &SharedApplied) -> MutexGuard<'_, Applied> {
    applied.lock().unwrap_or_else(|e| e.into_inner())
}

impl Applied {
    pub(crate) fn new(n: usize) -> Applied {
        Applied {
            logs: vec![vec![None]; n],
            last_applied: vec![0; n],
            max_index: 0,
            errors: vec![None; n],
            snapshots_delivered: 0,
        }
    }

    /// The value peer `i` applied at `index`, if any.
    pub(crate) fn get(&self, i: usize, index: u64) -> Option<&Cmd> {
        self.logs[i].get(index as usize).and_then(Option::as_ref)
    }

    /// Records that peer `i` applied `cmd` at `index`. Returns a mismatch
    /// with another peer's value at that index, if there is one, and
    /// whether `index - 1` had been applied (the reference's `checkLogs`).
    fn check_logs(&mut self, i: usize, index: u64, cmd: &Cmd) -> (Option<String>, bool) {
        let mut error = None;
        for (j, log) in self.logs.iter().enumerate() {
            if let Some(Some(old)) = log.get(index as usize)
                && old != cmd
            {
                error = Some(format!(
                    "commit index={index} server={i} {cmd} != server={j} {old}"
                ));
            }
        }
        let prev_ok = index > 0 && self.get(i, index - 1).is_some();
        let log = &mut self.logs[i];
        if log.len() <= index as usize {
            log.resize(index as usize + 1, None);
        }
        log[index as usize] = Some(cmd.clone());
        self.max_index = self.max_index.max(index);
        (error, prev_ok)
    }

    /// Replaces peer `i`'s log with the one inside a service snapshot (the
    /// reference's `ingestSnap`). With `expected = Some(index)` (a snapshot
    /// Raft delivered) the snapshot must cover exactly `index`.
    ///
    /// Tighter than the reference: the snapshot may not move the peer
    /// backwards, and its commands must agree with what every peer applied.
    pub(crate) fn ingest_snapshot(
        &mut self,
        i: usize,
        data: &[u8],
        expected: Option<u64>,
    ) -> Result<(), String> {
        let (last, log) = decode_snapshot(data)
            .map_err(|e| format!("server {i}: cannot decode snapshot: {e}"))?;
        if log.len() as u64 != last + 1 {
            return Err(format!(
                "server {i}: snapshot for index {last} holds {} entries",
                log.len()
            ));
        }
        if let Some(index) = expected {
            if index != last {
                return Err(format!(
                    "server {i} snapshot doesn't match m.SnapshotIndex ({index} != {last})"
                ));
            }
            if index < self.last_applied[i] {
                return Err(format!(
                    "server {i}: snapshot at {index} moves the service back from {}",
                    self.last_applied[i]
                ));
            }
        }
        for (index, cmd) in log.iter().enumerate().skip(1) {
            let Some(cmd) = cmd else {
                return Err(format!("server {i}: snapshot lacks index {index}"));
            };
            for j in 0..self.logs.len() {
                if let Some(old) = self.get(j, index as u64)
                    && old != cmd
                {
                    return Err(format!(
                        "snapshot of server {i} has {cmd} at index {index} but server {j} applied {old}"
                    ));
                }
            }
        }
        self.logs[i] = log;
        self.last_applied[i] = last;
        Ok(())
    }

    /// What a killed instance of peer `i` applied at `index`: checked
    /// against what every peer applied there, but not recorded (the record
    /// belongs to the peer's next instance). The first `KILL_GRACE`
    /// messages after the kill are ones Raft sent before it; any later one
    /// is an apply after `kill`.
    fn check_killed(&self, i: usize, after_kill: usize, msg: &ApplyMsg<Cmd>) -> Option<String> {
        let what = match msg {
            ApplyMsg::Command { index, .. } => format!("index {index}"),
            ApplyMsg::Snapshot { index, .. } => format!("a snapshot at {index}"),
        };
        if after_kill > KILL_GRACE {
            return Some(format!(
                "server {i} applied {what} after it was killed ({after_kill} messages since kill)"
            ));
        }
        let ApplyMsg::Command { index, command, .. } = msg else {
            return None;
        };
        (0..self.logs.len()).find_map(|j| {
            let old = self.get(j, *index)?;
            (old != command).then(|| {
                format!("killed server {i} applied {command} at index {index} but server {j} applied {old}")
            })
        })
    }

    /// Records `error` for peer `i` (keeping the first) and returns it.
    fn fail(&mut self, i: usize, error: String) -> String {
        self.errors[i].get_or_insert(error).clone()
    }
}

/// The service snapshot the snapshot applier hands Raft: the last index it
/// covers and every command from 0 (a placeholder) to that index.
pub(crate) fn encode_snapshot(index: u64, log: &[Option<Cmd>]) -> Vec<u8> {
    labrpc::to_bytes(&(index, log))
}

fn decode_snapshot(data: &[u8]) -> Result<(u64, Vec<Option<Cmd>>), String> {
    labrpc::decode(data).map_err(|e| e.to_string())
}

/// Messages a killed instance may still deliver: one waiting in the apply
/// channel (capacity 1) and one send Raft began before `kill`.
const KILL_GRACE: usize = 2;

/// Set by the tester when it kills the instance an applier reads from; the
/// applier keeps draining the channel (the reference keeps checking what a
/// killed peer applies) but only checks, never records.
pub(crate) type Killed = Arc<std::sync::atomic::AtomicBool>;

/// Handles a message from a killed instance; `true` if it was one.
fn killed_instance(
    i: usize,
    killed: &Killed,
    after_kill: &mut usize,
    msg: &ApplyMsg<Cmd>,
    applied: &SharedApplied,
) -> bool {
    if !killed.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    *after_kill += 1;
    let mut record = lock(applied);
    if let Some(error) = record.check_killed(i, *after_kill, msg) {
        let error = record.fail(i, error);
        drop(record);
        panic!("apply error: {error}");
    }
    true
}

/// Reads peer `i`'s apply channel until Raft drops it (reference `applier`).
pub(crate) async fn plain(
    i: usize,
    mut rx: mpsc::Receiver<ApplyMsg<Cmd>>,
    applied: SharedApplied,
    killed: Killed,
) {
    let mut after_kill = 0;
    while let Some(msg) = rx.recv().await {
        if killed_instance(i, &killed, &mut after_kill, &msg, &applied) {
            continue;
        }
        // The plain applier ignores snapshots, as the reference's does.
        let ApplyMsg::Command { index, command, .. } = msg else {
            continue;
        };
        let mut record = lock(&applied);
        let (mut error, prev_ok) = record.check_logs(i, index, &command);
        if index > 1 && !prev_ok {
            error = Some(format!("server {i} apply out of order {index}"));
        }
        if let Some(error) = error {
            let error = record.fail(i, error);
            drop(record);
            panic!("apply error: {error}");
        }
    }
}

/// Reads peer `i`'s apply channel, snapshotting every [`SNAPSHOT_INTERVAL`]
/// entries (reference `applierSnap`).
pub(crate) async fn with_snapshots(
    i: usize,
    mut rx: mpsc::Receiver<ApplyMsg<Cmd>>,
    applied: SharedApplied,
    rf: Raft<Cmd>,
    killed: Killed,
) {
    let mut after_kill = 0;
    while let Some(msg) = rx.recv().await {
        if killed_instance(i, &killed, &mut after_kill, &msg, &applied) {
            continue;
        }
        let mut record = lock(&applied);
        let mut snapshot = None;
        let error = match msg {
            ApplyMsg::Snapshot { index, data, .. } => {
                record.snapshots_delivered += 1;
                record.ingest_snapshot(i, &data, Some(index)).err()
            }
            ApplyMsg::Command { index, command, .. } => {
                let expected = record.last_applied[i] + 1;
                let error = if index != expected {
                    Some(format!(
                        "server {i} apply out of order, expected index {expected}, got {index}"
                    ))
                } else {
                    match record.check_logs(i, index, &command) {
                        (_, false) if index > 1 => {
                            Some(format!("server {i} apply out of order {index}"))
                        }
                        (mismatch, _) => mismatch,
                    }
                };
                record.last_applied[i] = index;
                if error.is_none() && (index + 1) % SNAPSHOT_INTERVAL == 0 {
                    let log = &record.logs[i][..=index as usize];
                    snapshot = Some((index, encode_snapshot(index, log)));
                }
                error
            }
        };
        if let Some(error) = error {
            let error = record.fail(i, error);
            drop(record);
            panic!("apply error: {error}");
        }
        drop(record);
        // Synchronously, between two receives: Raft must not be blocked
        // sending the next message while holding what `snapshot` needs.
        if let Some((index, data)) = snapshot {
            rf.snapshot(index, data);
        }
    }
}
