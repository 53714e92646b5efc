//! A group's replicated state: its configuration and the shards it holds,
//! each with a migration state. Pure and deterministic.
//!
//! Shard life cycle in one group, for the move from configuration `n-1` to `n`:
//!
//! ```text
//!  gained from another group:  Pulling ──Insert──▶ Serving+Gc ──GcDone──▶ Serving
//!  gained from nobody (gid 0): Serving
//!  kept:                       Serving (served throughout the reconfiguration)
//!  lost:                       Serving ──────────▶ Offering ──Delete──▶ (gone)
//! ```
//!
//! The group moves to configuration `n+1` only when no shard is in motion.
//! A shard is served in `Serving` and `Serving+Gc`, i.e. as soon as its own
//! data has arrived (challenge 2), and the previous owner deletes its copy
//! as soon as the new owner has it (challenge 1).

use std::collections::BTreeMap;

#[cfg(feature = "mutants")]
mod mutants;
#[cfg(feature = "mutants")]
pub use mutants::{MUTANT_KEEPS_DELETED_SHARDS, MUTANT_SERVE_UNOWNED};

use serde::{Deserialize, Serialize};
use shardctrler::{Config, Gid, NSHARDS};

use crate::Error;
use labrpc::{Reply, ServiceError};

use crate::messages::{
    BadRequest, ClientOp, ClientOpKind, ClientReply, PulledShard, ShardData, ShardOp,
};

/// Where a shard held by this group is in its migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Owned and served.
    Serving,
    /// Owned and served; the previous owner has not yet confirmed deleting
    /// its copy.
    ServingNeedsGc,
    /// Owned in the current configuration; waiting for the previous owner's data.
    Pulling,
    /// Lost in the current configuration; kept until the new owner has it.
    Offering,
}

/// A shard held by this group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Migration state.
    pub phase: Phase,
    /// Contents.
    pub data: ShardData,
}

/// A group's replicated state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardStateMachine {
    gid: Gid,
    /// The configuration the group is in.
    config: Config,
    /// The one before it: says where gained shards come from.
    prev_config: Config,
    /// The shards this group holds, in any phase.
    shards: BTreeMap<usize, Shard>,
    /// Shards deleted under the mutant `shardkv-keeps-deleted-shards`.
    #[cfg(feature = "mutants")]
    #[serde(default)]
    kept: Vec<ShardData>,
}

impl ShardStateMachine {
    /// The empty state of group `gid`, in configuration 0.
    pub fn new(gid: Gid) -> ShardStateMachine {
        ShardStateMachine {
            gid,
            config: Config::default(),
            prev_config: Config::default(),
            shards: BTreeMap::new(),
            #[cfg(feature = "mutants")]
            kept: Vec::new(),
        }
    }

    /// The current configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// True if no shard is in motion, so the next configuration may start.
    pub fn is_stable(&self) -> bool {
        self.shards.values().all(|s| s.phase == Phase::Serving)
    }

    /// Shards waiting for data: (shard, the previous owner's servers).
    pub fn to_pull(&self) -> Vec<(usize, Vec<String>)> {
        self.with_phase(Phase::Pulling)
    }

    /// Shards whose previous owner must delete its copy: (shard, its servers).
    pub fn to_gc(&self) -> Vec<(usize, Vec<String>)> {
        self.with_phase(Phase::ServingNeedsGc)
    }

    fn with_phase(&self, phase: Phase) -> Vec<(usize, Vec<String>)> {
        self.shards
            .iter()
            .filter(|(_, s)| s.phase == phase)
            .map(|(&shard, _)| {
                let owner = self.prev_config.shards[shard];
                let servers = self
                    .prev_config
                    .groups
                    .get(&owner)
                    .cloned()
                    .unwrap_or_default();
                (shard, servers)
            })
            .collect()
    }

    /// Answers a pull for `shard` as of configuration `config_num`.
    /// The data echoes `config_num` and `shard`; a shard out of range is
    /// rejected with [`BadRequest::ShardOutOfRange`].
    pub fn pull(&self, config_num: u64, shard: usize) -> Reply<PulledShard, BadRequest> {
        if shard >= NSHARDS {
            return Err(ServiceError::Rejected(BadRequest::ShardOutOfRange(shard)));
        }
        // SOLUTION BEGIN 5B: hand a shard's data to its new owner once this group has stopped serving it
        if self.config.num < config_num {
            return Err(ServiceError::NotReady);
        }
        match self.shards.get(&shard) {
            Some(s) if self.config.num == config_num && s.phase == Phase::Offering => {
                Ok(PulledShard {
                    config_num,
                    shard,
                    data: s.data.clone(),
                })
            }
            _ => Err(ServiceError::WrongGroup),
        }
        // SOLUTION END
    }

    /// Whether pulled data fits this group's state: `shard` exists, the
    /// group is in configuration `config_num` and waiting for that shard's
    /// data, and every key in `data` belongs to `shard`. Checked before an
    /// Insert is proposed and again when it is applied.
    ///
    /// # Errors
    /// Why the data does not fit; the state must then not change.
    pub fn check_insert(
        &self,
        config_num: u64,
        shard: usize,
        data: &ShardData,
    ) -> Result<(), Error> {
        if shard >= NSHARDS {
            return Err(Error::ShardOutOfRange(shard));
        }
        if config_num != self.config.num {
            return Err(Error::WrongConfig {
                shard,
                got: config_num,
                current: self.config.num,
            });
        }
        if !self
            .shards
            .get(&shard)
            .is_some_and(|s| s.phase == Phase::Pulling)
        {
            return Err(Error::NotPulling { shard, config_num });
        }
        if let Some(key) = data.kv.keys().find(|k| crate::key2shard(k) != shard) {
            return Err(Error::ForeignKey {
                shard,
                key: key.clone(),
            });
        }
        Ok(())
    }

    /// True if a delete for `config_num` has nothing (left) to do here: this
    /// group has moved past that configuration, or is at it and no longer
    /// offers the shard. A group still behind `config_num` has not even
    /// started offering, so the delete is not done yet.
    pub fn delete_done(&self, config_num: u64, shard: usize) -> bool {
        self.config.num > config_num
            || (self.config.num == config_num
                && !self
                    .shards
                    .get(&shard)
                    .is_some_and(|s| s.phase == Phase::Offering))
    }

    /// Applies one committed op.
    pub fn apply(&mut self, op: &ShardOp) -> ClientReply {
        match op {
            ShardOp::Client(op) => return self.apply_client(op),
            ShardOp::Reconfigure(next) => self.reconfigure(next),
            ShardOp::Insert {
                config_num,
                shard,
                data,
            } => {
                if let Err(e) = self.check_insert(*config_num, *shard, data) {
                    // A duplicate Insert (already installed) lands here too.
                    tracing::debug!(gid = self.gid, "shard transfer refused: {e}");
                    return Err(match e {
                        Error::ShardOutOfRange(s) => {
                            ServiceError::Rejected(BadRequest::ShardOutOfRange(s))
                        }
                        Error::ForeignKey { shard, .. } => {
                            ServiceError::Rejected(BadRequest::ForeignKey(shard))
                        }
                        _ => ServiceError::WrongGroup,
                    });
                }
                if let Some(s) = self.shards.get_mut(shard) {
                    s.data = data.clone();
                    s.phase = Phase::ServingNeedsGc;
                }
            }
            ShardOp::Delete { config_num, shard } => {
                if *config_num == self.config.num
                    && self
                        .shards
                        .get(shard)
                        .is_some_and(|s| s.phase == Phase::Offering)
                {
                    #[allow(unused_variables)]
                    let deleted = self.shards.remove(shard);
                    #[cfg(feature = "mutants")]
                    self.mutant_keep_deleted(deleted);
                }
            }
            ShardOp::GcDone { config_num, shard } => {
                if *config_num == self.config.num
                    && let Some(s) = self.shards.get_mut(shard)
                    && s.phase == Phase::ServingNeedsGc
                {
                    s.phase = Phase::Serving;
                }
            }
        }
        Ok(String::new())
    }

    fn reconfigure(&mut self, next: &Config) {
        // SOLUTION BEGIN 5B: enter the next configuration and decide each shard's phase
        if next.num != self.config.num + 1 || !self.is_stable() {
            return;
        }
        for shard in 0..NSHARDS {
            let was = self.config.shards[shard];
            let now = next.shards[shard];
            if now == self.gid && was != self.gid {
                let phase = if was == 0 {
                    Phase::Serving
                } else {
                    Phase::Pulling
                };
                self.shards.insert(
                    shard,
                    Shard {
                        phase,
                        data: ShardData::default(),
                    },
                );
            } else if now != self.gid
                && was == self.gid
                && let Some(s) = self.shards.get_mut(&shard)
            {
                s.phase = Phase::Offering;
            }
        }
        self.prev_config = std::mem::replace(&mut self.config, next.clone());
        tracing::debug!(gid = self.gid, config = next.num, "reconfigured");
        // SOLUTION END
    }

    fn apply_client(&mut self, op: &ClientOp) -> ClientReply {
        #[cfg(feature = "mutants")]
        if let Some(reply) = self.mutant_serve_unowned(op) {
            return reply;
        }
        // SOLUTION BEGIN 5B: serve a key only if the applied config gives this group its shard and its data is here
        let shard = crate::key2shard(&op.key);
        let served = self.config.shards[shard] == self.gid;
        let s = match self.shards.get_mut(&shard) {
            Some(s) if served && matches!(s.phase, Phase::Serving | Phase::ServingNeedsGc) => s,
            _ => return Err(ServiceError::WrongGroup),
        };
        let data = &mut s.data;
        match &op.kind {
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
        }
        // SOLUTION END
    }
}

impl rsm::StateMachine for ShardStateMachine {
    type Op = ShardOp;
    type Output = ClientReply;

    fn apply(&mut self, op: &ShardOp) -> ClientReply {
        ShardStateMachine::apply(self, op)
    }

    fn snapshot(&self) -> Vec<u8> {
        labrpc::to_bytes(self)
    }

    fn restore(&mut self, data: &[u8]) -> Result<(), rsm::SnapshotError> {
        let restored: ShardStateMachine = labrpc::decode(data)?;
        if restored.gid != self.gid {
            return Err(rsm::SnapshotError::WrongOwner {
                expected: self.gid,
                found: restored.gid,
            });
        }
        *self = restored;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(num: u64, shards: [Gid; NSHARDS], gids: &[Gid]) -> Config {
        Config {
            num,
            shards,
            groups: gids
                .iter()
                .map(|&g| (g, vec![format!("server-{g}-0")]))
                .collect(),
        }
    }

    fn put(key: &str, v: &str, seq: u64) -> ShardOp {
        ShardOp::Client(ClientOp {
            key: key.into(),
            kind: ClientOpKind::Append(v.into()),
            client_id: 1,
            seq,
        })
    }

    #[test]
    fn a_shard_moves_with_its_dedup_table_and_is_deleted_at_the_source() {
        let c1 = config(1, [100; NSHARDS], &[100]);
        let mut c2 = config(2, [100; NSHARDS], &[100, 101]);
        c2.shards[0] = 101; // key "0" is in shard 8; "2" is in shard 0
        let mut a = ShardStateMachine::new(100);
        let mut b = ShardStateMachine::new(101);
        for sm in [&mut a, &mut b] {
            let _ = sm.apply(&ShardOp::Reconfigure(c1.clone()));
        }
        assert_eq!(a.apply(&put("2", "x", 1)), Ok(String::new()));
        assert_eq!(b.apply(&put("2", "y", 2)), Err(ServiceError::WrongGroup));

        for sm in [&mut a, &mut b] {
            let _ = sm.apply(&ShardOp::Reconfigure(c2.clone()));
        }
        assert_eq!(
            a.apply(&put("2", "z", 3)),
            Err(ServiceError::WrongGroup),
            "lost shard still served"
        );
        assert_eq!(b.to_pull(), vec![(0, vec!["server-100-0".to_string()])]);
        assert_eq!(b.pull(3, 0), Err(ServiceError::NotReady));
        let reply = a.pull(2, 0).expect("a offers shard 0");
        let _ = b.apply(&ShardOp::Insert {
            config_num: 2,
            shard: 0,
            data: reply.data,
        });
        // The retried first append must not apply twice.
        let _ = b.apply(&put("2", "x", 1));
        let get = ShardOp::Client(ClientOp {
            key: "2".into(),
            kind: ClientOpKind::Get,
            client_id: 2,
            seq: 1,
        });
        assert_eq!(b.apply(&get), Ok("x".to_string()));
        assert!(!b.is_stable() && !a.is_stable());
        let _ = a.apply(&ShardOp::Delete {
            config_num: 2,
            shard: 0,
        });
        assert!(a.delete_done(2, 0) && a.is_stable());
        let _ = b.apply(&ShardOp::GcDone {
            config_num: 2,
            shard: 0,
        });
        assert!(b.is_stable());
    }

    #[test]
    fn reconfiguration_waits_for_stability_and_goes_in_order() {
        let mut a = ShardStateMachine::new(100);
        let _ = a.apply(&ShardOp::Reconfigure(config(2, [100; NSHARDS], &[100])));
        assert_eq!(a.config().num, 0, "skipped a configuration");
        let _ = a.apply(&ShardOp::Reconfigure(config(1, [100; NSHARDS], &[100])));
        let mut c2 = config(2, [101; NSHARDS], &[101]);
        c2.shards[0] = 100;
        let _ = a.apply(&ShardOp::Reconfigure(c2));
        assert!(!a.is_stable());
        let _ = a.apply(&ShardOp::Reconfigure(config(3, [100; NSHARDS], &[100])));
        assert_eq!(a.config().num, 2, "moved on while shards were in motion");
    }

    /// Group 101 in configuration 2, pulling shard 0 from group 100 (key
    /// "2" is in shard 0), with shard 1 (key "3") served.
    fn pulling_shard_0() -> ShardStateMachine {
        let mut c1 = config(1, [100; NSHARDS], &[100, 101]);
        c1.shards[1] = 101;
        let mut c2 = c1.clone();
        c2.num = 2;
        c2.shards[0] = 101;
        let mut b = ShardStateMachine::new(101);
        let _ = b.apply(&ShardOp::Reconfigure(c1)); // shard 1 comes from gid 0: served at once
        assert_eq!(b.apply(&put("3", "kept", 1)), Ok(String::new()));
        let _ = b.apply(&ShardOp::Reconfigure(c2));
        assert_eq!(b.config().num, 2);
        assert_eq!(b.to_pull().len(), 1);
        b
    }

    fn data_of(pairs: &[(&str, &str)]) -> ShardData {
        ShardData {
            kv: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            last_write: [(9, 5)].into(),
        }
    }

    /// Applies a malformed Insert: refused with `want`, state untouched.
    fn assert_insert_refused(config_num: u64, shard: usize, data: ShardData, want: Error) {
        let mut b = pulling_shard_0();
        let before = b.clone();
        assert_eq!(b.check_insert(config_num, shard, &data), Err(want.clone()));
        let reply = b.apply(&ShardOp::Insert {
            config_num,
            shard,
            data,
        });
        assert!(reply.is_err(), "{want}");
        assert_eq!(b, before, "a refused Insert ({want}) changed the state");
    }

    #[test]
    fn insert_for_another_config_is_refused_5b() {
        let data = data_of(&[("2", "x")]);
        let wrong = |got| Error::WrongConfig {
            shard: 0,
            got,
            current: 2,
        };
        assert_insert_refused(1, 0, data.clone(), wrong(1));
        assert_insert_refused(3, 0, data, wrong(3));
    }

    #[test]
    fn insert_of_a_shard_not_pulling_is_refused_5b() {
        // Shard 1 is served (its data must not be overwritten), shard 2
        // belongs to another group.
        let not_pulling = |shard| Error::NotPulling {
            shard,
            config_num: 2,
        };
        assert_insert_refused(2, 1, data_of(&[("3", "evil")]), not_pulling(1));
        assert_insert_refused(2, 2, data_of(&[("4", "evil")]), not_pulling(2));
    }

    #[test]
    fn insert_of_a_shard_out_of_range_is_refused_5b() {
        for shard in [NSHARDS, NSHARDS + 1, usize::MAX] {
            let data = data_of(&[("2", "x")]);
            assert_insert_refused(2, shard, data, Error::ShardOutOfRange(shard));
        }
    }

    #[test]
    fn insert_with_keys_of_another_shard_is_refused_5b() {
        // "3" is in shard 1, which this group serves: a transfer of shard 0
        // must not smuggle a value for it in.
        let data = data_of(&[("2", "x"), ("3", "evil")]);
        let want = Error::ForeignKey {
            shard: 0,
            key: "3".into(),
        };
        assert_insert_refused(2, 0, data, want);
    }

    #[test]
    fn a_fitting_insert_is_applied_once_5b() {
        let mut b = pulling_shard_0();
        let insert = ShardOp::Insert {
            config_num: 2,
            shard: 0,
            data: data_of(&[("2", "x")]),
        };
        assert_eq!(b.apply(&insert), Ok(String::new()));
        let after = b.clone();
        // A duplicate of it (the leader proposed it twice) is refused.
        assert_eq!(b.apply(&insert), Err(ServiceError::WrongGroup));
        assert_eq!(b, after);
        let get = |key: &str| {
            ShardOp::Client(ClientOp {
                key: key.into(),
                kind: ClientOpKind::Get,
                client_id: 2,
                seq: 1,
            })
        };
        assert_eq!(b.apply(&get("2")), Ok("x".to_string()));
        assert_eq!(b.apply(&get("3")), Ok("kept".to_string()));
    }

    #[test]
    fn pull_and_delete_of_a_shard_out_of_range_are_refused_5b() {
        let b = pulling_shard_0();
        for shard in [NSHARDS, usize::MAX] {
            assert_eq!(
                b.pull(2, shard),
                Err(ServiceError::Rejected(BadRequest::ShardOutOfRange(shard)))
            );
        }
        // Delete and GcDone of a shard out of range apply as no-ops.
        let mut b = b;
        let before = b.clone();
        let _ = b.apply(&ShardOp::Delete {
            config_num: 2,
            shard: NSHARDS,
        });
        let _ = b.apply(&ShardOp::GcDone {
            config_num: 2,
            shard: usize::MAX,
        });
        assert_eq!(b, before);
    }
}
