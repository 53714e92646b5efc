//! Command-line front ends of the binaries (`mrcoordinator`, `mrworker`,
//! `mrsequential`, and `mrjob`'s child processes), kept out of the library:
//! each binary includes this file as its `cli` module.
//!
//! Each `*_main` parses arguments with clap (a wrong flag is a clap usage
//! error, exit 2), builds a runtime, calls the library entry point with the
//! real transport, directory and shutdown signal, and turns an error into one
//! `program: error: ...` line and exit code 1 (130 when interrupted). Nothing
//! here panics on bad input.

// Each binary uses a different part of this file.
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::PossibleValuesParser;
use clap::{CommandFactory, FromArgMatches, Parser};

use mr::{
    App, Coordinator, CoordinatorConfig, DEFAULT_N_REDUCE, Endpoint, MrError, WorkerConfig,
    app_names, find_app,
};

/// Where to find the coordinator: a UNIX socket (default) or TCP.
#[derive(clap::Args, Debug, Clone)]
pub struct EndpointArgs {
    /// UNIX socket of the coordinator [default: $XDG_RUNTIME_DIR/mr-coordinator.sock, else /tmp/mr-UID.sock]
    #[arg(long, value_name = "PATH", conflicts_with = "addr")]
    pub socket: Option<PathBuf>,
    /// Use TCP instead, at HOST:PORT (the coordinator may use port 0 and print the port it got)
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<String>,
}

impl EndpointArgs {
    /// The endpoint these flags select.
    pub fn endpoint(&self) -> Endpoint {
        match (&self.addr, &self.socket) {
            (Some(addr), _) => Endpoint::Tcp(addr.clone()),
            (None, Some(path)) => Endpoint::Unix(path.clone()),
            (None, None) => Endpoint::Unix(mr::default_socket_path()),
        }
    }
}

/// Parses `10s`, `500ms`, `2m` or a plain number of seconds (`2.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(split) => text.split_at(split),
        None => (text, "s"),
    };
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        _ => return Err(format!("unknown unit '{unit}' (use ms, s or m)")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration like 10s or 500ms"))?;
    Duration::try_from_secs_f64(value * scale)
        .map_err(|_| format!("'{text}' is not a valid duration"))
}

/// Parses an integer that must be at least 1.
pub fn parse_positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(err) => Err(err.to_string()),
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "mrcoordinator",
    about = "MapReduce coordinator: one map task per input file, then the reduce tasks"
)]
struct CoordinatorArgs {
    #[command(flatten)]
    endpoint: EndpointArgs,
    /// Number of reduce tasks
    #[arg(long, default_value_t = DEFAULT_N_REDUCE, value_parser = parse_positive)]
    n_reduce: usize,
    /// Hand a task to another worker after this much silence
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    task_timeout: Duration,
    /// Keep answering "exit" this long after the job is done
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    linger: Duration,
    /// Input files, passed to map exactly as written here
    #[arg(required = true, value_name = "FILES")]
    files: Vec<String>,
}

#[derive(Parser, Debug)]
#[command(
    name = "mrworker",
    about = "MapReduce worker: runs tasks for the coordinator until the job is done"
)]
struct WorkerArgs {
    #[command(flatten)]
    endpoint: EndpointArgs,
    /// Give up if no coordinator answers within this time
    #[arg(long, value_parser = parse_duration, default_value = "3s")]
    connect_timeout: Duration,
    /// The application to run
    #[arg(value_name = "APP")]
    app: String,
}

#[derive(Parser, Debug)]
#[command(
    name = "mrsequential",
    about = "Runs a MapReduce job in one process and writes mr-out-0"
)]
struct SequentialArgs {
    /// The application to run
    // Explicit indexes: `parse_with_apps` re-registers APP, which would
    // otherwise move it after FILES.
    #[arg(value_name = "APP", index = 1)]
    app: String,
    /// Input files, passed to map exactly as written here
    #[arg(required = true, value_name = "FILES", index = 2)]
    files: Vec<String>,
}

/// Parses `T` from the command line, restricting the argument `app_arg` to
/// the names of `apps` so an unknown app is a usage error listing them.
pub fn parse_with_apps<T: CommandFactory + FromArgMatches>(apps: &[App], app_arg: &str) -> T {
    let command = T::command().mut_arg(app_arg, |arg| {
        arg.value_parser(PossibleValuesParser::new(app_names(apps)))
    });
    let matches = command.get_matches();
    T::from_arg_matches(&matches).unwrap_or_else(|err| err.exit())
}

/// Sends `tracing` output to stderr, filtered by `RUST_LOG` (default: warnings).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).ok();
    let terminated = async {
        match terminate.as_mut() {
            Some(stream) => {
                stream.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        _ = tokio::signal::ctrl_c() => {}
        () = terminated => {}
    }
}

/// Runs `body` on a single-threaded runtime and maps its result to an exit
/// code, printing errors as `program: error: ...`.
pub fn run_main<F>(program: &str, body: F) -> ExitCode
where
    F: Future<Output = Result<(), MrError>>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{program}: error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    report(program, runtime.block_on(body))
}

/// Maps a result to an exit code, printing the error.
pub fn report(program: &str, result: Result<(), MrError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(MrError::Interrupted) => {
            eprintln!("{program}: interrupted");
            ExitCode::from(130)
        }
        Err(err) => {
            eprintln!("{program}: error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `mrcoordinator [--socket PATH | --addr HOST:PORT] [--n-reduce N] FILES...`
pub fn coordinator_main() -> ExitCode {
    init_logging();
    let args = CoordinatorArgs::parse();
    run_main("mrcoordinator", async move {
        let config = CoordinatorConfig {
            files: args.files,
            n_reduce: args.n_reduce,
            task_timeout: args.task_timeout,
            linger: args.linger,
        };
        // Check inputs before creating the socket: a typo should not leave
        // workers connecting to a job that is about to fail.
        mr::check_inputs(&config.files)?;
        let listener = args.endpoint.endpoint().bind().await?;
        let listening = format!(
            "mrcoordinator: listening on {} ({} map tasks, {} reduce tasks)",
            listener.endpoint(),
            config.files.len(),
            config.n_reduce
        );
        let mut shutdown = std::pin::pin!(shutdown_signal());
        let coordinator = Coordinator::start(config, listener)?;
        // Said only once the job is being served: `start` checks the inputs
        // again and can still fail (and remove the socket) after the bind.
        eprintln!("{listening}");
        let result = coordinator.finished(&mut shutdown).await;
        if let Ok(report) = &result {
            // Printed when the job is done, before the linger, so the
            // benchmark can time the job from it.
            eprintln!(
                "mrcoordinator: job done: {} map and {} reduce tasks in {:.3} s from first task to last report ({:.3} s since start)",
                report.n_map,
                report.n_reduce,
                report.busy.as_secs_f64(),
                report.total.as_secs_f64()
            );
        }
        if result == Err(MrError::Interrupted) {
            coordinator.stop(std::future::ready(())).await;
        } else {
            coordinator.stop(&mut shutdown).await;
        }
        result.map(drop)
    })
}

/// `mrworker [--socket PATH | --addr HOST:PORT] APP`, with the apps given.
/// `examples/wordlen.rs` calls it with its own list.
pub fn worker_main(apps: &[App]) -> ExitCode {
    init_logging();
    let args: WorkerArgs = parse_with_apps(apps, "app");
    run_main("mrworker", async move {
        let app = find_app(apps, &args.app)?;
        let dir =
            std::env::current_dir().map_err(|e| MrError::io("cannot read", ".".as_ref(), &e))?;
        let config = WorkerConfig {
            dir,
            connect_timeout: args.connect_timeout,
        };
        let summary =
            mr::run_worker(&args.endpoint.endpoint(), app, config, shutdown_signal()).await?;
        tracing::info!(?summary, "worker finished");
        Ok(())
    })
}

/// `mrsequential APP FILES...`, with the apps given: writes `mr-out-0` in the
/// current directory.
pub fn sequential_main(apps: &[App]) -> ExitCode {
    init_logging();
    let args: SequentialArgs = parse_with_apps(apps, "app");
    let result = find_app(apps, &args.app)
        .and_then(|app| mr::run_sequential(app, &args.files, ".".as_ref()).map(drop));
    report("mrsequential", result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mr::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_LINGER, DEFAULT_TASK_TIMEOUT};

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("10h").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn defaults_match_the_documented_constants() {
        let c = CoordinatorArgs::try_parse_from(["mrcoordinator", "f"]).unwrap();
        assert_eq!(
            (c.n_reduce, c.task_timeout, c.linger),
            (DEFAULT_N_REDUCE, DEFAULT_TASK_TIMEOUT, DEFAULT_LINGER)
        );
        let w = WorkerArgs::try_parse_from(["mrworker", "wc"]).unwrap();
        assert_eq!(w.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        CoordinatorArgs::command().debug_assert();
        WorkerArgs::command().debug_assert();
        SequentialArgs::command().debug_assert();
    }

    #[test]
    fn app_comes_before_files_once_restricted_to_known_apps() {
        let command = SequentialArgs::command().mut_arg("app", |arg| {
            arg.value_parser(PossibleValuesParser::new(["wc", "indexer"]))
        });
        let matches = command
            .try_get_matches_from(["mrsequential", "wc", "a.txt", "b.txt"])
            .unwrap();
        let args = SequentialArgs::from_arg_matches(&matches).unwrap();
        assert_eq!((args.app.as_str(), args.files.len()), ("wc", 2));
        let command = SequentialArgs::command().mut_arg("app", |arg| {
            arg.value_parser(PossibleValuesParser::new(["wc", "indexer"]))
        });
        let err = command
            .try_get_matches_from(["mrsequential", "grep", "a.txt"])
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
        assert!(err.to_string().contains("indexer"), "{err}");
    }

    #[test]
    fn endpoint_flags_choose_the_transport() {
        let args =
            WorkerArgs::try_parse_from(["mrworker", "--socket", "/tmp/x.sock", "wc"]).unwrap();
        assert_eq!(
            args.endpoint.endpoint(),
            Endpoint::Unix("/tmp/x.sock".into())
        );
        let args =
            WorkerArgs::try_parse_from(["mrworker", "--addr", "10.0.0.1:7000", "wc"]).unwrap();
        assert_eq!(
            args.endpoint.endpoint(),
            Endpoint::Tcp("10.0.0.1:7000".into())
        );
        assert!(
            WorkerArgs::try_parse_from(["mrworker", "--addr", "a:1", "--socket", "/s", "wc"])
                .is_err()
        );
        assert!(
            CoordinatorArgs::try_parse_from(["mrcoordinator", "--n-reduce", "0", "f"]).is_err()
        );
        assert!(CoordinatorArgs::try_parse_from(["mrcoordinator"]).is_err());
    }
}
