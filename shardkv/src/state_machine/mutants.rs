//! Test-only broken behaviour (feature `mutants`): the tester's mutation
//! tests switch it on with `labrpc::sim::enable_mutant` and check that the
//! scenarios catch it. Never part of a normal build.

use super::{ClientOp, ClientOpKind, ClientReply, Phase, Shard, ShardStateMachine};

/// The group keeps serving a shard it has lost: Gets and writes on a shard
/// it is only `Offering` to the new owner are answered from (and applied
/// to) its stale copy instead of `WrongGroup`.
pub const MUTANT_SERVE_UNOWNED: &str = "shardkv-serve-unowned";

/// The group "deletes" a shard it handed over by moving its data to a
/// list that every snapshot still carries, as a solution that never frees
/// given-up shards (challenge 1's persisted-bytes bound must catch it).
pub const MUTANT_KEEPS_DELETED_SHARDS: &str = "shardkv-keeps-deleted-shards";

impl ShardStateMachine {
    /// With [`MUTANT_KEEPS_DELETED_SHARDS`] on: keep a deleted shard's data.
    pub(super) fn mutant_keep_deleted(&mut self, deleted: Option<Shard>) {
        if labrpc::sim::mutant(MUTANT_KEEPS_DELETED_SHARDS)
            && let Some(shard) = deleted
        {
            self.kept.push(shard.data);
        }
    }

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
