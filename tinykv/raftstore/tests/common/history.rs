//! The raftstore scenarios' history: every client operation (put, delete,
//! get, scan) with its call and return stamps, judged by the shared
//! linearizability checker under [`RangeKvModel`].
//!
//! Stamps follow the tester's rule (`tests::history`): virtual nanoseconds,
//! raised to one past the previous stamp when they would not be larger, so
//! "returned before the next call" stays visible in virtual time that stands
//! still while tasks run. (We do not depend on the `tests` crate: it pulls
//! in every 6.5840 lab.)
//!
//! The model is a map of keys to values. Scans read several keys at once,
//! so the history is partitioned by **group**: the part of a key before its
//! first space (GenericTest's client number; a key without a space is its
//! own group). A scan must stay within one group; it is recorded with the
//! number of pairs it read and a hash of them, and the model computes the
//! same from its state.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use labrpc::sim;
use linearizability::{
    CheckOptions, CheckResult, DEFAULT_MAX_STEPS, Model, Operation, check_operations_verbose,
    visualize_temp,
};

/// A client operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Put `key` = `value`.
    Put(Vec<u8>, Vec<u8>),
    /// Delete `key`.
    Delete(Vec<u8>),
    /// Read `key`.
    Get(Vec<u8>),
    /// Read `[start, end)`.
    Scan(Vec<u8>, Vec<u8>),
}

/// What it returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A write succeeded.
    Done,
    /// A get's value.
    Value(Option<Vec<u8>>),
    /// A scan's pair count and hash.
    Pairs(usize, u64),
}

/// Count and hash of a scan's pairs.
pub fn summarize(pairs: &[(Vec<u8>, Vec<u8>)]) -> Output {
    let mut h = DefaultHasher::new();
    pairs.hash(&mut h);
    Output::Pairs(pairs.len(), h.finish())
}

/// The group of a key: its bytes before the first space.
pub fn group(key: &[u8]) -> &[u8] {
    match key.iter().position(|&b| b == b' ') {
        Some(i) => &key[..i],
        None => key,
    }
}

/// A key/value map read by key and by range.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeKvModel;

impl Model for RangeKvModel {
    type State = BTreeMap<Vec<u8>, Vec<u8>>;
    type Input = Input;
    type Output = Output;

    fn init(&self) -> Self::State {
        BTreeMap::new()
    }

    fn step(&self, state: &Self::State, input: &Input, output: &Output) -> Option<Self::State> {
        match (input, output) {
            (Input::Put(k, v), Output::Done) => {
                let mut next = state.clone();
                next.insert(k.clone(), v.clone());
                Some(next)
            }
            (Input::Delete(k), Output::Done) => {
                let mut next = state.clone();
                next.remove(k);
                Some(next)
            }
            (Input::Get(k), Output::Value(v)) => {
                (state.get(k) == v.as_ref()).then(|| state.clone())
            }
            (Input::Scan(start, end), out @ Output::Pairs(..)) => {
                let pairs: Vec<(Vec<u8>, Vec<u8>)> = state
                    .range(start.clone()..)
                    .take_while(|(k, _)| end.is_empty() || k.as_slice() < end.as_slice())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                (summarize(&pairs) == *out).then(|| state.clone())
            }
            _ => None,
        }
    }

    fn is_read_only(&self, input: &Input, _: &Output) -> bool {
        matches!(input, Input::Get(_) | Input::Scan(..))
    }

    fn hash_state(&self, state: &Self::State) -> u64 {
        let mut h = DefaultHasher::new();
        state.hash(&mut h);
        h.finish()
    }

    fn partition(&self, history: &[Operation<Input, Output>]) -> Vec<Vec<usize>> {
        let mut parts: BTreeMap<&[u8], Vec<usize>> = BTreeMap::new();
        for (i, op) in history.iter().enumerate() {
            let key = match &op.input {
                Input::Put(k, _) | Input::Delete(k) | Input::Get(k) | Input::Scan(k, _) => k,
            };
            parts.entry(group(key)).or_default().push(i);
        }
        parts.into_values().collect()
    }

    fn describe_operation(&self, input: &Input, output: &Output) -> String {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match (input, output) {
            (Input::Put(k, v), _) => format!("put({}, {})", s(k), s(v)),
            (Input::Delete(k), _) => format!("delete({})", s(k)),
            (Input::Get(k), Output::Value(v)) => {
                format!("get({}) -> {:?}", s(k), v.as_deref().map(s))
            }
            (Input::Scan(a, b), Output::Pairs(n, _)) => {
                format!("scan({}, {}) -> {n} pairs", s(a), s(b))
            }
            (i, o) => format!("{i:?} -> {o:?}"),
        }
    }
}

/// A shared history (cheap to clone).
#[derive(Clone, Default)]
pub struct History {
    inner: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    ops: Vec<Operation<Input, Output>>,
    last: Option<u64>,
}

impl History {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stamp(state: &mut State) -> u64 {
        let now = sim::elapsed().as_nanos() as u64;
        let t = match state.last {
            Some(last) if now <= last => last + 1,
            _ => now,
        };
        state.last = Some(t);
        t
    }

    /// The call stamp of an operation about to start.
    pub fn call(&self) -> u64 {
        Self::stamp(&mut self.lock())
    }

    /// Records client `client`'s operation called at `call`, returning now.
    pub fn record(&self, client: usize, input: Input, output: Output, call: u64) {
        if let Input::Scan(start, end) = &input {
            assert!(
                end.is_empty() || group(start) == group(end),
                "a recorded scan must stay within one group"
            );
        }
        let mut state = self.lock();
        let ret = Self::stamp(&mut state);
        state
            .ops
            .push(Operation::new(client, input, call, output, ret));
    }

    /// Number of operations recorded.
    pub fn len(&self) -> usize {
        self.lock().ops.len()
    }

    /// The checker's verdict, reported as `check=<verdict>` on the
    /// simulation's report line. Illegal fails (with the visualization's
    /// path); Unknown fails under `LAB_STRICT_CHECK=1`.
    pub fn check(&self) {
        let ops = self.lock().ops.clone();
        let steps = std::env::var("LAB_CHECK_STEPS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(DEFAULT_MAX_STEPS);
        let (result, info) =
            check_operations_verbose(&RangeKvModel, &ops, CheckOptions::with_max_steps(steps))
                .unwrap_or_else(|e| panic!("the tester recorded a malformed history: {e}"));
        let name = match result {
            CheckResult::Ok => "ok",
            CheckResult::Illegal => "illegal",
            CheckResult::Unknown => "unknown",
        };
        sim::report("check", name);
        match result {
            CheckResult::Ok => {}
            CheckResult::Illegal => {
                if let Ok(path) = visualize_temp(&RangeKvModel, &info) {
                    println!("info: wrote history visualization to {}", path.display());
                }
                panic!("history of {} operations is not linearizable", ops.len());
            }
            CheckResult::Unknown => {
                println!("info: linearizability check timed out, assuming history is ok");
                if std::env::var("LAB_STRICT_CHECK").is_ok_and(|v| v == "1") {
                    panic!(
                        "LAB_STRICT_CHECK=1: the check of {} operations ran out of {steps} steps",
                        ops.len()
                    );
                }
            }
        }
    }
}
