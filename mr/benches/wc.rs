//! `wc` over the eight Gutenberg books: `mrsequential` against a coordinator
//! with 2 workers, wall times side by side.
//!
//! `cargo bench -p mr --bench wc` (optionally `-- --runs N`). Skips with a
//! note when `../shared/data/pg` is absent. Three figures per run:
//! * sequential: the `mrsequential` process, start to exit;
//! * distributed, with start-up: from starting the coordinator and both
//!   workers to the coordinator announcing the job done (its 1 s linger
//!   afterwards only lets workers hear "exit", so it is not counted);
//! * distributed, without start-up: the coordinator's own figure, from the
//!   first task handed out to the last one reported.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const COORDINATOR: &str = env!("CARGO_BIN_EXE_mrcoordinator");
const WORKER: &str = env!("CARGO_BIN_EXE_mrworker");
const SEQUENTIAL: &str = env!("CARGO_BIN_EXE_mrsequential");

fn pg_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/pg");
    dir.join("pg-grimm.txt").exists().then_some(dir)
}

fn sorted_output(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).expect("list").filter_map(Result::ok) {
        if entry.file_name().to_string_lossy().starts_with("mr-out") {
            let text = std::fs::read_to_string(entry.path()).expect("read output");
            lines.extend(text.lines().map(String::from));
        }
    }
    lines.sort();
    lines
}

fn clear(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("list").filter_map(Result::ok) {
        if entry.file_name().to_string_lossy().starts_with("mr-") {
            std::fs::remove_file(entry.path()).expect("remove");
        }
    }
}

fn sequential(dir: &Path, inputs: &[String]) -> Duration {
    clear(dir);
    let started = Instant::now();
    let status = Command::new(SEQUENTIAL)
        .arg("wc")
        .args(inputs)
        .current_dir(dir)
        .status()
        .expect("run mrsequential");
    assert!(status.success(), "mrsequential failed");
    started.elapsed()
}

/// Returns (with start-up, without start-up).
fn distributed(dir: &Path, socket: &Path, inputs: &[String]) -> (Duration, Duration) {
    clear(dir);
    let started = Instant::now();
    let mut coordinator = Command::new(COORDINATOR)
        .arg("--socket")
        .arg(socket)
        .args(inputs)
        .current_dir(dir)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mrcoordinator");
    let workers: Vec<_> = (0..2)
        .map(|_| {
            Command::new(WORKER)
                .arg("--socket")
                .arg(socket)
                .arg("wc")
                .current_dir(dir)
                .spawn()
                .expect("start mrworker")
        })
        .collect();
    let stderr = coordinator.stderr.take().expect("piped");
    let mut with_startup = None;
    let mut busy = None;
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if let Some(rest) = line.split(" tasks in ").nth(1) {
            with_startup = Some(started.elapsed());
            let secs: f64 = rest
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .expect("busy time");
            busy = Some(Duration::from_secs_f64(secs));
        }
    }
    assert!(
        coordinator.wait().expect("wait").success(),
        "coordinator failed"
    );
    for mut worker in workers {
        assert!(worker.wait().expect("wait").success(), "worker failed");
    }
    (
        with_startup.expect("job done line"),
        busy.expect("job done line"),
    )
}

/// CPU time (user + system) used so far by this process's waited-for
/// children, from /proc (Linux; clock ticks of 10 ms). Unlike wall time it
/// hardly depends on what else the machine is doing.
fn children_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(1)
                .map(|f| f.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default();
    // After the state field: ppid is index 0, cutime index 12, cstime 13.
    let ticks = fields.get(12).copied().unwrap_or(0) + fields.get(13).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn main() {
    let Some(pg) = pg_dir() else {
        println!(
            "wc benchmark skipped: ../shared/data/pg (the Gutenberg books) not found next to the workspace"
        );
        return;
    };
    let args: Vec<String> = std::env::args().collect();
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    let root = tempfile::tempdir().expect("temp dir");
    let mut inputs = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&pg)
        .expect("list books")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pg-") && n.ends_with(".txt"))
        .collect();
    names.sort();
    for name in &names {
        std::os::unix::fs::symlink(pg.join(name), root.path().join(name)).expect("link");
        inputs.push(format!("../{name}"));
    }
    let (seq_dir, dist_dir) = (root.path().join("seq"), root.path().join("dist"));
    std::fs::create_dir(&seq_dir).expect("mkdir");
    std::fs::create_dir(&dist_dir).expect("mkdir");
    let socket = root.path().join("bench.sock");

    let (mut seq, mut dist, mut busy) = (Vec::new(), Vec::new(), Vec::new());
    let (mut seq_cpu, mut dist_cpu) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..runs {
        let before = children_cpu();
        seq.push(sequential(&seq_dir, &inputs));
        let between = children_cpu();
        let (d, b) = distributed(&dist_dir, &socket, &inputs);
        seq_cpu += between - before;
        dist_cpu += children_cpu() - between;
        dist.push(d);
        busy.push(b);
    }
    assert_eq!(
        sorted_output(&dist_dir),
        sorted_output(&seq_dir),
        "outputs differ"
    );

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (s, d, b) = (
        median(seq.clone()),
        median(dist.clone()),
        median(busy.clone()),
    );
    println!(
        "wc over {} books, {runs} runs (median; min in brackets)",
        names.len()
    );
    println!(
        "  mrsequential                           {:7.1} ms  [{:7.1}]",
        ms(s),
        ms(*seq.iter().min().unwrap())
    );
    println!(
        "  coordinator + 2 workers, with start-up {:7.1} ms  [{:7.1}]",
        ms(d),
        ms(*dist.iter().min().unwrap())
    );
    println!(
        "  coordinator + 2 workers, tasks only    {:7.1} ms  [{:7.1}]",
        ms(b),
        ms(*busy.iter().min().unwrap())
    );
    println!(
        "  CPU time per run (user + system): mrsequential {:.0} ms, coordinator + workers {:.0} ms",
        ms(seq_cpu) / runs as f64,
        ms(dist_cpu) / runs as f64
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?");
    println!(
        "  (load average {load} on {} cores; wall times need a quiet machine)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  speed-up over mrsequential: {:.2}x with start-up, {:.2}x without",
        ms(s) / ms(d),
        ms(s) / ms(b)
    );
}
