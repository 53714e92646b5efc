//! Scenarios shared by the Lab 3 test binaries and the mutation tests
//! (which must run the very checks they prove).

use labrpc::rng;

use super::{Config, MAX_LOG_SIZE, RPC_BYTES_SLACK, SNAPSHOT_INTERVAL, rand_int};

/// 3B, RPC byte count: ten 5,000-byte commands on 3 peers; the network may
/// carry each command byte once per server plus [`RPC_BYTES_SLACK`].
pub async fn rpc_bytes() {
    let servers = 3;
    let cfg = Config::new(servers, false, false);
    cfg.begin("Test (3B): RPC byte count");
    cfg.one(99, servers, false).await;
    let bytes0 = cfg.bytes_total();
    let mut sent = 0u64;
    for index in 2..12u64 {
        let cmd = rng::string(5000);
        sent += cmd.len() as u64;
        let xindex = cfg.one(cmd, servers, false).await;
        assert_eq!(xindex, index, "got index {xindex} but expected {index}");
    }
    let got = cfg.bytes_total() - bytes0;
    // The reference's bound re-derived for our encoding (see
    // `tests::raft::bounds`): each of the 50,000 command bytes may cross
    // the network once per server (one copy per follower plus a spare; raw
    // bytes in any encoding), plus the framing of ~165 RPCs — 50,000 gob
    // bytes in the reference, RPC_BYTES_SLACK of ours.
    let expected = servers as u64 * sent;
    let bound = expected + RPC_BYTES_SLACK;
    println!("  ... {got} RPC bytes for {sent} command bytes on {servers} servers (bound {bound})");
    assert!(
        got <= bound,
        "too many RPC bytes; got {got}, expected at most {expected} + {RPC_BYTES_SLACK}"
    );
    cfg.end();
}

/// A random number of `Start`s likely to cross a snapshot boundary: 5–14.
pub fn a_few() -> u64 {
    SNAPSHOT_INTERVAL / 2 + rng::range(0..SNAPSHOT_INTERVAL)
}

/// 30 rounds on 3 peers: optionally disconnect or crash a victim (the
/// leader's successor, or every third round the leader itself), submit 5–14
/// commands on the sender (not always the leader), check the persisted
/// state stays small, then bring the victim back so that it must catch up
/// from a snapshot.
pub async fn snap_common(name: &str, disconnect: bool, reliable: bool, crash: bool) {
    snap_common_limited(name, disconnect, reliable, crash, MAX_LOG_SIZE).await;
}

/// [`snap_common`] with another log-size limit (the mutation tests run it
/// with the reference's gob-sized one to show what that bound misses).
pub async fn snap_common_limited(
    name: &str,
    disconnect: bool,
    reliable: bool,
    crash: bool,
    max_log_size: usize,
) {
    let iters = 30;
    let servers = 3;
    let cfg = Config::new(servers, !reliable, true);
    cfg.begin(name);

    cfg.one(rand_int(), servers, true).await;
    let mut leader1 = cfg.check_one_leader().await;
    let mut max_seen = 0;

    for i in 0..iters {
        let mut victim = (leader1 + 1) % servers;
        let mut sender = leader1;
        if i % 3 == 1 {
            sender = (leader1 + 1) % servers;
            victim = leader1;
        }

        if disconnect {
            cfg.disconnect(victim);
            cfg.one(rand_int(), servers - 1, true).await;
        }
        if crash {
            cfg.crash1(victim);
            cfg.one(rand_int(), servers - 1, true).await;
        }

        // Perhaps send enough to get a snapshot.
        for _ in 0..a_few() {
            cfg.start(sender, rand_int());
        }

        // Let the appliers catch up with the Start()s.
        if !disconnect && !crash {
            // Make sure all followers have caught up, so that an
            // InstallSnapshot RPC isn't required for snapshot_basic_3d.
            cfg.one(rand_int(), servers, true).await;
        } else {
            cfg.one(rand_int(), servers - 1, true).await;
        }

        let size = cfg.log_size();
        max_seen = max_seen.max(size);
        assert!(
            size < max_log_size,
            "Log size too large: {size} bytes (limit {max_log_size})"
        );

        if disconnect {
            // Reconnect a follower, who may be behind and need a snapshot
            // to catch up.
            cfg.connect(victim);
            cfg.one(rand_int(), servers, true).await;
            leader1 = cfg.check_one_leader().await;
        }
        if crash {
            cfg.start1(victim);
            cfg.connect(victim);
            cfg.one(rand_int(), servers, true).await;
            leader1 = cfg.check_one_leader().await;
        }
    }
    // Tighter than the reference: a victim that fell behind by a snapshot
    // or more must have caught up through InstallSnapshot at least once in
    // 30 rounds (the reference only implies it).
    println!("  ... largest persisted Raft state {max_seen} bytes (limit {max_log_size})");
    if disconnect || crash {
        assert!(
            cfg.snapshots_delivered() > 0,
            "no snapshot was ever installed on a lagging peer"
        );
    }
    cfg.end();
}
