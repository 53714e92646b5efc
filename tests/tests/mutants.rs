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
