//! The raw KV service over the simulated network (labrpc): the same
//! handlers as the TCP server, registered as the `TinyKv` service.

use labrpc::Service;

use crate::raw::{
    RawDeleteRequest, RawDeleteResponse, RawGetRequest, RawGetResponse, RawPutRequest,
    RawPutResponse, RawScanRequest, RawScanResponse, RawServer,
};

labrpc::rpc!(
    /// `TinyKv.RawGet`.
    pub RawGet = "TinyKv.RawGet": RawGetRequest => RawGetResponse
);
labrpc::rpc!(
    /// `TinyKv.RawPut`.
    pub RawPut = "TinyKv.RawPut": RawPutRequest => RawPutResponse
);
labrpc::rpc!(
    /// `TinyKv.RawDelete`.
    pub RawDelete = "TinyKv.RawDelete": RawDeleteRequest => RawDeleteResponse
);
labrpc::rpc!(
    /// `TinyKv.RawScan`.
    pub RawScan = "TinyKv.RawScan": RawScanRequest => RawScanResponse
);

impl RawServer {
    /// The `TinyKv` labrpc service to add to a `labrpc::Server`.
    ///
    /// Handlers run the storage call inline: both engines answer without
    /// awaiting anything, so a handler is one step of the simulation and
    /// replays identically.
    pub fn service(&self) -> Service {
        let (get, put, delete, scan) = (self.clone(), self.clone(), self.clone(), self.clone());
        Service::new("TinyKv")
            .handle::<RawGet, _, _>(move |req| {
                let reply = get.raw_get(req);
                async move { reply }
            })
            .handle::<RawPut, _, _>(move |req| {
                let reply = put.raw_put(req);
                async move { reply }
            })
            .handle::<RawDelete, _, _>(move |req| {
                let reply = delete.raw_delete(req);
                async move { reply }
            })
            .handle::<RawScan, _, _>(move |req| {
                let reply = scan.raw_scan(req);
                async move { reply }
            })
    }
}
