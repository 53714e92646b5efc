//! [`TxnServer`]: the transactional handlers over a [`Storage`], and the
//! framework every command runs in (the reference `RunCommand`):
//!
//! 1. check the request's shape (bad input is an [`Error`], nothing is read);
//! 2. a writing command latches every user key it may write;
//! 3. take a snapshot (after latching, so it sees every earlier write of
//!    those keys) and open an [`MvccTxn`] on it at the request's timestamp;
//! 4. run the command's body (student code, `commands.rs`), which reads
//!    through the transaction and buffers changes;
//! 5. if the reply carries a [`KeyError`](crate::KeyError), write nothing;
//!    else [validate](Latches::validate) the buffered keys against the
//!    latches and write them in **one** atomic batch;
//! 6. release the latches.
//!
//! So a command is atomic: all of its changes land or none, and no other
//! command writes its keys between its reads and its write.

use std::sync::Arc;

use tinykv_storage::raw::check_key;
use tinykv_storage::{Cf, Storage};

use crate::Error;
use crate::latches::Latches;
use crate::lock::Lock;
use crate::proto::*;
use crate::txn::MvccTxn;

/// The transactional KV handlers over one storage. Cheap to clone; clones
/// share the latches.
#[derive(Clone)]
pub struct TxnServer {
    storage: Arc<dyn Storage>,
    latches: Arc<Latches>,
}

/// A reply that may report a [`KeyError`](crate::KeyError): then the command
/// must not have changed anything, and the framework writes nothing.
pub(crate) trait Reply {
    fn has_key_error(&self) -> bool;
}

impl Reply for PrewriteResponse {
    fn has_key_error(&self) -> bool {
        !self.errors.is_empty()
    }
}

impl Reply for CommitResponse {
    fn has_key_error(&self) -> bool {
        self.error.is_some()
    }
}

impl Reply for BatchRollbackResponse {
    fn has_key_error(&self) -> bool {
        self.error.is_some()
    }
}

impl Reply for ResolveLockResponse {
    fn has_key_error(&self) -> bool {
        self.error.is_some()
    }
}

impl Reply for CheckTxnStatusResponse {
    fn has_key_error(&self) -> bool {
        false
    }
}

impl TxnServer {
    /// A server over `storage`.
    pub fn new(storage: Arc<dyn Storage>) -> TxnServer {
        TxnServer {
            storage,
            latches: Arc::new(Latches::new()),
        }
    }

    /// The storage it serves.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Its latches.
    pub fn latches(&self) -> &Latches {
        &self.latches
    }

    /// Runs a read-only command body on a fresh snapshot at `ts`.
    pub(crate) fn run_read<R>(
        &self,
        ctx: &Context,
        ts: u64,
        body: impl FnOnce(&MvccTxn<'_>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let snapshot = self.storage.reader(ctx)?;
        let txn = MvccTxn::new(&*snapshot, ts);
        body(&txn)
    }

    /// Runs a writing command body (steps 2–6 of the module docs) with
    /// `keys` latched and the transaction at `start_ts`.
    pub(crate) fn run_write<R: Reply>(
        &self,
        ctx: &Context,
        start_ts: u64,
        keys: &[Vec<u8>],
        body: impl FnOnce(&mut MvccTxn<'_>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let guard = self.latches.acquire(keys);
        let snapshot = self.storage.reader(ctx)?;
        let mut txn = MvccTxn::new(&*snapshot, start_ts);
        let reply = body(&mut txn)?;
        if reply.has_key_error() || txn.writes().is_empty() {
            return Ok(reply);
        }
        Latches::validate(&txn, guard.keys())?;
        let batch = txn.into_batch();
        // Release the snapshot first: a copy-on-write engine (the memory
        // engine) would otherwise copy the CFs this batch touches.
        drop(snapshot);
        self.storage.write(ctx, batch)?;
        Ok(reply)
    }

    /// The keys locked by the transaction that started at `start_ts`, in
    /// key order (a scan of the whole lock CF, as in the reference).
    pub(crate) fn locks_of_txn(&self, ctx: &Context, start_ts: u64) -> Result<Vec<Vec<u8>>, Error> {
        let snapshot = self.storage.reader(ctx)?;
        let mut it = snapshot.iter_cf(Cf::Lock)?;
        it.seek(&[])?;
        let mut keys = Vec::new();
        while let Some((key, value)) = it.item() {
            if Lock::from_bytes(value)?.ts == start_ts {
                keys.push(key.to_vec());
            }
            it.next()?;
        }
        Ok(keys)
    }
}

/// Request checks done before a command runs; each failure is a typed
/// [`Error`] and nothing is read or written.
pub(crate) mod check {
    use super::*;

    /// Keys must be non-empty and within the raw API's size limit.
    pub fn keys<'k>(keys: impl IntoIterator<Item = &'k Vec<u8>>) -> Result<(), Error> {
        for key in keys {
            check_key(key)?;
        }
        Ok(())
    }

    /// A prewrite with mutations needs a primary key and Put/Del operations
    /// on valid keys. One with none is a no-op (the reference's
    /// `TestEmptyPrewrite4B` requires it to succeed).
    pub fn prewrite(req: &PrewriteRequest) -> Result<(), Error> {
        if req.mutations.is_empty() {
            return Ok(());
        }
        if req.primary_lock.is_empty() {
            return Err(Error::EmptyPrimary {
                mutations: req.mutations.len(),
            });
        }
        check_key(&req.primary_lock)?;
        for m in &req.mutations {
            check_key(&m.key)?;
            if !matches!(m.op, Op::Put | Op::Del) {
                return Err(Error::UnsupportedOp {
                    op: m.op,
                    key: m.key.clone(),
                });
            }
        }
        Ok(())
    }

    /// A commit timestamp must be after the start timestamp.
    pub fn commit_ts(start_ts: u64, commit_ts: u64) -> Result<(), Error> {
        if commit_ts <= start_ts {
            return Err(Error::BadCommitTs {
                start_ts,
                commit_ts,
            });
        }
        Ok(())
    }
}
