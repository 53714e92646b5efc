//! The balance-region scheduler: moves one replica from a store with much
//! data to a store with little.
//!
//! 1. Suitable stores: state Up and silent for at most
//!    `max_store_down_time`; sorted by region size, largest first.
//! 2. For each in turn as the source, pick a random region with a
//!    **pending** peer there (moving it costs least: it is behind anyway),
//!    else with a **follower** there, else one it **leads**. Skip regions
//!    whose replica count is not `max_replicas` (the replica checker's job).
//! 3. Target: the suitable store with the smallest region size that holds
//!    no replica of the region.
//! 4. Move only if `source.region_size − target.region_size >
//!    2 × region.approximate_size`: otherwise the move would just make the
//!    target the new largest and the region would bounce back.
//! 5. Allocate the new peer's id and return the move operator
//!    (see [`crate::operator::create_move_peer_operator`]).

use rand::Rng;

use crate::cluster::Cluster;
use crate::operator::{OpKind, Operator, create_move_peer_operator};
use crate::region::RegionInfo;
use crate::store::StoreInfo;

/// Random picks per source store before giving up on it.
pub const RETRY_LIMIT: usize = 10;

/// One round: the move operator to run, or none if nothing qualifies.
pub fn balance_region(
    cluster: &mut Cluster,
    now_ms: u64,
    rng: &mut (impl Rng + ?Sized),
) -> Option<Operator> {
    // SOLUTION BEGIN p3c: choose suitable stores by region size; from the largest, pick a pending, else follower, else leader region with max_replicas peers; move it to the smallest store without it if the gap exceeds twice its size
    let mut suitable: Vec<StoreInfo> = cluster
        .stores()
        .filter(|s| s.is_up() && s.down_time_ms(now_ms) <= cluster.config.max_store_down_time_ms)
        .cloned()
        .collect();
    // Stable: equal sizes keep id order, so a seed replays exactly.
    suitable.sort_by_key(|s| std::cmp::Reverse(s.region_size));
    for source in &suitable {
        for _ in 0..RETRY_LIMIT {
            let Some(region) = pick_region(cluster, source.id(), rng) else {
                break; // nothing on this store
            };
            if region.meta.peers.len() != cluster.config.max_replicas {
                continue;
            }
            let held = region.store_ids();
            let Some(target) = suitable.iter().rev().find(|s| !held.contains(&s.id())) else {
                continue;
            };
            let gap = source.region_size.saturating_sub(target.region_size);
            if source.region_size < target.region_size || gap <= 2 * region.approximate_size {
                continue;
            }
            let peer_id = cluster.alloc_id().ok()?;
            return create_move_peer_operator(
                "balance-region",
                &region,
                OpKind::BALANCE,
                source.id(),
                target.id(),
                peer_id,
                now_ms,
            )
            .ok();
        }
    }
    None
    // SOLUTION END
}

/// A random region with a pending peer on `store_id`, else with a follower
/// there, else one it leads.
pub fn pick_region(
    cluster: &Cluster,
    store_id: u64,
    rng: &mut (impl Rng + ?Sized),
) -> Option<RegionInfo> {
    let regions = cluster.regions();
    regions
        .random_pending_region(store_id, rng)
        .or_else(|| regions.random_follower_region(store_id, rng))
        .or_else(|| regions.random_leader_region(store_id, rng))
        .cloned()
}
