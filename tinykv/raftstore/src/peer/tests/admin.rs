//! Peer tests of 3B admin commands: bad input a lone peer refuses, and the
//! crash window between a split and its early peer's raft state.

use super::*;

/// Admin commands a one-peer region must refuse, changing nothing:
/// removing its last peer, a split into its own region id (also if it
/// reached the log: checked again at apply).
#[test]
fn a_lone_peer_refuses_its_removal_and_a_split_into_itself() {
    use crate::cmd::ChangeType;
    let mut c = Cluster::with_region(region_over(1, b"", b""), 5);
    let leader = c.elect();
    c.must_put(b"k", b"v");
    let before = c.peer(leader).region().clone();
    let remove = AdminRequest::ChangePeer {
        change_type: ChangeType::RemoveNode,
        peer: PeerMeta { id: 1, store_id: 1 },
    };
    let answer = c.request_on(leader, RaftCmdRequest::admin(c.header(leader), remove));
    assert!(
        matches!(answer.unwrap().result, Err(Error::InvalidAdmin { .. })),
        "removing the last peer"
    );
    let split = AdminRequest::Split {
        split_key: b"m".to_vec(),
        new_region_id: 1,
        new_peer_ids: vec![2],
    };
    let request = RaftCmdRequest::admin(c.header(leader), split);
    let answer = c.request_on(leader, request.clone());
    assert!(
        matches!(answer.unwrap().result, Err(Error::InvalidAdmin { .. })),
        "a split into itself"
    );
    // The same split put straight into the log is refused at apply.
    let peer = c.peers[(leader - 1) as usize].as_mut().unwrap();
    let (index, _) = peer.core.propose(cmd::encode(&request)).unwrap();
    c.rounds(3);
    let peer = c.peer(leader);
    assert!(peer.storage().applied_index() >= index);
    assert_eq!(peer.region(), &before);
    let persisted: Option<RegionLocalState> =
        read_record(c.kv(leader).as_ref(), &keys::region_state_key(1)).unwrap();
    assert_eq!(persisted.map(|state| state.region), Some(before));
    assert_eq!(c.must_get(b"k"), Some(b"v".to_vec()));
}

/// The crash window between a split's kv batch (the new region's state and
/// apply state) and the store's raft-state write for a peer of the new
/// region created early from a vote: a restart then opens the new region
/// over the early peer's raft state (its term and vote, an empty log),
/// which [`PeerStorage::new`] moves up to the split's initial index — the
/// very state the store would have written (the vote is kept: a second
/// candidate of that term is refused).
#[test]
fn a_crash_between_a_split_and_its_early_peers_raft_state_keeps_the_vote() {
    let mut c = Cluster::new(3, 13);
    let leader = c.elect();
    for k in [b"a", b"n"] {
        c.must_put(k, k);
    }
    let store = (leader % 3) + 1;
    let (raft, kv) = c.engines[(store - 1) as usize].clone();
    let me = PeerMeta {
        id: 100 + store,
        store_id: store,
    };
    // A candidate of region 100 (another store's peer, already split) asks
    // this store, which has not applied the split: an early peer votes.
    let mut early = Peer::create_uninitialised(
        me,
        100,
        raft.clone(),
        kv.clone(),
        PeerConfig::test(),
        SmallRng::seed_from_u64(1),
    )
    .unwrap();
    let vote = |candidate: u64| {
        Message::RequestVote(raft::RequestVoteArgs {
            term: 6,
            candidate: candidate as u32,
            last_log_index: crate::meta::RAFT_INIT_LOG_INDEX,
            last_log_term: crate::meta::RAFT_INIT_LOG_TERM,
        })
    };
    let granted = |messages: Vec<(u64, Message)>| {
        messages
            .into_iter()
            .any(|(_, m)| matches!(m, Message::RequestVoteReply(_, r) if r.vote_granted))
    };
    let first = if store == 1 { 102 } else { 101 };
    let second = 100 + (1..=3).find(|&s| s != store && 100 + s != first).unwrap();
    assert!(early.step(first, vote(first)));
    assert!(
        granted(early.handle_ready().unwrap()),
        "the early peer votes"
    );
    // The split applies everywhere (its kv batch), then the crash: the
    // early peer is gone and its raft state was not rewritten.
    let request = RaftCmdRequest::admin(
        c.header(leader),
        AdminRequest::Split {
            split_key: b"m".to_vec(),
            new_region_id: 100,
            new_peer_ids: vec![101, 102, 103],
        },
    );
    let answer = c
        .request_on(leader, request)
        .expect("the split is answered");
    assert!(answer.result.is_ok(), "split refused: {:?}", answer.result);
    c.rounds(5);
    drop(early);
    let state: RegionLocalState = read_record(kv.as_ref(), &keys::region_state_key(100))
        .unwrap()
        .expect("the split's batch holds the new region");
    let mut restarted = Peer::open_with(
        store,
        state.region,
        raft,
        kv,
        PeerConfig::test(),
        SmallRng::seed_from_u64(2),
    )
    .expect("the new region opens after the crash");
    // What the store writes for an early peer when no crash intervenes.
    let mut expected = crate::peer_storage::initial_raft_state();
    expected.hard_state.term = 6;
    expected.hard_state.vote = Some(first);
    assert_eq!(restarted.storage().raft_state(), &expected);
    assert_eq!(
        restarted.storage().applied_index(),
        crate::meta::RAFT_INIT_LOG_INDEX
    );
    assert_eq!(restarted.term(), 6);
    assert!(restarted.step(second, vote(second)));
    assert!(
        !granted(restarted.handle_ready().unwrap()),
        "a second vote in term 6"
    );
}
