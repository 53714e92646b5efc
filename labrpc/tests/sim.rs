//! The simulation's own guarantees: virtual time, limits, seeds, failure reports.

use std::time::Duration;

use labrpc::rng;
use labrpc::sim::{self, Sim};

#[test]
fn time_is_virtual() {
    let wall = std::time::Instant::now(); // outside the simulation: wall time is the point
    let virtual_elapsed = sim::run(|| async {
        let t0 = tokio::time::Instant::now();
        tokio::time::sleep(Duration::from_secs(100)).await;
        t0.elapsed()
    });
    assert!(virtual_elapsed >= Duration::from_secs(100));
    assert!(
        wall.elapsed() < Duration::from_secs(10),
        "100 virtual seconds took {:?}",
        wall.elapsed()
    );
}

#[test]
fn same_seed_same_choices_different_seed_different_choices() {
    let draw = |seed| {
        Sim::new()
            .seed(seed)
            .run(|| async { (0..16).map(|_| rng::u64()).collect::<Vec<_>>() })
    };
    assert_eq!(draw(11), draw(11));
    assert_ne!(draw(11), draw(12));
}

#[test]
fn seed_is_visible_inside() {
    let seen = Sim::new().seed(4242).run(|| async { sim::seed() });
    assert_eq!(seen, Some(4242));
    assert_eq!(sim::seed(), None, "outside a simulation there is no seed");
}

#[test]
#[should_panic(expected = "test took longer than 120 seconds of virtual time")]
fn virtual_time_limit_fails_the_test() {
    sim::run(|| async {
        tokio::time::sleep(Duration::from_secs(121)).await;
    });
}

#[test]
#[should_panic(expected = "test took longer than 5 seconds")]
fn deadlock_is_reported_by_the_time_limit() {
    Sim::new().time_limit(Duration::from_secs(5)).run(|| async {
        // Waits for a message nobody sends.
        let (_tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        rx.recv().await;
    });
}

#[test]
#[should_panic(expected = "a simulated task panicked: boom")]
fn panic_in_a_spawned_task_fails_the_test() {
    sim::run(|| async {
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            panic!("boom");
        });
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
}

#[test]
fn replay_command_names_seed_and_test() {
    let cmd = sim::replay_command(99, "sim::some_test_3a");
    let profile = if cfg!(debug_assertions) {
        ""
    } else {
        " --release"
    };
    assert!(
        cmd.starts_with(&format!(
            "LAB_SEED=99 cargo test{profile} -p labrpc --test sim"
        )),
        "{cmd}"
    );
    assert!(cmd.contains("--exact sim::some_test_3a"), "{cmd}");
}

/// A simulation that uses more CPU than its ceiling fails, saying so, and
/// the report line carries its CPU time.
#[test]
fn a_test_past_its_cpu_ceiling_fails() {
    if sim::thread_cpu().is_none() {
        return; // not Linux: no per-thread CPU figure to check against
    }
    let result = std::panic::catch_unwind(|| {
        Sim::new()
            .seed(1)
            .cpu_limit(Duration::from_millis(20))
            .run(|| async {
                // Burn CPU without letting virtual time move much.
                let start = sim::thread_cpu().unwrap_or_default();
                let mut x = 0u64;
                while sim::thread_cpu().unwrap_or_default() < start + Duration::from_millis(100) {
                    for i in 0..100_000u64 {
                        x = x.wrapping_mul(31).wrapping_add(i);
                    }
                    tokio::task::yield_now().await;
                }
                x
            })
    });
    let err = result.expect_err("a simulation past its CPU ceiling passed");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("s of CPU"), "{msg}");
}
