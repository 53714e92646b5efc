//! Hand-made key/value histories with known verdicts: the classic
//! violations (stale read, lost append), concurrent operations that are
//! linearizable only in one order, append-with-return, touching intervals,
//! and malformed input.

mod common;

use common::{append, append_ret, get, put};
use linearizability::{
    CheckOptions, CheckResult, Error, KvModel, KvOperation, check_operations,
    check_operations_budget, check_operations_verbose,
};

fn verdict(history: &[KvOperation]) -> CheckResult {
    check_operations_budget(&KvModel, history, CheckOptions::default()).unwrap()
}

#[test]
fn empty_history_is_ok() {
    assert!(check_operations(&KvModel, &[]));
    assert_eq!(verdict(&[]), CheckResult::Ok);
}

#[test]
fn sequential_history_is_ok_and_a_wrong_read_is_not() {
    let mut h = vec![
        put(0, "x", "a", 0, 10),
        get(1, "x", "a", 20, 30),
        append(0, "x", "b", 40, 50),
        get(1, "x", "ab", 60, 70),
    ];
    assert!(check_operations(&KvModel, &h));
    h[3] = get(1, "x", "ba", 60, 70);
    assert!(!check_operations(&KvModel, &h));
}

#[test]
fn never_written_key_reads_empty() {
    assert!(check_operations(&KvModel, &[get(0, "nobody", "", 0, 1)]));
    assert!(!check_operations(&KvModel, &[get(0, "nobody", "x", 0, 1)]));
}

#[test]
fn stale_read_is_illegal() {
    // The second put completed before the get started, so 'a' is stale.
    let h = vec![
        put(0, "x", "a", 0, 10),
        put(1, "x", "b", 20, 30),
        get(2, "x", "a", 40, 50),
    ];
    let (result, info) = check_operations_verbose(&KvModel, &h, CheckOptions::default()).unwrap();
    assert_eq!(result, CheckResult::Illegal);
    // The furthest the search got: both puts, then the get cannot follow.
    let part = &info.partitions()[0];
    let largest = part
        .largest_for(2)
        .expect("the get is in a partial linearization");
    let partial = part.partial(largest);
    assert_eq!(partial.ops, vec![0, 1]);
    assert_eq!(partial.blocked, Some(2));
}

#[test]
fn read_concurrent_with_a_write_may_see_either_value() {
    for seen in ["a", "b"] {
        let h = vec![
            put(0, "x", "a", 0, 10),
            put(1, "x", "b", 20, 60),
            get(2, "x", seen, 30, 40),
        ];
        assert!(check_operations(&KvModel, &h), "read of {seen:?}");
    }
    // ... but not a value that was never there.
    let h = vec![
        put(0, "x", "a", 0, 10),
        put(1, "x", "b", 20, 60),
        get(2, "x", "", 30, 40),
    ];
    assert!(!check_operations(&KvModel, &h));
}

#[test]
fn two_reads_cannot_see_a_write_in_opposite_orders() {
    // Both reads overlap the write, but the first finishes before the second
    // starts: once 'b' was seen, 'a' cannot come back.
    let h = vec![
        put(0, "x", "a", 0, 5),
        put(1, "x", "b", 10, 100),
        get(2, "x", "b", 20, 30),
        get(3, "x", "a", 40, 50),
    ];
    assert!(!check_operations(&KvModel, &h));
    // The other way round is fine.
    let h = vec![
        put(0, "x", "a", 0, 5),
        put(1, "x", "b", 10, 100),
        get(2, "x", "a", 20, 30),
        get(3, "x", "b", 40, 50),
    ];
    assert!(check_operations(&KvModel, &h));
}

#[test]
fn overlapping_writes_ok_only_in_the_order_the_reads_force() {
    // put 1 and put 2 overlap; the reads force put 2, then put 1. The list
    // order tries put 1 first, so the search must back out of it.
    let base = vec![
        put(0, "k", "1", 0, 50),
        put(1, "k", "2", 10, 60),
        get(2, "k", "2", 20, 30),
        get(3, "k", "1", 70, 80),
    ];
    assert!(check_operations(&KvModel, &base));
    // A later read of '2' contradicts the forced order.
    let mut bad = base.clone();
    bad.push(get(4, "k", "2", 90, 100));
    assert!(!check_operations(&KvModel, &bad));
}

#[test]
fn lost_append_is_illegal() {
    let h = vec![
        append(0, "x", "a", 0, 10),
        append(1, "x", "b", 20, 30),
        get(2, "x", "b", 40, 50),
    ];
    assert!(!check_operations(&KvModel, &h));
    let h = vec![
        append(0, "x", "a", 0, 10),
        append(1, "x", "b", 20, 30),
        get(2, "x", "ab", 40, 50),
    ];
    assert!(check_operations(&KvModel, &h));
}

#[test]
fn concurrent_appends_in_either_order() {
    for seen in ["ab", "ba"] {
        let h = vec![
            append(0, "x", "a", 0, 30),
            append(1, "x", "b", 10, 40),
            get(2, "x", seen, 50, 60),
        ];
        assert!(check_operations(&KvModel, &h), "read {seen:?}");
    }
    // A duplicate application (an append executed twice) is caught.
    let h = vec![
        append(0, "x", "a", 0, 30),
        append(1, "x", "b", 10, 40),
        get(2, "x", "aba", 50, 60),
    ];
    assert!(!check_operations(&KvModel, &h));
}

#[test]
fn append_with_return_value() {
    // Each returns the value before it; the second saw the first.
    let ok = vec![
        append_ret(0, "k", "x", "", 0, 10),
        append_ret(1, "k", "y", "x", 5, 20),
        get(2, "k", "xy", 30, 40),
    ];
    assert!(check_operations(&KvModel, &ok));
    // Two concurrent appends cannot both have seen the empty value.
    let both_empty = vec![
        append_ret(0, "k", "x", "", 0, 10),
        append_ret(1, "k", "y", "", 5, 20),
    ];
    assert!(!check_operations(&KvModel, &both_empty));
    // An append that returns its own value was applied twice (a duplicate
    // the server should have filtered).
    let sees_itself = vec![
        append_ret(0, "k", "x", "", 0, 10),
        append_ret(0, "k", "y", "xy", 20, 30),
    ];
    assert!(!check_operations(&KvModel, &sees_itself));
    // An old value missing a completed append is a lost append.
    let lost = vec![
        append_ret(0, "k", "x", "", 0, 10),
        append_ret(1, "k", "y", "", 20, 30),
    ];
    assert!(!check_operations(&KvModel, &lost));
    // Plain appends and appends with return mix on one key.
    let mixed = vec![
        append(0, "k", "a", 0, 10),
        append_ret(1, "k", "b", "a", 0, 30),
        append(2, "k", "c", 15, 35),
        append_ret(3, "k", "d", "abc", 40, 50),
    ];
    assert!(check_operations(&KvModel, &mixed));
}

#[test]
fn operations_that_touch_are_concurrent() {
    // The get is called at the instant the put returns: with a clock this
    // coarse either order may be true, so both readings are accepted.
    assert!(check_operations(
        &KvModel,
        &[put(0, "x", "a", 0, 10), get(1, "x", "", 10, 20)]
    ));
    // One nanosecond later the put has certainly happened.
    assert!(!check_operations(
        &KvModel,
        &[put(0, "x", "a", 0, 10), get(1, "x", "", 11, 20)]
    ));
    // Zero-length operations are fine too.
    assert!(check_operations(
        &KvModel,
        &[put(0, "x", "a", 5, 5), get(1, "x", "a", 5, 5)]
    ));
}

#[test]
fn return_before_call_is_an_error() {
    let h = vec![put(0, "x", "a", 0, 10), get(3, "x", "a", 30, 20)];
    let err = check_operations_budget(&KvModel, &h, CheckOptions::default()).unwrap_err();
    assert_eq!(
        err,
        Error::ReturnBeforeCall {
            index: 1,
            client_id: 3,
            call: 30,
            return_time: 20
        }
    );
    assert!(err.to_string().contains("before its call"));
    assert!(check_operations_verbose(&KvModel, &h, CheckOptions::default()).is_err());
}

#[test]
#[should_panic(expected = "before its call")]
fn check_operations_panics_on_a_malformed_history() {
    check_operations(&KvModel, &[get(0, "x", "", 5, 4)]);
}

#[test]
fn verbose_info_of_an_ok_history_holds_a_complete_linearization() {
    let h = vec![
        put(0, "x", "a", 0, 50),
        get(1, "x", "a", 10, 20),
        put(2, "y", "b", 0, 5),
    ];
    let (result, info) = check_operations_verbose(&KvModel, &h, CheckOptions::default()).unwrap();
    assert_eq!(result, CheckResult::Ok);
    assert_eq!(info.result(), CheckResult::Ok);
    assert_eq!(info.history(), &h[..]);
    assert_eq!(info.partitions().len(), 2);
    assert_eq!(info.partition_name(0), Some("key 'x'"));
    assert_eq!(info.partition_name(1), Some("key 'y'"));
    let x = &info.partitions()[0];
    assert_eq!(x.operations(), &[0, 1]);
    let full = x.partial(x.largest_for(1).unwrap());
    assert_eq!(full.ops, vec![0, 1]);
    assert_eq!(full.blocked, None);
    assert_eq!(x.largest_for(2), None, "op 2 is in the other partition");
}
