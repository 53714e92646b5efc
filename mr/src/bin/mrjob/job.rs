//! `mrjob`: a whole MapReduce job from one command.
//!
//! Starts a coordinator process and N worker processes, follows the job's
//! progress over the coordinator's `status` RPC, restarts workers that die
//! while the job is running (the crash app makes them), and summarises the
//! output. The processes are this same executable started with the
//! [`ROLE_ENV`] variable set, so a plain `cargo run --bin mrjob` (which
//! builds no other binary) works on a clean clone and can never pick up a
//! stale sibling binary.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tarpc::context;
use tokio::process::{Child, Command};

use mr::{App, Endpoint, MrError};

use crate::corpus;
use crate::progress::Progress;

/// Environment variable that makes the `mrjob` executable act as a
/// coordinator (`coordinator`) or a worker (`worker`) instead.
pub const ROLE_ENV: &str = "MRJOB_ROLE";

/// How often the job's progress is polled.
const POLL: Duration = Duration::from_millis(100);
/// Worker restarts allowed per worker before the job is declared hopeless.
const RESTARTS_PER_WORKER: usize = 50;

/// What to run.
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// The application.
    pub app: App,
    /// Input files; empty means the generated default corpus.
    pub files: Vec<PathBuf>,
    /// Number of worker processes.
    pub workers: usize,
    /// Number of reduce tasks.
    pub n_reduce: usize,
    /// The coordinator's silent-worker timeout.
    pub task_timeout: Duration,
    /// Working directory: inputs (when generated), intermediates, outputs,
    /// the socket and the processes' logs go here.
    pub dir: PathBuf,
    /// The executable to start with [`ROLE_ENV`] set (normally `mrjob` itself).
    pub exe: PathBuf,
}

/// What a finished job produced.
#[derive(Debug, Clone)]
pub struct JobSummary {
    /// Number of input files.
    pub inputs: usize,
    /// Total input size in bytes.
    pub input_bytes: u64,
    /// The `mr-out-*` files, in reduce-task order.
    pub outputs: Vec<PathBuf>,
    /// Lines across all outputs.
    pub lines: usize,
    /// For `wc`: the ten most frequent words with their counts.
    pub top_words: Vec<(String, u64)>,
    /// Workers restarted after dying mid-job.
    pub restarts: usize,
    /// From starting the coordinator to the job being reported done.
    pub elapsed: Duration,
}

/// Runs the job. Children are killed if this future is dropped.
pub async fn run_job(config: JobConfig, progress: &mut Progress) -> Result<JobSummary, MrError> {
    let dir = &config.dir;
    std::fs::create_dir_all(dir.join("logs")).map_err(|e| MrError::io("cannot create", dir, &e))?;
    clear_previous_job(dir)?;
    let inputs = prepare_inputs(&config, progress)?;
    // The processes resolve inputs from `dir`; so must the check.
    let resolved: Vec<String> = inputs
        .iter()
        .map(|f| dir.join(f).display().to_string())
        .collect();
    mr::check_inputs(&resolved)?;
    let input_bytes = inputs
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).map_or(0, |m| m.len()))
        .sum();
    progress.note(&format!(
        "mrjob: {} over {} files ({:.1} MB) with {} workers and {} reduce tasks in {}",
        config.app.name,
        inputs.len(),
        input_bytes as f64 / 1e6,
        config.workers,
        config.n_reduce,
        dir.display()
    ));

    let started = Instant::now();
    let socket = dir.join("mr.sock");
    let mut coordinator_args = vec![
        "--socket".to_string(),
        socket.display().to_string(),
        "--n-reduce".to_string(),
        config.n_reduce.to_string(),
        "--task-timeout".to_string(),
        format!("{}ms", config.task_timeout.as_millis()),
    ];
    coordinator_args.extend(inputs.iter().cloned());
    let mut coordinator = spawn(&config, "coordinator", &coordinator_args, "coordinator.log")?;
    let endpoint = Endpoint::Unix(socket.clone());
    let client = loop {
        if let Some(status) = coordinator.try_wait().map_err(process_error)? {
            return Err(failed(
                "the coordinator",
                status,
                &dir.join("logs/coordinator.log"),
            ));
        }
        if let Ok(client) = endpoint.connect().await {
            break client;
        }
        if started.elapsed() > Duration::from_secs(10) {
            return Err(MrError::Process(
                "the coordinator did not start listening within 10 s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let worker_args = [
        "--socket".to_string(),
        socket.display().to_string(),
        config.app.name.to_string(),
    ];
    let mut workers = Vec::new();
    for i in 0..config.workers {
        workers.push(spawn(
            &config,
            "worker",
            &worker_args,
            &format!("worker-{i}.log"),
        )?);
    }

    let mut restarts = 0;
    let mut finished_at = None;
    // Once the job has failed, dying workers are expected, not replaced.
    let mut failed_job = false;
    let coordinator_status = loop {
        if let Ok(status) = client.status(context::current()).await {
            progress.update(&status);
            failed_job |= status.failed.is_some();
            if status.finished && finished_at.is_none() {
                finished_at = Some(started.elapsed());
            }
        }
        if let Some(status) = coordinator.try_wait().map_err(process_error)? {
            break status;
        }
        for (i, worker) in workers.iter_mut().enumerate() {
            let Some(status) = worker.try_wait().map_err(process_error)? else {
                continue;
            };
            // A worker exits 0 only once the job is over; anything else
            // while the coordinator runs is a crash worth replacing.
            if !status.success() && finished_at.is_none() && !failed_job {
                restarts += 1;
                if restarts > RESTARTS_PER_WORKER * config.workers {
                    return Err(failed(
                        "worker",
                        status,
                        &dir.join(format!("logs/worker-{i}.log")),
                    ));
                }
                progress.note(&format!(
                    "mrjob: worker {i} exited ({status}); starting another"
                ));
                *worker = spawn(&config, "worker", &worker_args, &format!("worker-{i}.log"))?;
            }
        }
        tokio::time::sleep(POLL).await;
    };
    progress.finish();
    if !coordinator_status.success() {
        return Err(failed(
            "the coordinator",
            coordinator_status,
            &dir.join("logs/coordinator.log"),
        ));
    }
    let elapsed = finished_at.unwrap_or_else(|| started.elapsed());
    // Workers hear "exit" while the coordinator lingers; give stragglers a
    // moment, then stop them (kill_on_drop).
    let grace = tokio::time::Instant::now() + Duration::from_secs(3);
    for worker in &mut workers {
        let _ = tokio::time::timeout_at(grace, worker.wait()).await;
    }
    summarise(&config, inputs.len(), input_bytes, restarts, elapsed)
}

/// Removes a previous job's outputs, intermediates and socket from `dir`,
/// and nothing else.
fn clear_previous_job(dir: &Path) -> Result<(), MrError> {
    let entries = std::fs::read_dir(dir).map_err(|e| MrError::io("cannot list", dir, &e))?;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if mr::is_job_file(&name) || name.starts_with(".mr-tmp-") || name == "mr.sock" {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| MrError::io("cannot remove", &path, &e))?;
        }
    }
    Ok(())
}

/// The input paths as the processes (running in `config.dir`) should see them.
fn prepare_inputs(config: &JobConfig, progress: &Progress) -> Result<Vec<String>, MrError> {
    if config.files.is_empty() {
        let started = Instant::now();
        let written = corpus::write_default_corpus(&config.dir.join("input"))?;
        progress.note(&format!(
            "mrjob: generated the default corpus ({} files) in {:.2} s",
            written.len(),
            started.elapsed().as_secs_f64()
        ));
        return Ok(corpus::DEFAULT_CORPUS
            .iter()
            .map(|file| format!("input/{}", file.name))
            .collect());
    }
    let cwd = std::env::current_dir().map_err(|e| MrError::io("cannot read", ".".as_ref(), &e))?;
    // Relative paths are the user's, relative to where mrjob was started; the
    // processes run elsewhere, so make them absolute.
    Ok(config
        .files
        .iter()
        .map(|file| cwd.join(file).display().to_string())
        .collect())
}

fn spawn(config: &JobConfig, role: &str, args: &[String], log: &str) -> Result<Child, MrError> {
    let log_path = config.dir.join("logs").join(log);
    let open_log = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| MrError::io("cannot open", &log_path, &e))
    };
    Command::new(&config.exe)
        .env(ROLE_ENV, role)
        .args(args)
        .current_dir(&config.dir)
        .stdin(Stdio::null())
        .stdout(open_log()?)
        .stderr(open_log()?)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            MrError::Process(format!(
                "cannot start {} as {role}: {e}",
                config.exe.display()
            ))
        })
}

fn process_error(err: std::io::Error) -> MrError {
    MrError::Process(format!("cannot check on a child process: {err}"))
}

/// An error for a child that exited badly, quoting the end of its log.
fn failed(who: &str, status: ExitStatus, log: &Path) -> MrError {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join("\n  ");
    MrError::Process(format!(
        "{who} exited with {status}; end of {}:\n  {tail}",
        log.display()
    ))
}

fn summarise(
    config: &JobConfig,
    inputs: usize,
    input_bytes: u64,
    restarts: usize,
    elapsed: Duration,
) -> Result<JobSummary, MrError> {
    let mut outputs = Vec::new();
    let mut lines = 0;
    let mut counts: Vec<(String, u64)> = Vec::new();
    for reduce in 0..config.n_reduce {
        let path = config.dir.join(mr::output_name(reduce));
        let text =
            std::fs::read_to_string(&path).map_err(|e| MrError::io("cannot read", &path, &e))?;
        for line in text.lines() {
            lines += 1;
            if config.app.name == "wc"
                && let Some((word, count)) = line.split_once(' ')
                && let Ok(count) = count.parse()
            {
                counts.push((word.to_string(), count));
            }
        }
        outputs.push(path);
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts.truncate(10);
    Ok(JobSummary {
        inputs,
        input_bytes,
        outputs,
        lines,
        top_words: counts,
        restarts,
        elapsed,
    })
}
