//! Leader election (§5.2) and the up-to-date rule for votes (§5.4.1).

use rand::RngExt;

use super::{Core, Kind, Message, Role, Sent};
use crate::messages::{Entry, RequestVoteArgs, RequestVoteReply};

impl Core {
    pub(crate) fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        let et = self.config.election_ticks;
        self.election_timeout = self.rng.random_range(et..2 * et);
    }

    /// Steps down to follower in `term` (clearing the vote if the term is
    /// new), following `lead` if known.
    pub(crate) fn become_follower(&mut self, term: u64, lead: Option<usize>) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
        }
        if self.role != Role::Follower {
            tracing::debug!(node = self.me, term = self.term, "becomes follower");
        }
        self.role = Role::Follower;
        self.lead = lead;
        self.lead_transferee = None;
    }

    pub(crate) fn start_election(&mut self) {
        if !self.members.contains(&self.me) {
            // Not a member (removed, or not yet added): never stands.
            self.reset_election_timer();
            return;
        }
        // SOLUTION BEGIN 3A: elections — become a candidate, ask for votes, count them, and grant votes by the up-to-date rule (Figure 2, §5.2, §5.4.1)
        self.term += 1;
        self.role = Role::Candidate;
        self.lead = None;
        self.voted_for = Some(self.me);
        self.votes = vec![None; self.votes.len()];
        self.votes[self.me] = Some(true);
        self.reset_election_timer();
        tracing::debug!(node = self.me, term = self.term, "starts election");
        if self.quorum() <= 1 {
            self.become_leader();
            return;
        }
        let args = RequestVoteArgs {
            term: self.term,
            candidate: self.me as u32,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        for peer in self.others() {
            self.send(peer, Message::RequestVote(args.clone()));
        }
        // SOLUTION END
    }

    pub(crate) fn become_leader(&mut self) {
        // SOLUTION BEGIN 3A: take over as leader and start heartbeats
        // SKELETON: todo!("3A: take over as leader and start heartbeats");
        tracing::debug!(
            node = self.me,
            term = self.term,
            last = self.log.last_index(),
            "becomes leader"
        );
        self.role = Role::Leader;
        self.lead = Some(self.me);
        let next = self.log.last_index() + 1;
        self.next_index.fill(next);
        self.match_index.fill(0);
        self.in_flight.fill(None);
        self.heartbeat_elapsed = 0;
        // SOLUTION END
        self.lead_transferee = None;
        // Any change still in the log may be unapplied: wait for it (etcd).
        self.pending_conf_index = self.log.last_index();
        if self.config.noop_on_election {
            self.log.push(Entry::command(self.term, Vec::new()));
        }
        self.match_index[self.me] = self.log.last_index();
        self.broadcast_append(true);
        self.advance_commit();
    }

    /// Handles a vote request; the reply leaves only after the ready's
    /// state is persisted.
    pub(crate) fn handle_request_vote(&mut self, from: usize, args: &RequestVoteArgs) {
        let sent = Sent {
            kind: Kind::Vote,
            term: args.term,
            index: 0,
            len: 0,
        };
        let reply = self.request_vote(args);
        self.send(from, Message::RequestVoteReply(sent, reply));
    }

    fn request_vote(&mut self, args: &RequestVoteArgs) -> RequestVoteReply {
        // SOLUTION BEGIN 3A: RequestVote handler (Figure 2)
        if args.term > self.term {
            self.become_follower(args.term, None);
        }
        let candidate = args.candidate as usize;
        let up_to_date = (args.last_log_term, args.last_log_index)
            >= (self.log.last_term(), self.log.last_index());
        // A candidate this peer has never heard of gets no vote — unless the
        // peer has no configuration yet (a TinyKV peer created from its
        // first message, awaiting a snapshot): it must still vote, or a
        // region left with it as one of two voters never elects a leader;
        // or the configuration says to (`vote_for_non_members`: a voter
        // that has not applied the candidate's AddNode yet).
        let known = candidate < self.votes.len()
            || self.members.is_empty()
            || self.config.vote_for_non_members;
        let grant = args.term == self.term
            && self.voted_for.is_none_or(|v| v == candidate)
            && up_to_date
            && known;
        if grant {
            self.voted_for = Some(candidate);
            // Granting a vote defers our own candidacy (Figure 2, Followers).
            self.reset_election_timer();
            tracing::debug!(node = self.me, term = self.term, candidate, "grants vote");
        }
        RequestVoteReply {
            term: self.term,
            vote_granted: grant,
        }
        // SOLUTION END
    }

    /// Handles the reply to a vote request this peer sent.
    pub(crate) fn handle_request_vote_reply(
        &mut self,
        from: usize,
        sent: Sent,
        reply: &RequestVoteReply,
    ) {
        // SOLUTION BEGIN 3A: count a vote
        if reply.term > self.term {
            self.become_follower(reply.term, None);
            self.reset_election_timer();
            return;
        }
        if self.role != Role::Candidate || sent.term != self.term {
            return;
        }
        self.votes[from] = Some(reply.vote_granted);
        let count = |granted: bool| {
            self.members
                .iter()
                .filter(|&&p| self.votes[p] == Some(granted))
                .count()
        };
        let (granted, rejected) = (count(true), count(false));
        if granted >= self.quorum() {
            self.become_leader();
        } else if rejected >= self.quorum() {
            // This election is lost: wait for the winner, or time out again.
            self.become_follower(self.term, None);
        }
        // SOLUTION END
    }
}
