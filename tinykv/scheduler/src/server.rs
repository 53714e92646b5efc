//! [`SchedulerServer`]: the [`Cluster`] behind a lock with a clock, as both
//! the labrpc service and the TCP server use it, and the loop that runs the
//! balance scheduler.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::Error;
use crate::cluster::{Cluster, Config};
use crate::messages::{
    AskSplitRequest, AskSplitResponse, GetRegionResponse, PutStoreRequest, RegionHeartbeatRequest,
    RegionHeartbeatResponse, StoreHeartbeatRequest, TsoRequest,
};
use crate::region::RegionInfo;
use crate::reserve::{ReservationFile, Reserved};
use crate::store::StoreInfo;

/// How often the balance scheduler runs (the reference's minimum
/// balance-region interval is 10 ms and grows while it finds nothing; a
/// fixed 100 ms is enough for the tests and cheap).
pub const SCHEDULE_INTERVAL: Duration = Duration::from_millis(100);

/// Where the scheduler's milliseconds come from.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// tokio's clock (virtual in the simulation): `offset_ms` plus the time
    /// since `base`.
    Tokio {
        /// Reading 0 of the clock.
        base: tokio::time::Instant,
        /// Milliseconds at `base` (a plausible wall-clock time, so
        /// timestamps look like real ones).
        offset_ms: u64,
    },
    /// The system's wall clock (the real process only).
    System,
}

/// 2026-01-01T00:00:00Z in ms: the simulated clock's start.
pub const SIMULATED_EPOCH_MS: u64 = 1_767_225_600_000;

impl Clock {
    /// tokio's clock from now, starting at [`SIMULATED_EPOCH_MS`].
    pub fn tokio() -> Clock {
        Clock::Tokio {
            base: tokio::time::Instant::now(),
            offset_ms: SIMULATED_EPOCH_MS,
        }
    }

    /// The current reading in milliseconds.
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::Tokio { base, offset_ms } => {
                offset_ms + u64::try_from(base.elapsed().as_millis()).unwrap_or(u64::MAX)
            }
            Clock::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

/// The scheduler as a server: shared by every handler of both transports.
#[derive(Clone)]
pub struct SchedulerServer {
    cluster: Arc<Mutex<Cluster>>,
    clock: Clock,
    /// The process's reservation of ids and timestamps (none in the
    /// simulation, where nothing restarts).
    reservation: Option<Arc<Mutex<ReservationFile>>>,
}

impl SchedulerServer {
    /// A server over an empty cluster whose first id is `first_id`, that
    /// keeps nothing across a restart.
    pub fn new(config: Config, first_id: u64, clock: Clock) -> SchedulerServer {
        SchedulerServer {
            cluster: Arc::new(Mutex::new(Cluster::new(config, first_id))),
            clock,
            reservation: None,
        }
    }

    /// A server whose ids and timestamps survive a restart: it resumes
    /// above the reservation in `dir` (see [`crate::reserve`]) and reserves
    /// on disk before handing anything out. Ids start at `first_id` at the
    /// earliest.
    ///
    /// # Errors
    /// [`Error::Storage`] if `dir` cannot be created or read, or holds a
    /// file that is not a reservation.
    pub fn durable(
        config: Config,
        first_id: u64,
        clock: Clock,
        dir: &Path,
    ) -> Result<SchedulerServer, Error> {
        let file = ReservationFile::open(dir)?;
        let mut cluster = Cluster::new(config, first_id);
        let reserved = file.current();
        cluster.resume(reserved.ids_below, reserved.ts_below_ms);
        Ok(SchedulerServer {
            cluster: Arc::new(Mutex::new(cluster)),
            clock,
            reservation: Some(Arc::new(Mutex::new(file))),
        })
    }

    /// What is reserved on disk (none without a data directory).
    pub fn reserved(&self) -> Option<Reserved> {
        self.reservation
            .as_ref()
            .map(|r| r.lock().unwrap_or_else(|e| e.into_inner()).current())
    }

    /// Before `cluster` hands out up to `ids` ids, and timestamps at clock
    /// reading `tso_at` if any: makes sure they are reserved on disk.
    fn reserve(&self, cluster: &Cluster, ids: u64, tso_at: Option<u64>) -> Result<(), Error> {
        let Some(reservation) = &self.reservation else {
            return Ok(());
        };
        // A timestamp's physical part is at most one above the clock's or
        // the last one's (when a millisecond's logical space runs out).
        let ts_needed = tso_at.map_or(0, |now| {
            now.max(cluster.tso_physical_ms()).saturating_add(2)
        });
        let ids_needed = cluster.next_id().saturating_add(ids);
        let mut file = reservation.lock().unwrap_or_else(|e| e.into_inner());
        file.cover(ids_needed, ts_needed).inspect_err(|e| {
            tracing::error!(%e, "cannot reserve ids and timestamps; refusing to hand them out");
        })
    }

    /// The cluster, locked (for tests and tools). Every handler holds the
    /// lock for one synchronous call only, never across an await.
    pub fn cluster(&self) -> MutexGuard<'_, Cluster> {
        // A handler cannot panic while holding the lock (the core returns
        // errors), so a poisoned lock still holds a consistent cluster.
        self.cluster.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The clock's current reading.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// `PutStore`.
    pub fn put_store(&self, req: PutStoreRequest) -> Result<(), Error> {
        let now = self.now_ms();
        self.cluster().put_store(req.store, now)
    }

    /// `StoreHeartbeat`.
    pub fn store_heartbeat(&self, req: StoreHeartbeatRequest) -> Result<(), Error> {
        let now = self.now_ms();
        self.cluster().handle_store_heartbeat(req, now)
    }

    /// `RegionHeartbeat`.
    pub fn region_heartbeat(
        &self,
        req: RegionHeartbeatRequest,
    ) -> Result<RegionHeartbeatResponse, Error> {
        let now = self.now_ms();
        self.cluster().handle_region_heartbeat(req, now)
    }

    /// `AllocId`.
    pub fn alloc_id(&self) -> Result<u64, Error> {
        let mut cluster = self.cluster();
        self.reserve(&cluster, 1, None)?;
        cluster.alloc_id()
    }

    /// `GetTso`.
    pub fn get_tso(&self, req: TsoRequest) -> Result<u64, Error> {
        let now = self.now_ms();
        let mut cluster = self.cluster();
        self.reserve(&cluster, 0, Some(now))?;
        cluster.tso(now, req.count)
    }

    /// `GetRegion` (by key; none if no region holds it).
    pub fn get_region(&self, key: Vec<u8>) -> Result<Option<GetRegionResponse>, Error> {
        Ok(self.cluster().region_by_key(&key))
    }

    /// `ListRegions`: every cached region with its leader, by id.
    pub fn list_regions(&self) -> Result<Vec<RegionInfo>, Error> {
        Ok(self.cluster().regions().iter().cloned().collect())
    }

    /// `ListStores`: every registered store with its statistics, by id.
    pub fn list_stores(&self) -> Result<Vec<StoreInfo>, Error> {
        Ok(self.cluster().stores().cloned().collect())
    }

    /// `AskSplit`.
    pub fn ask_split(&self, req: AskSplitRequest) -> Result<AskSplitResponse, Error> {
        let mut cluster = self.cluster();
        let ids = u64::try_from(req.region.peers.len()).unwrap_or(u64::MAX);
        self.reserve(&cluster, ids.saturating_add(1), None)?;
        cluster.ask_split(req)
    }

    /// One scheduling round at the current time, with the randomness of
    /// [`labrpc::rng`] (the seed's in a simulation). A round that cannot
    /// reserve the peer id it may need does not run.
    pub fn schedule_once(&self) -> bool {
        let now = self.now_ms();
        let mut cluster = self.cluster();
        if self.reserve(&cluster, 1, None).is_err() {
            return false;
        }
        labrpc::rng::with(|rng| cluster.schedule(now, rng)).is_some()
    }

    /// Runs the balance scheduler every [`SCHEDULE_INTERVAL`] until
    /// `shutdown` fires.
    pub async fn run_schedulers(self, shutdown: labrpc::Shutdown) {
        loop {
            tokio::select! {
                biased;
                () = shutdown.wait() => return,
                () = tokio::time::sleep(SCHEDULE_INTERVAL) => {}
            }
            self.schedule_once();
        }
    }
}
