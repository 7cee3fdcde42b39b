//! A world for fault cases: the agencies of [`crate::agencies`], each with
//! `docaxis adapter run` as a process of its own, and `docaxis tracker run`,
//! all on one axis; a workload dropped into the outboxes at a steady pace
//! while a fault script disturbs the world; then a wait until everything
//! arrived (or a deadline) and the final [`tally`].
//!
//! Processes that exit by themselves are restarted after 2 s, as systemd
//! does with the units in `deploy/systemd` (`Restart=on-failure`), and
//! listed in the row: the fault table shows them.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::check::{tally, Plan, Row};
use crate::agencies::{docaxis_bin, files, AdapterProcess, TestAxis, AGENCIES};

/// Documents per case: `DOCAXIS_FAULT_DOCS`, default 300 (the CI size).
pub fn docs_per_case() -> usize {
    std::env::var("DOCAXIS_FAULT_DOCS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300)
}

/// xorshift64*: enough randomness for fault times, reproducible from the
/// seed the case prints (`DOCAXIS_FAULT_SEED` replays one).
pub struct Rng(u64);

impl Rng {
    /// Seeded from `DOCAXIS_FAULT_SEED`, else from the clock.
    pub fn new() -> Rng {
        let seed = std::env::var("DOCAXIS_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            })
            | 1;
        println!("fault seed {seed} (DOCAXIS_FAULT_SEED={seed} replays it)");
        Rng(seed)
    }

    /// The next number.
    pub fn draw(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.draw() % (hi - lo)
    }
}

impl Default for Rng {
    fn default() -> Self {
        Rng::new()
    }
}

/// A process of the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proc {
    /// The adapter of `AGENCIES[i]`.
    Adapter(usize),
    /// The tracker.
    Tracker,
}

impl Proc {
    /// Its name in logs and reports (also its log file's stem).
    pub fn name(self) -> &'static str {
        match self {
            Proc::Adapter(i) => AGENCIES[i].0,
            Proc::Tracker => "tracker",
        }
    }
}

struct Slot {
    url: String,
    child: Option<AdapterProcess>,
    /// Down on purpose (the fault stopped it): not supervised.
    held: bool,
    /// When a process that exited by itself is started again.
    restart_at: Option<Instant>,
}

/// The running processes.
struct Procs {
    slots: Vec<Slot>,
    self_exits: Vec<String>,
}

/// The agencies, their processes and the tracker's database.
pub struct World {
    /// Keys, directory, configurations and data directories.
    pub axis: TestAxis,
    procs: Procs,
    senders: Vec<usize>,
    feed: Option<Duration>,
}

impl World {
    /// A world on `url`, the topology of every agency declared first (so
    /// that no document finds its recipient's queue missing).
    pub fn new(url: &str) -> World {
        let axis = TestAxis::new(Some(url.to_owned()));
        declare(url);
        let procs = Procs {
            slots: (0..=AGENCIES.len())
                .map(|_| Slot {
                    url: url.to_owned(),
                    child: None,
                    held: false,
                    restart_at: None,
                })
                .collect(),
            self_exits: Vec::new(),
        };
        World {
            axis,
            procs,
            senders: (0..AGENCIES.len()).collect(),
            feed: None,
        }
    }

    /// Connect `p` to `url` instead (a cluster node, a proxy); before
    /// [`World::run`].
    pub fn route(&mut self, p: Proc, url: &str) {
        self.procs.slots[slot(p)].url = url.to_owned();
    }

    /// Only these agencies (indices in [`AGENCIES`]) send; all receive.
    pub fn senders(&mut self, senders: &[usize]) {
        self.senders = senders.to_vec();
    }

    /// Drop the workload over at least `d` (faults that take long to
    /// happen, like a broker's boot, must still find documents in flight).
    pub fn feed_over(&mut self, d: Duration) {
        self.feed = Some(d);
    }

    /// The tracker's database.
    pub fn tracker_db(&self) -> PathBuf {
        self.axis.path().join("tracker.db")
    }

    /// Starts every process, drops `n` documents over about `n / 25`
    /// seconds (at least 10, or [`World::feed_over`]) while `fault` runs, then waits until
    /// everything arrived and was counted (or a deadline) and returns the
    /// final count.
    pub fn run(&mut self, case: &str, n: usize, fault: impl FnOnce(&mut Fault<'_>)) -> Row {
        let plan = Plan::new(n, &self.senders);
        let feed =
            Duration::from_secs_f64((n as f64 / 25.0).max(10.0)).max(self.feed.unwrap_or_default());
        for p in all_procs() {
            self.procs.start(&self.axis, p);
        }
        let fed = AtomicUsize::new(0);
        let started = Instant::now();
        let axis = &self.axis;
        let procs = &mut self.procs;
        let note = std::thread::scope(|s| {
            let fed = &fed;
            let plan = &plan;
            s.spawn(move || {
                for (i, d) in plan.docs.iter().enumerate() {
                    let due = started + feed.mul_f64(i as f64 / n as f64);
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    axis.drop_in_outbox(d.sender, &d.name, &d.bytes);
                    fed.fetch_add(1, Ordering::SeqCst);
                }
            });
            let mut f = Fault {
                axis,
                procs,
                fed,
                total: n,
                note: Vec::new(),
            };
            fault(&mut f);
            // Faults that end early still see the whole workload through.
            while f.fed() < n {
                f.sleep(Duration::from_millis(100));
            }
            f.note.join("; ")
        });
        println!(
            "[{case}] fault script done after {:.0} s: {note}",
            started.elapsed().as_secs_f64()
        );
        // Held processes come back for the end of the run.
        for p in all_procs() {
            if self.procs.slots[slot(p)].child.is_none() {
                self.procs.start(&self.axis, p);
            }
        }
        let repaired = Instant::now();
        let deadline = repaired + Duration::from_secs(120 + n as u64 / 5);
        let db = self.tracker_db();
        let mut last = tally(&self.axis, &plan, &db);
        while !last.complete() && Instant::now() < deadline {
            self.procs.supervise(&self.axis);
            std::thread::sleep(Duration::from_millis(500));
            last = tally(&self.axis, &plan, &db);
        }
        let settled = repaired.elapsed();
        if !last.complete() {
            println!("[{case}] not complete at the deadline: {last:?}");
        }
        // Whatever is still in flight (a late duplicate) gets a moment to
        // show, then the processes stop and the final count is taken.
        std::thread::sleep(Duration::from_secs(1));
        for s in &mut self.procs.slots {
            s.child = None;
        }
        let row = Row {
            case: case.to_owned(),
            tally: tally(&self.axis, &plan, &db),
            self_exits: std::mem::take(&mut self.procs.self_exits),
            elapsed: started.elapsed(),
            settled,
            note,
        };
        row.report();
        keep_evidence(&self.axis, case);
        row
    }

    /// `p`'s stderr so far (kept across restarts).
    pub fn log(&self, p: Proc) -> String {
        std::fs::read_to_string(log_path(&self.axis, p)).unwrap_or_default()
    }
}

/// The fault script's handle on the world while documents flow.
pub struct Fault<'a> {
    axis: &'a TestAxis,
    procs: &'a mut Procs,
    fed: &'a AtomicUsize,
    total: usize,
    note: Vec<String>,
}

impl Fault<'_> {
    /// Documents dropped so far.
    pub fn fed(&self) -> usize {
        self.fed.load(Ordering::SeqCst)
    }

    /// Documents of the workload.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The world's agencies and folders.
    pub fn axis(&self) -> &TestAxis {
        self.axis
    }

    /// Sleeps `d`, restarting processes that exited by themselves.
    pub fn sleep(&mut self, d: Duration) {
        let end = Instant::now() + d;
        loop {
            self.procs.supervise(self.axis);
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }

    /// Sleeps until `fraction` of the workload has been dropped.
    pub fn until_fed(&mut self, fraction: f64) {
        while (self.fed() as f64) < fraction * self.total as f64 {
            self.sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL `p` and keep it down.
    pub fn kill(&mut self, p: Proc) {
        let s = &mut self.procs.slots[slot(p)];
        s.held = true;
        s.child = None; // AdapterProcess kills on drop
    }

    /// Start `p` (again).
    pub fn start(&mut self, p: Proc) {
        self.procs.start(self.axis, p);
    }

    /// Files in `agency`'s inbox.
    pub fn inbox_len(&self, agency: &str) -> usize {
        files(&self.axis.data_dir(agency).join("inbox")).len()
    }

    /// `p`'s stderr so far.
    pub fn log(&self, p: Proc) -> String {
        std::fs::read_to_string(log_path(self.axis, p)).unwrap_or_default()
    }

    /// Adds to the case's "what happened".
    pub fn note(&mut self, s: impl Into<String>) {
        let s = s.into();
        println!("  fault: {s}");
        self.note.push(s);
    }
}

fn slot(p: Proc) -> usize {
    match p {
        Proc::Adapter(i) => i,
        Proc::Tracker => AGENCIES.len(),
    }
}

fn all_procs() -> impl Iterator<Item = Proc> {
    std::iter::once(Proc::Tracker).chain((0..AGENCIES.len()).map(Proc::Adapter))
}

fn log_path(t: &TestAxis, p: Proc) -> PathBuf {
    t.path().join(format!("{}.log", p.name()))
}

impl Procs {
    fn start(&mut self, t: &TestAxis, p: Proc) {
        let s = &mut self.slots[slot(p)];
        s.child = None;
        s.held = false;
        s.restart_at = None;
        // Appended, not truncated: the log of every run of the process is
        // evidence (and the checker counts "received" lines in it).
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path(t, p))
            .unwrap();
        let mut cmd = Command::new(docaxis_bin());
        match p {
            Proc::Adapter(i) => {
                let agency = AGENCIES[i].0;
                t.config(agency); // writes <agency>.toml
                cmd.args(["adapter", "run", "--config"])
                    .arg(t.path().join(format!("{agency}.toml")))
                    .env("DOCAXIS_AXIS", &s.url);
            }
            Proc::Tracker => {
                let file = t.path().join("tracker.toml");
                std::fs::write(
                    &file,
                    format!(
                        "axis = \"{}\"\ndb = \"{}\"\nlisten = \"127.0.0.1:0\"\ndurable = true\n",
                        s.url,
                        t.path().join("tracker.db").display()
                    ),
                )
                .unwrap();
                cmd.args(["tracker", "run", "--config"]).arg(file);
            }
        }
        let child = cmd
            .env("DOCAXIS_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start docaxis");
        // One type for every child process that must not outlive the test.
        s.child = Some(AdapterProcess(child));
    }

    /// Restarts, 2 s after it exited, a process that exited by itself.
    fn supervise(&mut self, t: &TestAxis) {
        for p in all_procs() {
            let s = &mut self.slots[slot(p)];
            if s.held {
                continue;
            }
            if let Some(c) = &mut s.child {
                if let Ok(Some(status)) = c.0.try_wait() {
                    let what = format!("{} exited by itself ({status})", p.name());
                    println!("  {what}; restarting it in 2 s");
                    self.self_exits.push(what);
                    s.child = None;
                    s.restart_at = Some(Instant::now() + Duration::from_secs(2));
                }
            } else if s.restart_at.is_some_and(|at| Instant::now() >= at) {
                self.start(t, p);
            }
        }
    }
}

/// With `DOCAXIS_FAULT_KEEP` set, copies the case's directory (logs,
/// folders, tracker database) to `/tmp/docaxis-faults-<case>` before the
/// temporary directory disappears.
fn keep_evidence(t: &TestAxis, case: &str) {
    if std::env::var_os("DOCAXIS_FAULT_KEEP").is_none() {
        return;
    }
    let to = std::env::temp_dir().join(format!("docaxis-faults-{case}"));
    let _ = std::fs::remove_dir_all(&to);
    let ok = Command::new("cp")
        .arg("-a")
        .arg(t.path())
        .arg(&to)
        .status()
        .is_ok_and(|s| s.success());
    println!("[{case}] evidence kept in {} ({ok})", to.display());
}

/// Declares the topology of every agency (and the tracker's tap) on `url`.
fn declare(url: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let axis = docaxis_axis::connect(Some(url)).await.expect("axis");
        let agencies: Vec<&str> = AGENCIES.iter().map(|(a, _)| *a).collect();
        axis.setup(&agencies).await.expect("declare the topology");
        axis.close().await.unwrap();
    });
}
