//! Tracker bench: ingest speed and the dashboard's query times over one
//! month of national volume.
//!
//! ```sh
//! cargo bench -p docaxis-tracker --bench tracker
//! TRACKER_BENCH_DELIVERIES=100000 cargo bench -p docaxis-tracker --bench tracker   # smaller
//! ```
//!
//! 1. one month (≈620,000 deliveries, ≈2.5 million events) built directly
//!    (no XML), ingested on one thread in transactions of 1,000 into a
//!    durable (fsync per commit) database: events/s;
//! 2. the same with XML: signed edXML documents and statuses decoded
//!    (parsed) and ingested: events/s including the parse;
//! 3. each query the dashboard makes, over that month (compute + JSON),
//!    plus a document's history, `/metrics`, and the restart replay.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use docaxis_tracker::decode::{decode, decode_full};
use docaxis_tracker::extract::extract_quick_xml;
use docaxis_tracker::state::{Filter, Granularity};
use docaxis_tracker::{synth, Thresholds, Tracker};

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// CPU time this thread has used (the scheduler's account, in ns): on a
/// machine shared with other work, wall-clock time also counts the time
/// the thread waited for a core; this does not.
fn cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

/// Wall-clock and CPU time of `f`.
fn measure<T>(f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let (t, c) = (Instant::now(), cpu());
    let v = f();
    (v, t.elapsed(), cpu().saturating_sub(c))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Median wall-clock time, median CPU time and max wall-clock time of `n`
/// runs of `f`.
fn time<T>(n: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, Duration) {
    let mut wall = Vec::new();
    let mut cpus = Vec::new();
    for _ in 0..n {
        let ((), w, c) = measure(|| {
            std::hint::black_box(f());
        });
        wall.push(w);
        cpus.push(c);
    }
    wall.sort();
    cpus.sort();
    (wall[n / 2], cpus[n / 2], wall[n - 1])
}

fn main() {
    let deliveries: u64 = std::env::var("TRACKER_BENCH_DELIVERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(620_000);
    let dir = tempfile::tempdir().unwrap();
    println!(
        "docaxis-tracker bench: one month, {deliveries} deliveries (cores available: {})",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // 1. Ingest without XML.
    let t = Instant::now();
    let records = synth::traffic(2022, deliveries, synth::JULY_2022, 31);
    let gen = t.elapsed();
    let n = records.len();
    println!(
        "generated {n} events in {:.2} s (not timed below)",
        secs(gen)
    );
    let db = dir.path().join("month.db");
    let tracker = Tracker::open(&db, true, Thresholds::default()).unwrap();
    let ((), ingest, ingest_cpu) = measure(|| {
        for chunk in records.chunks(1000) {
            tracker.ingest(chunk).unwrap();
        }
    });
    println!(
        "ingest (events built directly, 1,000 per durable transaction, one thread): {n} events in {:.2} s = {:.0} events/s (CPU {:.2} s = {:.0} events per CPU-second)",
        secs(ingest),
        n as f64 / secs(ingest),
        secs(ingest_cpu),
        n as f64 / secs(ingest_cpu)
    );
    // Redelivery of everything: recognised, nothing counted twice.
    let t = Instant::now();
    let mut dup = 0;
    for chunk in records[..200_000.min(n)].chunks(1000) {
        dup += tracker.ingest(chunk).unwrap().duplicates;
    }
    let redeliver = t.elapsed();
    println!(
        "redelivery of {dup} events (all recognised as duplicates): {:.0} events/s",
        dup as f64 / secs(redeliver)
    );
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    println!(
        "database: {:.0} MB ({:.0} bytes/event)",
        size as f64 / 1e6,
        size as f64 / n as f64
    );
    drop(records);

    // 2. Ingest with XML parsing.
    let docs = 2_000u32;
    let mut envs = Vec::new();
    let from = [common::A, common::B, common::C, common::D];
    for i in 0..docs {
        let s = from[(i % 4) as usize];
        let to: Vec<&str> = from.iter().copied().filter(|x| *x != s).collect();
        envs.push(common::document(
            s,
            &to,
            10_000 + i,
            "2022/07/05 09:00:00",
            (i % 5) as u8,
        ));
        for r in &to {
            envs.push(common::status(
                r,
                s,
                "2022/07/05",
                10_000 + i,
                1,
                "2022/07/05 09:03:00",
                "",
                None,
            ));
        }
    }
    let copies = common::copies(&envs);
    let bytes: usize = envs.iter().map(|e| e.payload().len()).sum();
    let db2 = dir.path().join("xml.db");
    let tx = Tracker::open(&db2, true, Thresholds::default()).unwrap();
    let (parsed, xml, xml_cpu) = measure(|| {
        let mut parsed = 0;
        for chunk in copies.chunks(1000) {
            let recs: Vec<_> = chunk
                .iter()
                .map(|(e, r)| decode(e, r, 0).unwrap())
                .collect();
            parsed += recs.len();
            tx.ingest(&recs).unwrap();
        }
        parsed
    });
    println!(
        "ingest with XML decoding (signed edXML, {:.1} KB average, 1,000 per durable transaction, one thread): {parsed} events in {:.2} s = {:.0} events/s (CPU {:.2} s = {:.0} events per CPU-second)",
        bytes as f64 / envs.len() as f64 / 1024.0,
        secs(xml),
        parsed as f64 / secs(xml),
        secs(xml_cpu),
        parsed as f64 / secs(xml_cpu)
    );
    type Decoder = Box<dyn Fn(&docaxis_axis::Envelope, &str)>;
    let decoders: [(&str, Decoder); 3] = [
        (
            "of which decoding alone (header fields, crate::extract)",
            Box::new(|e, r| drop(std::hint::black_box(decode(e, r, 0).unwrap()))),
        ),
        (
            "for comparison, the extractor's quick-xml reader alone",
            Box::new(|e, _| {
                drop(std::hint::black_box(
                    extract_quick_xml(e.payload()).unwrap(),
                ))
            }),
        ),
        (
            "for comparison, decoding with the full edXML parser",
            Box::new(|e, r| drop(std::hint::black_box(decode_full(e, r, 0).unwrap()))),
        ),
    ];
    for (what, f) in decoders {
        let ((), w, c) = measure(|| {
            for (e, r) in copies.iter().take(5000) {
                f(e, r);
            }
        });
        println!(
            "  {what}: {:.0} events/s ({:.0} per CPU-second, {:.1} µs CPU each)",
            5000.0 / secs(w),
            5000.0 / secs(c),
            secs(c) * 1e6 / 5000.0
        );
    }

    // 3. Queries over the month.
    let month = Filter::default();
    let agency = Filter {
        agency: Some("000.00.00.G22".into()),
        ..Filter::default()
    };
    let week = Filter {
        from: Some(synth::JULY_2022 + 7 * 86400),
        to: Some(synth::JULY_2022 + 14 * 86400),
        ..Filter::default()
    };
    let now = synth::JULY_2022 + 32 * 86400;
    let th = Thresholds::default();
    let c = tracker.state().counters();
    println!(
        "queries over {} events, {} documents, {} deliveries (compute + JSON; of 5 runs: median wall-clock, median CPU, max wall-clock):",
        c.events, c.documents, c.deliveries
    );
    let j = |v: &dyn erased::Ser| v.size();
    let mut worst = Duration::ZERO;
    let mut report = |name: &str, (med, cpu, max): (Duration, Duration, Duration)| {
        worst = worst.max(cpu);
        println!(
            "  {name:<44} {:>9} {:>9} CPU {:>9} max",
            ms(med),
            ms(cpu),
            ms(max)
        );
    };
    let s = || tracker.state();
    report(
        "totals (national, + overdue count)",
        time(5, || {
            let st = s();
            j(&st.figures(&month)) + st.overdue(now, &th, &month, 0).1 as usize
        }),
    );
    report(
        "delivery rate per day",
        time(5, || j(&s().series(&month, Granularity::Day))),
    );
    report(
        "delivery rate per hour",
        time(5, || j(&s().series(&month, Granularity::Hour))),
    );
    report(
        "heat map (12 busiest agencies)",
        time(5, || j(&s().heatmap(&month, 12))),
    );
    report(
        "slowest agencies (p95 of time to arrival)",
        time(5, || j(&s().slowest(&month, 20, 10))),
    );
    report(
        "overdue list (50 first)",
        time(5, || j(&s().overdue(now, &th, &month, 50).0)),
    );
    report(
        "every agency (sender and recipient figures)",
        time(5, || j(&s().agencies(&month))),
    );
    report("every pair", time(5, || j(&s().pairs(&month))));
    report(
        "pairs, API default (1,000 busiest)",
        time(5, || j(&s().top_pairs(&month, 1000))),
    );
    report(
        "one agency's row (/agencies/{id})",
        time(5, || j(&s().agencies(&agency))),
    );
    report(
        "one agency: series per day",
        time(5, || j(&s().series(&agency, Granularity::Day))),
    );
    report(
        "one agency: heat map, slowest, overdue",
        time(5, || {
            let st = s();
            j(&st.heatmap(&agency, 12))
                + j(&st.slowest(&agency, 20, 10))
                + j(&st.overdue(now, &th, &agency, 50).0)
        }),
    );
    report(
        "one agency, the month",
        time(5, || j(&s().figures(&agency))),
    );
    report("totals for one week", time(5, || j(&s().figures(&week))));
    let some_doc = tracker
        .state()
        .search("000.00.00.G22,2022/07/15", 1)
        .pop()
        .unwrap_or_default();
    report(
        "search + one document's history (SQL)",
        time(5, || {
            let ids = s().search("000.00.00.G22,2022/07/15", 20);
            let v = s().document(&some_doc, now, &th);
            ids.len() + j(&v) + tracker.history(&some_doc).unwrap().len()
        }),
    );
    report(
        "/metrics (all agencies, histograms)",
        time(5, || docaxis_tracker::http::render_metrics(&tracker).len()),
    );
    // 4. The XML copies again, into the month's database (as the tracker
    // runs at the end of a month); after the queries, which it would change.
    // Envelopes as the tap delivers them: the message id (the payload's
    // SHA-256) not computed yet.
    let fresh: Vec<(docaxis_axis::Envelope, &str)> = copies
        .iter()
        .map(|(e, r)| {
            let env = docaxis_axis::Envelope::new(
                e.kind(),
                e.sender(),
                e.recipients().to_vec(),
                e.key_id(),
                e.payload().clone(),
            )
            .unwrap();
            (env, r.as_str())
        })
        .collect();
    let (parsed, xml, xml_cpu) = measure(|| {
        let mut parsed = 0;
        for chunk in fresh.chunks(1000) {
            let recs: Vec<_> = chunk
                .iter()
                .map(|(e, r)| decode(e, r, 0).unwrap())
                .collect();
            parsed += recs.len();
            tracker.ingest(&recs).unwrap();
        }
        parsed
    });
    println!(
        "ingest with XML decoding into the month's database ({} events already): {parsed} events in {:.2} s = {:.0} events/s (CPU {:.2} s = {:.0} events per CPU-second)",
        c.events,
        secs(xml),
        parsed as f64 / secs(xml),
        secs(xml_cpu),
        parsed as f64 / secs(xml_cpu)
    );
    drop(tracker);
    let (reopened, w, c) = measure(|| Tracker::open(&db, true, Thresholds::default()).unwrap());
    println!(
        "restart: replaying {} events took {:.2} s ({:.2} s CPU)",
        reopened.state().counters().events,
        secs(w),
        secs(c)
    );
    println!("slowest query (median CPU): {}", ms(worst));
}

mod erased {
    /// JSON size of a serializable value (so serialization is timed too).
    pub trait Ser {
        fn size(&self) -> usize;
    }
    impl<T: serde::Serialize> Ser for T {
        fn size(&self) -> usize {
            serde_json::to_vec(self).map(|v| v.len()).unwrap_or(0)
        }
    }
}
