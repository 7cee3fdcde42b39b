//! The summary table: documents per second on one core for parse+validate,
//! sign and verify, next to the bare crypto over the same bytes in the same
//! run (SHA-256 + Ed25519 sign; SHA-256 + Ed25519 verify), and the ratio
//! bare / docaxis — how many times the XML work multiplies the cost of the
//! crypto. Targets (issue 2), on the largest seed article: sign >= 10,000
//! and verify >= 8,000 documents/s, and both ratios <= 2.
//!
//! `cargo bench -p docaxis-dsig --bench summary`; `SUMMARY_SECS` sets the
//! measuring time per cell (default 1.5 s, split into 7 rounds). The five
//! operations of a document are measured interleaved, round by round, and
//! each ratio is the median of the per-round ratios, so load from other
//! processes on the machine moves both sides of a ratio alike.
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

/// Operations per CPU-second (wall-clock second where the CPU clock is
/// unavailable) of one run of `f` lasting at least `per_round`.
fn round_rate(per_round: Duration, f: &mut dyn FnMut()) -> f64 {
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
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    v[v.len() / 2]
}

/// Measures the operations *interleaved*: each of `ROUNDS` rounds runs
/// every operation once, in turn, for `per_round` (after one warm-up
/// round), so a change in the machine's load hits all of them alike.
/// Returns each operation's median rate and the rounds' rates.
fn rates(per_round: Duration, ops: &mut [&mut dyn FnMut()]) -> Vec<Vec<f64>> {
    for f in ops.iter_mut() {
        round_rate(per_round / 4, *f);
    }
    let mut out = vec![Vec::with_capacity(ROUNDS); ops.len()];
    for _ in 0..ROUNDS {
        for (f, rates) in ops.iter_mut().zip(out.iter_mut()) {
            rates.push(round_rate(per_round, *f));
        }
    }
    out
}

/// Rounds per cell; medians are taken over these.
const ROUNDS: usize = 7;

/// The median over rounds of bare / docaxis, each round's pair measured
/// back to back.
fn ratio(bare: &[f64], docaxis: &[f64]) -> f64 {
    median(bare.iter().zip(docaxis).map(|(b, d)| b / d).collect())
}

struct Row {
    name: String,
    payload: usize,
    bytes: usize,
    parse: f64,
    sign: f64,
    bare_sign: f64,
    sign_ratio: f64,
    verify: f64,
    bare_verify: f64,
    verify_ratio: f64,
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and
    // ignored, so `cargo bench -p docaxis-dsig` runs this too.
    let secs: f64 = std::env::var("SUMMARY_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.5);
    let per_round = Duration::from_secs_f64(secs / ROUNDS as f64);
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
        let sig = bare_sign(&key, signed);
        black_box(sig_b64(&sig));
        let mut parse_op = || {
            let p = parse(black_box(signed), &limits).expect("parses");
            assert!(validate(&p.message, &NoDirectory).is_empty());
            black_box(p);
        };
        let mut sign_op = || {
            black_box(
                signer
                    .sign(black_box(unsigned), &Limits::default())
                    .expect("signs"),
            );
        };
        let mut bare_sign_op = || {
            black_box(bare_sign(&key, black_box(unsigned)));
        };
        let mut verify_op = || {
            black_box(
                docaxis_dsig::verify(black_box(signed), &dir, now, &limits).expect("verifies"),
            );
        };
        let mut bare_verify_op = || {
            assert!(bare_verify(&vk, black_box(signed), &sig));
        };
        let r = rates(
            per_round,
            &mut [
                &mut parse_op,
                &mut sign_op,
                &mut bare_sign_op,
                &mut verify_op,
                &mut bare_verify_op,
            ],
        );
        rows.push(Row {
            name: input.name,
            payload: input.payload,
            bytes: signed.len(),
            parse: median(r[0].clone()),
            sign: median(r[1].clone()),
            bare_sign: median(r[2].clone()),
            sign_ratio: ratio(&r[2], &r[1]),
            verify: median(r[3].clone()),
            bare_verify: median(r[4].clone()),
            verify_ratio: ratio(&r[4], &r[3]),
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
        "docaxis-dsig throughput, documents/s on one core, {clock} (median of {ROUNDS} interleaved rounds, {secs} s per cell)"
    );
    println!("load average at the end of the run: {}", load.trim());
    println!("ratio = bare crypto docs/s / docaxis docs/s, median of the rounds' ratios (target <= 2.00)");
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
            r.sign_ratio,
            r.verify,
            r.bare_verify,
            r.verify_ratio,
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
        largest.sign_ratio,
        check(largest.sign_ratio <= 2.0)
    );
    println!(
        "  verify ratio <= 2      : {:>8.2}  {}",
        largest.verify_ratio,
        check(largest.verify_ratio <= 2.0)
    );
}
