//! The client side of the wire protocol: one TCP connection shared by any
//! number of concurrent callers. Each call gets an id; a writer task sends
//! every queued request in one write, a reader task hands each reply to its
//! caller. [`Connection`] is also the `tinykv-txn` client's
//! [`Transport`], so the Percolator client runs over TCP unchanged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use labrpc::Rpc;
use tinykv_txn::client::Transport;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::Error;
use crate::wire;

/// How long a call waits for its reply: far enough for a maximal scan on a
/// slow disk.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

type Reply = Result<Vec<u8>, Error>;

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

/// The calls waiting for replies; `closed` once the connection broke (then
/// nothing is added). Outside the simulation, so a `HashMap` is fine.
struct Calls {
    waiting: HashMap<u64, oneshot::Sender<Reply>>,
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
        for (_, waiter) in calls.waiting.drain() {
            let _ = waiter.send(Err(Error::Net(why.clone())));
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
            waiting: HashMap::new(),
            closed: None,
        })));
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
        {
            let mut calls = self.shared.calls.calls();
            if let Some(why) = &calls.closed {
                return Err(Error::Net(why.clone()));
            }
            calls.waiting.insert(id, tx);
        }
        let mut frame = Vec::new();
        wire::put_request(&mut frame, id, method, args);
        if !self.shared.outbox.send(&frame) {
            self.shared
                .calls
                .close(format!("{}: cannot send", self.shared.addr));
        }
        match tokio::time::timeout(CALL_TIMEOUT, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(Error::Net(format!("{}: call dropped", self.shared.addr))),
            Err(_) => {
                self.shared.calls.calls().waiting.remove(&id);
                Err(Error::Net(format!(
                    "{}: {method} got no reply within {CALL_TIMEOUT:?}",
                    self.shared.addr
                )))
            }
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
    let mut read = tokio::io::BufReader::with_capacity(64 * 1024, read);
    let mut frame = Vec::new();
    loop {
        match wire::read_frame(&mut read, &mut frame).await {
            Ok(true) => {}
            Ok(false) => return "closed by the server".into(),
            Err(e) => return e.to_string(),
        }
        let (id, reply) = match wire::parse_reply(&frame) {
            Ok(parsed) => parsed,
            Err(e) => return format!("malformed reply: {e}"),
        };
        let waiter = calls.calls().waiting.remove(&id);
        if let Some(waiter) = waiter {
            let _ = waiter.send(reply.map(<[u8]>::to_vec).map_err(Error::Remote));
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
