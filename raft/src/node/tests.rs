//! The driver's own contracts, in a one-peer simulation.

use std::time::Duration;

use super::*;
use crate::core::log::Log;
use crate::messages::Entry;

/// A one-peer Raft whose persisted log holds `entry` at index 1 (term 1).
fn peer_with(entry: Entry) -> (Raft<String>, mpsc::Receiver<ApplyMsg<String>>) {
    let net = labrpc::Network::new();
    let persister = Persister::new();
    let mut log = Log::default();
    log.push(entry);
    persister.save_raft_state(log.encode_state(1, None));
    let (tx, rx) = mpsc::channel(16);
    let raft = Raft::make(vec![net.make_end("self")], 0, persister, tx).unwrap();
    (raft, rx)
}

/// Lets the lone peer elect itself, then commits a good command after the
/// persisted entry (a leader commits older entries with one of its own).
async fn lead_and_propose(raft: &Raft<String>) {
    while !raft.get_state().1 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(raft.start("good".to_string()).is_some());
}

#[test]
fn an_undecodable_committed_entry_stops_the_peer_with_a_typed_error() {
    labrpc::sim::run(|| async {
        // A one-byte string whose byte is not UTF-8: no String decodes from it.
        let (raft, mut rx) = peer_with(Entry::command(1, vec![1, 0xff]));
        lead_and_propose(&raft).await;
        // Nothing is applied — not index 2 after skipping 1 — and the
        // channel closes.
        assert_eq!(rx.recv().await, None);
        assert!(raft.is_killed());
        match raft.failure() {
            Some(Error::CorruptCommand {
                peer: 0, index: 1, ..
            }) => {}
            other => panic!("expected CorruptCommand at index 1, got {other:?}"),
        }
    });
}

#[test]
fn a_decodable_committed_entry_is_applied_in_order() {
    labrpc::sim::run(|| async {
        let (raft, mut rx) = peer_with(Entry::command(
            1,
            labrpc::encode(&"old".to_string()).unwrap(),
        ));
        lead_and_propose(&raft).await;
        for (index, text) in [(1, "old"), (2, "good")] {
            match rx.recv().await {
                Some(ApplyMsg::Command {
                    index: i, command, ..
                }) => {
                    assert_eq!((i, command.as_str()), (index, text));
                }
                other => panic!("expected command {index}, got {other:?}"),
            }
        }
        assert_eq!(raft.failure(), None);
        raft.kill();
    });
}

/// Services wait on `state_changed` instead of polling `get_state`: it
/// must fire on a change of role and when the peer is killed.
#[test]
fn state_changed_fires_on_leadership_and_on_kill() {
    labrpc::sim::run(|| async {
        let (raft, _rx) = peer_with(Entry::command(1, labrpc::encode(&"x".to_string()).unwrap()));
        let changed = raft.state_changed();
        assert!(!raft.get_state().1);
        // Nothing else wakes this task: without the notification it waits
        // until the simulation's time limit fails it.
        changed.await;
        let killed = raft.state_changed();
        assert!(raft.get_state().1, "woken before leading");
        raft.kill();
        killed.await;
        assert!(!raft.get_state().1);
    });
}
