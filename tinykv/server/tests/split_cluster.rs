//! A real cluster splits: three stores with small regions
//! (`--region-max-size`), a scheduler handing out the new regions' ids.
//! Every region and peer id the scheduler lists is unique (the stores
//! bootstrapped region 1 with ids of their own, which the scheduler must
//! not hand out again), the regions tile the key space, and every key
//! written reads back through the region now holding it.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tinykv_scheduler::{RegionInfo, net};
use tinykv_server::ClusterClient;
use tinykv_storage::raw::{RawGetRequest, RawPutRequest};
use tinykv_storage::service::{RawGet, RawPut};

const KEYS: usize = 240;
const VALUE: usize = 512;

fn key(i: usize) -> Vec<u8> {
    format!("key-{i:05}").into_bytes()
}

fn value(i: usize) -> Vec<u8> {
    let mut v = format!("value-{i}-").into_bytes();
    v.resize(VALUE, b'.');
    v
}

#[test]
fn a_real_cluster_splits_with_fresh_ids_and_serves_every_key() {
    let dir = tempfile::tempdir().unwrap();
    // About 130 KB of keys and values against regions of at most 32 KB.
    let cluster = common::proxied_cluster_with(
        dir.path(),
        &["--region-max-size", "32768", "--region-split-size", "16384"],
    );
    let endpoints = cluster.endpoints();
    let scheduler = cluster.scheduler_addr().unwrap().to_string();
    let rt = common::runtime();
    rt.block_on(async {
        let client = ClusterClient::new(&endpoints, 0).unwrap();
        for i in 0..KEYS {
            let put = RawPutRequest {
                key: key(i),
                value: value(i),
                cf: "default".into(),
                ..Default::default()
            };
            let reply = client.call::<RawPut>(&put).await.unwrap();
            assert!(reply.error.is_empty(), "put {i}: {reply:?}");
        }

        let sched = net::connect(&scheduler).await.unwrap();
        let give_up = Instant::now() + Duration::from_secs(30);
        let regions: Vec<RegionInfo> = loop {
            let regions = sched.list_regions(net::context()).await.unwrap().unwrap();
            if regions.len() >= 3 && tiles_the_key_space(&regions) {
                break regions;
            }
            assert!(
                Instant::now() < give_up,
                "fewer than 3 regions tiling the key space after 30 s: {regions:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };

        eprintln!(
            "{} regions: {:?}",
            regions.len(),
            regions.iter().map(|r| r.meta.id).collect::<Vec<_>>()
        );
        // Region 1 and its peers 1, 2, 3 (on stores 1, 2, 3) are the
        // stores' own; every other id is the scheduler's, above them and
        // handed out once.
        let mut ids = BTreeSet::new();
        for r in &regions {
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
        assert!(
            regions.iter().any(|r| r.meta.id == 1),
            "region 1 is gone: {regions:#?}"
        );

        for i in 0..KEYS {
            let get = RawGetRequest {
                key: key(i),
                cf: "default".into(),
                ..Default::default()
            };
            let reply = client.call::<RawGet>(&get).await.unwrap();
            assert!(reply.error.is_empty(), "get {i}: {reply:?}");
            assert_eq!(reply.value, value(i), "key {i}");
        }
    });
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
