//! The summary table: documents per second on one core for parse+validate,
//! sign and verify, next to the bare crypto over the same bytes in the same
//! run (SHA-256 + Ed25519 sign; SHA-256 + Ed25519 verify), and the ratio
//! bare / docaxis — how many times the XML work multiplies the cost of the
//! crypto. Targets (issue 2), on the largest seed article: sign >= 10,000
//! and verify >= 8,000 documents/s, and both ratios <= 2.
//!
//! `cargo bench -p docaxis-dsig --bench summary`; `SUMMARY_SECS` sets the
//! measuring time per cell (default 1.5 s, taken as the median of 5 rounds).
//! The Criterion bench `docs` gives the detailed statistics.
//!
//! For profiling, `SUMMARY_ONLY=<document>/<op>` (op: parse, sign,
//! bare_sign, verify, bare_verify; e.g. `seed003/verify`) runs just that
//! cell for `SUMMARY_ITERS` iterations (default 1000) and prints its rate,
//! e.g. under `valgrind --tool=callgrind`.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{bare_sign, bare_verify, directory, inputs, now, sig_b64, signer, signing_key};
use docaxis_edxml::{parse, validate, NoDirectory, ParseLimits};
use docaxis_xml::Limits;

/// CPU time this thread has run, in nanoseconds (Linux schedstat), so the
/// rates are per core-second even when other processes compete for the
/// machine; `None` where unavailable (then wall time is used).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Operations per CPU-second of `f` (wall-clock second where the CPU clock
/// is unavailable): the median of five rounds, each running `f` for at
/// least `per_round` after a warm-up.
fn rate(per_round: Duration, mut f: impl FnMut()) -> f64 {
    let warm = Instant::now();
    while warm.elapsed() < per_round / 4 {
        f();
    }
    let mut rates: Vec<f64> = (0..5)
        .map(|_| {
            let cpu = thread_cpu_ns();
            let start = Instant::now();
            let mut n = 0u64;
            while start.elapsed() < per_round {
                f();
                n += 1;
            }
            let wall = start.elapsed().as_secs_f64();
            let secs = match (cpu, thread_cpu_ns()) {
                (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
                _ => wall,
            };
            n as f64 / secs
        })
        .collect();
    rates.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    rates[2]
}

struct Row {
    name: String,
    payload: usize,
    bytes: usize,
    parse: f64,
    sign: f64,
    bare_sign: f64,
    verify: f64,
    bare_verify: f64,
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and
    // ignored, so `cargo bench -p docaxis-dsig` runs this too.
    let secs: f64 = std::env::var("SUMMARY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.5);
    let per_round = Duration::from_secs_f64(secs / 5.0);
    let signer = signer();
    let key = signing_key();
    let vk = key.verifying_key();
    let dir = directory();
    let now = now();
    let limits = ParseLimits::default();

    if let Ok(only) = std::env::var("SUMMARY_ONLY") {
        let (doc, op) = only.split_once('/').expect("SUMMARY_ONLY=<document>/<op>");
        let iters: u64 = std::env::var("SUMMARY_ITERS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1000);
        let input = common::input(doc);
        let sig = bare_sign(&key, &input.signed);
        let start = Instant::now();
        for _ in 0..iters {
            match op {
                "parse" => {
                    let p = parse(black_box(&input.signed), &limits).expect("parses");
                    assert!(validate(&p.message, &NoDirectory).is_empty());
                    black_box(p);
                }
                "sign" => {
                    black_box(
                        signer
                            .sign(black_box(&input.unsigned), &Limits::default())
                            .expect("signs"),
                    );
                }
                "bare_sign" => {
                    black_box(bare_sign(&key, black_box(&input.unsigned)));
                }
                "verify" => {
                    black_box(
                        docaxis_dsig::verify(black_box(&input.signed), &dir, now, &limits)
                            .expect("verifies"),
                    );
                }
                "bare_verify" => assert!(bare_verify(&vk, black_box(&input.signed), &sig)),
                other => panic!("unknown op {other}"),
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{doc}/{op}: {iters} iterations in {secs:.3} s = {:.0} docs/s",
            iters as f64 / secs
        );
        return;
    }

    let mut rows = Vec::new();
    for input in inputs() {
        eprintln!("measuring {} ...", input.name);
        let signed = &input.signed;
        let unsigned = &input.unsigned;
        let parse_rate = rate(per_round, || {
            let p = parse(black_box(signed), &limits).expect("parses");
            assert!(validate(&p.message, &NoDirectory).is_empty());
            black_box(p);
        });
        let sign_rate = rate(per_round, || {
            black_box(
                signer
                    .sign(black_box(unsigned), &Limits::default())
                    .expect("signs"),
            );
        });
        let bare_sign_rate = rate(per_round, || {
            black_box(bare_sign(&key, black_box(unsigned)));
        });
        let verify_rate = rate(per_round, || {
            black_box(
                docaxis_dsig::verify(black_box(signed), &dir, now, &limits).expect("verifies"),
            );
        });
        let sig = bare_sign(&key, signed);
        black_box(sig_b64(&sig));
        let bare_verify_rate = rate(per_round, || {
            assert!(bare_verify(&vk, black_box(signed), &sig));
        });
        rows.push(Row {
            name: input.name,
            payload: input.payload,
            bytes: signed.len(),
            parse: parse_rate,
            sign: sign_rate,
            bare_sign: bare_sign_rate,
            verify: verify_rate,
            bare_verify: bare_verify_rate,
        });
    }

    println!();
    let clock = if thread_cpu_ns().is_some() {
        "per CPU-second of the benchmark thread"
    } else {
        "per wall-clock second"
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "docaxis-dsig throughput, documents/s on one core, {clock} (median of 5 rounds, {secs} s per cell)"
    );
    println!("load average at the end of the run: {}", load.trim());
    println!("ratio = bare crypto docs/s / docaxis docs/s (target <= 2.00)");
    println!();
    println!(
        "| document  | payload B | signed B | parse+validate/s | sign/s | bare sign/s | sign ratio | verify/s | bare verify/s | verify ratio |"
    );
    println!(
        "|-----------|----------:|---------:|-----------------:|-------:|------------:|-----------:|---------:|--------------:|-------------:|"
    );
    for r in &rows {
        println!(
            "| {:<9} | {:>9} | {:>8} | {:>16.0} | {:>6.0} | {:>11.0} | {:>10.2} | {:>8.0} | {:>13.0} | {:>12.2} |",
            r.name,
            r.payload,
            r.bytes,
            r.parse,
            r.sign,
            r.bare_sign,
            r.bare_sign / r.sign,
            r.verify,
            r.bare_verify,
            r.bare_verify / r.verify,
        );
    }
    let largest = rows
        .iter()
        .filter(|r| r.name.starts_with("seed"))
        .max_by_key(|r| r.payload)
        .expect("seed rows");
    let check = |ok: bool| if ok { "met" } else { "MISSED" };
    println!();
    println!("targets on the largest seed article ({}):", largest.name);
    println!(
        "  sign   >= 10000 docs/s : {:>8.0}  {}",
        largest.sign,
        check(largest.sign >= 10_000.0)
    );
    println!(
        "  verify >=  8000 docs/s : {:>8.0}  {}",
        largest.verify,
        check(largest.verify >= 8_000.0)
    );
    println!(
        "  sign ratio   <= 2      : {:>8.2}  {}",
        largest.bare_sign / largest.sign,
        check(largest.bare_sign / largest.sign <= 2.0)
    );
    println!(
        "  verify ratio <= 2      : {:>8.2}  {}",
        largest.bare_verify / largest.verify,
        check(largest.bare_verify / largest.verify <= 2.0)
    );
}
