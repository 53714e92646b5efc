//! [`RaftStorage`], the reference's `RaftStorage`: the [`Storage`] the raw
//! and transactional handlers (unchanged) run on over one store's peers,
//! and the routes serving those APIs with region errors moved into each
//! reply's `region_error`.

use super::*;

thread_local! {
    /// The region error of the last storage call on this thread (the
    /// handlers run on the blocking pool, one request per thread at a
    /// time): how a refusal gets from [`RaftStorage`], under the unchanged
    /// handlers, into the reply's `region_error`.
    static REGION_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
}

thread_local! {
    /// The key the raw read on this thread reads first (a get's key, a
    /// scan's start key): [`RaftStorage::reader`] reads through the region
    /// here that holds it, and a scan stops at that region's end.
    static READ_AT: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// Runs a raw read `handler` that reads at `key` first (see [`READ_AT`]).
fn reading_at<T>(key: &[u8], handler: impl FnOnce() -> T) -> T {
    READ_AT.with(|k| *k.borrow_mut() = Some(key.to_vec()));
    let reply = handler();
    READ_AT.with(|k| k.borrow_mut().take());
    reply
}

/// A read view confined to one region's range, as the reference's
/// `RegionReader`: a get of a key outside it is a region error (the store's
/// list of regions may be up to [`REGION_CACHE_FOR`] old, e.g. just after a
/// split) and cursors stay within it, so a read never returns keys of a
/// region whose read this region's `Snap` did not prove.
struct RegionView {
    inner: Box<dyn Snapshot>,
    region: Region,
}

struct RegionCursor<'a> {
    inner: Box<dyn DbIterator + 'a>,
    region: &'a Region,
}

fn holds(region: &Region, key: &[u8]) -> bool {
    region.start_key.as_slice() <= key
        && (region.end_key.is_empty() || key < region.end_key.as_slice())
}

impl Snapshot for RegionView {
    fn get_cf(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, tinykv_storage::Error> {
        if !holds(&self.region, key) {
            return Err(region_error(format!(
                "key {key:?} is not in region {}",
                self.region.id
            )));
        }
        self.inner.get_cf(cf, key)
    }

    fn iter_cf(&self, cf: Cf) -> Result<Box<dyn DbIterator + '_>, tinykv_storage::Error> {
        Ok(Box::new(RegionCursor {
            inner: self.inner.iter_cf(cf)?,
            region: &self.region,
        }))
    }
}

impl DbIterator for RegionCursor<'_> {
    fn seek(&mut self, key: &[u8]) -> Result<(), tinykv_storage::Error> {
        self.inner.seek(key.max(self.region.start_key.as_slice()))
    }

    fn item(&self) -> Option<(&[u8], &[u8])> {
        self.inner.item().filter(|(key, _)| holds(self.region, key))
    }

    fn next(&mut self) -> Result<(), tinykv_storage::Error> {
        self.inner.next()
    }
}

fn region_error(text: String) -> tinykv_storage::Error {
    REGION_ERROR.with(|e| *e.borrow_mut() = Some(text.clone()));
    tinykv_storage::Error::Db(format!("region error: {text}"))
}

/// Runs a handler; the region error its storage calls met, if any.
fn regional<T>(handler: impl FnOnce() -> T) -> (T, Option<String>) {
    REGION_ERROR.with(|e| e.borrow_mut().take());
    let reply = handler();
    (reply, REGION_ERROR.with(|e| e.borrow_mut().take()))
}

/// The reference's `RaftStorage`: the [`Storage`] of one store's peers.
#[derive(Clone)]
pub struct RaftStorage {
    store: Store,
    cluster: Arc<BTreeMap<u64, String>>,
    stats: Arc<Stats>,
    /// The store's regions and its peer in each, as last read (the store's
    /// lock is busy while a Ready is persisted: not taken per command).
    regions: Arc<Mutex<Option<(Instant, Regions)>>>,
}

/// A store's regions and its peer in each.
type Regions = Vec<(Region, Peer)>;

/// How long [`RaftStorage`] routes by a list of regions it read (a region
/// error drops the list at once).
pub const REGION_CACHE_FOR: Duration = Duration::from_secs(1);

impl RaftStorage {
    /// Storage over `store`; `cluster` names the stores' addresses for
    /// leader hints.
    pub fn new(store: Store, cluster: BTreeMap<u64, String>, stats: Arc<Stats>) -> RaftStorage {
        RaftStorage {
            store,
            cluster: Arc::new(cluster),
            stats,
            regions: Arc::default(),
        }
    }

    /// The store's initialised regions and its peer in each.
    fn regions(&self) -> Vec<(Region, Peer)> {
        let mut cache = self.regions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((read, regions)) = &*cache
            && read.elapsed() < REGION_CACHE_FOR
        {
            return regions.clone();
        }
        let regions: Vec<(Region, Peer)> = self
            .store
            .regions()
            .into_iter()
            .filter_map(|r| self.store.peer_of(r.id).map(|p| (r, p)))
            .collect();
        *cache = Some((Instant::now(), regions.clone()));
        regions
    }

    /// The header of a command for `ctx`: its region, or (a client that
    /// does not route: `region_id` 0) the region here holding `key` (the
    /// first region for a read without a key).
    fn header(
        &self,
        ctx: &Context,
        key: Option<&[u8]>,
    ) -> Result<CmdHeader, tinykv_storage::Error> {
        let regions = self.regions();
        let found = if ctx.region_id != 0 {
            regions.iter().find(|(r, _)| r.id == ctx.region_id)
        } else {
            match key {
                Some(k) => regions.iter().find(|(r, _)| holds(r, k)),
                None => regions
                    .iter()
                    .min_by(|a, b| a.0.start_key.cmp(&b.0.start_key)),
            }
        };
        let Some((region, peer)) = found.cloned() else {
            *self.regions.lock().unwrap_or_else(|e| e.into_inner()) = None;
            return Err(region_error(format!(
                "region {} not found on this store",
                ctx.region_id
            )));
        };
        let region_epoch = if ctx.region_id != 0 {
            RegionEpoch {
                conf_ver: ctx.conf_ver,
                version: ctx.version,
            }
        } else {
            region.region_epoch
        };
        Ok(CmdHeader {
            region_id: region.id,
            peer,
            region_epoch,
            term: ctx.term,
        })
    }

    /// Proposes `request` and waits until it applies.
    fn run(&self, request: RaftCmdRequest) -> Result<Answer, tinykv_storage::Error> {
        self.stats.commands.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let proposed = self.store.propose(request, move |answer| {
            let _ = tx.send(answer);
        });
        if !proposed {
            return Err(region_error("the store is stopping".into()));
        }
        let answer = match rx.recv_timeout(APPLY_TIMEOUT) {
            Ok(answer) => answer,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                return Err(region_error(format!(
                    "timeout: the command was not applied within {APPLY_TIMEOUT:?}"
                )));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(region_error(
                    "the command was dropped (peer stopped)".into(),
                ));
            }
        };
        if let Err(e) = &answer.result {
            if matches!(
                e,
                tinykv_raftstore::Error::EpochNotMatch { .. }
                    | tinykv_raftstore::Error::RegionNotFound { .. }
                    | tinykv_raftstore::Error::KeyNotInRegion { .. }
            ) {
                *self.regions.lock().unwrap_or_else(|e| e.into_inner()) = None;
            }
            let text = match e {
                tinykv_raftstore::Error::NotLeader {
                    leader: Some(leader),
                    ..
                } => match self.cluster.get(&leader.store_id) {
                    Some(addr) => not_leader_text(&e.to_string(), leader.store_id, addr),
                    None => e.to_string(),
                },
                _ => e.to_string(),
            };
            return Err(region_error(text));
        }
        Ok(answer)
    }
}

impl Storage for RaftStorage {
    fn write(&self, ctx: &Context, batch: WriteBatch) -> Result<(), tinykv_storage::Error> {
        let mut requests = Vec::with_capacity(batch.len());
        for modify in batch.into_modifies() {
            requests.push(match modify {
                Modify::Put { cf, key, value } => Request::Put { cf, key, value },
                Modify::Delete { cf, key } => Request::Delete { cf, key },
                Modify::DeleteRange { .. } => {
                    return Err(tinykv_storage::Error::Db(
                        "a range delete cannot be proposed to the raftstore".into(),
                    ));
                }
            });
        }
        let Some(first) = requests.first() else {
            return Ok(());
        };
        let header = self.header(ctx, first.key())?;
        self.run(RaftCmdRequest::new(header, requests)).map(|_| ())
    }

    fn reader(&self, ctx: &Context) -> Result<Box<dyn Snapshot>, tinykv_storage::Error> {
        let read_at = READ_AT.with(|k| k.borrow().clone());
        let header = self.header(ctx, read_at.as_deref())?;
        let answer = self.run(RaftCmdRequest::new(header, vec![Request::Snap]))?;
        match (answer.snapshot, answer.result) {
            (Some(view), Ok(responses)) => match responses.first() {
                // A raw read: confined to the region it went through.
                Some(Response::Snap { region }) if read_at.is_some() => Ok(Box::new(RegionView {
                    inner: view,
                    region: region.clone(),
                })),
                Some(Response::Snap { .. }) => Ok(view),
                _ => Err(region_error("the read gave no view".into())),
            },
            _ => Err(region_error("the read gave no view".into())),
        }
    }
}

/// The raw API over the raftstore: every handler on the blocking pool (a
/// read waits for its Snap to apply), region errors moved into
/// `region_error`.
pub(super) fn raw_routes(router: Router, raw: RawServer) -> Router {
    let (get, put, delete, scan) = (raw.clone(), raw.clone(), raw.clone(), raw);
    router
        .handle::<RawGet>(Mode::Blocking, move |req: RawGetRequest| {
            let key = req.key.clone();
            match regional(|| reading_at(&key, || get.raw_get(req))) {
                (_, Some(e)) => tinykv_storage::raw::RawGetResponse {
                    region_error: Some(e),
                    ..Default::default()
                },
                (reply, None) => reply,
            }
        })
        .handle::<RawScan>(Mode::Blocking, move |req: RawScanRequest| {
            let start = req.start_key.clone();
            match regional(|| reading_at(&start, || scan.raw_scan(req))) {
                (_, Some(e)) => tinykv_storage::raw::RawScanResponse {
                    region_error: Some(e),
                    ..Default::default()
                },
                (reply, None) => reply,
            }
        })
        .handle::<RawPut>(Mode::Blocking, move |req: RawPutRequest| {
            match regional(|| put.raw_put(req)) {
                (_, Some(e)) => tinykv_storage::raw::RawPutResponse {
                    region_error: Some(e),
                    ..Default::default()
                },
                (reply, None) => reply,
            }
        })
        .handle::<RawDelete>(
            Mode::Blocking,
            move |req: RawDeleteRequest| match regional(|| delete.raw_delete(req)) {
                (_, Some(e)) => tinykv_storage::raw::RawDeleteResponse {
                    region_error: Some(e),
                    ..Default::default()
                },
                (reply, None) => reply,
            },
        )
}

/// The transactional API over the raftstore, as [`raw_routes`].
pub(super) fn txn_routes(router: Router, txn: TxnServer) -> Router {
    macro_rules! route {
        ($router:expr, $($rpc:ident => $method:ident),* $(,)?) => {{
            let router = $router;
            $(
                let server = txn.clone();
                let router = router.handle::<$rpc>(Mode::Blocking, move |req| {
                    match regional(|| server.$method(req)) {
                        (_, Some(e)) => with_region_error(e),
                        (reply, None) => reply.map_err(|e| e.to_string()),
                    }
                });
            )*
            router
        }};
    }
    route!(router,
        KvGet => kv_get,
        KvScan => kv_scan,
        KvPrewrite => kv_prewrite,
        KvCommit => kv_commit,
        KvCheckTxnStatus => kv_check_txn_status,
        KvBatchRollback => kv_batch_rollback,
        KvResolveLock => kv_resolve_lock,
    )
}

/// A transactional reply's `region_error` field.
trait RegionErrorField {
    fn region_error(&mut self) -> &mut Option<String>;
}

macro_rules! region_error_field {
    ($($t:ident),*) => {$(
        impl RegionErrorField for tinykv_txn::proto::$t {
            fn region_error(&mut self) -> &mut Option<String> {
                &mut self.region_error
            }
        }
    )*};
}

region_error_field!(
    GetResponse,
    ScanResponse,
    PrewriteResponse,
    CommitResponse,
    CheckTxnStatusResponse,
    BatchRollbackResponse,
    ResolveLockResponse
);

/// A reply that only carries region error `text`.
fn with_region_error<T: Default + RegionErrorField>(text: String) -> Result<T, String> {
    let mut reply = T::default();
    *reply.region_error() = Some(text);
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Raw reads go through the region holding their key. Store 1 holds
    /// `[, m)` alone (it elects itself) and `[m, )` with a peer on a store 2
    /// that does not exist (no leader, ever). A get of `z` must be refused
    /// — not read from the engine through `[, m)`'s `Snap`, which proves
    /// nothing about `[m, )` (a store may lead one region and lag in
    /// another) — and a scan through `[, m)` stops at `m`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn raw_reads_go_through_the_region_holding_their_key() {
        use tinykv_storage::raw::RawGetResponse;
        let raft: Arc<dyn Engine> = Arc::new(MemEngine::new());
        let kv: Arc<dyn Engine> = Arc::new(MemEngine::new());
        let epoch = RegionEpoch {
            conf_ver: 1,
            version: 1,
        };
        let low = Region {
            id: 1,
            start_key: Vec::new(),
            end_key: b"m".to_vec(),
            region_epoch: epoch,
            peers: vec![Peer { id: 1, store_id: 1 }],
        };
        let high = Region {
            id: 2,
            start_key: b"m".to_vec(),
            end_key: Vec::new(),
            region_epoch: epoch,
            peers: vec![
                Peer {
                    id: 11,
                    store_id: 1,
                },
                Peer {
                    id: 12,
                    store_id: 2,
                },
            ],
        };
        bootstrap_region(raft.as_ref(), kv.as_ref(), &low).unwrap();
        bootstrap_region(raft.as_ref(), kv.as_ref(), &high).unwrap();
        // A value of [m, ) that only a leader of region 2 may serve.
        let mut batch = WriteBatch::new();
        batch.put(Cf::Default, b"z".to_vec(), b"unproved".to_vec());
        kv.write(&batch, WriteOptions::SYNC).unwrap();
        let store =
            Store::start(1, raft, kv, BTreeMap::new(), PeerConfig::default(), None).unwrap();
        let cluster = BTreeMap::from([(1, "127.0.0.1:1".to_string())]);
        let storage = Arc::new(RaftStorage::new(store.clone(), cluster, Arc::default()));
        let router = raw_routes(Router::new(), RawServer::new(storage));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(crate::serve(listener, router));
        let conn = Connection::connect(&addr).await.unwrap();
        let get = |key: &[u8]| RawGetRequest {
            key: key.to_vec(),
            cf: "default".into(),
            ..Default::default()
        };

        let put = RawPutRequest {
            key: b"a".to_vec(),
            value: b"1".to_vec(),
            cf: "default".into(),
            ..Default::default()
        };
        let give_up = Instant::now() + Duration::from_secs(10);
        loop {
            let reply = conn.call::<RawPut>(&put).await.unwrap();
            if reply.region_error.is_none() && reply.error.is_empty() {
                break;
            }
            assert!(
                Instant::now() < give_up,
                "region 1 took no write: {reply:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let reply = conn.call::<RawGet>(&get(b"a")).await.unwrap();
        assert_eq!(
            (reply.region_error, reply.value),
            (None, b"1".to_vec()),
            "a get through region 1"
        );
        let reply: RawGetResponse = conn.call::<RawGet>(&get(b"z")).await.unwrap();
        assert!(
            reply.region_error.is_some(),
            "a get of z was served without region 2's leader: {reply:?}"
        );
        let scan = RawScanRequest {
            start_key: Vec::new(),
            limit: 10,
            cf: "default".into(),
            ..Default::default()
        };
        let reply = conn.call::<RawScan>(&scan).await.unwrap();
        assert_eq!(reply.region_error, None);
        let keys: Vec<&[u8]> = reply.kvs.iter().map(|p| p.key.as_slice()).collect();
        assert_eq!(keys, [b"a".as_slice()], "a scan through region 1");
        server.abort();
        store.kill();
    }

    /// A region's view refuses a get outside the region (a region error)
    /// and scans only the region's keys, from wherever the scan starts.
    #[test]
    fn a_region_view_keeps_to_its_region() {
        let engine = MemEngine::new();
        let mut batch = WriteBatch::new();
        for key in ["a", "f", "m", "z"] {
            batch.put(Cf::Default, key.as_bytes().to_vec(), b"v".to_vec());
        }
        engine.write(&batch, WriteOptions::SYNC).unwrap();
        let view = RegionView {
            inner: engine.snapshot().unwrap(),
            region: Region {
                id: 7,
                start_key: b"c".to_vec(),
                end_key: b"n".to_vec(),
                ..Region::default()
            },
        };
        let (refused, error) = regional(|| view.get_cf(Cf::Default, b"z").is_err());
        assert!(refused);
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("not in region 7")),
            "{error:?}"
        );
        assert_eq!(view.get_cf(Cf::Default, b"f").unwrap(), Some(b"v".to_vec()));
        let keys: Vec<Vec<u8>> = view
            .scan_cf(Cf::Default, b"", 10)
            .unwrap()
            .into_iter()
            .map(|p| p.key)
            .collect();
        assert_eq!(keys, [b"f".to_vec(), b"m".to_vec()]);
    }

    #[test]
    fn region_errors_reach_the_caller_once() {
        let (reply, error) = regional(|| {
            let _ = region_error("not leader".into());
            7
        });
        assert_eq!((reply, error.as_deref()), (7, Some("not leader")));
        assert_eq!(regional(|| 8), (8, None));
    }
}
