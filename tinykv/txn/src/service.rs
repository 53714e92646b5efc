//! The transactional commands and the timestamp oracle over the simulated
//! network (labrpc). Handlers run the command inline: both engines answer
//! without awaiting, so a handler is one step of the simulation and
//! replays identically. A request the server refuses (an [`crate::Error`])
//! comes back as `Err(text)`; a [`crate::KeyError`] is part of an `Ok` reply.

use std::sync::{Arc, Mutex};

use labrpc::Service;

use crate::proto::*;
use crate::server::TxnServer;
use crate::tso::{LOGICAL_BITS, compose};

macro_rules! txn_rpcs {
    ($($name:ident = $method:literal : $req:ty => $resp:ty, $handler:ident;)*) => {
        $(
            labrpc::rpc!(
                #[doc = concat!("`", $method, "`.")]
                pub $name = $method : $req => Result<$resp, String>
            );
        )*

        impl TxnServer {
            /// The `TinyKvTxn` labrpc service to add to a `labrpc::Server`.
            pub fn service(&self) -> Service {
                let service = Service::new("TinyKvTxn");
                $(
                    let server = self.clone();
                    let service = service.handle::<$name, _, _>(move |req| {
                        let reply = server.$handler(req).map_err(|e| e.to_string());
                        async move { reply }
                    });
                )*
                service
            }
        }
    };
}

txn_rpcs! {
    KvGet = "TinyKvTxn.KvGet": GetRequest => GetResponse, kv_get;
    KvPrewrite = "TinyKvTxn.KvPrewrite": PrewriteRequest => PrewriteResponse, kv_prewrite;
    KvCommit = "TinyKvTxn.KvCommit": CommitRequest => CommitResponse, kv_commit;
    KvScan = "TinyKvTxn.KvScan": ScanRequest => ScanResponse, kv_scan;
    KvCheckTxnStatus = "TinyKvTxn.KvCheckTxnStatus": CheckTxnStatusRequest => CheckTxnStatusResponse, kv_check_txn_status;
    KvBatchRollback = "TinyKvTxn.KvBatchRollback": BatchRollbackRequest => BatchRollbackResponse, kv_batch_rollback;
    KvResolveLock = "TinyKvTxn.KvResolveLock": ResolveLockRequest => ResolveLockResponse, kv_resolve_lock;
}

labrpc::rpc!(
    /// `Tso.GetTimestamp`: `count` consecutive timestamps; the reply is the
    /// last of them.
    pub GetTimestamp = "Tso.GetTimestamp": u32 => Result<u64, String>
);

/// The timestamp oracle: strictly increasing timestamps
/// `physical_ms << 18 | logical`, the physical part from the (virtual)
/// clock. A standalone service until Project 3's scheduler hosts it.
#[derive(Clone)]
pub struct Tso {
    start: tokio::time::Instant,
    /// The last timestamp handed out.
    last: Arc<Mutex<u64>>,
}

impl Tso {
    /// An oracle whose physical clock starts at 1 ms now (so no timestamp
    /// is 0, which commands read as "none").
    pub fn new() -> Tso {
        Tso {
            start: tokio::time::Instant::now(),
            last: Arc::new(Mutex::new(0)),
        }
    }

    /// Reserves `count` (at least 1) timestamps and returns the last. The
    /// physical part never goes back; within one millisecond the logical
    /// part counts up, and when it would overflow the physical part moves
    /// on ahead of the clock.
    pub fn get(&self, count: u32) -> u64 {
        let now = 1 + self.start.elapsed().as_millis() as u64;
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let floor = compose(now, 0);
        let next = (*last + 1).max(floor);
        let end = next + u64::from(count.max(1)) - 1;
        debug_assert!(end >> LOGICAL_BITS >= now);
        *last = end;
        end
    }

    /// The `Tso` labrpc service.
    pub fn service(&self) -> Service {
        let tso = self.clone();
        Service::new("Tso").handle::<GetTimestamp, _, _>(move |count| {
            let ts = tso.get(count);
            async move { Ok(ts) }
        })
    }
}

impl Default for Tso {
    fn default() -> Tso {
        Tso::new()
    }
}
