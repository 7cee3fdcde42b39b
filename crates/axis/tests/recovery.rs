//! Broker restart in the middle of 10,000 documents: every document
//! arrives, duplicates are counted and reported.
//!
//! Ignored by default because `rabbitmqctl stop_app` disturbs every other
//! test using the broker. Run it alone:
//!
//! ```text
//! cargo test -p docaxis-axis --release --test recovery -- --ignored --nocapture
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use docaxis_axis::{Axis, AxisError, Envelope, RabbitAxis, RabbitOptions};
use futures_util::StreamExt;

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn rabbitmqctl(arg: &str) {
    let st = std::process::Command::new("rabbitmqctl")
        .arg(arg)
        .output()
        .expect("rabbitmqctl");
    assert!(
        st.status.success(),
        "rabbitmqctl {arg}: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "restarts the broker; run alone with --ignored"]
async fn broker_restart_mid_stream_loses_nothing() {
    let n: usize = std::env::var("RECOVERY_COUNT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let opts = RabbitOptions {
        prefix: format!("t-recovery-{}", std::process::id()),
        stamp_user_id: false,
        publish_timeout: Duration::from_secs(120),
        ..RabbitOptions::default()
    };
    let admin = RabbitAxis::connect(URL, opts.clone()).await.unwrap();
    admin.setup(&["R.A", "R.B"]).await.unwrap();
    admin.close().await.unwrap();

    let publisher = Arc::new(RabbitAxis::connect(URL, opts.clone()).await.unwrap());
    let subscriber = RabbitAxis::connect(URL, opts.clone()).await.unwrap();
    let mut inbox = subscriber.consume("R.B").await.unwrap();

    let published = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();

    // Consumer: ack everything, count what arrives.
    let reader = tokio::spawn(async move {
        let mut seen: HashMap<u64, u32> = HashMap::new();
        let mut stale_acks = 0;
        while seen.len() < n {
            let d = match inbox.next_timeout(Duration::from_secs(120)).await {
                Some(Ok(d)) => d,
                Some(Err(e)) => panic!("consumer error: {e}"),
                None => break,
            };
            let seq = u64::from_le_bytes(d.envelope.payload()[..8].try_into().unwrap());
            *seen.entry(seq).or_default() += 1;
            match d.ack().await {
                Ok(()) => {}
                // Acked on a channel that died: the broker redelivers it.
                Err(AxisError::DeliveryStale) => stale_acks += 1,
                Err(e) => panic!("ack: {e}"),
            }
        }
        // Keep reading briefly: late duplicates still count.
        while let Some(Ok(d)) = inbox.next_timeout(Duration::from_secs(3)).await {
            let seq = u64::from_le_bytes(d.envelope.payload()[..8].try_into().unwrap());
            *seen.entry(seq).or_default() += 1;
            let _ = d.ack().await;
        }
        inbox.close().await.unwrap();
        (seen, stale_acks)
    });

    // The restart, once about a third is published.
    let p2 = published.clone();
    let restarter = tokio::spawn(async move {
        while p2.load(Ordering::Relaxed) < n / 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let at = p2.load(Ordering::Relaxed);
        let t = Instant::now();
        tokio::task::spawn_blocking(|| {
            rabbitmqctl("stop_app");
            std::thread::sleep(Duration::from_secs(2));
            rabbitmqctl("start_app");
        })
        .await
        .unwrap();
        (at, t.elapsed())
    });

    // Paced so that publishing spans the restart (the CLI takes seconds to
    // start, and an unpaced run finishes before the broker goes down).
    let rate: u64 = std::env::var("RECOVERY_RATE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let slow = Arc::new(AtomicUsize::new(0));
    let p3 = published.clone();
    let pubr = publisher.clone();
    let slow2 = slow.clone();
    let t_pub = tokio::time::Instant::now();
    let errors: Vec<String> = futures_util::stream::iter(0..n)
        .map(move |i| {
            let p = pubr.clone();
            let count = p3.clone();
            let slow = slow2.clone();
            async move {
                tokio::time::sleep_until(
                    t_pub + Duration::from_micros(i as u64 * 1_000_000 / rate),
                )
                .await;
                let mut body = vec![0u8; 1024];
                body[..8].copy_from_slice(&(i as u64).to_le_bytes());
                let e = Envelope::document("R.A", vec!["R.B".into()], "k", body).unwrap();
                let t = Instant::now();
                let r = p.publish(&e).await;
                if t.elapsed() > Duration::from_secs(1) {
                    // Waited through the outage (reconnect + republish).
                    slow.fetch_add(1, Ordering::Relaxed);
                }
                count.fetch_add(1, Ordering::Relaxed);
                r.err().map(|e| format!("{i}: {e}"))
            }
        })
        .buffer_unordered(256)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    let publish_time = start.elapsed();
    let (restart_at, restart_took) = restarter.await.unwrap();
    let (seen, stale_acks) = reader.await.unwrap();
    let total = start.elapsed();

    let missing: Vec<usize> = (0..n)
        .filter(|i| !seen.contains_key(&(*i as u64)))
        .collect();
    let duplicates: u32 = seen.values().map(|c| c - 1).sum();
    println!(
        "recovery: {n} documents; broker stop_app/start_app after {restart_at} publishes, took {restart_took:?}; \
         all published in {publish_time:?}, all received in {total:?}"
    );
    println!(
        "recovery: publish errors {}, publishes that waited > 1 s (through the outage) {}, distinct received {}, \
         missing {}, duplicates {duplicates} (in {} documents), acks on dead channels {stale_acks}",
        errors.len(),
        slow.load(Ordering::Relaxed),
        seen.len(),
        missing.len(),
        seen.values().filter(|c| **c > 1).count()
    );

    let cleanup = RabbitAxis::connect(URL, opts.clone()).await.unwrap();
    cleanup.teardown(&["R.A", "R.B"]).await.unwrap();
    cleanup.close().await.unwrap();
    publisher.close().await.unwrap();
    subscriber.close().await.unwrap();

    assert!(
        errors.is_empty(),
        "publish errors: {:?}",
        &errors[..errors.len().min(5)]
    );
    assert!(
        missing.is_empty(),
        "missing documents: {:?}",
        &missing[..missing.len().min(20)]
    );
}
