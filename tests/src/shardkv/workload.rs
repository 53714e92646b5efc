//! The workloads the shardkv scenarios share: the reference's test keys,
//! filling and checking them, counting which Gets complete while groups
//! are down, and background appenders (the reference's `ff` goroutines).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use labrpc::rng;
use linearizability::KvInput;
use shardkv::Clerk;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::sleep;

use super::{Config, History, check};

/// The reference's test keys "0".."n-1": keys "0".."9" fall in shards
/// 8, 9, 0, …, 7, so ten keys cover every shard.
pub fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

/// Puts `n` keys with random values of `len` characters; returns both.
pub async fn put_keys(ck: &mut Clerk, n: usize, len: usize) -> (Vec<String>, Vec<String>) {
    let ka = keys(n);
    let mut va = Vec::with_capacity(n);
    for k in &ka {
        let v = rng::string(len);
        ck.put(k, &v).await;
        va.push(v);
    }
    (ka, va)
}

/// Checks every key.
pub async fn check_all(ck: &mut Clerk, ka: &[String], va: &[String]) {
    for (k, v) in ka.iter().zip(va) {
        check(ck, k, v).await;
    }
}

/// Checks every key, then appends `len` random characters to it.
pub async fn check_and_append(ck: &mut Clerk, ka: &[String], va: &mut [String], len: usize) {
    for (k, v) in ka.iter().zip(va.iter_mut()) {
        check(ck, k, v).await;
        let x = rng::string(len);
        ck.append(k, &x).await;
        v.push_str(&x);
    }
}

/// How long the completion count waits for one more Get.
pub const QUIET: Duration = Duration::from_secs(2);

/// One fresh clerk per key Gets it concurrently; counts the Gets that
/// complete before [`QUIET`] passes with no completion. A wrong value
/// fails the test at once.
pub async fn count_completions(clerks: Vec<Clerk>, ka: &[String], va: &[String]) -> usize {
    let (tx, mut rx) = mpsc::unbounded_channel();
    for ((mut ck, k), v) in clerks.into_iter().zip(ka.to_vec()).zip(va.to_vec()) {
        let tx = tx.clone();
        tokio::spawn(async move {
            let got = ck.get(&k).await;
            let verdict = if got == v {
                Ok(())
            } else if got.is_empty() {
                Err(format!(
                    "Get({k}): returned empty string, a server may have returned a value for a \
                     shard it does not own"
                ))
            } else {
                Err(format!("Get({k}): expected:\n{v}\nreceived:\n{got}"))
            };
            // The test may have stopped listening; the result no longer matters.
            let _ = tx.send(verdict);
        });
    }
    drop(tx);
    let mut done = 0;
    loop {
        match tokio::time::timeout(QUIET, rx.recv()).await {
            Ok(Some(Ok(()))) => done += 1,
            Ok(Some(Err(e))) => panic!("{e}"),
            Ok(None) | Err(_) => return done,
        }
    }
}

/// Background appenders, one per key, each with its own clerk, appending
/// `len` random characters until told to stop; each task returns its key's
/// final value (the reference's `ff` goroutines).
pub struct Appenders {
    done: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<String>>,
}

impl Appenders {
    /// Starts one appender per key, pausing `pause` between appends
    /// (`None`: back to back).
    pub fn start(
        cfg: &Config,
        ka: &[String],
        va: &[String],
        len: usize,
        pause: Option<Duration>,
    ) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let tasks = ka
            .iter()
            .zip(va)
            .map(|(k, v)| {
                let (mut ck, done) = (cfg.make_client(), done.clone());
                let (k, mut v) = (k.clone(), v.clone());
                tokio::spawn(async move {
                    while !done.load(Ordering::Relaxed) {
                        let x = rng::string(len);
                        ck.append(&k, &x).await;
                        v.push_str(&x);
                        if let Some(p) = pause {
                            sleep(p).await;
                        }
                    }
                    v
                })
            })
            .collect();
        Appenders { done, tasks }
    }

    /// Stops the appenders and returns each key's expected value.
    pub async fn stop(self) -> Vec<String> {
        self.done.store(true, Ordering::Relaxed);
        let mut va = Vec::with_capacity(self.tasks.len());
        for (i, t) in self.tasks.into_iter().enumerate() {
            match t.await {
                Ok(v) => va.push(v),
                Err(e) => panic!("appender {i} failed: {e}"),
            }
        }
        va
    }
}

/// The reconfiguration schedule of the unreliable 2 and 3 scenarios.
pub async fn unreliable_schedule(cfg: &Config) {
    sleep(Duration::from_millis(150)).await;
    cfg.join(1).await;
    sleep(Duration::from_millis(500)).await;
    cfg.join(2).await;
    sleep(Duration::from_millis(500)).await;
    cfg.leave(0).await;
    sleep(Duration::from_millis(500)).await;
    cfg.leave(1).await;
    sleep(Duration::from_millis(500)).await;
    cfg.join(1).await;
    cfg.join(0).await;
    sleep(Duration::from_secs(2)).await;
}

/// Reference `TestUnreliable3_5B` (3 replicas per group, max_raft_state 100, unreliable): 10
/// clients doing random Appends (50 %), Puts (about 5 %) and Gets on random
/// keys through the schedule; the recorded history must be linearizable.
pub async fn unreliable3() {
    let cfg = Config::new(3, true, Some(100));
    cfg.begin("Test (5B): unreliable 3...");
    let history = History::new();
    let mut ck = cfg.make_client();
    cfg.join(0).await;
    let n = 10;
    let ka = keys(n);
    for k in &ka {
        let v = rng::string(5);
        let call = history.call();
        ck.put(k, &v).await;
        history.record_kv(0, KvInput::put(k.as_str(), v.as_str()), "", call);
    }

    let done = Arc::new(AtomicBool::new(false));
    let clients: Vec<JoinHandle<()>> = (0..n)
        .map(|client| {
            let (mut ck, done) = (cfg.make_client(), done.clone());
            let (ka, history) = (ka.clone(), history.clone());
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    let key = &ka[rng::range(0..n)];
                    let nv = rng::string(5);
                    let call = history.call();
                    // Two draws, as the reference: Append 50 %, else Put 10 %.
                    if rng::range(0..1000) < 500 {
                        ck.append(key, &nv).await;
                        history.record_kv(client, KvInput::append(key.as_str(), nv), "", call);
                    } else if rng::range(0..1000) < 100 {
                        ck.put(key, &nv).await;
                        history.record_kv(client, KvInput::put(key.as_str(), nv), "", call);
                    } else {
                        let v = ck.get(key).await;
                        history.record_kv(client, KvInput::get(key.as_str()), &v, call);
                    }
                }
            })
        })
        .collect();

    unreliable_schedule(&cfg).await;
    done.store(true, Ordering::Relaxed);
    cfg.set_unreliable(false);
    for (i, c) in clients.into_iter().enumerate() {
        if let Err(e) = c.await {
            panic!("client {i} failed: {e}");
        }
    }
    history.check();
    cfg.end();
}
