//! The transactional API's messages (the reference `kvrpcpb` Kv* messages),
//! field for field. Every request carries a [`Context`] (routing, unused by
//! the standalone storage) and every response a `region_error` (Project 2+;
//! always `None` on the standalone storage).
//!
//! A [`KeyError`] is an *expected* outcome the client acts on (wait for a
//! lock, retry, give up); it is part of a successful reply. Malformed
//! requests and storage failures are [`crate::Error`]s instead.

use serde::{Deserialize, Serialize};
pub use tinykv_storage::Context;

/// A mutation's operation (protobuf numbering: Put 0, Del 1, Rollback 2,
/// Lock 3). Only `Put` and `Del` may be prewritten.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Write a value.
    #[default]
    Put,
    /// Delete the key.
    Del,
    /// Not a prewrite operation (refused).
    Rollback,
    /// A lock without a write (TiKV's `SELECT … FOR UPDATE`); not part of
    /// this course (refused).
    Lock,
}

/// One key of a prewrite.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mutation {
    /// What to do.
    pub op: Op,
    /// The key (non-empty).
    pub key: Vec<u8>,
    /// The value of a `Put` (may be empty).
    pub value: Vec<u8>,
}

/// A lock that stood in a request's way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The locking transaction's primary key.
    pub primary_lock: Vec<u8>,
    /// The locking transaction's start timestamp.
    pub lock_version: u64,
    /// The locked key.
    pub key: Vec<u8>,
    /// The lock's TTL (ms).
    pub lock_ttl: u64,
}

/// A prewrite found a write committed at or after its start timestamp.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteConflict {
    /// The prewriting transaction's start timestamp.
    pub start_ts: u64,
    /// The commit timestamp of the conflicting write.
    pub conflict_ts: u64,
    /// The key.
    pub key: Vec<u8>,
    /// The prewriting transaction's primary key.
    pub primary: Vec<u8>,
}

/// Why a key could not be read or written (the reference sets exactly one
/// of these fields; an enum makes that a type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyError {
    /// Another transaction's lock: resolve it (check its primary), then retry.
    Locked(LockInfo),
    /// A transient conflict: retry the whole transaction later.
    Retryable(String),
    /// The transaction cannot succeed (e.g. it was rolled back, or a
    /// rollback found it committed).
    Abort(String),
    /// A newer committed write: the transaction must restart.
    Conflict(WriteConflict),
}

/// What `KvCheckTxnStatus` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Nothing changed.
    #[default]
    NoAction,
    /// The primary's lock had expired: rolled back.
    TtlExpireRollback,
    /// There was no lock and no record: a rollback record was written, so a
    /// late prewrite cannot succeed.
    LockNotExistRollback,
}

/// A key and its value, or why it could not be read (scan results).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvPair {
    /// Set when the key is locked for the reader; `value` is then empty.
    pub error: Option<KeyError>,
    /// The user key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
}

/// `KvGet`: read `key` at `version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetRequest {
    /// Routing.
    pub context: Context,
    /// The key.
    pub key: Vec<u8>,
    /// The read timestamp (a transaction's start timestamp).
    pub version: u64,
}

/// `KvGet` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetResponse {
    /// Project 2+.
    pub region_error: Option<String>,
    /// A lock blocks the read.
    pub error: Option<KeyError>,
    /// The value (empty when not found).
    pub value: Vec<u8>,
    /// No value is visible at `version`.
    pub not_found: bool,
}

/// `KvPrewrite`: lock every mutated key and stage its value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrewriteRequest {
    /// Routing.
    pub context: Context,
    /// The keys and what to do with them (a repeated key: the last wins).
    pub mutations: Vec<Mutation>,
    /// The transaction's primary key (non-empty when there are mutations).
    pub primary_lock: Vec<u8>,
    /// The transaction's start timestamp.
    pub start_version: u64,
    /// The locks' TTL (ms).
    pub lock_ttl: u64,
}

/// `KvPrewrite` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrewriteResponse {
    /// Project 2+.
    pub region_error: Option<String>,
    /// One error per key that could not be locked; when there is any,
    /// nothing was written.
    pub errors: Vec<KeyError>,
}

/// `KvCommit`: commit the transaction's locks on `keys`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRequest {
    /// Routing.
    pub context: Context,
    /// The transaction's start timestamp.
    pub start_version: u64,
    /// The keys (repeats are fine).
    pub keys: Vec<Vec<u8>>,
    /// The commit timestamp, greater than `start_version`.
    pub commit_version: u64,
}

/// `KvCommit` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitResponse {
    /// Project 2+.
    pub region_error: Option<String>,
    /// Why nothing was committed.
    pub error: Option<KeyError>,
}

/// `KvScan`: up to `limit` visible pairs from `start_key` on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanRequest {
    /// Routing.
    pub context: Context,
    /// The first key (inclusive); there is no end key.
    pub start_key: Vec<u8>,
    /// At most this many pairs (locked keys count).
    pub limit: u32,
    /// The read timestamp.
    pub version: u64,
}

/// `KvScan` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanResponse {
    /// Project 2+.
    pub region_error: Option<String>,
    /// The pairs in key order; a locked key is a pair with `error` set.
    pub pairs: Vec<KvPair>,
}

/// `KvCheckTxnStatus`: the fate of the transaction that locked `primary_key`
/// at `lock_ts`, rolling it back if its lock expired or never arrived.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckTxnStatusRequest {
    /// Routing.
    pub context: Context,
    /// The transaction's primary key.
    pub primary_key: Vec<u8>,
    /// The transaction's start timestamp.
    pub lock_ts: u64,
    /// The caller's current timestamp (for the TTL).
    pub current_ts: u64,
}

/// `KvCheckTxnStatus` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckTxnStatusResponse {
    /// Project 2+.
    pub region_error: Option<String>,
    /// The live lock's TTL (ms), when the transaction is still running.
    pub lock_ttl: u64,
    /// The commit timestamp, when the transaction committed; else 0.
    pub commit_version: u64,
    /// What was done.
    pub action: Action,
}

/// `KvBatchRollback`: roll the transaction back on `keys`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRollbackRequest {
    /// Routing.
    pub context: Context,
    /// The transaction's start timestamp.
    pub start_version: u64,
    /// The keys (repeats are fine).
    pub keys: Vec<Vec<u8>>,
}

/// `KvBatchRollback` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRollbackResponse {
    /// Project 2+.
    pub region_error: Option<String>,
    /// Why nothing was rolled back (a key is already committed).
    pub error: Option<KeyError>,
}

/// `KvResolveLock`: commit (`commit_version > 0`) or roll back (`0`) every
/// lock of the transaction that started at `start_version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveLockRequest {
    /// Routing.
    pub context: Context,
    /// The transaction's start timestamp.
    pub start_version: u64,
    /// Its commit timestamp, or 0 to roll it back.
    pub commit_version: u64,
}

/// `KvResolveLock` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveLockResponse {
    /// Project 2+.
    pub region_error: Option<String>,
    /// Why nothing was resolved.
    pub error: Option<KeyError>,
}
