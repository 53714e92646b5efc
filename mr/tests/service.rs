//! The coordinator service over a real socket, driven by hand-written RPC
//! clients in this process: re-issue after the timeout for a worker that
//! hangs with its connection open, immediate re-issue for a worker whose
//! connection closes, and exit for everyone when the job is over.

use std::time::{Duration, Instant};

use mr::{
    Assignment, Client, CoordinatorConfig, Endpoint, JobReport, MrError, Outcome, Report, TaskId,
};
use tarpc::context;

struct Job {
    _dir: tempfile::TempDir,
    endpoint: Endpoint,
    coordinator: tokio::task::JoinHandle<Result<JobReport, MrError>>,
}

/// A coordinator for one input file and one reduce task.
async fn start(task_timeout: Duration) -> Job {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "some words").unwrap();
    let endpoint = Endpoint::Unix(dir.path().join("c.sock"));
    let listener = endpoint.bind().await.unwrap();
    let config = CoordinatorConfig {
        files: vec![input.display().to_string()],
        n_reduce: 1,
        task_timeout,
        linger: Duration::ZERO,
    };
    let coordinator = tokio::spawn(mr::run_coordinator(
        config,
        listener,
        std::future::pending(),
    ));
    Job {
        _dir: dir,
        endpoint,
        coordinator,
    }
}

async fn ask(client: &Client) -> Assignment {
    client.get_task(context::current(), 0).await.unwrap()
}

async fn done(client: &Client, task: TaskId, attempt: u32) -> bool {
    let report = Report {
        task,
        attempt,
        outcome: Outcome::Done,
    };
    client.report(context::current(), report).await.unwrap()
}

/// Asks until something other than Wait comes back.
async fn ask_until_work(client: &Client) -> Assignment {
    loop {
        match ask(client).await {
            Assignment::Wait => continue,
            other => return other,
        }
    }
}

#[tokio::test]
async fn a_hung_worker_loses_its_task_after_the_timeout() {
    let job = start(Duration::from_millis(300)).await;
    let hung = job.endpoint.connect().await.unwrap();
    let healthy = job.endpoint.connect().await.unwrap();
    let Assignment::Map {
        task: 0,
        attempt: 1,
        ..
    } = ask(&hung).await
    else {
        panic!("first worker should get map 0");
    };
    let asked = Instant::now();
    let reissued = ask_until_work(&healthy).await;
    let waited = asked.elapsed();
    assert!(
        matches!(
            reissued,
            Assignment::Map {
                task: 0,
                attempt: 2,
                ..
            }
        ),
        "{reissued:?}"
    );
    assert!(
        waited >= Duration::from_millis(250),
        "re-issued too early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(3),
        "re-issued too late: {waited:?}"
    );

    // The hung worker wakes up and reports first: accepted. The second
    // report of the same task is a duplicate.
    assert!(done(&hung, TaskId::Map(0), 1).await);
    assert!(!done(&healthy, TaskId::Map(0), 2).await);
    let Assignment::Reduce {
        task: 0,
        attempt: 1,
        n_map: 1,
    } = ask(&healthy).await
    else {
        panic!("expected the reduce");
    };
    let status = healthy.status(context::current()).await.unwrap();
    assert_eq!(
        (status.maps_done, status.reduces_done, status.finished),
        (1, 0, false)
    );
    assert!(done(&healthy, TaskId::Reduce(0), 1).await);
    let report = job.coordinator.await.unwrap().unwrap();
    assert_eq!((report.n_map, report.n_reduce), (1, 1));
}

#[tokio::test]
async fn a_dead_workers_task_is_reissued_without_waiting_for_the_timeout() {
    let job = start(Duration::from_secs(10)).await;
    let doomed = job.endpoint.connect().await.unwrap();
    let survivor = job.endpoint.connect().await.unwrap();
    assert!(matches!(
        ask(&doomed).await,
        Assignment::Map { task: 0, .. }
    ));
    let asked = Instant::now();
    let waiting = tokio::spawn(async move {
        let assignment = ask_until_work(&survivor).await;
        (assignment, survivor)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(doomed); // closes the connection, as a crashed process would
    let (assignment, survivor) = waiting.await.unwrap();
    assert!(
        matches!(
            assignment,
            Assignment::Map {
                task: 0,
                attempt: 2,
                ..
            }
        ),
        "{assignment:?}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "took {:?}",
        asked.elapsed()
    );
    assert!(done(&survivor, TaskId::Map(0), 2).await);
    assert!(matches!(
        ask(&survivor).await,
        Assignment::Reduce { task: 0, .. }
    ));
    assert!(done(&survivor, TaskId::Reduce(0), 1).await);
    job.coordinator.await.unwrap().unwrap();
}

#[tokio::test]
async fn everyone_is_told_to_exit_once_the_job_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "x").unwrap();
    let endpoint = Endpoint::Unix(dir.path().join("c.sock"));
    let listener = endpoint.bind().await.unwrap();
    let mut config = CoordinatorConfig::new(vec![input.display().to_string()]);
    config.n_reduce = 1;
    // Linger long enough for the idle worker's question to be answered.
    config.linger = Duration::from_millis(500);
    let coordinator = tokio::spawn(mr::run_coordinator(
        config,
        listener,
        std::future::pending(),
    ));
    let busy = endpoint.connect().await.unwrap();
    let idle = endpoint.connect().await.unwrap();
    assert!(matches!(ask(&busy).await, Assignment::Map { .. }));
    assert!(done(&busy, TaskId::Map(0), 1).await);
    assert!(matches!(ask(&busy).await, Assignment::Reduce { .. }));
    // The idle worker is waiting inside get_task when the job finishes.
    let idle_asks = tokio::spawn(async move { ask_until_work(&idle).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(done(&busy, TaskId::Reduce(0), 1).await);
    assert_eq!(idle_asks.await.unwrap(), Assignment::Exit);
    assert_eq!(ask(&busy).await, Assignment::Exit);
    coordinator.await.unwrap().unwrap();
    assert!(
        !dir.path().join("c.sock").exists(),
        "socket removed after the job"
    );
    assert!(endpoint.connect().await.is_err());
}
