//! axis-bench: the docaxis transport against bare lapin, in one run, with
//! the same durability (quorum queue, persistent messages, publisher
//! confirms with the same window, manual acks with the same prefetch).
//!
//! ```text
//! cargo run --release -p docaxis-axis --bin axis-bench -- [--count N] [--size BYTES]
//!     [--window W] [--prefetch P] [--rounds R] [--url amqp://...]
//! ```
//!
//! Each run publishes N messages of SIZE bytes from one publisher
//! connection and consumes them on another; throughput is N divided by the
//! time from the first publish to the last delivery, latency is from the
//! start of a publish to its delivery to the consumer. Rounds alternate
//! bare / docaxis / docaxis-with-tap so that drift on the machine affects
//! all alike; the ratio uses the median of the rounds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use docaxis_axis::{Axis, Envelope, RabbitAxis, RabbitOptions};
use futures_util::stream::{FuturesUnordered, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Connection, ConnectionProperties};

#[derive(Clone)]
struct Args {
    url: String,
    count: usize,
    size: usize,
    window: usize,
    prefetch: u16,
    rounds: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
        count: 20_000,
        size: 10 * 1024,
        window: 256,
        prefetch: 256,
        rounds: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--url" => a.url = v,
            "--count" => a.count = v.parse().expect("count"),
            "--size" => a.size = v.parse().expect("size"),
            "--window" => a.window = v.parse().expect("window"),
            "--prefetch" => a.prefetch = v.parse().expect("prefetch"),
            "--rounds" => a.rounds = v.parse().expect("rounds"),
            _ => panic!("unknown option {k}"),
        }
    }
    a
}

/// Result of one run.
struct Run {
    rate: f64,
    p50: Duration,
    p99: Duration,
    /// Client (this process) CPU time per message.
    cpu_per_msg: Duration,
}

/// CPU time (user + system) of this process so far, from /proc/self/stat.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // utime and stime are fields 14 and 15 of the full line: 11 and 12 here
    // (state is not numeric and was skipped), in clock ticks (100 Hz).
    let ticks = f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// The payload: 8 bytes of sequence, 8 bytes of send time (ns since the
/// run's start), then filler.
fn payload(seq: u64, t0: Instant, size: usize) -> Vec<u8> {
    let mut p = vec![0x5au8; size.max(16)];
    p[..8].copy_from_slice(&seq.to_le_bytes());
    p[8..16].copy_from_slice(&(t0.elapsed().as_nanos() as u64).to_le_bytes());
    p
}

fn sent_at(p: &[u8]) -> u64 {
    u64::from_le_bytes(p[8..16].try_into().unwrap())
}

fn summarize(count: usize, elapsed: Duration, mut lat: Vec<u64>, cpu: Duration) -> Run {
    lat.sort_unstable();
    let pick = |q: f64| Duration::from_nanos(lat[((lat.len() as f64 - 1.0) * q) as usize]);
    Run {
        rate: count as f64 / elapsed.as_secs_f64(),
        p50: pick(0.50),
        p99: pick(0.99),
        cpu_per_msg: cpu / count as u32,
    }
}

fn unique(tag: &str) -> String {
    format!(
        "bench-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

/// Bare lapin. With `axis_format`, the messages go through the docaxis
/// topology (direct exchange, mandatory, the docaxis properties and
/// headers) instead of the default exchange with no properties: this
/// separates the cost of the message format and routing (paid by the
/// broker) from the cost of the docaxis client code.
async fn bare_lapin(a: &Args, axis_format: bool) -> Run {
    let pub_conn = Connection::connect(&a.url, ConnectionProperties::default())
        .await
        .unwrap();
    let sub_conn = Connection::connect(&a.url, ConnectionProperties::default())
        .await
        .unwrap();
    let pch = pub_conn.create_channel().await.unwrap();
    let prefix = unique("bare-fmt");
    let admin = if axis_format {
        let opts = RabbitOptions {
            prefix: prefix.clone(),
            stamp_user_id: false,
            tap: false,
            ..RabbitOptions::default()
        };
        let admin = RabbitAxis::connect(&a.url, opts).await.unwrap();
        admin.setup(&["BENCH.A", "BENCH.B"]).await.unwrap();
        Some(admin)
    } else {
        None
    };
    let (queue, exchange, key) = if axis_format {
        (
            format!("{prefix}.in.BENCH.B"),
            format!("{prefix}.documents"),
            "BENCH.B".to_string(),
        )
    } else {
        let q = unique("bare");
        let mut args = FieldTable::default();
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(LongString::from("quorum")),
        );
        pch.queue_declare(
            q.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await
        .unwrap();
        (q.clone(), String::new(), q)
    };
    pch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let sch = sub_conn.create_channel().await.unwrap();
    sch.basic_qos(a.prefetch, BasicQosOptions::default())
        .await
        .unwrap();
    let mut consumer = sch
        .basic_consume(
            queue.as_str().into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let t0 = Instant::now();
    let cpu0 = cpu_time();
    let count = a.count;
    let ack_ch = sch.clone();
    let reader = tokio::spawn(async move {
        let mut lat = Vec::with_capacity(count);
        while lat.len() < count {
            let d = consumer.next().await.unwrap().unwrap();
            lat.push(t0.elapsed().as_nanos() as u64 - sent_at(&d.data));
            ack_ch
                .basic_ack(d.delivery_tag, BasicAckOptions::default())
                .await
                .unwrap();
        }
        (lat, t0.elapsed())
    });
    let mut inflight: FuturesUnordered<lapin::PublisherConfirm> = FuturesUnordered::new();
    for i in 0..a.count {
        if inflight.len() >= a.window {
            assert!(inflight.next().await.unwrap().unwrap().is_ack());
        }
        let body = payload(i as u64, t0, a.size);
        let props = if axis_format {
            let h = |v: &str| AMQPValue::LongString(LongString::from(v.as_bytes().to_vec()));
            let digest = docaxis_axis::payload_digest(&body);
            let mut t = FieldTable::default();
            t.insert("x-docaxis-kind".into(), h("document"));
            t.insert("x-docaxis-sender".into(), h("BENCH.A"));
            t.insert("x-docaxis-recipients".into(), h("BENCH.B"));
            t.insert("x-docaxis-recipient".into(), h("BENCH.B"));
            t.insert("x-docaxis-key-id".into(), h("bench-key"));
            t.insert("x-docaxis-digest".into(), h(&digest));
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(digest.as_str().into())
                .with_content_type("application/octet-stream".into())
                .with_timestamp(0)
                .with_headers(t)
        } else {
            BasicProperties::default().with_delivery_mode(2)
        };
        let confirm = pch
            .basic_publish(
                exchange.as_str().into(),
                key.as_str().into(),
                BasicPublishOptions {
                    mandatory: axis_format,
                    immediate: false,
                },
                &body,
                props,
            )
            .await
            .unwrap();
        inflight.push(confirm);
    }
    while let Some(c) = inflight.next().await {
        assert!(c.unwrap().is_ack());
    }
    let (lat, elapsed) = reader.await.unwrap();
    let cpu = cpu_time() - cpu0;
    match &admin {
        Some(ad) => ad.teardown(&["BENCH.A", "BENCH.B"]).await.unwrap(),
        None => {
            pch.queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await
                .unwrap();
        }
    }
    if let Some(ad) = admin {
        ad.close().await.unwrap();
    }
    for (ch, conn) in [(&pch, &pub_conn), (&sch, &sub_conn)] {
        let _ = tokio::time::timeout(Duration::from_secs(5), ch.close(200, "bye".into())).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.close(200, "bye".into())).await;
    }
    summarize(a.count, elapsed, lat, cpu)
}

async fn docaxis(a: &Args, tap: bool) -> Run {
    let opts = RabbitOptions {
        prefix: unique(if tap { "axis-tap" } else { "axis" }),
        confirm_window: a.window,
        prefetch: a.prefetch,
        // Connected as guest: no per-agency users in the bench.
        stamp_user_id: false,
        tap,
        ..RabbitOptions::default()
    };
    let publisher = Arc::new(RabbitAxis::connect(&a.url, opts.clone()).await.unwrap());
    let subscriber = RabbitAxis::connect(&a.url, opts.clone()).await.unwrap();
    publisher.setup(&["BENCH.A", "BENCH.B"]).await.unwrap();
    let mut inbox = subscriber.consume("BENCH.B").await.unwrap();
    let tracker = if tap {
        Some(RabbitAxis::connect(&a.url, opts.clone()).await.unwrap())
    } else {
        None
    };
    let tap_task = match &tracker {
        Some(t) => {
            let mut c = t.tap().await.unwrap();
            let count = a.count;
            Some(tokio::spawn(async move {
                for _ in 0..count {
                    c.next().await.unwrap().unwrap().ack().await.unwrap();
                }
                c.close().await.unwrap();
            }))
        }
        None => None,
    };
    let t0 = Instant::now();
    let cpu0 = cpu_time();
    let count = a.count;
    let reader = tokio::spawn(async move {
        let mut lat = Vec::with_capacity(count);
        while lat.len() < count {
            let d = inbox.next().await.unwrap().unwrap();
            lat.push(t0.elapsed().as_nanos() as u64 - sent_at(d.envelope.payload()));
            d.ack().await.unwrap();
        }
        let elapsed = t0.elapsed();
        inbox.close().await.unwrap();
        (lat, elapsed)
    });
    let size = a.size;
    let p2 = publisher.clone();
    // Many concurrent publish calls, at most `window` at once: the way an
    // adapter with a backlog uses the trait.
    futures_util::stream::iter(0..a.count)
        .map(move |i| {
            let p = p2.clone();
            async move {
                let e = Envelope::document(
                    "BENCH.A",
                    vec!["BENCH.B".into()],
                    "bench-key",
                    payload(i as u64, t0, size),
                )
                .unwrap();
                p.publish(&e).await.unwrap();
            }
        })
        .buffer_unordered(a.window)
        .collect::<Vec<()>>()
        .await;
    let (lat, elapsed) = reader.await.unwrap();
    if let Some(t) = tap_task {
        t.await.unwrap();
    }
    let cpu = cpu_time() - cpu0;
    publisher.teardown(&["BENCH.A", "BENCH.B"]).await.unwrap();
    publisher.close().await.unwrap();
    subscriber.close().await.unwrap();
    if let Some(t) = tracker {
        t.close().await.unwrap();
    }
    summarize(a.count, elapsed, lat, cpu)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn show(name: &str, r: &Run) {
    println!(
        "{name:<24} {:>9.0} msg/s   p50 {:>8.1} ms   p99 {:>8.1} ms   client CPU {:>5.1} us/msg",
        r.rate,
        r.p50.as_secs_f64() * 1e3,
        r.p99.as_secs_f64() * 1e3,
        r.cpu_per_msg.as_secs_f64() * 1e6
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = parse_args();
    println!(
        "axis-bench: {} messages of {} bytes, confirm window {}, prefetch {}, quorum queues, persistent, manual acks",
        a.count, a.size, a.window, a.prefetch
    );
    let (mut bare, mut axis, mut axis_tap, mut bare_fmt) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=a.rounds {
        println!("round {round}");
        let r = bare_lapin(&a, false).await;
        show("bare lapin", &r);
        bare.push(r.rate);
        let r = bare_lapin(&a, true).await;
        show("bare lapin, axis format", &r);
        bare_fmt.push(r.rate);
        let r = docaxis(&a, false).await;
        show("docaxis (no tap)", &r);
        axis.push(r.rate);
        let r = docaxis(&a, true).await;
        show("docaxis (with tap)", &r);
        axis_tap.push(r.rate);
    }
    let (b, x, t, f) = (
        median(bare),
        median(axis),
        median(axis_tap),
        median(bare_fmt),
    );
    println!(
        "ratio docaxis / bare lapin with the same message format and routing: {:.1}%",
        100.0 * x / f
    );
    println!("median rates: bare {b:.0}, docaxis {x:.0}, docaxis+tap {t:.0} msg/s");
    println!(
        "ratio docaxis / bare lapin: {:.1}% (target >= 90%)",
        100.0 * x / b
    );
    println!(
        "ratio docaxis+tap / bare lapin: {:.1}% (the tap writes every message twice)",
        100.0 * t / b
    );
}
