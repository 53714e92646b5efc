//! A trace as a simulation log: the structured events the Raft driver and
//! the network log (`raft::event`, `labrpc::event`), one event per virtual
//! second, so `labtool timeline` draws a counterexample with the same
//! renderer as any failed run (roles and terms per peer, commit indices,
//! snapshots, crashes, and the spans a peer was cut off).

use std::fmt::Write;

use super::state::{Event, State};
use crate::core::{Core, Role};

/// One log line at `time` seconds.
fn line(log: &mut String, time: f64, target: &str, text: &str) {
    let _ = writeln!(log, "{time:>12.6}s DEBUG {target}: {text}");
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Follower => "follower",
        Role::Candidate => "candidate",
        Role::Leader => "leader",
    }
}

/// What changed at peer `id` between `before` (none: everything) and `after`.
pub(super) fn peer(log: &mut String, time: f64, id: usize, before: Option<&Core>, after: &Core) {
    let target = crate::node::EVENT_TARGET;
    let changed =
        |f: fn(&Core) -> (Role, u64, Option<usize>)| before.is_none_or(|b| f(b) != f(after));
    if changed(|c| (c.role, c.term, c.lead)) {
        let leader = after.lead.map_or(-1, |l| l as i64);
        let role = role_name(after.role);
        let term = after.term;
        line(
            log,
            time,
            target,
            &format!("event node={id} kind=role role={role} term={term} leader={leader}"),
        );
    }
    if before.is_none_or(|b| (b.term, b.commit_index) != (after.term, after.commit_index)) {
        let (term, commit) = (after.term, after.commit_index);
        line(
            log,
            time,
            target,
            &format!("event node={id} kind=state term={term} commit={commit}"),
        );
    }
    if before.is_some_and(|b| b.log.base() != after.log.base()) {
        let (term, index) = (after.term, after.log.base());
        line(
            log,
            time,
            target,
            &format!("event node={id} kind=snapshot term={term} index={index}"),
        );
    }
}

/// The lines of one step: the event itself, then what changed.
pub(super) fn step(log: &mut String, time: f64, before: &State, after: &State, event: &Event) {
    let text = event.to_string();
    let node = match event {
        Event::Deliver(p) | Event::Drop(p) => Some(p.to),
        Event::ElectionTimeout(p)
        | Event::Heartbeat(p)
        | Event::CrashRestart(p)
        | Event::Propose(p)
        | Event::Snapshot(p)
        | Event::ProposeConfChange(p, _)
        | Event::TransferLeader(p, _) => Some(*p),
        Event::Partition(_) | Event::Heal => None,
    };
    let node_field = node.map_or(String::new(), |n| format!(" node={n}"));
    line(
        log,
        time,
        "raft::search",
        &format!("step {time:.0}: {text}{node_field}"),
    );
    if let Event::CrashRestart(p) = event {
        let target = crate::node::EVENT_TARGET;
        line(
            log,
            time - 0.5,
            target,
            &format!("event node={p} kind=crash"),
        );
        let term = after.peers[*p].core.term;
        line(
            log,
            time,
            target,
            &format!("event node={p} kind=restart term={term}"),
        );
    }
    for (id, (b, a)) in before.peers.iter().zip(&after.peers).enumerate() {
        peer(log, time, id, Some(&b.core), &a.core);
    }
    let (was, now) = (before.history.cut, after.history.cut);
    for id in 0..after.peers.len() {
        let (cut_before, cut_now) = (was >> id & 1 == 1, now >> id & 1 == 1);
        if cut_before != cut_now {
            line(
                log,
                time,
                "labrpc::event",
                &format!(
                    "event kind=enable node={id} end=cut-{id} enabled={}",
                    !cut_now
                ),
            );
        }
    }
}

/// The violation, at the last step.
pub(super) fn violation(log: &mut String, time: f64, node: Option<usize>, text: &str) {
    let node_field = node.map_or(String::new(), |n| format!(" node={n}"));
    line(
        log,
        time,
        "raft::search",
        &format!("VIOLATED {text}{node_field}"),
    );
}
