//! Log compaction (§7): service snapshots and InstallSnapshot.

use super::{Apply, Core, InFlight, Kind, Message, Role, Sent};
use crate::messages::{InstallSnapshotArgs, InstallSnapshotReply};

impl Core {
    /// The service has a snapshot of everything through `index`: trim the log.
    /// Ignored unless it moves the snapshot forward over applied entries.
    pub fn snapshot(&mut self, index: u64, data: Vec<u8>) {
        // SOLUTION BEGIN 3D: trim the log through index and keep the snapshot
        if index <= self.log.base() || index > self.last_applied {
            return;
        }
        self.log.compact_to(index);
        self.snapshot = data;
        self.snapshot_pending = true;
        tracing::debug!(node = self.me, term = self.term, index, "snapshot");
        // SOLUTION END
    }

    pub(crate) fn send_snapshot(&mut self, peer: usize) {
        // SOLUTION BEGIN 3D: send the whole snapshot
        let args = InstallSnapshotArgs {
            term: self.term,
            leader: self.me as u32,
            last_included_index: self.log.base(),
            last_included_term: self.log.base_term(),
            members: self.members.iter().map(|&m| m as u32).collect(),
            data: self.snapshot.clone(),
        };
        self.in_flight[peer] = Some(InFlight {
            prev_log_index: args.last_included_index,
            len: 0,
            snapshot: true,
            sent_at: self.now,
        });
        self.send(peer, Message::InstallSnapshot(args));
        // SOLUTION END
    }

    /// Handles a leader's snapshot; the reply leaves only after the ready
    /// is persisted.
    pub(crate) fn handle_install_snapshot(&mut self, from: usize, args: &InstallSnapshotArgs) {
        let sent = Sent {
            kind: Kind::Snapshot,
            term: args.term,
            index: args.last_included_index,
            len: 0,
        };
        let before = self.log.base();
        let reply = self.install_snapshot(args);
        let installed = self.log.base() > before && self.log.base() == args.last_included_index;
        if installed && !args.members.is_empty() {
            // The snapshot's configuration replaces ours.
            self.members = args.members.iter().map(|&m| m as usize).collect();
            if let Some(&max) = self.members.iter().next_back() {
                self.make_room(max);
            }
        }
        self.send(from, Message::InstallSnapshotReply(sent, reply));
    }

    fn install_snapshot(&mut self, args: &InstallSnapshotArgs) -> InstallSnapshotReply {
        // SOLUTION BEGIN 3D: InstallSnapshot handler; only ever move the service forward
        if args.term < self.term {
            return InstallSnapshotReply { term: self.term };
        }
        self.become_follower(args.term, Some(args.leader as usize));
        self.reset_election_timer();
        let index = args.last_included_index;
        // Only ever move the service forward.
        if index <= self.commit_index {
            return InstallSnapshotReply { term: self.term };
        }
        if self.log.term(index) == Some(args.last_included_term) {
            // Keep the entries that follow the snapshot.
            self.log.compact_to(index);
        } else {
            self.log.reset_to(index, args.last_included_term);
        }
        self.snapshot = args.data.clone();
        self.commit_index = index;
        self.last_applied = index;
        self.applies.push(Apply::Snapshot {
            index,
            term: args.last_included_term,
            data: args.data.clone(),
        });
        self.snapshot_pending = true;
        tracing::debug!(node = self.me, term = self.term, index, "installs snapshot");
        InstallSnapshotReply { term: self.term }
        // SOLUTION END
    }

    /// Handles the reply to an InstallSnapshot this peer sent as leader.
    pub(crate) fn handle_install_snapshot_reply(
        &mut self,
        peer: usize,
        sent: Sent,
        reply: &InstallSnapshotReply,
    ) {
        // SOLUTION BEGIN 3D: a follower has the snapshot
        // SKELETON: todo!("3D: a follower has the snapshot");
        if reply.term > self.term {
            self.become_follower(reply.term, None);
            return;
        }
        if self.role != Role::Leader || sent.term != self.term {
            return;
        }
        self.finish_flight(peer, sent.index, 0, true);
        self.match_index[peer] = self.match_index[peer].max(sent.index);
        self.next_index[peer] = self.next_index[peer].max(sent.index + 1);
        self.advance_commit();
        if self.in_flight[peer].is_none() && self.next_index[peer] <= self.log.last_index() {
            self.send_append(peer);
        }
        // SOLUTION END
        self.check_transfer(peer);
    }
}
