//! The async driver over labrpc in virtual time: a smoke test of the wiring
//! (the full reference scenarios live in the `tests` crate).

use std::time::Duration;

use labrpc::{Network, Server, sim};
use raft::{ApplyMsg, Persister, Raft};
use tokio::sync::mpsc;

#[test]
fn three_peers_elect_commit_and_stop_after_kill() {
    sim::run(|| async {
        let net = Network::new();
        let n = 3;
        let mut rafts = Vec::new();
        let mut rxs = Vec::new();
        for i in 0..n {
            let ends = (0..n)
                .map(|j| {
                    let name = format!("{i}->{j}");
                    let end = net.make_end(name.as_str());
                    net.connect(&name, format!("s{j}"));
                    net.enable(&name, true);
                    end
                })
                .collect();
            let (tx, rx) = mpsc::channel(1);
            let rf: Raft<String> = Raft::make(ends, i, Persister::new(), tx).unwrap();
            let server = Server::new();
            server.add_service(rf.service());
            net.add_server(format!("s{i}"), server);
            rafts.push(rf);
            rxs.push(rx);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let leaders: Vec<usize> = (0..n).filter(|&i| rafts[i].get_state().1).collect();
        assert_eq!(leaders.len(), 1, "expected one leader, got {leaders:?}");
        let leader = leaders[0];
        assert_eq!(rafts[leader].start("x".into()).map(|r| r.0), Some(1));
        for rx in &mut rxs {
            match tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
                Ok(Some(ApplyMsg::Command { index, command, .. })) => {
                    assert_eq!((index, command.as_str()), (1, "x"))
                }
                other => panic!("expected index 1 applied, got {other:?}"),
            }
        }
        for rf in &rafts {
            rf.kill();
        }
        let before = net.total_count();
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(net.total_count(), before, "killed peers kept sending");
        assert!(rafts.iter().all(|rf| rf.start("y".into()).is_none()));
    });
}

#[test]
fn malformed_persisted_state_is_a_clear_error() {
    sim::run(|| async {
        let net = Network::new();
        let ends = (0..3).map(|j| net.make_end(format!("e{j}"))).collect();
        let persister = Persister::new();
        persister.save(b"not raft state".to_vec(), Vec::new());
        let (tx, _rx) = mpsc::channel(1);
        match Raft::<String>::make(ends, 0, persister, tx) {
            Err(raft::Error::CorruptState(raft::StateError::Header(_))) => {}
            Err(other) => panic!("wrong error for a damaged header: {other}"),
            Ok(_) => panic!("make accepted a malformed state (and would forget its vote)"),
        }
    });
}
