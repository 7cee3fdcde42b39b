//! The processes the bench runs and watches: each adapter and the tracker
//! as a real `docaxis … run` process (so that its CPU time and memory are
//! its own), the broker's Erlang VM, and the bench itself — all read from
//! /proc, the way `top` reads them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

pub use docaxis_axis::procstat::{
    broker_pid, cpu_of, cpu_of_self, load_average, machine_jiffies, status_kb,
};

/// One `docaxis … run` process started by the bench, its stderr in a log
/// file. Killed (SIGKILL) when dropped, so that a failing bench never
/// leaves processes behind.
#[derive(Debug)]
pub struct Proc {
    /// What it is: an OrganId, or `tracker`.
    pub name: String,
    child: Child,
    /// Its stderr.
    pub log: PathBuf,
}

impl Proc {
    /// Starts this very binary with `args` (e.g. `adapter run --config F`),
    /// its stderr going to `log`. Only the configuration file decides: the
    /// caller's `DOCAXIS_*` overrides are not passed on (but `DOCAXIS_LOG`,
    /// the log level, is).
    pub fn spawn(name: &str, args: &[&str], config: &Path, log: PathBuf) -> anyhow::Result<Proc> {
        let exe = std::env::current_exe().context("where is the docaxis binary?")?;
        let mut cmd = Command::new(exe);
        cmd.args(args).arg(config);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("DOCAXIS_") && k != "DOCAXIS_LOG" {
                cmd.env_remove(k);
            }
        }
        let file = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = cmd
            // Plain log lines, to count warnings and errors in.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Proc {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`. Returns
    /// whether it exited by itself, cleanly.
    pub fn stop(&mut self, grace: Duration) -> bool {
        if !self.alive() {
            return self.child.wait().is_ok_and(|s| s.success());
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }

    /// The last `n` lines of its log (to say why it stopped).
    pub fn log_tail(&self, n: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// How long its log is now (to count what a pass logged).
    pub fn log_len(&self) -> u64 {
        std::fs::metadata(&self.log).map_or(0, |m| m.len())
    }

    /// Warnings and errors in its log from byte `from` on, and the first
    /// few of them.
    pub fn log_problems(&self, from: u64) -> LogProblems {
        let log = std::fs::read(&self.log).unwrap_or_default();
        let from = (from as usize).min(log.len());
        LogProblems::of(&String::from_utf8_lossy(&log[from..]))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.alive() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// What a process's log says went wrong.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LogProblems {
    /// Lines at ERROR level.
    pub errors: usize,
    /// Lines at WARN level.
    pub warnings: usize,
    /// The first lines of either, to see what they were.
    pub first: Vec<String>,
}

impl LogProblems {
    /// Counts the levels of `log` (tracing's fmt lines:
    /// `2026-… ERROR target: message`, plain: `docaxis` colours only a
    /// terminal).
    fn of(log: &str) -> LogProblems {
        let mut p = LogProblems::default();
        for line in log.lines() {
            let level = line.split_whitespace().nth(1).unwrap_or("");
            match level {
                "ERROR" => p.errors += 1,
                "WARN" => p.warnings += 1,
                _ => continue,
            }
            if p.first.len() < 3 {
                p.first.push(line.chars().take(300).collect());
            }
        }
        p
    }
}

/// The memory of each watched process: sampled VmRSS (every 200 ms, until
/// [`RssWatch::finish`]), for the peak and the start/middle/end of a pass.
pub struct RssWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<Vec<u64>>>>,
}

impl RssWatch {
    /// Starts sampling `pids`.
    pub fn start(pids: Vec<u32>) -> RssWatch {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples: Vec<Vec<u64>> = vec![Vec::new(); pids.len()];
            loop {
                for (pid, v) in pids.iter().zip(&mut samples) {
                    v.push(status_kb(*pid, "VmRSS:"));
                }
                if s.load(std::sync::atomic::Ordering::Relaxed) {
                    return samples;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        RssWatch {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling; per process, its samples in kB (at least one).
    pub fn finish(mut self) -> Vec<Vec<u64>> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_are_counted_not_words_in_messages() {
        let log = "2026-11-22T18:00:00.000Z  WARN docaxis_adapter: slow fsync\n\
                   2026-11-22T18:00:01.000Z ERROR docaxis_adapter: cannot publish\n\
                   2026-11-22T18:00:02.000Z  INFO docaxis_adapter: ERROR in the subject is fine\n";
        let p = LogProblems::of(log);
        assert_eq!((p.errors, p.warnings, p.first.len()), (1, 1, 2));
        assert!(p.first[1].contains("cannot publish"), "{:?}", p.first);
    }

    #[test]
    fn this_process_has_a_resident_set() {
        assert!(status_kb(std::process::id(), "VmRSS:") > 0);
        assert!(machine_jiffies().1 > 0);
    }
}
