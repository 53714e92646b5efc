//! The seven scenarios of test-mr.sh, each with the reference's pass rule.
//! Every scenario gets its own directory and socket, so all of them can run
//! at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::{CRASH_LIMIT, Corpus, LIMIT, Proc, Scene, same_output};

type Outcome = Result<(), String>;

/// Facts about the Gutenberg outputs computed independently (labs.md §3.4).
fn check_pg_facts(app: &str, corpus: Corpus, expected: &[String]) -> Outcome {
    if corpus != Corpus::Gutenberg {
        return if expected.is_empty() {
            Err(format!("mrsequential {app} wrote nothing"))
        } else {
            Ok(())
        };
    }
    let fail = |what: &str| {
        Err(format!(
            "mrsequential {app} on the books: {what} disagrees with labs.md §3.4"
        ))
    };
    match app {
        "wc" if expected.len() != 22_107 => fail("distinct word count"),
        "wc" if expected[..3] != ["A 509", "ABOUT 2", "ACT 8"] => fail("first lines"),
        "indexer" if expected.len() != 22_107 => fail("line count"),
        "indexer" if !expected[0].starts_with("A 8 ../pg-being_ernest.txt,") => fail("first line"),
        "nocrash" if expected[1] != "b 15 20 21 22 22 23 25 26" => fail("name lengths"),
        "nocrash" if expected[2] != "c 138885 139054 412665 441033 453168 540174 581863 594262" => {
            fail("sizes")
        }
        _ => Ok(()),
    }
}

/// Coordinator plus `workers` workers of `app`; returns once the coordinator
/// exits successfully, with the workers still to be waited for.
fn run_job(scene: &Scene, app: &str, workers: usize) -> Result<Vec<Proc>, String> {
    let mut coordinator = scene.coordinator(&[], LIMIT)?;
    scene.wait_until_serving(&mut coordinator)?;
    let workers = (0..workers)
        .map(|_| scene.worker(app, LIMIT))
        .collect::<Result<Vec<_>, _>>()?;
    coordinator.wait_success()?;
    Ok(workers)
}

fn wait_all_success(procs: &mut [Proc]) -> Outcome {
    procs.iter_mut().try_for_each(Proc::wait_success)
}

/// Same output as mrsequential (`wc` with 3 workers, `indexer` with 2).
pub fn matches_sequential(corpus: Corpus, app: &str, workers: usize) -> Outcome {
    let scene = Scene::new(corpus, app)?;
    let expected = scene.sequential(app)?;
    check_pg_facts(app, corpus, &expected)?;
    let mut workers = run_job(&scene, app, workers)?;
    same_output(app, &scene.output()?, &expected)?;
    wait_all_success(&mut workers)
}

/// Map parallelism: two `mtiming` workers both ran maps, and at some point
/// ran them at the same time.
pub fn map_parallelism(corpus: Corpus) -> Outcome {
    let scene = Scene::new(corpus, "mtiming")?;
    let mut workers = run_job(&scene, "mtiming", 2)?;
    let output = scene.output()?;
    let times = output.iter().filter(|l| l.starts_with("times-")).count();
    if times != 2 {
        return Err(format!("saw {times} workers run maps, want 2: {output:?}"));
    }
    // ^parallel.* 2
    let overlapped = output.iter().any(|l| {
        l.strip_prefix("parallel")
            .is_some_and(|rest| rest.contains(" 2"))
    });
    if !overlapped {
        return Err(format!("map workers did not run in parallel: {output:?}"));
    }
    wait_all_success(&mut workers)
}

/// Reduce parallelism: at least two `rtiming` reduces overlapped.
pub fn reduce_parallelism(corpus: Corpus) -> Outcome {
    let scene = Scene::new(corpus, "rtiming")?;
    let mut workers = run_job(&scene, "rtiming", 2)?;
    let output = scene.output()?;
    // ^[a-z] 2
    let overlapped = output
        .iter()
        .filter(|l| {
            let b = l.as_bytes();
            b.len() >= 3 && b[0].is_ascii_lowercase() && &b[1..3] == b" 2"
        })
        .count();
    if overlapped < 2 {
        return Err(format!(
            "too few parallel reduces ({overlapped}): {output:?}"
        ));
    }
    wait_all_success(&mut workers)
}

/// Job count: exactly one execution per map task, even with workers that
/// start late (during or after the coordinator's final linger).
pub fn job_count(corpus: Corpus) -> Outcome {
    let scene = Scene::new(corpus, "jobcount")?;
    let mut coordinator = scene.coordinator(&[], LIMIT)?;
    scene.wait_until_serving(&mut coordinator)?;
    let mut w1 = scene.worker("jobcount", LIMIT)?;
    scene.worker("jobcount", LIMIT)?.wait()?;
    let mut w3 = scene.worker("jobcount", LIMIT)?;
    scene.worker("jobcount", LIMIT)?.wait()?;
    coordinator.wait_success()?;
    let output = scene.output()?;
    let n_map = scene.inputs.len();
    if output != [format!("a {n_map}")] {
        return Err(format!(
            "map tasks ran the wrong number of times: {output:?}, want [\"a {n_map}\"]"
        ));
    }
    let markers = std::fs::read_dir(&scene.work)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("mr-worker-jobcount")
        })
        .count();
    if markers != n_map {
        return Err(format!(
            "{markers} map executions after the job, want {n_map}"
        ));
    }
    w1.wait()?;
    w3.wait()?;
    Ok(())
}

/// Early exit: no process exits before the output is final.
pub fn early_exit(corpus: Corpus) -> Outcome {
    let scene = Scene::new(corpus, "early_exit")?;
    let expected = scene.sequential("early_exit")?;
    let mut coordinator = scene.coordinator(&[], LIMIT)?;
    scene.wait_until_serving(&mut coordinator)?;
    let mut procs = vec![coordinator];
    for _ in 0..3 {
        procs.push(scene.worker("early_exit", LIMIT)?);
    }
    // Wait for whichever process exits first, then snapshot the output.
    let started = Instant::now();
    let first = loop {
        let mut exited = None;
        for (i, proc) in procs.iter_mut().enumerate() {
            if proc.poll()?.is_some() {
                exited = Some(i);
                break;
            }
        }
        if let Some(i) = exited {
            break i;
        }
        if started.elapsed() > LIMIT {
            return Err("no process exited within the time limit".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let snapshot = scene.output()?;
    for proc in &mut procs {
        proc.wait()?;
    }
    procs[0].wait_success()?;
    let last = scene.output()?;
    if snapshot != last {
        return Err(format!(
            "output changed after {} exited ({} lines then, {} at the end)",
            procs[first].name,
            snapshot.len(),
            last.len()
        ));
    }
    same_output("early_exit", &last, &expected)
}

/// Crash: workers that die or stall at random still produce exactly the
/// sequential `nocrash` output. One worker, plus three loops that keep
/// starting new ones while the coordinator runs.
pub fn crash(corpus: Corpus) -> Outcome {
    let scene = Scene::new(corpus, "crash")?;
    let expected = scene.sequential("nocrash")?;
    check_pg_facts("nocrash", corpus, &expected)?;
    let mut coordinator = scene.coordinator(&[], CRASH_LIMIT)?;
    scene.wait_until_serving(&mut coordinator)?;
    let done = AtomicBool::new(false);
    let outcome = std::thread::scope(|s| {
        let mut first = scene.worker("crash", CRASH_LIMIT)?;
        let loops: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| -> Outcome {
                    while scene.socket.exists() && !done.load(Ordering::SeqCst) {
                        scene.worker("crash", CRASH_LIMIT)?.wait()?;
                        std::thread::sleep(Duration::from_secs(1));
                    }
                    Ok(())
                })
            })
            .collect();
        let result = coordinator.wait_success();
        done.store(true, Ordering::SeqCst);
        for handle in loops {
            handle
                .join()
                .map_err(|_| "worker loop panicked".to_string())??;
        }
        first.wait()?;
        result
    });
    outcome?;
    same_output("crash", &scene.output()?, &expected)
}
