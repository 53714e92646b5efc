//! A tester's clerk: the student's [`kvraft::Clerk`] plus the names of its
//! ends (so the tester can cut it off from some replicas) and the counting,
//! recording operations of the reference's `Get`/`Put`/`Append` helpers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use linearizability::KvInput;

use crate::history::KvHistory as OpLog;

/// The names of one client's ends; `names()[j]` reaches replica `j`.
/// Cheap to clone, so a scenario can keep them while a task owns the clerk.
#[derive(Debug, Clone)]
pub struct ClientEnds(Arc<[String]>);

impl ClientEnds {
    pub(super) fn new(names: Vec<String>) -> ClientEnds {
        ClientEnds(names.into())
    }

    /// End names, indexed by replica.
    pub fn names(&self) -> &[String] {
        &self.0
    }
}

/// A clerk made by [`Config::make_client`](super::Config::make_client).
///
/// [`Client::get`], [`Client::put`] and [`Client::append`] are the
/// reference's wrappers: they count towards the summary line's operations
/// and, given an [`OpLog`], record the operation with its virtual call and
/// return times for the linearizability check. [`Client::clerk`] gives the
/// bare clerk, whose operations are neither counted nor recorded (the
/// reference's direct `ck.Get`).
pub struct Client {
    clerk: kvraft::Clerk,
    ends: ClientEnds,
    ops: Arc<AtomicU64>,
}

impl Client {
    pub(super) fn new(clerk: kvraft::Clerk, ends: ClientEnds, ops: Arc<AtomicU64>) -> Client {
        Client { clerk, ends, ops }
    }

    /// The client's end names (for connecting and disconnecting it).
    pub fn ends(&self) -> &ClientEnds {
        &self.ends
    }

    /// The bare clerk: operations through it are not counted or recorded.
    pub fn clerk(&mut self) -> &mut kvraft::Clerk {
        &mut self.clerk
    }

    /// Counted Get; recorded in `log` as client `cli` if given.
    pub async fn get(&mut self, key: &str, log: Option<&OpLog>, cli: usize) -> String {
        let call = log.map(OpLog::call);
        let value = self.clerk.get(key).await;
        self.done(log, cli, call, KvInput::get(key), &value);
        value
    }

    /// Counted Put; recorded in `log` as client `cli` if given.
    pub async fn put(&mut self, key: &str, value: &str, log: Option<&OpLog>, cli: usize) {
        let call = log.map(OpLog::call);
        self.clerk.put(key, value).await;
        self.done(log, cli, call, KvInput::put(key, value), "");
    }

    /// Counted Append (it returns nothing in Lab 4); recorded in `log` as
    /// client `cli` if given.
    pub async fn append(&mut self, key: &str, value: &str, log: Option<&OpLog>, cli: usize) {
        let call = log.map(OpLog::call);
        self.clerk.append(key, value).await;
        self.done(log, cli, call, KvInput::append(key, value), "");
    }

    /// Counts a finished operation and records it.
    fn done(
        &self,
        log: Option<&OpLog>,
        cli: usize,
        call: Option<u64>,
        input: KvInput,
        output: &str,
    ) {
        self.ops.fetch_add(1, Ordering::Relaxed);
        if let (Some(log), Some(call)) = (log, call) {
            log.record_kv(cli, input, output, call);
        }
    }
}
