//! The client side of the wire protocol: one TCP connection shared by any
//! number of concurrent callers. Each call gets an id; a caller alone on
//! the connection writes its request at once, callers in company gather
//! theirs into one write ([`wire::Outbox::gather`]); a reader task hands
//! each reply to its caller. One watchdog task per connection fails the
//! calls that waited too long (no timer per call). [`Connection`] is also
//! the `tinykv-txn` client's [`Transport`], so the Percolator client runs
//! over TCP unchanged.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use labrpc::Rpc;
use tinykv_txn::client::Transport;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::Error;
use crate::wire;

/// How long a call waits for its reply: far enough for a maximal scan on a
/// slow disk. (The watchdog ticks every second: a call fails between this
/// and one second more.)
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What a waiting call receives.
enum Reply {
    /// The reply, or why the connection failed.
    Done(Result<Vec<u8>, Error>),
    /// The watchdog gave up on it.
    TimedOut,
}

/// Hashes call ids (sequential `u64`s) with one multiplication: a bijection,
/// so consecutive ids never collide, and cheaper than SipHash, which the
/// ids (ours, not an adversary's) do not need.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A connection to a `tinykv-server`. Cheap to clone; clones share the
/// connection. Once the connection breaks every call fails with
/// [`Error::Net`]; connect again to go on.
#[derive(Clone)]
pub struct Connection {
    shared: Arc<Shared>,
}

struct Shared {
    addr: Arc<str>,
    outbox: Arc<wire::Outbox>,
    next_id: AtomicU64,
    calls: Arc<Waiting>,
}

/// The calls waiting for replies, shared with the reader task (which does
/// not keep the outbox: when the last [`Connection`] goes, the outbox's
/// flusher closes the socket's sending side, the server hangs up, and the
/// reader ends).
struct Waiting(Mutex<Calls>);

/// The calls waiting for replies, each with the watchdog tick it started
/// at; `closed` once the connection broke (then nothing is added). Outside
/// the simulation, so a `HashMap` is fine.
struct Calls {
    waiting: HashMap<u64, (u64, oneshot::Sender<Reply>), BuildHasherDefault<IdHasher>>,
    /// The watchdog's ticks so far (seconds since the connection opened).
    tick: u64,
    closed: Option<String>,
}

impl Waiting {
    fn calls(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fails every waiting call and every later one with `why`.
    fn close(&self, why: String) {
        let mut calls = self.calls();
        if calls.closed.is_none() {
            calls.closed = Some(why.clone());
        }
        for (_, (_, waiter)) in calls.waiting.drain() {
            let _ = waiter.send(Reply::Done(Err(Error::Net(why.clone()))));
        }
    }

    /// Once a second, fails the calls that have waited [`CALL_TIMEOUT`];
    /// ends when the connection is gone.
    async fn watchdog(calls: Weak<Waiting>) {
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(calls) = calls.upgrade() else { return };
            let mut calls = calls.calls();
            if calls.closed.is_some() {
                return;
            }
            calls.tick += 1;
            let now = calls.tick;
            calls.waiting.retain(|_, (started, waiter)| {
                if now - *started < CALL_TIMEOUT.as_secs() {
                    return true;
                }
                // Take the sender out to send on it (`retain` lends it).
                let (dummy, _) = oneshot::channel();
                let _ = std::mem::replace(waiter, dummy).send(Reply::TimedOut);
                false
            });
        }
    }
}

impl Connection {
    /// Connects to the server at `addr` (HOST:PORT).
    pub async fn connect(addr: &str) -> Result<Connection, Error> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| Error::Net(format!("cannot connect to {addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let calls = Arc::new(Waiting(Mutex::new(Calls {
            waiting: HashMap::default(),
            tick: 0,
            closed: None,
        })));
        tokio::spawn(Waiting::watchdog(Arc::downgrade(&calls)));
        let shared = Arc::new(Shared {
            addr: addr.into(),
            outbox: wire::Outbox::new(write),
            next_id: AtomicU64::new(1),
            calls: calls.clone(),
        });
        let addr = shared.addr.clone();
        tokio::spawn(async move {
            let why = read_replies(read, &calls).await;
            calls.close(format!("connection to {addr} lost: {why}"));
        });
        Ok(Connection { shared })
    }

    /// The server's address.
    pub fn addr(&self) -> &str {
        &self.shared.addr
    }

    /// Calls `method` with encoded `args`; the encoded reply.
    pub async fn call_bytes(&self, method: &str, args: &[u8]) -> Result<Vec<u8>, Error> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let company = {
            let mut calls = self.shared.calls.calls();
            if let Some(why) = &calls.closed {
                return Err(Error::Net(why.clone()));
            }
            let tick = calls.tick;
            calls.waiting.insert(id, (tick, tx));
            calls.waiting.len() > 1
        };
        let mut frame = Vec::new();
        wire::put_request(&mut frame, id, method, args);
        // Alone, send at once (latency); with other calls in flight, their
        // callers are likely about to send too: one write for all of them.
        let sent = if company {
            self.shared.outbox.gather(&frame).await
        } else {
            self.shared.outbox.send(&frame)
        };
        if !sent {
            self.shared
                .calls
                .close(format!("{}: cannot send", self.shared.addr));
        }
        match rx.await {
            Ok(Reply::Done(reply)) => reply,
            Ok(Reply::TimedOut) => Err(Error::Net(format!(
                "{}: {method} got no reply within {CALL_TIMEOUT:?}",
                self.shared.addr
            ))),
            Err(_) => Err(Error::Net(format!("{}: call dropped", self.shared.addr))),
        }
    }

    /// Calls RPC `R`: the typed reply, or why there is none.
    pub async fn call<R: Rpc>(&self, args: &R::Args) -> Result<R::Reply, Error> {
        let args = labrpc::to_bytes(args);
        let reply = self.call_bytes(R::METHOD, &args).await?;
        labrpc::decode(&reply).map_err(|e| Error::Encode {
            method: R::METHOD,
            reason: e,
        })
    }
}

/// Delivers replies until the connection ends; returns why it ended.
async fn read_replies(read: tokio::net::tcp::OwnedReadHalf, calls: &Waiting) -> String {
    let mut read = wire::FrameReader::new(read, 64 * 1024);
    loop {
        let frame = match read.next().await {
            Ok(Some(frame)) => frame,
            Ok(None) => return "closed by the server".into(),
            Err(e) => return e.to_string(),
        };
        let (id, reply) = match wire::parse_reply(frame) {
            Ok(parsed) => parsed,
            Err(e) => return format!("malformed reply: {e}"),
        };
        let waiter = calls.calls().waiting.remove(&id);
        if let Some((_, waiter)) = waiter {
            let reply = reply.map(<[u8]>::to_vec).map_err(Error::Remote);
            let _ = waiter.send(Reply::Done(reply));
        }
    }
}

/// The transaction client over TCP: `Client::new(conn.clone(), conn)`.
impl Transport for Connection {
    async fn call<R: Rpc>(&self, args: &R::Args) -> Result<R::Reply, String>
    where
        R::Args: Sync,
    {
        Connection::call::<R>(self, args)
            .await
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tinykv_storage::raw::{RawGetRequest, RawPutRequest};
    use tinykv_storage::service::{RawGet, RawPut};
    use tinykv_storage::{MemEngine, RawServer, StandaloneStorage};

    use super::*;
    use crate::Router;

    /// Many callers on one connection, their requests gathered into shared
    /// writes and their replies read in bursts: every caller gets its own
    /// reply, for writes (answered out of order from the blocking pool)
    /// and reads (answered inline) alike, without stalls.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipelined_callers_each_get_their_own_reply() {
        let storage = Arc::new(StandaloneStorage::new(Arc::new(MemEngine::new())));
        let router = Router::new().raw(RawServer::new(storage));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(crate::serve(listener, router));
        let conn = Connection::connect(&addr).await.unwrap();
        let callers: Vec<_> = (0..32u32)
            .map(|c| {
                let conn = conn.clone();
                tokio::spawn(async move {
                    for i in 0..40u32 {
                        let key = format!("c{c}-k{i}").into_bytes();
                        let value = format!("{c}:{i}").repeat(1 + (i as usize % 7)).into_bytes();
                        let put = RawPutRequest {
                            key: key.clone(),
                            value: value.clone(),
                            cf: "default".into(),
                            ..Default::default()
                        };
                        assert_eq!(conn.call::<RawPut>(&put).await.unwrap().error, "");
                        let get = RawGetRequest {
                            key,
                            cf: "default".into(),
                            ..Default::default()
                        };
                        assert_eq!(conn.call::<RawGet>(&get).await.unwrap().value, value);
                    }
                })
            })
            .collect();
        // Normally well under a second. A request left queued is only
        // written by the outbox's flusher on its once-a-second check, which
        // stretches this to over a minute.
        let all = async {
            for caller in callers {
                caller.await.unwrap();
            }
        };
        tokio::time::timeout(Duration::from_secs(10), all)
            .await
            .expect("pipelined calls stalled: a gathered request was not written");
        assert!(conn.shared.calls.calls().waiting.is_empty());
        server.abort();
    }
}
