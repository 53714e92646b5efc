//! [`ClusterClient`]: one client for several `tinykv-server` addresses —
//! a raft cluster's stores, or a single standalone server. A call goes to
//! the store believed to lead; a region error (`not leader`, a stale
//! command, a timeout) or a lost connection sends it again, to the leader
//! the error names when it names one (`[leader: store N at HOST:PORT]`),
//! else to the next address, until [`RETRY_FOR`] has passed.
//!
//! Retrying is safe for what goes through it: raw puts and deletes are
//! idempotent, and the Percolator commands are made to be retried. The
//! client recognises region errors in the replies of the raw and
//! transactional RPCs by method name ([`region_error_of`]), so it is also
//! the transaction client's [`Transport`] unchanged.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use labrpc::Rpc;
use tinykv_storage::service::{RawDelete, RawGet, RawPut, RawScan};
use tinykv_txn::client::Transport;
use tinykv_txn::service::*;

use crate::{Connection, Error};

/// How long a call keeps retrying before it gives up (an election takes
/// about a second; a restart a few).
pub const RETRY_FOR: Duration = Duration::from_secs(15);

/// The region error text for a command refused by a non-leader whose
/// leader is known: the raftstore's message and the hint clients follow.
pub fn not_leader_text(message: &str, store_id: u64, addr: &str) -> String {
    format!("{message} [leader: store {store_id} at {addr}]")
}

/// The leader a region error names: its store id and address.
pub fn leader_hint(text: &str) -> Option<(u64, &str)> {
    let rest = &text[text.rfind("[leader: store ")? + "[leader: store ".len()..];
    let (id, rest) = rest.split_once(" at ")?;
    let addr = rest.strip_suffix(']')?;
    Some((id.parse().ok()?, addr))
}

/// The region error in an encoded reply of `method`, if it is one of the
/// raw or transactional RPCs and carries one.
pub fn region_error_of(method: &str, reply: &[u8]) -> Option<String> {
    fn raw<R: Rpc>(reply: &[u8], get: impl FnOnce(R::Reply) -> Option<String>) -> Option<String> {
        labrpc::decode::<R::Reply>(reply).ok().and_then(get)
    }
    fn txn<R, T>(reply: &[u8], get: impl FnOnce(T) -> Option<String>) -> Option<String>
    where
        R: Rpc<Reply = Result<T, String>>,
        T: serde::de::DeserializeOwned,
    {
        labrpc::decode::<R::Reply>(reply).ok()?.ok().and_then(get)
    }
    match method {
        RawGet::METHOD => raw::<RawGet>(reply, |r| r.region_error),
        RawPut::METHOD => raw::<RawPut>(reply, |r| r.region_error),
        RawDelete::METHOD => raw::<RawDelete>(reply, |r| r.region_error),
        RawScan::METHOD => raw::<RawScan>(reply, |r| r.region_error),
        KvGet::METHOD => txn::<KvGet, _>(reply, |r| r.region_error),
        KvScan::METHOD => txn::<KvScan, _>(reply, |r| r.region_error),
        KvPrewrite::METHOD => txn::<KvPrewrite, _>(reply, |r| r.region_error),
        KvCommit::METHOD => txn::<KvCommit, _>(reply, |r| r.region_error),
        KvCheckTxnStatus::METHOD => txn::<KvCheckTxnStatus, _>(reply, |r| r.region_error),
        KvBatchRollback::METHOD => txn::<KvBatchRollback, _>(reply, |r| r.region_error),
        KvResolveLock::METHOD => txn::<KvResolveLock, _>(reply, |r| r.region_error),
        _ => None,
    }
}

/// A client of several server addresses that follows the leader. Cheap to
/// clone; clones share the connections.
#[derive(Clone)]
pub struct ClusterClient {
    inner: Arc<Inner>,
    retry_for: Duration,
}

struct Inner {
    addrs: Vec<String>,
    /// One connection per address, opened on first use and dropped when it
    /// breaks.
    conns: Vec<Mutex<Option<Connection>>>,
    /// The address believed to lead.
    leader: AtomicUsize,
}

impl ClusterClient {
    /// A client of `addrs` (HOST:PORT each), trying `first` (mod their
    /// number) first. Connects lazily.
    ///
    /// # Errors
    /// [`Error::Usage`] for an empty list or an empty address.
    pub fn new(addrs: &[String], first: usize) -> Result<ClusterClient, Error> {
        let addrs: Vec<String> = addrs.iter().map(|a| a.trim().to_string()).collect();
        if addrs.is_empty() || addrs.iter().any(String::is_empty) {
            return Err(Error::Usage("no server address given".into()));
        }
        let conns = addrs.iter().map(|_| Mutex::new(None)).collect();
        let leader = AtomicUsize::new(first % addrs.len());
        Ok(ClusterClient {
            inner: Arc::new(Inner {
                addrs,
                conns,
                leader,
            }),
            retry_for: RETRY_FOR,
        })
    }

    /// The same client, retrying for `limit` instead of [`RETRY_FOR`].
    pub fn retry_for(mut self, limit: Duration) -> ClusterClient {
        self.retry_for = limit;
        self
    }

    /// The addresses.
    pub fn addrs(&self) -> &[String] {
        &self.inner.addrs
    }

    async fn connection(&self, i: usize) -> Result<Connection, Error> {
        let cached = self.inner.conns[i]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(conn) = cached {
            return Ok(conn);
        }
        let conn = Connection::connect(&self.inner.addrs[i]).await?;
        *self.inner.conns[i]
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(conn.clone());
        Ok(conn)
    }

    fn forget(&self, i: usize) {
        *self.inner.conns[i]
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Calls `method` with encoded `args` on the leader: its encoded reply
    /// (with no region error), or the last failure once [`RETRY_FOR`] (or
    /// what [`retry_for`](Self::retry_for) set) has passed. A reply the server refused (an unknown method, arguments it
    /// cannot decode) is returned at once; so is a failure to reach the
    /// only address there is (nothing else to try).
    pub async fn call_bytes(&self, method: &str, args: &[u8]) -> Result<Vec<u8>, Error> {
        let n = self.inner.addrs.len();
        let started = Instant::now();
        let mut tried = 0usize;
        loop {
            let i = self.inner.leader.load(Ordering::Relaxed) % n;
            let (failure, next) = match self.connection(i).await {
                Err(e) if n == 1 => return Err(e),
                Err(e) => (e, None),
                Ok(conn) => match conn.call_bytes(method, args).await {
                    Ok(reply) => match region_error_of(method, &reply) {
                        None => return Ok(reply),
                        Some(text) => {
                            let hinted = leader_hint(&text).and_then(|(_, addr)| {
                                self.inner.addrs.iter().position(|a| a == addr)
                            });
                            let failure = Error::Remote(format!(
                                "{}: region error: {text}",
                                self.inner.addrs[i]
                            ));
                            if leader_hint(&text).is_some() && hinted.is_none() && n == 1 {
                                // A leader we were not given: say where it is.
                                // (With several addresses, go on to the next:
                                // a store started without `--client-addrs`
                                // behind proxies names the proxy it dials.)
                                return Err(failure);
                            }
                            (failure, hinted.filter(|&j| j != i))
                        }
                    },
                    Err(e @ Error::Remote(_)) => return Err(e),
                    Err(e) if n == 1 => return Err(e),
                    Err(e) => {
                        self.forget(i);
                        (e, None)
                    }
                },
            };
            if started.elapsed() >= self.retry_for {
                return Err(failure);
            }
            tried += 1;
            // Straight to the leader named, else the next address; once
            // every address was tried, wait a little (an election).
            let next = next.unwrap_or((i + 1) % n);
            let _ =
                self.inner
                    .leader
                    .compare_exchange(i, next, Ordering::Relaxed, Ordering::Relaxed);
            if tried % n == 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// Calls RPC `R` on the leader (see [`call_bytes`](Self::call_bytes)).
    pub async fn call<R: Rpc>(&self, args: &R::Args) -> Result<R::Reply, Error> {
        let args = labrpc::to_bytes(args);
        let reply = self.call_bytes(R::METHOD, &args).await?;
        labrpc::decode(&reply).map_err(|e| Error::Encode {
            method: R::METHOD,
            reason: e,
        })
    }
}

/// The transaction client over a cluster: `Client::new(c.clone(), c)`.
impl Transport for ClusterClient {
    async fn call<R: Rpc>(&self, args: &R::Args) -> Result<R::Reply, String>
    where
        R::Args: Sync,
    {
        ClusterClient::call::<R>(self, args)
            .await
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use tinykv_storage::raw::RawPutResponse;

    use super::*;

    #[test]
    fn leader_hints_round_trip() {
        let text = not_leader_text("region 1: not leader", 3, "127.0.0.1:20163");
        assert_eq!(leader_hint(&text), Some((3, "127.0.0.1:20163")));
        assert_eq!(leader_hint("region 1: not leader (leader: None)"), None);
        assert_eq!(leader_hint("[leader: store x at a]"), None);
        assert_eq!(leader_hint("[leader: store 2 at a"), None);
    }

    #[test]
    fn region_errors_are_found_by_method() {
        let reply = RawPutResponse {
            region_error: Some("stale command".into()),
            ..Default::default()
        };
        let bytes = labrpc::to_bytes(&reply);
        assert_eq!(
            region_error_of(RawPut::METHOD, &bytes).as_deref(),
            Some("stale command")
        );
        assert_eq!(region_error_of("Tso.GetTimestamp", &bytes), None);
        let ok = labrpc::to_bytes(&RawPutResponse::default());
        assert_eq!(region_error_of(RawPut::METHOD, &ok), None);
        let txn: Result<tinykv_txn::proto::CommitResponse, String> =
            Ok(tinykv_txn::proto::CommitResponse {
                region_error: Some("not leader".into()),
                ..Default::default()
            });
        assert_eq!(
            region_error_of(KvCommit::METHOD, &labrpc::to_bytes(&txn)).as_deref(),
            Some("not leader")
        );
    }
}
