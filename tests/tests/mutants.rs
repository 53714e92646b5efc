//! Mutation tests: each check of the tester is proven by a broken variant
//! of a service that it catches. Each mutant is a test-only misbehaviour
//! compiled in with the lab crates' `mutants` feature and switched on per
//! simulation ([`labrpc::sim::enable_mutant`]); a real scenario then runs
//! with it over [`SEEDS`] seeds and must fail on at least [`MUST_CATCH`].
//!
//! `cargo test --release -p tests --features mutants --test mutants -- --nocapture`
//! (the feature keeps every mutant out of normal builds, the student's
//! and the grader's included); each test prints `caught k/n`.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};

use labrpc::sim::{self, Sim};
use tests::kvraft::Generic;

/// Seeds each mutant runs on.
const SEEDS: u64 = 10;
/// Seeds out of [`SEEDS`] on which the tester must catch a mutant.
const MUST_CATCH: usize = 9;

/// Runs `scenario` with `mutant` on for seeds 1..=SEEDS; returns the
/// failure message of each seed that failed (`None`: it passed).
fn run_mutant<F, Fut>(mutant: &'static str, scenario: F) -> Vec<Option<String>>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    (1..=SEEDS)
        .map(|seed| {
            let scenario = scenario.clone();
            let run = panic::catch_unwind(AssertUnwindSafe(|| {
                Sim::new().seed(seed).run(move || async move {
                    sim::enable_mutant(mutant);
                    scenario().await;
                })
            }));
            run.err().map(|payload| {
                payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            })
        })
        .collect()
}

/// Asserts that at least [`MUST_CATCH`] seeds failed, and (if `verdict` is
/// given) that each caught seed failed with that message, i.e. by the
/// checker's judgement.
fn assert_caught(mutant: &str, scenario: &str, results: &[Option<String>], verdict: Option<&str>) {
    let caught: Vec<&String> = results.iter().flatten().collect();
    let by_verdict = verdict.map_or(caught.len(), |v| {
        caught.iter().filter(|m| m.contains(v)).count()
    });
    println!(
        "mutant {mutant}: caught {}/{} seeds by {scenario}{}",
        caught.len(),
        results.len(),
        verdict.map_or(String::new(), |v| format!(
            " ({by_verdict} of them with {v:?})"
        ))
    );
    for (seed, r) in results.iter().enumerate() {
        if let Some(msg) = r {
            println!("  seed {}: {}", seed + 1, msg.lines().next().unwrap_or(""));
        }
    }
    assert!(
        by_verdict >= MUST_CATCH,
        "mutant {mutant} was caught on only {by_verdict} of {} seeds (need {MUST_CATCH})",
        results.len()
    );
}

/// kvsrv without a duplicate table: retried Appends (after a lost reply)
/// apply twice, and the unreliable scenario sees it. (No kvsrv scenario
/// leaves the judgement to the checker alone: the per-clerk append checks
/// run first and catch it.)
#[test]
fn kvsrv_forgetting_duplicates_is_caught() {
    let mutant = kvsrv::MUTANT_FORGETS_DUPLICATES;
    let results = run_mutant(mutant, || tests::kvsrv::generic_test(5, true, false));
    assert_caught(mutant, "unreliable_2", &results, None);
}

/// A kvraft leader that answers Get from its own state, not through the
/// log: a deposed leader in a minority serves stale reads, which only the
/// linearizability check of this scenario judges.
#[test]
fn kvraft_local_get_is_caught_by_the_checker() {
    let mutant = kvraft::MUTANT_LOCAL_GET;
    let results = run_mutant(mutant, || async {
        Generic::new("4A", 15, 7)
            .unreliable()
            .crash()
            .partitions()
            .random_keys()
            .run()
            .await;
    });
    assert_caught(
        mutant,
        "persist_partition_unreliable_linearizable_4a",
        &results,
        Some("history is not linearizable"),
    );
}

/// A shardkv group that keeps serving a shard it has handed over: clerks
/// with an old configuration read and write its stale copy.
#[test]
fn shardkv_serving_an_unowned_shard_is_caught_by_the_checker() {
    let mutant = shardkv::MUTANT_SERVE_UNOWNED;
    let results = run_mutant(mutant, tests::shardkv::unreliable3);
    assert_caught(
        mutant,
        "unreliable3_5b",
        &results,
        Some("history is not linearizable"),
    );
}

/// A Raft peer that snapshots lazily, keeping up to ~150 integer entries:
/// under the reference's gob-sized 2,000 bytes, over the 100 entries that
/// bound meant. The re-derived 3D bound (`tests::raft::bounds`) catches it;
/// the companion test shows the reference's number carried over would not.
#[test]
fn raft_lazy_compaction_is_caught_by_the_3d_log_bound() {
    let mutant = raft::MUTANT_LAZY_COMPACTION;
    let results = run_mutant(mutant, || {
        tests::raft::snap_common("Test (3D): snapshots basic", false, true, false)
    });
    assert_caught(
        mutant,
        "snapshot_basic_3d",
        &results,
        Some("Log size too large"),
    );
}

/// The same mutant passes the reference's 2,000 bytes carried over
/// unchanged — why the bound had to be re-derived.
#[test]
fn raft_lazy_compaction_passes_the_gob_sized_bound() {
    let mutant = raft::MUTANT_LAZY_COMPACTION;
    let results = run_mutant(mutant, || {
        tests::raft::snap_common_limited(
            "Test (3D): snapshots basic",
            false,
            true,
            false,
            tests::raft::bounds::REFERENCE_MAX_LOG_SIZE,
        )
    });
    let caught = results.iter().flatten().count();
    println!(
        "mutant {mutant}: caught {caught}/{} seeds with the gob-sized 2,000-byte bound",
        results.len()
    );
    assert_eq!(caught, 0, "the mutant was meant to slip under 2,000 bytes");
}

/// A Raft leader that sends every AppendEntries carrying entries twice:
/// each command crosses the network four times instead of twice.
#[test]
fn raft_duplicate_append_is_caught_by_rpc_bytes() {
    let mutant = raft::MUTANT_DUPLICATE_APPEND;
    let results = run_mutant(mutant, tests::raft::rpc_bytes);
    assert_caught(mutant, "rpc_bytes_3b", &results, Some("too many RPC bytes"));
}

/// A kvraft duplicate table that remembers every write: the snapshot grows
/// with the number of operations.
#[test]
fn kvraft_dedup_history_is_caught_by_the_snapshot_bound() {
    let mutant = kvraft::MUTANT_DEDUP_HISTORY;
    let results = run_mutant(mutant, || {
        tests::kvraft::snapshot_size(tests::kvraft::MAX_RAFT_STATE)
    });
    assert_caught(
        mutant,
        "snapshot_size_4b",
        &results,
        Some("snapshot too large"),
    );
}

/// A shardkv group that keeps the data of the shards it deleted.
#[test]
fn shardkv_keeping_deleted_shards_is_caught_by_challenge1() {
    let mutant = shardkv::MUTANT_KEEPS_DELETED_SHARDS;
    let results = run_mutant(mutant, tests::shardkv::challenge1_delete);
    assert_caught(
        mutant,
        "challenge1_delete",
        &results,
        Some("persisted Raft state are too big"),
    );
}
