//! Log replication (§5.3), the commit rule (§5.4.2) and the accelerated
//! log back-up with XTerm / XIndex / XLen.
//!
//! Flow control: the leader keeps at most one request carrying entries (or
//! the snapshot) outstanding per follower — its `in_flight`. Its reply sends
//! the next batch at once, so a follower that keeps up is streamed to with
//! one request per batch, and entries proposed meanwhile ride in the next
//! batch instead of each starting its own request. Heartbeats during a
//! flight carry no entries. A flight ends with its reply, with its loss
//! (the driver reports failed calls), or, if the reply is merely slow, at
//! the first heartbeat a full heartbeat period after it left, which sends
//! the entries again.

use super::{Core, InFlight, Kind, Message, Role, Sent};
use crate::messages::{AppendEntriesArgs, AppendEntriesReply};

impl Core {
    /// On a heartbeat, reaches every follower: with what it is missing, or
    /// with an empty AppendEntries while a recent flight is outstanding.
    /// Otherwise (new entries) sends only to followers with no flight.
    pub(crate) fn broadcast_append(&mut self, heartbeat: bool) {
        for peer in self.others() {
            match self.in_flight[peer] {
                None => self.send_append(peer),
                Some(flight) if heartbeat => {
                    let period = u64::from(self.config.heartbeat_ticks);
                    if self.now.saturating_sub(flight.sent_at) >= period {
                        // Slow or lost without a word: send it again.
                        self.in_flight[peer] = None;
                        self.send_append(peer);
                    } else {
                        self.send_heartbeat(peer);
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// Sends `peer` what it is missing from `next_index` on; a request that
    /// carries entries or the snapshot becomes the peer's flight.
    pub(crate) fn send_append(&mut self, peer: usize) {
        // SOLUTION BEGIN 3A: send AppendEntries (heartbeats in 3A, entries in 3B)
        let next = self.next_index[peer].max(1);
        if next <= self.log.base() {
            self.send_snapshot(peer);
            return;
        }
        let args = self.append_args(next, self.config.max_entries_per_append);
        if !args.entries.is_empty() {
            self.in_flight[peer] = Some(InFlight {
                prev_log_index: args.prev_log_index,
                len: args.entries.len(),
                snapshot: false,
                sent_at: self.now,
            });
        }
        self.send(peer, Message::AppendEntries(args));
        // SOLUTION END
    }

    /// An AppendEntries without entries that keeps `peer` following while
    /// its flight is outstanding.
    pub(crate) fn send_heartbeat(&mut self, peer: usize) {
        let next = self.next_index[peer].clamp(self.log.base() + 1, self.log.last_index() + 1);
        let args = self.append_args(next, 0);
        self.send(peer, Message::AppendEntries(args));
    }

    /// AppendEntries for the entries from `next` on, at most `max` of them.
    fn append_args(&self, next: u64, max: usize) -> AppendEntriesArgs {
        let prev_log_index = next - 1;
        AppendEntriesArgs {
            term: self.term,
            leader: self.me as u32,
            prev_log_index,
            prev_log_term: self.log.term(prev_log_index).unwrap_or(0),
            entries: self.log.slice_from(next, max),
            leader_commit: self.commit_index,
        }
    }

    /// Ends `peer`'s flight if it is the one described.
    pub(crate) fn finish_flight(
        &mut self,
        peer: usize,
        prev_log_index: u64,
        len: usize,
        snapshot: bool,
    ) {
        if self.in_flight[peer].is_some_and(|f| {
            (f.prev_log_index, f.len, f.snapshot) == (prev_log_index, len, snapshot)
        }) {
            self.in_flight[peer] = None;
        }
    }

    /// Handles AppendEntries from a leader; the reply leaves only after the
    /// ready is persisted.
    pub(crate) fn handle_append_entries(&mut self, from: usize, args: &AppendEntriesArgs) {
        let sent = Sent {
            kind: Kind::Append,
            term: args.term,
            index: args.prev_log_index,
            len: args.entries.len(),
        };
        let reply = self.append_entries(args);
        self.send(from, Message::AppendEntriesReply(sent, reply));
    }

    fn append_entries(&mut self, args: &AppendEntriesArgs) -> AppendEntriesReply {
        // SOLUTION BEGIN 3A: AppendEntries handler (heartbeats in 3A; log matching, conflicts and commit in 3B)
        let mut reply = AppendEntriesReply {
            term: self.term,
            ..Default::default()
        };
        if args.term < self.term {
            return reply;
        }
        self.become_follower(args.term, Some(args.leader as usize));
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
                    break;
                }
                None => {
                    for e in &entries[i..] {
                        self.log.push(e.clone());
                    }
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
    pub(crate) fn handle_append_entries_reply(
        &mut self,
        peer: usize,
        sent: Sent,
        reply: &AppendEntriesReply,
    ) {
        // SOLUTION BEGIN 3A: step down on a higher term (3A); update nextIndex/matchIndex and back up fast with XTerm/XIndex/XLen (3B)
        // SKELETON: todo!("3A: step down on a higher term (3A); update nextIndex/matchIndex and back up fast with XTerm/XIndex/XLen (3B)");
        if reply.term > self.term {
            self.become_follower(reply.term, None);
            return;
        }
        if self.role != Role::Leader || sent.term != self.term {
            return;
        }
        self.finish_flight(peer, sent.index, sent.len, false);
        if reply.success {
            let matched = sent.index + sent.len as u64;
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
        if self.in_flight[peer].is_none() && self.next_index[peer] <= self.log.last_index() {
            self.send_append(peer);
        }
        // SOLUTION END
        self.check_transfer(peer);
    }

    /// A request got no reply. A lost replication flight is sent again by
    /// the next proposal or heartbeat; retrying at once would spin against
    /// a peer that is down.
    pub(crate) fn handle_unreachable(&mut self, peer: usize, sent: Sent) {
        if self.role != Role::Leader || sent.term != self.term {
            return;
        }
        match sent.kind {
            Kind::Append => self.finish_flight(peer, sent.index, sent.len, false),
            Kind::Snapshot => self.finish_flight(peer, sent.index, 0, true),
            Kind::Vote | Kind::TimeoutNow | Kind::TransferLeader => {}
        }
    }

    /// Commits the highest index of the current term that a majority holds.
    pub(crate) fn advance_commit(&mut self) {
        if self.role != Role::Leader || self.members.is_empty() {
            return;
        }
        // SOLUTION BEGIN 3B: commit the highest current-term index a majority holds (§5.4.2)
        let mut matched: Vec<u64> = self.members.iter().map(|&p| self.match_index[p]).collect();
        matched.sort_unstable_by(|a, b| b.cmp(a));
        // The value a majority is at or above.
        let majority = matched[self.quorum() - 1];
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
