//! The scenarios that do not fit `GenericTest`, as the reference writes
//! them in `kvraft/test_test.go`.

use std::time::Duration;

use tokio::task::JoinHandle;

use super::config::Config;
use super::generic::{check_concurrent_appends, client_value};
use super::{Client, ELECTION_TIMEOUT, MAX_SNAPSHOT_STATE};

/// After the partition heals, the stalled minority operations must finish
/// within this long (the reference's 30 × 100 ms).
const HEAL_COMPLETION: Duration = Duration::from_millis(3000);

/// Gets `key` through `ck` (counted) and checks it holds `value`.
async fn check(ck: &mut Client, key: &str, value: &str) {
    let v = ck.get(key, None, 0).await;
    assert_eq!(
        v, value,
        "Get({key}): expected:\n{value:?}\nreceived:\n{v:?}"
    );
}

/// 4A, concurrent appends to one key on an unreliable network: 5 clerks
/// each append 10 values to "k" on 3 servers; each clerk's appends must all
/// be there, once, in its order.
pub async fn unreliable_one_key() {
    const CLIENTS: usize = 5;
    const UPTO: usize = 10;
    let cfg = Config::new(3, true, None);
    let mut ck = cfg.make_client(&cfg.all());
    cfg.begin("Test: concurrent append to same key, unreliable (4A)");

    ck.put("k", "", None, 0).await;
    let clients: Vec<JoinHandle<()>> = (0..CLIENTS)
        .map(|me| {
            let cfg = cfg.clone();
            tokio::spawn(async move {
                let mut myck = cfg.make_client(&cfg.all());
                for n in 0..UPTO {
                    myck.append("k", &client_value(me, n), None, 0).await;
                }
                cfg.delete_client(myck);
            })
        })
        .collect();
    for client in clients {
        if let Err(e) = client.await {
            panic!("client task failed: {e}");
        }
    }

    let vx = ck.get("k", None, 0).await;
    check_concurrent_appends(&vx, &[UPTO; CLIENTS]);
    cfg.end();
}

/// 4A, one partition, in the reference's three stages on 5 servers with the
/// leader cut off in the minority: the majority makes progress; a Put and a
/// Get in the minority do not complete within 1 s while the majority keeps
/// working; after the partition heals the minority Put completes within
/// 3 s and its value is the final one.
///
/// The reference only glances at the minority Get after healing (a
/// non-blocking check); we require it to complete within the same 3 s.
pub async fn one_partition() {
    let cfg = Config::new(5, false, None);
    let mut ck = cfg.make_client(&cfg.all());

    ck.put("1", "13", None, 0).await;

    cfg.begin("Test: progress in majority (4A)");
    let (p1, p2) = cfg.make_partition().await;
    cfg.partition(&p1, &p2);

    let mut ckp1 = cfg.make_client(&p1);
    let mut ckp2a = cfg.make_client(&p2);
    let mut ckp2b = cfg.make_client(&p2);
    let (ends2a, ends2b) = (ckp2a.ends().clone(), ckp2b.ends().clone());

    ckp1.put("1", "14", None, 0).await;
    check(&mut ckp1, "1", "14").await;
    cfg.end();

    cfg.begin("Test: no progress in minority (4A)");
    let mut put = tokio::spawn(async move {
        ckp2a.put("1", "15", None, 0).await;
    });
    let mut get = tokio::spawn(async move {
        // A different clerk in the minority.
        ckp2b.get("1", None, 0).await;
    });
    tokio::select! {
        biased;
        _ = &mut put => panic!("Put in minority completed"),
        _ = &mut get => panic!("Get in minority completed"),
        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
    }
    check(&mut ckp1, "1", "14").await;
    ckp1.put("1", "16", None, 0).await;
    check(&mut ckp1, "1", "16").await;
    cfg.end();

    cfg.begin("Test: completion after heal (4A)");
    cfg.connect_all();
    cfg.connect_client(&ends2a, &cfg.all());
    cfg.connect_client(&ends2b, &cfg.all());
    tokio::time::sleep(ELECTION_TIMEOUT).await;

    let deadline = tokio::time::Instant::now() + HEAL_COMPLETION;
    match tokio::time::timeout_at(deadline, &mut put).await {
        Ok(result) => result.unwrap_or_else(|e| panic!("minority Put task failed: {e}")),
        Err(_) => panic!("Put did not complete"),
    }
    match tokio::time::timeout_at(deadline, &mut get).await {
        Ok(result) => result.unwrap_or_else(|e| panic!("minority Get task failed: {e}")),
        Err(_) => panic!("Get did not complete"),
    }

    check(&mut ck, "1", "15").await;
    cfg.end();
}

/// 4B, InstallSnapshot: with server 2 cut off, 50 Puts to the majority must
/// leave logs within 8 × maxraftstate; then a majority that needs the
/// lagging server 2 must work, so 2 has caught up through a snapshot, and
/// every value must be there.
pub async fn snapshot_rpc(max_raft_state: usize) {
    let cfg = Config::new(3, false, Some(max_raft_state));
    let mut ck = cfg.make_client(&cfg.all());
    cfg.begin("Test: InstallSnapshot RPC (4B)");

    ck.put("a", "A", None, 0).await;
    check(&mut ck, "a", "A").await;

    // Many Puts into the majority partition.
    cfg.partition(&[0, 1], &[2]);
    {
        let mut ck1 = cfg.make_client(&[0, 1]);
        for i in 0..50 {
            ck1.put(&i.to_string(), &i.to_string(), None, 0).await;
        }
        tokio::time::sleep(ELECTION_TIMEOUT).await;
        ck1.put("b", "B", None, 0).await;
    }

    // The majority has thrown away most of its log.
    let size = cfg.log_size();
    assert!(
        size <= 8 * max_raft_state,
        "logs were not trimmed ({size} > 8*{max_raft_state})"
    );

    // A majority that needs the lagging server, so it must catch up.
    cfg.partition(&[0, 2], &[1]);
    {
        let mut ck1 = cfg.make_client(&[0, 2]);
        ck1.put("c", "C", None, 0).await;
        ck1.put("d", "D", None, 0).await;
        check(&mut ck1, "a", "A").await;
        check(&mut ck1, "b", "B").await;
        check(&mut ck1, "1", "1").await;
        check(&mut ck1, "49", "49").await;
    }

    // Now everybody.
    cfg.partition(&[0, 1, 2], &[]);
    ck.put("e", "E", None, 0).await;
    check(&mut ck, "c", "C").await;
    check(&mut ck, "e", "E").await;
    check(&mut ck, "1", "1").await;
    cfg.end();
}

/// 4B, snapshot size: 200 rounds of Put x=0, check, Put x=1, check on 3
/// servers; logs must stay within 8 × maxraftstate and snapshots within
/// [`MAX_SNAPSHOT_STATE`] bytes.
pub async fn snapshot_size(max_raft_state: usize) {
    let cfg = Config::new(3, false, Some(max_raft_state));
    let mut ck = cfg.make_client(&cfg.all());
    cfg.begin("Test: snapshot size is reasonable (4B)");

    for _ in 0..200 {
        ck.put("x", "0", None, 0).await;
        check(&mut ck, "x", "0").await;
        ck.put("x", "1", None, 0).await;
        check(&mut ck, "x", "1").await;
    }

    // The servers have thrown away most of their logs.
    let size = cfg.log_size();
    assert!(
        size <= 8 * max_raft_state,
        "logs were not trimmed ({size} > 8*{max_raft_state})"
    );
    // And the snapshots are not unreasonably large.
    let snapshot = cfg.snapshot_size();
    assert!(
        snapshot <= MAX_SNAPSHOT_STATE,
        "snapshot too large ({snapshot} > {MAX_SNAPSHOT_STATE})"
    );
    cfg.end();
}
