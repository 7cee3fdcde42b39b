//! axis-bench: the docaxis transport against bare lapin, in one run, with
//! the same durability (quorum queue, persistent messages, publisher
//! confirms with the same window, manual acks with the same prefetch).
//!
//! ```text
//! cargo run --release -p docaxis-axis --bin axis-bench -- [--count N] [--size BYTES]
//!     [--window W] [--prefetch P] [--rounds R] [--url amqp://...]
//!     [--only bare,routed,format,axis,tap]
//! ```
//!
//! Rounds interleave the variants (bare / routed / format / docaxis /
//! docaxis+tap, in a rotating order) so that drift on the shared machine
//! affects all alike; the report uses the median of the rounds. The drivers
//! live in `docaxis_axis::bench`.
//!
//! Headline: docaxis **without** the tap against plain bare lapin. Both
//! make the broker store each message once; with the tap docaxis makes the
//! broker store it twice (a second quorum-queue write for the tracker), so
//! that figure is reported beside it, with the broker-message count, and is
//! not the like-for-like comparison.

use docaxis_axis::bench::{bare_lapin, digest_cost, docaxis, Baseline, BenchOptions, RunStats};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Bare(Baseline),
    Axis,
    AxisTap,
}

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::Bare(b) => b.label(),
            Variant::Axis => "docaxis (no tap)",
            Variant::AxisTap => "docaxis (with tap)",
        }
    }
    fn parse(s: &str) -> Variant {
        match s {
            "bare" => Variant::Bare(Baseline::Plain),
            "routed" => Variant::Bare(Baseline::Routed),
            "format" => Variant::Bare(Baseline::AxisFormat),
            "axis" => Variant::Axis,
            "tap" => Variant::AxisTap,
            _ => panic!("unknown variant {s} (bare, routed, format, axis, tap)"),
        }
    }
    async fn run(self, o: &BenchOptions) -> RunStats {
        let r = match self {
            Variant::Bare(b) => bare_lapin(o, b).await,
            Variant::Axis => docaxis(o, false).await,
            Variant::AxisTap => docaxis(o, true).await,
        };
        r.unwrap_or_else(|e| panic!("{}: {e}", self.label()))
    }
}

fn parse_args() -> (BenchOptions, usize, Vec<Variant>) {
    let mut o = BenchOptions::default();
    let mut rounds = 3;
    let mut variants: Vec<Variant> = ["bare", "routed", "format", "axis", "tap"]
        .into_iter()
        .map(Variant::parse)
        .collect();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--url" => o.url = v,
            "--count" => o.count = v.parse().expect("count"),
            "--size" => o.size = v.parse().expect("size"),
            "--window" => o.window = v.parse().expect("window"),
            "--prefetch" => o.prefetch = v.parse().expect("prefetch"),
            "--rounds" => rounds = v.parse().expect("rounds"),
            "--only" => variants = v.split(',').map(Variant::parse).collect(),
            _ => panic!("unknown option {k}"),
        }
    }
    (o, rounds, variants)
}

fn median_by(runs: &[RunStats], f: impl Fn(&RunStats) -> f64) -> f64 {
    let mut v: Vec<f64> = runs.iter().map(f).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

fn show(name: &str, r: &RunStats) {
    println!(
        "  {name:<26} {:>7.0} msg/s   p50 {:>7.1} ms   p99 {:>7.1} ms   client CPU {:>5.1} us/msg   broker msgs/doc {}",
        r.rate,
        r.p50.as_secs_f64() * 1e3,
        r.p99.as_secs_f64() * 1e3,
        r.client_cpu_per_msg.as_secs_f64() * 1e6,
        r.broker_messages,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (o, rounds, variants) = parse_args();
    println!(
        "axis-bench: {} messages of {} bytes, confirm window {}, prefetch {}, quorum queues, persistent, manual acks; {rounds} interleaved rounds",
        o.count, o.size, o.window, o.prefetch
    );
    let mut runs: Vec<Vec<RunStats>> = vec![Vec::new(); variants.len()];
    for round in 0..rounds {
        println!("round {}", round + 1);
        // Rotate the order so that no variant always runs first (after the
        // previous run's queue deletion) or last.
        for k in 0..variants.len() {
            let i = (k + round) % variants.len();
            let r = variants[i].run(&o).await;
            show(variants[i].label(), &r);
            runs[i].push(r);
        }
    }
    println!("medians over {rounds} rounds:");
    let mut medians = Vec::new();
    for (v, rs) in variants.iter().zip(&runs) {
        let m = RunStats {
            rate: median_by(rs, |r| r.rate),
            p50: std::time::Duration::from_secs_f64(median_by(rs, |r| r.p50.as_secs_f64())),
            p99: std::time::Duration::from_secs_f64(median_by(rs, |r| r.p99.as_secs_f64())),
            client_cpu_per_msg: std::time::Duration::from_secs_f64(median_by(rs, |r| {
                r.client_cpu_per_msg.as_secs_f64()
            })),
            broker_messages: rs.first().map_or(0, |r| r.broker_messages),
        };
        show(v.label(), &m);
        medians.push((*v, m));
    }
    let rate = |v: Variant| medians.iter().find(|(x, _)| *x == v).map(|(_, m)| m.rate);
    // Per-round ratios (same round = same machine conditions), then their median.
    let round_ratio = |a: Variant, b: Variant| {
        let ia = variants.iter().position(|x| *x == a)?;
        let ib = variants.iter().position(|x| *x == b)?;
        let rs: Vec<RunStats> = runs[ia]
            .iter()
            .zip(&runs[ib])
            .map(|(x, y)| RunStats {
                rate: x.rate / y.rate,
                ..x.clone()
            })
            .collect();
        Some(100.0 * median_by(&rs, |r| r.rate))
    };
    let bare = Variant::Bare(Baseline::Plain);
    println!(
        "SHA-256 of one {}-byte payload: {:.1} us of client CPU (docaxis hashes each message once, for its id in the headers; a receiver hashes it again only when it asks for the id)",
        o.size,
        digest_cost(o.size).as_secs_f64() * 1e6
    );
    for (a, b, what) in [
        (
            Variant::Axis,
            bare,
            "HEADLINE docaxis (no tap, 1 broker msg/doc) / bare lapin (1 broker msg/doc); target >= 90%",
        ),
        (
            Variant::AxisTap,
            bare,
            "docaxis with tap (2 broker msgs/doc) / bare lapin (1 broker msg/doc)",
        ),
        (
            Variant::Bare(Baseline::Routed),
            bare,
            "bare lapin routed / bare lapin: the broker's cost of routing",
        ),
        (
            Variant::Bare(Baseline::AxisFormat),
            bare,
            "bare lapin in axis format / bare lapin: the broker's cost of docaxis' routing and format",
        ),
        (
            Variant::Axis,
            Variant::Bare(Baseline::AxisFormat),
            "docaxis / bare lapin in axis format: the docaxis client code",
        ),
    ] {
        if let (Some(x), Some(y)) = (rate(a), rate(b)) {
            let per_round = round_ratio(a, b).unwrap_or(f64::NAN);
            println!(
                "ratio {:>5.1}% of medians, {:>5.1}% median of per-round ratios: {what}",
                100.0 * x / y,
                per_round
            );
        }
    }
}
