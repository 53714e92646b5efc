//! Shared helpers for the process-level tests: the real binaries, an
//! isolated directory and socket per test, time-limited child processes and
//! output comparison in the style of `test-mr.sh`.

// Each test crate uses a different subset.
#![allow(dead_code)]

// The generated corpus is `mrjob`'s; the tests write the same files.
#[path = "../../src/bin/mrjob/corpus.rs"]
pub mod corpus;
#[path = "../../src/bin/mrjob/rng.rs"]
mod rng;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// test-mr.sh's per-process limit (`timeout 45s`).
pub const LIMIT: Duration = Duration::from_secs(45);
/// test-mr.sh's limit in the crash test (`timeout 120s`).
pub const CRASH_LIMIT: Duration = Duration::from_secs(120);

pub const COORDINATOR: &str = env!("CARGO_BIN_EXE_mrcoordinator");
pub const WORKER: &str = env!("CARGO_BIN_EXE_mrworker");
pub const SEQUENTIAL: &str = env!("CARGO_BIN_EXE_mrsequential");
pub const JOB: &str = env!("CARGO_BIN_EXE_mrjob");

/// Which inputs a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corpus {
    /// The generated default corpus (always available).
    Generated,
    /// The eight Gutenberg books, when `../shared/data/pg` exists.
    Gutenberg,
}

impl Corpus {
    pub fn suffix(self) -> &'static str {
        match self {
            Corpus::Generated => "generated",
            Corpus::Gutenberg => "pg",
        }
    }

    /// The directory holding this corpus's files, or why it is unavailable.
    pub fn dir(self) -> Result<PathBuf, String> {
        match self {
            Corpus::Generated => Ok(generated_dir().to_path_buf()),
            Corpus::Gutenberg => pg_dir().ok_or_else(|| {
                "../shared/data/pg not found next to the workspace; Gutenberg variant skipped"
                    .to_string()
            }),
        }
    }
}

/// `<workspace>/../shared/data/pg`, if it holds the books.
pub fn pg_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/pg");
    let has_books = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().starts_with("pg-"));
    has_books.then(|| dir.canonicalize().unwrap_or(dir))
}

/// The generated corpus, written once per test process.
pub fn generated_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("mr-corpus-")
            .tempdir()
            .expect("temp dir");
        corpus::write_default_corpus(dir.path()).expect("write corpus");
        dir
    })
    .path()
}

/// A child process with a deadline; killed when dropped.
pub struct Proc {
    pub name: String,
    child: Child,
    started: Instant,
    limit: Duration,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Whether it has exited (without waiting).
    pub fn poll(&mut self) -> Result<Option<ExitStatus>, String> {
        if self.status.is_none() {
            self.status = self
                .child
                .try_wait()
                .map_err(|e| format!("{}: cannot check on it: {e}", self.name))?;
        }
        Ok(self.status)
    }

    /// Waits for it to exit; past its time limit, kills it and fails.
    pub fn wait(&mut self) -> Result<ExitStatus, String> {
        loop {
            if let Some(status) = self.poll()? {
                return Ok(status);
            }
            if self.started.elapsed() > self.limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!(
                    "{} still running after {} s; killed{}",
                    self.name,
                    self.limit.as_secs(),
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits, and fails unless it exited with status 0.
    pub fn wait_success(&mut self) -> Result<(), String> {
        let status = self.wait()?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} exited with {status}{}",
                self.name,
                self.log_tail()
            ))
        }
    }

    /// The last lines of its output, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(6)..];
        if tail.is_empty() {
            String::new()
        } else {
            format!(
                "\n    {} output:\n      {}",
                self.name,
                tail.join("\n      ")
            )
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One scenario's private directory, laid out like test-mr.sh's:
/// inputs linked into `root/`, the job running in `root/mr-tmp` and naming
/// them `../<file>`, `mrsequential` in `root/seq` with the same names.
pub struct Scene {
    pub root: tempfile::TempDir,
    pub work: PathBuf,
    pub socket: PathBuf,
    pub inputs: Vec<String>,
    spawned: std::sync::atomic::AtomicUsize,
}

impl Scene {
    pub fn new(corpus: Corpus, name: &str) -> Result<Scene, String> {
        let source = corpus.dir()?;
        let root = tempfile::Builder::new()
            .prefix(&format!("mr-{name}-"))
            .tempdir()
            .map_err(|e| e.to_string())?;
        let mut names: Vec<String> = std::fs::read_dir(&source)
            .map_err(|e| e.to_string())?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".txt"))
            .collect();
        names.sort();
        for n in &names {
            std::os::unix::fs::symlink(source.join(n), root.path().join(n))
                .map_err(|e| e.to_string())?;
        }
        for sub in ["mr-tmp", "seq", "logs"] {
            std::fs::create_dir(root.path().join(sub)).map_err(|e| e.to_string())?;
        }
        Ok(Scene {
            work: root.path().join("mr-tmp"),
            socket: root.path().join("mr.sock"),
            inputs: names.iter().map(|n| format!("../{n}")).collect(),
            root,
            spawned: Default::default(),
        })
    }

    /// A scene whose inputs are the given small files.
    pub fn with_inputs(name: &str, files: &[(&str, &str)]) -> Result<Scene, String> {
        let root = tempfile::Builder::new()
            .prefix(&format!("mr-{name}-"))
            .tempdir()
            .map_err(|e| e.to_string())?;
        for (file, text) in files {
            std::fs::write(root.path().join(file), text).map_err(|e| e.to_string())?;
        }
        for sub in ["mr-tmp", "seq", "logs"] {
            std::fs::create_dir(root.path().join(sub)).map_err(|e| e.to_string())?;
        }
        Ok(Scene {
            work: root.path().join("mr-tmp"),
            socket: root.path().join("mr.sock"),
            inputs: files.iter().map(|(n, _)| format!("../{n}")).collect(),
            root,
            spawned: Default::default(),
        })
    }

    /// Starts `program` in `dir` with output to `logs/<name>.log`.
    pub fn spawn(
        &self,
        name: &str,
        program: &str,
        args: &[String],
        dir: &Path,
        limit: Duration,
    ) -> Result<Proc, String> {
        let n = self
            .spawned
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = self
            .root
            .path()
            .join("logs")
            .join(format!("{n:03}-{name}.log"));
        let file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let file2 = file.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(file2)
            .spawn()
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        Ok(Proc {
            name: name.to_string(),
            child,
            started: Instant::now(),
            limit,
            log,
            status: None,
        })
    }

    /// `mrcoordinator --socket <ours> [extra] ../inputs...`
    pub fn coordinator(&self, extra: &[&str], limit: Duration) -> Result<Proc, String> {
        let mut args = vec!["--socket".to_string(), self.socket.display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(self.inputs.iter().cloned());
        self.spawn("coordinator", COORDINATOR, &args, &self.work, limit)
    }

    /// `mrworker --socket <ours> APP`
    pub fn worker(&self, app: &str, limit: Duration) -> Result<Proc, String> {
        let args = [
            "--socket".to_string(),
            self.socket.display().to_string(),
            app.to_string(),
        ];
        self.spawn(&format!("worker-{app}"), WORKER, &args, &self.work, limit)
    }

    /// Waits until the coordinator says it serves the job (test-mr.sh
    /// sleeps 1 s); its socket exists by then. The socket alone is not
    /// enough: it is bound before the coordinator checks its inputs a second
    /// time, and a test that removes an input right after seeing it could
    /// make the coordinator fail and remove the socket before a worker
    /// connects.
    pub fn wait_until_serving(&self, coordinator: &mut Proc) -> Result<(), String> {
        let started = Instant::now();
        while !coordinator.log().contains("mrcoordinator: listening on") {
            if let Some(status) = coordinator.poll()? {
                return Err(format!(
                    "coordinator exited with {status} before listening{}",
                    coordinator.log_tail()
                ));
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err("coordinator did not start serving within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Runs `mrsequential APP ../inputs...` and returns its sorted lines.
    pub fn sequential(&self, app: &str) -> Result<Vec<String>, String> {
        let seq = self.root.path().join("seq");
        let mut args = vec![app.to_string()];
        args.extend(self.inputs.iter().cloned());
        let mut proc = self.spawn(&format!("sequential-{app}"), SEQUENTIAL, &args, &seq, LIMIT)?;
        proc.wait_success()?;
        sorted_lines(&seq)
    }

    /// The job's output: every line of every `mr-out*`, non-empty, sorted
    /// (`sort mr-out* | grep .`).
    pub fn output(&self) -> Result<Vec<String>, String> {
        sorted_lines(&self.work)
    }

    /// Keeps the directory for inspection and says where it is.
    pub fn keep(self) -> PathBuf {
        self.root.keep()
    }
}

/// Sorted non-empty lines of all `mr-out*` files in `dir`.
pub fn sorted_lines(dir: &Path) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries.filter_map(Result::ok) {
        if entry.file_name().to_string_lossy().starts_with("mr-out") {
            let text = std::fs::read_to_string(entry.path()).map_err(|e| e.to_string())?;
            lines.extend(text.lines().filter(|l| !l.is_empty()).map(String::from));
        }
    }
    lines.sort();
    Ok(lines)
}

/// `cmp` of two sorted outputs, with a useful message when they differ.
pub fn same_output(what: &str, got: &[String], want: &[String]) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    let first_diff = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    Err(format!(
        "{what}: output differs from mrsequential's ({} lines vs {}); first difference at line {}: got {:?}, want {:?}",
        got.len(),
        want.len(),
        first_diff + 1,
        got.get(first_diff),
        want.get(first_diff)
    ))
}
