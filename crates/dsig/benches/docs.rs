//! Criterion benchmarks: documents per second on one core for
//! parse+validate, sign and verify, on the five seed articles and a document
//! with a 1 MB attachment — and, in the same run, the bare crypto over the
//! same bytes (SHA-256 + Ed25519 sign, SHA-256 + Ed25519 verify).
//!
//! `cargo bench -p docaxis-dsig --bench docs`; the ratio table is printed
//! by `cargo bench -p docaxis-dsig --bench summary`.

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{bare_sign, bare_verify, directory, inputs, now, signer, signing_key};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use docaxis_edxml::{parse, validate, NoDirectory, ParseLimits};
use docaxis_xml::Limits;

fn documents(c: &mut Criterion) {
    let inputs = inputs();
    let signer = signer();
    let key = signing_key();
    let vk = key.verifying_key();
    let dir = directory();
    let now = now();
    let limits = ParseLimits::default();

    for op in ["parse_validate", "sign", "verify"] {
        let mut g = c.benchmark_group(op);
        g.throughput(Throughput::Elements(1));
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(2));
        for input in &inputs {
            if input.signed.len() > 100_000 {
                g.sample_size(20);
            } else {
                g.sample_size(50);
            }
            let id = BenchmarkId::from_parameter(&input.name);
            match op {
                "parse_validate" => g.bench_with_input(id, &input.signed, |b, bytes| {
                    b.iter(|| {
                        let p = parse(black_box(bytes), &limits).expect("parses");
                        let errors = validate(&p.message, &NoDirectory);
                        assert!(errors.is_empty());
                        p
                    })
                }),
                "sign" => g.bench_with_input(id, &input.unsigned, |b, bytes| {
                    b.iter(|| {
                        signer
                            .sign(black_box(bytes), &Limits::default())
                            .expect("signs")
                    })
                }),
                _ => g.bench_with_input(id, &input.signed, |b, bytes| {
                    b.iter(|| {
                        docaxis_dsig::verify(black_box(bytes), &dir, now, &limits)
                            .expect("verifies")
                    })
                }),
            };
        }
        g.finish();
    }

    let mut g = c.benchmark_group("bare_sign");
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for input in &inputs {
        g.bench_with_input(
            BenchmarkId::from_parameter(&input.name),
            &input.unsigned,
            |b, bytes| b.iter(|| bare_sign(&key, black_box(bytes))),
        );
    }
    g.finish();

    let mut g = c.benchmark_group("bare_verify");
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for input in &inputs {
        let sig = bare_sign(&key, &input.signed);
        g.bench_with_input(
            BenchmarkId::from_parameter(&input.name),
            &input.signed,
            |b, bytes| b.iter(|| assert!(bare_verify(&vk, black_box(bytes), &sig))),
        );
    }
    g.finish();
}

criterion_group!(benches, documents);
criterion_main!(benches);
