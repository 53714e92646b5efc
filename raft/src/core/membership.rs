//! Membership change and leader transfer (TinyKV project 3A).
//!
//! **Membership** changes one member at a time. A change is a log entry
//! ([`Core::propose_conf_change`]); it commits under the old configuration
//! and takes effect when the caller, handed it as a committed
//! [`Apply::ConfChange`](super::Apply::ConfChange), calls
//! [`Core::apply_conf_change`]. Only one unapplied change may sit in the
//! log. Quorums always count the current members; a leader that removes
//! itself steps down.
//!
//! **Leader transfer** ([`Core::transfer_leader`]): the leader catches the
//! target up, then sends it TimeoutNow, on which the target campaigns at
//! once (its term is higher, so it wins against an up-to-date log). While a
//! transfer is pending the leader accepts no proposals; it gives up after
//! an election timeout. A transfer to itself cancels a pending one; one to
//! a non-member is ignored; a follower forwards the request to its leader.

use serde::{Deserialize, Serialize};

use super::{Core, Message, Role};
use crate::messages::{Entry, EntryKind, TimeoutNowArgs, TransferLeaderArgs};

/// Add or remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfChangeKind {
    /// Make the peer a voting member.
    AddNode,
    /// Remove the peer from the members.
    RemoveNode,
}

/// One membership change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfChange {
    /// Add or remove.
    pub kind: ConfChangeKind,
    /// The peer.
    pub node: u32,
}

impl Core {
    /// Appends a membership change if this peer leads, no transfer is
    /// pending and no earlier change is unapplied; returns its (index, term).
    pub fn propose_conf_change(&mut self, change: ConfChange) -> Option<(u64, u64)> {
        // SOLUTION BEGIN p3a: append a configuration change; refuse while one is unapplied or a transfer is pending
        if self.role != Role::Leader
            || self.lead_transferee.is_some()
            || self.pending_conf_index > self.last_applied
        {
            return None;
        }
        let data = labrpc::encode(&change).ok()?;
        let index = self.log.push(Entry {
            term: self.term,
            kind: EntryKind::ConfChange,
            data,
        });
        self.pending_conf_index = index;
        self.match_index[self.me] = index;
        self.broadcast_append(false);
        self.advance_commit();
        Some((index, self.term))
        // SOLUTION END
    }

    /// Applies a committed membership change; returns the members after it.
    pub fn apply_conf_change(&mut self, change: &ConfChange) -> Vec<usize> {
        // SOLUTION BEGIN p3a: add or remove a member; a removed leader steps down, a smaller quorum may commit
        let node = change.node as usize;
        match change.kind {
            ConfChangeKind::AddNode => {
                self.make_room(node);
                if self.members.insert(node) {
                    self.next_index[node] = self.log.last_index() + 1;
                    self.match_index[node] = 0;
                    self.in_flight[node] = None;
                    self.votes[node] = None;
                }
            }
            ConfChangeKind::RemoveNode => {
                if self.members.remove(&node) {
                    if self.lead_transferee == Some(node) {
                        self.lead_transferee = None;
                    }
                    if node == self.me && self.role == Role::Leader {
                        self.become_follower(self.term, None);
                    } else {
                        // The quorum may have shrunk.
                        self.advance_commit();
                    }
                }
            }
        }
        // SOLUTION END
        self.members()
    }

    /// Asks for leadership to move to `target`: handled by a leader,
    /// forwarded to the leader by a follower that knows one.
    pub fn transfer_leader(&mut self, target: usize) {
        // SOLUTION BEGIN p3a: leader transfer — forward to the leader; ignore self or non-members; catch the target up, then TimeoutNow
        if self.role != Role::Leader {
            if let Some(lead) = self.lead.filter(|&l| l != self.me) {
                let args = TransferLeaderArgs {
                    target: target as u32,
                };
                self.send(lead, Message::TransferLeader(args));
            }
            return;
        }
        if target == self.me {
            self.lead_transferee = None;
            return;
        }
        if !self.members.contains(&target) {
            return;
        }
        tracing::debug!(
            node = self.me,
            term = self.term,
            target,
            "transfers leadership"
        );
        self.lead_transferee = Some(target);
        self.transfer_elapsed = 0;
        if self.match_index[target] == self.log.last_index() {
            self.send_timeout_now(target);
        } else if self.in_flight[target].is_none() {
            self.send_append(target);
        }
        // SOLUTION END
    }

    /// After `peer` acknowledged entries or a snapshot: if it is the
    /// transfer target and has caught up, tell it to campaign.
    pub(crate) fn check_transfer(&mut self, peer: usize) {
        if self.role != Role::Leader || self.lead_transferee != Some(peer) {
            return;
        }
        // SOLUTION BEGIN p3a: the target has caught up: tell it to campaign
        if self.match_index[peer] == self.log.last_index() {
            self.send_timeout_now(peer);
        }
        // SOLUTION END
    }

    fn send_timeout_now(&mut self, target: usize) {
        let args = TimeoutNowArgs {
            term: self.term,
            leader: self.me as u32,
        };
        self.send(target, Message::TimeoutNow(args));
    }

    /// The leader hands over: campaign now, if still a member.
    pub(crate) fn handle_timeout_now(&mut self, _from: usize, args: &TimeoutNowArgs) {
        // SOLUTION BEGIN p3a: TimeoutNow — a member campaigns at once
        if args.term < self.term || self.role == Role::Leader || !self.members.contains(&self.me) {
            return;
        }
        tracing::debug!(node = self.me, term = self.term, "told to campaign");
        self.start_election();
        // SOLUTION END
    }
}
