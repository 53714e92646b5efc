//! The transaction client: Percolator's client side, over any
//! [`Transport`] — the simulated network ([`ClientEnd`]) in the tests, TCP
//! in `tinykv-server`'s client. A [`Txn`] reads at its start timestamp and buffers its writes;
//! [`Client::commit`] runs two-phase commit (prewrite the primary, then the
//! secondaries; commit the primary — the commit point — then the
//! secondaries). Readers that meet a lock resolve it through the lock's
//! primary: roll the transaction forward if the primary committed, back if
//! its lock expired or never arrived, else back off and retry.
//!
//! RPCs that fail in the network are retried (every command is idempotent:
//! a retried prewrite finds its own lock, a retried commit its own record);
//! a request the server refuses is [`Error::Refused`].

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use labrpc::{ClientEnd, Rpc};

use crate::Error;
use crate::proto::*;
use crate::service::*;

/// Attempts of one RPC before the client gives up.
pub const MAX_ATTEMPTS: u32 = 100;
/// Pause between attempts of one RPC.
pub const RETRY_BACKOFF: Duration = Duration::from_millis(20);
/// Pause before a reader retries a key whose lock is alive.
pub const LOCK_BACKOFF: Duration = Duration::from_millis(50);
/// TTL of this client's locks (milliseconds of the oracle's physical clock):
/// how long a crashed client's locks block readers.
pub const LOCK_TTL_MS: u64 = 500;

/// How a [`Client`] reaches the oracle and the server: one typed call of
/// RPC `R` (the labrpc method markers of `service.rs`, e.g. [`KvGet`]).
/// `Err` means the call failed in the network (request or reply lost,
/// connection broken); the client retries it, as every command is
/// idempotent. The error text is for logs only.
pub trait Transport: Clone + Send + Sync + 'static {
    /// Sends `args` as RPC `R` and waits for its reply.
    fn call<R: Rpc>(&self, args: &R::Args) -> impl Future<Output = Result<R::Reply, String>> + Send
    where
        R::Args: Sync;
}

/// The simulated network.
impl Transport for ClientEnd {
    async fn call<R: Rpc>(&self, args: &R::Args) -> Result<R::Reply, String>
    where
        R::Args: Sync,
    {
        ClientEnd::call::<R>(self, args)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Faults a test injects into [`Client::commit`] (the reference dss tests'
/// commit hooks): each makes the client stop where a crash or a lost
/// message would.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CommitFault {
    /// No fault.
    #[default]
    None,
    /// The secondaries' commits are never sent (the client dies after the
    /// commit point); `commit` still returns `Ok(true)`.
    DropSecondaryCommits,
    /// The primary's commit is applied but its reply is lost; `commit`
    /// returns [`Error::CommitUnknown`] without committing the secondaries.
    LosePrimaryCommitReply,
    /// The primary's commit is never sent; `commit` returns
    /// [`Error::CommitUnknown`] and leaves its locks to expire.
    DropPrimaryCommit,
}

/// A transaction: its start timestamp and its buffered writes.
#[derive(Debug, Clone)]
pub struct Txn {
    start_ts: u64,
    /// `None` is a delete. Ordered, so the primary (the first key) and
    /// every request are the same on every run.
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Txn {
    /// The start timestamp: reads see what committed at or before it.
    pub fn start_ts(&self) -> u64 {
        self.start_ts
    }

    /// Buffers a write of `key`.
    pub fn set(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.writes.insert(key.into(), Some(value.into()));
    }

    /// Buffers a delete of `key`.
    pub fn delete(&mut self, key: impl Into<Vec<u8>>) {
        self.writes.insert(key.into(), None);
    }
}

/// A client of one transactional server and one timestamp oracle, over
/// the simulated network by default.
#[derive(Clone)]
pub struct Client<T: Transport = ClientEnd> {
    tso: T,
    kv: T,
    fault: CommitFault,
}

impl<T: Transport> Client<T> {
    /// A client talking to the oracle through `tso` and to the server
    /// through `kv` (both may be the same server).
    pub fn new(tso: T, kv: T) -> Client<T> {
        Client {
            tso,
            kv,
            fault: CommitFault::None,
        }
    }

    /// The same client with a fault in its commits (tests).
    pub fn with_fault(mut self, fault: CommitFault) -> Client<T> {
        self.fault = fault;
        self
    }

    /// A fresh timestamp from the oracle.
    pub async fn get_timestamp(&self) -> Result<u64, Error> {
        call::<GetTimestamp, _>(&self.tso, &1).await
    }

    /// Starts a transaction at a fresh timestamp.
    pub async fn begin(&self) -> Result<Txn, Error> {
        Ok(Txn {
            start_ts: self.get_timestamp().await?,
            writes: BTreeMap::new(),
        })
    }

    /// The value of `key` as `txn` sees it: its own buffered write, else
    /// the value committed at or before its start, resolving locks on the
    /// way.
    pub async fn get(&self, txn: &Txn, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        if let Some(write) = txn.writes.get(key) {
            return Ok(write.clone());
        }
        let req = GetRequest {
            key: key.to_vec(),
            version: txn.start_ts,
            ..Default::default()
        };
        loop {
            let resp = call::<KvGet, _>(&self.kv, &req).await?;
            match resp.error {
                Some(KeyError::Locked(info)) => self.resolve(&info).await?,
                Some(other) => return Err(Error::Refused(format!("{other:?}"))),
                None if resp.not_found => return Ok(None),
                None => return Ok(Some(resp.value)),
            }
        }
    }

    /// Decides the fate of the transaction holding `lock`: rolls it forward
    /// or back when its primary tells, else waits a little.
    async fn resolve(&self, lock: &LockInfo) -> Result<(), Error> {
        let status = call::<KvCheckTxnStatus, _>(
            &self.kv,
            &CheckTxnStatusRequest {
                primary_key: lock.primary_lock.clone(),
                lock_ts: lock.lock_version,
                current_ts: self.get_timestamp().await?,
                ..Default::default()
            },
        )
        .await?;
        let commit_version = if status.commit_version > 0 {
            status.commit_version
        } else if status.action != Action::NoAction || status.lock_ttl == 0 {
            // Rolled back now or before.
            0
        } else {
            tokio::time::sleep(LOCK_BACKOFF).await;
            return Ok(());
        };
        let resp = call::<KvResolveLock, _>(
            &self.kv,
            &ResolveLockRequest {
                start_version: lock.lock_version,
                commit_version,
                ..Default::default()
            },
        )
        .await?;
        match resp.error {
            None => Ok(()),
            Some(e) => Err(Error::Refused(format!("{e:?}"))),
        }
    }

    /// Commits `txn`: `Ok(true)` once its primary is committed, `Ok(false)`
    /// if it conflicted (or was rolled back by a reader) and nothing of it
    /// is visible.
    pub async fn commit(&self, txn: Txn) -> Result<bool, Error> {
        let mut mutations: Vec<Mutation> = txn
            .writes
            .into_iter()
            .map(|(key, value)| match value {
                Some(value) => Mutation {
                    op: Op::Put,
                    key,
                    value,
                },
                None => Mutation {
                    op: Op::Del,
                    key,
                    value: Vec::new(),
                },
            })
            .collect();
        if mutations.is_empty() {
            return Ok(true);
        }
        let start_ts = txn.start_ts;
        let keys: Vec<Vec<u8>> = mutations.iter().map(|m| m.key.clone()).collect();
        let primary = keys[0].clone();
        let secondaries = mutations.split_off(1);
        let prewrite = |mutations: Vec<Mutation>| PrewriteRequest {
            mutations,
            primary_lock: primary.clone(),
            start_version: start_ts,
            lock_ttl: LOCK_TTL_MS,
            ..Default::default()
        };
        for batch in [mutations, secondaries] {
            if batch.is_empty() {
                continue;
            }
            let resp = call::<KvPrewrite, _>(&self.kv, &prewrite(batch)).await?;
            if !resp.errors.is_empty() {
                self.rollback(start_ts, &keys).await?;
                return Ok(false);
            }
        }
        let commit_ts = self.get_timestamp().await?;
        let commit = |keys: Vec<Vec<u8>>| CommitRequest {
            start_version: start_ts,
            keys,
            commit_version: commit_ts,
            ..Default::default()
        };
        match self.fault {
            CommitFault::DropPrimaryCommit => return Err(Error::CommitUnknown),
            CommitFault::LosePrimaryCommitReply => {
                let _ = self.kv.call::<KvCommit>(&commit(vec![primary])).await;
                return Err(Error::CommitUnknown);
            }
            CommitFault::None | CommitFault::DropSecondaryCommits => {}
        }
        // The commit point.
        let resp = call::<KvCommit, _>(&self.kv, &commit(vec![primary])).await?;
        if resp.error.is_some() {
            // Rolled back by a reader that found our locks expired.
            return Ok(false);
        }
        if self.fault != CommitFault::DropSecondaryCommits && keys.len() > 1 {
            // Best effort: a reader rolls forward whatever is left.
            let _ = call::<KvCommit, _>(&self.kv, &commit(keys[1..].to_vec())).await;
        }
        Ok(true)
    }

    /// Rolls `start_ts` back on `keys` (after a failed prewrite).
    async fn rollback(&self, start_ts: u64, keys: &[Vec<u8>]) -> Result<(), Error> {
        let req = BatchRollbackRequest {
            start_version: start_ts,
            keys: keys.to_vec(),
            ..Default::default()
        };
        call::<KvBatchRollback, _>(&self.kv, &req).await.map(|_| ())
    }
}

/// One RPC, retried while the network fails it.
async fn call<R, T>(end: &impl Transport, args: &R::Args) -> Result<T, Error>
where
    R: Rpc<Reply = Result<T, String>>,
    R::Args: Sync,
{
    for _ in 0..MAX_ATTEMPTS {
        match end.call::<R>(args).await {
            Ok(Ok(reply)) => return Ok(reply),
            Ok(Err(refused)) => return Err(Error::Refused(refused)),
            Err(_) => tokio::time::sleep(RETRY_BACKOFF).await,
        }
    }
    Err(Error::Unreachable {
        method: R::METHOD,
        attempts: MAX_ATTEMPTS,
    })
}
