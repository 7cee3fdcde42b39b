//! `docaxis demo`: the whole axis at work on this machine, in seconds.
//!
//! It plays every role, each through the same interfaces as in production:
//! the axis operator (root key, signed directory of ten agencies, broker
//! users on RabbitMQ), ten agencies' adapter daemons (each with its own
//! key, `agency.toml` and folders), their document systems (files renamed
//! into `outbox/`, status requests into `status-outbox/`) and the tracker
//! (its database, dashboard and API). Five seed articles travel to several
//! recipients each; the receivers' adapters answer 01 by themselves; the
//! clerks accept (03), complete (06) and refuse (02, with a reason); one
//! document is recalled (13) and the recall agreed (15). The demo then
//! prints the tracker's delivery table and checks every figure against the
//! plan, every inbox for exactly-once, and every sender's record.
//!
//! By default it runs on the embedded axis in its working directory (no
//! broker needed); `--amqp URL` runs it on RabbitMQ.

// broker, scenario and world serve `docaxis bench` too.
pub(crate) mod broker;
mod refusals;
pub(crate) mod scenario;
pub(crate) mod world;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use docaxis_adapter::{folders, fsio, Adapter, StatusRequest};
use docaxis_edxml::{organization, Code, Draft, EdDate, EdTimestamp, Message};
use docaxis_tracker::report::{self, By};
use docaxis_tracker::Filter;
use serde::Serialize;
use tokio::sync::watch;

use crate::output::{OutputFormat, Refused};
use scenario::{Decision, Expected, PLAN};
use world::{AxisFor, World, AGENCIES};

/// `docaxis demo`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  docaxis demo                                             # embedded axis, no broker needed
  docaxis demo --keep                                      # then explore (it prints how)
  docaxis demo --amqp amqp://guest:guest@127.0.0.1:5672    # the same over RabbitMQ
  docaxis demo --format json | jq .figures

On RabbitMQ the demo creates a vhost docaxis-demo-XXXXXXXX and one broker
user per demo agency (named by OrganId) with rabbitmqctl, so it runs on the
broker's host; RABBITMQ_NODENAME picks the node. Both are removed at the end
unless --keep.

Exit codes: 0 every figure as planned; 1 a figure is wrong (printed);
2 the demo could not run.")]
pub struct DemoArgs {
    /// Run over RabbitMQ at this URL (the operator's credentials) instead of
    /// the embedded axis.
    #[arg(long, value_name = "URL")]
    amqp: Option<String>,
    /// Keep the working directory, and keep the adapters and the tracker
    /// running until Ctrl-C, to explore with the other commands.
    #[arg(long)]
    keep: bool,
    /// Work in this directory (created; must not exist yet) instead of a
    /// temporary one.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The tracker's dashboard and API address (default 127.0.0.1:8470, or
    /// a free port if that one is taken).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Read the five seed articles from this directory instead of the
    /// copies built into docaxis.
    #[arg(long, value_name = "DIR")]
    seeds: Option<PathBuf>,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 90, value_name = "SECS")]
    timeout: u64,
}

/// What the demo reports (`--format json`).
#[derive(Serialize)]
struct Report {
    axis: String,
    work_dir: String,
    dashboard: String,
    expected: Expected,
    #[serde(flatten)]
    checked: Checked,
    refusals: Vec<String>,
    elapsed_ms: u128,
}

/// What the demo found at the end.
#[derive(Serialize)]
struct Checked {
    documents: Vec<SentDoc>,
    figures: Expected,
    delivery_rate: f64,
    time_to_arrival_p50_s: Option<i64>,
    table: report::Table,
    inbox_files: usize,
    problems: Vec<String>,
}

/// A document the demo sent.
#[derive(Debug, Clone, Serialize)]
struct SentDoc {
    document_id: String,
    from: String,
    to: Vec<String>,
    priority: String,
    bytes: usize,
    subject: String,
}

/// Step-by-step progress on stderr, for people (silent with --format json).
struct Progress {
    on: bool,
    live: bool,
    steps: usize,
    step: usize,
}

impl Progress {
    fn new(format: OutputFormat, steps: usize) -> Progress {
        let on = format == OutputFormat::Text;
        Progress {
            on,
            live: on && std::io::stderr().is_terminal(),
            steps,
            step: 0,
        }
    }
    fn step(&mut self, what: &str) {
        self.step += 1;
        if self.on {
            eprintln!("[{}/{}] {what}", self.step, self.steps);
        }
    }
    fn count(&self, what: &str, done: usize, of: usize) {
        if self.live {
            eprint!("\r      {what}: {done}/{of}   ");
            if done >= of {
                eprintln!();
            }
        } else if self.on && done >= of {
            eprintln!("      {what}: {done}/{of}");
        }
    }
}

/// Runs the demo.
pub fn run(a: DemoArgs, format: OutputFormat) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(run_async(a, format))
}

/// The running adapters and tracker, stopped together.
struct Running {
    stop: watch::Sender<bool>,
    adapters: Vec<Arc<Adapter>>,
    tasks: tokio::task::JoinSet<anyhow::Result<()>>,
}

impl Running {
    async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let drained = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(r) = self.tasks.join_next().await {
                r??;
            }
            anyhow::Ok(())
        })
        .await;
        match drained {
            Ok(r) => r,
            Err(_) => bail!("the adapters and the tracker did not stop within 20 s"),
        }
    }
}

async fn run_async(a: DemoArgs, format: OutputFormat) -> anyhow::Result<()> {
    let started = Instant::now();
    let (work, temp) = world::work_dir(a.dir.as_deref(), "docaxis-demo-")?;
    let ids: Vec<&str> = AGENCIES.iter().map(|(id, _)| *id).collect();
    let rabbit = match &a.amqp {
        Some(url) => Some(broker::DemoBroker::create(url, "docaxis-demo", &ids)?),
        None => None,
    };
    let result = demo(&a, format, &work, rabbit.as_ref(), started).await;
    world::clean_up(rabbit.as_ref(), temp, a.keep);
    result
}

/// The demo proper, in `work`, on the embedded axis or `rabbit`.
async fn demo(
    a: &DemoArgs,
    format: OutputFormat,
    work: &Path,
    rabbit: Option<&broker::DemoBroker>,
    started: Instant,
) -> anyhow::Result<()> {
    let deadline = started + Duration::from_secs(a.timeout);
    let mut progress = Progress::new(format, 7);
    let seeds = read_seeds(a.seeds.as_deref())?;
    let listen = a.listen.unwrap_or_else(free_listen_address);
    let ids: Vec<&str> = AGENCIES.iter().map(|(id, _)| *id).collect();
    let embedded = broker::Embedded(format!("file://{}", work.join("axis").display()));
    let (axis_for, operator_url, tracker_url, axis_label): (&dyn AxisFor, _, _, _) = match rabbit {
        Some(b) => (
            b,
            b.operator_url(),
            b.tracker_url(),
            format!("RabbitMQ, vhost {}, one broker user per agency", b.vhost),
        ),
        None => (
            &embedded,
            embedded.0.clone(),
            embedded.0.clone(),
            format!("embedded, {}", embedded.0),
        ),
    };

    progress.step(if rabbit.is_some() {
        "axis operator: root key, signed directory of ten agencies, broker setup"
    } else {
        "axis operator: root key, signed directory of ten agencies, embedded axis"
    });
    let world = world::create(work, AGENCIES, axis_for, &tracker_url, listen)?;
    // `docaxis broker setup`: the exchanges, one queue per agency, the
    // dead-letter queues and the tracker's tap, before anyone sends.
    let operator = docaxis_axis::connect(Some(&operator_url))
        .await
        .context("connecting to the axis as its operator")?;
    operator.setup(&ids).await.context("declaring the axis")?;
    operator.close().await?;

    progress.step("starting ten adapters and the tracker");
    let running = start(&world).await?;
    let checked = match exchange(&world, &running, &seeds, &mut progress, deadline).await {
        Ok(documents) => {
            progress.step("the tracker's figures, every inbox, every sender's record");
            check(&world, documents, &progress, deadline).await
        }
        Err(e) => Err(e),
    };
    let checked = match checked {
        Ok(c) => c,
        Err(e) => {
            let _ = running.stop().await;
            return Err(e);
        }
    };

    progress.step("what the axis refuses");
    let refusals = refusals::show(&world)?;
    let report = Report {
        axis: axis_label,
        work_dir: if a.keep || a.dir.is_some() {
            work.display().to_string()
        } else {
            "(removed; use --keep to explore it)".into()
        },
        dashboard: format!("http://{listen}/"),
        expected: scenario::expected(PLAN),
        checked,
        refusals,
        elapsed_ms: started.elapsed().as_millis(),
    };
    format.emit(&report, || text(&report, a.keep))?;
    if a.keep {
        if format == OutputFormat::Text {
            eprintln!("\nThe adapters and the tracker keep running; Ctrl-C stops them (the directory stays).");
        }
        let _ = tokio::signal::ctrl_c().await;
    }
    running.stop().await?;
    let problems = report.checked.problems.len();
    if problems > 0 {
        return Err(Refused(format!("{problems} figure(s) differ from the plan")).into());
    }
    Ok(())
}

/// 127.0.0.1:8470 if it is free, else a free port.
fn free_listen_address() -> SocketAddr {
    let preferred: SocketAddr = "127.0.0.1:8470".parse().expect("valid");
    let probe = std::net::TcpListener::bind(preferred)
        .or_else(|_| std::net::TcpListener::bind("127.0.0.1:0"));
    probe.and_then(|l| l.local_addr()).unwrap_or(preferred)
}

/// The seed articles: from `dir`, or the copies built in.
fn read_seeds(dir: Option<&Path>) -> anyhow::Result<Vec<String>> {
    let Some(dir) = dir else {
        return Ok(scenario::SEEDS
            .iter()
            .map(|(_, t)| (*t).to_owned())
            .collect());
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("--seeds {}: cannot read the directory", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    if files.len() < scenario::SEEDS.len() {
        bail!(
            "--seeds {}: expected {} .txt articles, found {}",
            dir.display(),
            scenario::SEEDS.len(),
            files.len()
        );
    }
    files
        .iter()
        .take(scenario::SEEDS.len())
        .map(|f| std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display())))
        .collect()
}

/// Starts the tracker and the ten adapters.
async fn start(world: &World) -> anyhow::Result<Running> {
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let config = docaxis_tracker::Config::load(Some(&world.tracker_config))?;
    let mut rx = stop_rx.clone();
    tasks.spawn(docaxis_tracker::run_until(config, async move {
        let _ = rx.wait_for(|s| *s).await;
    }));
    let mut adapters = Vec::new();
    for inst in &world.agencies {
        // The demo's files alone decide: no DOCAXIS_* override from the
        // caller's environment.
        let config = docaxis_adapter::Config::load(&inst.config, |_| None)?;
        let adapter = Arc::new(
            Adapter::open(config)
                .await
                .with_context(|| format!("starting the adapter of {}", inst.organ_id))?,
        );
        adapters.push(adapter.clone());
        let rx = stop_rx.clone();
        tasks.spawn(async move {
            docaxis_adapter::run_until(adapter, rx).await?;
            Ok(())
        });
    }
    Ok(Running {
        stop,
        adapters,
        tasks,
    })
}

/// Waits until `done()` reports `(done, of)` with done == of, showing it.
async fn wait_for(
    progress: &Progress,
    what: &str,
    deadline: Instant,
    mut done: impl FnMut() -> anyhow::Result<(usize, usize)>,
) -> anyhow::Result<()> {
    let mut last = None;
    loop {
        let (n, of) = done()?;
        if last != Some(n) {
            progress.count(what, n, of);
            last = Some(n);
        }
        if n >= of {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("timed out waiting: {what} {n}/{of}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The statuses a sender's record holds from `recipient` about `document_id`.
fn codes_heard(
    adapter: &Adapter,
    document_id: &str,
    recipient: &str,
) -> anyhow::Result<Vec<String>> {
    Ok(adapter
        .sent_record(document_id)?
        .and_then(|r| r.recipients.get(recipient).cloned())
        .map(|s| s.statuses.into_iter().map(|x| x.code).collect())
        .unwrap_or_default())
}

/// How many deliveries of the plan the sender has heard about as `done`
/// says (given the status codes heard from that recipient, and what its
/// clerk decides).
fn heard_by_senders(
    running: &Running,
    sent: &[SentDoc],
    done: impl Fn(&[String], &Decision) -> bool,
) -> anyhow::Result<usize> {
    let mut n = 0;
    for (s, d) in PLAN.iter().zip(sent) {
        for (t, decision) in s.to {
            let codes = codes_heard(&running.adapters[s.from], &d.document_id, AGENCIES[*t].0)?;
            n += usize::from(done(&codes, decision));
        }
    }
    Ok(n)
}

/// A document system's request for a status, dropped into `status-outbox/`.
fn request_status(
    world: &World,
    agency: usize,
    n: usize,
    req: &StatusRequest,
) -> anyhow::Result<()> {
    let dir = world.agencies[agency].folder(folders::STATUS_OUTBOX);
    let name = format!("demo-{n:03}-{}.json", req.code);
    fsio::write_atomic(&dir, &name, &serde_json::to_vec_pretty(req)?)?;
    Ok(())
}

/// Sends the five documents and plays the clerks; returns what was sent.
async fn exchange(
    world: &World,
    running: &Running,
    seeds: &[String],
    progress: &mut Progress,
    deadline: Instant,
) -> anyhow::Result<Vec<SentDoc>> {
    progress.step("five seed articles written into the senders' outbox/ folders");
    let today = EdDate::new(EdTimestamp::now().local().date());
    let mut sent = Vec::new();
    for (n, s) in PLAN.iter().enumerate() {
        let (organ, name) = AGENCIES[s.from];
        let to =
            s.to.iter()
                .map(|(t, _)| organization(world.agencies[*t].organ_id.clone(), AGENCIES[*t].1))
                .collect();
        let mut draft = Draft::new(
            organization(world.agencies[s.from].organ_id.clone(), name),
            to,
            Code {
                code_number: format!("{}", 101 + n),
                code_notation: format!("{}-DEMO", organ.rsplit('.').next().unwrap_or(organ)),
            },
            today,
            seeds[s.seed].clone(),
        );
        draft.sent_at = EdTimestamp::now();
        draft.priority = s.priority;
        if let Some(size) = s.attachment {
            draft.attach("phu-luc.pdf", scenario::pdf_like(size));
        }
        let doc = draft.build();
        let document_id = doc.header.document_id.clone();
        let subject = doc.header.subject.chars().take(60).collect();
        let bytes = docaxis_edxml::serialize(&Message::Document(Box::new(doc)));
        // The folder contract: written elsewhere, renamed in.
        fsio::write_atomic(
            &world.agencies[s.from].folder(folders::OUTBOX),
            &format!("cong-van-{:03}.xml", 101 + n),
            &bytes,
        )?;
        sent.push(SentDoc {
            document_id,
            from: organ.into(),
            to: s
                .to
                .iter()
                .map(|(t, _)| AGENCIES[*t].0.to_owned())
                .collect(),
            priority: format!("{:?}", s.priority),
            bytes: bytes.len(),
            subject,
        });
    }

    progress.step("delivering: each receiving adapter verifies, writes its inbox, answers 01");
    let deliveries: usize = PLAN.iter().map(|s| s.to.len()).sum();
    wait_for(
        progress,
        "01 arrived, heard by the sender",
        deadline,
        || {
            let n = heard_by_senders(running, &sent, |codes, _| codes.iter().any(|c| c == "01"))?;
            Ok((n, deliveries))
        },
    )
    .await?;

    progress.step(
        "the clerks decide: 03 accepted, 06 completed, 02 refused; one document recalled (13)",
    );
    let mut n = 0;
    for (s, d) in PLAN.iter().zip(&sent) {
        for (t, decision) in s.to {
            let mut ask = |code: &str, description: &str| {
                n += 1;
                request_status(
                    world,
                    *t,
                    n,
                    &StatusRequest {
                        document_id: d.document_id.clone(),
                        code: code.into(),
                        description: description.into(),
                    },
                )
            };
            match decision {
                Decision::Accept => ask("03", "")?,
                Decision::Complete => {
                    ask("03", "")?;
                    ask("06", "Đã xử lý xong (handled)")?;
                }
                Decision::Refuse(reason) => ask("02", reason)?,
                Decision::AgreeToRecall => {}
            }
        }
        if s.recalled() {
            n += 1;
            request_status(
                world,
                s.from,
                n,
                &StatusRequest {
                    document_id: d.document_id.clone(),
                    code: "13".into(),
                    description: "Văn bản ban hành nhầm, xin thu hồi (issued by mistake)".into(),
                },
            )?;
        }
    }
    // The recipients of the recalled document agree (15) once the recall
    // reached their status-inbox/.
    let recall: Vec<(usize, &SentDoc)> = PLAN
        .iter()
        .zip(&sent)
        .filter(|(s, _)| s.recalled())
        .flat_map(|(s, d)| s.to.iter().map(move |(t, _)| (*t, d)))
        .collect();
    let mut answered = vec![false; recall.len()];
    wait_for(
        progress,
        "recall (13) received, agreed (15)",
        deadline,
        || {
            for (i, (t, d)) in recall.iter().enumerate() {
                if answered[i] {
                    continue;
                }
                let inbox = world.agencies[*t].folder(folders::STATUS_INBOX);
                let suffix = format!(".13.{}.xml", d.from);
                let arrived = std::fs::read_dir(&inbox)?
                    .filter_map(|e| e.ok())
                    .any(|e| e.file_name().to_string_lossy().ends_with(&suffix));
                if arrived {
                    n += 1;
                    request_status(
                        world,
                        *t,
                        n,
                        &StatusRequest {
                            document_id: d.document_id.clone(),
                            code: "15".into(),
                            description: String::new(),
                        },
                    )?;
                    answered[i] = true;
                }
            }
            Ok((answered.iter().filter(|a| **a).count(), recall.len()))
        },
    )
    .await?;

    // Every sender's record ends with what each clerk decided.
    let wanted = |d: &Decision| -> &'static [&'static str] {
        match d {
            Decision::Accept => &["01", "03"],
            Decision::Complete => &["01", "03", "06"],
            Decision::Refuse(_) => &["01", "02"],
            Decision::AgreeToRecall => &["01", "15"],
        }
    };
    wait_for(
        progress,
        "clerks' statuses heard by the senders",
        deadline,
        || {
            let n = heard_by_senders(running, &sent, |codes, decision| {
                wanted(decision)
                    .iter()
                    .all(|w| codes.iter().any(|c| c == w))
            })?;
            Ok((n, deliveries))
        },
    )
    .await?;
    Ok(sent)
}

/// Waits for the tracker to count everything, then compares its figures
/// with the plan, and every inbox with what was addressed to it.
async fn check(
    world: &World,
    sent: Vec<SentDoc>,
    progress: &Progress,
    deadline: Instant,
) -> anyhow::Result<Checked> {
    let expected = scenario::expected(PLAN);
    // The national figures, as the tracker's database holds them now.
    let read = |db: &Path| -> anyhow::Result<Expected> {
        Ok(Expected::of(&report::load(db)?.figures(&Filter::default())))
    };
    let events = |e: &Expected| {
        (e.arrived + e.accepted + e.refused + e.completed + e.recalled + e.recall_agreed) as usize
    };
    let give_up = deadline.min(Instant::now() + Duration::from_secs(20));
    let waited = wait_for(progress, "statuses counted by the tracker", give_up, || {
        if !world.tracker_db.exists() {
            return Ok((0, events(&expected)));
        }
        let got = read(&world.tracker_db)?;
        let done = if got == expected {
            events(&expected)
        } else {
            events(&got).min(events(&expected) - 1)
        };
        Ok((done, events(&expected)))
    })
    .await;
    // One read of the final state serves the figures and the table.
    let state = report::load(&world.tracker_db)?;
    let figures = state.figures(&Filter::default());
    let got = Expected::of(&figures);
    let mut problems = Vec::new();
    if waited.is_err() {
        problems.push(format!(
            "the tracker's figures {got:?} differ from the plan {expected:?}"
        ));
    }
    // Exactly once: each recipient's inbox holds one file per document
    // addressed to it, and no more.
    let mut per_agency: BTreeMap<usize, usize> = BTreeMap::new();
    for s in PLAN {
        for (t, _) in s.to {
            *per_agency.entry(*t).or_default() += 1;
        }
    }
    let mut inbox_files = 0;
    for (i, inst) in world.agencies.iter().enumerate() {
        let files = fsio::ready_files(&inst.folder(folders::INBOX))?.len();
        inbox_files += files;
        let want = per_agency.get(&i).copied().unwrap_or(0);
        if files != want {
            problems.push(format!(
                "{}: {files} file(s) in inbox/, expected {want}",
                inst.organ_id
            ));
        }
    }
    let rows = report::rows(&state, &Filter::default(), By::Pair, 100);
    let table = columns(
        report::table(&rows, By::Pair),
        &[
            "sender",
            "recipient",
            "expected",
            "arrived",
            "accepted",
            "refused",
            "completed",
            "recalled",
            "delivery_rate",
            "arrival_p50",
        ],
    );
    Ok(Checked {
        documents: sent,
        figures: got,
        delivery_rate: figures.delivery_rate,
        time_to_arrival_p50_s: figures.time_to_arrival.p50,
        table,
        inbox_files,
        problems,
    })
}

/// `t` with only the columns named in `keep`, in that order (the full
/// table is 18 columns wide; `docaxis stats --by pair` prints it all).
fn columns(t: report::Table, keep: &[&str]) -> report::Table {
    let idx: Vec<usize> = keep
        .iter()
        .filter_map(|k| t.headers.iter().position(|h| h == k))
        .collect();
    let pick = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| idx.iter().map(|&i| r[i].clone()).collect())
            .collect()
    };
    report::Table {
        headers: idx.iter().map(|&i| t.headers[i].clone()).collect(),
        rows: pick(&t.rows),
        raw_rows: pick(&t.raw_rows),
    }
}

fn text(r: &Report, keep: bool) -> String {
    let c = &r.checked;
    let mut s = String::from("\nDocuments sent\n");
    for d in &c.documents {
        s.push_str(&format!(
            "  {:<38} {} → {} recipient(s), {}, {} bytes\n",
            d.document_id,
            d.from,
            d.to.len(),
            d.priority,
            d.bytes
        ));
    }
    s.push_str("\nDeliveries, as the tracker counts them (sender → recipient)\n");
    s.push_str(&report::render_text(&c.table));
    let f = &c.figures;
    s.push_str(&format!(
        "\nNational totals: {} documents, {} deliveries, {} arrived ({:.0}%), {} accepted, {} completed, {} refused, {} recalled ({} agreed)\n",
        f.documents, f.expected, f.arrived, c.delivery_rate * 100.0, f.accepted, f.completed, f.refused, f.recalled, f.recall_agreed
    ));
    s.push_str(&format!(
        "Inboxes: {} files, each document exactly once where it was addressed.\n",
        c.inbox_files
    ));
    for f in &r.refusals {
        s.push_str(&format!("Refused, as it must be: {f}\n"));
    }
    if c.problems.is_empty() {
        s.push_str("\nEvery figure is as planned.\n");
    } else {
        s.push_str("\nWRONG:\n");
        for p in &c.problems {
            s.push_str(&format!("  - {p}\n"));
        }
    }
    s.push_str(&format!(
        "Axis: {}; done in {:.1} s.\n",
        r.axis,
        r.elapsed_ms as f64 / 1000.0
    ));
    if keep {
        s.push_str(&format!(
            "\nExplore:\n  dashboard          {}\n  figures            docaxis stats --db {w}/tracker/tracker.db --by agency\n  audit              docaxis audit verify --db {w}/tracker/tracker.db\n  directory          docaxis directory show --directory {w}/operator/directory.json --root-pub {w}/operator/root.pub\n  send another       drop an edXML file into {w}/agencies/000.00.00.G22/data/outbox/\n  what arrived       ls {w}/agencies/000.00.00.G12/data/inbox/\n",
            r.dashboard,
            w = r.work_dir
        ));
    } else {
        s.push_str(&format!("Working directory: {}\n", r.work_dir));
    }
    s
}
