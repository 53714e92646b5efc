//! Bad input and faults at the process level: missing files, unknown apps,
//! wrong flags, no coordinator, a socket already in use or left stale — each
//! must end quickly with a clear message and the right exit status.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{COORDINATOR, JOB, LIMIT, SEQUENTIAL, Scene, WORKER, same_output};

const SHORT: Duration = Duration::from_secs(20);

/// Runs a command to completion (these all end on their own quickly).
fn run(program: &str, args: &[&str], dir: &std::path::Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("spawn")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn small_inputs() -> Vec<(&'static str, &'static str)> {
    vec![
        ("one.txt", "the quick brown fox"),
        ("two.txt", "the lazy dog, the end"),
    ]
}

#[test]
fn sequential_names_a_missing_input_and_writes_nothing() {
    let scene = Scene::with_inputs("seqmissing", &small_inputs()).unwrap();
    let out = run(
        SEQUENTIAL,
        &["wc", "../one.txt", "../nope.txt"],
        &scene.work,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot read input file ../nope.txt"),
        "{}",
        stderr(&out)
    );
    assert!(!scene.work.join("mr-out-0").exists());
}

#[test]
fn coordinator_names_a_missing_input_before_listening() {
    let scene = Scene::with_inputs("coordmissing", &small_inputs()).unwrap();
    let socket = scene.socket.display().to_string();
    let out = run(
        COORDINATOR,
        &["--socket", &socket, "../one.txt", "../nope.txt"],
        &scene.work,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("../nope.txt"), "{}", stderr(&out));
    assert!(!scene.socket.exists());
}

#[test]
fn input_vanishing_under_a_worker_fails_the_whole_job() {
    let scene = Scene::with_inputs("vanish", &small_inputs()).unwrap();
    let mut coordinator = scene.coordinator(&[], LIMIT).unwrap();
    scene.wait_until_serving(&mut coordinator).unwrap();
    std::fs::remove_file(scene.root.path().join("two.txt")).unwrap();
    let mut worker = scene.worker("wc", LIMIT).unwrap();
    let worker_status = worker.wait().unwrap();
    let coordinator_status = coordinator.wait().unwrap();
    assert_eq!(worker_status.code(), Some(1), "{}", worker.log());
    assert!(worker.log().contains("../two.txt"), "{}", worker.log());
    assert_eq!(coordinator_status.code(), Some(1), "{}", coordinator.log());
    assert!(
        coordinator
            .log()
            .contains("map task 1 failed: cannot read input file ../two.txt"),
        "{}",
        coordinator.log()
    );
    assert!(!scene.work.join("mr-out-0").exists());
}

#[test]
fn unknown_app_is_a_usage_error_listing_every_app() {
    let dir = tempfile::tempdir().unwrap();
    for (program, args) in [
        (WORKER, vec!["grep"]),
        (SEQUENTIAL, vec!["grep", "x.txt"]),
        (JOB, vec!["--app", "grep"]),
    ] {
        let out = run(program, &args, dir.path());
        assert_eq!(out.status.code(), Some(2), "{program}: {}", stderr(&out));
        let text = stderr(&out);
        assert!(text.contains("'grep'"), "{text}");
        for app in mr::app_names(mr::apps::ALL) {
            assert!(text.contains(app), "{program} does not list {app}: {text}");
        }
    }
}

#[test]
fn wrong_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (program, args, mention) in [
        (COORDINATOR, vec!["--bogus", "x.txt"], "--bogus"),
        (COORDINATOR, vec!["--n-reduce", "0", "x.txt"], "--n-reduce"),
        (COORDINATOR, vec![], "FILES"),
        (WORKER, vec!["--n-reduce", "3", "wc"], "--n-reduce"),
        (
            WORKER,
            vec!["--socket", "a", "--addr", "b:1", "wc"],
            "--addr",
        ),
        (SEQUENTIAL, vec!["wc"], "FILES"),
        (JOB, vec!["--workers", "0"], "--workers"),
        (JOB, vec!["--task-timeout", "soon"], "--task-timeout"),
    ] {
        let out = run(program, &args, dir.path());
        assert_eq!(
            out.status.code(),
            Some(2),
            "{program} {args:?}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(mention),
            "{program} {args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn worker_without_a_coordinator_gives_up_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nobody.sock").display().to_string();
    let started = Instant::now();
    let out = run(
        WORKER,
        &["--socket", &socket, "--connect-timeout", "500ms", "wc"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot reach a coordinator at unix:"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_live_coordinators_socket_is_not_taken_over() {
    let scene = Scene::with_inputs("live", &small_inputs()).unwrap();
    let mut first = scene.coordinator(&[], LIMIT).unwrap();
    scene.wait_until_serving(&mut first).unwrap();
    let mut second = scene.coordinator(&[], SHORT).unwrap();
    assert_eq!(second.wait().unwrap().code(), Some(1));
    assert!(
        second
            .log()
            .contains("already served by a running coordinator"),
        "{}",
        second.log()
    );
    // The first one is unharmed and still finishes its job.
    assert_eq!(first.poll().unwrap(), None);
    let mut worker = scene.worker("wc", LIMIT).unwrap();
    first.wait_success().unwrap();
    worker.wait_success().unwrap();
    let expected = scene.sequential("wc").unwrap();
    same_output("wc", &scene.output().unwrap(), &expected).unwrap();
}

#[test]
fn a_stale_socket_is_replaced() {
    let scene = Scene::with_inputs("stale", &small_inputs()).unwrap();
    // A socket file nobody listens on, as a killed coordinator leaves.
    drop(std::os::unix::net::UnixListener::bind(&scene.socket).unwrap());
    assert!(scene.socket.exists());
    let mut coordinator = scene.coordinator(&[], LIMIT).unwrap();
    let mut worker = scene.worker("wc", LIMIT).unwrap();
    coordinator.wait_success().unwrap();
    worker.wait_success().unwrap();
    let expected = scene.sequential("wc").unwrap();
    same_output("wc", &scene.output().unwrap(), &expected).unwrap();
    assert!(
        !scene.socket.exists(),
        "the coordinator removes its socket on exit"
    );
}

#[test]
fn a_path_that_is_not_a_socket_is_left_alone() {
    let scene = Scene::with_inputs("notsock", &small_inputs()).unwrap();
    std::fs::write(&scene.socket, "precious").unwrap();
    let mut coordinator = scene.coordinator(&[], SHORT).unwrap();
    assert_eq!(coordinator.wait().unwrap().code(), Some(1));
    assert!(
        coordinator.log().contains("is not a socket"),
        "{}",
        coordinator.log()
    );
    assert_eq!(std::fs::read_to_string(&scene.socket).unwrap(), "precious");
}

#[test]
fn a_job_runs_over_tcp() {
    let scene = Scene::with_inputs("tcp", &small_inputs()).unwrap();
    let mut args = vec!["--addr".to_string(), "127.0.0.1:0".to_string()];
    args.extend(scene.inputs.iter().cloned());
    let mut coordinator = scene
        .spawn("coordinator-tcp", COORDINATOR, &args, &scene.work, LIMIT)
        .unwrap();
    // Port 0: the coordinator says which port it got.
    let started = Instant::now();
    let addr = loop {
        let log = coordinator.log();
        if let Some(rest) = log.split("listening on tcp:").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
        assert!(coordinator.poll().unwrap().is_none(), "{log}");
        assert!(started.elapsed() < SHORT, "no listening line: {log}");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut worker = scene
        .spawn(
            "worker-tcp",
            WORKER,
            &["--addr".into(), addr, "wc".into()],
            &scene.work,
            LIMIT,
        )
        .unwrap();
    coordinator.wait_success().unwrap();
    worker.wait_success().unwrap();
    let expected = scene.sequential("wc").unwrap();
    same_output("wc", &scene.output().unwrap(), &expected).unwrap();
}
