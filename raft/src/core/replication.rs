//! Log replication (§5.3), the commit rule (§5.4.2) and the accelerated
//! log back-up with XTerm / XIndex / XLen.

use super::{Core, MAX_ENTRIES_PER_APPEND, Request, Role};
use crate::messages::{AppendEntriesArgs, AppendEntriesReply};

impl Core {
    /// Sends AppendEntries (or the snapshot) to every follower: all of them on
    /// a heartbeat, otherwise only those without an outstanding request.
    pub(crate) fn broadcast_append(&mut self, heartbeat: bool) {
        let me = self.me;
        for peer in (0..self.n).filter(|&p| p != me) {
            if heartbeat || !self.in_flight[peer] {
                self.send_append(peer);
            }
        }
    }

    /// Sends `peer` what it is missing from `next_index` on.
    pub(crate) fn send_append(&mut self, peer: usize) {
        // SOLUTION BEGIN 3A: send AppendEntries (heartbeats in 3A, entries in 3B)
        let next = self.next_index[peer].max(1);
        if next <= self.log.base() {
            self.send_snapshot(peer);
            return;
        }
        let prev_log_index = next - 1;
        let prev_log_term = self.log.term(prev_log_index).unwrap_or(0);
        let args = AppendEntriesArgs {
            term: self.term,
            leader: self.me as u32,
            prev_log_index,
            prev_log_term,
            entries: self.log.slice_from(next, MAX_ENTRIES_PER_APPEND),
            leader_commit: self.commit_index,
        };
        self.in_flight[peer] = true;
        self.send(peer, Request::Append(args));
        // SOLUTION END
    }

    /// Handles AppendEntries from a leader; persist the ready before replying.
    pub fn handle_append_entries(&mut self, args: &AppendEntriesArgs) -> AppendEntriesReply {
        // SOLUTION BEGIN 3A: AppendEntries handler (heartbeats in 3A; log matching, conflicts and commit in 3B)
        let mut reply = AppendEntriesReply {
            term: self.term,
            ..Default::default()
        };
        if args.term < self.term {
            return reply;
        }
        self.become_follower(args.term);
        self.reset_election_timer();
        reply.term = self.term;

        // Entries the snapshot already covers are committed: skip them.
        let mut prev = args.prev_log_index;
        let mut entries = &args.entries[..];
        if prev < self.log.base() {
            let covered = (self.log.base() - prev) as usize;
            if covered >= entries.len() {
                reply.success = true;
                return reply;
            }
            entries = &entries[covered..];
            prev = self.log.base();
        } else if prev > self.log.last_index() {
            reply.conflict_term = None;
            reply.log_len = self.log.last_index() + 1;
            return reply;
        } else if self.log.term(prev) != Some(args.prev_log_term) {
            reply.conflict_term = self.log.term(prev);
            reply.conflict_index = self.log.first_index_of_term(prev);
            reply.log_len = self.log.last_index() + 1;
            return reply;
        }

        for (i, entry) in entries.iter().enumerate() {
            let index = prev + 1 + i as u64;
            match self.log.term(index) {
                Some(term) if term == entry.term => continue,
                Some(_) => {
                    // A conflicting suffix can never be committed: drop it.
                    self.log.truncate_from(index);
                    for e in &entries[i..] {
                        self.log.push(e.clone());
                    }
                    self.persist();
                    break;
                }
                None => {
                    for e in &entries[i..] {
                        self.log.push(e.clone());
                    }
                    self.persist();
                    break;
                }
            }
        }

        let last_new = prev + entries.len() as u64;
        if args.leader_commit > self.commit_index {
            self.commit_index = args.leader_commit.min(last_new).max(self.commit_index);
            self.queue_applies();
        }
        reply.success = true;
        reply
        // SOLUTION END
    }

    /// Handles the reply to an AppendEntries this peer sent as leader.
    pub fn handle_append_entries_reply(
        &mut self,
        peer: usize,
        args: &AppendEntriesArgs,
        reply: &AppendEntriesReply,
    ) {
        // SOLUTION BEGIN 3A: step down on a higher term (3A); update nextIndex/matchIndex and back up fast with XTerm/XIndex/XLen (3B)
        if reply.term > self.term {
            self.become_follower(reply.term);
            return;
        }
        if self.role != Role::Leader || args.term != self.term || peer >= self.n {
            return;
        }
        self.in_flight[peer] = false;
        if reply.success {
            let matched = args.prev_log_index + args.entries.len() as u64;
            self.match_index[peer] = self.match_index[peer].max(matched);
            self.next_index[peer] = self.next_index[peer].max(matched + 1);
            self.advance_commit();
        } else {
            let next = match reply.conflict_term {
                None => reply.log_len,
                Some(term) => match self.log.last_index_of_term(term) {
                    Some(last) => last + 1,
                    None => reply.conflict_index,
                },
            };
            // Never back up past what the peer is known to hold, nor to 0.
            self.next_index[peer] = next
                .max(self.match_index[peer] + 1)
                .max(1)
                .min(self.log.last_index() + 1);
        }
        if self.next_index[peer] <= self.log.last_index() {
            self.send_append(peer);
        }
        // SOLUTION END
    }

    /// Commits the highest index of the current term that a majority holds.
    pub(crate) fn advance_commit(&mut self) {
        // SOLUTION BEGIN 3B: commit the highest current-term index a majority holds (§5.4.2)
        let mut matched = self.match_index.clone();
        matched.sort_unstable();
        // The value a majority is at or above.
        let majority = matched[(self.n - 1) / 2];
        if majority > self.commit_index && self.log.term(majority) == Some(self.term) {
            self.commit_index = majority;
            tracing::debug!(
                node = self.me,
                term = self.term,
                commit = majority,
                "commits"
            );
            self.queue_applies();
        }
        // SOLUTION END
    }
}
