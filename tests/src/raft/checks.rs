//! The reference tester's checks: leaders, terms, commitment and agreement.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::{Cmd, Config};

/// `check_one_leader` looks this many times before giving up (about 5 s in
/// all: the lab requires a new leader within 5 s of a failure).
const LEADER_ROUNDS: usize = 10;
/// `one()` gives up after this long.
const ONE_TIMEOUT: Duration = Duration::from_secs(10);
/// `one()` waits this long for agreement after each successful `Start`.
const ONE_ATTEMPT: Duration = Duration::from_secs(2);
/// `one()` polls for agreement this often.
const ONE_POLL: Duration = Duration::from_millis(20);
/// `one()` waits this long when no peer accepted `Start`.
const ONE_NO_LEADER: Duration = Duration::from_millis(50);

impl Config {
    /// Waits for exactly one connected peer to lead and returns it; fails if
    /// two connected peers lead in one term, or nobody leads within about 5 s.
    pub async fn check_one_leader(&self) -> usize {
        for _ in 0..LEADER_ROUNDS {
            let ms = 450 + labrpc::rng::range(0..100u64);
            sleep(Duration::from_millis(ms)).await;
            let mut leaders: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
            for i in 0..self.n() {
                if let Some(rf) = self.connected_raft(i) {
                    let (term, leader) = rf.get_state();
                    if leader {
                        leaders.entry(term).or_default().push(i);
                    }
                }
            }
            for (term, ids) in &leaders {
                assert!(
                    ids.len() <= 1,
                    "term {term} has {} (>1) leaders: {ids:?}",
                    ids.len()
                );
            }
            // The leader of the highest term.
            if let Some((_, ids)) = leaders.last_key_value() {
                return ids[0];
            }
        }
        panic!("expected one leader, got none");
    }

    /// All connected peers must agree on the term; returns it.
    pub fn check_terms(&self) -> u64 {
        let mut term = None;
        for i in 0..self.n() {
            if let Some(rf) = self.connected_raft(i) {
                let (t, _) = rf.get_state();
                match term {
                    None => term = Some(t),
                    Some(term) => assert_eq!(term, t, "servers disagree on term"),
                }
            }
        }
        term.expect("check_terms: no connected server")
    }

    /// No connected peer may think it leads.
    pub fn check_no_leader(&self) {
        for i in 0..self.n() {
            if let Some(rf) = self.connected_raft(i) {
                assert!(
                    !rf.get_state().1,
                    "expected no leader among connected servers, but {i} claims to be leader"
                );
            }
        }
    }

    /// Peer `i`'s instance if it runs and is connected.
    fn connected_raft(&self, i: usize) -> Option<raft::Raft<Cmd>> {
        let group = &self.inner.group;
        if group.is_connected(i) {
            group.get(i)
        } else {
            None
        }
    }

    /// Panics with the first apply error any applier recorded.
    pub(super) fn check_apply_errors(&self) {
        let applied = self.applied();
        if let Some(error) = applied.errors.iter().flatten().next() {
            panic!("apply error: {error}");
        }
    }

    /// How many peers have applied `index`, and the value there; fails on an
    /// apply error or if two peers applied different values.
    pub fn n_committed(&self, index: u64) -> (usize, Option<Cmd>) {
        self.check_apply_errors();
        let applied = self.applied();
        let mut count = 0;
        let mut value: Option<&Cmd> = None;
        for i in 0..self.n() {
            if let Some(cmd) = applied.get(i, index) {
                if let Some(v) = value {
                    assert_eq!(
                        v, cmd,
                        "committed values do not match: index {index}, {v}, {cmd}"
                    );
                }
                count += 1;
                value = Some(cmd);
            }
        }
        (count, value.cloned())
    }

    /// Submits `cmd` and waits until at least `expected` peers applied it,
    /// returning its index. Tries `Start` on each connected peer in turn and
    /// gives each acceptance 2 s; with `retry == false` the first failed
    /// attempt fails the test, otherwise it keeps trying for 10 s.
    pub async fn one(&self, cmd: impl Into<Cmd>, expected: usize, retry: bool) -> u64 {
        let cmd = cmd.into();
        let t0 = Instant::now();
        let mut starts = 0;
        while t0.elapsed() < ONE_TIMEOUT {
            // Try every server: maybe one of them leads.
            let mut index = None;
            for _ in 0..self.n() {
                starts = (starts + 1) % self.n();
                if let Some(rf) = self.connected_raft(starts)
                    && let Some((i, _)) = rf.start(cmd.clone())
                {
                    index = Some(i);
                    break;
                }
            }
            let Some(index) = index else {
                sleep(ONE_NO_LEADER).await;
                continue;
            };
            // Somebody accepted it; wait a while for agreement.
            let t1 = Instant::now();
            while t1.elapsed() < ONE_ATTEMPT {
                let (nd, value) = self.n_committed(index);
                if nd > 0 && nd >= expected && value.as_ref() == Some(&cmd) {
                    return index;
                }
                sleep(ONE_POLL).await;
            }
            assert!(retry, "one({cmd}) failed to reach agreement");
        }
        panic!("one({cmd}) failed to reach agreement");
    }

    /// Waits (polling with a growing back-off, about 8 s in all) for at least
    /// `n` peers to apply `index` and returns the value there. Returns `None`
    /// if, with `start_term` given, some peer moved past that term: the
    /// caller can then no longer expect its entries to commit.
    pub async fn wait(&self, index: u64, n: usize, start_term: Option<u64>) -> Option<Cmd> {
        let mut pause = Duration::from_millis(10);
        for _ in 0..30 {
            if self.n_committed(index).0 >= n {
                break;
            }
            sleep(pause).await;
            if pause < Duration::from_secs(1) {
                pause *= 2;
            }
            if let Some(start_term) = start_term {
                let rafts = self.inner.group.running();
                if rafts
                    .iter()
                    .flatten()
                    .any(|rf| rf.get_state().0 > start_term)
                {
                    return None;
                }
            }
        }
        let (nd, value) = self.n_committed(index);
        assert!(nd >= n, "only {nd} decided for index {index}; wanted {n}");
        value
    }

    /// The largest persisted Raft state (term, vote, log) of any peer, in bytes.
    pub fn log_size(&self) -> usize {
        self.inner
            .group
            .persisters()
            .iter()
            .map(|p| p.raft_state_size())
            .max()
            .unwrap_or(0)
    }
}
