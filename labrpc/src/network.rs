//! The simulated network and its fault model.
//!
//! The fault model is the reference labrpc's, number for number; each number
//! is a named constant below. What happens to one call:
//!
//! Whether a request is delivered is decided, as in the reference, from the
//! end's state **when it is sent** (case A or B below); later changes only
//! decide whether the reply gets back.
//!
//! **A. The end is enabled and connected to a server that exists.**
//! 1. The request travels for the one-way latency: a uniform draw in whole
//!    milliseconds between the network's minimum and maximum, 0–2 ms by
//!    default ([`DEFAULT_LATENCY_MIN`], [`DEFAULT_LATENCY_MAX`]; mean
//!    [`DEFAULT_LATENCY_MEAN`]). Each message draws its own, so concurrent
//!    calls between two peers may arrive out of order, as the reference's
//!    racing goroutines do. On an **unreliable** network it waits a further
//!    0–26 ms ([`UNRELIABLE_EXTRA_DELAY`]) and is then **dropped with
//!    probability 10 %** ([`UNRELIABLE_DROP_PERCENT`]): the caller gets
//!    [`RpcError::Disconnected`](crate::RpcError::Disconnected) and the handler never runs.
//! 2. The handler runs — on the server the end reached when the request was
//!    sent, even if meanwhile the end was disabled or the server deleted
//!    ("the server executed it but the client timed out") — in its own task,
//!    so it completes even if the caller gives up. If the end is disabled or
//!    the server deleted or replaced before the reply leaves, the caller gets
//!    `Disconnected` at once and the reply — which a crashed server must
//!    never deliver — is discarded. (The reference polls for this every
//!    100 ms; here the check is event-driven, so it is never later than the
//!    reference's.)
//! 3. On an unreliable network the **reply is dropped with probability 10 %**
//!    even though the handler ran — which is why services need at-most-once
//!    semantics.
//! 4. With **long reordering** on, the reply is held back with probability
//!    600/900 for 200 + rand(1 + rand(2000)) ms, i.e. 200–2199 ms skewed
//!    towards 200 ([`LONG_REORDER_PERCENT_OF_900`], [`LONG_REORDER_BASE`],
//!    [`LONG_REORDER_SPREAD`]).
//! 5. The reply travels for the one-way latency and is delivered.
//!
//! **B. The end is disabled or unconnected, or the server is missing.** The
//! handler never runs; after a simulated timeout of 0–99 ms
//! ([`SHORT_TIMEOUT_MAX`]) — or 0–6999 ms with **long delays** on
//! ([`LONG_TIMEOUT_MAX`], which the Raft tester enables so that a leader
//! that waits for each RPC in turn gets stuck) — the caller gets
//! `Disconnected`.
//!
//! Counting follows the reference: every call counts towards the total RPC
//! count and adds its argument bytes to the byte total, even to a disabled
//! end; a server's own count counts RPCs dispatched to it; reply bytes count
//! only when the reply is delivered.
//!
//! The reliable network still has a latency because virtual time moves only
//! when every task waits: a client loop "for 5 seconds" over a zero-latency
//! network would never see time pass. One millisecond per hop on average gives a kvraft
//! operation (client → leader, one replication round trip, leader → client)
//! about 4 ms, i.e. the 1,000–1,700 operations per client per 5-s round that
//! the reference sees in real time. Tests of 100,000 sequential operations
//! lower it with [`Network::set_latency`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use crate::end::ClientEnd;
use crate::rng;
use crate::server::Server;

/// Default mean one-way latency of a message, the `L` speed bounds are
/// counted in.
pub const DEFAULT_LATENCY_MEAN: Duration = Duration::from_millis(1);
/// Default minimum one-way latency of a message on any network: `L/2`
/// rounded down to whole milliseconds.
///
/// tokio's timer has millisecond resolution (a sleep ends on the next whole
/// millisecond), so latencies are whole milliseconds; zero skips the sleep.
/// The default draw is uniform over {0, 1, 2} ms — the whole-millisecond
/// form of [0.5 L, 1.5 L] around the mean, so messages reorder.
pub const DEFAULT_LATENCY_MIN: Duration = Duration::from_millis(0);
/// Default maximum one-way latency: `2L − min`, so the mean stays `L`.
pub const DEFAULT_LATENCY_MAX: Duration = Duration::from_millis(2);
/// Unreliable network: extra request delay is uniform in `0..27` ms.
pub const UNRELIABLE_EXTRA_DELAY: Duration = Duration::from_millis(27);
/// Unreliable network: percentage of requests dropped, and separately of replies.
pub const UNRELIABLE_DROP_PERCENT: u32 = 10;
/// Disabled end or missing server: the caller learns after `0..100` ms.
pub const SHORT_TIMEOUT_MAX: Duration = Duration::from_millis(100);
/// As above with long delays on: `0..7000` ms.
pub const LONG_TIMEOUT_MAX: Duration = Duration::from_millis(7000);
/// Long reordering: a reply is delayed with probability 600/900.
pub const LONG_REORDER_PERCENT_OF_900: u32 = 600;
/// Long reordering: the least delay of a held-back reply.
pub const LONG_REORDER_BASE: Duration = Duration::from_millis(200);
/// Long reordering: the extra delay is `rand(1 + rand(2000))` ms.
pub const LONG_REORDER_SPREAD: u64 = 2000;

/// The `tracing` target of the network's events: every tester action
/// (connect, enable/disable an end, delete a server, reliability, long
/// reordering, long delays) is logged as message `event` with a `kind`
/// field, for `labtool timeline` and `labtool logs`.
pub const EVENT_TARGET: &str = "labrpc::event";

/// Logs one tester action as a structured event.
macro_rules! event {
    ($kind:literal $(, $($field:tt)*)?) => {
        tracing::debug!(target: EVENT_TARGET, kind = $kind $(, $($field)*)?, "event")
    };
}

/// The simulated network: ends, servers, connections and fault settings.
///
/// Cheap to clone; all clones control the same network. When the last
/// `Network` handle is dropped (or [`Network::cleanup`] is called), calls on
/// its ends fail with [`RpcError::NetworkClosed`](crate::RpcError::NetworkClosed).
#[derive(Clone)]
pub struct Network {
    pub(crate) inner: Arc<Inner>,
    _owner: Arc<Owner>,
}

/// Marks the network closed when the last `Network` handle goes away.
struct Owner(Arc<Inner>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.close();
    }
}

pub(crate) struct Inner {
    state: Mutex<State>,
    closed: AtomicBool,
    /// Signalled whenever an end or server changes, so in-flight calls
    /// recheck whether their server died instead of polling. A `Notify`, not
    /// a `watch`: tokio's `watch` spreads its waiters over several lists
    /// chosen by the runtime's unseeded RNG, which would make the wake order
    /// (and so a replay) depend on more than the seed.
    changed: Notify,
}

struct EndState {
    enabled: bool,
    server: Option<String>,
}

struct State {
    reliable: bool,
    long_reordering: bool,
    long_delays: bool,
    latency: (Duration, Duration),
    ends: BTreeMap<String, EndState>,
    servers: BTreeMap<String, Server>,
    total_count: u64,
    total_bytes: u64,
    trace: Option<Vec<String>>,
}

/// What a call needs to know about its route, read once under the lock.
pub(crate) struct Route {
    pub(crate) server_name: String,
    pub(crate) server: Server,
    pub(crate) reliable: bool,
    pub(crate) long_reordering: bool,
    pub(crate) latency: (Duration, Duration),
}

pub(crate) enum Admission {
    Deliver(Route),
    Unreachable { long_delays: bool },
}

impl Default for Network {
    fn default() -> Self {
        Network::new()
    }
}

impl Network {
    /// A reliable network with no ends and no servers.
    pub fn new() -> Network {
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                reliable: true,
                long_reordering: false,
                long_delays: false,
                latency: (DEFAULT_LATENCY_MIN, DEFAULT_LATENCY_MAX),
                ends: BTreeMap::new(),
                servers: BTreeMap::new(),
                total_count: 0,
                total_bytes: 0,
                trace: None,
            }),
            closed: AtomicBool::new(false),
            changed: Notify::new(),
        });
        Network {
            _owner: Arc::new(Owner(inner.clone())),
            inner,
        }
    }

    /// Creates a client end, disabled and connected to nothing.
    ///
    /// # Panics
    /// If an end of that name exists (the reference treats this as fatal).
    pub fn make_end(&self, name: impl Into<String>) -> ClientEnd {
        let name = name.into();
        let mut st = self.inner.lock();
        assert!(
            !st.ends.contains_key(&name),
            "labrpc: make_end: an end named {name:?} already exists"
        );
        st.ends.insert(
            name.clone(),
            EndState {
                enabled: false,
                server: None,
            },
        );
        ClientEnd::new(name, self.inner.clone())
    }

    /// Removes an end; later calls on it fail as if it were disabled.
    pub fn delete_end(&self, name: &str) {
        self.inner.lock().ends.remove(name);
        self.inner.bump();
    }

    /// Adds a server under `name`, replacing any server of that name.
    pub fn add_server(&self, name: impl Into<String>, server: Server) {
        self.inner.lock().servers.insert(name.into(), server);
        self.inner.bump();
    }

    /// Removes a server: handlers still running never deliver their replies.
    pub fn delete_server(&self, name: &str) {
        self.inner.lock().servers.remove(name);
        self.inner.bump();
        event!("delete_server", server = name);
    }

    /// Connects an end to a server name (the server may be added later).
    pub fn connect(&self, end: &str, server: impl Into<String>) {
        let server = server.into();
        if let Some(e) = self.inner.lock().ends.get_mut(end) {
            e.server = Some(server.clone());
        }
        self.inner.bump();
        event!("connect", end, server = server.as_str());
    }

    /// Enables or disables an end.
    pub fn enable(&self, end: &str, enabled: bool) {
        let server = {
            let mut st = self.inner.lock();
            let e = st.ends.get_mut(end);
            e.map(|e| {
                let changed = e.enabled != enabled;
                e.enabled = enabled;
                (changed, e.server.clone().unwrap_or_default())
            })
        };
        self.inner.bump();
        if let Some((true, server)) = server {
            event!("enable", end, server = server.as_str(), enabled);
        }
    }

    /// Reliable (default) or unreliable: 0–26 ms extra delay, 10 % of requests
    /// and 10 % of replies dropped.
    pub fn set_reliable(&self, reliable: bool) {
        self.inner.lock().reliable = reliable;
        event!("reliable", on = reliable);
    }

    /// Holds back two thirds of replies for 200–2199 ms.
    pub fn set_long_reordering(&self, on: bool) {
        self.inner.lock().long_reordering = on;
        event!("long_reordering", on);
    }

    /// Calls to unreachable servers time out after 0–6999 ms instead of 0–99 ms.
    pub fn set_long_delays(&self, on: bool) {
        self.inner.lock().long_delays = on;
        event!("long_delays", on);
    }

    /// Sets the one-way latency range of every message.
    pub fn set_latency(&self, min: Duration, max: Duration) {
        self.inner.lock().latency = (min, max.max(min));
    }

    /// RPCs dispatched to the server now registered as `server`.
    pub fn count(&self, server: &str) -> u64 {
        self.inner
            .lock()
            .servers
            .get(server)
            .map(Server::count)
            .unwrap_or(0)
    }

    /// All calls made on the network's ends, including failed ones.
    pub fn total_count(&self) -> u64 {
        self.inner.lock().total_count
    }

    /// Argument bytes of all calls plus reply bytes of delivered replies.
    pub fn total_bytes(&self) -> u64 {
        self.inner.lock().total_bytes
    }

    /// Starts recording a line per call outcome (for determinism checks).
    pub fn start_trace(&self) {
        self.inner.lock().trace = Some(Vec::new());
    }

    /// Returns the recorded trace and stops recording.
    pub fn take_trace(&self) -> Vec<String> {
        self.inner.lock().trace.take().unwrap_or_default()
    }

    /// Shuts the network down: every later call fails with `NetworkClosed`.
    pub fn cleanup(&self) {
        self.inner.close();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not make the network unusable for reporting.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.changed.notify_waiters();
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.bump();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// A future that completes at the next change to any end or server.
    /// It counts changes from the moment it is created, not first polled.
    pub(crate) fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    /// Counts a new call and decides where it goes.
    pub(crate) fn admit(&self, end: &str, request_bytes: usize) -> Admission {
        let mut st = self.lock();
        st.total_count += 1;
        st.total_bytes += request_bytes as u64;
        let target = st
            .ends
            .get(end)
            .filter(|e| e.enabled)
            .and_then(|e| e.server.clone());
        match target.and_then(|name| st.servers.get(&name).cloned().map(|s| (name, s))) {
            Some((server_name, server)) => Admission::Deliver(Route {
                server_name,
                server,
                reliable: st.reliable,
                long_reordering: st.long_reordering,
                latency: st.latency,
            }),
            None => Admission::Unreachable {
                long_delays: st.long_delays,
            },
        }
    }

    /// True if the end is still enabled and its server is still `route`'s.
    pub(crate) fn still_alive(&self, end: &str, route: &Route) -> bool {
        if self.is_closed() {
            return false;
        }
        let st = self.lock();
        let enabled = st.ends.get(end).is_some_and(|e| e.enabled);
        let same = st
            .servers
            .get(&route.server_name)
            .is_some_and(|s| s.same_as(&route.server));
        enabled && same
    }

    pub(crate) fn count_reply(&self, bytes: usize) {
        self.lock().total_bytes += bytes as u64;
    }

    pub(crate) fn record(&self, line: impl FnOnce() -> String) {
        let mut st = self.lock();
        if let Some(trace) = st.trace.as_mut() {
            trace.push(line());
        }
    }
}

/// A uniform draw from `0..max` in whole milliseconds, as the reference does.
pub(crate) fn millis_below(max: Duration) -> Duration {
    Duration::from_millis(rng::range(0..max.as_millis() as u64))
}

/// A one-way latency drawn (in whole milliseconds) from the network's range.
pub(crate) fn latency(range: (Duration, Duration)) -> Duration {
    let (min, max) = (range.0.as_millis() as u64, range.1.as_millis() as u64);
    if max <= min {
        return Duration::from_millis(min);
    }
    Duration::from_millis(rng::range(min..=max))
}
