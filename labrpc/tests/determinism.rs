//! Determinism is a tested property: one seed, one execution.

use std::process::Command;
use std::time::Duration;

use labrpc::sim::Sim;
use labrpc::{Network, Server, Service, rng};

labrpc::rpc!(Work = "W.Work": u64 => u64);

/// Many clients hammer two servers over an unreliable network with long
/// reordering while ends are toggled at random; returns the network's trace
/// and the clients' view of it.
async fn busy_scenario() -> Vec<String> {
    let net = Network::new();
    net.set_reliable(false);
    net.set_long_reordering(true);
    net.start_trace();
    for s in ["a", "b"] {
        let server = Server::new();
        server.add_service(Service::new("W").handle::<Work, _, _>(|n| async move {
            tokio::time::sleep(Duration::from_millis(rng::range(0..5))).await;
            n * 2
        }));
        net.add_server(s, server);
    }
    let mut tasks = Vec::new();
    for c in 0..16 {
        let name = format!("c{c}");
        let end = net.make_end(name.as_str());
        net.connect(&name, if c % 2 == 0 { "a" } else { "b" });
        net.enable(&name, true);
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for i in 0..40 {
                let r = end.call::<Work>(&i).await;
                seen.push(format!("c{c} {i} {r:?} {:?}", labrpc::sim::elapsed()));
            }
            seen
        }));
    }
    let toggler = {
        let net = net.clone();
        tokio::spawn(async move {
            for _ in 0..50 {
                tokio::time::sleep(Duration::from_millis(rng::range(10..200))).await;
                let c = rng::range(0..16);
                net.enable(&format!("c{c}"), rng::chance(0.7));
            }
        })
    };
    let mut out = Vec::new();
    for t in tasks {
        out.extend(t.await.unwrap());
    }
    toggler.await.unwrap();
    out.extend(net.take_trace());
    out.push(format!(
        "count a={} b={} total={} bytes={}",
        net.count("a"),
        net.count("b"),
        net.total_count(),
        net.total_bytes()
    ));
    out
}

#[test]
fn same_seed_gives_identical_traces() {
    let first = Sim::new().seed(7).run(busy_scenario);
    let second = Sim::new().seed(7).run(busy_scenario);
    assert!(first.len() > 16 * 40, "trace too short to mean anything");
    assert_eq!(first, second, "two runs with seed 7 diverged");
}

#[test]
fn different_seeds_give_different_traces() {
    let a = Sim::new().seed(1).run(busy_scenario);
    let b = Sim::new().seed(2).run(busy_scenario);
    assert_ne!(a, b, "the seed does not influence the run");
}

/// Runs the busy scenario with logging; used by the test below as a child.
#[test]
#[ignore = "run as a child process by log_output_is_byte_identical"]
fn logged_busy_scenario() {
    labrpc::sim::run(busy_scenario);
}

/// `LAB_SEED=N RUST_LOG=debug` prints the same bytes on every run.
#[test]
fn log_output_is_byte_identical() {
    let run = || {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "logged_busy_scenario",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("LAB_SEED", "7")
            .env("RUST_LOG", "debug")
            .output()
            .expect("cannot re-run the test binary");
        assert!(
            out.status.success(),
            "child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Drop the harness's own wall-clock summary line.
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.contains("finished in"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let first = run();
    assert!(
        first.contains("DEBUG") && first.contains("rpc"),
        "no debug log lines in:\n{}",
        &first[..first.len().min(2000)]
    );
    assert_eq!(
        first,
        run(),
        "log output differs between two runs with one seed"
    );
}

/// The network digest is equal for one seed, differs for another, and moves
/// with every call.
#[test]
fn digest_follows_every_call_and_the_seed() {
    fn busy(seed: u64) -> (u64, u64) {
        labrpc::sim::Sim::new().seed(seed).run(|| async {
            let before = labrpc::sim::digest();
            busy_scenario().await;
            (before, labrpc::sim::digest())
        })
    }
    let (start, first) = busy(3);
    assert_ne!(start, first, "calls did not move the digest");
    assert_eq!(busy(3), (start, first));
    assert_ne!(busy(4).1, first);
}
