//! Large random histories of a real linearizable store (thousands of
//! concurrent, overlapping operations) must be `Ok` well inside the default
//! budget; versions with one guaranteed violation must be `Illegal`.

mod common;

use common::{Shape, corrupt_read, linearizable_kv, lose_append};
use linearizability::{
    CheckOptions, CheckResult, DEFAULT_MAX_STEPS, KvModel, KvOp, KvOperation,
    check_operations_budget, check_operations_verbose,
};

/// "Well inside" the budget: a tenth of it.
const WELL_INSIDE: u64 = DEFAULT_MAX_STEPS / 10;

fn steps_to_ok(h: &[KvOperation]) -> u64 {
    let (result, info) = check_operations_verbose(&KvModel, h, CheckOptions::default()).unwrap();
    assert_eq!(result, CheckResult::Ok, "a linearizable history was not Ok");
    info.steps()
}

/// Maximum number of operations in flight at once: how concurrent the
/// history really is (checked so the tests cannot quietly become easy).
fn max_overlap(h: &[KvOperation]) -> usize {
    let mut events: Vec<(u64, i32)> = h
        .iter()
        .flat_map(|o| [(o.call, 1), (o.return_time, -1)])
        .collect();
    events.sort_by_key(|&(t, d)| (t, -d));
    let mut cur = 0i32;
    let mut max = 0;
    for (_, d) in events {
        cur += d;
        max = max.max(cur);
    }
    max as usize
}

#[test]
fn thousands_of_concurrent_operations_over_five_keys_are_ok() {
    for seed in 0..4 {
        let h = linearizable_kv(seed, Shape::busy(5000));
        assert!(max_overlap(&h) >= 8, "seed {seed}: too little concurrency");
        let steps = steps_to_ok(&h);
        assert!(steps < WELL_INSIDE, "seed {seed}: {steps} steps");
    }
}

#[test]
fn one_hot_key_with_appends_that_return_the_old_value_is_ok() {
    // kvsrv's shape: a single key, appends returning the old value.
    let shape = Shape {
        keys: 1,
        get_pct: 30,
        put_pct: 0,
        append: KvOp::AppendReturn,
        clients: 5,
        ..Shape::busy(3000)
    };
    for seed in 10..13 {
        let h = linearizable_kv(seed, shape);
        let steps = steps_to_ok(&h);
        assert!(steps < WELL_INSIDE, "seed {seed}: {steps} steps");
    }
}

#[test]
fn many_keys_many_clients_is_ok() {
    // kvraft's random-keys shape: 15 clients, many keys, puts too.
    let shape = Shape {
        clients: 15,
        keys: 50,
        put_pct: 10,
        ..Shape::busy(10_000)
    };
    let h = linearizable_kv(21, shape);
    let steps = steps_to_ok(&h);
    assert!(steps < WELL_INSIDE, "{steps} steps");
}

#[test]
fn a_read_of_a_value_never_written_is_illegal() {
    for seed in 0..4 {
        let mut h = linearizable_kv(seed, Shape::busy(3000));
        let at = corrupt_read(&mut h, 1000 + seed as usize).expect("history has gets");
        let (result, info) =
            check_operations_verbose(&KvModel, &h, CheckOptions::default()).unwrap();
        assert_eq!(result, CheckResult::Illegal, "seed {seed}, op {at}");
        // Exactly the corrupted key is illegal.
        let bad: Vec<_> = info
            .partitions()
            .iter()
            .filter(|p| p.result() == CheckResult::Illegal)
            .collect();
        assert_eq!(bad.len(), 1);
        assert!(bad[0].operations().contains(&at));
    }
}

#[test]
fn a_lost_append_is_illegal() {
    // Appends only (no puts), so any read missing a completed append is a
    // certain violation; both plain and value-returning appends. Five
    // clients: proving a violation means exhausting the orders of the
    // overlapping appends, and with ten clients appending to the same few
    // keys that can be beyond the budget (the verdict is then Unknown).
    for (seed, append) in [
        (1, KvOp::Append),
        (2, KvOp::AppendReturn),
        (3, KvOp::Append),
    ] {
        let shape = Shape {
            clients: 5,
            put_pct: 0,
            append,
            ..Shape::busy(3000)
        };
        let h = linearizable_kv(seed, shape);
        assert_eq!(
            check_operations_budget(&KvModel, &h, CheckOptions::default()).unwrap(),
            CheckResult::Ok
        );
        for pick in [7, 500, 1500] {
            let mut bad = h.clone();
            let at = lose_append(&mut bad, pick).expect("a read after a completed append");
            let r = check_operations_budget(&KvModel, &bad, CheckOptions::default()).unwrap();
            assert_eq!(r, CheckResult::Illegal, "seed {seed}, pick {pick}, op {at}");
        }
    }
}
