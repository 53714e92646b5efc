//! Deterministic simulation: virtual time, one seed, replayable failures.
//!
//! [`run`] executes a test body as a task on a fresh tokio current-thread
//! runtime whose clock is paused. Time stands still while any task can make
//! progress and jumps to the next timer when every task waits, so a test that
//! "sleeps" for minutes finishes in milliseconds of wall time, and — because
//! one thread polls every task in a fixed order and every random choice comes
//! from [`crate::rng`], seeded here — the same seed replays the same run.
//!
//! # Rules for code that runs inside a simulation
//!
//! Break any of these and a seed no longer replays its failure:
//!
//! * Time comes from `tokio::time` (`Instant`, `sleep`, `timeout`, `interval`),
//!   never `std::time::Instant` or `SystemTime`.
//! * No OS threads and no `spawn_blocking`: everything is a tokio task.
//! * Randomness comes from [`crate::rng`]; never `rand::rng()`.
//! * Never let the iteration order of a std `HashMap`/`HashSet` decide
//!   behaviour (its hasher is randomly keyed per process): use `BTreeMap`.
//! * `tokio::select!` always starts with `biased;` (otherwise tokio picks a
//!   random branch order).
//! * Logs go through `tracing`; [`run`] stamps each line with virtual time.
//!
//! # Limits and failure reports
//!
//! * A test may use at most [`VIRTUAL_TIME_LIMIT`] (120 s, as in the reference
//!   harness) of virtual time.
//! * A task that spins without awaiting stops the virtual clock. A watchdog on
//!   the calling thread fails the test when virtual time has not moved for
//!   [`STALL_LIMIT`] of wall time (`LAB_STALL_SECS` overrides), naming the
//!   likely cause, so nothing can hang CI.
//! * A panic anywhere in the simulation — the body or any spawned task — fails
//!   the test at once, and every failure prints the seed and the exact
//!   command that replays it.
//!
//! `LAB_SEED=N` fixes the seed; without it each run draws a fresh one.
//! `LAB_SIM_REPORT=1` makes each simulation print one machine-readable line
//! (`labrpc-sim: result=ok seed=N virtual_ms=M digest=D cpu_ms=C` followed by
//! any `key=value` fields the test added with [`report`], e.g. the history
//! checker's `check=ok`) on stderr, for `labtool`.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Once};
use std::time::Duration;

use tokio::sync::Notify;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// Prefix of the one machine-readable status line a simulation prints on
/// stderr when `LAB_SIM_REPORT` is set (`labrpc-sim: result=ok seed=…`);
/// `labtool` finds it by this constant.
pub const STATUS_PREFIX: &str = "labrpc-sim: ";

/// Virtual-time budget of one simulated test, as the reference harness's 120 s.
pub const VIRTUAL_TIME_LIMIT: Duration = Duration::from_secs(120);

/// Wall time with no virtual-time progress after which the watchdog fails a test.
pub const STALL_LIMIT: Duration = Duration::from_secs(30);

/// How often the simulation publishes its virtual clock to the watchdog.
const PROGRESS_TICK: Duration = Duration::from_millis(100);

/// How often the watchdog looks at the published clock.
const WATCHDOG_POLL: Duration = Duration::from_millis(250);

thread_local! {
    /// Per-simulation state, present only on a thread running a simulation.
    static CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
    /// Virtual start instant, for log timestamps and [`elapsed`].
    static START: Cell<Option<tokio::time::Instant>> = const { Cell::new(None) };
    /// Running digest of every RPC's outcome; see [`digest`].
    static DIGEST: Cell<u64> = const { Cell::new(FNV_OFFSET) };
    /// Mutants switched on in this simulation; see [`enable_mutant`].
    static MUTANTS: RefCell<std::collections::BTreeSet<String>> =
        const { RefCell::new(std::collections::BTreeSet::new()) };
}

/// Switches on a named, test-only broken behaviour ("mutant") for the rest
/// of this simulation. Services compiled with their `mutants` feature ask
/// [`mutant`] at the point where they would misbehave; the tester's
/// mutation tests turn one on and check that the scenarios catch it. Every
/// simulation starts with none on; outside a simulation this does nothing.
pub fn enable_mutant(name: &str) {
    if in_simulation() {
        MUTANTS.with(|m| m.borrow_mut().insert(name.to_string()));
    }
}

/// True if the running simulation switched on the mutant `name`.
pub fn mutant(name: &str) -> bool {
    MUTANTS.with(|m| m.borrow().contains(name))
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// A digest of everything the simulated network has done so far in this
/// simulation: every call's virtual completion time, end, method, outcome
/// and reply size, in order. Two runs with one seed end with the same
/// digest; comparing digests is how the determinism tests check that a
/// whole scenario replays exactly. Outside a simulation it stays constant.
pub fn digest() -> u64 {
    DIGEST.with(Cell::get)
}

/// Folds one RPC's outcome (`ok <n>B`, `lost` or the error) into the
/// digest (FNV-1a over its fields).
pub(crate) fn digest_rpc(end: &str, method: &str, outcome: &str) {
    if !in_simulation() {
        return;
    }
    let nanos = elapsed().as_nanos() as u64;
    DIGEST.with(|d| {
        let mut h = d.get();
        let fields: [&[u8]; 4] = [
            &nanos.to_le_bytes(),
            end.as_bytes(),
            method.as_bytes(),
            outcome.as_bytes(),
        ];
        for field in fields {
            for &b in field {
                h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
            }
            // Separates fields so ("ab","c") and ("a","bc") differ.
            h = (h ^ 0xff).wrapping_mul(FNV_PRIME);
        }
        d.set(h);
    });
}

struct Context {
    seed: u64,
    /// First panic message seen on the simulation thread.
    panic: Option<String>,
    /// Woken when a task panics, so the body stops waiting at once.
    panicked: Arc<Notify>,
    /// `key=value` fields for the report line; see [`report`].
    fields: Fields,
}

/// The report line's extra fields, in the order first reported.
type Fields = Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// Adds `key=value` to this simulation's `LAB_SIM_REPORT` line (say, a
/// history checker's verdict). A key reported again gets the new value
/// appended after a comma (`check=ok,unknown`), so no verdict is hidden.
/// Values must not contain whitespace. Does nothing outside a simulation.
pub fn report(key: &str, value: &str) {
    CONTEXT.with(|c| {
        let Some(c) = c.borrow().as_ref().map(|c| c.fields.clone()) else {
            return;
        };
        let mut fields = c.lock().unwrap_or_else(|e| e.into_inner());
        match fields.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => {
                v.push(',');
                v.push_str(value);
            }
            None => fields.push((key.to_string(), value.to_string())),
        }
    });
}

fn format_fields(fields: &Fields) -> String {
    let fields = fields.lock().unwrap_or_else(|e| e.into_inner());
    fields.iter().map(|(k, v)| format!(" {k}={v}")).collect()
}

/// The seed of the simulation running on this thread, if any.
pub fn seed() -> Option<u64> {
    CONTEXT.with(|c| c.borrow().as_ref().map(|c| c.seed))
}

/// True inside a simulation.
pub fn in_simulation() -> bool {
    seed().is_some()
}

/// Virtual time since the simulation started (zero outside a simulation).
pub fn elapsed() -> Duration {
    START.with(|s| s.get().map(|t| t.elapsed()).unwrap_or_default())
}

/// A simulation with explicit settings; [`run`] uses the defaults.
#[derive(Debug, Clone)]
pub struct Sim {
    seed: Option<u64>,
    time_limit: Duration,
    stall_limit: Duration,
    cpu_limit: Duration,
}

impl Default for Sim {
    fn default() -> Self {
        Sim::new()
    }
}

/// Runs `body` in a fresh simulation with the seed from `LAB_SEED` (or a fresh
/// one) and the default limits, returning its result. Panics — after printing
/// the seed and the replay command — if the body or any task fails.
pub fn run<T, F, Fut>(body: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
{
    Sim::new().run(body)
}

impl Sim {
    /// Default settings: seed from `LAB_SEED` or fresh, 120 s of virtual time.
    pub fn new() -> Sim {
        let stall_limit = std::env::var("LAB_STALL_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(STALL_LIMIT);
        Sim {
            seed: None,
            time_limit: VIRTUAL_TIME_LIMIT,
            stall_limit,
            cpu_limit: cpu_limit(),
        }
    }

    /// Sets the CPU ceiling (default [`CPU_LIMIT`], or `LAB_CPU_LIMIT_SECS`).
    pub fn cpu_limit(mut self, limit: Duration) -> Sim {
        self.cpu_limit = limit;
        self
    }

    /// Uses this seed, ignoring `LAB_SEED`.
    pub fn seed(mut self, seed: u64) -> Sim {
        self.seed = Some(seed);
        self
    }

    /// Sets the virtual-time limit.
    pub fn time_limit(mut self, limit: Duration) -> Sim {
        self.time_limit = limit;
        self
    }

    /// Runs `body` to completion in virtual time and returns its result.
    pub fn run<T, F, Fut>(self, body: F) -> T
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
    {
        install_panic_hook();
        let seed = match self.seed {
            Some(seed) => seed,
            None => seed_from_env(),
        };
        let name = std::thread::current()
            .name()
            .unwrap_or("simulation")
            .to_string();
        let progress = Arc::new(AtomicU64::new(0));
        let (done_tx, done_rx) = mpsc::channel();
        let limit = self.time_limit;
        let cpu_limit = self.cpu_limit;
        let worker_progress = progress.clone();
        let final_digest = Arc::new(AtomicU64::new(0));
        let worker_digest = final_digest.clone();
        let fields: Fields = Arc::default();
        let worker_fields = fields.clone();
        let spawned = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let result = panic::catch_unwind(AssertUnwindSafe(|| {
                    simulate(
                        seed,
                        (limit, cpu_limit),
                        worker_progress,
                        worker_digest,
                        worker_fields,
                        body,
                    )
                }));
                let _ = done_tx.send(result);
            });
        if let Err(e) = spawned {
            panic!("cannot start the simulation thread: {e}");
        }

        let mut last_seen = u64::MAX;
        let mut stalled = Duration::ZERO;
        loop {
            match done_rx.recv_timeout(WATCHDOG_POLL) {
                Ok(Ok(Ok(value))) => {
                    if std::env::var_os("LAB_SIM_REPORT").is_some() {
                        // One machine-readable line for tools (labtool stress).
                        eprintln!(
                            "{STATUS_PREFIX}result=ok seed={seed} virtual_ms={} digest={:016x}{}",
                            progress.load(Ordering::Relaxed),
                            final_digest.load(Ordering::Relaxed),
                            format_fields(&fields)
                        );
                    }
                    return value;
                }
                Ok(Ok(Err(failure))) => fail(seed, &name, &progress, &fields, &failure),
                Ok(Err(payload)) => {
                    fail(seed, &name, &progress, &fields, &panic_message(&*payload));
                }
                Err(RecvTimeoutError::Disconnected) => fail(
                    seed,
                    &name,
                    &progress,
                    &fields,
                    "simulation thread vanished",
                ),
                Err(RecvTimeoutError::Timeout) => {
                    let now = progress.load(Ordering::Relaxed);
                    if now != last_seen {
                        last_seen = now;
                        stalled = Duration::ZERO;
                    } else {
                        stalled += WATCHDOG_POLL;
                        if stalled >= self.stall_limit {
                            let msg = format!(
                                "virtual time has not advanced for {:?} of wall time: a task is \
                                 probably spinning without awaiting (a loop that polls state \
                                 without `tokio::time::sleep`, or blocking work such as \
                                 std::thread::sleep or a std lock held forever)",
                                self.stall_limit
                            );
                            fail(seed, &name, &progress, &fields, &msg);
                        }
                    }
                }
            }
        }
    }
}

/// Why a simulation ended without a value.
type Failure = String;

fn simulate<T, F, Fut>(
    seed: u64,
    (limit, cpu_limit): (Duration, Duration),
    progress: Arc<AtomicU64>,
    final_digest: Arc<AtomicU64>,
    fields: Fields,
    body: F,
) -> Result<T, Failure>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = T>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| format!("cannot build the simulation runtime: {e}"))?;
    let panicked = Arc::new(Notify::new());
    CONTEXT.with(|c| {
        *c.borrow_mut() = Some(Context {
            seed,
            panic: None,
            panicked: panicked.clone(),
            fields,
        })
    });
    DIGEST.with(|d| d.set(FNV_OFFSET));
    MUTANTS.with(|m| m.borrow_mut().clear());
    let _rng = crate::rng::install(seed);
    let _log = crate::log::install();
    let outcome = runtime.block_on(async {
        START.with(|s| s.set(Some(tokio::time::Instant::now())));
        tracing::debug!(seed, "simulation starts");
        let start = tokio::time::Instant::now();
        let final_progress = progress.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROGRESS_TICK).await;
                progress.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
            }
        });
        let outcome = tokio::select! {
            biased;
            _ = panicked.notified() => Err(CONTEXT.with(|c| {
                let msg = c.borrow().as_ref().and_then(|c| c.panic.clone());
                format!("a simulated task panicked: {}", msg.unwrap_or_default())
            })),
            result = tokio::time::timeout(limit, body()) => result.map_err(|_| format!(
                "test took longer than {} seconds of virtual time (the reference harness limit); \
                 look for a livelock or an operation that never completes",
                limit.as_secs()
            )),
        };
        ticker.abort();
        final_progress.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
        outcome
    });
    final_digest.store(digest(), Ordering::Relaxed);
    let cpu = thread_cpu();
    if let Some(cpu) = cpu {
        report("cpu_ms", &cpu.as_millis().to_string());
    }
    let outcome = match (outcome, cpu) {
        (Ok(_), Some(cpu)) if cpu > cpu_limit => Err(format!(
            "the simulation used {:.1} s of CPU, more than the {:.1} s ceiling ({CPU_LIMIT_ENV} \
             overrides it): virtual time does not charge CPU, so this is how a pathologically \
             slow solution shows — say, one that encodes its whole log on every persist",
            cpu.as_secs_f64(),
            cpu_limit.as_secs_f64()
        )),
        (outcome, _) => outcome,
    };
    // Tasks still alive are dropped with the runtime, while the context is set.
    drop(runtime);
    START.with(|s| s.set(None));
    CONTEXT.with(|c| *c.borrow_mut() = None);
    outcome
}

fn fail(seed: u64, name: &str, progress: &AtomicU64, fields: &Fields, why: &str) -> ! {
    let virtual_ms = progress.load(Ordering::Relaxed);
    if std::env::var_os("LAB_SIM_REPORT").is_some() {
        eprintln!(
            "{STATUS_PREFIX}result=failed seed={seed} virtual_ms={virtual_ms}{}",
            format_fields(fields)
        );
    }
    eprintln!(
        "\n==== simulated test failed: {why}\n==== seed {seed}, about {:.1}s of virtual time\n==== replay: {}\n",
        virtual_ms as f64 / 1000.0,
        replay_command(seed, name)
    );
    panic!("simulated test failed (seed {seed}): {why}");
}

/// The command that re-runs exactly this test with this seed: a `cargo
/// test` line when run by cargo, else the test binary itself.
pub fn replay_command(seed: u64, test: &str) -> String {
    let exe = std::env::current_exe().ok();
    let Ok(package) = std::env::var("CARGO_PKG_NAME") else {
        let exe = exe.map_or("<test binary>".into(), |p| p.display().to_string());
        return format!("LAB_SEED={seed} {exe} --exact {test} --nocapture");
    };
    let target = exe
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|stem| match stem.rsplit_once('-') {
            Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_string(),
            _ => stem,
        });
    let target = match target {
        Some(t) if t == package.replace('-', "_") => " --lib".to_string(),
        Some(t) => format!(" --test {t}"),
        None => String::new(),
    };
    // Replay in the profile the failing binary was built in: same code,
    // and no rebuild of the whole workspace in the other profile.
    let profile = if cfg!(debug_assertions) {
        ""
    } else {
        " --release"
    };
    format!(
        "LAB_SEED={seed} cargo test{profile} -p {package}{target} -- --exact {test} --nocapture"
    )
}

fn seed_from_env() -> u64 {
    match std::env::var("LAB_SEED") {
        Ok(s) => match s.trim().parse() {
            Ok(seed) => seed,
            Err(_) => panic!("LAB_SEED must be an unsigned integer, got {s:?}"),
        },
        Err(_) => {
            // A fresh seed per run; OS entropy is fine here, outside the simulation.
            let mut rng: rand::rngs::SmallRng = rand::make_rng();
            rand::RngExt::random::<u64>(&mut rng) % 1_000_000_000
        }
    }
}

fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            previous(info);
            let msg = match info.payload().downcast_ref::<&str>() {
                Some(s) => (*s).to_string(),
                None => match info.payload().downcast_ref::<String>() {
                    Some(s) => s.clone(),
                    None => "non-string panic payload".into(),
                },
            };
            let msg = match info.location() {
                Some(loc) => format!("{msg} (at {loc})"),
                None => msg,
            };
            // try_with: the hook may run while thread-locals are being torn down.
            let _ = CONTEXT.try_with(|c| {
                if let Ok(mut guard) = c.try_borrow_mut()
                    && let Some(ctx) = guard.as_mut()
                {
                    if ctx.panic.is_none() {
                        ctx.panic = Some(msg);
                    }
                    ctx.panicked.notify_one();
                }
            });
        }));
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".into()
    }
}

/// Log timestamps in virtual seconds since the simulation started, so two
/// runs with one seed print identical bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct VirtualTime;

impl FormatTime for VirtualTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        match START.with(|s| s.get()) {
            Some(start) => write!(w, "{:>10.6}s", start.elapsed().as_secs_f64()),
            None => write!(w, "     -.------s"),
        }
    }
}

/// CPU time (user + system) the calling thread has used so far, from
/// `/proc/thread-self/stat`; `None` where that file does not exist (not
/// Linux). A simulation runs on one thread, so at its end this is the CPU
/// the whole simulated test used — reported as `cpu_ms=` and checked
/// against [`CPU_LIMIT`]: the one wall-clock check besides the watchdog.
/// Virtual time does not charge CPU, so this is how a pathologically slow
/// solution shows.
pub fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name (which may contain spaces) in `(...)`.
    let rest = stat.rsplit_once(')').map(|(_, r)| r)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the file, 12 and 13 here.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    // Linux reports in clock ticks of 1/100 s (USER_HZ) on every platform
    // Rust supports; without libc we cannot ask sysconf.
    Some(Duration::from_millis(ticks * 10))
}

/// A simulated test that uses more CPU than this fails (after it ends; the
/// watchdog catches one that never ends). Generous: our slowest scenario
/// (`snapshot_recover_many_clients_4b`) uses about 4.5 s in a release build.
pub const CPU_LIMIT: Duration = Duration::from_secs(20);

/// Overrides [`CPU_LIMIT`], in whole seconds.
pub const CPU_LIMIT_ENV: &str = "LAB_CPU_LIMIT_SECS";

/// [`CPU_LIMIT`], five times as much in a build with debug assertions
/// (`cargo test` without `--release`), or `LAB_CPU_LIMIT_SECS`.
fn cpu_limit() -> Duration {
    let default = if cfg!(debug_assertions) {
        CPU_LIMIT * 5
    } else {
        CPU_LIMIT
    };
    std::env::var(CPU_LIMIT_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(default)
}
