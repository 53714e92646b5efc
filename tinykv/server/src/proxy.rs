//! A fault injector that needs no root: TCP proxies between the stores of
//! a local cluster, one per ordered pair, whose links can be cut, delayed
//! or blackholed at run time.
//!
//! Store `i` is started with a `--cluster` list whose entry for every other
//! store `j` is the address of the proxy *link* `i → j`, which forwards to
//! `j`'s real address ([`Mesh::cluster_arg`]). Every connection `i` opens
//! to `j` therefore goes through that one link, in both directions (its
//! requests and their replies), and the link's [`Fault`] applies to it. A
//! partition of store `k` is a fault on every link from and to `k`
//! ([`Faults::isolate`]); clients reach the stores directly.
//!
//! The faults, per link:
//! * [`Fault::Pass`] — bytes flow unchanged.
//! * [`Fault::Delay`] — every chunk is forwarded that long after it was
//!   read, in order (a one-way latency, added in each direction).
//! * [`Fault::Blackhole`] — bytes are read and thrown away in both
//!   directions; connections stay open, so callers see time-outs, not
//!   errors (a silent partition). A connection that lost bytes is closed
//!   when the link heals: what flows after a gap would be a torn frame.
//! * [`Fault::Drop`] — every open connection is closed at once and new
//!   ones are closed as soon as accepted (a loud partition: callers see
//!   errors and reconnect).
//!
//! Changing a fault reaches the open connections at once (each watches its
//! link), so a test can partition and heal while traffic flows. The proxy
//! runs on the caller's tokio runtime; dropping the [`Mesh`] stops every
//! link and closes their connections.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::Error;

/// Bytes read per chunk.
const CHUNK: usize = 64 * 1024;

/// Chunks in flight per direction while a link is delayed (back-pressure
/// beyond that).
const IN_FLIGHT: usize = 1024;

/// What a link does to the bytes it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// Forward unchanged.
    #[default]
    Pass,
    /// Forward each chunk this long after it was read.
    Delay(Duration),
    /// Read and discard; keep connections open.
    Blackhole,
    /// Close every connection, open and new.
    Drop,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Pass => write!(f, "pass"),
            Fault::Delay(d) => write!(f, "delay {}ms", d.as_millis()),
            Fault::Blackhole => write!(f, "blackhole"),
            Fault::Drop => write!(f, "drop"),
        }
    }
}

impl std::str::FromStr for Fault {
    type Err = Error;

    /// `pass`, `drop`, `blackhole` or `delay MS` (also `delay=MS`).
    fn from_str(s: &str) -> Result<Fault, Error> {
        let words: Vec<&str> = s.split([' ', '=']).filter(|w| !w.is_empty()).collect();
        match words.as_slice() {
            ["pass"] | ["heal"] => Ok(Fault::Pass),
            ["drop"] => Ok(Fault::Drop),
            ["blackhole"] => Ok(Fault::Blackhole),
            ["delay", ms] => ms
                .parse::<u64>()
                .map(|ms| Fault::Delay(Duration::from_millis(ms)))
                .map_err(|_| Error::Usage(format!("bad delay {ms:?}: milliseconds expected"))),
            _ => Err(Error::Usage(format!(
                "bad fault {s:?}: pass, drop, blackhole or delay MS"
            ))),
        }
    }
}

/// One proxy: a listener forwarding every connection to `target` under
/// the fault its [`watch`] channel holds.
pub struct Link {
    addr: SocketAddr,
    fault: watch::Sender<Fault>,
    task: JoinHandle<()>,
}

impl Link {
    /// Listens on `listen` (port 0: any free port) and forwards to `target`.
    pub async fn start(listen: &str, target: SocketAddr) -> Result<Link, Error> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| Error::Net(format!("proxy cannot listen on {listen}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Net(format!("proxy on {listen}: {e}")))?;
        let (fault, rx) = watch::channel(Fault::Pass);
        let task = tokio::spawn(accept_loop(listener, target, rx));
        Ok(Link { addr, fault, task })
    }

    /// Where the link listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The fault now in force.
    pub fn fault(&self) -> Fault {
        *self.fault.borrow()
    }

    /// Puts `fault` in force, for open connections too.
    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Stops accepting; the connections see the channel close and end.
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, fault: watch::Receiver<Fault>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if *fault.borrow() == Fault::Drop {
            drop(inbound);
            continue;
        }
        tokio::spawn(connection(inbound, target, fault.clone()));
    }
}

/// One proxied connection: two pumps, ended together when either side
/// closes, the link is dropped, or its fault says so.
async fn connection(inbound: TcpStream, target: SocketAddr, mut fault: watch::Receiver<Fault>) {
    let Ok(outbound) = TcpStream::connect(target).await else {
        return; // the target is down: the caller sees its connection close
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    // Set once bytes were discarded: the stream is torn from then on.
    let torn = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut up = tokio::spawn(pump(in_read, out_write, fault.clone(), torn.clone()));
    let mut down = tokio::spawn(pump(out_read, in_write, fault.clone(), torn.clone()));
    loop {
        tokio::select! {
            biased;
            changed = fault.changed() => {
                let now = *fault.borrow_and_update();
                let heal_torn = now != Fault::Blackhole
                    && torn.load(std::sync::atomic::Ordering::SeqCst);
                if changed.is_err() || now == Fault::Drop || heal_torn {
                    break;
                }
            }
            _ = &mut up => break,
            _ = &mut down => break,
        }
    }
    up.abort();
    down.abort();
}

/// Copies `from` to `to` under the link's fault: reads chunks, and a
/// writer task sends each at its due time (at once, or after the delay).
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    fault: watch::Receiver<Fault>,
    torn: Arc<std::sync::atomic::AtomicBool>,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let writer = tokio::spawn(async move {
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let due = match *fault.borrow() {
            Fault::Pass => Instant::now(),
            Fault::Delay(d) => Instant::now() + d,
            Fault::Blackhole | Fault::Drop => {
                torn.store(true, std::sync::atomic::Ordering::SeqCst);
                continue;
            }
        };
        if tx.send((due, buf[..n].to_vec())).await.is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// The links between the stores of a cluster, one per ordered pair.
pub struct Mesh {
    stores: BTreeMap<u64, SocketAddr>,
    links: BTreeMap<(u64, u64), Link>,
}

impl Mesh {
    /// A link `i → j` for every ordered pair of distinct stores, each on a
    /// free loopback port, forwarding to `stores[j]`.
    pub async fn start(stores: &BTreeMap<u64, SocketAddr>) -> Result<Mesh, Error> {
        let mut links = BTreeMap::new();
        for &from in stores.keys() {
            for (&to, &target) in stores {
                if from != to {
                    links.insert((from, to), Link::start("127.0.0.1:0", target).await?);
                }
            }
        }
        Ok(Mesh {
            stores: stores.clone(),
            links,
        })
    }

    /// Store `store`'s `--cluster` list: its own real address, and the
    /// link `store → j` for every other store `j`.
    pub fn cluster_arg(&self, store: u64) -> String {
        self.stores
            .iter()
            .map(|(&id, &addr)| match self.links.get(&(store, id)) {
                Some(link) => format!("{id}={}", link.addr()),
                None => format!("{id}={addr}"),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The control handle.
    pub fn faults(&self) -> Faults<'_> {
        Faults { mesh: self }
    }
}

/// Sets the faults of a [`Mesh`]'s links.
#[derive(Clone, Copy)]
pub struct Faults<'a> {
    mesh: &'a Mesh,
}

impl Faults<'_> {
    /// Sets the fault of the link `from → to`; false if there is none.
    pub fn set(&self, from: u64, to: u64, fault: Fault) -> bool {
        match self.mesh.links.get(&(from, to)) {
            Some(link) => {
                link.set(fault);
                true
            }
            None => false,
        }
    }

    /// Sets both links between `a` and `b`.
    pub fn set_pair(&self, a: u64, b: u64, fault: Fault) -> bool {
        self.set(a, b, fault) & self.set(b, a, fault)
    }

    /// Cuts `store` off from every other store; false if it is unknown.
    pub fn isolate(&self, store: u64, fault: Fault) -> bool {
        let mut found = false;
        for (&(from, to), link) in &self.mesh.links {
            if from == store || to == store {
                link.set(fault);
                found = true;
            }
        }
        found
    }

    /// Every link back to [`Fault::Pass`].
    pub fn heal(&self) {
        for link in self.mesh.links.values() {
            link.set(Fault::Pass);
        }
    }

    /// Every link that is not [`Fault::Pass`], with its fault.
    pub fn active(&self) -> Vec<((u64, u64), Fault)> {
        self.mesh
            .links
            .iter()
            .filter(|(_, link)| link.fault() != Fault::Pass)
            .map(|(&pair, link)| (pair, link.fault()))
            .collect()
    }
}

/// Serves a one-line-per-command control protocol on `listener`, for
/// `nc`: `isolate STORE FAULT`, `link FROM TO FAULT` (one direction),
/// `pair A B FAULT` (both), `heal`, `status`; FAULT is `drop`,
/// `blackhole`, `delay MS` or `pass`. Each command is answered with one
/// line, `ok …` or `error: …`.
pub async fn serve_control(listener: TcpListener, mesh: Arc<Mesh>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let mesh = mesh.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = tokio::io::BufReader::new(read);
            let mut line = String::new();
            loop {
                line.clear();
                match tokio::io::AsyncBufReadExt::read_line(&mut lines, &mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let reply = control(&mesh.faults(), line.trim());
                let reply = match reply {
                    Ok(text) => format!("ok {text}\n"),
                    Err(e) => format!("error: {e}\n"),
                };
                if write.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Runs one control command (see [`serve_control`]).
pub fn control(faults: &Faults<'_>, command: &str) -> Result<String, Error> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let id = |w: &str| {
        w.parse::<u64>()
            .map_err(|_| Error::Usage(format!("bad store id {w:?}")))
    };
    let unknown = || Error::Usage("no such store or link".into());
    match words.as_slice() {
        ["heal"] => {
            faults.heal();
            Ok("healed".into())
        }
        ["status"] => Ok(faults
            .active()
            .iter()
            .map(|((from, to), fault)| format!("{from}->{to} {fault}"))
            .collect::<Vec<_>>()
            .join(", ")),
        ["isolate", store, fault @ ..] => {
            let fault: Fault = fault.join(" ").parse()?;
            let store = id(store)?;
            faults
                .isolate(store, fault)
                .then(|| format!("store {store} {fault}"))
                .ok_or_else(unknown)
        }
        [verb @ ("link" | "pair"), a, b, fault @ ..] => {
            let fault: Fault = fault.join(" ").parse()?;
            let (a, b) = (id(a)?, id(b)?);
            let done = if *verb == "link" {
                faults.set(a, b, fault)
            } else {
                faults.set_pair(a, b, fault)
            };
            done.then(|| {
                format!(
                    "{a}{}{b} {fault}",
                    if *verb == "link" { "->" } else { "<->" }
                )
            })
            .ok_or_else(unknown)
        }
        _ => Err(Error::Usage(format!(
            "unknown command {command:?}: isolate STORE FAULT | link FROM TO FAULT | pair A B FAULT | heal | status"
        ))),
    }
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
