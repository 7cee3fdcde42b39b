//! The HTTP API, `/metrics`, and the dashboard in a real headless browser
//! (Debian's chromium): the page loads against a tracker with data and
//! shows the figures the API returns. Fails (does not skip) without
//! chromium. `DOCAXIS_UPDATE_SCREENSHOT=1` also writes docs/dashboard.png.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use docaxis_tracker::decode::decode;
use docaxis_tracker::{synth, Thresholds, Tracker};
use serde_json::Value;

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8(buf).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (code, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    loop {
        let (len, rest) = s.split_once("\r\n").unwrap();
        let n = usize::from_str_radix(len.trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
}

fn json(addr: SocketAddr, path: &str) -> Value {
    let (code, body) = get(addr, path);
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Start of the Vietnam day 14 days ago, and its `YYYY-MM-DD`.
fn two_weeks_ago() -> (i64, String) {
    let now = docaxis_tracker::store::now();
    let day = docaxis_tracker::state::Granularity::Day.bucket(now) - 14 * 86400;
    (
        day,
        docaxis_tracker::report::local_time(day, docaxis_tracker::state::Granularity::Day),
    )
}

/// A tracker with the last two weeks of synthetic traffic plus the known
/// history (of July 2022).
fn seeded(dir: &Path) -> Tracker {
    let t = Tracker::open(&dir.join("tracker.db"), false, Thresholds::default()).unwrap();
    t.ingest(&synth::traffic(7, 6000, two_weeks_ago().0, 14))
        .unwrap();
    let (p1, p2) = history();
    let recs: Vec<_> = copies(&p1)
        .iter()
        .chain(copies(&p2).iter())
        .map(|(e, r)| decode(e, r, 1).unwrap())
        .collect();
    t.ingest(&recs).unwrap();
    t
}

fn serve(t: Tracker) -> (tokio::runtime::Runtime, SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(docaxis_tracker::http::serve(
        listener,
        t,
        std::future::pending(),
    ));
    (rt, addr)
}

#[test]
fn api_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let t = seeded(dir.path());
    let (_rt, addr) = serve(t.clone());

    let totals = json(addr, "/api/v1/totals");
    let f = &totals["figures"];
    let want = t.state().figures(&Default::default());
    assert_eq!(f["expected"], want.expected);
    assert_eq!(f["arrived"], want.arrived);
    assert!(want.expected >= 6000);

    // The known history alone, by period: 2022-07-01..02 holds synthetic
    // traffic too, so filter on a pair only the history has.
    let ab = json(
        addr,
        &format!("/api/v1/totals?sender={A}&recipient={B}&from=2022-07-01&to=2022-07-01"),
    );
    let synth_ab = t.state().figures(&docaxis_tracker::Filter {
        sender: Some(A.into()),
        recipient: Some(B.into()),
        from: Some(unix("2022/07/01 00:00:00")),
        to: Some(unix("2022/07/02 00:00:00")),
        agency: None,
    });
    assert_eq!(ab["figures"]["expected"], synth_ab.expected);

    let doc = json(
        addr,
        &format!(
            "/api/v1/document?id={}",
            doc_id(A, "2022/07/01", 1)
                .replace('/', "%2F")
                .replace(',', "%2C")
        ),
    );
    assert_eq!(doc["document"]["deliveries"].as_array().unwrap().len(), 3);
    assert_eq!(doc["events"].as_array().unwrap().len(), 10);
    let (code, _) = get(addr, "/api/v1/document?id=nope");
    assert_eq!(code, 404);
    let (code, body) = get(addr, "/api/v1/totals?from=yesterday");
    assert_eq!(code, 400, "{body}");

    let series = json(
        addr,
        &format!("/api/v1/series?granularity=day&from={}", two_weeks_ago().1),
    );
    assert_eq!(series.as_array().unwrap().len(), 14);
    let sum: u64 = series
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["figures"]["expected"].as_u64().unwrap())
        .sum();
    assert_eq!(
        sum,
        want.expected - 9,
        "all but the 9 deliveries of the 2022 history"
    );
    let agency = json(addr, &format!("/api/v1/agencies/{A}"));
    assert_eq!(agency["agency"], A);
    let overdue = json(addr, "/api/v1/overdue?limit=5");
    assert!(overdue["total"].as_u64().unwrap() > 0);
    assert_eq!(overdue["items"].as_array().unwrap().len(), 5);
    let heat = json(addr, "/api/v1/heatmap?limit=10");
    assert_eq!(heat["agencies"].as_array().unwrap().len(), 10);
    let head = json(addr, "/api/v1/audit/head");
    assert_eq!(head["seq"], t.head().seq);

    let (code, metrics) = get(addr, "/metrics");
    assert_eq!(code, 200);
    let expected_a: u64 = t
        .state()
        .agencies(&Default::default())
        .iter()
        .find(|x| x.agency == A)
        .unwrap()
        .as_recipient
        .expected;
    assert!(
        metrics.contains(&format!(
            "docaxis_tracker_deliveries_expected_total{{agency=\"{A}\"}} {expected_a}\n"
        )),
        "{}",
        &metrics[..2000.min(metrics.len())]
    );
    assert!(metrics.contains(&format!(
        "docaxis_tracker_time_to_arrival_seconds_bucket{{agency=\"{A}\",le=\"+Inf\"}}"
    )));
    assert!(metrics.contains("# TYPE docaxis_tracker_time_to_arrival_seconds histogram"));
}

fn chromium() -> PathBuf {
    for c in [
        std::env::var("CHROMIUM").unwrap_or_default().as_str(),
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
    ] {
        if !c.is_empty() && Path::new(c).exists() {
            return PathBuf::from(c);
        }
    }
    panic!(
        "chromium is needed for the dashboard test and was not found.\n\
         Install it: apt-get update && apt-get install -y chromium   (or set CHROMIUM=/path/to/chromium)"
    );
}

/// Run headless chromium with `args` + `url`; stdout.
fn run_chromium(profile: &Path, args: &[&str], url: &str) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--virtual-time-budget=15000",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

#[test]
fn dashboard_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let t = seeded(dir.path());
    let (_rt, addr) = serve(t.clone());
    // The page opened on the last two weeks: it passes `from` to the API.
    let from = two_weeks_ago().1;
    let url = format!("http://{addr}/?from={from}");

    // The page itself.
    let (code, html) = get(addr, "/");
    assert_eq!(code, 200);
    assert!(html.contains("docaxis tracker"));

    // What the API says...
    let totals = json(addr, &format!("/api/v1/totals?from={from}"));
    let f = &totals["figures"];
    assert_eq!(
        f["expected"],
        t.state().figures(&Default::default()).expected - 9
    );
    let overdue = json(addr, &format!("/api/v1/overdue?limit=50&from={from}"));
    let slowest = json(
        addr,
        &format!("/api/v1/slowest?limit=10&min=20&from={from}"),
    );
    let heat = json(addr, &format!("/api/v1/heatmap?limit=12&from={from}"));

    // ...the page shows.
    let dom = run_chromium(&dir.path().join("profile-dom"), &["--dump-dom"], &url);
    assert!(
        dom.contains("data-loaded=\"1\""),
        "the page did not finish loading:\n{}",
        &dom[..dom.len().min(3000)]
    );
    for (id, v) in [
        ("t-documents", f["documents"].to_string()),
        ("t-expected", f["expected"].to_string()),
        ("t-arrived", f["arrived"].to_string()),
        ("t-accepted", f["accepted"].to_string()),
        ("t-refused", f["refused"].to_string()),
        ("t-recalled", f["recalled"].to_string()),
        ("t-overdue", totals["overdue"].to_string()),
        (
            "t-rate",
            format!("{:.4}", f["delivery_rate"].as_f64().unwrap()),
        ),
        ("t-arrival-p50", f["time_to_arrival"]["p50"].to_string()),
        ("t-arrival-p95", f["time_to_arrival"]["p95"].to_string()),
    ] {
        assert!(
            dom.contains(&format!("id=\"{id}\" data-value=\"{v}\"")),
            "{id} should show {v}"
        );
    }
    // Visible text, formatted: e.g. "4,123" and "97.3%".
    let expected = f["expected"].as_u64().unwrap();
    let grouped = format!("{},{:03}", expected / 1000, expected % 1000);
    assert!(
        dom.contains(&grouped),
        "expected deliveries shown as {grouped}"
    );
    let rate = format!("{:.1}%", f["delivery_rate"].as_f64().unwrap() * 100.0);
    assert!(dom.contains(&rate), "delivery rate shown as {rate}");
    // The overdue list, the slowest agency, a heat-map cell.
    let first_overdue = overdue["items"][0]["document_id"].as_str().unwrap();
    assert!(
        dom.contains(first_overdue),
        "overdue {first_overdue} listed"
    );
    let slowest_agency = slowest[0]["agency"].as_str().unwrap();
    assert!(
        dom.contains(&format!("<td>{slowest_agency}</td>")),
        "slowest {slowest_agency} listed"
    );
    let cell = &heat["cells"][0];
    assert!(
        dom.contains(&format!(
            "data-sender=\"{}\" data-recipient=\"{}\" data-expected=\"{}\"",
            cell["sender"].as_str().unwrap(),
            cell["recipient"].as_str().unwrap(),
            cell["expected"]
        )),
        "heat map cell {cell}"
    );

    // Search by DocumentId (the page opens ?doc=…).
    let id = doc_id(A, "2022/07/01", 1);
    let dom = run_chromium(
        &dir.path().join("profile-doc"),
        &["--dump-dom"],
        &format!("{url}&doc={}", id.replace('/', "%2F").replace(',', "%2C")),
    );
    assert!(
        dom.contains(&format!("id=\"doc-found\" data-id=\"{id}\"")),
        "document found"
    );
    assert!(dom.contains("Sai thẩm quyền"), "its refusal reason shown");

    // The screenshot.
    let png = dir.path().join("dashboard.png");
    run_chromium(
        &dir.path().join("profile-shot"),
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1400,1750",
        ],
        &format!("{url}&doc={}", id.replace('/', "%2F").replace(',', "%2C")),
    );
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "a real screenshot"
    );
    if std::env::var_os("DOCAXIS_UPDATE_SCREENSHOT").is_some() {
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/dashboard.png");
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        std::fs::write(&out, &bytes).unwrap();
        eprintln!("wrote {}", out.display());
    }
}
