//! The raftstore scenarios' history model (`common/history.rs`) catches
//! what it must: stale gets, stale or torn scans, lost deletes — and accepts
//! what a correct store may return (concurrent writes in either order). A
//! check that never fails would let every 2B/2C/3B scenario pass blind.

mod common;

use common::history::{Input, Output, summarize, verdict};
use linearizability::{CheckResult, Operation};

fn put(c: usize, k: &str, v: &str, call: u64, ret: u64) -> Operation<Input, Output> {
    let input = Input::Put(k.into(), v.into());
    Operation::new(c, input, call, Output::Done, ret)
}

fn get(c: usize, k: &str, v: Option<&str>, call: u64, ret: u64) -> Operation<Input, Output> {
    let out = Output::Value(v.map(|v| v.as_bytes().to_vec()));
    Operation::new(c, Input::Get(k.into()), call, out, ret)
}

fn scan(
    c: usize,
    lo: &str,
    hi: &str,
    pairs: &[(&str, &str)],
    call: u64,
    ret: u64,
) -> Operation<Input, Output> {
    let pairs: Vec<_> = pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    Operation::new(
        c,
        Input::Scan(lo.into(), hi.into()),
        call,
        summarize(&pairs),
        ret,
    )
}

#[test]
fn model_accepts_a_sequential_history_p2b() {
    let ops = vec![
        put(0, "1 01", "a", 0, 10),
        put(0, "1 02", "b", 11, 20),
        get(0, "1 01", Some("a"), 21, 30),
        scan(0, "1 00", "1 03", &[("1 01", "a"), ("1 02", "b")], 31, 40),
        Operation::new(0, Input::Delete("1 01".into()), 41, Output::Done, 50),
        get(0, "1 01", None, 51, 60),
        scan(0, "1 00", "1 03", &[("1 02", "b")], 61, 70),
    ];
    assert_eq!(verdict(&ops), CheckResult::Ok);
}

#[test]
fn model_catches_a_stale_get_p2b() {
    let ops = vec![
        put(0, "1 01", "a", 0, 10),
        put(0, "1 01", "b", 11, 20),
        get(1, "1 01", Some("a"), 21, 30),
    ];
    assert_eq!(verdict(&ops), CheckResult::Illegal);
}

#[test]
fn model_catches_a_stale_scan_p2b() {
    let ops = vec![
        put(0, "1 01", "a", 0, 10),
        put(0, "1 02", "b", 11, 20),
        scan(1, "1 00", "1 03", &[("1 01", "a")], 21, 30),
    ];
    assert_eq!(verdict(&ops), CheckResult::Illegal);
}

#[test]
fn model_catches_a_scan_with_a_wrong_value_p2b() {
    let ops = vec![
        put(0, "1 01", "a", 0, 10),
        put(0, "1 02", "b", 11, 20),
        scan(1, "1 00", "1 03", &[("1 01", "a"), ("1 02", "c")], 21, 30),
    ];
    assert_eq!(verdict(&ops), CheckResult::Illegal);
}

#[test]
fn model_catches_a_lost_delete_p2b() {
    let ops = vec![
        put(0, "1 01", "a", 0, 10),
        Operation::new(0, Input::Delete("1 01".into()), 11, Output::Done, 20),
        get(1, "1 01", Some("a"), 21, 30),
    ];
    assert_eq!(verdict(&ops), CheckResult::Illegal);
}

#[test]
fn model_accepts_concurrent_writes_in_either_order_p2b() {
    for last in ["a", "b"] {
        let ops = vec![
            put(0, "1 01", "a", 0, 10),
            put(1, "1 01", "b", 5, 15),
            get(2, "1 01", Some(last), 20, 30),
        ];
        assert_eq!(verdict(&ops), CheckResult::Ok, "last value {last}");
    }
}

/// A state is a persistent map with a running hash: two orders of the same
/// writes reach one state (the checker's cache merges them), and thousands
/// of fresh keys — GenericTest's shape — check quickly.
#[test]
fn model_checks_a_long_history_of_fresh_keys_p2b() {
    let mut ops = Vec::new();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut t = 0;
    for j in 0..3000u64 {
        let (k, v) = (format!("1 {j:08}"), format!("x {j} y"));
        ops.push(put(0, &k, &v, t, t + 5));
        pairs.push((k, v));
        t += 10;
        if j % 100 == 99 {
            let view: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            ops.push(scan(
                1,
                "1 00000000",
                &format!("1 {:08}", j + 1),
                &view,
                t,
                t + 5,
            ));
            t += 10;
        }
    }
    assert_eq!(verdict(&ops), CheckResult::Ok);
    // The same history with the last scan missing one pair is caught.
    let last = ops.len() - 1;
    let view: Vec<(&str, &str)> = pairs[1..]
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    ops[last] = scan(1, "1 00000000", "1 00003000", &view, t - 10, t - 5);
    assert_eq!(verdict(&ops), CheckResult::Illegal);
}
