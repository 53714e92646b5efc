//! The labrpc glue: the `KVServer` service over one [`KvStore`].

use std::sync::{Arc, Mutex, MutexGuard};

use labrpc::{Reply, Service, ServiceError};

use crate::Rejection;
use crate::messages::{Append, Get, GetArgs, Put, PutAppendArgs};
use crate::store::KvStore;

/// The single key/value server (the reference `StartKVServer`).
///
/// Cheap to clone; clones serve the same store.
#[derive(Clone, Default)]
pub struct KvServer {
    /// Handlers run as separate tasks; each takes the lock, applies one
    /// request and releases it before replying, never across an `.await`,
    /// so a std mutex is right and requests apply one at a time.
    store: Arc<Mutex<KvStore>>,
}

impl KvServer {
    /// A server with an empty store.
    pub fn new() -> KvServer {
        KvServer::default()
    }

    /// The `KVServer` service to add to a labrpc `Server`.
    pub fn service(&self) -> Service {
        let (get, put, append) = (self.clone(), self.clone(), self.clone());
        Service::new("KVServer")
            .handle::<Get, _, _>(move |a: GetArgs| {
                let reply = get.lock().get(a.client, a.seq, &a.key);
                let reply = refuse("Get", reply);
                async move { reply }
            })
            .handle::<Put, _, _>(move |a: PutAppendArgs| {
                let reply = put.lock().put(dedup_id(a.client), a.seq, &a.key, a.value);
                let reply = refuse("Put", reply);
                async move { reply }
            })
            .handle::<Append, _, _>(move |a: PutAppendArgs| {
                let reply = append
                    .lock()
                    .append(dedup_id(a.client), a.seq, &a.key, &a.value);
                let reply = refuse("Append", reply);
                async move { reply }
            })
    }

    /// Clerks whose last write is still remembered for deduplication.
    pub fn remembered_clients(&self) -> usize {
        self.lock().remembered()
    }

    fn lock(&self) -> MutexGuard<'_, KvStore> {
        // A poisoned lock means a handler panicked mid-request, which the
        // simulation already reports; the store itself is still consistent
        // between requests, so keep serving rather than panic again.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The mutant `kvsrv-forgets-duplicates` (tester only).
#[cfg(feature = "mutants")]
pub const MUTANT_FORGETS_DUPLICATES: &str = "kvsrv-forgets-duplicates";

/// The clerk id the duplicate table sees: the clerk's own — unless the
/// tester's mutation tests (feature `mutants`) switched on
/// `MUTANT_FORGETS_DUPLICATES`, when every write looks like a new
/// clerk's, as if the server had no duplicate table.
fn dedup_id(client: crate::messages::ClientId) -> crate::messages::ClientId {
    #[cfg(feature = "mutants")]
    if labrpc::sim::mutant(MUTANT_FORGETS_DUPLICATES) {
        return labrpc::rng::u64();
    }
    client
}

/// The reply for the store's answer: a refusal logged and sent as
/// `ServiceError::Rejected`.
fn refuse<T>(op: &str, answer: Result<T, Rejection>) -> Reply<T, Rejection> {
    answer.map_err(|e| {
        tracing::warn!(op, "rejected request: {e}");
        ServiceError::Rejected(e)
    })
}
