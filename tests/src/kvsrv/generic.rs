//! The reference `GenericTest` and the one-key concurrent-append test.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use labrpc::rng;

use super::History;
use super::config::Config;

/// Rounds of client activity.
const NITER: usize = 3;
/// Length of one round.
const ROUND: Duration = Duration::from_secs(1);

/// `nclients` clerks append to and read their own key (or random keys) for
/// `NITER` rounds of `ROUND`; each Append's old value, each Get and each
/// key's final value are checked, then the whole history's linearizability.
pub async fn generic_test(nclients: usize, unreliable: bool, randomkeys: bool) {
    let mut title = String::from("Test: ");
    if unreliable {
        // The network drops requests and replies.
        title.push_str("unreliable net, ");
    }
    if randomkeys {
        title.push_str("random keys, ");
    }
    title.push_str(if nclients > 1 {
        "many clients"
    } else {
        "one client"
    });

    let cfg = Arc::new(Config::new(unreliable));
    cfg.begin(&title);
    let history = History::new();
    let mut ck = cfg.make_client();

    for _ in 0..NITER {
        let done = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..nclients)
            .map(|cli| {
                let (cfg, history, done) = (cfg.clone(), history.clone(), done.clone());
                tokio::spawn(async move {
                    run_client(&cfg, &history, &done, cli, nclients, randomkeys).await
                })
            })
            .collect();

        tokio::time::sleep(ROUND).await;
        done.store(true, Ordering::Relaxed);

        for (cli, client) in clients.into_iter().enumerate() {
            let appended = match client.await {
                Ok(j) => j,
                Err(e) => panic!("client {cli} failed: {e}"),
            };
            let key = cli.to_string();
            let v = cfg.get(&mut ck, &key, Some(&history), 0).await;
            if !randomkeys {
                check_client_appends(cli, &v, appended);
            }
        }
    }

    history.check();
    cfg.end();
    cfg.cleanup();
}

/// One client's loop for a round; returns how many appends (and, with
/// random keys, puts) it made.
async fn run_client(
    cfg: &Config,
    history: &History,
    done: &AtomicBool,
    cli: usize,
    nclients: usize,
    randomkeys: bool,
) -> usize {
    let mut ck = cfg.make_client();
    let mut j = 0;
    // What this client's key must hold (only used without random keys).
    let mut last = String::new();
    if !randomkeys {
        cfg.put(&mut ck, &cli.to_string(), &last, Some(history), cli)
            .await;
    }
    while !done.load(Ordering::Relaxed) {
        let key = if randomkeys {
            rng::range(0..nclients).to_string()
        } else {
            cli.to_string()
        };
        let nv = format!("x {cli} {j} y");
        if rng::range(0..1000) < 500 {
            let old = cfg.append(&mut ck, &key, &nv, Some(history), cli).await;
            if !randomkeys {
                if j > 0 {
                    let prev = format!("x {cli} {} y", j - 1);
                    assert!(
                        old.contains(&prev),
                        "error: old {prev} not in return\n{old}"
                    );
                }
                assert!(
                    !old.contains(&nv),
                    "error: new value {nv} in returned values\n{old}"
                );
                last.push_str(&nv);
            }
            j += 1;
        } else if randomkeys && rng::range(0..1000) < 100 {
            // Only with random keys: a Put would break the Get check below.
            cfg.put(&mut ck, &key, &nv, Some(history), cli).await;
            j += 1;
        } else {
            let v = cfg.get(&mut ck, &key, Some(history), cli).await;
            assert!(
                randomkeys || v == last,
                "get wrong value, key {key}, wanted:\n{last}\n, got\n{v}"
            );
        }
    }
    cfg.delete_client(&ck);
    j
}

/// Five clerks each append ten values to one key on an unreliable network;
/// no Append may see its own value, and the final value holds all fifty,
/// each clerk's in order. (The reference records no history here; we do,
/// and check it, which only makes the test stricter.)
pub async fn unreliable_one_key() {
    const NCLIENT: usize = 5;
    const UPTO: usize = 10;
    let cfg = Arc::new(Config::new(true));
    let history = History::new();
    let mut ck = cfg.make_client();
    cfg.begin("Test: concurrent append to same key, unreliable");
    // The main clerk's ops are recorded as client NCLIENT, distinct from the workers.
    cfg.put(&mut ck, "k", "", Some(&history), NCLIENT).await;

    let clients: Vec<_> = (0..NCLIENT)
        .map(|me| {
            let (cfg, history) = (cfg.clone(), history.clone());
            tokio::spawn(async move {
                let mut ck = cfg.make_client();
                for n in 0..UPTO {
                    let nv = format!("x {me} {n} y");
                    let ov = cfg.append(&mut ck, "k", &nv, Some(&history), me).await;
                    assert!(!ov.contains(&nv), "error: nv {nv} in returned values\n{ov}");
                }
                cfg.delete_client(&ck);
            })
        })
        .collect();
    for (me, client) in clients.into_iter().enumerate() {
        if let Err(e) = client.await {
            panic!("client {me} failed: {e}");
        }
    }

    let vx = cfg.get(&mut ck, "k", Some(&history), NCLIENT).await;
    check_concurrent_appends(&vx, &[UPTO; NCLIENT]);
    history.check();
    cfg.end();
    cfg.cleanup();
}

/// Client `cli`'s first `count` appends are all in `v`, once each, in order.
fn check_client_appends(cli: usize, v: &str, count: usize) {
    let mut last_off = None;
    for j in 0..count {
        let wanted = format!("x {cli} {j} y");
        let Some(off) = v.find(&wanted) else {
            panic!("{cli} missing element {wanted} in Append result {v}");
        };
        assert_eq!(
            v.rfind(&wanted),
            Some(off),
            "duplicate element {wanted} in Append result"
        );
        assert!(
            last_off.is_none_or(|last| off > last),
            "wrong order for element {wanted} in Append result"
        );
        last_off = Some(off);
    }
}

/// For each client `i`, its first `counts[i]` appends are in `v`, once each, in order.
fn check_concurrent_appends(v: &str, counts: &[usize]) {
    for (cli, &count) in counts.iter().enumerate() {
        check_client_appends(cli, v, count);
    }
}
