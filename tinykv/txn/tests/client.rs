//! The client in the simulation (the talent-plan dss percolator tests, our
//! versions): the timestamp oracle under an unreliable network, the
//! Hermitage snapshot-isolation cases, and the commit fault-injection
//! cases; then a bank-transfer workload whose total never changes. Every
//! test runs in virtual time from one seed (`labrpc::sim`).

use std::sync::Arc;

use labrpc::{Network, Server, sim};
use tinykv_storage::{MemEngine, StandaloneStorage, WriteOptions};
use tinykv_txn::client::LOCK_TTL_MS;
use tinykv_txn::{Client, CommitFault, Error, Tso, TxnServer};

/// One transactional server and one oracle on a network.
struct Cluster {
    net: Network,
    clients: u32,
}

impl Cluster {
    fn new() -> Cluster {
        let net = Network::new();
        let storage =
            StandaloneStorage::new(Arc::new(MemEngine::new())).with_options(WriteOptions::NO_SYNC);
        let kv = Server::new();
        kv.add_service(TxnServer::new(Arc::new(storage)).service());
        net.add_server("tinykv", kv);
        let tso = Server::new();
        tso.add_service(Tso::new().service());
        net.add_server("tso", tso);
        Cluster { net, clients: 0 }
    }

    fn client(&mut self) -> Client {
        self.clients += 1;
        let name = |s: &str| format!("client{}-{s}", self.clients);
        let (tso, kv) = (
            self.net.make_end(name("tso")),
            self.net.make_end(name("kv")),
        );
        self.net.connect(&name("tso"), "tso");
        self.net.connect(&name("kv"), "tinykv");
        self.net.enable(&name("tso"), true);
        self.net.enable(&name("kv"), true);
        Client::new(tso, kv)
    }
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// Commits `pairs` in one transaction.
async fn put(client: &Client, pairs: &[(&str, &str)]) {
    let mut txn = client.begin().await.unwrap();
    for (k, v) in pairs {
        txn.set(b(k), b(v));
    }
    assert!(client.commit(txn).await.unwrap());
}

/// Reads `key` in a fresh transaction.
async fn read(client: &Client, key: &str) -> Option<String> {
    let txn = client.begin().await.unwrap();
    let value = client.get(&txn, key.as_bytes()).await.unwrap();
    value.map(|v| String::from_utf8(v).unwrap())
}

async fn get(client: &Client, txn: &tinykv_txn::Txn, key: &str) -> Option<String> {
    let value = client.get(txn, key.as_bytes()).await.unwrap();
    value.map(|v| String::from_utf8(v).unwrap())
}

#[test]
fn get_timestamp_under_unreliable_network() {
    sim::run(|| async {
        let mut cluster = Cluster::new();
        cluster.net.set_reliable(false);
        let clients: Vec<Client> = (0..3).map(|_| cluster.client()).collect();
        let runs = clients.iter().map(|c| async move {
            let mut seen = Vec::new();
            for _ in 0..20 {
                seen.push(c.get_timestamp().await.unwrap());
            }
            seen
        });
        let mut all = Vec::new();
        for seen in futures::future::join_all(runs).await {
            assert!(
                seen.windows(2).all(|w| w[0] < w[1]),
                "not increasing: {seen:?}"
            );
            all.extend(seen);
        }
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "a timestamp was handed out twice");
    });
}

/// Hermitage PMP, read predicates: a transaction does not see a key
/// inserted and committed after it started.
#[test]
fn predicate_many_preceders_read_predicates() {
    sim::run(|| async {
        let mut cluster = Cluster::new();
        let (c0, c1, c2) = (cluster.client(), cluster.client(), cluster.client());
        put(&c0, &[("1", "10"), ("2", "20")]).await;
        let t1 = c1.begin().await.unwrap();
        assert_eq!(get(&c1, &t1, "3").await, None);
        put(&c2, &[("3", "30")]).await;
        assert_eq!(get(&c1, &t1, "3").await, None);
    });
}

/// Hermitage PMP, write predicates: T2 deletes the row T1 changed after T2
/// began; first committer wins.
#[test]
fn predicate_many_preceders_write_predicates() {
    sim::run(|| async {
        let mut cluster = Cluster::new();
        let (c0, c1, c2) = (cluster.client(), cluster.client(), cluster.client());
        put(&c0, &[("1", "10"), ("2", "20")]).await;
        let mut t1 = c1.begin().await.unwrap();
        let mut t2 = c2.begin().await.unwrap();
        t1.set(b("1"), b("20"));
        t1.set(b("2"), b("30"));
        assert_eq!(get(&c2, &t2, "2").await.as_deref(), Some("20"));
        t2.delete(b("2"));
        assert!(c1.commit(t1).await.unwrap());
        assert!(!c2.commit(t2).await.unwrap());
        assert_eq!(read(&c0, "1").await.as_deref(), Some("20"));
        assert_eq!(read(&c0, "2").await.as_deref(), Some("30"));
    });
}

/// Hermitage P4 (lost update): two read-modify-writes of one key; the
/// second committer fails.
#[test]
fn lost_update() {
    sim::run(|| async {
        let mut cluster = Cluster::new();
        let (c0, c1, c2) = (cluster.client(), cluster.client(), cluster.client());
        put(&c0, &[("1", "10"), ("2", "20")]).await;
        let mut t1 = c1.begin().await.unwrap();
        let mut t2 = c2.begin().await.unwrap();
        assert_eq!(get(&c1, &t1, "1").await.as_deref(), Some("10"));
        assert_eq!(get(&c2, &t2, "1").await.as_deref(), Some("10"));
        t1.set(b("1"), b("11"));
        t2.set(b("1"), b("12"));
        assert!(c1.commit(t1).await.unwrap());
        assert!(!c2.commit(t2).await.unwrap());
        assert_eq!(read(&c0, "1").await.as_deref(), Some("11"));
    });
}

/// Hermitage G-single (read skew), read only: T1 sees both keys as of its
/// start although T2 changed both in between.
#[test]
fn read_skew_read_only() {
    sim::run(|| async {
        let mut cluster = Cluster::new();
        let (c0, c1, c2) = (cluster.client(), cluster.client(), cluster.client());
        put(&c0, &[("1", "10"), ("2", "20")]).await;
        let t1 = c1.begin().await.unwrap();
        assert_eq!(get(&c1, &t1, "1").await.as_deref(), Some("10"));
        put(&c2, &[("1", "12"), ("2", "18")]).await;
        assert_eq!(get(&c1, &t1, "2").await.as_deref(), Some("20"));
    });
}

/// Hermitage G-single with predicate dependencies: a key inserted after T1
/// began stays invisible to it.
#[test]
fn read_skew_predicate_dependencies() {
    sim::run(|| async {
        let mut cluster = Cluster::new();
        let (c0, c1, c2) = (cluster.client(), cluster.client(), cluster.client());
        put(&c0, &[("1", "10"), ("2", "20")]).await;
        let t1 = c1.begin().await.unwrap();
        assert_eq!(get(&c1, &t1, "1").await.as_deref(), Some("10"));
        assert_eq!(get(&c1, &t1, "2").await.as_deref(), Some("20"));
        put(&c2, &[("3", "30")]).await;
        assert_eq!(get(&c1, &t1, "3").await, None);
    });
}

/// Hermitage G-single with a write predicate: T1 read an old version of
/// key 2 and writes it; its commit conflicts.
#[test]
fn read_skew_write_predicate() {
    sim::run(|| async {
        let mut cluster = Cluster::new();
        let (c0, c1, c2) = (cluster.client(), cluster.client(), cluster.client());
        put(&c0, &[("1", "10"), ("2", "20")]).await;
        let mut t1 = c1.begin().await.unwrap();
        assert_eq!(get(&c1, &t1, "1").await.as_deref(), Some("10"));
        put(&c2, &[("1", "12"), ("2", "18")]).await;
        assert_eq!(get(&c1, &t1, "2").await.as_deref(), Some("20"));
        t1.delete(b("2"));
        assert!(!c1.commit(t1).await.unwrap());
        assert_eq!(read(&c0, "2").await.as_deref(), Some("18"));
    });
}

/// Hermitage G2-item (write skew): **allowed** under snapshot isolation —
/// each transaction read both keys and wrote a different one; both commit.
#[test]
fn write_skew() {
    sim::run(|| async {
        let mut cluster = Cluster::new();
        let (c0, c1, c2) = (cluster.client(), cluster.client(), cluster.client());
        put(&c0, &[("1", "10"), ("2", "20")]).await;
        let mut t1 = c1.begin().await.unwrap();
        let mut t2 = c2.begin().await.unwrap();
        for (c, t) in [(&c1, &t1), (&c2, &t2)] {
            assert_eq!(get(c, t, "1").await.as_deref(), Some("10"));
            assert_eq!(get(c, t, "2").await.as_deref(), Some("20"));
        }
        t1.set(b("1"), b("11"));
        t2.set(b("2"), b("21"));
        assert!(c1.commit(t1).await.unwrap());
        assert!(c2.commit(t2).await.unwrap());
        assert_eq!(read(&c0, "1").await.as_deref(), Some("11"));
        assert_eq!(read(&c0, "2").await.as_deref(), Some("21"));
    });
}

/// Hermitage G2 (anti-dependency cycles): both see nothing at key 3 and
/// 4, insert one each, both commit; a later reader sees both.
#[test]
fn anti_dependency_cycles() {
    sim::run(|| async {
        let mut cluster = Cluster::new();
        let (c0, c1, c2) = (cluster.client(), cluster.client(), cluster.client());
        put(&c0, &[("1", "10"), ("2", "20")]).await;
        let mut t1 = c1.begin().await.unwrap();
        let mut t2 = c2.begin().await.unwrap();
        for (c, t) in [(&c1, &t1), (&c2, &t2)] {
            assert_eq!(get(c, t, "3").await, None);
            assert_eq!(get(c, t, "4").await, None);
        }
        t1.set(b("3"), b("30"));
        t2.set(b("4"), b("42"));
        assert!(c1.commit(t1).await.unwrap());
        assert!(c2.commit(t2).await.unwrap());
        let t3 = c0.begin().await.unwrap();
        assert_eq!(get(&c0, &t3, "3").await.as_deref(), Some("30"));
        assert_eq!(get(&c0, &t3, "4").await.as_deref(), Some("42"));
    });
}

/// Commits `3, 4, 5` through a client with `fault`; returns the outcome.
async fn faulty_commit(cluster: &mut Cluster, fault: CommitFault) -> Result<bool, Error> {
    let client = cluster.client().with_fault(fault);
    let mut txn = client.begin().await.unwrap();
    for (k, v) in [("3", "30"), ("4", "40"), ("5", "50")] {
        txn.set(b(k), b(v));
    }
    client.commit(txn).await
}

/// The client stops after the commit point: the secondaries stay locked
/// until a reader finds the primary committed and rolls them forward.
#[test]
fn commit_primary_drop_secondary_requests() {
    sim::run(|| async {
        let mut cluster = Cluster::new();
        assert_eq!(
            faulty_commit(&mut cluster, CommitFault::DropSecondaryCommits).await,
            Ok(true)
        );
        let reader = cluster.client();
        for (k, v) in [("3", "30"), ("4", "40"), ("5", "50")] {
            assert_eq!(read(&reader, k).await.as_deref(), Some(v));
        }
    });
}

/// The primary's commit is applied but its reply lost: the client cannot
/// tell, yet the transaction is committed and readers see all of it.
#[test]
fn commit_primary_success_without_response() {
    sim::run(|| async {
        let mut cluster = Cluster::new();
        let outcome = faulty_commit(&mut cluster, CommitFault::LosePrimaryCommitReply).await;
        assert_eq!(outcome, Err(Error::CommitUnknown));
        let reader = cluster.client();
        for (k, v) in [("3", "30"), ("4", "40"), ("5", "50")] {
            assert_eq!(read(&reader, k).await.as_deref(), Some(v));
        }
    });
}

/// The primary's commit never happens: readers wait out the locks' TTL,
/// roll the transaction back, and see none of it.
#[test]
fn commit_primary_fail() {
    sim::run(|| async {
        let mut cluster = Cluster::new();
        let outcome = faulty_commit(&mut cluster, CommitFault::DropPrimaryCommit).await;
        assert_eq!(outcome, Err(Error::CommitUnknown));
        let reader = cluster.client();
        let before = sim::elapsed();
        for k in ["3", "4", "5"] {
            assert_eq!(read(&reader, k).await, None);
        }
        // The locks were alive until their TTL passed.
        let waited = sim::elapsed() - before;
        assert!(
            waited.as_millis() as u64 >= LOCK_TTL_MS / 2,
            "waited only {waited:?}"
        );
    });
}

const ACCOUNTS: u32 = 5;
const INITIAL: i64 = 100;

fn account(i: u32) -> Vec<u8> {
    format!("acct{i}").into_bytes()
}

/// Stronger than the references: concurrent transfers between accounts,
/// some by clients that crash mid-commit, over an unreliable network,
/// while auditors read every account in one transaction: every audit sees
/// the same total, and so does the final one.
#[test]
fn bank_transfers_keep_the_total() {
    sim::run(|| async {
        let mut cluster = Cluster::new();
        cluster.net.set_reliable(false);
        let setup = cluster.client();
        let mut txn = setup.begin().await.unwrap();
        for i in 0..ACCOUNTS {
            txn.set(account(i), INITIAL.to_string());
        }
        assert!(setup.commit(txn).await.unwrap());
        let faults = [
            CommitFault::None,
            CommitFault::None,
            CommitFault::DropSecondaryCommits,
            CommitFault::DropPrimaryCommit,
        ];
        let transferers: Vec<Client> = faults
            .iter()
            .map(|&f| cluster.client().with_fault(f))
            .collect();
        let auditor = cluster.client();
        let balance = |c: &Client, t: &tinykv_txn::Txn, i: u32| {
            let (c, t) = (c.clone(), t.clone());
            async move {
                let v = c.get(&t, &account(i)).await?;
                Ok::<i64, Error>(v.map_or(0, |v| String::from_utf8(v).unwrap().parse().unwrap()))
            }
        };
        let transfers = transferers.iter().map(|c| async move {
            let mut committed = 0;
            for _ in 0..8 {
                let (from, to) = (
                    labrpc::rng::range(0..ACCOUNTS),
                    labrpc::rng::range(0..ACCOUNTS),
                );
                let amount: i64 = labrpc::rng::range(1..20);
                let Ok(mut txn) = c.begin().await else {
                    continue;
                };
                let (Ok(a), Ok(b)) = (balance(c, &txn, from).await, balance(c, &txn, to).await)
                else {
                    continue;
                };
                if from == to {
                    continue;
                }
                txn.set(account(from), (a - amount).to_string());
                txn.set(account(to), (b + amount).to_string());
                if c.commit(txn).await == Ok(true) {
                    committed += 1;
                }
            }
            committed
        });
        let audits = async {
            let mut audits = 0;
            for _ in 0..10 {
                let txn = auditor.begin().await.unwrap();
                let mut total = 0;
                for i in 0..ACCOUNTS {
                    total += balance(&auditor, &txn, i).await.unwrap();
                }
                assert_eq!(
                    total,
                    INITIAL * ACCOUNTS as i64,
                    "an audit saw a partial transfer"
                );
                audits += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            audits
        };
        let (committed, audits) =
            futures::future::join(futures::future::join_all(transfers), audits).await;
        assert_eq!(audits, 10);
        assert!(
            committed.iter().sum::<u32>() > 0,
            "no transfer committed: {committed:?}"
        );
        let txn = auditor.begin().await.unwrap();
        let mut total = 0;
        for i in 0..ACCOUNTS {
            total += balance(&auditor, &txn, i).await.unwrap();
        }
        assert_eq!(total, INITIAL * ACCOUNTS as i64);
    });
}
