//! Test-only broken behaviour (feature `mutants`): the tester's mutation
//! tests switch it on with `labrpc::sim::enable_mutant` and check that the
//! scenarios catch it. Never part of a normal build.

use super::{ClientOp, ClientOpKind, ClientReply, Phase, ShardStateMachine};

/// The group keeps serving a shard it has lost: Gets and writes on a shard
/// it is only `Offering` to the new owner are answered from (and applied
/// to) its stale copy instead of `WrongGroup`.
pub const MUTANT_SERVE_UNOWNED: &str = "shardkv-serve-unowned";

impl ShardStateMachine {
    /// With [`MUTANT_SERVE_UNOWNED`] on: the reply for `op` on a shard this
    /// group no longer owns but still holds; `None` otherwise.
    pub(super) fn mutant_serve_unowned(&mut self, op: &ClientOp) -> Option<ClientReply> {
        if !labrpc::sim::mutant(MUTANT_SERVE_UNOWNED) {
            return None;
        }
        let shard = crate::key2shard(&op.key);
        let s = self
            .shards
            .get_mut(&shard)
            .filter(|s| s.phase == Phase::Offering)?;
        let data = &mut s.data;
        Some(match &op.kind {
            ClientOpKind::Get => Ok(data.kv.get(&op.key).cloned().unwrap_or_default()),
            ClientOpKind::Put(v) | ClientOpKind::Append(v) => {
                let last = data.last_write.entry(op.client_id).or_insert(0);
                if op.seq > *last {
                    *last = op.seq;
                    let slot = data.kv.entry(op.key.clone()).or_default();
                    if matches!(op.kind, ClientOpKind::Put(_)) {
                        slot.clone_from(v);
                    } else {
                        slot.push_str(v);
                    }
                }
                Ok(String::new())
            }
        })
    }
}
