//! Throughput drivers: the RabbitMQ axis against bare lapin with the same
//! durability (quorum queue, persistent messages, publisher confirms with
//! the same window, manual acks with the same prefetch, one publisher and
//! one consumer connection).
//!
//! Used by the `axis-bench` binary, and public so that other crates' benches
//! (the adapter's) compare against the very same bare-lapin baseline
//! instead of a copy of it:
//!
//! ```no_run
//! # async fn demo() -> Result<(), docaxis_axis::AxisError> {
//! use docaxis_axis::bench::{bare_lapin, Baseline, BenchOptions};
//! let o = BenchOptions { count: 10_000, ..BenchOptions::default() };
//! let bare = bare_lapin(&o, Baseline::Plain).await?;
//! println!("{:.0} msg/s, p50 {:?}", bare.rate, bare.p50);
//! # Ok(()) }
//! ```
//!
//! Every run publishes `count` payloads of `size` bytes; throughput is
//! `count` over the time from the first publish to the last delivery;
//! latency runs from the start of a publish to the delivery to the
//! consumer (the payload carries its send time). Each run uses its own
//! queues, deleted afterwards, and closes its channels and connections
//! explicitly with a timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use crate::rabbit::message_properties;
use crate::{Axis, AxisError, Envelope, RabbitAxis, RabbitOptions};

/// Parameters shared by every variant.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Broker URL (an admin-capable user: the bench declares its queues).
    pub url: String,
    /// Messages per run.
    pub count: usize,
    /// Payload size in bytes (at least 16: sequence number and send time).
    pub size: usize,
    /// Publisher-confirm window (messages published, not yet confirmed).
    pub window: usize,
    /// Consumer prefetch.
    pub prefetch: u16,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            count: 20_000,
            size: 10 * 1024,
            window: 256,
            prefetch: 256,
        }
    }
}

/// Result of one run.
#[derive(Debug, Clone)]
pub struct RunStats {
    /// Messages per second, first publish to last delivery.
    pub rate: f64,
    /// Median publish-to-delivery latency.
    pub p50: Duration,
    /// 99th percentile publish-to-delivery latency.
    pub p99: Duration,
    /// CPU time (user + system) of this whole process per message: the
    /// client's share of the machine (with 2 cores, what the client burns
    /// the broker cannot use).
    pub client_cpu_per_msg: Duration,
    /// AMQP messages the broker stores (quorum-queue writes) per payload:
    /// 1 for one recipient, 2 when the tracker's tap takes a copy.
    pub broker_messages: u32,
}

/// What bare lapin sends, from the plainest to exactly what docaxis sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// The issue's baseline: default exchange (routing key = queue name),
    /// a quorum queue with no arguments, only `delivery_mode = 2`.
    Plain,
    /// The docaxis topology (direct exchange, routing key = recipient,
    /// `mandatory`, inbox with delivery limit and dead-lettering) but only
    /// `delivery_mode = 2`: isolates the broker's cost of routing.
    Routed,
    /// Routed, with the very properties and headers docaxis sets (built by
    /// the same function, once: every message carries the same values, of
    /// the same sizes): isolates the broker's cost of the message format
    /// from the docaxis client's work (hashing, building headers).
    AxisFormat,
}

impl Baseline {
    /// Short label for reports.
    pub fn label(self) -> &'static str {
        match self {
            Baseline::Plain => "bare lapin",
            Baseline::Routed => "bare lapin, routed",
            Baseline::AxisFormat => "bare lapin, axis format",
        }
    }
}

/// Sender and recipient of the bench's documents.
const SENDER: &str = "BENCH.A";
const RECIPIENT: &str = "BENCH.B";
const AGENCIES: [&str; 2] = [SENDER, RECIPIENT];

/// CPU time (user + system) of this process so far, from /proc/self/stat
/// (zero where it is not available).
fn cpu_time() -> Duration {
    crate::procstat::cpu_of_self()
}

/// A payload: 8 bytes of sequence, 8 bytes of send time (ns since `t0`),
/// then filler.
pub fn payload(seq: u64, t0: Instant, size: usize) -> Vec<u8> {
    let mut p = vec![0x5au8; size.max(16)];
    p[..8].copy_from_slice(&seq.to_le_bytes());
    p[8..16].copy_from_slice(&(t0.elapsed().as_nanos() as u64).to_le_bytes());
    p
}

/// Nanoseconds between the payload's send time and now.
fn latency_ns(p: &[u8], t0: Instant) -> u64 {
    let sent = p
        .get(8..16)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes);
    (t0.elapsed().as_nanos() as u64).saturating_sub(sent)
}

fn summarize(
    count: usize,
    elapsed: Duration,
    mut lat: Vec<u64>,
    cpu: Duration,
    broker_messages: u32,
) -> RunStats {
    lat.sort_unstable();
    let pick = |q: f64| {
        Duration::from_nanos(
            lat.get(((lat.len().max(1) - 1) as f64 * q) as usize)
                .copied()
                .unwrap_or(0),
        )
    };
    RunStats {
        rate: count as f64 / elapsed.as_secs_f64(),
        p50: pick(0.50),
        p99: pick(0.99),
        client_cpu_per_msg: cpu / count.max(1) as u32,
        broker_messages,
    }
}

/// CPU time of one SHA-256 of a `size`-byte payload ([`crate::payload_digest`],
/// the digest docaxis computes once per published envelope, for the message
/// id it sends, and once more in a receiver that asks a delivery for its
/// id), measured here on 2,000 payloads: the docaxis cost bare lapin does
/// not pay.
pub fn digest_cost(size: usize) -> Duration {
    let p = vec![0x5au8; size.max(16)];
    let n = 2_000u32;
    let (c0, t0) = (cpu_time(), Instant::now());
    let mut sink = 0u8;
    for _ in 0..n {
        sink ^= crate::payload_digest(&p).as_bytes()[0];
    }
    std::hint::black_box(sink);
    // CPU time has a 10 ms resolution; wall time is finer but counts
    // preemption. Take the smaller of the two.
    (cpu_time() - c0).min(t0.elapsed()) / n
}

/// A name no other run uses.
fn unique(tag: &str) -> String {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "bench-{tag}-{}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    )
}

/// Options of the docaxis instances the bench opens (as an admin user: no
/// per-agency broker users, so `user_id` is not stamped).
fn axis_options(o: &BenchOptions, tag: &str, tap: bool) -> RabbitOptions {
    RabbitOptions {
        prefix: unique(tag),
        confirm_window: o.window,
        prefetch: o.prefetch,
        stamp_user_id: false,
        tap,
        ..RabbitOptions::default()
    }
}

async fn close_all(channels: &[&Channel], connections: &[&Connection]) {
    let t = Duration::from_secs(5);
    for ch in channels {
        let _ = tokio::time::timeout(t, ch.close(200, "bye".into())).await;
    }
    for c in connections {
        let _ = tokio::time::timeout(t, c.close(200, "bye".into())).await;
    }
}

/// Bare lapin, the way its documentation uses it: one loop publishing and
/// keeping up to `window` confirms in flight, one consumer task acking each
/// delivery with `Channel::basic_ack`.
pub async fn bare_lapin(o: &BenchOptions, baseline: Baseline) -> Result<RunStats, AxisError> {
    let pub_conn = Connection::connect(&o.url, ConnectionProperties::default()).await?;
    let sub_conn = Connection::connect(&o.url, ConnectionProperties::default()).await?;
    let pch = pub_conn.create_channel().await?;
    // Routed variants use the docaxis topology, declared by docaxis itself.
    let admin = match baseline {
        Baseline::Plain => None,
        Baseline::Routed | Baseline::AxisFormat => {
            let admin = RabbitAxis::connect(&o.url, axis_options(o, "bare", false)).await?;
            admin.setup(&AGENCIES).await?;
            Some(admin)
        }
    };
    let (queue, exchange, key) = match &admin {
        Some(admin) => (
            admin.inbox_queue(RECIPIENT),
            admin.exchange_name(crate::Kind::Document),
            RECIPIENT.to_string(),
        ),
        None => {
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
            .await?;
            (q.clone(), String::new(), q)
        }
    };
    pch.confirm_select(ConfirmSelectOptions::default()).await?;
    let sch = sub_conn.create_channel().await?;
    sch.basic_qos(o.prefetch, BasicQosOptions::default())
        .await?;
    let mut consumer = sch
        .basic_consume(
            queue.as_str().into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let t0 = Instant::now();
    let cpu0 = cpu_time();
    let count = o.count;
    let ack_ch = sch.clone();
    let reader = tokio::spawn(async move {
        let mut lat = Vec::with_capacity(count);
        while lat.len() < count {
            let d = match consumer.next().await {
                Some(d) => d?,
                None => return Err(AxisError::Broker("consumer ended".into())),
            };
            lat.push(latency_ns(&d.data, t0));
            ack_ch
                .basic_ack(d.delivery_tag, BasicAckOptions::default())
                .await?;
        }
        Ok::<_, AxisError>((lat, t0.elapsed()))
    });
    let nacked = || AxisError::Broker("bare lapin: message nacked".into());
    // The docaxis properties and headers, built once: what the broker pays
    // for the format, without the client's per-message work (hashing).
    let axis_props = match baseline {
        Baseline::AxisFormat => {
            let env = Envelope::document(
                SENDER,
                vec![RECIPIENT.into()],
                "bench-key",
                payload(0, t0, o.size),
            )?;
            Some(message_properties(&env, RECIPIENT, false))
        }
        Baseline::Plain | Baseline::Routed => None,
    };
    let mut inflight: FuturesUnordered<lapin::PublisherConfirm> = FuturesUnordered::new();
    for i in 0..o.count {
        if inflight.len() >= o.window {
            if let Some(c) = inflight.next().await {
                if !c?.is_ack() {
                    return Err(nacked());
                }
            }
        }
        let body = payload(i as u64, t0, o.size);
        let props = match &axis_props {
            Some(p) => p.clone(),
            None => BasicProperties::default().with_delivery_mode(2),
        };
        let confirm = pch
            .basic_publish(
                exchange.as_str().into(),
                key.as_str().into(),
                BasicPublishOptions {
                    mandatory: baseline != Baseline::Plain,
                    immediate: false,
                },
                &body,
                props,
            )
            .await?;
        inflight.push(confirm);
    }
    while let Some(c) = inflight.next().await {
        if !c?.is_ack() {
            return Err(nacked());
        }
    }
    let (lat, elapsed) = reader
        .await
        .map_err(|e| AxisError::Broker(format!("bench reader: {e}")))??;
    let cpu = cpu_time() - cpu0;
    // Close the consuming channel before the queue goes: the broker then
    // drops its consumer quietly, instead of cancelling it under a client
    // that is cancelling it too (lapin logs the crossing replies as errors).
    close_all(&[&sch], &[]).await;
    match admin {
        Some(admin) => {
            admin.teardown(&AGENCIES).await?;
            admin.close().await?;
        }
        None => {
            pch.queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await?;
        }
    }
    close_all(&[&pch], &[&pub_conn, &sub_conn]).await;
    Ok(summarize(o.count, elapsed, lat, cpu, 1))
}

/// The docaxis transport through the [`Axis`] trait, the way an adapter
/// with a backlog uses it: up to `window` concurrent `publish` calls (each
/// returns once confirmed), one consumer acking each delivery. With `tap`,
/// the tracker's tap is declared and drained by a third connection, so the
/// broker stores every message twice.
pub async fn docaxis(o: &BenchOptions, tap: bool) -> Result<RunStats, AxisError> {
    let opts = axis_options(o, if tap { "axis-tap" } else { "axis" }, tap);
    let publisher = Arc::new(RabbitAxis::connect(&o.url, opts.clone()).await?);
    let subscriber = RabbitAxis::connect(&o.url, opts.clone()).await?;
    publisher.setup(&AGENCIES).await?;
    let mut inbox = subscriber.consume(RECIPIENT).await?;
    let tracker = if tap {
        Some(RabbitAxis::connect(&o.url, opts.clone()).await?)
    } else {
        None
    };
    let count = o.count;
    let tap_task = match &tracker {
        Some(t) => {
            let mut c = t.tap().await?;
            Some(tokio::spawn(async move {
                for _ in 0..count {
                    match c.next().await {
                        Some(d) => d?.ack().await?,
                        None => return Err(AxisError::Broker("tap ended".into())),
                    }
                }
                c.close().await
            }))
        }
        None => None,
    };
    let t0 = Instant::now();
    let cpu0 = cpu_time();
    let reader = tokio::spawn(async move {
        let mut lat = Vec::with_capacity(count);
        while lat.len() < count {
            let d = match inbox.next().await {
                Some(d) => d?,
                None => return Err(AxisError::Broker("consumer ended".into())),
            };
            lat.push(latency_ns(d.envelope.payload(), t0));
            d.ack().await?;
        }
        let elapsed = t0.elapsed();
        inbox.close().await?;
        Ok::<_, AxisError>((lat, elapsed))
    });
    let size = o.size;
    let p = publisher.clone();
    let results: Vec<Result<(), AxisError>> = futures_util::stream::iter(0..o.count)
        .map(move |i| {
            let p = p.clone();
            async move {
                let e = Envelope::document(
                    SENDER,
                    vec![RECIPIENT.into()],
                    "bench-key",
                    payload(i as u64, t0, size),
                )?;
                p.publish(&e).await.map(drop)
            }
        })
        .buffer_unordered(o.window)
        .collect()
        .await;
    results.into_iter().collect::<Result<(), _>>()?;
    let join = |e: tokio::task::JoinError| AxisError::Broker(format!("bench task: {e}"));
    let (lat, elapsed) = reader.await.map_err(join)??;
    if let Some(t) = tap_task {
        t.await.map_err(join)??;
    }
    let cpu = cpu_time() - cpu0;
    publisher.teardown(&AGENCIES).await?;
    publisher.close().await?;
    subscriber.close().await?;
    if let Some(t) = tracker {
        t.close().await?;
    }
    Ok(summarize(
        o.count,
        elapsed,
        lat,
        cpu,
        if tap { 2 } else { 1 },
    ))
}
