//! Lab 5A — bad input to the shard controller: every malformed Join, Leave
//! or Move gets its [`CtrlerError`] back from the clerk (no endless retry),
//! and the latest configuration (`query(-1)`) is exactly what it was, on a
//! real three-replica cluster.
//!
//! `cargo test -p tests --test shardctrler_bad_input_5a`; a failure prints
//! its seed and the command that replays it.

use std::collections::BTreeMap;

use labrpc::sim;
use shardctrler::{Clerk, CtrlerError, Gid, NSHARDS};
use tests::shardctrler::{Config, check};

/// Controller replicas, as in the reference.
const NSERVERS: usize = 3;

/// One group for a Join.
fn group(gid: Gid, servers: &[&str]) -> BTreeMap<Gid, Vec<String>> {
    BTreeMap::from([(gid, servers.iter().map(|s| s.to_string()).collect())])
}

/// Groups 1 and 2 joined; returns a clerk and the configuration they made.
async fn two_groups(cfg: &Config) -> (Clerk, shardctrler::Config) {
    let mut ck = cfg.make_client();
    ck.join(group(1, &["x", "y", "z"]))
        .await
        .expect("valid join refused");
    ck.join(group(2, &["a", "b", "c"]))
        .await
        .expect("valid join refused");
    check(&mut ck, &[1, 2]).await;
    let latest = ck.query(-1).await;
    assert_eq!(latest.num, 2);
    (ck, latest)
}

/// Asserts that the latest configuration is still `before`.
async fn unchanged(ck: &mut Clerk, before: &shardctrler::Config, what: &str) {
    let now = ck.query(-1).await;
    assert_eq!(&now, before, "{what} changed the configuration");
}

/// Each bad Join, Leave and Move is refused with its reason and changes
/// nothing; a valid change afterwards still works.
#[test]
fn bad_input_is_refused_and_changes_nothing_5a() {
    sim::run(|| async {
        let cfg = Config::new(NSERVERS, false);
        cfg.begin("Bad input is refused and changes nothing");
        let (mut ck, before) = two_groups(&cfg).await;

        let r = ck.join(group(0, &["n"])).await;
        assert_eq!(r, Err(CtrlerError::JoinGidZero));
        unchanged(&mut ck, &before, "Join of gid 0").await;

        let mut zero_and_new = group(0, &["n"]);
        zero_and_new.extend(group(3, &["d"]));
        let r = ck.join(zero_and_new).await;
        assert_eq!(r, Err(CtrlerError::JoinGidZero));
        unchanged(&mut ck, &before, "Join of gids 0 and 3").await;

        let r = ck.join(group(2, &["other"])).await;
        assert_eq!(r, Err(CtrlerError::DuplicateGid(2)));
        unchanged(&mut ck, &before, "Join of a present gid").await;

        let r = ck.join(group(3, &[])).await;
        assert_eq!(r, Err(CtrlerError::EmptyGroup(3)));
        unchanged(&mut ck, &before, "Join without servers").await;

        let r = ck.leave(vec![7]).await;
        assert_eq!(r, Err(CtrlerError::UnknownGid(7)));
        unchanged(&mut ck, &before, "Leave of an unknown gid").await;

        let r = ck.leave(vec![1, 7]).await;
        assert_eq!(r, Err(CtrlerError::UnknownGid(7)));
        unchanged(&mut ck, &before, "Leave of a known and an unknown gid").await;

        let r = ck.move_shard(0, 7).await;
        assert_eq!(r, Err(CtrlerError::UnknownGid(7)));
        unchanged(&mut ck, &before, "Move to an unknown gid").await;

        let r = ck.move_shard(0, 0).await;
        assert_eq!(r, Err(CtrlerError::UnknownGid(0)));
        unchanged(&mut ck, &before, "Move to gid 0").await;

        let r = ck.move_shard(NSHARDS, 1).await;
        assert_eq!(r, Err(CtrlerError::ShardOutOfRange(NSHARDS)));
        unchanged(&mut ck, &before, "Move of a shard out of range").await;

        // The error says what was wrong.
        let msg = CtrlerError::ShardOutOfRange(NSHARDS).to_string();
        assert!(msg.contains("out of range"), "{msg}");

        // Another clerk sees the same, and valid changes still go through.
        let mut ck2 = cfg.make_client();
        unchanged(&mut ck2, &before, "a refused change").await;
        ck2.move_shard(0, 2).await.expect("valid move refused");
        let after = ck2.query(-1).await;
        assert_eq!(after.num, before.num + 1);
        assert_eq!(after.shards[0], 2);
        cfg.end();
    });
}

/// Under an unreliable network a refused change is retried until a leader
/// answers, and every retry gets the same refusal: the clerk returns the
/// error (it does not loop), and the refusal never turns into a change.
#[test]
fn bad_input_refused_on_unreliable_network_5a() {
    sim::run(|| async {
        let cfg = Config::new(NSERVERS, true);
        cfg.begin("Bad input refused on an unreliable network");
        let (mut ck, before) = two_groups(&cfg).await;
        for _ in 0..5 {
            assert_eq!(
                ck.join(group(1, &["x"])).await,
                Err(CtrlerError::DuplicateGid(1))
            );
            assert_eq!(ck.leave(vec![9]).await, Err(CtrlerError::UnknownGid(9)));
            assert_eq!(
                ck.move_shard(NSHARDS + 3, 2).await,
                Err(CtrlerError::ShardOutOfRange(NSHARDS + 3))
            );
        }
        unchanged(&mut ck, &before, "refused changes").await;
        // A valid Join retried over the lossy network is applied once and
        // reported as a success, not as a duplicate of itself.
        ck.join(group(3, &["d", "e", "f"]))
            .await
            .expect("valid join refused");
        check(&mut ck, &[1, 2, 3]).await;
        assert_eq!(ck.query(-1).await.num, before.num + 1);
        cfg.end();
    });
}

/// Refusals are decided from the replicated state, not by one replica:
/// after the leader that refused a change is shut down, the new leader
/// refuses the next bad change too, and the configuration is the same.
#[test]
fn bad_input_refusal_survives_leader_change_5a() {
    sim::run(|| async {
        let cfg = Config::new(NSERVERS, false);
        cfg.begin("Bad input refusal survives a leader change");
        let (mut ck, before) = two_groups(&cfg).await;
        assert_eq!(ck.leave(vec![5]).await, Err(CtrlerError::UnknownGid(5)));
        if let Some(leader) = cfg.leader() {
            cfg.shutdown_server(leader);
        }
        assert_eq!(ck.move_shard(3, 5).await, Err(CtrlerError::UnknownGid(5)));
        unchanged(&mut ck, &before, "refused changes across a leader change").await;
        cfg.end();
    });
}
