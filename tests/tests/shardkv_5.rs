//! Lab 5A/5B — the sharded key/value store: the reference
//! `shardkv/test_test.go` scenarios with their parameters and bounds, plus
//! the two challenges.
//!
//! `cargo test -p tests --test shardkv_5` (filter with `5a`, `5b` or
//! `challenge`); a failure prints its seed and the command that replays it.

use std::time::Duration;

use labrpc::{rng, sim};
use shardkv::{Clerk, NSHARDS, key2shard};
use tests::shardkv::{
    Appenders, Config, check, check_all, check_and_append, count_completions, keys, put_keys,
    within,
};
use tokio::time::{Instant, sleep};

/// Replicas per group in every scenario.
const N: usize = 3;

/// Gets with one group dead complete for exactly half of the keys, and all once it is back.
#[test]
fn static_shards_5a() {
    sim::run(static_shards);
}

/// Servers refuse keys of shards they do not own even when a clerk's controller says otherwise.
#[test]
fn rejection_5a() {
    sim::run(rejection);
}

/// Data follows shards through a join and a leave; the group that left is no longer needed.
#[test]
fn join_leave_5b() {
    sim::run(join_leave);
}

/// Reconfigurations with snapshots keep logs bounded and survive restarting every group.
#[test]
fn snapshot_5b() {
    sim::run(snapshot);
}

/// Replicas down across several configuration changes catch up when restarted.
#[test]
fn miss_change_5b() {
    sim::run(miss_change);
}

/// Appends during joins, leaves and whole-group restarts are neither lost nor duplicated.
#[test]
fn concurrent1_5b() {
    sim::run(concurrent1);
}

/// Appends through leave/join cycles and two groups down for a second.
#[test]
fn concurrent2_5b() {
    sim::run(concurrent2);
}

/// Appends while configurations change and every group restarts, for 12 s.
#[test]
fn concurrent3_5b() {
    sim::run(concurrent3);
}

/// Reads and appends through reconfigurations on an unreliable network.
#[test]
fn unreliable1_5b() {
    sim::run(unreliable1);
}

/// Concurrent appends through reconfigurations on an unreliable network.
#[test]
fn unreliable2_5b() {
    sim::run(unreliable2);
}

/// Random Gets, Puts and Appends through reconfigurations, unreliable; the history must be linearizable.
#[test]
fn unreliable3_5b() {
    sim::run(tests::shardkv::unreliable3);
}

/// Challenge 1: a shard's data is deleted from its old owner, so persisted bytes stay bounded.
#[test]
fn challenge1_delete() {
    sim::run(tests::shardkv::challenge1_delete);
}

/// Challenge 2: shards a reconfiguration does not move are served while it is stuck.
#[test]
fn challenge2_unaffected() {
    sim::run(challenge2_unaffected_scenario);
}

/// Challenge 2: a shard whose data has arrived is served while others of its configuration are stuck.
#[test]
fn challenge2_partial() {
    sim::run(challenge2_partial_scenario);
}

// Seeds that failed in CI before three fixes: in-flight RPCs and killed
// servers woke in an order tokio's unseeded RNG chose (labrpc, raft, rsm),
// a source group counted a delete as done before reaching its
// configuration, and a group restarted as a whole never committed its
// earlier-term entries (rsm now proposes a no-op per leader term). The code
// has changed since, so these no longer replay those exact executions; they
// stay as pinned cases of the scenarios that failed.

/// CI seed 863688665: persisted bytes exceeded the bound (data never deleted).
#[test]
fn challenge1_delete_seed_863688665() {
    sim::Sim::new()
        .seed(863_688_665)
        .run(tests::shardkv::challenge1_delete);
}

/// CI seed 408948646: ran past the 120 s virtual limit.
#[test]
fn concurrent2_seed_408948646_5b() {
    sim::Sim::new().seed(408_948_646).run(concurrent2);
}

/// CI seed 417893838: ran past the 120 s virtual limit.
#[test]
fn concurrent3_seed_417893838_5b() {
    sim::Sim::new().seed(417_893_838).run(concurrent3);
}

/// CI seed 476142708: ran past the 120 s virtual limit.
#[test]
fn unreliable3_seed_476142708_5b() {
    sim::Sim::new()
        .seed(476_142_708)
        .run(tests::shardkv::unreliable3);
}

/// One seed, one execution: the scenario with the most kills, restarts and
/// migrations, run twice with one seed, leaves the same network digest
/// (every RPC's time, end, method and outcome); another seed does not.
#[test]
fn deterministic_replay_5b() {
    let run = |seed| {
        sim::Sim::new().seed(seed).run(|| async {
            concurrent3().await;
            sim::digest()
        })
    };
    let first = run(5);
    assert_eq!(run(5), first, "two runs with seed 5 diverged");
    assert_ne!(run(6), first, "the seed does not influence the run");
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---------------------------------------------------------------------------
// The scenarios.

/// Reference `TestStaticShards5A`: join 0 and 1; with group 1 down (and no
/// snapshots allowed), 10 fresh clerks' Gets: exactly 5 complete; restart
/// group 1 and everything reads back.
async fn static_shards() {
    let cfg = Config::new(N, false, None);
    cfg.begin("Test (5A): static shards ...");
    let mut ck = cfg.make_client();
    cfg.join(0).await;
    cfg.join(1).await;
    let n = 10;
    let (ka, va) = put_keys(&mut ck, n, 20).await;
    check_all(&mut ck, &ka, &va).await;

    // The data really is sharded: with one group down, only its shards stall.
    cfg.shutdown_group(1);
    cfg.checklogs(); // forbids snapshots
    let clerks = (0..n).map(|_| cfg.make_client()).collect();
    let done = count_completions(clerks, &ka, &va).await;
    assert_eq!(
        done,
        n / 2,
        "expected {} completions with one shard dead; got {done}",
        n / 2
    );

    cfg.start_group(1);
    check_all(&mut ck, &ka, &va).await;
    cfg.end();
}

/// Reference `TestRejection5A`: join 0 and 1; clerks that ask a second
/// controller service, where only group 0 has joined, send every key to
/// group 0, which must answer exactly its own 5 shards and refuse the rest.
async fn rejection() {
    let cfg = Config::new(N, false, None);
    cfg.begin("Test (5A): rejection ...");
    let mut ck = cfg.make_client();
    cfg.join(0).await;
    cfg.join(1).await;
    let n = 10;
    let (ka, va) = put_keys(&mut ck, n, 20).await;
    check_all(&mut ck, &ka, &va).await;

    let ctl1 = cfg.start_ctrlers();
    ctl1.clerk()
        .join(cfg.group_servers(&[0]))
        .await
        .expect("the second controller refused group 0's Join");
    let clerks = (0..n).map(|_| cfg.make_client_with(&ctl1)).collect();
    let done = count_completions(clerks, &ka, &va).await;
    assert_eq!(
        done,
        n / 2,
        "expected {} completions, since group {} owns only half the shards; got {done}",
        n / 2,
        cfg.gid(0)
    );
    cfg.end();
}

/// Reference `TestJoinLeave5B`.
async fn join_leave() {
    let cfg = Config::new(N, false, None);
    cfg.begin("Test (5B): join then leave ...");
    let mut ck = cfg.make_client();
    cfg.join(0).await;
    let (ka, mut va) = put_keys(&mut ck, 10, 5).await;
    check_all(&mut ck, &ka, &va).await;
    cfg.join(1).await;
    check_and_append(&mut ck, &ka, &mut va, 5).await;
    cfg.leave(0).await;
    check_and_append(&mut ck, &ka, &mut va, 5).await;

    // Allow time for shards to transfer.
    sleep(Duration::from_secs(1)).await;
    cfg.checklogs();
    cfg.shutdown_group(0);
    check_all(&mut ck, &ka, &va).await;
    cfg.end();
}

/// Reference `TestSnapshot5B` (max_raft_state 1000).
async fn snapshot() {
    let cfg = Config::new(N, false, Some(1000));
    cfg.begin("Test (5B): snapshots, join, and leave ...");
    let mut ck = cfg.make_client();
    cfg.join(0).await;
    let (ka, mut va) = put_keys(&mut ck, 30, 20).await;
    check_all(&mut ck, &ka, &va).await;
    cfg.join(1).await;
    cfg.join(2).await;
    cfg.leave(0).await;
    check_and_append(&mut ck, &ka, &mut va, 20).await;
    cfg.leave(1).await;
    cfg.join(0).await;
    check_and_append(&mut ck, &ka, &mut va, 20).await;
    sleep(Duration::from_secs(1)).await;
    check_all(&mut ck, &ka, &va).await;
    sleep(Duration::from_secs(1)).await;
    cfg.checklogs();

    for gi in 0..3 {
        cfg.shutdown_group(gi);
    }
    for gi in 0..3 {
        cfg.start_group(gi);
    }
    check_all(&mut ck, &ka, &va).await;
    cfg.end();
}

/// Reference `TestMissChange5B` (max_raft_state 1000).
async fn miss_change() {
    let cfg = Config::new(N, false, Some(1000));
    cfg.begin("Test (5B): servers miss configuration changes...");
    let mut ck = cfg.make_client();
    cfg.join(0).await;
    let (ka, mut va) = put_keys(&mut ck, 10, 20).await;
    check_all(&mut ck, &ka, &va).await;
    cfg.join(1).await;

    // Replica 0 of every group misses four changes.
    for gi in 0..3 {
        cfg.shutdown_server(gi, 0);
    }
    cfg.join(2).await;
    cfg.leave(1).await;
    cfg.leave(0).await;
    check_and_append(&mut ck, &ka, &mut va, 20).await;
    cfg.join(1).await;
    check_and_append(&mut ck, &ka, &mut va, 20).await;
    for gi in 0..3 {
        cfg.start_server(gi, 0);
    }
    check_and_append(&mut ck, &ka, &mut va, 20).await;

    // Then replica 1 of every group misses two more.
    sleep(Duration::from_secs(2)).await;
    for gi in 0..3 {
        cfg.shutdown_server(gi, 1);
    }
    cfg.join(0).await;
    cfg.leave(2).await;
    check_and_append(&mut ck, &ka, &mut va, 20).await;
    for gi in 0..3 {
        cfg.start_server(gi, 1);
    }
    check_all(&mut ck, &ka, &va).await;
    cfg.end();
}

/// Reference `TestConcurrent1_5B` (max_raft_state 100): 10 appenders every
/// 10 ms through joins, a leave, every group shut down and restarted.
async fn concurrent1() {
    let cfg = Config::new(N, false, Some(100));
    cfg.begin("Test (5B): concurrent puts and configuration changes...");
    let mut ck = cfg.make_client();
    cfg.join(0).await;
    let (ka, va) = put_keys(&mut ck, 10, 5).await;
    let appenders = Appenders::start(&cfg, &ka, &va, 5, Some(ms(10)));

    sleep(ms(150)).await;
    cfg.join(1).await;
    sleep(ms(500)).await;
    cfg.join(2).await;
    sleep(ms(500)).await;
    cfg.leave(0).await;
    cfg.shutdown_group(0);
    sleep(ms(100)).await;
    cfg.shutdown_group(1);
    sleep(ms(100)).await;
    cfg.shutdown_group(2);
    cfg.leave(2).await;
    sleep(ms(100)).await;
    cfg.start_group(0);
    cfg.start_group(1);
    cfg.start_group(2);
    sleep(ms(100)).await;
    cfg.join(0).await;
    cfg.leave(1).await;
    sleep(ms(500)).await;
    cfg.join(1).await;
    sleep(Duration::from_secs(1)).await;

    let va = appenders.stop().await;
    check_all(&mut ck, &ka, &va).await;
    cfg.end();
}

/// Reference `TestConcurrent2_5B`: appenders every 50 ms through leave/join
/// cycles 3 s apart and groups 1 and 2 down for a second.
async fn concurrent2() {
    let cfg = Config::new(N, false, None);
    cfg.begin("Test (5B): more concurrent puts and configuration changes...");
    let mut ck = cfg.make_client();
    cfg.join(1).await;
    cfg.join(0).await;
    cfg.join(2).await;
    let (ka, va) = put_keys(&mut ck, 10, 1).await;
    let appenders = Appenders::start(&cfg, &ka, &va, 1, Some(ms(50)));

    cfg.leave(0).await;
    cfg.leave(2).await;
    sleep(ms(3000)).await;
    cfg.join(0).await;
    cfg.join(2).await;
    cfg.leave(1).await;
    sleep(ms(3000)).await;
    cfg.join(1).await;
    cfg.leave(0).await;
    cfg.leave(2).await;
    sleep(ms(3000)).await;
    cfg.shutdown_group(1);
    cfg.shutdown_group(2);
    sleep(ms(1000)).await;
    cfg.start_group(1);
    cfg.start_group(2);
    sleep(Duration::from_secs(2)).await;

    let va = appenders.stop().await;
    check_all(&mut ck, &ka, &va).await;
    cfg.end();
}

/// Reference `TestConcurrent3_5B` (max_raft_state 300): back-to-back
/// appenders while, for 12 s, groups join, every group restarts, groups
/// leave, with random pauses of 0–899 ms.
async fn concurrent3() {
    let cfg = Config::new(N, false, Some(300));
    cfg.begin("Test (5B): concurrent configuration change and restart...");
    let mut ck = cfg.make_client();
    cfg.join(0).await;
    let (ka, va) = put_keys(&mut ck, 10, 1).await;
    let appenders = Appenders::start(&cfg, &ka, &va, 1, None);

    let random_pause = || sleep(ms(rng::range(0..900)));
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(12) {
        cfg.join(2).await;
        cfg.join(1).await;
        random_pause().await;
        for gi in 0..3 {
            cfg.shutdown_group(gi);
        }
        for gi in 0..3 {
            cfg.start_group(gi);
        }
        random_pause().await;
        cfg.leave(1).await;
        cfg.leave(2).await;
        random_pause().await;
    }
    sleep(Duration::from_secs(2)).await;

    let va = appenders.stop().await;
    check_all(&mut ck, &ka, &va).await;
    cfg.end();
}

/// Reference `TestUnreliable1_5B` (max_raft_state 100, unreliable).
async fn unreliable1() {
    let cfg = Config::new(N, true, Some(100));
    cfg.begin("Test (5B): unreliable 1...");
    let mut ck = cfg.make_client();
    cfg.join(0).await;
    let n = 10;
    let (ka, mut va) = put_keys(&mut ck, n, 5).await;
    cfg.join(1).await;
    cfg.join(2).await;
    cfg.leave(0).await;
    for ii in 0..n * 2 {
        let i = ii % n;
        check(&mut ck, &ka[i], &va[i]).await;
        let x = rng::string(5);
        ck.append(&ka[i], &x).await;
        va[i].push_str(&x);
    }
    cfg.join(0).await;
    cfg.leave(1).await;
    for ii in 0..n * 2 {
        let i = ii % n;
        check(&mut ck, &ka[i], &va[i]).await;
    }
    cfg.end();
}

/// Reference `TestUnreliable2_5B` (max_raft_state 100, unreliable):
/// back-to-back appenders through the schedule; then reliable, and check.
async fn unreliable2() {
    let cfg = Config::new(N, true, Some(100));
    cfg.begin("Test (5B): unreliable 2...");
    let mut ck = cfg.make_client();
    cfg.join(0).await;
    let (ka, va) = put_keys(&mut ck, 10, 5).await;
    let appenders = Appenders::start(&cfg, &ka, &va, 5, None);
    tests::shardkv::unreliable_schedule(&cfg).await;
    cfg.set_unreliable(false);
    let va = appenders.stop().await;
    check_all(&mut ck, &ka, &va).await;
    cfg.end();
}

/// How long one challenge-2 operation may take. The reference has no bound
/// beyond its test timeout; an operation that is served at all completes in
/// well under a second here, so 20 s only turns a hang into a clear failure.
const CHALLENGE2_OP_LIMIT: Duration = Duration::from_secs(20);

/// Get, Put `value-suffix`, Get on `key`, each within [`CHALLENGE2_OP_LIMIT`].
async fn check_put_check(ck: &mut Clerk, key: &str, value: &str, suffix: &str, why: &str) {
    let what = format!("Get({key}) ({why})");
    within(CHALLENGE2_OP_LIMIT, &what, check(ck, key, value)).await;
    let new = format!("{value}{suffix}");
    let what = format!("Put({key}) ({why})");
    within(CHALLENGE2_OP_LIMIT, &what, ck.put(key, &new)).await;
    let what = format!("Get({key}) after the Put ({why})");
    within(CHALLENGE2_OP_LIMIT, &what, check(ck, key, &new)).await;
}

/// Reference `TestChallenge2Unaffected` (max_raft_state 100, unreliable):
/// join 100, then 101; after 101's shards have arrived and been written,
/// kill 100 and make it leave. 101 can never get 100's shards, but must keep
/// serving the ones it already had.
async fn challenge2_unaffected_scenario() {
    let cfg = Config::new(N, true, Some(100));
    cfg.begin("Test: unaffected shard access (challenge 2) ...");
    let mut ck = cfg.make_client();
    cfg.join(0).await;
    let n = 10;
    let ka = keys(n);
    let mut va = vec!["100".to_string(); n];
    for (k, v) in ka.iter().zip(&va) {
        ck.put(k, v).await;
    }

    cfg.join(1).await;
    let c = cfg.query(-1).await;
    let owned: Vec<bool> = (0..NSHARDS).map(|s| c.shards[s] == cfg.gid(1)).collect();

    // Let the migration finish and clerks learn the new configuration.
    sleep(Duration::from_secs(1)).await;
    // The reference indexes `owned` by key number here but by shard below;
    // we use the key's shard in both places.
    for (k, v) in ka.iter().zip(va.iter_mut()) {
        if owned[key2shard(k)] {
            *v = "101".to_string();
            ck.put(k, v).await;
        }
    }

    cfg.shutdown_group(0);
    cfg.leave(0).await; // 101 cannot get 100's shards now
    sleep(Duration::from_secs(1)).await;

    for (k, v) in ka.iter().zip(&va) {
        if owned[key2shard(k)] {
            check_put_check(&mut ck, k, v, "-1", "a shard 101 already owned").await;
        }
    }
    cfg.end();
}

/// Reference `TestChallenge2Partial` (max_raft_state 100, unreliable): join
/// 100, 101, 102 at once; kill 100 and make 100 and 102 leave. 101 gets
/// 102's shards but never 100's, and must serve the ones that arrived.
async fn challenge2_partial_scenario() {
    let cfg = Config::new(N, true, Some(100));
    cfg.begin("Test: partial migration shard access (challenge 2) ...");
    let mut ck = cfg.make_client();
    cfg.joinm(&[0, 1, 2]).await;
    // Give the implementation some time to reconfigure.
    sleep(Duration::from_secs(1)).await;

    let n = 10;
    let ka = keys(n);
    let va = vec!["100".to_string(); n];
    for (k, v) in ka.iter().zip(&va) {
        ck.put(k, v).await;
    }
    let c = cfg.query(-1).await;
    let owned: Vec<bool> = (0..NSHARDS).map(|s| c.shards[s] == cfg.gid(2)).collect();

    cfg.shutdown_group(0);
    // 101 can get 102's shards, but not 100's.
    cfg.leavem(&[0, 2]).await;
    sleep(Duration::from_secs(1)).await;

    for (k, v) in ka.iter().zip(&va) {
        if owned[key2shard(k)] {
            check_put_check(&mut ck, k, v, "-2", "a shard 101 got from 102").await;
        }
    }
    cfg.end();
}
