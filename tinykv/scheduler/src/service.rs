//! The scheduler as a labrpc service (`Scheduler.*`) in the simulation.
//! Every handler is one synchronous call into the [`Cluster`], so it is a
//! single step of the simulation and replays identically.
//!
//! [`Cluster`]: crate::Cluster

use labrpc::Service;

use crate::Error;
use crate::messages::{
    AskSplitRequest, AskSplitResponse, GetRegionResponse, PutStoreRequest, RegionHeartbeatRequest,
    RegionHeartbeatResponse, StoreHeartbeatRequest, TsoRequest,
};
use crate::region::RegionInfo;
use crate::server::SchedulerServer;
use crate::store::StoreInfo;

labrpc::rpc!(
    /// `Scheduler.PutStore`.
    pub PutStore = "Scheduler.PutStore": PutStoreRequest => Result<(), Error>
);
labrpc::rpc!(
    /// `Scheduler.StoreHeartbeat`.
    pub StoreHeartbeat = "Scheduler.StoreHeartbeat": StoreHeartbeatRequest => Result<(), Error>
);
labrpc::rpc!(
    /// `Scheduler.RegionHeartbeat`.
    pub RegionHeartbeat = "Scheduler.RegionHeartbeat":
        RegionHeartbeatRequest => Result<RegionHeartbeatResponse, Error>
);
labrpc::rpc!(
    /// `Scheduler.AllocId`.
    pub AllocId = "Scheduler.AllocId": () => Result<u64, Error>
);
labrpc::rpc!(
    /// `Scheduler.GetTso`.
    pub GetTso = "Scheduler.GetTso": TsoRequest => Result<u64, Error>
);
labrpc::rpc!(
    /// `Scheduler.GetRegion` (by key).
    pub GetRegion = "Scheduler.GetRegion": Vec<u8> => Result<Option<GetRegionResponse>, Error>
);
labrpc::rpc!(
    /// `Scheduler.AskSplit`.
    pub AskSplit = "Scheduler.AskSplit": AskSplitRequest => Result<AskSplitResponse, Error>
);
labrpc::rpc!(
    /// `Scheduler.ListRegions` (every cached region, by id).
    pub ListRegions = "Scheduler.ListRegions": () => Result<Vec<RegionInfo>, Error>
);
labrpc::rpc!(
    /// `Scheduler.ListStores` (every registered store, by id).
    pub ListStores = "Scheduler.ListStores": () => Result<Vec<StoreInfo>, Error>
);

impl SchedulerServer {
    /// The `Scheduler` labrpc service to add to a `labrpc::Server`.
    pub fn service(&self) -> Service {
        let s = self.clone();
        let (a, b, c, d, e, f) = (s.clone(), s.clone(), s.clone(), s.clone(), s.clone(), s);
        Service::new("Scheduler")
            .handle::<PutStore, _, _>(move |req| {
                let reply = a.put_store(req);
                async move { reply }
            })
            .handle::<StoreHeartbeat, _, _>(move |req| {
                let reply = b.store_heartbeat(req);
                async move { reply }
            })
            .handle::<RegionHeartbeat, _, _>(move |req| {
                let reply = c.region_heartbeat(req);
                async move { reply }
            })
            .handle::<AllocId, _, _>(move |()| {
                let reply = d.alloc_id();
                async move { reply }
            })
            .handle::<GetTso, _, _>(move |req| {
                let reply = e.get_tso(req);
                async move { reply }
            })
            .handle::<GetRegion, _, _>({
                let g = self.clone();
                move |key| {
                    let reply = g.get_region(key);
                    async move { reply }
                }
            })
            .handle::<AskSplit, _, _>(move |req| {
                let reply = f.ask_split(req);
                async move { reply }
            })
            .handle::<ListRegions, _, _>({
                let g = self.clone();
                move |()| {
                    let reply = g.list_regions();
                    async move { reply }
                }
            })
            .handle::<ListStores, _, _>({
                let g = self.clone();
                move |()| {
                    let reply = g.list_stores();
                    async move { reply }
                }
            })
    }
}
