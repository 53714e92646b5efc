//! Group commit: concurrent synced writes share one engine write and one
//! fsync.
//!
//! [`GroupCommit`] wraps any [`Engine`]. A synced [`Engine::write`] that
//! finds the engine idle writes its batch at once, as the bare engine
//! would. One that finds a write in progress queues its batch and waits;
//! when the write in progress ends, one waiting caller becomes the
//! *leader*: it takes every queued batch (up to [`MAX_GROUP_BATCHES`]),
//! applies them in arrival order as **one** synced engine write, records
//! the one outcome for each of them and wakes the others. Every caller
//! returns only after the write holding its batch was synced, so
//! durability is the bare engine's: an acknowledged write survives a crash.
//!
//! Why here, in the storage crate, and std-only: it is a property of an
//! engine, not of a network server — the TCP server's blocking handlers
//! use it, and so can a raftstore whose raft and apply workers sync at the
//! same time. Nothing runs in the background (the leader is a caller's own
//! thread), so on one thread — the simulation — it is exactly the bare
//! engine: the first caller always finds the engine idle.
//!
//! # Guarantees
//! * **Atomic per batch**: a group is one engine write, so after a crash
//!   each batch of it is there whole or not at all (the group is, too).
//! * **Order**: batches of a group are applied in the order they queued; a
//!   caller's next write starts only after its previous one returned, so
//!   each caller's writes keep their order.
//! * **Failure**: if the group's write fails (a failed fsync, a full disk,
//!   the engine refusing one batch), none of it is applied and every
//!   caller of the group gets [`Error::GroupCommit`] with the engine's
//!   error. The writes are not retried: after a failed fsync, a retry that
//!   succeeds does not prove the earlier pages reached the disk.
//! * Unsynced writes ([`WriteOptions::NO_SYNC`]) and snapshots go straight
//!   to the engine: there is no fsync to share.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::Error;
use crate::engine::{Engine, Snapshot, WriteBatch, WriteOptions};

/// At most this many queued batches go into one engine write; the rest
/// wait for the next group. Bounds the size of one redb transaction (and
/// of the copy the leader builds) when thousands of callers pile up.
pub const MAX_GROUP_BATCHES: usize = 256;

/// An [`Engine`] whose concurrent synced writes are committed in groups,
/// one fsync per group (see the module docs).
pub struct GroupCommit {
    engine: Arc<dyn Engine>,
    state: Mutex<State>,
    /// Signalled whenever a group ends: its callers' outcomes are in
    /// `State::done`, and the engine is free for the next leader.
    ended: Condvar,
}

#[derive(Default)]
struct State {
    /// A synced write is in progress (by a lone caller or a leader).
    busy: bool,
    /// Batches waiting for the next group, in arrival order.
    queue: Vec<Queued>,
    /// Outcomes of finished groups not yet collected by their callers.
    done: Vec<(u64, Result<(), Error>)>,
    /// The next caller's ticket.
    next_ticket: u64,
    /// Figures for tests and benchmarks.
    stats: GroupStats,
}

struct Queued {
    ticket: u64,
    batch: WriteBatch,
}

/// How many synced writes a [`GroupCommit`] received and how many engine
/// writes it made of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Synced batches written (or failed) through it.
    pub batches: u64,
    /// Engine writes that carried them; `batches / writes` is the mean
    /// group size.
    pub writes: u64,
    /// The largest group, in batches.
    pub largest: u64,
}

impl GroupCommit {
    /// Group commit over `engine`.
    pub fn new(engine: Arc<dyn Engine>) -> GroupCommit {
        GroupCommit {
            engine,
            state: Mutex::new(State::default()),
            ended: Condvar::new(),
        }
    }

    /// The engine underneath.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// Synced batches queued now, waiting for a group to take them.
    pub fn waiting(&self) -> usize {
        self.lock().queue.len()
    }

    /// The figures so far.
    pub fn stats(&self) -> GroupStats {
        self.lock().stats
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent at every unlock (a panicking leader is
        // handled by `Lead`), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write_synced(&self, batch: &WriteBatch) -> Result<(), Error> {
        let mut state = self.lock();
        if !state.busy && state.queue.is_empty() {
            // Idle: write at once, without copying the batch.
            state.busy = true;
            drop(state);
            let lead = Lead {
                group: self,
                tickets: Vec::new(),
            };
            let result = self.engine.write(batch, WriteOptions::SYNC);
            let result = result.map_err(|e| group_error(1, e));
            lead.finish(&result);
            return result;
        }
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push(Queued {
            ticket,
            batch: batch.clone(),
        });
        loop {
            if let Some(at) = state.done.iter().position(|(t, _)| *t == ticket) {
                return state.done.swap_remove(at).1;
            }
            if !state.busy {
                // Our batch is still queued and the engine is free: lead.
                return self.lead(state, ticket);
            }
            state = self.ended.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Commits the queued batches (ours among them) as one write.
    fn lead(&self, mut state: MutexGuard<'_, State>, ticket: u64) -> Result<(), Error> {
        let take = state.queue.len().min(MAX_GROUP_BATCHES);
        let group: Vec<Queued> = state.queue.drain(..take).collect();
        state.busy = true;
        drop(state);
        let lead = Lead {
            group: self,
            // Our own outcome is returned, not parked in `done`.
            tickets: group
                .iter()
                .map(|q| q.ticket)
                .filter(|&t| t != ticket)
                .collect(),
        };
        let batches = group.len();
        let result = if let [only] = group.as_slice() {
            self.engine.write(&only.batch, WriteOptions::SYNC)
        } else {
            let mut all = WriteBatch::new();
            for queued in group {
                for modify in queued.batch.into_modifies() {
                    all.push(modify);
                }
            }
            self.engine.write(&all, WriteOptions::SYNC)
        };
        let result = result.map_err(|e| group_error(batches, e));
        lead.finish(&result);
        result
    }
}

fn group_error(batches: usize, cause: Error) -> Error {
    Error::GroupCommit {
        batches,
        cause: Box::new(cause),
    }
}

/// The leader's duty, done on every exit: record the group's outcome for
/// its waiting callers, free the engine, wake everyone. If the engine
/// panics mid-write, `Drop` fails the group instead of leaving the callers
/// waiting forever.
struct Lead<'a> {
    group: &'a GroupCommit,
    /// The waiting callers of this group (not the leader itself).
    tickets: Vec<u64>,
}

impl Lead<'_> {
    fn finish(mut self, result: &Result<(), Error>) {
        self.end(result);
    }

    fn end(&mut self, result: &Result<(), Error>) {
        let mut state = self.group.lock();
        let batches = self.tickets.len() as u64 + 1;
        state.stats.batches += batches;
        state.stats.writes += 1;
        state.stats.largest = state.stats.largest.max(batches);
        for ticket in self.tickets.drain(..) {
            state.done.push((ticket, result.clone()));
        }
        state.busy = false;
        drop(state);
        self.group.ended.notify_all();
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let cause = Error::Db("the engine panicked during a group commit".into());
            let batches = self.tickets.len() + 1;
            self.end(&Err(group_error(batches, cause)));
        }
    }
}

impl Engine for GroupCommit {
    fn write(&self, batch: &WriteBatch, opts: WriteOptions) -> Result<(), Error> {
        if opts.sync {
            self.write_synced(batch)
        } else {
            self.engine.write(batch, opts)
        }
    }

    fn snapshot(&self) -> Result<Box<dyn Snapshot>, Error> {
        self.engine.snapshot()
    }
}
