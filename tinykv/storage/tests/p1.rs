//! The ten Project 1 tests (reference `kv/server/server_test.go`), one for
//! one, each against both engines: `mem::raw_get_p1`, `disk::raw_get_p1`, …
//! (`cargo test p1` selects them).
//!
//! As in the reference, `set`/`get`/`iter` go straight to the storage and
//! the Raw* calls go to the server — here over the simulated network, in
//! virtual time, so each test also proves the service is reachable over
//! labrpc and replays from its seed. The reference shares one fixed data
//! directory between tests; each of ours gets a fresh temporary one.

use std::sync::Arc;

use labrpc::{ClientEnd, Network, Server, sim};
use tinykv_storage::raw::{RawDeleteRequest, RawGetRequest, RawPutRequest, RawScanRequest};
use tinykv_storage::service::{RawDelete, RawGet, RawPut, RawScan};
use tinykv_storage::{
    Cf, Context, DiskEngine, Engine, KvPair, MemEngine, RawServer, StandaloneStorage, Storage,
    WriteBatch,
};

/// One server over a fresh engine, and a client end connected to it.
struct Setup {
    storage: StandaloneStorage,
    end: ClientEnd,
    _net: Network,
    _dir: Option<tempfile::TempDir>,
}

impl Setup {
    fn new(disk: bool) -> Setup {
        let (engine, dir): (Arc<dyn Engine>, _) = if disk {
            let dir = tempfile::tempdir().unwrap();
            (Arc::new(DiskEngine::open(dir.path()).unwrap()), Some(dir))
        } else {
            (Arc::new(MemEngine::new()), None)
        };
        let storage = StandaloneStorage::new(engine);
        let net = Network::new();
        let server = Server::new();
        server.add_service(RawServer::new(Arc::new(storage.clone())).service());
        net.add_server("tinykv", server);
        let end = net.make_end("client");
        net.connect("client", "tinykv");
        net.enable("client", true);
        Setup {
            storage,
            end,
            _net: net,
            _dir: dir,
        }
    }

    fn set(&self, cf: Cf, key: &[u8], value: &[u8]) {
        let mut batch = WriteBatch::new();
        batch.put(cf, key, value);
        self.storage.write(&Context::default(), batch).unwrap();
    }

    fn get(&self, cf: Cf, key: &[u8]) -> Option<Vec<u8>> {
        self.storage
            .reader(&Context::default())
            .unwrap()
            .get_cf(cf, key)
            .unwrap()
    }

    async fn raw_get(&self, cf: &str, key: &[u8]) -> (Vec<u8>, bool) {
        let req = RawGetRequest {
            key: key.to_vec(),
            cf: cf.into(),
            ..Default::default()
        };
        let resp = self.end.call::<RawGet>(&req).await.unwrap();
        assert_eq!(resp.error, "");
        assert_eq!(resp.region_error, None);
        (resp.value, resp.not_found)
    }

    async fn raw_put(&self, cf: &str, key: &[u8], value: &[u8]) -> String {
        let req = RawPutRequest {
            key: key.to_vec(),
            value: value.to_vec(),
            cf: cf.into(),
            ..Default::default()
        };
        self.end.call::<RawPut>(&req).await.unwrap().error
    }

    async fn raw_delete(&self, cf: &str, key: &[u8]) {
        let req = RawDeleteRequest {
            key: key.to_vec(),
            cf: cf.into(),
            ..Default::default()
        };
        assert_eq!(self.end.call::<RawDelete>(&req).await.unwrap().error, "");
    }

    async fn raw_scan(&self, cf: &str, start: &[u8], limit: u32) -> Vec<KvPair> {
        let req = RawScanRequest {
            start_key: start.to_vec(),
            limit,
            cf: cf.into(),
            ..Default::default()
        };
        let resp = self.end.call::<RawScan>(&req).await.unwrap();
        assert_eq!(resp.error, "");
        resp.kvs
    }
}

fn pair(key: u8) -> KvPair {
    KvPair {
        key: vec![key],
        value: vec![233, key],
    }
}

/// Keys 1..=n in default with values [233, k].
fn set_keys(s: &Setup, n: u8) {
    for k in 1..=n {
        s.set(Cf::Default, &[k], &[233, k]);
    }
}

async fn raw_get(s: Setup) {
    s.set(Cf::Default, &[99], &[42]);
    assert_eq!(s.raw_get("default", &[99]).await, (vec![42], false));
}

async fn raw_get_not_found(s: Setup) {
    assert_eq!(s.raw_get("default", &[99]).await, (vec![], true));
}

async fn raw_put(s: Setup) {
    // The reference ignores RawPut's error here; a non-empty one would make
    // the storage check below fail anyway.
    let _ = s.raw_put("default", &[99], &[42]).await;
    assert_eq!(s.get(Cf::Default, &[99]), Some(vec![42]));
}

async fn raw_get_after_raw_put(s: Setup) {
    assert_eq!(s.raw_put("default", &[99], &[42]).await, "");
    assert_eq!(s.raw_put("write", &[99], &[44]).await, "");
    assert_eq!(s.raw_get("default", &[99]).await, (vec![42], false));
    assert_eq!(s.raw_get("write", &[99]).await, (vec![44], false));
}

async fn raw_get_after_raw_delete(s: Setup) {
    s.set(Cf::Default, &[99], &[42]);
    s.raw_delete("default", &[99]).await;
    assert_eq!(s.raw_get("default", &[99]).await, (vec![], true));
}

async fn raw_delete(s: Setup) {
    s.set(Cf::Default, &[99], &[42]);
    s.raw_delete("default", &[99]).await;
    assert_eq!(s.get(Cf::Default, &[99]), None);
}

async fn raw_scan(s: Setup) {
    set_keys(&s, 5);
    assert_eq!(
        s.raw_scan("default", &[1], 3).await,
        vec![pair(1), pair(2), pair(3)]
    );
}

async fn raw_scan_after_raw_put(s: Setup) {
    set_keys(&s, 4);
    assert_eq!(s.raw_put("default", &[5], &[233, 5]).await, "");
    let want: Vec<KvPair> = (1..=5).map(pair).collect();
    assert_eq!(s.raw_scan("default", &[1], 10).await, want);
}

async fn raw_scan_after_raw_delete(s: Setup) {
    set_keys(&s, 4);
    s.raw_delete("default", &[3]).await;
    assert_eq!(
        s.raw_scan("default", &[1], 10).await,
        vec![pair(1), pair(2), pair(4)]
    );
}

async fn iter_with_raw_delete(s: Setup) {
    set_keys(&s, 4);
    let reader = s.storage.reader(&Context::default()).unwrap();
    let mut it = reader.iter_cf(Cf::Default).unwrap();
    s.raw_delete("default", &[3]).await;
    it.seek(&[1]).unwrap();
    for k in 1..=4u8 {
        assert_eq!(it.item(), Some((&[k][..], &[233, k][..])), "key {k}");
        it.next().unwrap();
    }
    assert!(!it.valid());
}

macro_rules! p1 {
    ($engine:ident, $disk:literal: $($name:ident => $test:ident),* $(,)?) => {
        mod $engine {
            $(#[test] fn $name() { labrpc::sim::run(|| super::$test(super::Setup::new($disk))) })*
        }
    };
}

p1!(mem, false:
    raw_get_p1 => raw_get,
    raw_get_not_found_p1 => raw_get_not_found,
    raw_put_p1 => raw_put,
    raw_get_after_raw_put_p1 => raw_get_after_raw_put,
    raw_get_after_raw_delete_p1 => raw_get_after_raw_delete,
    raw_delete_p1 => raw_delete,
    raw_scan_p1 => raw_scan,
    raw_scan_after_raw_put_p1 => raw_scan_after_raw_put,
    raw_scan_after_raw_delete_p1 => raw_scan_after_raw_delete,
    iter_with_raw_delete_p1 => iter_with_raw_delete,
);
p1!(disk, true:
    raw_get_p1 => raw_get,
    raw_get_not_found_p1 => raw_get_not_found,
    raw_put_p1 => raw_put,
    raw_get_after_raw_put_p1 => raw_get_after_raw_put,
    raw_get_after_raw_delete_p1 => raw_get_after_raw_delete,
    raw_delete_p1 => raw_delete,
    raw_scan_p1 => raw_scan,
    raw_scan_after_raw_put_p1 => raw_scan_after_raw_put,
    raw_scan_after_raw_delete_p1 => raw_scan_after_raw_delete,
    iter_with_raw_delete_p1 => iter_with_raw_delete,
);

/// The same test over the simulated network replays to the same digest.
#[test]
fn service_replays_identically_p1() {
    let run = || {
        sim::Sim::new().seed(7).run(|| async {
            let s = Setup::new(true);
            set_keys(&s, 4);
            s.raw_delete("lock", &[2]).await;
            let _ = s.raw_scan("default", &[], 10).await;
            sim::digest()
        })
    };
    assert_eq!(run(), run());
}
