//! [`RemoteScheduler`]: the synchronous [`SchedulerClient`] a store calls
//! from its ticker, over an asynchronous [`SchedulerRpc`] to the real
//! scheduler.
//!
//! The store must not wait for the network while it holds its lock, so
//! every call returns at once: it answers from what earlier RPCs brought
//! back and spawns the RPC for this one.
//! * `region_heartbeat` sends the heartbeat and returns the step the
//!   scheduler answered to the **previous** heartbeat of the same
//!   leadership (same leader, term and region epoch), once. One heartbeat
//!   of lag is harmless: the scheduler resends a step on every heartbeat
//!   until the region shows it done, and the raftstore takes a step it
//!   already took as a no-op. An answer for another leadership is dropped:
//!   a leader that lost and regained its region must not replay a transfer
//!   meant for its earlier term.
//! * `ask_split` answers [`Error::SplitIdsPending`] and sends the request;
//!   the split checker asks again on its next tick and gets the ids, once
//!   and only for the epoch they were asked for.
//! * The first call of any kind registers the store (`PutStore`); no
//!   heartbeat is sent before the scheduler acknowledged it. A scheduler
//!   that no longer knows the store (`UnknownStore`: it restarted) makes it
//!   register again.
//! * At most one region heartbeat per region and one store heartbeat are in
//!   flight: a slow or unreachable scheduler gets no pile of requests (a
//!   skipped heartbeat is just a later one).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use tinykv_scheduler::messages::{
    ChangePeer, ConfChangeType, RegionHeartbeatRequest, RegionHeartbeatResponse,
};
use tinykv_scheduler::{Store, StoreStats};

use super::{Operator, RegionHeartbeat, SchedulerClient};
use crate::Error;
use crate::meta::{Peer, Region, RegionEpoch};

/// What a [`SchedulerRpc`] call returns: a boxed future, so the trait is
/// object-safe and a store can hold any transport.
pub type RpcFuture<T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send>>;

/// The scheduler's RPCs a store uses, asynchronous, over some transport
/// (`labrpc::ClientEnd` in the simulation, the scheduler's TCP client in a
/// real process; see `transport.rs`). A refusal is
/// [`Error::Scheduler`] with the scheduler's error; a lost call is
/// `Error::Scheduler(tinykv_scheduler::Error::Net(..))`.
pub trait SchedulerRpc: Send + Sync + 'static {
    /// Registers (or re-registers) a store.
    fn put_store(&self, store: Store) -> RpcFuture<()>;
    /// Reports a store's statistics.
    fn store_heartbeat(&self, stats: StoreStats) -> RpcFuture<()>;
    /// Reports a region; the answer is the next step for its leader.
    fn region_heartbeat(&self, heartbeat: RegionHeartbeat) -> RpcFuture<Option<Operator>>;
    /// Ids for splitting `region` (see [`SchedulerClient::ask_split`]).
    fn ask_split(&self, region: Region) -> RpcFuture<(u64, Vec<u64>)>;
}

/// The scheduler's request for a heartbeat. No pending peers: the
/// raftstore does not track which peers lag, so an added peer counts as
/// caught up once the region lists it (the scheduler then moves on to the
/// next step; raft keeps the region safe either way). An unknown size is 0.
pub fn heartbeat_request(heartbeat: RegionHeartbeat) -> RegionHeartbeatRequest {
    RegionHeartbeatRequest {
        region: heartbeat.region,
        leader: Some(heartbeat.leader),
        pending_peers: Vec::new(),
        approximate_size: heartbeat.approximate_size.unwrap_or(0),
    }
}

/// The step in the scheduler's answer, if any.
pub fn operator_of(response: RegionHeartbeatResponse) -> Option<Operator> {
    if let Some(peer) = response.transfer_leader {
        return Some(Operator::TransferLeader(peer));
    }
    let ChangePeer { change_type, peer } = response.change_peer?;
    Some(match change_type {
        ConfChangeType::AddNode => Operator::AddPeer(peer),
        ConfChangeType::RemoveNode => Operator::RemovePeer(peer),
    })
}

/// One leadership of one region configuration: what an answer is valid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tenure {
    leader: Peer,
    term: u64,
    epoch: RegionEpoch,
}

impl Tenure {
    fn of(heartbeat: &RegionHeartbeat) -> Tenure {
        Tenure {
            leader: heartbeat.leader,
            term: heartbeat.term,
            epoch: heartbeat.region.region_epoch,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Registration {
    #[default]
    Unregistered,
    /// `PutStore` is in flight.
    Registering,
    Registered,
}

/// One region's heartbeat exchange.
#[derive(Debug, Default)]
struct RegionState {
    /// A heartbeat is in flight.
    in_flight: bool,
    /// The step answered to the last heartbeat, not yet handed out.
    answer: Option<(Tenure, Operator)>,
}

/// One region's split ids.
#[derive(Debug)]
enum Split {
    /// Asked for at this epoch, with this many peers.
    Pending(RegionEpoch, usize),
    /// The answer for that epoch and peer count.
    Ready(RegionEpoch, (u64, Vec<u64>)),
}

#[derive(Debug, Default)]
struct State {
    registration: Registration,
    store_heartbeat_in_flight: bool,
    regions: BTreeMap<u64, RegionState>,
    splits: BTreeMap<u64, Split>,
    /// The last failure, for the store's logs and for tests.
    last_error: Option<Error>,
}

struct Inner {
    store: Store,
    rpc: Box<dyn SchedulerRpc>,
    state: Mutex<State>,
}

/// The real scheduler as a [`SchedulerClient`]: see the module docs.
/// Cloning gives another handle on the same state.
#[derive(Clone)]
pub struct RemoteScheduler {
    inner: Arc<Inner>,
}

impl RemoteScheduler {
    /// The client of store `store` (its id and address as it registers)
    /// over `rpc`. Its calls must be made inside a tokio runtime (they
    /// spawn the RPCs); outside one they fail and send nothing.
    pub fn new(store: Store, rpc: impl SchedulerRpc) -> RemoteScheduler {
        RemoteScheduler {
            inner: Arc::new(Inner {
                store,
                rpc: Box::new(rpc),
                state: Mutex::default(),
            }),
        }
    }

    /// Whether the scheduler acknowledged the store's registration.
    pub fn is_registered(&self) -> bool {
        self.inner.lock().registration == Registration::Registered
    }

    /// The last RPC failure, if any.
    pub fn last_error(&self) -> Option<Error> {
        self.inner.lock().last_error.clone()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics while holding it; a poisoned state is still whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes a failed RPC; a scheduler that forgot this store gets it
    /// registered again.
    fn failed(&self, state: &mut State, error: Error) {
        tracing::debug!(store = self.store.id, %error, "scheduler request failed");
        if error == Error::Scheduler(tinykv_scheduler::Error::UnknownStore(self.store.id))
            && state.registration == Registration::Registered
        {
            state.registration = Registration::Unregistered;
        }
        state.last_error = Some(error);
    }

    /// Whether the store is registered; if not, starts its registration.
    fn registered(self: &Arc<Self>, state: &mut State) -> bool {
        match state.registration {
            Registration::Registered => return true,
            Registration::Registering => return false,
            Registration::Unregistered => {}
        }
        let inner = self.clone();
        let request = self.rpc.put_store(self.store.clone());
        if self.spawn(state, async move {
            let result = request.await;
            let mut state = inner.lock();
            match result {
                Ok(()) => state.registration = Registration::Registered,
                Err(error) => {
                    state.registration = Registration::Unregistered;
                    inner.failed(&mut state, error);
                }
            }
        }) {
            state.registration = Registration::Registering;
        }
        false
    }

    /// Spawns `task`; false (and the failure noted) outside a runtime.
    fn spawn(&self, state: &mut State, task: impl Future<Output = ()> + Send + 'static) -> bool {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(task);
                true
            }
            Err(_) => {
                let error = tinykv_scheduler::Error::Net("no tokio runtime".into());
                self.failed(state, Error::Scheduler(error));
                false
            }
        }
    }
}

impl SchedulerClient for RemoteScheduler {
    fn region_heartbeat(&self, heartbeat: RegionHeartbeat) -> Option<Operator> {
        let inner = &self.inner;
        let mut state = inner.lock();
        let region_id = heartbeat.region.id;
        let tenure = Tenure::of(&heartbeat);
        let answer = state
            .regions
            .get_mut(&region_id)
            .and_then(|r| r.answer.take())
            .and_then(|(t, op)| (t == tenure).then_some(op));
        let busy = state.regions.get(&region_id).is_some_and(|r| r.in_flight);
        if !busy && inner.registered(&mut state) {
            let request = inner.rpc.region_heartbeat(heartbeat);
            let task_inner = inner.clone();
            let spawned = inner.spawn(&mut state, async move {
                let result = request.await;
                let mut state = task_inner.lock();
                let region = state.regions.entry(region_id).or_default();
                region.in_flight = false;
                region.answer = match &result {
                    Ok(op) => op.map(|op| (tenure, op)),
                    Err(_) => None,
                };
                if region.answer.is_none() {
                    state.regions.remove(&region_id);
                }
                if let Err(error) = result {
                    task_inner.failed(&mut state, error);
                }
            });
            if spawned {
                state.regions.entry(region_id).or_default().in_flight = true;
            }
        }
        if state
            .regions
            .get(&region_id)
            .is_some_and(|r| !r.in_flight && r.answer.is_none())
        {
            state.regions.remove(&region_id);
        }
        answer
    }

    fn ask_split(&self, region: &Region) -> Result<(u64, Vec<u64>), Error> {
        let inner = &self.inner;
        let mut state = inner.lock();
        let (region_id, epoch, peers) = (region.id, region.region_epoch, region.peers.len());
        let pending = Error::SplitIdsPending { region_id };
        match state.splits.remove(&region_id) {
            Some(Split::Ready(e, ids)) if e == epoch && ids.1.len() == peers => return Ok(ids),
            Some(Split::Pending(e, n)) if e == epoch && n == peers => {
                state.splits.insert(region_id, Split::Pending(e, n));
                return Err(pending);
            }
            // None, or an answer or request for another epoch: ask anew.
            _ => {}
        }
        let request = inner.rpc.ask_split(region.clone());
        let task_inner = inner.clone();
        let spawned = inner.spawn(&mut state, async move {
            let result = request.await;
            let mut state = task_inner.lock();
            let ours = matches!(
                state.splits.get(&region_id),
                Some(Split::Pending(e, n)) if *e == epoch && *n == peers
            );
            if ours {
                match result {
                    Ok(ids) => {
                        state.splits.insert(region_id, Split::Ready(epoch, ids));
                    }
                    Err(error) => {
                        state.splits.remove(&region_id);
                        task_inner.failed(&mut state, error);
                    }
                }
            }
        });
        if spawned {
            state.splits.insert(region_id, Split::Pending(epoch, peers));
        }
        Err(pending)
    }

    fn store_heartbeat(&self, stats: StoreStats) {
        let inner = &self.inner;
        let mut state = inner.lock();
        if state.store_heartbeat_in_flight || !inner.registered(&mut state) {
            return;
        }
        let request = inner.rpc.store_heartbeat(stats);
        let task_inner = inner.clone();
        let spawned = inner.spawn(&mut state, async move {
            let result = request.await;
            let mut state = task_inner.lock();
            state.store_heartbeat_in_flight = false;
            if let Err(error) = result {
                task_inner.failed(&mut state, error);
            }
        });
        state.store_heartbeat_in_flight = spawned;
    }
}

#[cfg(test)]
mod tests;
