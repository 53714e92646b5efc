//! One child process of a local cluster: started with its output in a
//! log file, ready once it prints its `listening on` line, stopped with
//! SIGTERM and, after a grace period, SIGKILL.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::Error;

/// How often a wait looks at its children.
const POLL: Duration = Duration::from_millis(10);

/// A running child (killed with SIGKILL if dropped while running).
pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
    /// The first stdout line saying where the child listens.
    ready: mpsc::Receiver<String>,
    /// Its exit status, once reaped.
    status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `program args…` as `name`; its stdout and stderr are
    /// appended to `log`.
    pub fn spawn(name: &str, program: &Path, args: &[String], log: &Path) -> Result<Proc, Error> {
        let open = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .map_err(|e| Error::Io(format!("cannot open {}: {e}", log.display())))
        };
        let mut out: File = open()?;
        let err = open()?;
        let _ = writeln!(out, "--- {name}: {} {}", program.display(), args.join(" "));
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| Error::Io(format!("cannot start {}: {e}", program.display())))?;
        let (tx, ready) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            // Copies stdout to the log, and hands over the listening line.
            std::thread::spawn(move || {
                let mut tx = Some(tx);
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let _ = writeln!(out, "{line}");
                    if line.contains("listening on")
                        && let Some(tx) = tx.take()
                    {
                        let _ = tx.send(line);
                    }
                }
            });
        }
        Ok(Proc {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
            ready,
            status: None,
        })
    }

    /// The child's name (`scheduler`, `store 2`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Waits until the child prints its listening line (returned), or
    /// fails if it exits first or `timeout` passes; the error quotes the
    /// end of its log.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<String, Error> {
        let give_up = Instant::now() + timeout;
        loop {
            match self.ready.recv_timeout(POLL) {
                Ok(line) => return Ok(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Stdout closed without the line: it is exiting.
                    let _ = self.wait_exit(Duration::from_secs(2));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if let Some(status) = self.exited() {
                return Err(self.failure(&format!("exited at start ({status})")));
            }
            if Instant::now() > give_up {
                return Err(self.failure(&format!("not listening after {timeout:?}")));
            }
        }
    }

    /// An error naming the child, `what` happened, and its log's end.
    pub fn failure(&self, what: &str) -> Error {
        Error::Io(format!(
            "{} {what}; the end of {}:\n{}",
            self.name,
            self.log.display(),
            log_tail(&self.log, 12)
        ))
    }

    /// Its exit status if it has exited (reaped here).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits up to `timeout` for the child to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let give_up = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() > give_up {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Sends SIGTERM (a clean stop request).
    pub fn terminate(&mut self) {
        if self.exited().is_none()
            && let Ok(pid) = libc::pid_t::try_from(self.child.id())
        {
            // SAFETY: kill(2) on our own child's pid, which cannot have been
            // reused: the child is not reaped yet (checked just above).
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }

    /// SIGKILL, and reaps the child.
    pub fn kill9(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Stops every child: SIGTERM to all, then SIGKILL to those still running
/// after `grace`. Returns the children that needed SIGKILL.
pub fn stop_all<'a>(procs: impl IntoIterator<Item = &'a mut Proc>, grace: Duration) -> Vec<String> {
    let mut procs: Vec<&mut Proc> = procs.into_iter().collect();
    for p in procs.iter_mut() {
        p.terminate();
    }
    let give_up = Instant::now() + grace;
    while Instant::now() < give_up && procs.iter_mut().any(|p| p.exited().is_none()) {
        std::thread::sleep(POLL);
    }
    let mut killed = Vec::new();
    for p in procs {
        if p.exited().is_none() {
            p.kill9();
            killed.push(p.name().to_string());
        }
    }
    killed
}

/// The last `lines` lines of a log file (empty if it cannot be read).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| format!("    {l}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(name: &str, script: &str, log: &Path) -> Proc {
        let args = vec!["-c".to_string(), script.to_string()];
        Proc::spawn(name, Path::new("/bin/sh"), &args, log).unwrap()
    }

    #[test]
    fn sigterm_first_then_sigkill_for_the_stubborn() {
        let dir = tempfile::tempdir().unwrap();
        let mut polite = sh(
            "polite",
            "echo listening on a; exec sleep 30",
            &dir.path().join("a"),
        );
        let mut stubborn = sh(
            "stubborn",
            "trap '' TERM; echo listening on b; while true; do sleep 0.05; done",
            &dir.path().join("b"),
        );
        assert_eq!(
            polite.wait_ready(Duration::from_secs(5)).unwrap(),
            "listening on a"
        );
        assert_eq!(
            stubborn.wait_ready(Duration::from_secs(5)).unwrap(),
            "listening on b"
        );
        let started = Instant::now();
        let killed = stop_all([&mut polite, &mut stubborn], Duration::from_millis(300));
        assert_eq!(killed, ["stubborn"]);
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(polite.exited().is_some() && stubborn.exited().is_some());
    }

    #[test]
    fn a_child_dying_at_start_is_an_error_quoting_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let mut p = sh("store 9", "echo 'cannot listen: in use' >&2; exit 1", &log);
        let e = p
            .wait_ready(Duration::from_secs(5))
            .unwrap_err()
            .to_string();
        assert!(e.contains("store 9 exited at start"), "{e}");
        assert!(e.contains("cannot listen: in use"), "{e}");
        let mut silent = sh("quiet", "sleep 30", &log);
        let e = silent
            .wait_ready(Duration::from_millis(200))
            .unwrap_err()
            .to_string();
        assert!(e.contains("quiet not listening after"), "{e}");
    }
}
