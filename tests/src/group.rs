//! One replica group on the simulated network: the restart machinery every
//! tester config shares (the Raft peers, kvraft replicas, controller
//! replicas and each shardkv group).
//!
//! A [`Group`] owns, per member `i`: the running instance (`None` while
//! crashed), the [`Persister`] the current or next instance uses, and the
//! names of the ends member `i` uses to reach every member. It does what
//! the reference `config.go` files each do by hand:
//!
//! * [`Group::start`] — fresh, randomly named ends (so a crashed instance's
//!   ends lead nowhere), a copy of the persisted state, the caller's
//!   constructor, and the labrpc server under the member's name. The new
//!   instance starts detached.
//! * [`Group::crash`] — detach, delete the server (so replies to calls it is
//!   handling are never delivered), move the storage to a copy the dead
//!   instance cannot write to, and kill it (the reference `crash1` /
//!   `ShutdownServer`).
//! * [`Group::attach`] / [`Group::detach`] (the Raft tester's `connect` /
//!   `disconnect`, which only link attached members), and
//!   [`Group::connect_all`] / [`Group::partition`] (kvraft's).

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use labrpc::{ClientEnd, Network, Server, Service, rng};
use raft::Persister;
use tokio::time::Instant;

/// The reference harness fails a test that takes longer than this; every
/// config checks it (in virtual time, counted from the config's creation)
/// with [`check_time_limit`].
pub const TEST_TIME_LIMIT: Duration = Duration::from_secs(120);

/// Fails the test if more than [`TEST_TIME_LIMIT`] of virtual time has
/// passed since `created`.
///
/// # Panics
/// If it has.
pub fn check_time_limit(created: Instant) {
    let took = created.elapsed();
    assert!(
        took <= TEST_TIME_LIMIT,
        "test took longer than {} seconds ({:.1} s of virtual time)",
        TEST_TIME_LIMIT.as_secs(),
        took.as_secs_f64()
    );
}

/// A labrpc server carrying `services` (a replica's service and its Raft's).
pub fn server_with(services: impl IntoIterator<Item = Service>) -> Server {
    let server = Server::new();
    for service in services {
        server.add_service(service);
    }
    server
}

/// What the group needs of a running instance.
pub trait Replica: Clone {
    /// Stops the instance (its tasks end; it must not act any more).
    fn kill(&self);

    /// Why the instance stopped by itself, if it did: a committed entry or
    /// a snapshot it could not apply, which it must not skip (only a bug or
    /// corruption gets there). [`Group::check_failures`] reports it.
    fn failure(&self) -> Option<String>;
}

impl<C: raft::Command> Replica for raft::Raft<C> {
    fn kill(&self) {
        raft::Raft::kill(self);
    }

    fn failure(&self) -> Option<String> {
        raft::Raft::failure(self).map(|e| e.to_string())
    }
}

impl Replica for kvraft::KvServer {
    fn kill(&self) {
        kvraft::KvServer::kill(self);
    }

    fn failure(&self) -> Option<String> {
        kvraft::KvServer::failure(self).map(|e| e.to_string())
    }
}

impl Replica for shardctrler::ShardCtrler {
    fn kill(&self) {
        shardctrler::ShardCtrler::kill(self);
    }

    fn failure(&self) -> Option<String> {
        shardctrler::ShardCtrler::failure(self).map(|e| e.to_string())
    }
}

impl Replica for shardkv::ShardKv {
    fn kill(&self) {
        shardkv::ShardKv::kill(self);
    }

    fn failure(&self) -> Option<String> {
        shardkv::ShardKv::failure(self).map(|e| e.to_string())
    }
}

/// A group of replicas of type `P`; index `i` is member `i`. Must be used
/// inside a simulation (end names come from the seeded RNG).
pub struct Group<P: Replica> {
    net: Network,
    /// Each member's labrpc server name.
    names: Vec<String>,
    members: Mutex<Members<P>>,
}

struct Members<P> {
    running: Vec<Option<P>>,
    saved: Vec<Persister>,
    /// `end_names[i][j]`: the end member `i` uses to reach member `j`.
    end_names: Vec<Vec<String>>,
    /// Whether the tester considers member `i` attached to the network.
    connected: Vec<bool>,
}

impl<P: Replica> Group<P> {
    /// A group whose member `i` serves as `names[i]` on `net`; nothing is
    /// started yet, every persister is empty.
    pub fn new(net: &Network, names: Vec<String>) -> Group<P> {
        let n = names.len();
        Group {
            net: net.clone(),
            names,
            members: Mutex::new(Members {
                running: vec![None; n],
                saved: (0..n).map(|_| Persister::new()).collect(),
                end_names: vec![Vec::new(); n],
                connected: vec![false; n],
            }),
        }
    }

    fn members(&self) -> MutexGuard<'_, Members<P>> {
        // A panicking task already fails the test; keep the group usable.
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of members.
    pub fn n(&self) -> usize {
        self.names.len()
    }

    /// `[0, 1, …, n−1]`.
    pub fn all(&self) -> Vec<usize> {
        (0..self.n()).collect()
    }

    /// The network.
    pub fn net(&self) -> &Network {
        &self.net
    }

    /// Member `i`'s labrpc server name.
    pub fn server_name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// Every member's labrpc server name.
    pub fn server_names(&self) -> &[String] {
        &self.names
    }

    /// Member `i`'s running instance, if it is not crashed.
    pub fn get(&self, i: usize) -> Option<P> {
        self.members().running[i].clone()
    }

    /// Every member's running instance.
    pub fn running(&self) -> Vec<Option<P>> {
        self.members().running.clone()
    }

    /// The persister member `i`'s current (or next) instance uses. The
    /// tester reads sizes from it; a crashed instance writes only to a copy
    /// it no longer shares with the tester.
    pub fn persister(&self, i: usize) -> Persister {
        self.members().saved[i].clone()
    }

    /// Every member's persister (see [`Group::persister`]).
    pub fn persisters(&self) -> Vec<Persister> {
        self.members().saved.clone()
    }

    /// Whether member `i` is attached ([`Group::attach`]).
    pub fn is_connected(&self, i: usize) -> bool {
        self.members().connected[i]
    }

    /// The names of the ends member `i`'s current instance sends on.
    pub fn end_names(&self, i: usize) -> Vec<String> {
        self.members().end_names[i].clone()
    }

    /// (Re)starts member `i` from a copy of its persisted state: crash any
    /// running instance, make fresh, disabled ends to every member, then
    /// `make(ends, persister)` builds the instance and the labrpc server
    /// that carries its services, registered under the member's name. The
    /// member stays detached.
    pub fn start(&self, i: usize, make: impl FnOnce(Vec<ClientEnd>, Persister) -> (P, Server)) {
        self.crash(i);
        let (ends, persister) = {
            let mut m = self.members();
            for old in std::mem::take(&mut m.end_names[i]) {
                self.net.delete_end(&old);
            }
            let names: Vec<String> = (0..self.n()).map(|_| rng::string(20)).collect();
            let ends = names
                .iter()
                .zip(&self.names)
                .map(|(name, server)| {
                    let end = self.net.make_end(name.as_str());
                    self.net.connect(name, server.as_str());
                    end
                })
                .collect();
            m.end_names[i] = names;
            let persister = m.saved[i].copy();
            m.saved[i] = persister.clone();
            (ends, persister)
        };
        // Built without the lock: a constructor may call back into the tester.
        let (instance, server) = make(ends, persister);
        self.members().running[i] = Some(instance);
        self.net.add_server(self.names[i].as_str(), server);
    }

    /// Crashes member `i`, keeping what it persisted for the next
    /// [`Group::start`]: detach it, delete its server so replies to calls
    /// it is handling are never delivered, move its storage to a copy the
    /// dead instance cannot write to, and kill it. Returns the killed
    /// instance, if one ran.
    pub fn crash(&self, i: usize) -> Option<P> {
        self.check_failures();
        self.detach(i);
        self.net.delete_server(&self.names[i]);
        let killed = {
            let mut m = self.members();
            m.saved[i] = m.saved[i].copy();
            m.running[i].take()
        };
        if let Some(p) = &killed {
            p.kill();
        }
        killed
    }

    /// Fails the test if a running instance stopped by itself
    /// ([`Replica::failure`]); every config checks at each crash and at
    /// the end of a test.
    ///
    /// # Panics
    /// If one did, with its typed error.
    pub fn check_failures(&self) {
        let failed = self
            .members()
            .running
            .iter()
            .enumerate()
            .find_map(|(i, p)| {
                let failure = p.as_ref().and_then(Replica::failure)?;
                Some((i, failure))
            });
        if let Some((i, failure)) = failed {
            panic!("server {i} stopped by itself: {failure}");
        }
    }

    /// Kills every running instance (when the test ends).
    pub fn kill_all(&self) {
        let running: Vec<P> = self
            .members()
            .running
            .iter_mut()
            .flat_map(Option::take)
            .collect();
        for p in running {
            p.kill();
        }
    }

    fn link(&self, m: &Members<P>, i: usize, j: usize, on: bool) {
        if let Some(name) = m.end_names[i].get(j) {
            self.net.enable(name, on);
        }
        if let Some(name) = m.end_names[j].get(i) {
            self.net.enable(name, on);
        }
    }

    /// Attaches member `i`: enables its ends to, and the ends from, every
    /// attached member (the Raft tester's `connect`).
    pub fn attach(&self, i: usize) {
        let mut m = self.members();
        m.connected[i] = true;
        for j in 0..self.n() {
            if m.connected[j] {
                self.link(&m, i, j, true);
            }
        }
    }

    /// Detaches member `i`: disables every end from it and to it.
    pub fn detach(&self, i: usize) {
        let mut m = self.members();
        m.connected[i] = false;
        for j in 0..self.n() {
            self.link(&m, i, j, false);
        }
    }

    /// Links every member with every other, all attached (the reference
    /// `ConnectAll`).
    pub fn connect_all(&self) {
        let mut m = self.members();
        m.connected.iter_mut().for_each(|c| *c = true);
        for i in 0..self.n() {
            for j in 0..self.n() {
                self.link(&m, i, j, true);
            }
        }
    }

    /// Splits the members into groups that can talk only among themselves
    /// (the reference `partition`; a member in none is cut off from all).
    pub fn partition(&self, parts: &[&[usize]]) {
        let mut m = self.members();
        let side = |i: usize| parts.iter().position(|p| p.contains(&i));
        for i in 0..self.n() {
            m.connected[i] = side(i).is_some();
            for j in 0..self.n() {
                let together = side(i).is_some() && side(i) == side(j);
                self.link(&m, i, j, together);
            }
        }
    }
}

impl<P: Replica> Drop for Group<P> {
    fn drop(&mut self) {
        self.kill_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// An instance whose failure the test sets.
    #[derive(Clone, Default)]
    struct Fake(Arc<Mutex<Option<String>>>);

    impl Replica for Fake {
        fn kill(&self) {}

        fn failure(&self) -> Option<String> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
        }
    }

    #[test]
    fn an_instance_that_stopped_by_itself_fails_the_check() {
        labrpc::sim::Sim::new().seed(1).run(|| async {
            let net = Network::new();
            let group: Group<Fake> = Group::new(&net, vec!["a".into(), "b".into()]);
            let fake = Fake::default();
            for i in 0..2 {
                let f = fake.clone();
                group.start(i, move |_, _| (f, Server::new()));
            }
            group.check_failures();
            *fake.0.lock().unwrap() = Some("committed entry 7 is not a command".into());
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                group.check_failures();
            }));
            let message = caught
                .expect_err("a failed instance must fail the check")
                .downcast::<String>()
                .map(|s| *s)
                .unwrap_or_default();
            assert_eq!(
                message,
                "server 0 stopped by itself: committed entry 7 is not a command"
            );
            // Crashing a member checks too.
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                group.crash(1);
            }));
            assert!(caught.is_err());
        });
    }
}
