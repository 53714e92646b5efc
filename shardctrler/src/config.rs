//! Configurations and the deterministic, minimal-move rebalancer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Number of shards.
pub const NSHARDS: usize = 10;

/// A replica group's id. 0 means "no group".
pub type Gid = u64;

/// Which group serves each shard, and which servers form each group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Configuration number; config 0 is the empty initial one.
    pub num: u64,
    /// Shard → gid (0 while no group exists).
    pub shards: [Gid; NSHARDS],
    /// Gid → the group's server names, in the order given at Join.
    pub groups: BTreeMap<Gid, Vec<String>>,
}

impl Config {
    /// The shards `gid` serves.
    pub fn shards_of(&self, gid: Gid) -> Vec<usize> {
        (0..NSHARDS).filter(|&s| self.shards[s] == gid).collect()
    }

    /// Reassigns shards so every group serves ⌊NSHARDS/groups⌋ or one more,
    /// moving as few shards as possible, deterministically.
    ///
    /// Shards of groups that no longer exist (or of gid 0) are free; groups
    /// above their target give up their highest-numbered surplus shards; groups
    /// below it take the lowest-numbered free shards, smallest gid first.
    /// Targets favour groups that already hold more shards, so a Join only
    /// moves shards *to* the new group and a Leave only moves shards *away
    /// from* the leaving one.
    pub fn rebalance(&mut self) {
        // SOLUTION BEGIN 5A: rebalance deterministically and evenly with as few moves as possible
        if self.groups.is_empty() {
            self.shards = [0; NSHARDS];
            return;
        }
        let mut held: BTreeMap<Gid, Vec<usize>> =
            self.groups.keys().map(|&g| (g, Vec::new())).collect();
        let mut free = Vec::new();
        for (shard, gid) in self.shards.iter().enumerate() {
            match held.get_mut(gid) {
                Some(v) => v.push(shard),
                None => free.push(shard),
            }
        }
        // Rank groups by shards held (most first), then gid: the first
        // `extra` of them get one shard more than the base.
        let mut ranked: Vec<Gid> = held.keys().copied().collect();
        ranked.sort_by_key(|g| (std::cmp::Reverse(held[g].len()), *g));
        let base = NSHARDS / ranked.len();
        let extra = NSHARDS % ranked.len();
        let target: BTreeMap<Gid, usize> = ranked
            .iter()
            .enumerate()
            .map(|(rank, &g)| (g, base + usize::from(rank < extra)))
            .collect();

        for (gid, shards) in held.iter_mut() {
            while shards.len() > target[gid] {
                free.extend(shards.pop());
            }
        }
        free.sort_unstable();
        free.reverse(); // pop() hands out the lowest shard first
        for (gid, shards) in held.iter_mut() {
            while shards.len() < target[gid] {
                match free.pop() {
                    Some(s) => shards.push(s),
                    None => break,
                }
            }
        }
        for (gid, shards) in &held {
            for &s in shards {
                self.shards[s] = *gid;
            }
        }
        // SOLUTION END
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_groups(gids: &[Gid]) -> Config {
        let mut c = Config::default();
        for &g in gids {
            c.groups.insert(g, vec![format!("s{g}")]);
        }
        c.rebalance();
        c
    }

    fn balanced(c: &Config) -> bool {
        let counts: Vec<usize> = c.groups.keys().map(|&g| c.shards_of(g).len()).collect();
        counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1
            && c.shards.iter().all(|g| c.groups.contains_key(g))
    }

    #[test]
    fn joins_move_shards_only_to_the_new_group_and_minimally() {
        let mut c = with_groups(&[1]);
        for g in 2..=12 {
            let before = c.clone();
            c.groups.insert(g, vec![]);
            c.rebalance();
            assert!(balanced(&c), "{c:?}");
            let moved: Vec<usize> = (0..NSHARDS)
                .filter(|&s| before.shards[s] != c.shards[s])
                .collect();
            assert!(
                moved.iter().all(|&s| c.shards[s] == g),
                "join {g} moved shards elsewhere: {c:?}"
            );
            let want = (NSHARDS / c.groups.len()).min(NSHARDS);
            assert!(
                moved.len() <= want + 1,
                "join {g} moved {} shards",
                moved.len()
            );
        }
    }

    #[test]
    fn leaves_move_shards_only_away_from_the_leaving_group() {
        let mut c = with_groups(&[1, 2, 3, 4, 5, 6, 7]);
        for g in [3, 1, 7, 2, 6, 5] {
            let before = c.clone();
            c.groups.remove(&g);
            c.rebalance();
            assert!(balanced(&c), "{c:?}");
            for s in 0..NSHARDS {
                if before.shards[s] != c.shards[s] {
                    assert_eq!(
                        before.shards[s], g,
                        "leave {g} moved shard {s} between others"
                    );
                }
            }
        }
        c.groups.clear();
        c.rebalance();
        assert_eq!(c.shards, [0; NSHARDS]);
    }

    #[test]
    fn rebalance_is_deterministic_and_idempotent() {
        let a = with_groups(&[30, 10, 20]);
        let b = with_groups(&[10, 20, 30]);
        assert_eq!(a, b);
        let mut c = a.clone();
        c.rebalance();
        assert_eq!(c, a);
    }
}
