//! What the controller scenarios assert about configurations.
//!
//! The reference's "minimal transfer" subtests compare the shards of gids
//! 1..10, which are not in the configuration at that point, so they check
//! nothing. The checks here are real: a Join may move a shard only *to* a
//! joining group, a Leave only *away from* a leaving group, and either must
//! move exactly as many shards as the least any balanced assignment needs
//! ([`min_moves`]).

use std::collections::{BTreeMap, BTreeSet};

use shardctrler::{Clerk, Config, Gid, NSHARDS};

/// The reference `check`: the latest configuration has exactly `groups`;
/// if there is any group, every shard is assigned to one of them; and the
/// groups hold within one shard of each other. Returns that configuration.
pub async fn check(ck: &mut Clerk, groups: &[Gid]) -> Config {
    let c = ck.query(-1).await;
    assert_eq!(
        c.groups.len(),
        groups.len(),
        "wanted {} groups, got {}: {c:?}",
        groups.len(),
        c.groups.len()
    );
    for g in groups {
        assert!(c.groups.contains_key(g), "missing group {g}: {c:?}");
    }
    if !groups.is_empty() {
        for (s, g) in c.shards.iter().enumerate() {
            assert!(
                c.groups.contains_key(g),
                "shard {s} -> invalid group {g}: {c:?}"
            );
        }
    }
    let mut counts: BTreeMap<Gid, usize> = c.groups.keys().map(|&g| (g, 0)).collect();
    for g in &c.shards {
        if let Some(n) = counts.get_mut(g) {
            *n += 1;
        }
    }
    if let (Some(min), Some(max)) = (counts.values().min(), counts.values().max()) {
        assert!(
            max <= &(min + 1),
            "max {max} too much larger than min {min}: {c:?}"
        );
    }
    c
}

/// The reference `check_same_config`: number, shards and groups (with each
/// group's server list in order) are identical.
pub fn check_same_config(c1: &Config, c2: &Config) {
    assert_eq!(c1.num, c2.num, "Num wrong: {c1:?} vs {c2:?}");
    assert_eq!(c1.shards, c2.shards, "Shards wrong: {c1:?} vs {c2:?}");
    assert_eq!(
        c1.groups.len(),
        c2.groups.len(),
        "number of Groups is wrong: {c1:?} vs {c2:?}"
    );
    for (gid, servers) in &c1.groups {
        match c2.groups.get(gid) {
            Some(other) => assert_eq!(servers, other, "Groups wrong for gid {gid}"),
            None => panic!("len(Groups) wrong: gid {gid} missing in {c2:?}"),
        }
    }
}

/// The shards whose group differs between `before` and `after`.
pub fn moved_shards(before: &Config, after: &Config) -> Vec<usize> {
    (0..NSHARDS)
        .filter(|&s| before.shards[s] != after.shards[s])
        .collect()
}

/// The fewest shards that must change group to go from `before` to any
/// balanced assignment of the shards to `groups` (every group ⌊N/G⌋ or
/// ⌈N/G⌉ shards; no groups: every shard on gid 0).
///
/// Shards on a group not in `groups` must all move. A group keeps at most
/// `min(held, target)` of its shards, so the moves are minimised by giving
/// the `N mod G` larger targets to the groups that hold the most.
pub fn min_moves(before: &Config, groups: &BTreeSet<Gid>) -> usize {
    if groups.is_empty() {
        return before.shards.iter().filter(|&&g| g != 0).count();
    }
    let orphans = before.shards.iter().filter(|g| !groups.contains(g)).count();
    let mut held: Vec<usize> = groups
        .iter()
        .map(|g| before.shards.iter().filter(|&s| s == g).count())
        .collect();
    held.sort_unstable_by(|a, b| b.cmp(a));
    let (base, extra) = (NSHARDS / groups.len(), NSHARDS % groups.len());
    let surplus: usize = held
        .iter()
        .enumerate()
        .map(|(rank, &h)| h.saturating_sub(base + usize::from(rank < extra)))
        .sum();
    orphans + surplus
}

fn gids(c: &Config) -> BTreeSet<Gid> {
    c.groups.keys().copied().collect()
}

/// After a Join of `joined` took `before` to `after`: every shard that moved
/// went to a joining group, and no more shards moved than balance requires.
pub fn check_join_moves(before: &Config, after: &Config, joined: &[Gid]) {
    let moved = moved_shards(before, after);
    for &s in &moved {
        assert!(
            joined.contains(&after.shards[s]),
            "non-minimal transfer after Join({joined:?}): shard {s} moved from {} to {}, \
             not to a joining group\nbefore: {before:?}\nafter:  {after:?}",
            before.shards[s],
            after.shards[s]
        );
    }
    let least = min_moves(before, &gids(after));
    assert_eq!(
        moved.len(),
        least,
        "non-minimal transfer after Join({joined:?}): {} shards moved, {least} suffice\n\
         before: {before:?}\nafter:  {after:?}",
        moved.len()
    );
}

/// After a Leave of `left` took `before` to `after`: every shard that moved
/// came from a leaving group, and no more shards moved than balance requires.
pub fn check_leave_moves(before: &Config, after: &Config, left: &[Gid]) {
    let moved = moved_shards(before, after);
    for &s in &moved {
        assert!(
            left.contains(&before.shards[s]),
            "non-minimal transfer after Leave({left:?}): shard {s} moved from {} to {}, \
             not away from a leaving group\nbefore: {before:?}\nafter:  {after:?}",
            before.shards[s],
            after.shards[s]
        );
    }
    let least = min_moves(before, &gids(after));
    assert_eq!(
        moved.len(),
        least,
        "non-minimal transfer after Leave({left:?}): {} shards moved, {least} suffice\n\
         before: {before:?}\nafter:  {after:?}",
        moved.len()
    );
}

/// Reads every configuration from `from` to the latest and checks each step
/// that changed the set of groups as a Join (groups only added) or a Leave
/// (groups only removed) with [`check_join_moves`] / [`check_leave_moves`].
/// For concurrent clerks this checks every change, not just the end state.
/// Returns the latest configuration.
///
/// # Panics
/// On a failed check, or if a step both adds and removes groups (no single
/// Join or Leave does that).
pub async fn check_history(ck: &mut Clerk, from: u64) -> Config {
    let latest = ck.query(-1).await;
    let mut prev = ck.query(from as i64).await;
    assert_eq!(prev.num, from, "Query({from}) returned {prev:?}");
    for num in from + 1..=latest.num {
        let next = ck.query(num as i64).await;
        assert_eq!(next.num, num, "Query({num}) returned {next:?}");
        let (old, new) = (gids(&prev), gids(&next));
        let joined: Vec<Gid> = new.difference(&old).copied().collect();
        let left: Vec<Gid> = old.difference(&new).copied().collect();
        match (joined.is_empty(), left.is_empty()) {
            (false, true) => check_join_moves(&prev, &next, &joined),
            (true, false) => check_leave_moves(&prev, &next, &left),
            (false, false) => panic!(
                "config {num} both adds {joined:?} and removes {left:?}: {prev:?} -> {next:?}"
            ),
            // Same groups: a Move, or a Join/Leave that changed nothing.
            (true, true) => {}
        }
        prev = next;
    }
    latest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(shards: [Gid; NSHARDS], gids: &[Gid]) -> Config {
        Config {
            num: 1,
            shards,
            groups: gids.iter().map(|&g| (g, vec![])).collect(),
        }
    }

    #[test]
    fn min_moves_counts_orphans_and_surplus() {
        let c0 = config([0; NSHARDS], &[]);
        assert_eq!(min_moves(&c0, &[1].into()), 10);
        assert_eq!(min_moves(&c0, &BTreeSet::new()), 0);
        let c1 = config([1, 1, 1, 1, 1, 2, 2, 2, 2, 2], &[1, 2]);
        // Join 3: 4/3/3 — three shards must reach group 3.
        assert_eq!(min_moves(&c1, &[1, 2, 3].into()), 3);
        // Leave 1: all five of its shards move.
        assert_eq!(min_moves(&c1, &[2].into()), 5);
        // Unbalanced start (after Moves): 8/2 → 5/5 moves 3.
        let c2 = config([1, 1, 1, 1, 1, 1, 1, 1, 2, 2], &[1, 2]);
        assert_eq!(min_moves(&c2, &[1, 2].into()), 3);
        // Ten groups of one shard each, five more join: nothing must move.
        let c3 = config([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], &[]);
        assert_eq!(min_moves(&c3, &(1..=15).collect()), 0);
    }

    #[test]
    fn join_check_rejects_moves_between_old_groups() {
        let before = config([1, 1, 1, 1, 1, 2, 2, 2, 2, 2], &[1, 2]);
        let good = config([3, 1, 1, 1, 1, 3, 3, 2, 2, 2], &[1, 2, 3]);
        check_join_moves(&before, &good, &[3]);
        let bad = config([3, 1, 1, 1, 2, 3, 3, 2, 2, 2], &[1, 2, 3]);
        let r = std::panic::catch_unwind(|| check_join_moves(&before, &bad, &[3]));
        assert!(r.is_err(), "shard 4 moved from 1 to 2 and was not caught");
        let wasteful = config([3, 3, 1, 1, 1, 3, 3, 2, 2, 2], &[1, 2, 3]);
        let r = std::panic::catch_unwind(|| check_join_moves(&before, &wasteful, &[3]));
        assert!(r.is_err(), "a non-minimal join was not caught");
    }

    #[test]
    fn leave_check_rejects_moves_between_remaining_groups() {
        let before = config([1, 1, 1, 2, 2, 2, 3, 3, 3, 3], &[1, 2, 3]);
        let good = config([2, 3, 2, 2, 2, 2, 3, 3, 3, 3], &[2, 3]);
        check_leave_moves(&before, &good, &[1]);
        let bad = config([2, 2, 2, 2, 2, 3, 3, 3, 3, 3], &[2, 3]);
        let r = std::panic::catch_unwind(|| check_leave_moves(&before, &bad, &[1]));
        assert!(r.is_err(), "shard 5 moved from 2 to 3 and was not caught");
    }
}
