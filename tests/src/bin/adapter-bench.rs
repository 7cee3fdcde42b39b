//! adapter-bench: one sending adapter to one receiving adapter over
//! RabbitMQ, as real `docaxis adapter run` processes, beside the bare
//! transport baseline measured in the same run.
//!
//! ```text
//! cargo build --release -p docaxis -p docaxis-suites --bin docaxis --bin adapter-bench
//! target/release/adapter-bench [--docs N] [--rate DOCS_PER_S] [--baseline-count N]
//! ```
//!
//! 1. The bare transport: `docaxis_axis::bench::bare_lapin` (10 KiB
//!    persistent messages, a quorum queue, publisher confirms, manual acks),
//!    the very function `axis-bench` reports.
//! 2. Two adapters (G22 sends, G12 receives) on a virtual host of their own,
//!    with the production log level. N documents built from the seed
//!    articles (each with an attachment) are renamed into G22's outbox,
//!    all at once (a backlog) or at `--rate` per second. The clock runs
//!    from the first rename to the last inbox file and to the last status
//!    01 recorded back at the sender (every inbox write, journal entry and
//!    record is fsynced, as always).
//! 3. RSS of both adapters is sampled every 50 ms (VmRSS, and VmHWM at the
//!    end); CPU time of each adapter and of the broker is read from /proc.
//! 4. Sign and verify are timed in this process on the same documents, to
//!    tell the adapters' crypto/XML work from the rest of their work.
//!
//! Latency of a document: from its rename into the outbox to its inbox
//! file (mtime), and to the 01 at the sender (mtime of the status file).
//! With a backlog it is mostly waiting in line; use `--rate` for latency at
//! a given load.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use docaxis_axis::bench::{bare_lapin, Baseline, BenchOptions};
use docaxis_axis::procstat::{broker_pid, cpu_of, machine_jiffies, status_kb};
use docaxis_suites::agencies::*;

const G22: &str = "000.00.00.G22";
const G12: &str = "000.00.00.G12";
/// Number of the warm-up document (outside the measured range).
const WARMUP: usize = 999_999;

struct Args {
    docs: usize,
    rate: Option<f64>,
    baseline_count: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        docs: 5_000,
        rate: None,
        baseline_count: 10_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--docs" => a.docs = v.parse().expect("--docs: a number"),
            "--rate" => a.rate = Some(v.parse().expect("--rate: documents per second")),
            "--baseline-count" => a.baseline_count = v.parse().expect("--baseline-count"),
            _ => panic!("unknown option {k}; see the doc comment of adapter-bench"),
        }
    }
    a
}

fn seeds() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// Peak VmRSS seen by sampling, per process, until stopped.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peaks: Vec<Arc<AtomicU64>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(pids: Vec<u32>) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peaks: Vec<_> = pids.iter().map(|_| Arc::new(AtomicU64::new(0))).collect();
        let (s, p) = (stop.clone(), peaks.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                for (pid, peak) in pids.iter().zip(&p) {
                    peak.fetch_max(status_kb(*pid, "VmRSS:"), Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        RssSampler {
            stop,
            peaks,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peaks
            .iter()
            .map(|p| p.load(Ordering::Relaxed))
            .collect()
    }
}

/// The document number in a file name written by the adapter
/// (`000.00.00.G22_2026-11-22_<n>-TEST.<digest>...`).
fn number_in(name: &str) -> Option<usize> {
    name.split('_').nth(2)?.split('-').next()?.parse().ok()
}

/// Modification times of the files in `dir` whose names contain `infix`,
/// by document number.
fn mtimes(dir: &Path, infix: &str) -> HashMap<usize, SystemTime> {
    files(dir)
        .iter()
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?;
            if !name.contains(infix) {
                return None;
            }
            Some((number_in(name)?, p.metadata().ok()?.modified().ok()?))
        })
        .collect()
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |r| {
        r.filter_map(Result::ok)
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .count()
    })
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 - 1.0) * q).round() as usize)
        .copied()
        .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Mean time of `f` over `n` runs.
fn time_it(n: u32, mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed() / n
}

/// Sign and verify cost of the documents the bench sends, and of the
/// status 01 that answers each, measured in this process.
fn crypto_per_document(t: &TestAxis, docs: &[Vec<u8>]) -> (Duration, Duration) {
    let directory = docaxis_directory::SignedDirectory::load(
        &t.path().join("directory.json"),
        &docaxis_directory::keys::read_public_key(&t.path().join("root.pub")).unwrap(),
    )
    .unwrap();
    let sender = docaxis_dsig::Signer::new(t.keys[0].clone(), key_id(G22));
    let receiver = docaxis_dsig::Signer::new(t.keys[1].clone(), key_id(G12));
    let now = time::OffsetDateTime::now_utc();
    let limits = docaxis_xml::Limits::default();
    let parse_limits = docaxis_edxml::ParseLimits::default();
    let signed: Vec<Vec<u8>> = docs
        .iter()
        .map(|d| sender.sign(d, &limits).unwrap())
        .collect();
    let n = 40;
    let sign_doc = time_it(n, || {
        for d in docs {
            std::hint::black_box(sender.sign(d, &limits).unwrap());
        }
    }) / docs.len() as u32;
    let verify_doc = time_it(n, || {
        for s in &signed {
            std::hint::black_box(docaxis_dsig::verify(s, &directory, now, &parse_limits).unwrap());
        }
    }) / docs.len() as u32;
    // Status 01 for the first document, as the receiver composes it.
    let parsed = docaxis_edxml::parse(&signed[0], &parse_limits).unwrap();
    let docaxis_edxml::Message::Document(doc) = parsed.message else {
        unreachable!()
    };
    let me =
        docaxis_edxml::organization(docaxis_edxml::OrganId::parse(G12).unwrap(), "Bộ Tài chính");
    let status = docaxis_adapter::status::status(
        &me,
        docaxis_adapter::status::response_for(&doc),
        docaxis_edxml::StatusCode::Arrived,
        "",
        docaxis_edxml::EdTimestamp::now(),
    );
    let message = docaxis_edxml::Message::Status(Box::new(status));
    let signed_status = receiver.sign_message(&message).unwrap();
    let sign_status = time_it(n * 5, || {
        std::hint::black_box(receiver.sign_message(&message).unwrap());
    });
    let verify_status = time_it(n * 5, || {
        std::hint::black_box(
            docaxis_dsig::verify(&signed_status, &directory, now, &parse_limits).unwrap(),
        );
    });
    (sign_doc + verify_status, verify_doc + sign_status)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = parse_args();
    let vhost = Vhost::new("adapter-bench");
    println!(
        "adapter-bench: {} documents, G22 -> G12 over RabbitMQ (vhost {}), {}",
        a.docs,
        vhost.name,
        match a.rate {
            Some(r) => format!("dropped at {r:.0}/s"),
            None => "dropped all at once".into(),
        }
    );

    // 1. The bare transport, same broker, same run.
    let bare = bare_lapin(
        &BenchOptions {
            url: vhost.url(),
            count: a.baseline_count,
            ..BenchOptions::default()
        },
        Baseline::Plain,
    )
    .await
    .expect("bare lapin baseline");
    println!(
        "bare lapin (10 KiB, quorum, confirms, manual acks): {:.0} msg/s, p50 {:.1} ms, p99 {:.1} ms",
        bare.rate,
        ms(bare.p50),
        ms(bare.p99)
    );

    // 2. The documents, prepared outside the outbox.
    let t = TestAxis::new(Some(vhost.url()));
    let texts = seeds();
    let prepared = t.path().join("prepared");
    std::fs::create_dir_all(&prepared).unwrap();
    let mut sizes = 0usize;
    for i in 0..a.docs {
        let doc = TestAxis::document(G22, &[G12], i, &texts[i % texts.len()]);
        sizes += doc.len();
        std::fs::write(prepared.join(format!("cv{i:06}.xml")), doc).unwrap();
    }
    let unsigned: Vec<Vec<u8>> = (0..texts.len())
        .map(|i| TestAxis::document(G22, &[G12], i, &texts[i]))
        .collect();
    println!(
        "documents: {} bytes on average before signing (seed articles with an attachment)",
        sizes / a.docs.max(1)
    );
    let axis = docaxis_axis::connect(Some(&t.axis_url)).await.unwrap();
    axis.setup(&[G22, G12]).await.unwrap();
    axis.close().await.unwrap();

    let env = [("DOCAXIS_LOG", "warn")];
    let mut sender = spawn_adapter_with(&t, G22, &env);
    let mut receiver = spawn_adapter_with(&t, G12, &env);
    let pids = vec![sender.0.id(), receiver.0.id()];
    let rss = RssSampler::start(pids.clone());
    let inbox = t.data_dir(G12).join("inbox");
    let statuses = t.data_dir(G22).join("status-inbox");

    // Warm-up: one document through, so both adapters are up and connected.
    t.drop_in_outbox(
        G22,
        "warmup.xml",
        &TestAxis::document(G22, &[G12], WARMUP, &texts[0]),
    );
    eventually(60, "the warm-up document and its 01", || {
        count(&inbox) == 1 && count(&statuses) == 1
    })
    .await;

    // 3. The measured run.
    let broker = broker_pid();
    let cpu0: Vec<Duration> = pids.iter().map(|p| cpu_of(*p)).collect();
    let broker0 = broker.map(cpu_of).unwrap_or_default();
    let machine0 = machine_jiffies();
    let outbox = t.data_dir(G22).join("outbox");
    let start_wall = SystemTime::now();
    let start = Instant::now();
    let mut dropped_at = Vec::with_capacity(a.docs);
    for i in 0..a.docs {
        if let Some(rate) = a.rate {
            let due = Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        let name = format!("cv{i:06}.xml");
        std::fs::rename(prepared.join(&name), outbox.join(&name)).unwrap();
        dropped_at.push(SystemTime::now());
    }
    let want = a.docs + 1;
    let deadline = Instant::now() + Duration::from_secs(120 + a.docs as u64 / 20);
    while count(&inbox) < want || count(&statuses) < want {
        assert!(
            Instant::now() < deadline,
            "stuck: {} of {} in the inbox, {} statuses back",
            count(&inbox),
            want,
            count(&statuses)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let polled = start.elapsed();
    let cpu: Vec<Duration> = pids
        .iter()
        .zip(&cpu0)
        .map(|(p, c0)| cpu_of(*p) - *c0)
        .collect();
    let broker_cpu = broker.map(cpu_of).unwrap_or_default() - broker0;
    let machine1 = machine_jiffies();
    let hwm: Vec<u64> = pids.iter().map(|p| status_kb(*p, "VmHWM:")).collect();
    let peaks = rss.finish();

    // Each document's inbox file and 01, timed by their files.
    let delivered = mtimes(&inbox, "-TEST.");
    let answered = mtimes(&statuses, ".01.");
    let latencies = |m: &HashMap<usize, SystemTime>| {
        let mut v: Vec<Duration> = (0..a.docs)
            .map(|i| {
                m.get(&i)
                    .unwrap_or_else(|| panic!("document {i} missing"))
                    .duration_since(dropped_at[i])
                    .unwrap_or_default()
            })
            .collect();
        v.sort_unstable();
        v
    };
    let (to_inbox, to_status) = (latencies(&delivered), latencies(&answered));
    let last = |m: &HashMap<usize, SystemTime>| {
        (0..a.docs)
            .filter_map(|i| m.get(&i))
            .max()
            .and_then(|t| t.duration_since(start_wall).ok())
            .unwrap_or(polled)
    };
    let (inbox_done, status_done) = (last(&delivered), last(&answered));
    // Every record at the sender holds its 01.
    let records = sent_records(&t, G22);
    let with_01 = records
        .iter()
        .filter(|r| statuses_from(r, G12).iter().any(|s| s["code"] == "01"))
        .count();
    assert_eq!(with_01, want, "records with 01 at the sender");
    assert_eq!(count(&inbox), want, "inbox files (exactly once)");

    let rate = a.docs as f64 / status_done.as_secs_f64();
    println!(
        "adapters: {:.0} documents/s to the last inbox file, {:.0} documents/s to the last 01 back at the sender ({:.2} s for {})",
        a.docs as f64 / inbox_done.as_secs_f64(),
        rate,
        status_done.as_secs_f64(),
        a.docs
    );
    println!(
        "latency outbox -> inbox: p50 {:.0} ms, p99 {:.0} ms; outbox -> 01 at the sender: p50 {:.0} ms, p99 {:.0} ms",
        ms(quantile(&to_inbox, 0.5)),
        ms(quantile(&to_inbox, 0.99)),
        ms(quantile(&to_status, 0.5)),
        ms(quantile(&to_status, 0.99)),
    );
    println!(
        "peak RSS: sender {:.1} MB (VmHWM {:.1} MB), receiver {:.1} MB (VmHWM {:.1} MB)",
        peaks[0] as f64 / 1024.0,
        hwm[0] as f64 / 1024.0,
        peaks[1] as f64 / 1024.0,
        hwm[1] as f64 / 1024.0
    );
    let per_doc = |d: Duration| d.as_secs_f64() * 1e3 / a.docs as f64;
    let (busy, total) = (machine1.0 - machine0.0, machine1.1 - machine0.1);
    println!(
        "CPU per document: sender {:.2} ms, receiver {:.2} ms, broker {:.2} ms; the machine was {:.0}% busy (2 cores)",
        per_doc(cpu[0]),
        per_doc(cpu[1]),
        per_doc(broker_cpu),
        100.0 * busy as f64 / total.max(1) as f64
    );
    let (crypto_sender, crypto_receiver) = crypto_per_document(&t, &unsigned);
    println!(
        "of which sign/verify/XML (timed here on the same documents): sender {:.2} ms (sign the document, verify its 01), receiver {:.2} ms (verify the document, sign its 01)",
        ms(crypto_sender),
        ms(crypto_receiver)
    );
    println!(
        "ratio adapters (documents/s, statuses back) / bare lapin (messages/s): {:.1}%",
        100.0 * rate / bare.rate
    );
    let (s, r) = (sender.terminate(), receiver.terminate());
    assert!(s.success() && r.success(), "adapters stopped: {s}, {r}");
    drop(t);
    drop(vhost);
}
