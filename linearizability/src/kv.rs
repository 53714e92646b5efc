//! The key/value model the kv testers check against (the reference's
//! `models/kv.go`), partitioned by key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Model, Operation};

/// A key/value operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KvOp {
    /// Read the key; the output is the value (`""` if never written).
    Get,
    /// Replace the value; the output is ignored.
    Put,
    /// Append to the value; the output is ignored (kvraft, shardkv).
    Append,
    /// Append whose output is the value *before* the append (kvsrv, Lab 2).
    AppendReturn,
}

/// A key/value request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KvInput {
    /// What to do.
    pub op: KvOp,
    /// The key; the model partitions by it.
    pub key: String,
    /// The argument of Put and Append; `""` for Get.
    pub value: String,
}

impl KvInput {
    /// `get(key)`.
    pub fn get(key: impl Into<String>) -> KvInput {
        KvInput {
            op: KvOp::Get,
            key: key.into(),
            value: String::new(),
        }
    }

    /// `put(key, value)`.
    pub fn put(key: impl Into<String>, value: impl Into<String>) -> KvInput {
        KvInput {
            op: KvOp::Put,
            key: key.into(),
            value: value.into(),
        }
    }

    /// `append(key, value)`, output ignored.
    pub fn append(key: impl Into<String>, value: impl Into<String>) -> KvInput {
        KvInput {
            op: KvOp::Append,
            key: key.into(),
            value: value.into(),
        }
    }

    /// `append(key, value)` returning the old value.
    pub fn append_return(key: impl Into<String>, value: impl Into<String>) -> KvInput {
        KvInput {
            op: KvOp::AppendReturn,
            key: key.into(),
            value: value.into(),
        }
    }
}

/// A key/value response.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct KvOutput {
    /// Get's value, AppendReturn's old value; `""` (and ignored) otherwise.
    pub value: String,
}

impl KvOutput {
    /// An output carrying `value`.
    pub fn new(value: impl Into<String>) -> KvOutput {
        KvOutput {
            value: value.into(),
        }
    }
}

/// A key/value operation as recorded by a tester.
pub type KvOperation = Operation<KvInput, KvOutput>;

/// The key/value store's sequential specification. Each partition holds one
/// key, so the state is that key's value, initially `""`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KvModel;

impl Model for KvModel {
    type State = String;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> String {
        String::new()
    }

    fn step(&self, state: &String, input: &KvInput, output: &KvOutput) -> Option<String> {
        match input.op {
            KvOp::Get => same(&output.value, state).then(|| state.clone()),
            KvOp::Put => Some(input.value.clone()),
            KvOp::Append => Some(format!("{state}{}", input.value)),
            KvOp::AppendReturn => {
                same(&output.value, state).then(|| format!("{state}{}", input.value))
            }
        }
    }

    /// Get never changes the value.
    fn is_read_only(&self, input: &KvInput, _output: &KvOutput) -> bool {
        input.op == KvOp::Get
    }

    fn state_size(&self, state: &String) -> usize {
        state.len()
    }

    fn hash_state(&self, state: &String) -> u64 {
        fast_hash(state.as_bytes())
    }

    /// One partition per key, in sorted key order (the order of the report).
    fn partition(&self, history: &[KvOperation]) -> Vec<Vec<usize>> {
        let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, op) in history.iter().enumerate() {
            by_key.entry(&op.input.key).or_default().push(i);
        }
        by_key.into_values().collect()
    }

    fn describe_partition(&self, history: &[KvOperation], part: &[usize]) -> Option<String> {
        part.first()
            .map(|&i| format!("key {}", quote(&history[i].input.key)))
    }

    fn describe_operation(&self, input: &KvInput, output: &KvOutput) -> String {
        let (k, v) = (quote(&input.key), quote(&input.value));
        match input.op {
            KvOp::Get => format!("get({k}) -> {}", quote(&output.value)),
            KvOp::Put => format!("put({k}, {v})"),
            KvOp::Append => format!("append({k}, {v})"),
            KvOp::AppendReturn => format!("append({k}, {v}) -> {}", quote(&output.value)),
        }
    }

    fn describe_state(&self, state: &String) -> String {
        quote(state)
    }
}

/// String equality that looks at the tail first. Candidate states of one
/// key usually share a long prefix and differ in the latest appends, so this
/// rejects most wrong candidates without reading the whole value.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let tail = a.len().min(64);
    a.len() == b.len() && a[a.len() - tail..] == b[b.len() - tail..] && a == b
}

/// A fast deterministic hash (eight bytes per multiply). The memo cache
/// hashes every new state, and a key's value can be tens of kilobytes, so
/// SipHash's cost per byte showed in profiles.
fn fast_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8-byte chunk"));
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    let mut last = [0u8; 8];
    last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    (h.rotate_left(5) ^ u64::from_le_bytes(last)).wrapping_mul(K)
}

/// `'text'`, with quotes, backslashes and control characters escaped so a
/// description is always one unambiguous line.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(v: &str) -> KvOutput {
        KvOutput::new(v)
    }

    #[test]
    fn step_semantics() {
        let m = KvModel;
        let s = "ab".to_string();
        assert_eq!(m.step(&s, &KvInput::get("k"), &out("ab")), Some(s.clone()));
        assert_eq!(m.step(&s, &KvInput::get("k"), &out("a")), None);
        assert_eq!(
            m.step(&s, &KvInput::put("k", "z"), &out("junk")),
            Some("z".into())
        );
        assert_eq!(
            m.step(&s, &KvInput::append("k", "c"), &out("junk")),
            Some("abc".into())
        );
        assert_eq!(
            m.step(&s, &KvInput::append_return("k", "c"), &out("ab")),
            Some("abc".into())
        );
        assert_eq!(
            m.step(&s, &KvInput::append_return("k", "c"), &out("a")),
            None
        );
        assert_eq!(m.init(), "");
    }

    #[test]
    fn descriptions() {
        let m = KvModel;
        assert_eq!(
            m.describe_operation(&KvInput::get("k"), &out("v")),
            "get('k') -> 'v'"
        );
        assert_eq!(
            m.describe_operation(&KvInput::put("k", "v"), &out("")),
            "put('k', 'v')"
        );
        assert_eq!(
            m.describe_operation(&KvInput::append("k", "v"), &out("")),
            "append('k', 'v')"
        );
        assert_eq!(
            m.describe_operation(&KvInput::append_return("k", "v"), &out("old")),
            "append('k', 'v') -> 'old'"
        );
        assert_eq!(m.describe_state(&"it's\n".to_string()), "'it\\'s\\n'");
    }

    #[test]
    fn partitions_by_key_in_sorted_order() {
        let h = vec![
            Operation::new(0, KvInput::put("b", "1"), 0, out(""), 1),
            Operation::new(1, KvInput::get("a"), 0, out(""), 1),
            Operation::new(0, KvInput::get("b"), 2, out("1"), 3),
            Operation::new(2, KvInput::append("c", "x"), 0, out(""), 5),
        ];
        assert_eq!(KvModel.partition(&h), vec![vec![1], vec![0, 2], vec![3]]);
        assert_eq!(
            KvModel.describe_partition(&h, &[0, 2]).as_deref(),
            Some("key 'b'")
        );
    }
}
