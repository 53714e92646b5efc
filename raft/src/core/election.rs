//! Leader election (§5.2) and the up-to-date rule for votes (§5.4.1).

use rand::RngExt;

use super::{Core, Request, Role};
use crate::messages::{RequestVoteArgs, RequestVoteReply};

impl Core {
    pub(crate) fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        self.election_timeout = self.rng.random_range(super::ELECTION_TICKS);
    }

    /// Steps down to follower in `term` (clearing the vote if the term is new).
    pub(crate) fn become_follower(&mut self, term: u64) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.persist();
        }
        if self.role != Role::Follower {
            tracing::debug!(node = self.me, term = self.term, "becomes follower");
        }
        self.role = Role::Follower;
    }

    pub(crate) fn start_election(&mut self) {
        // SOLUTION BEGIN 3A: elections — become a candidate, ask for votes, count them, and grant votes by the up-to-date rule (Figure 2, §5.2, §5.4.1)
        self.term += 1;
        self.role = Role::Candidate;
        self.voted_for = Some(self.me);
        self.votes = vec![false; self.n];
        self.votes[self.me] = true;
        self.persist();
        self.reset_election_timer();
        tracing::debug!(node = self.me, term = self.term, "starts election");
        if self.n == 1 {
            self.become_leader();
            return;
        }
        let args = RequestVoteArgs {
            term: self.term,
            candidate: self.me as u32,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        let me = self.me;
        for peer in (0..self.n).filter(|&p| p != me) {
            self.send(peer, Request::Vote(args.clone()));
        }
        // SOLUTION END
    }

    fn become_leader(&mut self) {
        // SOLUTION BEGIN 3A: take over as leader and start heartbeats
        tracing::debug!(
            node = self.me,
            term = self.term,
            last = self.log.last_index(),
            "becomes leader"
        );
        self.role = Role::Leader;
        let next = self.log.last_index() + 1;
        self.next_index = vec![next; self.n];
        self.match_index = vec![0; self.n];
        self.match_index[self.me] = self.log.last_index();
        self.in_flight = vec![None; self.n];
        self.heartbeat_elapsed = 0;
        self.broadcast_append(true);
        // SOLUTION END
    }

    /// Handles a vote request; the reply may be sent only after the ready's
    /// state is persisted.
    pub fn handle_request_vote(&mut self, args: &RequestVoteArgs) -> RequestVoteReply {
        // SOLUTION BEGIN 3A: RequestVote handler (Figure 2)
        if args.term > self.term {
            self.become_follower(args.term);
        }
        let candidate = args.candidate as usize;
        let up_to_date = (args.last_log_term, args.last_log_index)
            >= (self.log.last_term(), self.log.last_index());
        let grant = args.term == self.term
            && self.voted_for.is_none_or(|v| v == candidate)
            && up_to_date
            && candidate < self.n;
        if grant {
            self.voted_for = Some(candidate);
            self.persist();
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
    pub fn handle_request_vote_reply(
        &mut self,
        from: usize,
        args: &RequestVoteArgs,
        reply: &RequestVoteReply,
    ) {
        // SOLUTION BEGIN 3A: count a vote
        if reply.term > self.term {
            self.become_follower(reply.term);
            self.reset_election_timer();
            return;
        }
        if self.role != Role::Candidate
            || args.term != self.term
            || !reply.vote_granted
            || from >= self.n
        {
            return;
        }
        self.votes[from] = true;
        let votes = self.votes.iter().filter(|&&v| v).count();
        if votes * 2 > self.n {
            self.become_leader();
        }
        // SOLUTION END
    }
}
