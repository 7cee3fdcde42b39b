//! `docaxis bench`: the axis end to end under load, measured honestly.
//!
//! It builds the demo's world for N agencies (operator key, signed
//! directory, one key, `agency.toml` and broker user per agency, a vhost of
//! its own), runs every adapter and the tracker as real `docaxis … run`
//! processes, and plays the agencies' document systems: documents built
//! from the seed articles, each with an attachment and K recipients, are
//! renamed into senders' outboxes, as a backlog or at a rate, and taken out
//! of inboxes and status-inboxes as they come. Every delivery is timed from
//! the rename into the outbox to the inbox file, and to the 01 back at the
//! sender; the pass ends when every inbox file and every 01 is there and
//! the tracker counts them all.
//!
//! Beside the documents/s and latencies it reads, per pass: the CPU time of
//! each process (/proc/<pid>/stat), the broker's included; the memory of
//! each (VmRSS sampled, VmHWM); the broker's own message counters (the
//! documents, their statuses, the tracker's copies); the warnings and
//! errors in every log. In the same run it measures bare lapin publishing
//! and consuming 10 KiB messages with the same durability
//! ([`docaxis_axis::bench::bare_lapin`]) and gives the ratio.

mod counters;
mod http;
mod load;
mod procs;
mod report;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use clap::Args;
use docaxis_adapter::folders;
use docaxis_axis::bench::{bare_lapin, Baseline, BenchOptions};

use crate::demo::broker::DemoBroker;
use crate::demo::world::{self, World};
use crate::output::{OutputFormat, Refused};
use counters::Endpoint;
use load::{Book, Fanout, Load, Pacing, Shared};
use procs::Proc;
use report::{
    Baseline as BaselineReport, Cpu, Latency, PassReport, ProcessReport, Report, Rss, TrackerCheck,
};

/// July 2022 on the national axis (docs/edxml-domain.md): 620,830
/// documents handled, 135,164 sent and 485,666 received.
const MONTH_DELIVERIES: usize = 620_830;
const MONTH_SENT: usize = 135_164;
const MONTH_RECEIVED: usize = 485_666;

/// Set by Ctrl-C.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// `docaxis bench`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  docaxis bench                                   # 10 agencies, 2,000 documents to 3 recipients each, as a backlog
  docaxis bench --half-rate --duration 600        # the maximum rate, then 10 minutes at half of it (p99, RSS flat)
  docaxis bench --month                           # July 2022's national volume (620,830 deliveries) end to end
  docaxis bench --month --month-scale 0.01        # 1% of it, to try
  docaxis bench --agencies 3 --docs 30 --format json

The bench creates a vhost docaxis-bench-XXXXXXXX and one broker user per
agency with rabbitmqctl (so it runs on the broker's host, like `docaxis demo
--amqp`), reads the broker's counters from the rabbitmq_prometheus plugin
(enabling it if it does not answer) and the broker's CPU time from its
beam.smp process. Everything is removed at the end unless --keep.

Exit codes: 0 the bench ran (whether or not the targets were met); 1 a
document was lost, duplicated, misrouted or miscounted by the tracker;
2 the bench could not run, or Ctrl-C stopped it (it still cleans up).")]
pub struct BenchArgs {
    /// Number of agencies (adapters), each sending and receiving, with ids
    /// of the run's own (`RRR.00.00.Gnn`, at most 99).
    #[arg(long, default_value_t = 10, value_name = "N")]
    agencies: usize,
    /// Documents per pass (default 2,000; with --duration: no limit).
    #[arg(long, value_name = "N", conflicts_with = "month")]
    docs: Option<usize>,
    /// Drop documents for this long (a sustained run), then wait for them.
    #[arg(long, value_name = "SECS", conflicts_with = "month")]
    duration: Option<u64>,
    /// Drop documents at this rate instead of as fast as they are taken.
    #[arg(long, value_name = "DOCS_PER_S", conflicts_with_all = ["half_rate", "month"])]
    rate: Option<f64>,
    /// First a backlog pass of --probe-docs documents for the maximum rate,
    /// then the measured pass at half of it (the latency target).
    #[arg(long, conflicts_with = "month")]
    half_rate: bool,
    /// Documents of the --half-rate probe.
    #[arg(long, default_value_t = 2_000, value_name = "N")]
    probe_docs: usize,
    /// Recipients per document (default 3, at most agencies - 1).
    #[arg(long, value_name = "K", conflicts_with = "month")]
    recipients: Option<usize>,
    /// The broker, as its operator (vhosts and users are created with
    /// rabbitmqctl on this machine).
    #[arg(
        long,
        value_name = "URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672"
    )]
    amqp: String,
    /// Messages of the bare-lapin baseline (0: none).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    baseline_count: usize,
    /// Replay one month of the national volume: 620,830 deliveries (July
    /// 2022), 3.59 recipients per document on average, as fast as possible.
    #[arg(long)]
    month: bool,
    /// With --month: this fraction of it (0.01 to try it out).
    #[arg(long, default_value_t = 1.0, value_name = "F", requires = "month")]
    month_scale: f64,
    /// In backlog passes, at most this many documents dropped and not yet
    /// answered at a time (the backlog the adapters see).
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    window: usize,
    /// The broker's Prometheus endpoint (default: the AMQP host, port 15692).
    #[arg(long, value_name = "HOST:PORT")]
    prometheus: Option<String>,
    /// Give up a pass when nothing arrives for this long.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    stall: u64,
    /// Work in this directory (created; must not exist yet).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Keep the working directory (logs, records, the tracker's database)
    /// and the vhost.
    #[arg(long)]
    keep: bool,
}

/// The bench's fixed choices and what it runs on.
struct Ctx<'a> {
    args: &'a BenchArgs,
    world: World,
    procs: Vec<Proc>,
    broker_pid: Option<u32>,
    endpoint: Endpoint,
    vhost: String,
    tracker: String,
    staging: PathBuf,
    next_number: u64,
}

/// Runs the bench.
pub fn run(a: BenchArgs, format: OutputFormat) -> anyhow::Result<()> {
    check_args(&a)?;
    let (work, temp) = world::work_dir(a.dir.as_deref(), "docaxis-bench-")?;
    let host = a
        .prometheus
        .clone()
        .unwrap_or_else(|| prometheus_host(&a.amqp));
    let endpoint = Endpoint::ensure(&host)?;
    let agencies = agency_list(a.agencies, run_number())?;
    let ids: Vec<&str> = agencies.iter().map(|(id, _)| id.as_str()).collect();
    let broker = DemoBroker::create(&a.amqp, "docaxis-bench", &ids)?;
    eprintln!(
        "bench: vhost {}, {} agencies, working directory {}",
        broker.vhost,
        ids.len(),
        work.display()
    );
    let result = bench(&a, &work, &broker, &agencies, endpoint);
    world::clean_up(Some(&broker), temp, a.keep);
    let report = result?;
    format.emit(&report, || report::text(&report))?;
    if INTERRUPTED.load(Ordering::Relaxed) {
        bail!("interrupted: the last pass did not finish (its figures are partial)");
    }
    if !report.problems.is_empty() {
        return Err(Refused(format!(
            "{} problem(s): documents lost, duplicated or miscounted",
            report.problems.len()
        ))
        .into());
    }
    Ok(())
}

fn check_args(a: &BenchArgs) -> anyhow::Result<()> {
    if a.agencies < 2 {
        bail!("--agencies: at least 2");
    }
    let k = recipients(a);
    if k == 0 || k >= a.agencies || k > 63 {
        bail!(
            "--recipients {k}: between 1 and {} (agencies - 1, at most 63)",
            a.agencies - 1
        );
    }
    if a.month && a.agencies < 5 {
        bail!("--month: documents go to 3 or 4 recipients, so at least 5 agencies");
    }
    if a.month_scale.is_nan() || a.month_scale <= 0.0 || a.month_scale > 1.0 {
        bail!("--month-scale: a fraction in (0, 1]");
    }
    if a.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        bail!("--rate: documents per second, above 0");
    }
    if a.window == 0 {
        bail!("--window: at least 1");
    }
    Ok(())
}

fn recipients(a: &BenchArgs) -> usize {
    a.recipients.unwrap_or(3.min(a.agencies.saturating_sub(1)))
}

/// `host:15692` of the AMQP URL's host.
fn prometheus_host(amqp: &str) -> String {
    let rest = amqp.split_once("://").map_or(amqp, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match hostport.rsplit_once(':') {
        Some((h, _)) if !h.is_empty() => h,
        _ => hostport,
    };
    format!("{}:15692", if host.is_empty() { "127.0.0.1" } else { host })
}

/// `n` agencies with national ids of this run's own, `RRR.00.00.Gnn` with
/// `run` = RRR (100 to 999): the broker users are named by OrganId (the
/// broker checks each message's `user_id` against its connection's user),
/// so ids shared with `docaxis demo --amqp`, or with another bench, would
/// have one run reset or delete the other's users.
fn agency_list(n: usize, run: u16) -> anyhow::Result<Vec<(String, String)>> {
    if n > 99 {
        bail!("--agencies {n}: at most 99");
    }
    Ok((1..=n)
        .map(|i| {
            let id = format!("{run:03}.00.00.G{i:02}");
            (id, format!("Đơn vị thử tải số {i}"))
        })
        .collect())
}

/// A number for this run's agency ids (100 to 999).
fn run_number() -> u16 {
    let nanos = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (100 + (nanos ^ std::process::id().rotate_left(7)) % 900) as u16
}

fn bench(
    a: &BenchArgs,
    work: &Path,
    broker: &DemoBroker,
    agencies: &[(String, String)],
    endpoint: Endpoint,
) -> anyhow::Result<Report> {
    let started = SystemTime::now();
    let load_start = procs::load_average();
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("no free port for the tracker")?;
    let refs: Vec<(&str, &str)> = agencies
        .iter()
        .map(|(i, n)| (i.as_str(), n.as_str()))
        .collect();
    let world = world::create(work, &refs, broker, &broker.tracker_url(), listen)?;
    let ids: Vec<&str> = refs.iter().map(|(i, _)| *i).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // Ctrl-C ends the pass under way; the bench then stops the processes
    // and removes its vhost and users, as at a normal end.
    rt.spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            INTERRUPTED.store(true, Ordering::Relaxed);
        }
    });
    rt.block_on(async {
        let operator = docaxis_axis::connect(Some(&broker.operator_url())).await?;
        operator.setup(&ids).await?;
        operator.close().await
    })
    .context("declaring the axis as its operator")?;

    let logs = work.join("logs");
    let staging = work.join("staging");
    std::fs::create_dir_all(&logs)?;
    std::fs::create_dir_all(&staging)?;
    let mut procs = vec![Proc::spawn(
        "tracker",
        &["tracker", "run", "--config"],
        &world.tracker_config,
        logs.join("tracker.log"),
    )?];
    for inst in &world.agencies {
        procs.push(Proc::spawn(
            inst.organ_id.as_str(),
            &["adapter", "run", "--config"],
            &inst.config,
            logs.join(format!("{}.log", inst.organ_id)),
        )?);
    }
    let mut ctx = Ctx {
        args: a,
        world,
        procs,
        broker_pid: procs::broker_pid(),
        endpoint,
        vhost: broker.vhost.clone(),
        tracker: listen.to_string(),
        staging,
        next_number: 1,
    };
    if ctx.broker_pid.is_none() {
        eprintln!("bench: no RabbitMQ process on this machine: the broker's CPU time will read 0");
    }
    wait_tracker_up(&mut ctx)?;

    // Warm-up: one document from every agency, so that every adapter is
    // connected and the tracker consuming before anything is measured.
    let k = if a.month { 3 } else { recipients(a) };
    let n = ctx.world.agencies.len();
    eprintln!("bench: warm-up, one document from each of the {n} agencies");
    let warm = run_pass(
        &mut ctx,
        "warm-up",
        Load {
            notation: "WARMUP",
            first_number: 0,
            docs: n,
            duration: None,
            pacing: Pacing::Window(n),
            fanout: Fanout::Fixed(k),
        },
    )?;
    if !warm.check.problems.is_empty() {
        // Nothing goes through: a setup problem, not a measurement.
        bail!(
            "the warm-up documents did not go through:\n  - {}",
            warm.check.problems.join("\n  - ")
        );
    }
    let mut problems = Vec::new();

    // The bare baseline, same broker, same vhost, same run.
    let baseline = if a.baseline_count > 0 {
        eprintln!(
            "bench: bare lapin baseline, {} messages of 10 KiB (quorum queue, confirms, manual acks)",
            a.baseline_count
        );
        Some(run_baseline(&ctx, &rt, &broker.operator_url())?)
    } else {
        None
    };

    let mut passes = Vec::new();
    let docs = a.docs.unwrap_or(if a.duration.is_some() {
        usize::MAX
    } else {
        2_000
    });
    let duration = a.duration.map(Duration::from_secs);
    if a.month {
        let deliveries = ((MONTH_DELIVERIES as f64) * a.month_scale).round() as usize;
        let per_doc = MONTH_RECEIVED as f64 / MONTH_SENT as f64;
        let month_docs = ((deliveries as f64 / per_doc).round() as usize).max(1);
        eprintln!(
            "bench: the month: {deliveries} deliveries in {month_docs} documents ({:.2} recipients each)",
            deliveries as f64 / month_docs as f64
        );
        passes.push(run_pass(
            &mut ctx,
            "month",
            Load {
                notation: "BENCH",
                first_number: 0,
                docs: month_docs,
                duration: None,
                pacing: Pacing::Window(a.window),
                fanout: Fanout::Spread {
                    docs: month_docs,
                    deliveries,
                },
            },
        )?);
    } else if a.half_rate {
        let probe = run_pass(
            &mut ctx,
            "maximum rate",
            Load {
                notation: "BENCH",
                first_number: 0,
                docs: a.probe_docs,
                duration: None,
                pacing: Pacing::Window(a.window),
                fanout: Fanout::Fixed(k),
            },
        )?;
        let half = probe.documents_per_s / 2.0;
        let usable = probe.check.problems.is_empty() && half > 0.0;
        passes.push(probe);
        if usable {
            eprintln!("bench: half the maximum rate: {half:.0} documents/s");
            passes.push(run_pass(
                &mut ctx,
                "half rate",
                Load {
                    notation: "BENCH",
                    first_number: 0,
                    docs,
                    duration,
                    pacing: Pacing::Rate(half),
                    fanout: Fanout::Fixed(k),
                },
            )?);
        }
    } else {
        let (label, pacing) = match a.rate {
            Some(r) => ("paced", Pacing::Rate(r)),
            None => ("backlog", Pacing::Window(a.window)),
        };
        passes.push(run_pass(
            &mut ctx,
            label,
            Load {
                notation: "BENCH",
                first_number: 0,
                docs,
                duration,
                pacing,
                fanout: Fanout::Fixed(k),
            },
        )?);
    }

    // The end: peak memory over each process's life, then stop them and
    // read their logs.
    let mut processes = Vec::new();
    let hwm: Vec<u64> = ctx
        .procs
        .iter()
        .map(|p| procs::status_kb(p.pid(), "VmHWM:"))
        .collect();
    // Adapters first, so that the tracker sees the last of their messages.
    let mut clean = vec![true; ctx.procs.len()];
    for (i, p) in ctx.procs.iter_mut().enumerate().skip(1) {
        clean[i] = p.stop(Duration::from_secs(20));
    }
    clean[0] = ctx.procs[0].stop(Duration::from_secs(20));
    for ((p, hwm), clean) in ctx.procs.iter().zip(hwm).zip(clean) {
        let log = p.log_problems(0);
        processes.push(ProcessReport {
            name: p.name.clone(),
            peak_rss_kb: hwm,
            stopped_cleanly: clean,
            log_errors: log.errors,
            log_warnings: log.warnings,
            first_log_problems: log.first,
            log: p.log.display().to_string(),
        });
    }
    // Every sender's record, read once the adapters have stopped: a
    // running adapter may write a record's .json some time after the
    // status it records (sent/ is a log, checkpointed into the files).
    for p in &mut passes {
        let numbers = p.first_number..p.first_number + p.documents as u64;
        let records = records_check(&ctx.world, &p.notation, &numbers, p.deliveries);
        p.check.problems.extend(records);
        problems.extend(p.check.problems.iter().cloned());
    }
    let mut report = Report {
        vhost: ctx.vhost.clone(),
        work_dir: if a.keep || a.dir.is_some() {
            work.display().to_string()
        } else {
            "(removed; use --keep to keep it)".into()
        },
        agencies: n,
        cores: std::thread::available_parallelism().map_or(1, |c| c.get()),
        started_at: report::rfc3339(started),
        load_average_start: load_start,
        load_average_end: procs::load_average(),
        baseline,
        passes,
        processes,
        month: a.month.then_some(report::Month {
            scale: a.month_scale,
            deliveries_full: MONTH_DELIVERIES,
            sent_in_july_2022: MONTH_SENT,
            received_in_july_2022: MONTH_RECEIVED,
        }),
        targets: Vec::new(),
        problems,
    };
    report::ratios(&mut report);
    report.targets = report::targets(&report);
    Ok(report)
}

/// Waits until the tracker's API answers.
fn wait_tracker_up(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if http::get(&ctx.tracker, "/api/v1/health", Duration::from_secs(2)).is_ok() {
            return Ok(());
        }
        for p in &mut ctx.procs {
            if !p.alive() {
                bail!(
                    "{} exited at start; its log ({}):\n{}",
                    p.name,
                    p.log.display(),
                    std::fs::read_to_string(&p.log).unwrap_or_default()
                );
            }
        }
        if Instant::now() > deadline {
            bail!(
                "the tracker's API did not answer at http://{} within 30 s",
                ctx.tracker
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The tracker's national figures: documents, deliveries expected, arrived.
fn tracker_totals(tracker: &str) -> anyhow::Result<[u64; 3]> {
    let body = http::get(tracker, "/api/v1/totals", Duration::from_secs(30))?;
    let v: serde_json::Value =
        serde_json::from_str(&body).context("the tracker's /api/v1/totals")?;
    let f = &v["figures"];
    let get = |k: &str| f[k].as_u64().unwrap_or(0);
    Ok([get("documents"), get("expected"), get("arrived")])
}

/// Events the tracker has folded in (cheap to ask, for progress).
fn tracker_events(tracker: &str) -> Option<u64> {
    let body = http::get(tracker, "/api/v1/health", Duration::from_secs(2)).ok()?;
    serde_json::from_str::<serde_json::Value>(&body).ok()?["events"].as_u64()
}

fn run_baseline(
    ctx: &Ctx<'_>,
    rt: &tokio::runtime::Runtime,
    url: &str,
) -> anyhow::Result<BaselineReport> {
    let count = ctx.args.baseline_count;
    let broker0 = ctx.broker_pid.map(procs::cpu_of).unwrap_or_default();
    let load = procs::load_average();
    let stats = rt
        .block_on(bare_lapin(
            &BenchOptions {
                url: url.to_owned(),
                count,
                ..BenchOptions::default()
            },
            Baseline::Plain,
        ))
        .context("the bare lapin baseline")?;
    let broker_cpu = ctx
        .broker_pid
        .map(procs::cpu_of)
        .unwrap_or_default()
        .saturating_sub(broker0);
    let per_1000 = |d: Duration| d.as_secs_f64() * 1000.0 / count as f64;
    Ok(BaselineReport {
        messages: count,
        message_bytes: BenchOptions::default().size,
        messages_per_s: stats.rate,
        p50_ms: stats.p50.as_secs_f64() * 1e3,
        p99_ms: stats.p99.as_secs_f64() * 1e3,
        client_cpu_s_per_1000: per_1000(stats.client_cpu_per_msg * count as u32),
        broker_cpu_s_per_1000: per_1000(broker_cpu),
        load_average: load,
    })
}

/// One pass: drop the load's documents, wait for every delivery, its 01
/// and the tracker's count, and read what it cost.
fn run_pass(ctx: &mut Ctx<'_>, label: &str, mut load: Load) -> anyhow::Result<PassReport> {
    if INTERRUPTED.load(Ordering::Relaxed) {
        bail!("interrupted before the {label} pass");
    }
    load.first_number = ctx.next_number;
    let stall = Duration::from_secs(ctx.args.stall);
    let tracker_before = tracker_totals(&ctx.tracker)?;
    let mut window = counters::Window::open(&ctx.endpoint)?;
    let pids: Vec<u32> = ctx.procs.iter().map(|p| p.pid()).collect();
    let cpu0: Vec<Duration> = pids.iter().map(|p| procs::cpu_of(*p)).collect();
    let broker0 = ctx.broker_pid.map(procs::cpu_of).unwrap_or_default();
    let self0 = procs::cpu_of_self();
    let machine0 = procs::machine_jiffies();
    let load_start = procs::load_average();
    let rss = procs::RssWatch::start(pids.clone());
    let logs0: Vec<u64> = ctx.procs.iter().map(|p| p.log_len()).collect();
    let book: Shared = Arc::new(std::sync::Mutex::new(Book::new(load.notation)));
    let stop_drop = AtomicBool::new(false);
    let stop_collect = AtomicBool::new(false);
    let started = Instant::now();
    let mut stalled = None;
    let mut died = Vec::new();

    let dropped_result = std::thread::scope(|s| {
        let agencies = &ctx.world.agencies;
        let (book_d, book_c) = (&book, &book);
        let (stop_d, stop_c) = (&stop_drop, &stop_collect);
        let staging = &ctx.staging;
        let load_ref = &load;
        let dropper =
            s.spawn(move || load::drop_documents(load_ref, agencies, staging, book_d, stop_d));
        let collector =
            s.spawn(move || load::collect(agencies, book_c, stop_c, Duration::from_millis(25)));
        let mut last_progress = Instant::now();
        let mut last_change = Instant::now();
        let mut last_seen = (0, 0, 0);
        let mut last_rate = (Instant::now(), 0usize);
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let (dropped, inbox, arrived, complete, deliveries) = {
                let b = load::lock(&book);
                (b.dropped, b.inbox, b.arrived, b.complete, b.deliveries)
            };
            let finished_dropping = dropper.is_finished();
            if (dropped, inbox, arrived) != last_seen {
                last_seen = (dropped, inbox, arrived);
                last_change = Instant::now();
            }
            if finished_dropping && complete == dropped {
                break;
            }
            if INTERRUPTED.load(Ordering::Relaxed) {
                stalled = Some(format!(
                    "{label}: interrupted with {complete} of {dropped} documents answered"
                ));
                break;
            }
            if last_change.elapsed() > stall {
                stalled = Some(format!(
                    "{label}: nothing arrived for {} s; gave up with {complete} of {dropped} documents answered",
                    stall.as_secs()
                ));
                break;
            }
            for p in ctx.procs.iter_mut() {
                if !p.alive() {
                    died.push(format!(
                        "{} exited during the {label} pass; the end of its log ({}):\n{}",
                        p.name,
                        p.log.display(),
                        p.log_tail(3)
                    ));
                }
            }
            if !died.is_empty() {
                break;
            }
            if last_progress.elapsed() >= Duration::from_secs(2) {
                last_progress = Instant::now();
                let _ = window.update();
                let dt = last_rate.0.elapsed().as_secs_f64();
                let rate_now = (complete - last_rate.1) as f64 / dt.max(1e-3);
                last_rate = (Instant::now(), complete);
                let total = if load.docs == usize::MAX {
                    None
                } else {
                    Some(load.docs)
                };
                let avg = complete as f64 / started.elapsed().as_secs_f64().max(1e-3);
                let eta = match (total, load.duration) {
                    (_, Some(d)) => d.saturating_sub(started.elapsed()).as_secs_f64(),
                    (Some(t), None) if avg > 0.0 => (t - complete) as f64 / avg,
                    _ => f64::NAN,
                };
                eprintln!(
                    "  [{label}] {:>6.1} s  dropped {dropped}{}  inbox {inbox}/{deliveries}  01 {arrived}/{deliveries}  answered {complete} ({rate_now:.0} docs/s now, {avg:.0} on average)  tracker events {}  ETA {}",
                    started.elapsed().as_secs_f64(),
                    total.map_or(String::new(), |t| format!("/{t}")),
                    tracker_events(&ctx.tracker).map_or("?".into(), |e| e.to_string()),
                    if eta.is_finite() { format!("{eta:.0} s") } else { "?".into() },
                );
            }
        }
        stop_drop.store(true, Ordering::Relaxed);
        let dropped = match dropper.join() {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!("the document dropper panicked")),
        };
        let answered = Instant::now();
        // The tracker must count every document and delivery of the pass
        // (polled often: the time it took is part of the figure).
        let (docs, deliveries) = {
            let b = load::lock(&book);
            (b.dropped as u64, b.deliveries as u64)
        };
        let want = [
            tracker_before[0] + docs,
            tracker_before[1] + deliveries,
            tracker_before[2] + deliveries,
        ];
        // Every 50 ms, or twice as long as the tracker takes to answer (its
        // totals cost it more as the month fills up).
        let ask = || {
            let t = Instant::now();
            let r = tracker_totals(&ctx.tracker).map(|got| (got, SystemTime::now()));
            (r, (t.elapsed() * 2).max(Duration::from_millis(50)))
        };
        let (mut counted, mut pause) = ask();
        let deadline = Instant::now() + stall;
        let waiting = stalled.is_none() && died.is_empty();
        while waiting && Instant::now() < deadline {
            match &counted {
                Ok((got, _)) if *got == want => break,
                _ => {}
            }
            std::thread::sleep(pause);
            (counted, pause) = ask();
        }
        // A last look, a moment after the last delivery: a late duplicate
        // shows up here.
        std::thread::sleep(Duration::from_millis(300).saturating_sub(answered.elapsed()));
        stop_collect.store(true, Ordering::Relaxed);
        let _ = collector.join();
        dropped.and_then(|()| Ok((want, counted?)))
    });
    let (want, (got, tracker_done)) = dropped_result?;
    let _ = window.update();
    let cpu: Vec<Duration> = pids
        .iter()
        .zip(&cpu0)
        .map(|(p, c0)| procs::cpu_of(*p).saturating_sub(*c0))
        .collect();
    let broker_cpu = ctx
        .broker_pid
        .map(procs::cpu_of)
        .unwrap_or_default()
        .saturating_sub(broker0);
    let self_cpu = procs::cpu_of_self().saturating_sub(self0);
    let machine1 = procs::machine_jiffies();
    let samples = rss.finish();
    let load_end = procs::load_average();

    let mut log_errors = 0;
    let mut log_warnings = 0;
    let mut log_lines = Vec::new();
    for (p, from) in ctx.procs.iter().zip(&logs0) {
        let l = p.log_problems(*from);
        log_errors += l.errors;
        log_warnings += l.warnings;
        log_lines.extend(l.first.iter().map(|line| format!("{}: {line}", p.name)));
    }
    log_lines.truncate(5);
    let b = load::lock(&book);
    let mut problems = b.problems.clone();
    problems.extend(stalled);
    problems.extend(died);
    let missing = b.missing();
    if !missing.is_empty() {
        problems.push(format!(
            "{label}: {} document(s) not delivered or not answered, e.g. {}",
            missing.len(),
            missing
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    let tracker_ok = got == want;
    if !tracker_ok {
        problems.push(format!(
            "{label}: the tracker counts {} documents, {} deliveries expected, {} arrived; expected {}, {}, {} (in {} s)",
            got[0], got[1], got[2], want[0], want[1], want[2], stall.as_secs()
        ));
    }
    let numbers = load.first_number..load.first_number + b.dropped as u64;
    problems.extend(leftovers(&ctx.world, load.notation, &numbers));

    let first = b.first_drop.unwrap_or(tracker_done);
    let secs = |t: Option<SystemTime>| {
        t.and_then(|t| t.duration_since(first).ok())
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let to_last_inbox = secs(b.last_inbox);
    let to_last_01 = secs(b.last_01);
    let to_tracker = secs(Some(tracker_done)).max(to_last_01);
    let docs_f = b.dropped.max(1) as f64;
    let counts = window.counts(&ctx.vhost, "docaxis");
    let per_1000 = |d: Duration| d.as_secs_f64() * 1000.0 / docs_f;
    let processes: Vec<Cpu> = ctx
        .procs
        .iter()
        .zip(&cpu)
        .map(|(p, c)| Cpu {
            name: p.name.clone(),
            cpu_s: c.as_secs_f64(),
            cpu_s_per_1000_docs: per_1000(*c),
        })
        .collect();
    let docaxis_cpu: Duration = cpu.iter().sum();
    let rss: Vec<Rss> = ctx
        .procs
        .iter()
        .zip(&samples)
        .map(|(p, s)| Rss::of(&p.name, s))
        .collect();
    let (busy, total) = (machine1.0 - machine0.0, machine1.1 - machine0.1);
    let report = PassReport {
        label: label.to_owned(),
        notation: load.notation.to_owned(),
        first_number: load.first_number,
        pacing: match load.pacing {
            Pacing::Window(w) => format!("backlog: up to {w} documents in flight"),
            Pacing::Rate(r) => format!("paced at {r:.1} documents/s"),
        },
        documents: b.dropped,
        deliveries: b.deliveries,
        recipients_per_document: b.deliveries as f64 / docs_f,
        average_document_bytes: b.bytes / b.dropped.max(1) as u64,
        seconds_to_last_inbox: to_last_inbox,
        seconds_to_last_01: to_last_01,
        seconds_to_tracker_counted: to_tracker,
        // Over the documents answered (all of them, unless the pass failed).
        documents_per_s: rate(b.complete, to_tracker),
        deliveries_per_s: rate(b.arrived, to_tracker),
        documents_per_s_to_last_01: rate(b.complete, to_last_01),
        latency_to_inbox: Latency::of(&b.to_inbox_us),
        latency_to_01: Latency::of(&b.to_01_us),
        latency_document_answered: Latency::of(&b.to_complete_us),
        cpu: processes,
        docaxis_cpu_s_per_1000_docs: per_1000(docaxis_cpu),
        broker_cpu_s_per_1000_docs: per_1000(broker_cpu),
        bench_cpu_s_per_1000_docs: per_1000(self_cpu),
        machine_busy_percent: 100.0 * busy as f64 / total.max(1) as f64,
        rss,
        broker: counts,
        broker_published_per_document: counts.published as f64 / docs_f,
        broker_messages_per_document: counts.enqueued as f64 / docs_f,
        broker_delivered_per_document: counts.delivered as f64 / docs_f,
        bare_equivalent_documents_per_s: None,
        ratio_to_bare: None,
        load_average_start: load_start,
        load_average_end: load_end,
        log_errors,
        log_warnings,
        first_log_problems: log_lines,
        check: TrackerCheck {
            tracker_documents: got[0] - tracker_before[0].min(got[0]),
            tracker_deliveries_expected: got[1] - tracker_before[1].min(got[1]),
            tracker_arrived: got[2] - tracker_before[2].min(got[2]),
            tracker_counted_all: tracker_ok,
            inbox_files: b.inbox,
            statuses_01: b.arrived,
            problems,
        },
    };
    drop(b);
    ctx.next_number += load.docs.min(report.documents) as u64 + 1;
    Ok(report)
}

/// `n` over `secs`, 0 for no time.
fn rate(n: usize, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// Files of this pass still in an inbox or status-inbox (never taken: not
/// a delivery of a document the bench sent), and refused outbox files.
fn leftovers(world: &World, notation: &str, numbers: &Range<u64>) -> Vec<String> {
    let mut v = Vec::new();
    for a in &world.agencies {
        for folder in [folders::INBOX, folders::STATUS_INBOX, folders::REJECTED] {
            let Ok(files) = docaxis_adapter::fsio::ready_files(&a.folder(folder)) else {
                continue;
            };
            for f in files {
                let name = f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if folder == folders::REJECTED || load::about(&name, notation, numbers) {
                    v.push(format!("{}: {folder}/{name} left over", a.organ_id));
                }
            }
        }
    }
    v
}

/// Every sender's record of this pass's documents: marked sent, with a 01
/// from every recipient.
fn records_check(
    world: &World,
    notation: &str,
    numbers: &Range<u64>,
    deliveries: usize,
) -> Vec<String> {
    let docs = (numbers.end - numbers.start) as usize;
    let mut records = 0;
    let mut with_01 = 0;
    let mut recipients = 0;
    let mut problems = Vec::new();
    for a in &world.agencies {
        let Ok(entries) = std::fs::read_dir(a.folder(folders::SENT)) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if !(name.ends_with(".json")
                && !name.starts_with('.')
                && load::about(&name, notation, numbers))
            {
                continue;
            }
            let record: Option<docaxis_adapter::sent::SentRecord> = std::fs::read(e.path())
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let Some(r) = record else {
                problems.push(format!("{}: sent/{name} unreadable", a.organ_id));
                continue;
            };
            records += 1;
            if r.sent_at.is_none() {
                problems.push(format!(
                    "{}: {} never marked sent",
                    a.organ_id, r.document_id
                ));
            }
            recipients += r.recipients.len();
            with_01 += r
                .recipients
                .values()
                .filter(|s| s.statuses.iter().any(|s| s.code == "01"))
                .count();
        }
    }
    if records != docs || recipients != deliveries || with_01 != deliveries {
        problems.push(format!(
            "senders' records: {records} for {docs} documents, {recipients} recipients of {deliveries}, {with_01} with their 01"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prometheus_endpoint_is_on_the_brokers_host() {
        assert_eq!(
            prometheus_host("amqp://guest:guest@127.0.0.1:5672"),
            "127.0.0.1:15692"
        );
        assert_eq!(
            prometheus_host("amqps://u:p@broker.example:5671/%2f?x=1"),
            "broker.example:15692"
        );
        assert_eq!(prometheus_host("amqp://localhost"), "localhost:15692");
    }

    use crate::demo::world::AGENCIES;

    #[test]
    fn agencies_are_distinct_national_ids_of_the_run() {
        let v = agency_list(40, 417).unwrap();
        assert_eq!(v.len(), 40);
        assert_eq!(v[0].0, "417.00.00.G01");
        let mut ids: Vec<&str> = v.iter().map(|(i, _)| i.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 40);
        assert!(v
            .iter()
            .all(|(i, _)| docaxis_edxml::OrganId::parse(i).unwrap().is_national()));
        // None of the demo's.
        assert!(v.iter().all(|(i, _)| AGENCIES.iter().all(|(d, _)| d != i)));
        assert!(agency_list(100, 417).is_err());
        assert!((100..1000).contains(&run_number()));
    }

    #[test]
    fn the_month_is_the_national_figure() {
        assert_eq!(MONTH_SENT + MONTH_RECEIVED, MONTH_DELIVERIES);
    }
}
