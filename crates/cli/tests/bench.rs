//! `docaxis bench`, run as a user runs it, small: three agencies, thirty
//! documents to two recipients each, over the real RabbitMQ. Every
//! document must arrive exactly once with its 01 back and the tracker's
//! count, and every figure the bench promises must be there.

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_docaxis");

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn the_bench_delivers_every_document_once_and_reports_what_it_cost() {
    let url = std::env::var("DOCAXIS_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672".into());
    let out = Command::new(BIN)
        .args([
            "bench",
            "--agencies",
            "3",
            "--docs",
            "30",
            "--recipients",
            "2",
            "--baseline-count",
            "300",
            "--format",
            "json",
            "--amqp",
            &url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bench exited {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("one JSON report on stdout");
    assert_eq!(r["problems"], Value::Array(vec![]), "{r:#}");
    let p = &r["passes"][0];
    let (docs, deliveries) = (30u64, 60u64);
    assert_eq!(p["documents"], docs, "{p:#}");
    assert_eq!(p["deliveries"], deliveries);

    // Exactly once, with the 01 back and the tracker's count.
    let c = &p["check"];
    assert_eq!(c["inbox_files"], deliveries, "{c:#}");
    assert_eq!(c["statuses_01"], deliveries);
    assert_eq!(c["tracker_documents"], docs);
    assert_eq!(c["tracker_deliveries_expected"], deliveries);
    assert_eq!(c["tracker_arrived"], deliveries);
    assert_eq!(c["tracker_counted_all"], true);

    // Rates and latencies: every delivery timed, in order.
    assert!(f(&p["documents_per_s"]) > 0.0);
    assert!(f(&p["deliveries_per_s"]) > f(&p["documents_per_s"]));
    for l in ["latency_to_inbox", "latency_to_01"] {
        let l = &p[l];
        assert_eq!(l["count"], deliveries, "{l}");
        assert!(f(&l["p50_ms"]) > 0.0, "{l}");
        assert!(f(&l["p99_ms"]) >= f(&l["p50_ms"]), "{l}");
        assert!(f(&l["max_ms"]) >= f(&l["p99_ms"]), "{l}");
    }
    assert_eq!(p["latency_document_answered"]["count"], docs);
    // The 01 comes after the inbox file it answers.
    assert!(f(&p["latency_to_01"]["p50_ms"]) >= f(&p["latency_to_inbox"]["p50_ms"]));

    // CPU and memory of every process: the tracker and three adapters.
    let cpu = p["cpu"].as_array().unwrap();
    assert_eq!(cpu.len(), 4, "{cpu:?}");
    assert_eq!(cpu[0]["name"], "tracker");
    for c in cpu.iter().skip(1) {
        assert!(f(&c["cpu_s"]) > 0.0, "an adapter that worked used CPU: {c}");
    }
    assert!(f(&p["docaxis_cpu_s_per_1000_docs"]) > 0.0);
    assert!(f(&p["broker_cpu_s_per_1000_docs"]) > 0.0, "{p:#}");
    for m in p["rss"].as_array().unwrap() {
        assert!(
            f(&m["start_kb"]) > 0.0 && f(&m["peak_kb"]) >= f(&m["end_kb"]),
            "{m}"
        );
    }
    for proc in r["processes"].as_array().unwrap() {
        assert!(f(&proc["peak_rss_kb"]) > 0.0, "{proc}");
        assert_eq!(proc["stopped_cleanly"], true, "{proc}");
    }

    // The broker's counters: per document, 2 copies to recipients and 2
    // statuses published; each also copied to the tracker's tap: 8 stored.
    // (A retried publish may add a few; nothing may be missing.)
    let b = &p["broker"];
    assert!(f(&b["enqueued_documents"]) >= deliveries as f64, "{b}");
    assert!(f(&b["enqueued_statuses"]) >= deliveries as f64, "{b}");
    assert!(f(&b["enqueued_tap"]) >= 2.0 * deliveries as f64, "{b}");
    assert_eq!(b["enqueued_other"], 0, "no dead letters: {b}");
    let per_doc = f(&p["broker_messages_per_document"]);
    assert!(
        (8.0..8.8).contains(&per_doc),
        "{per_doc} messages per document: {b}"
    );
    assert!(
        (4.0..4.4).contains(&f(&p["broker_published_per_document"])),
        "{b}"
    );
    assert!(f(&p["broker_delivered_per_document"]) >= 8.0, "{b}");

    // The baseline, and the ratio in the same run.
    let base = &r["baseline"];
    assert_eq!(base["messages"], 300);
    assert!(f(&base["messages_per_s"]) > 0.0);
    let ratio = f(&p["ratio_to_bare"]);
    let expect = f(&p["documents_per_s"]) / (f(&base["messages_per_s"]) / per_doc);
    assert!(
        (ratio - expect).abs() < 1e-9 * expect.max(1.0),
        "{ratio} vs {expect}"
    );

    // Every target is reported, measured or not.
    assert_eq!(r["targets"].as_array().unwrap().len(), 6);
    assert!(r["load_average_start"][0].is_number());
}
