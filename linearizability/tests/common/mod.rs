//! Shared by the integration tests and the benchmark: history builders, a
//! generator of large random linearizable key/value histories, guaranteed
//! violations, and a brute-force reference checker.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;

use linearizability::{KvInput, KvModel, KvOp, KvOperation, KvOutput, Model, Operation};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// Shorthand constructors: `get(client, key, output, call, ret)` etc.
pub fn get(c: usize, k: &str, out: &str, call: u64, ret: u64) -> KvOperation {
    Operation::new(c, KvInput::get(k), call, KvOutput::new(out), ret)
}
pub fn put(c: usize, k: &str, v: &str, call: u64, ret: u64) -> KvOperation {
    Operation::new(c, KvInput::put(k, v), call, KvOutput::default(), ret)
}
pub fn append(c: usize, k: &str, v: &str, call: u64, ret: u64) -> KvOperation {
    Operation::new(c, KvInput::append(k, v), call, KvOutput::default(), ret)
}
pub fn append_ret(c: usize, k: &str, v: &str, old: &str, call: u64, ret: u64) -> KvOperation {
    Operation::new(
        c,
        KvInput::append_return(k, v),
        call,
        KvOutput::new(old),
        ret,
    )
}

/// Shape of a generated history.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub clients: usize,
    pub ops: usize,
    pub keys: usize,
    /// Percentages of gets and puts; the rest are appends.
    pub get_pct: u32,
    pub put_pct: u32,
    /// `Append` (output ignored) or `AppendReturn` (output = old value).
    pub append: KvOp,
    /// Longest operation, and longest pause between a client's operations,
    /// in nanoseconds. Long operations mean many overlapping ones.
    pub max_duration: u64,
    pub max_pause: u64,
    /// Call times are rounded down and return times up to a multiple of
    /// this (a coarse clock: intervals only grow, so the history stays
    /// linearizable, and many events tie).
    pub quantum: u64,
}

impl Shape {
    /// Ten clients, five keys, a kvraft-like mix with heavy overlap.
    pub fn busy(ops: usize) -> Shape {
        Shape {
            clients: 10,
            ops,
            keys: 5,
            get_pct: 40,
            put_pct: 10,
            append: KvOp::Append,
            max_duration: 3_000_000,
            max_pause: 1_000_000,
            quantum: 100_000,
        }
    }
}

/// The token client `c` appends or puts in its `j`-th operation. Tokens
/// start with 'c' and end with ';' and contain neither elsewhere, so a
/// token occurs in a value only where it was written.
pub fn token(c: usize, j: usize) -> String {
    format!("c{c}.{j};")
}

/// A random history of a real linearizable store: every operation takes
/// effect at a random instant inside its interval, in that order, on an
/// actual map. Clients are sequential; different clients overlap freely.
pub fn linearizable_kv(seed: u64, shape: Shape) -> Vec<KvOperation> {
    struct Planned {
        client: usize,
        input: KvInput,
        call: u64,
        ret: u64,
        lp: u64,
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut planned = Vec::with_capacity(shape.ops);
    let mut next_free = vec![0u64; shape.clients];
    let q = shape.quantum.max(1);
    for i in 0..shape.ops {
        let c = i % shape.clients;
        let call = next_free[c] + rng.random_range(0..=shape.max_pause);
        let ret = call + rng.random_range(1..=shape.max_duration);
        let lp = rng.random_range(call..=ret);
        let key = format!("k{}", rng.random_range(0..shape.keys));
        let roll = rng.random_range(0..100u32);
        let input = if roll < shape.get_pct {
            KvInput::get(key)
        } else if roll < shape.get_pct + shape.put_pct {
            KvInput::put(key, token(c, i))
        } else {
            KvInput {
                op: shape.append,
                key,
                value: token(c, i),
            }
        };
        let ret = ret.div_ceil(q) * q;
        // The client's next call comes after this return, as a real client's.
        next_free[c] = ret + 1;
        planned.push(Planned {
            client: c,
            input,
            call: call / q * q,
            ret,
            lp,
        });
    }
    // Apply in linearization-point order.
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by_key(|&i| (planned[i].lp, i));
    let mut store: BTreeMap<String, String> = BTreeMap::new();
    let mut outputs = vec![String::new(); planned.len()];
    for &i in &order {
        let input = &planned[i].input;
        let value = store.entry(input.key.clone()).or_default();
        outputs[i] = match input.op {
            KvOp::Get => value.clone(),
            KvOp::Put => {
                *value = input.value.clone();
                String::new()
            }
            KvOp::Append => {
                value.push_str(&input.value);
                String::new()
            }
            KvOp::AppendReturn => {
                let old = value.clone();
                value.push_str(&input.value);
                old
            }
        };
    }
    planned
        .into_iter()
        .zip(outputs)
        .map(|(p, out)| Operation::new(p.client, p.input, p.call, KvOutput::new(out), p.ret))
        .collect()
}

/// Makes one Get read a value no execution could produce (it contains '#',
/// which no token has). Returns the index changed, if there is a Get.
pub fn corrupt_read(history: &mut [KvOperation], pick: usize) -> Option<usize> {
    let gets: Vec<usize> = (0..history.len())
        .filter(|&i| history[i].input.op == KvOp::Get)
        .collect();
    let i = *gets.get(pick % gets.len().max(1))?;
    history[i].output.value.push_str("#lost");
    Some(i)
}

/// A lost append: on a key that is never Put, removes from a read (Get or
/// AppendReturn output) the token of an append that returned before the read
/// was called. Appends only grow the value, so the read can no longer be
/// explained. Returns the index changed, if such a pair exists.
pub fn lose_append(history: &mut [KvOperation], pick: usize) -> Option<usize> {
    let put_keys: std::collections::BTreeSet<&str> = history
        .iter()
        .filter(|o| o.input.op == KvOp::Put)
        .map(|o| o.input.key.as_str())
        .collect();
    let mut candidates = Vec::new();
    for (r, read) in history.iter().enumerate() {
        if !matches!(read.input.op, KvOp::Get | KvOp::AppendReturn)
            || put_keys.contains(read.input.key.as_str())
        {
            continue;
        }
        let lost = history.iter().find(|w| {
            matches!(w.input.op, KvOp::Append | KvOp::AppendReturn)
                && w.input.key == read.input.key
                && w.return_time < read.call
                && read.output.value.contains(&w.input.value)
        });
        if let Some(w) = lost {
            candidates.push((r, w.input.value.clone()));
        }
    }
    let (r, tok) = candidates.get(pick % candidates.len().max(1))?.clone();
    history[r].output.value = history[r].output.value.replacen(&tok, "", 1);
    Some(r)
}

/// The key/value store as one unpartitioned object (state: the whole map),
/// to check that per-key checking agrees with checking the whole.
#[derive(Debug, Clone, Copy)]
pub struct KvMapModel;

impl Model for KvMapModel {
    type State = BTreeMap<String, String>;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> Self::State {
        BTreeMap::new()
    }

    fn step(&self, state: &Self::State, input: &KvInput, output: &KvOutput) -> Option<Self::State> {
        let old = state.get(&input.key).cloned().unwrap_or_default();
        let new = KvModel.step(&old, input, output)?;
        let mut next = state.clone();
        next.insert(input.key.clone(), new);
        Some(next)
    }

    fn hash_state(&self, state: &Self::State) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        state.hash(&mut h);
        h.finish()
    }
}

/// Brute force: tries every order consistent with real time. Exponential;
/// only for a handful of operations. Shares no code with the checker.
pub fn brute_force<M: Model>(model: &M, history: &[Operation<M::Input, M::Output>]) -> bool {
    fn go<M: Model>(
        model: &M,
        h: &[Operation<M::Input, M::Output>],
        used: &mut Vec<bool>,
        state: &M::State,
    ) -> bool {
        if used.iter().all(|&u| u) {
            return true;
        }
        // An operation may come next unless some pending one returned
        // strictly before it was called.
        let min_ret = (0..h.len())
            .filter(|&i| !used[i])
            .map(|i| h[i].return_time)
            .min()
            .unwrap_or(u64::MAX);
        for i in 0..h.len() {
            if used[i] || h[i].call > min_ret {
                continue;
            }
            if let Some(next) = model.step(state, &h[i].input, &h[i].output) {
                used[i] = true;
                let ok = go(model, h, used, &next);
                used[i] = false;
                if ok {
                    return true;
                }
            }
        }
        false
    }
    go(
        model,
        history,
        &mut vec![false; history.len()],
        &model.init(),
    )
}

/// A small random history whose outputs are random guesses: many of these
/// are not linearizable, which is what a cross-check needs.
pub fn random_small(rng: &mut SmallRng, n: usize, keys: usize) -> Vec<KvOperation> {
    let values = ["", "a", "b", "ab", "ba"];
    (0..n)
        .map(|i| {
            let key = format!("k{}", rng.random_range(0..keys));
            let call = rng.random_range(0..10u64);
            let ret = call + rng.random_range(0..6u64);
            let v = if rng.random_bool(0.5) { "a" } else { "b" };
            let out = values[rng.random_range(0..values.len())];
            let c = i % 3;
            match rng.random_range(0..4) {
                0 => get(c, &key, out, call, ret),
                1 => put(c, &key, v, call, ret),
                2 => append(c, &key, v, call, ret),
                _ => append_ret(c, &key, v, out, call, ret),
            }
        })
        .collect()
}

/// Many appends that all overlap, then a read that no order explains: the
/// search has to try every order of the appends before it can say Illegal,
/// which takes far more steps than any budget used in the tests.
pub fn hard_illegal(key: &str, appends: usize) -> Vec<KvOperation> {
    let mut h: Vec<KvOperation> = (0..appends)
        .map(|i| append(i, key, &token(i, i), 0, 100))
        .collect();
    h.push(get(appends, key, "#never", 200, 210));
    h
}
