//! The seven transactional commands (the reference `kv/transaction/commands`
//! and the server's Kv* methods). Each is a pure function of the storage
//! and the request, run in the framework of `server.rs`: the bodies below
//! read through an [`MvccTxn`] and buffer changes; the framework latches,
//! snapshots, validates and writes.
//!
//! Project 4B: [`TxnServer::kv_get`], [`TxnServer::kv_prewrite`],
//! [`TxnServer::kv_commit`]. Project 4C: [`TxnServer::kv_scan`],
//! [`TxnServer::kv_check_txn_status`], [`TxnServer::kv_batch_rollback`],
//! [`TxnServer::kv_resolve_lock`].

use std::collections::{BTreeMap, BTreeSet};

use crate::Error;
use crate::lock::Lock;
use crate::proto::*;
use crate::scanner::Scanner;
use crate::server::{TxnServer, check};
use crate::tso::physical;
use crate::txn::MvccTxn;
use crate::write::{Write, WriteKind};

impl TxnServer {
    /// `KvGet`: the value of `key` at `version`, `not_found`, or the lock
    /// that blocks the read.
    pub fn kv_get(&self, req: GetRequest) -> Result<GetResponse, Error> {
        check::keys([&req.key])?;
        self.run_read(&req.context, req.version, |txn| {
            // SOLUTION BEGIN p4b: a lock that blocks a reader at the version is a Locked error; else the visible value, or not_found
            if let Some(lock) = txn.get_lock(&req.key)?
                && lock.is_locked_for(&req.key, txn.start_ts)
            {
                return Ok(GetResponse {
                    error: Some(KeyError::Locked(lock.info(&req.key))),
                    ..Default::default()
                });
            }
            Ok(match txn.get_value(&req.key)? {
                Some(value) => GetResponse {
                    value,
                    ..Default::default()
                },
                None => GetResponse {
                    not_found: true,
                    ..Default::default()
                },
            })
            // SOLUTION END
        })
    }

    /// `KvPrewrite`: lock every mutated key for the transaction and stage
    /// its value, or report why each failing key cannot be (and write
    /// nothing).
    pub fn kv_prewrite(&self, req: PrewriteRequest) -> Result<PrewriteResponse, Error> {
        check::prewrite(&req)?;
        let keys: Vec<Vec<u8>> = req.mutations.iter().map(|m| m.key.clone()).collect();
        self.run_write(&req.context, req.start_version, &keys, |txn| {
            // SOLUTION BEGIN p4b: per key (the last mutation of a repeated key wins): a write committed at or after start is a Conflict, another transaction's lock is Locked; else stage the value (or its deletion) and put the lock
            let mut mutations: Vec<&Mutation> = Vec::new();
            let mut index: BTreeMap<&[u8], usize> = BTreeMap::new();
            for m in &req.mutations {
                match index.get(m.key.as_slice()) {
                    Some(&i) => mutations[i] = m,
                    None => {
                        index.insert(&m.key, mutations.len());
                        mutations.push(m);
                    }
                }
            }
            let mut errors = Vec::new();
            for m in mutations {
                if let Some((_, commit_ts)) = txn.most_recent_write(&m.key)?
                    && commit_ts >= txn.start_ts
                {
                    errors.push(KeyError::Conflict(WriteConflict {
                        start_ts: txn.start_ts,
                        conflict_ts: commit_ts,
                        key: m.key.clone(),
                        primary: req.primary_lock.clone(),
                    }));
                    continue;
                }
                if let Some(lock) = txn.get_lock(&m.key)?
                    && lock.ts != txn.start_ts
                {
                    errors.push(KeyError::Locked(lock.info(&m.key)));
                    continue;
                }
                let kind = match m.op {
                    Op::Put => {
                        txn.put_value(&m.key, m.value.clone());
                        WriteKind::Put
                    }
                    Op::Del => {
                        txn.delete_value(&m.key);
                        WriteKind::Delete
                    }
                    op => {
                        return Err(Error::UnsupportedOp {
                            op,
                            key: m.key.clone(),
                        });
                    }
                };
                let lock = Lock {
                    primary: req.primary_lock.clone(),
                    ts: txn.start_ts,
                    ttl: req.lock_ttl,
                    kind,
                };
                txn.put_lock(&m.key, &lock);
            }
            Ok(PrewriteResponse {
                errors,
                ..Default::default()
            })
            // SOLUTION END
        })
    }

    /// `KvCommit`: turn the transaction's locks on `keys` into commit
    /// records at `commit_version`.
    pub fn kv_commit(&self, req: CommitRequest) -> Result<CommitResponse, Error> {
        check::keys(&req.keys)?;
        if !req.keys.is_empty() {
            check::commit_ts(req.start_version, req.commit_version)?;
        }
        self.run_write(&req.context, req.start_version, &req.keys, |txn| {
            // SOLUTION BEGIN p4b: commit each distinct key; the first key error ends the command (and nothing is written)
            let mut seen = BTreeSet::new();
            for key in &req.keys {
                if !seen.insert(key) {
                    continue;
                }
                if let Some(error) = commit_key(txn, key, req.commit_version)? {
                    return Ok(CommitResponse {
                        error: Some(error),
                        ..Default::default()
                    });
                }
            }
            Ok(CommitResponse::default())
            // SOLUTION END
        })
    }

    /// `KvScan`: up to `limit` keys from `start_key` on with their values
    /// visible at `version`; a locked key is a pair carrying the lock.
    pub fn kv_scan(&self, req: ScanRequest) -> Result<ScanResponse, Error> {
        self.run_read(&req.context, req.version, |txn| {
            // SOLUTION BEGIN p4c: collect up to limit items of a Scanner from start_key; a lock becomes a pair with a Locked error
            let mut scanner = Scanner::new(txn, &req.start_key)?;
            let mut pairs = Vec::new();
            while pairs.len() < req.limit as usize {
                let Some((key, item)) = scanner.next_item()? else {
                    break;
                };
                pairs.push(match item {
                    Ok(value) => KvPair {
                        error: None,
                        key,
                        value,
                    },
                    Err(info) => KvPair {
                        error: Some(KeyError::Locked(info)),
                        key,
                        value: Vec::new(),
                    },
                });
            }
            Ok(ScanResponse {
                pairs,
                ..Default::default()
            })
            // SOLUTION END
        })
    }

    /// `KvCheckTxnStatus`: whether the transaction that locked
    /// `primary_key` at `lock_ts` is alive, committed or rolled back;
    /// rolls it back if its lock expired or never arrived.
    pub fn kv_check_txn_status(
        &self,
        req: CheckTxnStatusRequest,
    ) -> Result<CheckTxnStatusResponse, Error> {
        check::keys([&req.primary_key])?;
        let keys = [req.primary_key.clone()];
        self.run_write(&req.context, req.lock_ts, &keys, |txn| {
            // SOLUTION BEGIN p4c: own lock: expired (physical lock ts + ttl <= physical current ts) → roll back, else report its ttl; no own lock: a commit record gives commit_version, a rollback record nothing, no record → write a rollback record
            let key = &req.primary_key;
            let mut resp = CheckTxnStatusResponse::default();
            if let Some(lock) = txn.get_lock(key)?
                && lock.ts == txn.start_ts
            {
                if physical(lock.ts).saturating_add(lock.ttl) <= physical(req.current_ts) {
                    txn.delete_lock(key);
                    txn.delete_value(key);
                    put_rollback(txn, key);
                    resp.action = Action::TtlExpireRollback;
                } else {
                    resp.lock_ttl = lock.ttl;
                }
                return Ok(resp);
            }
            match txn.current_write(key)? {
                Some((write, commit_ts)) => {
                    if write.kind != WriteKind::Rollback {
                        resp.commit_version = commit_ts;
                    }
                }
                None => {
                    put_rollback(txn, key);
                    resp.action = Action::LockNotExistRollback;
                }
            }
            Ok(resp)
            // SOLUTION END
        })
    }

    /// `KvBatchRollback`: roll the transaction back on `keys`, unless one
    /// of them is already committed.
    pub fn kv_batch_rollback(
        &self,
        req: BatchRollbackRequest,
    ) -> Result<BatchRollbackResponse, Error> {
        check::keys(&req.keys)?;
        self.run_write(&req.context, req.start_version, &req.keys, |txn| {
            // SOLUTION BEGIN p4c: roll back each distinct key; a committed key aborts the command (and nothing is written)
            let mut seen = BTreeSet::new();
            for key in &req.keys {
                if !seen.insert(key) {
                    continue;
                }
                if let Some(error) = rollback_key(txn, key)? {
                    return Ok(BatchRollbackResponse {
                        error: Some(error),
                        ..Default::default()
                    });
                }
            }
            Ok(BatchRollbackResponse::default())
            // SOLUTION END
        })
    }

    /// `KvResolveLock`: commit (`commit_version > 0`) or roll back every
    /// lock of the transaction that started at `start_version`.
    pub fn kv_resolve_lock(&self, req: ResolveLockRequest) -> Result<ResolveLockResponse, Error> {
        if req.commit_version != 0 {
            check::commit_ts(req.start_version, req.commit_version)?;
        }
        let keys = self.locks_of_txn(&req.context, req.start_version)?;
        self.run_write(&req.context, req.start_version, &keys, |txn| {
            // SOLUTION BEGIN p4c: commit or roll back each key the transaction locked, as KvCommit and KvBatchRollback do
            for key in &keys {
                // The keys were found before the latches were taken: one
                // whose lock of this transaction is gone since was resolved
                // by someone else meanwhile (and may be locked again by a
                // newer transaction, which is not ours to touch).
                if txn
                    .get_lock(key)?
                    .is_none_or(|lock| lock.ts != txn.start_ts)
                {
                    continue;
                }
                let error = if req.commit_version == 0 {
                    rollback_key(txn, key)?
                } else {
                    commit_key(txn, key, req.commit_version)?
                };
                if error.is_some() {
                    return Ok(ResolveLockResponse {
                        error,
                        ..Default::default()
                    });
                }
            }
            Ok(ResolveLockResponse::default())
            // SOLUTION END
        })
    }
}

/// Commits `txn`'s lock on `key` at `commit_ts`; a repeated commit is a
/// no-op, a rolled-back key is an `Abort`, another transaction's lock is
/// `Retryable`.
fn commit_key(
    txn: &mut MvccTxn<'_>,
    key: &[u8],
    commit_ts: u64,
) -> Result<Option<KeyError>, Error> {
    // SOLUTION BEGIN p4b: own lock → a commit record of the lock's kind at commit_ts and no lock; another's lock → Retryable; no lock → look for this transaction's record (rollback → Abort; committed or nothing → no-op)
    match txn.get_lock(key)? {
        Some(lock) if lock.ts == txn.start_ts => {
            let write = Write {
                start_ts: txn.start_ts,
                kind: lock.kind,
            };
            txn.put_write(key, commit_ts, &write);
            txn.delete_lock(key);
            Ok(None)
        }
        Some(lock) => Ok(Some(KeyError::Retryable(format!(
            "key {key:?} is locked by the transaction that started at {}",
            lock.ts
        )))),
        None => match txn.current_write(key)? {
            Some((write, _)) if write.kind == WriteKind::Rollback => {
                Ok(Some(KeyError::Abort(format!(
                    "transaction {} was rolled back on key {key:?}",
                    txn.start_ts
                ))))
            }
            // Committed already (a retried commit), or never prewritten:
            // the reference's TestCommitMissingPrewrite4a wants no error.
            _ => Ok(None),
        },
    }
    // SOLUTION END
}

/// Rolls `txn` back on `key`: its lock and staged value go, a rollback
/// record stays; a committed key is an `Abort`, a rolled-back one a no-op.
fn rollback_key(txn: &mut MvccTxn<'_>, key: &[u8]) -> Result<Option<KeyError>, Error> {
    // SOLUTION BEGIN p4c: a commit record of this transaction → Abort; a rollback record → nothing to do; else remove its own lock and value (another's lock stays) and write a rollback record
    if let Some((write, commit_ts)) = txn.current_write(key)? {
        if write.kind == WriteKind::Rollback {
            return Ok(None);
        }
        return Ok(Some(KeyError::Abort(format!(
            "transaction {} is committed at {commit_ts} on key {key:?}",
            txn.start_ts
        ))));
    }
    if let Some(lock) = txn.get_lock(key)?
        && lock.ts == txn.start_ts
    {
        txn.delete_lock(key);
        txn.delete_value(key);
    }
    put_rollback(txn, key);
    Ok(None)
    // SOLUTION END
}

/// Buffers a rollback record of `txn` on `key`, at its start timestamp.
fn put_rollback(txn: &mut MvccTxn<'_>, key: &[u8]) {
    let start_ts = txn.start_ts;
    let write = Write {
        start_ts,
        kind: WriteKind::Rollback,
    };
    txn.put_write(key, start_ts, &write);
}
