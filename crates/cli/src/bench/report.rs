//! What `docaxis bench` reports (`--format json`), the targets of issue 7
//! checked against it, and the text for people.

use std::time::SystemTime;

use serde::Serialize;

use super::counters::BrokerCounts;

/// The whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    pub vhost: String,
    pub work_dir: String,
    pub agencies: usize,
    /// CPUs of this machine (the broker, the adapters, the tracker and the
    /// bench share them).
    pub cores: usize,
    pub started_at: String,
    pub load_average_start: [f64; 3],
    pub load_average_end: [f64; 3],
    /// Bare lapin, same broker, same run.
    pub baseline: Option<Baseline>,
    pub passes: Vec<PassReport>,
    /// Every process the bench ran, over its whole life.
    pub processes: Vec<ProcessReport>,
    /// With --month: what the month is.
    pub month: Option<Month>,
    pub targets: Vec<Target>,
    /// Documents lost, duplicated, misrouted, miscounted: exit code 1.
    pub problems: Vec<String>,
}

/// The bare-lapin baseline.
#[derive(Debug, Serialize)]
pub struct Baseline {
    pub messages: usize,
    pub message_bytes: usize,
    pub messages_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The publishing and consuming client (this process).
    pub client_cpu_s_per_1000: f64,
    pub broker_cpu_s_per_1000: f64,
    pub load_average: [f64; 3],
}

/// The month being replayed.
#[derive(Debug, Serialize)]
pub struct Month {
    pub scale: f64,
    pub deliveries_full: usize,
    pub sent_in_july_2022: usize,
    pub received_in_july_2022: usize,
}

/// One pass.
#[derive(Debug, Serialize)]
pub struct PassReport {
    pub label: String,
    /// Its documents: notation and numbers from `first_number` on.
    pub notation: String,
    pub first_number: u64,
    pub pacing: String,
    pub documents: usize,
    pub deliveries: usize,
    pub recipients_per_document: f64,
    pub average_document_bytes: u64,
    /// From the first rename into an outbox.
    pub seconds_to_last_inbox: f64,
    pub seconds_to_last_01: f64,
    /// Until the tracker counted every document, delivery and 01 (polled
    /// every 200 ms once the last 01 was back).
    pub seconds_to_tracker_counted: f64,
    /// End to end: documents over the time to the tracker's count.
    pub documents_per_s: f64,
    pub deliveries_per_s: f64,
    /// Documents over the time to the last 01 at the senders.
    pub documents_per_s_to_last_01: f64,
    /// Per delivery: rename into the outbox → file in the recipient's inbox.
    pub latency_to_inbox: Latency,
    /// Per delivery: rename → the 01 recorded at the sender.
    pub latency_to_01: Latency,
    /// Per document: rename → the last of its 01s.
    pub latency_document_answered: Latency,
    pub cpu: Vec<Cpu>,
    /// The adapters and the tracker, summed.
    pub docaxis_cpu_s_per_1000_docs: f64,
    /// The broker's Erlang VM (shared: see broker.other_vhosts_published).
    pub broker_cpu_s_per_1000_docs: f64,
    /// This process: the document systems' work (building, writing,
    /// renaming, taking files away) and the measuring.
    pub bench_cpu_s_per_1000_docs: f64,
    pub machine_busy_percent: f64,
    pub rss: Vec<Rss>,
    /// The broker's counters for the bench's vhost.
    pub broker: BrokerCounts,
    /// Messages published per document (its copies and its statuses).
    pub broker_published_per_document: f64,
    /// Messages stored in queues per document: copies to recipients, 01s,
    /// the tracker's copies of both — the unit the baseline's messages/s
    /// are compared in.
    pub broker_messages_per_document: f64,
    pub broker_delivered_per_document: f64,
    /// Bare lapin's messages/s over broker messages per document.
    pub bare_equivalent_documents_per_s: Option<f64>,
    /// documents_per_s over bare_equivalent_documents_per_s.
    pub ratio_to_bare: Option<f64>,
    pub load_average_start: [f64; 3],
    pub load_average_end: [f64; 3],
    /// ERROR and WARN lines the adapters and the tracker logged during the
    /// pass, and the first of them.
    pub log_errors: usize,
    pub log_warnings: usize,
    pub first_log_problems: Vec<String>,
    pub check: TrackerCheck,
}

/// Exactly once, and counted.
#[derive(Debug, Serialize)]
pub struct TrackerCheck {
    pub tracker_documents: u64,
    pub tracker_deliveries_expected: u64,
    pub tracker_arrived: u64,
    pub tracker_counted_all: bool,
    pub inbox_files: usize,
    pub statuses_01: usize,
    pub problems: Vec<String>,
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Serialize, Default)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// Percentiles of samples in microseconds (nearest rank).
    pub fn of(us: &[u64]) -> Latency {
        let mut v = us.to_vec();
        v.sort_unstable();
        let pick = |q: f64| {
            if v.is_empty() {
                return 0.0;
            }
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            v[rank - 1] as f64 / 1e3
        };
        Latency {
            count: v.len(),
            p50_ms: pick(0.50),
            p99_ms: pick(0.99),
            max_ms: v.last().map_or(0.0, |m| *m as f64 / 1e3),
        }
    }
}

/// CPU time of one process in one pass.
#[derive(Debug, Serialize)]
pub struct Cpu {
    pub name: String,
    pub cpu_s: f64,
    pub cpu_s_per_1000_docs: f64,
}

/// Resident memory of one process during a pass (VmRSS, sampled every
/// 200 ms), in kB.
#[derive(Debug, Serialize)]
pub struct Rss {
    pub name: String,
    pub start_kb: u64,
    pub middle_kb: u64,
    pub end_kb: u64,
    pub peak_kb: u64,
}

impl Rss {
    /// From the samples of one process.
    pub fn of(name: &str, s: &[u64]) -> Rss {
        Rss {
            name: name.to_owned(),
            start_kb: s.first().copied().unwrap_or(0),
            middle_kb: s.get(s.len() / 2).copied().unwrap_or(0),
            end_kb: s.last().copied().unwrap_or(0),
            peak_kb: s.iter().copied().max().unwrap_or(0),
        }
    }
}

/// One process over the whole run.
#[derive(Debug, Serialize)]
pub struct ProcessReport {
    pub name: String,
    /// VmHWM at the end.
    pub peak_rss_kb: u64,
    pub stopped_cleanly: bool,
    pub log_errors: usize,
    pub log_warnings: usize,
    pub first_log_problems: Vec<String>,
    pub log: String,
}

/// One target of issue 7.
#[derive(Debug, Serialize)]
pub struct Target {
    pub target: String,
    pub measured: String,
    /// `None`: this run did not measure it (which option does is said).
    pub met: Option<bool>,
}

/// RFC 3339 of a time.
pub fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Fills in each pass's ratio to the baseline.
pub fn ratios(r: &mut Report) {
    let Some(b) = &r.baseline else { return };
    for p in &mut r.passes {
        if p.broker_messages_per_document > 0.0 {
            let equiv = b.messages_per_s / p.broker_messages_per_document;
            p.bare_equivalent_documents_per_s = Some(equiv);
            p.ratio_to_bare = Some(p.documents_per_s / equiv);
        }
    }
}

/// The targets, checked against what this run measured.
pub fn targets(r: &Report) -> Vec<Target> {
    let mut t = Vec::new();
    let max = r.passes.iter().find(|p| p.pacing.starts_with("backlog"));
    let none = |target: &str, how: &str| Target {
        target: target.into(),
        measured: format!("not measured ({how})"),
        met: None,
    };
    let clean = r.problems.is_empty();
    match max {
        Some(p) => {
            t.push(Target {
                target: "end to end >= 2,000 documents/s, 01 back and the tracker counting".into(),
                measured: format!("{:.0} documents/s ({} pass)", p.documents_per_s, p.label),
                met: Some(clean && p.documents_per_s >= 2000.0),
            });
            t.push(match (p.ratio_to_bare, p.bare_equivalent_documents_per_s) {
                (Some(ratio), Some(eq)) => Target {
                    target: ">= 80% of bare lapin messages/s / broker messages per document".into(),
                    measured: format!(
                        "{:.0}% ({:.0} documents/s vs {eq:.0}: bare {:.0} msg/s / {:.2} messages per document)",
                        ratio * 100.0,
                        p.documents_per_s,
                        r.baseline.as_ref().map_or(0.0, |b| b.messages_per_s),
                        p.broker_messages_per_document
                    ),
                    met: Some(clean && ratio >= 0.8),
                },
                _ => none(
                    ">= 80% of bare lapin messages/s / broker messages per document",
                    "--baseline-count 0",
                ),
            });
            t.push(Target {
                target: "docaxis CPU per document <= the broker's".into(),
                measured: format!(
                    "docaxis {:.3} s vs broker {:.3} s per 1,000 documents{}",
                    p.docaxis_cpu_s_per_1000_docs,
                    p.broker_cpu_s_per_1000_docs,
                    shared(p)
                ),
                met: Some(p.docaxis_cpu_s_per_1000_docs <= p.broker_cpu_s_per_1000_docs),
            });
        }
        None => {
            for target in [
                "end to end >= 2,000 documents/s, 01 back and the tracker counting",
                ">= 80% of bare lapin messages/s / broker messages per document",
                "docaxis CPU per document <= the broker's",
            ] {
                t.push(none(target, "a backlog pass: no --rate"));
            }
        }
    }
    let half = r.passes.iter().find(|p| p.label == "half rate");
    t.push(match half {
        Some(p) => Target {
            target: "p99 latency < 100 ms at half the maximum rate (outbox -> 01 at the sender)"
                .into(),
            measured: format!(
                "p99 {:.1} ms to the 01, {:.1} ms to the inbox ({})",
                p.latency_to_01.p99_ms, p.latency_to_inbox.p99_ms, p.pacing
            ),
            met: Some(clean && p.latency_to_01.p99_ms < 100.0),
        },
        None => none(
            "p99 latency < 100 ms at half the maximum rate (outbox -> 01 at the sender)",
            "--half-rate",
        ),
    });
    let month = r.passes.iter().find(|p| p.label == "month");
    t.push(match (month, &r.month) {
        (Some(p), Some(m)) => {
            let full = p.seconds_to_tracker_counted / m.scale;
            Target {
                target: "one month (620,830 deliveries) end to end in < 10 minutes".into(),
                measured: if m.scale < 1.0 {
                    format!(
                        "{:.0} s for {:.3} of it: {:.0} s for the month, projected",
                        p.seconds_to_tracker_counted, m.scale, full
                    )
                } else {
                    format!("{:.0} s", p.seconds_to_tracker_counted)
                },
                met: (m.scale >= 1.0).then_some(clean && full < 600.0),
            }
        }
        _ => none(
            "one month (620,830 deliveries) end to end in < 10 minutes",
            "--month",
        ),
    });
    let sustained = r
        .passes
        .iter()
        .find(|p| p.pacing.starts_with("paced") && p.seconds_to_last_01 >= 600.0);
    let grown = |p: &PassReport| {
        p.rss
            .iter()
            .map(|r| {
                if r.middle_kb == 0 {
                    0.0
                } else {
                    r.end_kb as f64 / r.middle_kb as f64 - 1.0
                }
            })
            .fold(0.0, f64::max)
    };
    t.push(match sustained {
        Some(p) => Target {
            target: "sustained >= 10 minutes at half the maximum rate: RSS flat, no error".into(),
            measured: format!(
                "{:.0} s; RSS grew at most {:.1}% from the middle to the end; {} error(s), {} warning(s) logged",
                p.seconds_to_last_01,
                grown(p) * 100.0,
                p.log_errors,
                p.log_warnings
            ),
            met: Some(clean && p.log_errors == 0 && grown(p) <= 0.10),
        },
        None => none(
            "sustained >= 10 minutes at half the maximum rate: RSS flat, no error",
            "--half-rate --duration 600",
        ),
    });
    t
}

/// A warning that the broker worked for others too during the pass.
fn shared(p: &PassReport) -> String {
    match p.broker.other_vhosts_published {
        0 => String::new(),
        n => format!(
            " (the broker is shared: other vhosts published {n} messages meanwhile, against {} here)",
            p.broker.published
        ),
    }
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn la(l: [f64; 3]) -> String {
    format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2])
}

/// The report for people.
pub fn text(r: &Report) -> String {
    let mut s = format!(
        "\ndocaxis bench: {} agencies over RabbitMQ (vhost {}), {} cores, load average {} at the start\n",
        r.agencies,
        r.vhost,
        r.cores,
        la(r.load_average_start)
    );
    if let Some(b) = &r.baseline {
        s.push_str(&format!(
            "\nbare lapin, {} messages of {} bytes (quorum queue, confirms, manual acks): {:.0} msg/s, p50 {:.1} ms, p99 {:.1} ms; CPU per 1,000: client {:.3} s, broker {:.3} s (load {})\n",
            b.messages, b.message_bytes, b.messages_per_s, b.p50_ms, b.p99_ms, b.client_cpu_s_per_1000, b.broker_cpu_s_per_1000, la(b.load_average)
        ));
    }
    for p in &r.passes {
        s.push_str(&format!(
            "\n{} pass ({}): {} documents to {:.2} recipients each ({} deliveries), {} bytes on average\n",
            p.label, p.pacing, p.documents, p.recipients_per_document, p.deliveries, p.average_document_bytes
        ));
        s.push_str(&format!(
            "  end to end: {:.0} documents/s, {:.0} deliveries/s ({:.2} s to the tracker's count; last inbox file at {:.2} s, last 01 at {:.2} s)\n",
            p.documents_per_s, p.deliveries_per_s, p.seconds_to_tracker_counted, p.seconds_to_last_inbox, p.seconds_to_last_01
        ));
        for (what, l) in [
            ("outbox -> inbox  ", &p.latency_to_inbox),
            ("outbox -> 01 back", &p.latency_to_01),
            ("document answered", &p.latency_document_answered),
        ] {
            s.push_str(&format!(
                "  latency {what}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)\n",
                l.p50_ms, l.p99_ms, l.max_ms, l.count
            ));
        }
        s.push_str(&format!(
            "  CPU s per 1,000 documents: docaxis {:.3} (adapters and tracker), broker {:.3}{}, bench {:.3}; the machine {:.0}% busy; load {} -> {}\n",
            p.docaxis_cpu_s_per_1000_docs,
            p.broker_cpu_s_per_1000_docs,
            shared(p),
            p.bench_cpu_s_per_1000_docs,
            p.machine_busy_percent,
            la(p.load_average_start),
            la(p.load_average_end)
        ));
        s.push_str("  per process (CPU s per 1,000 documents; RSS MB start/middle/end, peak):\n");
        for (c, m) in p.cpu.iter().zip(&p.rss) {
            s.push_str(&format!(
                "    {:<16} {:>7.3}   {:>6.1} {:>6.1} {:>6.1}  {:>6.1}\n",
                c.name,
                c.cpu_s_per_1000_docs,
                mb(m.start_kb),
                mb(m.middle_kb),
                mb(m.end_kb),
                mb(m.peak_kb)
            ));
        }
        let b = &p.broker;
        s.push_str(&format!(
            "  broker counters: {:.2} messages stored per document ({} document copies, {} statuses, {} tracker copies, {} other), {:.2} published, {:.2} delivered ({} redelivered, {} unroutable); other vhosts published {} meanwhile\n",
            p.broker_messages_per_document,
            b.enqueued_documents,
            b.enqueued_statuses,
            b.enqueued_tap,
            b.enqueued_other,
            p.broker_published_per_document,
            p.broker_delivered_per_document,
            b.redelivered,
            b.unroutable,
            b.other_vhosts_published
        ));
        if let (Some(eq), Some(ratio)) = (p.bare_equivalent_documents_per_s, p.ratio_to_bare) {
            s.push_str(&format!(
                "  ratio: {:.0} documents/s vs bare {eq:.0} (bare msg/s / {:.2}): {:.0}%\n",
                p.documents_per_s,
                p.broker_messages_per_document,
                ratio * 100.0
            ));
        }
        s.push_str(&format!(
            "  logged during the pass: {} error(s), {} warning(s)\n",
            p.log_errors, p.log_warnings
        ));
        for l in &p.first_log_problems {
            s.push_str(&format!("      {l}\n"));
        }
        let c = &p.check;
        s.push_str(&format!(
            "  exactly once: {} inbox files, {} 01s; tracker: {} documents, {} deliveries, {} arrived{}\n",
            c.inbox_files,
            c.statuses_01,
            c.tracker_documents,
            c.tracker_deliveries_expected,
            c.tracker_arrived,
            if c.tracker_counted_all { "" } else { " (NOT all)" }
        ));
    }
    s.push_str("\nprocesses (over the whole run): peak RSS (VmHWM), warnings and errors logged\n");
    // The same line logged by several processes is shown once (with the
    // process's own name, the vhost and the time taken out).
    let mut lines: Vec<(String, Vec<&str>)> = Vec::new();
    for p in &r.processes {
        s.push_str(&format!(
            "  {:<16} {:>6.1} MB  {} warning(s), {} error(s){}\n",
            p.name,
            mb(p.peak_rss_kb),
            p.log_warnings,
            p.log_errors,
            if p.stopped_cleanly {
                ""
            } else {
                "; did not stop cleanly"
            }
        ));
        for l in &p.first_log_problems {
            let general = l
                .split_once(' ')
                .map_or(l.as_str(), |(_, rest)| rest)
                .replace(&r.vhost, "<vhost>");
            // An agency's id (the tracker's name is in its user's, as a
            // suffix of the vhost: left as it is).
            let general = if p.name.contains('.') {
                general.replace(&p.name, "<agency>")
            } else {
                general
            };
            match lines.iter_mut().find(|(g, _)| *g == general) {
                Some((_, who)) => who.push(&p.name),
                None => lines.push((general, vec![&p.name])),
            }
        }
    }
    for (line, who) in &lines {
        let who = if who.len() > 2 {
            format!("{} processes", who.len())
        } else {
            who.join(", ")
        };
        s.push_str(&format!("    ({who}) {line}\n"));
    }
    s.push_str("\ntargets (issue 7):\n");
    for t in &r.targets {
        let mark = match t.met {
            Some(true) => "met    ",
            Some(false) => "MISSED ",
            None => "-      ",
        };
        s.push_str(&format!("  {mark} {}: {}\n", t.target, t.measured));
    }
    if r.problems.is_empty() {
        s.push_str("\nEvery document delivered exactly once, every 01 back, the tracker counts them all.\n");
    } else {
        s.push_str("\nWRONG:\n");
        for p in &r.problems {
            s.push_str(&format!("  - {p}\n"));
        }
    }
    s.push_str(&format!(
        "load average at the end {}; working directory {}\n",
        la(r.load_average_end),
        r.work_dir
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).map(|x| x * 1000).collect();
        let l = Latency::of(&v);
        assert_eq!(
            (l.count, l.p50_ms, l.p99_ms, l.max_ms),
            (100, 50.0, 99.0, 100.0)
        );
        assert_eq!(Latency::of(&[]).count, 0);
        let r = Rss::of("x", &[10, 20, 30]);
        assert_eq!(
            (r.start_kb, r.middle_kb, r.end_kb, r.peak_kb),
            (10, 20, 30, 30)
        );
    }
}
