//! The 1,000-agency topology declared and working on one broker, with the
//! broker's memory per agency measured. Ignored (about a minute or two,
//! and it loads the broker); run alone:
//!
//! ```text
//! cargo test -p docaxis-axis --release --test scale -- --ignored --nocapture
//! ```

use std::time::{Duration, Instant};

use docaxis_axis::{Axis, Envelope, RabbitAxis, RabbitOptions};

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn eval(expr: &str) -> u64 {
    let out = std::process::Command::new("rabbitmqctl")
        .args(["eval", expr])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("eval {expr}: {out:?}"))
}

fn memory() -> u64 {
    // Let the allocators settle a moment, then read the VM's total.
    std::thread::sleep(Duration::from_secs(3));
    eval("erlang:garbage_collect(), erlang:memory(total).")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "declares 2,001 quorum queues; run alone with --ignored"]
async fn thousand_agencies_on_one_broker() {
    let n: usize = std::env::var("SCALE_AGENCIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let ids: Vec<String> = (0..n)
        .map(|i| format!("{:03}.00.00.H{:02}", i / 100, i % 100))
        .collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let opts = RabbitOptions {
        prefix: format!("t-scale-{}", std::process::id()),
        stamp_user_id: false,
        ..RabbitOptions::default()
    };
    let axis = RabbitAxis::connect(URL, opts).await.unwrap();
    let m0 = memory();
    let p0 = eval("erlang:system_info(process_count).");

    let t = Instant::now();
    axis.setup(&refs).await.unwrap();
    let setup_time = t.elapsed();
    let t = Instant::now();
    axis.setup(&refs).await.unwrap(); // idempotent re-declaration
    let redeclare_time = t.elapsed();
    let m1 = memory();
    let p1 = eval("erlang:system_info(process_count).");

    // Working: every agency sends one 10 KiB document to the next, and every
    // inbox receives exactly one.
    let t = Instant::now();
    let envs: Vec<Envelope> = (0..n)
        .map(|i| {
            let mut body = vec![0x20u8; 10 * 1024];
            body[..8].copy_from_slice(&(i as u64).to_le_bytes());
            Envelope::document(ids[i].clone(), vec![ids[(i + 1) % n].clone()], "k", body).unwrap()
        })
        .collect();
    for r in axis.publish_all(&envs).await {
        r.unwrap();
    }
    let publish_time = t.elapsed();
    let m2 = memory();
    let t = Instant::now();
    for (i, id) in ids.iter().enumerate() {
        let mut c = axis.consume(id).await.unwrap();
        let d = c
            .next_timeout(Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d.envelope.sender(), ids[(i + n - 1) % n]);
        d.ack().await.unwrap();
        c.close().await.unwrap();
    }
    let consume_time = t.elapsed();
    let m3 = memory();

    let mb = |b: u64| b as f64 / 1048576.0;
    println!(
        "scale: {n} agencies = {} quorum queues (inbox + DLQ each) + tap",
        2 * n
    );
    println!("scale: setup {setup_time:?}, idempotent re-setup {redeclare_time:?}");
    println!(
        "scale: broker memory {:.1} MiB before, {:.1} MiB with the topology (+{:.1} MiB, {:.0} KiB per agency, {:.0} KiB per quorum queue), Erlang processes +{}",
        mb(m0),
        mb(m1),
        mb(m1.saturating_sub(m0)),
        m1.saturating_sub(m0) as f64 / 1024.0 / n as f64,
        m1.saturating_sub(m0) as f64 / 1024.0 / (2 * n) as f64,
        p1.saturating_sub(p0)
    );
    println!(
        "scale: {n} documents of 10 KiB published in {publish_time:?}; memory {:.1} MiB with one message per inbox (+ tap copies); each inbox consumed and acked in {consume_time:?}; memory after {:.1} MiB",
        mb(m2),
        mb(m3)
    );
    // Drain the tap copies and remove everything.
    axis.teardown(&refs).await.unwrap();
    axis.close().await.unwrap();
}
