//! The invariants: checks of one state, and checks of one transition.
//! A transition clones only the peers it touches (the others share their
//! `Rc` with the state before), so the transition checks skip the peers
//! whose `Rc` did not change.

use std::collections::BTreeSet;
use std::rc::Rc;

use super::state::{Effects, EntryText, Event, State};
use crate::core::log::Log;
use crate::core::{Apply, ConfChangeKind, Role};

/// A named safety property.
#[derive(Clone, Copy)]
pub struct Invariant {
    /// Its name, as counterexamples print it.
    pub name: &'static str,
    check: Check,
}

#[derive(Clone, Copy)]
enum Check {
    State(fn(&State) -> Option<String>),
    Step(fn(&State, &State, &Event, &Effects) -> Option<String>),
}

impl Invariant {
    /// A property of every reachable state; `check` explains a violation.
    pub fn state(name: &'static str, check: fn(&State) -> Option<String>) -> Invariant {
        Invariant {
            name,
            check: Check::State(check),
        }
    }

    /// A property of every transition (before, after, the event, its effects).
    pub fn step(
        name: &'static str,
        check: fn(&State, &State, &Event, &Effects) -> Option<String>,
    ) -> Invariant {
        Invariant {
            name,
            check: Check::Step(check),
        }
    }

    /// Checks the transition `before → after`; `Some(why)` on a violation.
    pub fn violated(
        &self,
        before: &State,
        after: &State,
        event: &Event,
        fx: &Effects,
    ) -> Option<String> {
        match self.check {
            Check::State(f) => f(after),
            Check::Step(f) => f(before, after, event, fx),
        }
    }

    /// Checks one state alone (step invariants hold vacuously).
    pub fn violated_at(&self, state: &State) -> Option<String> {
        match self.check {
            Check::State(f) => f(state),
            Check::Step(_) => None,
        }
    }

    /// Every invariant below.
    pub fn all() -> Vec<Invariant> {
        vec![
            Invariant::state("election safety", election_safety),
            Invariant::state("log matching", log_matching),
            Invariant::state("leader completeness", leader_completeness),
            Invariant::state("committed entries on a majority", committed_on_majority),
            Invariant::step("commit index monotonic", commit_monotonic),
            Invariant::step("persisted term and vote monotonic", persisted_monotonic),
            Invariant::step("snapshots only move forward", snapshot_forward),
            Invariant::state("one configuration change at a time", one_conf_change),
            Invariant::step("no proposals during a leader transfer", transfer_refuses),
            Invariant::step("storage holds the peer", storage_holds_peer),
        ]
    }
}

/// At most one leader per term, ever (§5.2).
fn election_safety(s: &State) -> Option<String> {
    let l = &s.history.leaders;
    l.windows(2)
        .find(|w| w[0].0 == w[1].0)
        .map(|w| format!("peers {} and {} both led term {}", w[0].1, w[1].1, w[0].0))
}

/// Two logs that hold an entry with the same index and term are identical
/// up to it (§5.3).
fn log_matching(s: &State) -> Option<String> {
    for (a, pa) in s.peers.iter().enumerate() {
        for (b, pb) in s.peers.iter().enumerate().skip(a + 1) {
            let (la, lb) = (&pa.core.log, &pb.core.log);
            let from = la.base().max(lb.base()) + 1;
            let to = la.last_index().min(lb.last_index());
            // Find the highest common index with equal terms; all below must match.
            let Some(top) = (from..=to).rev().find(|&i| la.term(i) == lb.term(i)) else {
                continue;
            };
            for i in from..=top {
                if la.get(i) != lb.get(i) {
                    return Some(format!(
                        "peers {a} and {b} agree on index {top}'s term but differ at index {i}"
                    ));
                }
            }
        }
    }
    None
}

/// A leader's log holds every entry committed in an earlier term (§5.4).
fn leader_completeness(s: &State) -> Option<String> {
    for (id, peer) in s.peers.iter().enumerate() {
        let core = &peer.core;
        if core.role != Role::Leader {
            continue;
        }
        for (slot, (entry, commit_term)) in s.history.applied.iter().enumerate() {
            let index = slot as u64 + 1;
            if *commit_term >= core.term || index <= core.log.base() {
                continue;
            }
            if core.log.get(index) != Some(entry) {
                return Some(format!(
                    "leader {id} of term {} lacks {} at index {index}, committed by term {commit_term}",
                    core.term,
                    EntryText(entry)
                ));
            }
        }
    }
    None
}

/// Every applied entry stays in the logs (or snapshots) of a majority:
/// what makes leader completeness hold for the next election.
fn committed_on_majority(s: &State) -> Option<String> {
    let n = s.peers.len();
    for (slot, (entry, _)) in s.history.applied.iter().enumerate() {
        let index = slot as u64 + 1;
        let holders = s
            .peers
            .iter()
            .filter(|p| {
                let log = &p.core.log;
                index <= log.base() || log.get(index) == Some(entry)
            })
            .count();
        if holders <= n / 2 {
            return Some(format!(
                "committed {} at index {index} is held by only {holders} of {n} peers",
                EntryText(entry)
            ));
        }
    }
    None
}

/// A peer's commit index never decreases, except that a restart forgets it.
fn commit_monotonic(before: &State, after: &State, event: &Event, _: &Effects) -> Option<String> {
    for (id, (b, a)) in before.peers.iter().zip(&after.peers).enumerate() {
        if Rc::ptr_eq(b, a) || matches!(event, Event::CrashRestart(p) if *p == id) {
            continue;
        }
        if a.core.commit_index < b.core.commit_index {
            return Some(format!(
                "peer {id}'s commit index went from {} to {}",
                b.core.commit_index, a.core.commit_index
            ));
        }
    }
    None
}

/// Persisted term never decreases; within a term, a persisted vote never changes.
fn persisted_monotonic(before: &State, after: &State, _: &Event, _: &Effects) -> Option<String> {
    for (id, (b, a)) in before.peers.iter().zip(&after.peers).enumerate() {
        if Rc::ptr_eq(b, a) {
            continue;
        }
        let ((bt, bv), (at, av)) = (b.persisted_hard, a.persisted_hard);
        if at < bt || (at == bt && bv.is_some() && av != bv) {
            return Some(format!(
                "peer {id} persisted term {at} vote {av:?} after term {bt} vote {bv:?}"
            ));
        }
    }
    None
}

/// A snapshot never moves a peer backwards: the log's base never
/// decreases, and an applied snapshot is never behind what was applied.
fn snapshot_forward(before: &State, after: &State, _: &Event, fx: &Effects) -> Option<String> {
    for (id, (b, a)) in before.peers.iter().zip(&after.peers).enumerate() {
        if !Rc::ptr_eq(b, a) && a.core.log.base() < b.core.log.base() {
            return Some(format!(
                "peer {id}'s snapshot went from index {} back to {}",
                b.core.log.base(),
                a.core.log.base()
            ));
        }
    }
    for (id, apply) in &fx.applied {
        if let Apply::Snapshot { index, .. } = apply
            && *index < before.peers[*id].core.last_applied
        {
            return Some(format!(
                "peer {id} applied a snapshot through {index} after applying through {}",
                before.peers[*id].core.last_applied
            ));
        }
    }
    None
}

/// A leader's log holds at most one configuration change past the
/// committed prefix: a new change may be proposed only once the last one is
/// applied (single-server changes keep every two majorities overlapping
/// only one step at a time; TinyKV 3A). The committed prefix is what any
/// peer has applied, not the leader's own commit index, which a restart
/// resets while what it had committed stays committed.
fn one_conf_change(s: &State) -> Option<String> {
    for (id, peer) in s.peers.iter().enumerate() {
        let core = &peer.core;
        if core.role != Role::Leader {
            continue;
        }
        let committed = core.commit_index.max(s.history.committed);
        let pending: Vec<u64> = (committed + 1..=core.log.last_index())
            .filter(|&i| {
                core.log
                    .get(i)
                    .is_some_and(|e| e.kind == crate::messages::EntryKind::ConfChange)
            })
            .collect();
        if pending.len() > 1 {
            return Some(format!(
                "leader {id} of term {} has unapplied configuration changes at indices {pending:?}",
                core.term
            ));
        }
    }
    None
}

/// A leader that is handing leadership over appends no new command: the
/// target it caught up must not fall behind again (TinyKV 3A).
fn transfer_refuses(before: &State, after: &State, event: &Event, _: &Effects) -> Option<String> {
    let Event::Propose(id) = event else {
        return None;
    };
    let (b, a) = (&before.peers[*id].core, &after.peers[*id].core);
    if b.lead_transferee.is_some() && a.log.last_index() > b.log.last_index() {
        return Some(format!(
            "leader {id} took a proposal at index {} while handing leadership to {}",
            a.log.last_index(),
            b.lead_transferee.unwrap_or_default()
        ));
    }
    None
}

/// What a peer persisted is the peer, as far as Raft needs it to survive a
/// crash: its term and log decode from the persisted state, its snapshot is
/// the persisted one, and its members are the configuration persisted with
/// the snapshot plus the changes it has applied since. A restart reads
/// storage alone, so this is what makes a restarted peer lose only what
/// Raft lets it lose (commit index, role, leader state) — and it is what
/// the state's hash assumes when it encodes the core's log, not the
/// persisted bytes. Checked for the peers a transition touched.
fn storage_holds_peer(before: &State, after: &State, _: &Event, _: &Effects) -> Option<String> {
    for (id, (b, a)) in before.peers.iter().zip(&after.peers).enumerate() {
        if Rc::ptr_eq(b, a) {
            continue;
        }
        let core = &a.core;
        if Rc::ptr_eq(&a.persisted, &b.persisted) {
            // Nothing persisted: nothing persistent may have changed (by
            // induction, `before` held, so this is the cheap check).
            if core.term != b.core.term || core.log != b.core.log {
                return Some(format!(
                    "peer {id}'s term or log changed in memory and was not persisted"
                ));
            }
        } else {
            let (term, vote, log) = match Log::decode_state(&a.persisted) {
                Ok(decoded) => decoded,
                Err(e) => return Some(format!("peer {id}'s persisted state does not decode: {e}")),
            };
            if (term, vote.map(|v| v as usize)) != a.persisted_hard || term != core.term {
                return Some(format!(
                    "peer {id} persisted term {term} vote {vote:?}, in memory term {}",
                    core.term
                ));
            }
            if log != core.log {
                return Some(format!(
                    "peer {id}'s persisted log differs from its log in memory"
                ));
            }
        }
        if *a.persisted_snapshot != *core.snapshot {
            return Some(format!(
                "peer {id}'s persisted snapshot differs from its snapshot in memory"
            ));
        }
        let applied = core.log.base() + 1..=core.last_applied;
        let mut changes = applied.filter_map(|i| core.log.get(i).and_then(|e| e.conf_change()));
        let Some(first) = changes.next() else {
            if !a.persisted_members.iter().eq(core.members.iter()) {
                return Some(format!(
                    "peer {id} has members {:?}; its storage gives {:?}",
                    core.members, a.persisted_members
                ));
            }
            continue;
        };
        let mut members: BTreeSet<usize> = a.persisted_members.iter().copied().collect();
        for change in std::iter::once(first).chain(changes) {
            match change.kind {
                ConfChangeKind::AddNode => members.insert(change.node as usize),
                ConfChangeKind::RemoveNode => members.remove(&(change.node as usize)),
            };
        }
        if members != core.members {
            return Some(format!(
                "peer {id} has members {:?}; its storage gives {members:?}",
                core.members
            ));
        }
    }
    None
}
