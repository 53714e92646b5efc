//! The controller's replicated state: the history of configurations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{Config, NSHARDS};
use crate::messages::{CtrlerError, CtrlerOp};

/// What applying a [`CtrlerOp`] yields: for a Query its configuration, for
/// an accepted change `None`, for a refused change why.
pub type CtrlerOutput = Result<Option<Config>, CtrlerError>;

/// Every configuration so far, plus the duplicate table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtrlerStateMachine {
    /// `configs[i].num == i`; config 0 has no groups.
    configs: Vec<Config>,
    /// Per clerk: its highest change sequence number applied, and that
    /// change's outcome, so a retry (the clerk's only possible duplicate:
    /// it has one request in flight) gets the same answer.
    last_change: BTreeMap<u64, (u64, Result<(), CtrlerError>)>,
}

impl Default for CtrlerStateMachine {
    fn default() -> Self {
        CtrlerStateMachine {
            configs: vec![Config::default()],
            last_change: BTreeMap::new(),
        }
    }
}

impl CtrlerStateMachine {
    /// Applies an op: a Query returns its configuration; a Join, Leave or
    /// Move either creates the next configuration (`Ok(None)`) or is
    /// refused (`Err`) and changes nothing. Either way a change is recorded
    /// in the duplicate table, so its retry returns the same outcome.
    pub fn apply(&mut self, op: &CtrlerOp) -> CtrlerOutput {
        // SOLUTION BEGIN 5A: Join/Leave/Move create a new config; Query reads one; apply each change once
        let id = match op {
            CtrlerOp::Query(q) => return Ok(Some(self.query(q.num).clone())),
            CtrlerOp::Join(a) => a.id,
            CtrlerOp::Leave(a) => a.id,
            CtrlerOp::Move(a) => a.id,
        };
        let (last_seq, last_outcome) = self
            .last_change
            .get(&id.client_id)
            .copied()
            .unwrap_or((0, Ok(())));
        if id.seq == last_seq {
            return last_outcome.map(|()| None);
        }
        if id.seq < last_seq {
            // A stale duplicate the clerk no longer waits for.
            return Ok(None);
        }
        let outcome = self.change(op);
        self.last_change.insert(id.client_id, (id.seq, outcome));
        outcome.map(|()| None)
        // SOLUTION END
    }

    /// Validates a change against the latest configuration and, if it is
    /// valid, appends the configuration it creates.
    fn change(&mut self, op: &CtrlerOp) -> Result<(), CtrlerError> {
        // SOLUTION BEGIN 5A: refuse bad changes without touching the configurations
        let latest = self.query(-1);
        let mut next = self.next_config();
        match op {
            CtrlerOp::Query(_) => return Ok(()),
            CtrlerOp::Join(a) => {
                for (gid, servers) in &a.servers {
                    if *gid == 0 {
                        return Err(CtrlerError::JoinGidZero);
                    }
                    if latest.groups.contains_key(gid) {
                        return Err(CtrlerError::DuplicateGid(*gid));
                    }
                    if servers.is_empty() {
                        return Err(CtrlerError::EmptyGroup(*gid));
                    }
                }
                next.groups
                    .extend(a.servers.iter().map(|(g, s)| (*g, s.clone())));
                next.rebalance();
            }
            CtrlerOp::Leave(a) => {
                if let Some(gid) = a.gids.iter().find(|g| !latest.groups.contains_key(g)) {
                    return Err(CtrlerError::UnknownGid(*gid));
                }
                for gid in &a.gids {
                    next.groups.remove(gid);
                }
                next.rebalance();
            }
            CtrlerOp::Move(a) => {
                if a.shard >= NSHARDS {
                    return Err(CtrlerError::ShardOutOfRange(a.shard));
                }
                if !latest.groups.contains_key(&a.gid) {
                    return Err(CtrlerError::UnknownGid(a.gid));
                }
                next.shards[a.shard] = a.gid;
            }
        }
        self.configs.push(next);
        Ok(())
        // SOLUTION END
    }

    /// Configuration `num`, or the latest for -1 or a number beyond it.
    pub fn query(&self, num: i64) -> &Config {
        let latest = self.configs.len() - 1;
        let i = usize::try_from(num).map_or(latest, |n| n.min(latest));
        &self.configs[i]
    }

    fn next_config(&self) -> Config {
        let latest = &self.configs[self.configs.len() - 1];
        Config {
            num: latest.num + 1,
            shards: latest.shards,
            groups: latest.groups.clone(),
        }
    }
}

impl rsm::StateMachine for CtrlerStateMachine {
    type Op = CtrlerOp;
    type Output = CtrlerOutput;

    fn apply(&mut self, op: &CtrlerOp) -> CtrlerOutput {
        CtrlerStateMachine::apply(self, op)
    }

    fn snapshot(&self) -> Vec<u8> {
        labrpc::to_bytes(self)
    }

    fn restore(&mut self, data: &[u8]) -> Result<(), rsm::SnapshotError> {
        *self = labrpc::decode(data)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Gid;
    use crate::messages::{JoinArgs, LeaveArgs, MoveArgs, QueryArgs, RequestId};

    fn id(seq: u64) -> RequestId {
        RequestId { client_id: 1, seq }
    }

    fn join(gids: &[Gid], seq: u64) -> CtrlerOp {
        CtrlerOp::Join(JoinArgs {
            servers: gids.iter().map(|&g| (g, vec![format!("s{g}")])).collect(),
            id: id(seq),
        })
    }

    fn leave(gids: &[Gid], seq: u64) -> CtrlerOp {
        CtrlerOp::Leave(LeaveArgs {
            gids: gids.to_vec(),
            id: id(seq),
        })
    }

    fn move_(shard: usize, gid: Gid, seq: u64) -> CtrlerOp {
        CtrlerOp::Move(MoveArgs {
            shard,
            gid,
            id: id(seq),
        })
    }

    /// Groups 1 and 2 joined (config 1), as clerk 1 with seq 1.
    fn two_groups() -> CtrlerStateMachine {
        let mut sm = CtrlerStateMachine::default();
        assert_eq!(sm.apply(&join(&[1, 2], 1)), Ok(None));
        sm
    }

    /// Applies `op` (clerk 1, a fresh seq) to a state with groups 1 and 2:
    /// it must be refused with `want`, leave the configurations untouched,
    /// and give the same answer when retried.
    fn assert_rejected(op: CtrlerOp, want: CtrlerError) {
        let mut sm = two_groups();
        let configs = sm.configs.clone();
        assert_eq!(sm.apply(&op), Err(want), "{op:?}");
        assert_eq!(
            sm.configs, configs,
            "a refused {op:?} changed the configurations"
        );
        assert_eq!(
            sm.query(-1).num,
            1,
            "a refused {op:?} created a configuration"
        );
        assert_eq!(
            sm.apply(&op),
            Err(want),
            "a retry of {op:?} got another answer"
        );
        assert_eq!(sm.configs, configs);
        // The refusal counted as seen: the clerk's next change goes through.
        assert_eq!(sm.apply(&move_(0, 2, 3)), Ok(None));
        assert_eq!(sm.query(-1).num, 2);
    }

    #[test]
    fn each_change_is_a_new_numbered_config_applied_once() {
        let mut sm = CtrlerStateMachine::default();
        let first = CtrlerOp::Join(JoinArgs {
            servers: [(7, vec!["a".into()])].into(),
            id: id(1),
        });
        assert_eq!(sm.apply(&first), Ok(None));
        assert_eq!(
            sm.apply(&first),
            Ok(None),
            "a retry of a join that succeeded"
        );
        assert_eq!(sm.query(-1).num, 1);
        assert_eq!(sm.query(-1).shards, [7; NSHARDS]);
        sm.apply(&join(&[9], 2)).unwrap();
        sm.apply(&move_(3, 9, 3)).unwrap();
        assert_eq!(sm.query(3).shards[3], 9);
        sm.apply(&leave(&[7, 9], 4)).unwrap();
        assert_eq!(sm.query(99).shards, [0; NSHARDS]);
        assert_eq!(sm.query(0), &Config::default());
        let q = sm
            .apply(&CtrlerOp::Query(QueryArgs { num: 1 }))
            .unwrap()
            .unwrap();
        assert_eq!(q.groups[&7], vec!["a".to_string()]);
    }

    #[test]
    fn join_of_gid_zero_is_rejected() {
        assert_rejected(join(&[0], 2), CtrlerError::JoinGidZero);
        // Even alongside a valid group: nothing of the Join is applied.
        assert_rejected(join(&[0, 3], 2), CtrlerError::JoinGidZero);
    }

    #[test]
    fn join_of_a_present_gid_is_rejected() {
        assert_rejected(join(&[2], 2), CtrlerError::DuplicateGid(2));
        assert_rejected(join(&[3, 1], 2), CtrlerError::DuplicateGid(1));
    }

    #[test]
    fn join_without_servers_is_rejected() {
        let op = CtrlerOp::Join(JoinArgs {
            servers: [(3, vec![])].into(),
            id: id(2),
        });
        assert_rejected(op, CtrlerError::EmptyGroup(3));
    }

    #[test]
    fn leave_of_an_unknown_gid_is_rejected() {
        assert_rejected(leave(&[5], 2), CtrlerError::UnknownGid(5));
        assert_rejected(leave(&[1, 5], 2), CtrlerError::UnknownGid(5));
        assert_rejected(leave(&[0], 2), CtrlerError::UnknownGid(0));
    }

    #[test]
    fn move_to_an_unknown_gid_is_rejected() {
        assert_rejected(move_(3, 5, 2), CtrlerError::UnknownGid(5));
        assert_rejected(move_(3, 0, 2), CtrlerError::UnknownGid(0));
    }

    #[test]
    fn move_of_a_shard_out_of_range_is_rejected() {
        assert_rejected(move_(NSHARDS, 1, 2), CtrlerError::ShardOutOfRange(NSHARDS));
        assert_rejected(
            move_(usize::MAX, 1, 2),
            CtrlerError::ShardOutOfRange(usize::MAX),
        );
    }

    #[test]
    fn a_group_that_left_is_unknown_again() {
        let mut sm = two_groups();
        sm.apply(&leave(&[1], 2)).unwrap();
        let configs = sm.configs.clone();
        assert_eq!(sm.apply(&leave(&[1], 3)), Err(CtrlerError::UnknownGid(1)));
        assert_eq!(sm.apply(&move_(0, 1, 4)), Err(CtrlerError::UnknownGid(1)));
        assert_eq!(sm.configs, configs);
        // ...and may join again.
        assert_eq!(sm.apply(&join(&[1], 5)), Ok(None));
    }

    #[test]
    fn a_retried_success_is_not_reported_as_a_duplicate() {
        let mut sm = two_groups();
        let op = join(&[3], 2);
        assert_eq!(sm.apply(&op), Ok(None));
        let configs = sm.configs.clone();
        // The same request again (its reply was lost): still Ok, no new config.
        assert_eq!(sm.apply(&op), Ok(None));
        assert_eq!(sm.configs, configs);
        // A new request joining the same gid is a real duplicate.
        assert_eq!(sm.apply(&join(&[3], 3)), Err(CtrlerError::DuplicateGid(3)));
    }

    #[test]
    fn refusals_survive_a_snapshot() {
        use rsm::StateMachine;
        let mut sm = two_groups();
        let op = leave(&[9], 2);
        assert_eq!(sm.apply(&op), Err(CtrlerError::UnknownGid(9)));
        let mut restored = CtrlerStateMachine::default();
        restored.restore(&sm.snapshot()).unwrap();
        assert_eq!(restored, sm);
        assert_eq!(
            CtrlerStateMachine::apply(&mut restored, &op),
            Err(CtrlerError::UnknownGid(9))
        );
    }
}
