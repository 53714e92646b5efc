//! Partitions are checked independently and agree with checking the whole;
//! the checker agrees with brute force; the step budget is deterministic and
//! never produces a false `Illegal`.

mod common;

use common::{
    KvMapModel, Shape, append, brute_force, get, hard_illegal, linearizable_kv, put, random_small,
};
use linearizability::{
    CheckOptions, CheckResult, Error, KvInput, KvModel, KvOperation, KvOutput, Model, Operation,
    check_operations, check_operations_budget, check_operations_verbose,
};
use rand::SeedableRng;
use rand::rngs::SmallRng;

#[test]
fn one_illegal_key_makes_the_history_illegal_and_only_that_key() {
    let h = vec![
        put(0, "a", "1", 0, 10),
        get(1, "a", "1", 20, 30),
        put(0, "b", "1", 0, 10),
        put(1, "b", "2", 20, 30),
        get(2, "b", "1", 40, 50), // stale
        append(3, "c", "z", 0, 5),
    ];
    let (result, info) = check_operations_verbose(&KvModel, &h, CheckOptions::default()).unwrap();
    assert_eq!(result, CheckResult::Illegal);
    let results: Vec<_> = info.partitions().iter().map(|p| p.result()).collect();
    assert_eq!(
        results,
        [CheckResult::Ok, CheckResult::Illegal, CheckResult::Ok]
    );
    assert_eq!(info.partitions()[1].operations(), &[2, 3, 4]);
}

#[test]
fn per_key_verdicts_do_not_depend_on_each_other() {
    // Interleaving another key's operations anywhere changes nothing:
    // linearizability is local.
    let x_ok = vec![put(0, "x", "a", 0, 10), get(1, "x", "a", 5, 20)];
    let x_bad = vec![put(0, "x", "a", 0, 10), get(1, "x", "", 15, 20)];
    let y = vec![
        append(2, "y", "1", 0, 100),
        get(3, "y", "", 1, 2),
        get(3, "y", "1", 3, 4),
    ];
    for (x, expect) in [(x_ok, true), (x_bad, false)] {
        let mut h = y.clone();
        h.extend(x.iter().cloned());
        assert_eq!(check_operations(&KvModel, &h), expect);
        let mut h = x.clone();
        h.extend(y.iter().cloned());
        assert_eq!(check_operations(&KvModel, &h), expect);
    }
}

#[test]
fn checker_agrees_with_brute_force_and_with_the_unpartitioned_model() {
    let mut rng = SmallRng::seed_from_u64(5);
    let (mut ok, mut illegal) = (0, 0);
    for round in 0..3000 {
        let n = 1 + round % 7;
        let keys = 1 + round % 3;
        let h = random_small(&mut rng, n, keys);
        let expected = brute_force(&KvMapModel, &h);
        assert_eq!(
            check_operations(&KvModel, &h),
            expected,
            "partitioned: {h:?}"
        );
        assert_eq!(check_operations(&KvMapModel, &h), expected, "whole: {h:?}");
        let verbose = check_operations_verbose(&KvModel, &h, CheckOptions::default())
            .unwrap()
            .0;
        assert_eq!(verbose == CheckResult::Ok, expected, "verbose: {h:?}");
        if expected {
            ok += 1;
        } else {
            illegal += 1;
        }
    }
    // The generator must exercise both verdicts, or this test proves little.
    assert!(ok > 500 && illegal > 500, "ok {ok}, illegal {illegal}");
}

#[test]
fn a_partition_that_exhausts_the_budget_is_unknown_not_illegal() {
    let h = hard_illegal("k", 12);
    let options = CheckOptions::with_max_steps(200_000);
    let result = check_operations_budget(&KvModel, &h, options).unwrap();
    assert_eq!(result, CheckResult::Unknown);
    let (verbose, info) = check_operations_verbose(&KvModel, &h, options).unwrap();
    assert_eq!(verbose, CheckResult::Unknown);
    // Spent, overshooting by at most one step's surcharge (states are short).
    assert!(
        (200_000..200_010).contains(&info.steps()),
        "{}",
        info.steps()
    );
    // With a budget big enough the same kind of history is proved illegal.
    let small = hard_illegal("k", 5);
    assert_eq!(
        check_operations_budget(&KvModel, &small, options).unwrap(),
        CheckResult::Illegal
    );
}

#[test]
fn the_budget_is_deterministic() {
    let mut h = hard_illegal("k", 12);
    h.extend(linearizable_kv(1, Shape::busy(400)));
    let options = CheckOptions::with_max_steps(123_457);
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let (r, info) = check_operations_verbose(&KvModel, &h, options).unwrap();
            let per_part: Vec<_> = info
                .partitions()
                .iter()
                .map(|p| (p.result(), p.steps(), p.partial_count()))
                .collect();
            (r, info.steps(), per_part)
        })
        .collect();
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[1], runs[2]);
    assert_eq!(runs[0].0, CheckResult::Unknown);
    // The easy keys finished despite the hard one: partitions share the
    // budget round-robin.
    let finished = runs[0].2.iter().filter(|p| p.0 == CheckResult::Ok).count();
    assert_eq!(finished, runs[0].2.len() - 1);
}

#[test]
fn an_illegal_key_is_found_even_when_another_key_exhausts_the_budget() {
    // Key "a" (sorted first) is hopeless within the budget; key "b" is a
    // plain stale read. Porcupine runs partitions in parallel and would find
    // "b"; round-robin slices find it too.
    let mut h = hard_illegal("a", 12);
    h.extend([
        put(0, "b", "1", 0, 10),
        put(1, "b", "2", 20, 30),
        get(2, "b", "1", 40, 50),
    ]);
    let options = CheckOptions::with_max_steps(100_000);
    assert_eq!(
        check_operations_budget(&KvModel, &h, options).unwrap(),
        CheckResult::Illegal
    );
    let (result, info) = check_operations_verbose(&KvModel, &h, options).unwrap();
    assert_eq!(result, CheckResult::Illegal);
    assert_eq!(info.partitions()[0].result(), CheckResult::Unknown);
    assert_eq!(info.partitions()[1].result(), CheckResult::Illegal);
}

#[test]
fn tiny_budgets_never_turn_a_linearizable_history_illegal() {
    let h = linearizable_kv(9, Shape::busy(300));
    let mut seen_unknown = false;
    for steps in [0, 1, 2, 3, 10, 100, 1_000, 5_000, 10_000] {
        let r = check_operations_budget(&KvModel, &h, CheckOptions::with_max_steps(steps)).unwrap();
        assert_ne!(r, CheckResult::Illegal, "budget {steps}");
        seen_unknown |= r == CheckResult::Unknown;
    }
    assert!(
        seen_unknown,
        "small budgets should run out on 300 operations"
    );
    assert_eq!(
        check_operations_budget(&KvModel, &h, CheckOptions::UNLIMITED).unwrap(),
        CheckResult::Ok
    );
}

/// A model whose partition is buggy, to check it is reported, not trusted.
struct BadPartition(Vec<Vec<usize>>);

impl Model for BadPartition {
    type State = String;
    type Input = KvInput;
    type Output = KvOutput;
    fn init(&self) -> String {
        String::new()
    }
    fn step(&self, s: &String, i: &KvInput, o: &KvOutput) -> Option<String> {
        KvModel.step(s, i, o)
    }
    fn partition(&self, _: &[Operation<KvInput, KvOutput>]) -> Vec<Vec<usize>> {
        self.0.clone()
    }
}

#[test]
fn a_bad_partition_from_the_model_is_an_error() {
    let h: Vec<KvOperation> = vec![put(0, "x", "a", 0, 1), get(0, "x", "a", 2, 3)];
    for parts in [vec![vec![0, 2]], vec![vec![0, 1], vec![1]]] {
        let err =
            check_operations_budget(&BadPartition(parts), &h, CheckOptions::default()).unwrap_err();
        assert!(matches!(err, Error::BadPartition(_)), "{err}");
    }
    // Leaving an operation out is allowed: it is simply not checked.
    let r = check_operations_budget(&BadPartition(vec![vec![0]]), &h, CheckOptions::default());
    assert_eq!(r, Ok(CheckResult::Ok));
}
