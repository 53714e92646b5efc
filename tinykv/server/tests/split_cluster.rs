//! A real cluster splits: three stores with small regions
//! (`--region-max-size`), a scheduler handing out the new regions' ids.
//! Every region and peer id the scheduler lists is unique (the stores
//! bootstrapped region 1 with ids of their own, which the scheduler must
//! not hand out again), the regions tile the key space, and every key
//! written reads back through the region now holding it. After the
//! scheduler is killed and restarted on its data directory, new splits
//! take ids above everything it had reserved.

mod common;

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;
use std::time::{Duration, Instant};

use tinykv_scheduler::reserve::ReservationFile;
use tinykv_scheduler::{RegionInfo, net};
use tinykv_server::ClusterClient;
use tinykv_server::cluster::{Cluster, SchedulerKind, Spec};
use tinykv_storage::raw::{RawGetRequest, RawPutRequest};
use tinykv_storage::service::{RawGet, RawPut};

const VALUE: usize = 512;
/// Regions of at most 32 KiB, cut at 16 KiB.
const SMALL_REGIONS: [&str; 4] = ["--region-max-size", "32768", "--region-split-size", "16384"];

fn key(i: usize) -> Vec<u8> {
    format!("key-{i:05}").into_bytes()
}

fn value(i: usize) -> Vec<u8> {
    let mut v = format!("value-{i}-").into_bytes();
    v.resize(VALUE, b'.');
    v
}

async fn put_all(endpoints: &[String], keys: Range<usize>) {
    let client = ClusterClient::new(endpoints, 0).unwrap();
    for i in keys {
        let put = RawPutRequest {
            key: key(i),
            value: value(i),
            cf: "default".into(),
            ..Default::default()
        };
        let reply = client.call::<RawPut>(&put).await.unwrap();
        assert!(reply.error.is_empty(), "put {i}: {reply:?}");
    }
}

async fn read_all(endpoints: &[String], keys: Range<usize>) {
    let client = ClusterClient::new(endpoints, 0).unwrap();
    for i in keys {
        let get = RawGetRequest {
            key: key(i),
            cf: "default".into(),
            ..Default::default()
        };
        let reply = client.call::<RawGet>(&get).await.unwrap();
        assert!(reply.error.is_empty(), "get {i}: {reply:?}");
        assert_eq!(reply.value, value(i), "key {i}");
    }
}

/// Waits (up to 30 s) until the scheduler lists at least `n` regions
/// tiling the key space, and returns them.
async fn regions_at_least(scheduler: &str, n: usize) -> Vec<RegionInfo> {
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        // The scheduler may be restarting: a failed call is retried.
        let listed = match net::connect(scheduler).await {
            Ok(c) => c
                .list_regions(net::context())
                .await
                .ok()
                .and_then(Result::ok),
            Err(_) => None,
        };
        let regions = listed.unwrap_or_default();
        if regions.len() >= n && tiles_the_key_space(&regions) {
            return regions;
        }
        assert!(
            Instant::now() < give_up,
            "fewer than {n} regions tiling the key space after 30 s: {regions:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sorted by start key, each region ends where the next begins, from the
/// first key to the last.
fn tiles_the_key_space(regions: &[RegionInfo]) -> bool {
    let mut ranges: Vec<(&[u8], &[u8])> = regions
        .iter()
        .map(|r| (r.meta.start_key.as_slice(), r.meta.end_key.as_slice()))
        .collect();
    ranges.sort();
    ranges.first().is_some_and(|r| r.0.is_empty())
        && ranges.last().is_some_and(|r| r.1.is_empty())
        && ranges.windows(2).all(|w| w[0].1 == w[1].0)
}

/// Region 1 and its peers 1, 2, 3 (on stores 1, 2, 3) are the stores' own;
/// every other id is the scheduler's: above them and handed out once.
/// Returns the scheduler's ids.
fn check_ids(regions: &[RegionInfo]) -> BTreeSet<u64> {
    eprintln!(
        "{} regions: {:?}",
        regions.len(),
        regions.iter().map(|r| r.meta.id).collect::<Vec<_>>()
    );
    assert!(
        regions.iter().any(|r| r.meta.id == 1),
        "region 1 is gone: {regions:#?}"
    );
    let mut ids = BTreeSet::new();
    for r in regions {
        assert_eq!(r.meta.peers.len(), 3, "{regions:#?}");
        if r.meta.id == 1 {
            assert!(
                r.meta.peers.iter().all(|p| p.id == p.store_id),
                "{regions:#?}"
            );
            continue;
        }
        for id in std::iter::once(r.meta.id).chain(r.meta.peers.iter().map(|p| p.id)) {
            assert!(id > 3, "id {id} is a bootstrap id: {regions:#?}");
            assert!(ids.insert(id), "id {id} twice: {regions:#?}");
        }
    }
    ids
}

#[test]
fn a_real_cluster_splits_with_fresh_ids_and_serves_every_key() {
    let dir = tempfile::tempdir().unwrap();
    // About 130 KB of keys and values.
    let cluster = common::proxied_cluster_with(dir.path(), &SMALL_REGIONS);
    let endpoints = cluster.endpoints();
    let scheduler = cluster.scheduler_addr().unwrap().to_string();
    let rt = common::runtime();
    rt.block_on(async {
        put_all(&endpoints, 0..240).await;
        check_ids(&regions_at_least(&scheduler, 3).await);
        read_all(&endpoints, 0..240).await;
    });
}

/// The ids below which the scheduler's reservation file says everything
/// handed out lies.
fn reserved_ids(data: &Path) -> u64 {
    ReservationFile::open(&data.join("scheduler"))
        .unwrap()
        .current()
        .ids_below
}

#[test]
fn after_a_scheduler_restart_splits_take_ids_above_its_reservation() {
    let bin_dir = Path::new(common::SERVER).parent().unwrap().to_path_buf();
    if !bin_dir.join("tinykv-scheduler").is_file() {
        // Its binary belongs to another crate: `cargo test --workspace`
        // (CI) builds it; a run of this crate alone may not.
        eprintln!("skipped: no tinykv-scheduler in {}", bin_dir.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(Spec {
        stores: 3,
        bin_dir,
        data_dir: dir.path().to_path_buf(),
        base_port: None,
        scheduler: SchedulerKind::Process,
        proxies: false,
        store_args: SMALL_REGIONS.map(String::from).to_vec(),
    })
    .unwrap_or_else(|e| panic!("cannot start the cluster: {e}"));
    let endpoints = cluster.endpoints();
    let scheduler = cluster.scheduler_addr().unwrap().to_string();
    let rt = common::runtime();
    let before = rt.block_on(async {
        put_all(&endpoints, 0..120).await;
        regions_at_least(&scheduler, 2).await
    });
    let ids_before = check_ids(&before);
    let reserved = reserved_ids(dir.path());
    assert!(ids_before.iter().all(|&id| id < reserved));

    cluster.kill9_scheduler().unwrap();
    cluster.restart_scheduler().unwrap();
    let after = rt.block_on(async {
        put_all(&endpoints, 120..360).await;
        let after = regions_at_least(&scheduler, before.len() + 2).await;
        read_all(&endpoints, 0..360).await;
        after
    });
    let ids_after = check_ids(&after);
    // Ids handed out before the kill may show up only now (a split under
    // way); the restarted scheduler's own start at the reservation.
    let new: Vec<u64> = ids_after.difference(&ids_before).copied().collect();
    assert!(
        new.iter().any(|&id| id >= reserved),
        "no id at or above {reserved} (reserved before the restart) among the new ones: {new:?}"
    );
}
