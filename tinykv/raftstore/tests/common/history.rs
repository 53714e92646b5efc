//! The raftstore scenarios' history: every client operation (put, delete,
//! get, scan) with its call and return stamps, judged by the shared
//! linearizability checker under [`RangeKvModel`].
//!
//! Recording and checking are the shared tester's (`tester::history`, the
//! recorder the 6.5840 kv tests use too): its stamps keep "returned before
//! the next call" visible in virtual time that stands still while tasks
//! run, and its check reports the verdict and applies `LAB_STRICT_CHECK`.
//! This file adds what is the raftstore's own: its operations and their
//! model.
//!
//! The model is a map of keys to values. Scans read several keys at once,
//! so the history is partitioned by **group**: the part of a key before its
//! first space (GenericTest's client number; a key without a space is its
//! own group). A scan must stay within one group; it is recorded with the
//! number of pairs it read and a hash of them, and the model computes the
//! same from its state. Before checking, keys and values are interned
//! (keys by rank, so a scan is an id range) and states are persistent maps of
//! ids: the checker caches a state per linearized prefix, and byte-string
//! maps made that cache gigabytes for GenericTest's 20 clients.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hasher};

use linearizability::{
    CheckOptions, CheckResult, DEFAULT_MAX_STEPS, Model, Operation, check_operations_verbose,
};
use tester::history::{Recorder, check_linearizable};

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
    for (k, v) in pairs {
        hash_pair(&mut h, k, v);
    }
    Output::Pairs(pairs.len(), h.finish())
}

fn hash_pair(h: &mut DefaultHasher, key: &[u8], value: &[u8]) {
    for bytes in [key, value] {
        h.write_u64(bytes.len() as u64);
        h.write(bytes);
    }
}

/// The group of a key: its bytes before the first space.
pub fn group(key: &[u8]) -> &[u8] {
    match key.iter().position(|&b| b == b' ') {
        Some(i) => &key[..i],
        None => key,
    }
}

/// An operation with its keys and values interned: keys by their rank
/// among every key of the history (so a key range is an id range), values
/// by first appearance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Put key = value.
    Put(u32, u32),
    /// Delete key.
    Delete(u32),
    /// Get key.
    Get(u32),
    /// Scan the keys with ids in `[lo, hi)`.
    Scan(u32, u32),
}

/// An interned operation and its group (the checker's partition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interned {
    group: u32,
    op: Op,
}

/// An interned output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    /// A write succeeded.
    Done,
    /// A get's value id.
    Value(Option<u32>),
    /// A scan's pair count and hash.
    Pairs(usize, u64),
}

/// A key/value map read by key and by range, over interned keys and
/// values. The checker caches one state per linearized prefix and GenericTest
/// writes a fresh key per put, so a state that copied its map on every write
/// made the check quadratic (and most of a many-client scenario's CPU): the
/// map is persistent instead (`imbl::OrdMap`, a write shares all but one
/// path with its predecessor), and the state's hash is kept up to date per
/// write rather than recomputed over the map.
#[derive(Debug, Clone, Default)]
pub struct RangeKvModel {
    keys: Vec<Vec<u8>>,
    values: Vec<Vec<u8>>,
}

/// A model state: the map and an order-independent hash of its pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct KvState {
    map: imbl::OrdMap<u32, u32>,
    hash: u64,
}

/// One pair's share of [`KvState::hash`] (a sum, so insertions and removals
/// update it in O(1)).
fn pair_hash(k: u32, v: u32) -> u64 {
    let mut x = (u64::from(k) << 32 | u64::from(v)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 29;
    x.wrapping_mul(0xbf58_476d_1ce4_e5b9)
}

impl KvState {
    fn with(&self, k: u32, v: Option<u32>) -> KvState {
        let mut next = self.clone();
        let old = match v {
            Some(v) => {
                next.hash = next.hash.wrapping_add(pair_hash(k, v));
                next.map.insert(k, v)
            }
            None => next.map.remove(&k),
        };
        if let Some(old) = old {
            next.hash = next.hash.wrapping_sub(pair_hash(k, old));
        }
        next
    }
}

impl Model for RangeKvModel {
    type State = KvState;
    type Input = Interned;
    type Output = Out;

    fn init(&self) -> Self::State {
        KvState {
            map: imbl::OrdMap::new(),
            hash: 0,
        }
    }

    fn step(&self, state: &Self::State, input: &Interned, output: &Out) -> Option<Self::State> {
        match (input.op, *output) {
            (Op::Put(k, v), Out::Done) => Some(state.with(k, Some(v))),
            (Op::Delete(k), Out::Done) => Some(if state.map.contains_key(&k) {
                state.with(k, None)
            } else {
                state.clone()
            }),
            (Op::Get(k), Out::Value(v)) => (state.map.get(&k).copied() == v).then(|| state.clone()),
            (Op::Scan(lo, hi), Out::Pairs(n, hash)) => {
                let mut h = DefaultHasher::new();
                let mut count = 0;
                for (&k, &v) in state.map.range(lo..hi) {
                    hash_pair(&mut h, &self.keys[k as usize], &self.values[v as usize]);
                    count += 1;
                }
                (count == n && h.finish() == hash).then(|| state.clone())
            }
            _ => None,
        }
    }

    fn is_read_only(&self, input: &Interned, _: &Out) -> bool {
        matches!(input.op, Op::Get(_) | Op::Scan(..))
    }

    fn hash_state(&self, state: &Self::State) -> u64 {
        state.hash
    }

    fn partition(&self, history: &[Operation<Interned, Out>]) -> Vec<Vec<usize>> {
        let mut parts: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, op) in history.iter().enumerate() {
            parts.entry(op.input.group).or_default().push(i);
        }
        parts.into_values().collect()
    }

    fn describe_operation(&self, input: &Interned, output: &Out) -> String {
        let key = |k: u32| {
            self.keys
                .get(k as usize)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_else(|| "+inf".into())
        };
        let value = |v: u32| String::from_utf8_lossy(&self.values[v as usize]).into_owned();
        match (input.op, output) {
            (Op::Put(k, v), _) => format!("put({}, {})", key(k), value(v)),
            (Op::Delete(k), _) => format!("delete({})", key(k)),
            (Op::Get(k), Out::Value(v)) => format!("get({}) -> {:?}", key(k), v.map(value)),
            (Op::Scan(lo, hi), Out::Pairs(n, _)) => {
                format!("scan([{}, {})) -> {n} pairs", key(lo), key(hi))
            }
            (op, out) => format!("{op:?} -> {out:?}"),
        }
    }
}

/// Interns a recorded history: the model (with its key and value tables)
/// and the operations it checks.
fn intern(ops: &[Operation<Input, Output>]) -> (RangeKvModel, Vec<Operation<Interned, Out>>) {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for op in ops {
        match &op.input {
            Input::Put(k, _) | Input::Delete(k) | Input::Get(k) => keys.push(k.clone()),
            Input::Scan(..) => {}
        }
    }
    keys.sort();
    keys.dedup();
    let rank = |k: &[u8]| keys.partition_point(|x| x.as_slice() < k) as u32;
    let mut value_ids: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
    let mut values: Vec<Vec<u8>> = Vec::new();
    let mut value_id = |v: &[u8]| {
        *value_ids.entry(v.to_vec()).or_insert_with(|| {
            values.push(v.to_vec());
            (values.len() - 1) as u32
        })
    };
    let mut groups: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        let (first, iop) = match &op.input {
            Input::Put(k, v) => (k, Op::Put(rank(k), value_id(v))),
            Input::Delete(k) => (k, Op::Delete(rank(k))),
            Input::Get(k) => (k, Op::Get(rank(k))),
            Input::Scan(a, b) => {
                let hi = if b.is_empty() {
                    keys.len() as u32
                } else {
                    rank(b)
                };
                (a, Op::Scan(rank(a), hi))
            }
        };
        let next = groups.len() as u32;
        let group = *groups.entry(group(first).to_vec()).or_insert(next);
        let output = match &op.output {
            Output::Done => Out::Done,
            Output::Value(v) => Out::Value(v.as_deref().map(&mut value_id)),
            Output::Pairs(n, h) => Out::Pairs(*n, *h),
        };
        out.push(Operation::new(
            op.client_id,
            Interned { group, op: iop },
            op.call,
            output,
            op.return_time,
        ));
    }
    (RangeKvModel { keys, values }, out)
}

/// The checker's verdict on a list of recorded operations (the model's own
/// tests use it; scenarios go through [`History::check`]).
pub fn verdict(ops: &[Operation<Input, Output>]) -> CheckResult {
    let (model, ops) = intern(ops);
    check_operations_verbose(
        &model,
        &ops,
        CheckOptions::with_max_steps(DEFAULT_MAX_STEPS),
    )
    .unwrap_or_else(|e| panic!("malformed history: {e}"))
    .0
}

/// A shared history (cheap to clone): the shared recorder over the
/// raftstore's operations.
#[derive(Clone, Default)]
pub struct History(Recorder<Input, Output>);

impl History {
    /// The call stamp of an operation about to start.
    pub fn call(&self) -> u64 {
        self.0.call()
    }

    /// Records client `client`'s operation called at `call`, returning now.
    pub fn record(&self, client: usize, input: Input, output: Output, call: u64) {
        if let Input::Scan(start, end) = &input {
            assert!(
                end.is_empty() || group(start) == group(end),
                "a recorded scan must stay within one group"
            );
        }
        self.0.record(client, input, output, call);
    }

    /// Number of operations recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The shared final check ([`check_linearizable`]) of the interned
    /// history: Illegal fails (with the visualization's path); Unknown fails
    /// under `LAB_STRICT_CHECK=1`; the verdict goes on the report line.
    pub fn check(&self) {
        let (model, ops) = intern(&self.0.operations());
        check_linearizable(&model, &ops);
    }
}
