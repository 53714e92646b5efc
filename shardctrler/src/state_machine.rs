//! The controller's replicated state: the history of configurations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{Config, NSHARDS};
use crate::messages::{CtrlerOp, RequestId};

/// Every configuration so far, plus the duplicate table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtrlerStateMachine {
    /// `configs[i].num == i`; config 0 has no groups.
    configs: Vec<Config>,
    /// Highest change sequence number applied per clerk.
    last_change: BTreeMap<u64, u64>,
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
    /// Applies an op; returns the configuration for a Query, `None` otherwise.
    pub fn apply(&mut self, op: &CtrlerOp) -> Option<Config> {
        // SOLUTION BEGIN 5A: Join/Leave/Move create a new config; Query reads one; apply each change once
        match op {
            CtrlerOp::Query(q) => Some(self.query(q.num).clone()),
            CtrlerOp::Join(a) => {
                if self.is_new(a.id) {
                    let mut next = self.next_config();
                    for (gid, servers) in &a.servers {
                        if *gid != 0 {
                            next.groups.insert(*gid, servers.clone());
                        }
                    }
                    next.rebalance();
                    self.configs.push(next);
                }
                None
            }
            CtrlerOp::Leave(a) => {
                if self.is_new(a.id) {
                    let mut next = self.next_config();
                    for gid in &a.gids {
                        next.groups.remove(gid);
                    }
                    next.rebalance();
                    self.configs.push(next);
                }
                None
            }
            CtrlerOp::Move(a) => {
                if self.is_new(a.id) && a.shard < NSHARDS {
                    let mut next = self.next_config();
                    next.shards[a.shard] = a.gid;
                    self.configs.push(next);
                }
                None
            }
        }
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

    fn is_new(&mut self, id: RequestId) -> bool {
        let last = self.last_change.entry(id.client_id).or_insert(0);
        if id.seq > *last {
            *last = id.seq;
            true
        } else {
            false
        }
    }
}

impl kvraft::rsm::StateMachine for CtrlerStateMachine {
    type Op = CtrlerOp;
    type Output = Option<Config>;

    fn apply(&mut self, op: &CtrlerOp) -> Option<Config> {
        CtrlerStateMachine::apply(self, op)
    }

    fn snapshot(&self) -> Vec<u8> {
        labrpc::encode(self).expect("configurations always encode")
    }

    fn restore(&mut self, data: &[u8]) -> Result<(), String> {
        *self = labrpc::decode(data)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{JoinArgs, LeaveArgs, MoveArgs, QueryArgs};

    fn id(seq: u64) -> RequestId {
        RequestId { client_id: 1, seq }
    }

    #[test]
    fn each_change_is_a_new_numbered_config_applied_once() {
        let mut sm = CtrlerStateMachine::default();
        let join = CtrlerOp::Join(JoinArgs {
            servers: [(7, vec!["a".into()])].into(),
            id: id(1),
        });
        sm.apply(&join);
        sm.apply(&join); // a retry
        assert_eq!(sm.query(-1).num, 1);
        assert_eq!(sm.query(-1).shards, [7; NSHARDS]);
        sm.apply(&CtrlerOp::Move(MoveArgs {
            shard: 3,
            gid: 9,
            id: id(2),
        }));
        assert_eq!(sm.query(2).shards[3], 9);
        sm.apply(&CtrlerOp::Leave(LeaveArgs {
            gids: vec![7],
            id: id(3),
        }));
        assert_eq!(sm.query(99).shards, [0; NSHARDS]);
        assert_eq!(sm.query(0), &Config::default());
        let q = sm.apply(&CtrlerOp::Query(QueryArgs { num: 1 })).unwrap();
        assert_eq!(q.groups[&7], vec!["a".to_string()]);
    }
}
