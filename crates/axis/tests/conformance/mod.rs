//! The conformance suite: every property is written once as a generic
//! async function and run against both implementations (see
//! `tests/embedded.rs` and `tests/rabbit.rs`).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use docaxis_axis::{Axis, AxisError, Consumer, Delivery, Envelope, Kind};

/// How a property test gets an axis of one implementation. Each harness
/// instance is isolated (own directory / own name prefix).
#[async_trait]
pub trait Harness: Send + Sync {
    /// Open a new handle on the (same) axis storage.
    async fn open(&self) -> Box<dyn Axis>;
    /// Make `axis` disappear as a crash would (connection dropped / owner
    /// lock released) without settling what it holds.
    async fn crash(&self, axis: Box<dyn Axis>);
    /// Remove what the test declared.
    async fn cleanup(&self, agencies: &[&str]);
    /// The configured delivery limit.
    fn max_deliveries(&self) -> u32;
}

const WAIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(700);

fn doc(from: &str, to: &[&str], body: String) -> Envelope {
    Envelope::document(
        from,
        to.iter().map(|s| s.to_string()).collect(),
        "test-key",
        body.into_bytes(),
    )
    .unwrap()
}

async fn next(c: &mut Consumer) -> Delivery {
    c.next_timeout(WAIT)
        .await
        .expect("a delivery within the timeout")
        .expect("a good delivery")
}

async fn assert_empty(c: &mut Consumer) {
    if let Some(d) = c.next_timeout(QUIET).await {
        panic!("unexpected delivery: {d:?}");
    }
}

fn body(d: &Delivery) -> String {
    String::from_utf8(d.envelope.payload().to_vec()).unwrap()
}

/// Documents from one sender to one recipient arrive in publish order,
/// also when published pipelined.
pub async fn ordering(h: &dyn Harness) {
    let axis = h.open().await;
    axis.setup(&["A", "B"]).await.unwrap();
    let n = 200;
    let envs: Vec<_> = (0..n)
        .map(|i| doc("A", &["B"], format!("{i:05}")))
        .collect();
    for r in axis.publish_all(&envs).await {
        r.unwrap();
    }
    let mut c = axis.consume("B").await.unwrap();
    let mut got = Vec::new();
    for _ in 0..n {
        let d = next(&mut c).await;
        got.push(body(&d));
        assert!(!d.redelivered);
        assert_eq!(d.attempt, 1);
        d.ack().await.unwrap();
    }
    let want: Vec<String> = (0..n).map(|i| format!("{i:05}")).collect();
    assert_eq!(got, want, "out of order");
    assert_empty(&mut c).await;
    c.close().await.unwrap();
    axis.close().await.unwrap();
    h.cleanup(&["A", "B"]).await;
}

/// Nothing confirmed is lost when the consumer's side dies with unacked
/// deliveries: after a restart, every unacked message comes again.
pub async fn at_least_once_across_restart(h: &dyn Harness) {
    let axis = h.open().await;
    axis.setup(&["A", "B"]).await.unwrap();
    let n = 20;
    let envs: Vec<_> = (0..n)
        .map(|i| doc("A", &["B"], format!("m{i:03}")))
        .collect();
    for r in axis.publish_all(&envs).await {
        r.unwrap();
    }
    let mut c = axis.consume("B").await.unwrap();
    let mut acked = HashSet::new();
    let mut held = HashSet::new();
    for i in 0..10 {
        let d = next(&mut c).await;
        if i < 5 {
            acked.insert(body(&d));
            d.ack().await.unwrap();
        } else {
            // Never settled: as if the process died while handling it.
            held.insert(body(&d));
            std::mem::forget(d);
        }
    }
    std::mem::forget(c);
    h.crash(axis).await;

    let axis = h.open().await;
    let mut c = axis.consume("B").await.unwrap();
    let mut seen = HashSet::new();
    let mut redelivered = 0;
    while seen.len() < n - acked.len() {
        let d = next(&mut c).await;
        let b = body(&d);
        assert!(!acked.contains(&b), "acked message {b} came back");
        if held.contains(&b) {
            // Handed out before the crash: the receiver may have acted on
            // it, so it must be flagged (a prefetching broker may flag
            // more than these).
            assert!(d.redelivered, "{b} was delivered before the crash");
            assert!(d.attempt >= 2, "redelivery must count as an attempt");
            redelivered += 1;
        }
        seen.insert(b);
        d.ack().await.unwrap();
    }
    assert_eq!(redelivered, 5, "the 5 unacked messages came again");
    assert_empty(&mut c).await;
    c.close().await.unwrap();
    axis.close().await.unwrap();
    h.cleanup(&["A", "B"]).await;
}

/// One document to three recipients: each gets exactly one copy.
pub async fn fan_out(h: &dyn Harness) {
    let axis = h.open().await;
    axis.setup(&["A", "B", "C", "D"]).await.unwrap();
    let e = doc("A", &["B", "C", "D"], "fan".into());
    let receipt = axis.publish(&e).await.unwrap();
    assert_eq!(receipt.delivered, ["B", "C", "D"]);
    assert_eq!(receipt.message_id, e.message_id());
    for r in ["B", "C", "D"] {
        let mut c = axis.consume(r).await.unwrap();
        let d = next(&mut c).await;
        assert_eq!(d.envelope, e);
        assert_eq!(d.delivered_to, r);
        d.ack().await.unwrap();
        assert_empty(&mut c).await;
        c.close().await.unwrap();
    }
    let mut a = axis.consume("A").await.unwrap();
    assert_empty(&mut a).await;
    a.close().await.unwrap();
    axis.close().await.unwrap();
    h.cleanup(&["A", "B", "C", "D"]).await;
}

/// A refused document goes to the recipient's dead-letter queue with the
/// reason kept, and leaves the inbox.
pub async fn refusal_dead_letters_with_reason(h: &dyn Harness) {
    let axis = h.open().await;
    axis.setup(&["A", "B"]).await.unwrap();
    let e = doc("A", &["B"], "refuse me".into());
    axis.publish(&e).await.unwrap();
    let mut c = axis.consume("B").await.unwrap();
    next(&mut c)
        .await
        .refuse("signature does not verify")
        .await
        .unwrap();
    assert_empty(&mut c).await;
    let mut dlq = axis.dead_letters("B").await.unwrap();
    let d = next(&mut dlq).await;
    assert_eq!(d.envelope, e);
    let dl = d.dead_letter.clone().expect("dead-letter info");
    assert_eq!(dl.reason, "signature does not verify");
    assert_eq!(dl.queue_of, "B");
    d.ack().await.unwrap();
    assert_empty(&mut dlq).await;
    c.close().await.unwrap();
    dlq.close().await.unwrap();
    axis.close().await.unwrap();
    h.cleanup(&["A", "B"]).await;
}

/// A document to an unknown recipient is reported, and still delivered
/// to the known ones.
pub async fn unroutable_reported(h: &dyn Harness) {
    let axis = h.open().await;
    axis.setup(&["A", "B"]).await.unwrap();
    let e = doc("A", &["B", "NOBODY.99"], "half known".into());
    match axis.publish(&e).await {
        Err(AxisError::Unroutable {
            message_id,
            unroutable,
            delivered,
        }) => {
            assert_eq!(message_id, e.message_id());
            assert_eq!(unroutable, ["NOBODY.99"]);
            assert_eq!(delivered, ["B"]);
        }
        other => panic!("expected Unroutable, got {other:?}"),
    }
    let only_unknown = doc("A", &["NOBODY.98"], "nobody".into());
    assert!(matches!(
        axis.publish(&only_unknown).await,
        Err(AxisError::Unroutable { .. })
    ));
    let mut c = axis.consume("B").await.unwrap();
    next(&mut c).await.ack().await.unwrap();
    assert_empty(&mut c).await;
    c.close().await.unwrap();
    axis.close().await.unwrap();
    h.cleanup(&["A", "B"]).await;
}

/// A message retried again and again ends in the dead-letter queue after
/// `max_deliveries` deliveries instead of looping.
pub async fn delivery_limit_dead_letters(h: &dyn Harness) {
    let axis = h.open().await;
    axis.setup(&["A", "B"]).await.unwrap();
    let e = doc("A", &["B"], "poison".into());
    axis.publish(&e).await.unwrap();
    let mut c = axis.consume("B").await.unwrap();
    let mut deliveries = 0;
    while let Some(d) = c.next_timeout(Duration::from_secs(3)).await {
        let d = d.unwrap();
        deliveries += 1;
        assert_eq!(d.attempt, deliveries, "attempt counts deliveries");
        assert_eq!(d.redelivered, deliveries > 1);
        d.retry().await.unwrap();
        assert!(
            deliveries <= h.max_deliveries(),
            "delivered more than the limit"
        );
    }
    assert_eq!(deliveries, h.max_deliveries());
    let mut dlq = axis.dead_letters("B").await.unwrap();
    let d = next(&mut dlq).await;
    assert_eq!(d.envelope, e);
    assert_eq!(d.dead_letter.clone().unwrap().reason, "delivery_limit");
    d.ack().await.unwrap();
    c.close().await.unwrap();
    dlq.close().await.unwrap();
    axis.close().await.unwrap();
    h.cleanup(&["A", "B"]).await;
}

/// Statuses go back to the original sender; the tap sees one copy of every
/// document and status per recipient.
pub async fn statuses_and_tap(h: &dyn Harness) {
    let axis = h.open().await;
    axis.setup(&["A", "B", "C"]).await.unwrap();
    let d1 = doc("A", &["B", "C"], "doc".into());
    axis.publish(&d1).await.unwrap();
    let st = Envelope::status("B", "A", "kb", &b"status 01 arrived"[..]).unwrap();
    axis.publish(&st).await.unwrap();
    // A receives the status (and no document).
    let mut a = axis.consume("A").await.unwrap();
    let got = next(&mut a).await;
    assert_eq!(got.envelope.kind(), Kind::Status);
    assert_eq!(got.envelope.sender(), "B");
    assert_eq!(got.envelope, st);
    got.ack().await.unwrap();
    assert_empty(&mut a).await;
    // The tap: (d1,B), (d1,C), (st,A).
    let mut tap = axis.tap().await.unwrap();
    let mut seen = BTreeMap::new();
    for _ in 0..3 {
        let d = next(&mut tap).await;
        *seen
            .entry((d.envelope.message_id().to_string(), d.delivered_to.clone()))
            .or_insert(0) += 1;
        d.ack().await.unwrap();
    }
    assert_empty(&mut tap).await;
    let want: BTreeMap<_, _> = [
        ((d1.message_id().to_string(), "B".to_string()), 1),
        ((d1.message_id().to_string(), "C".to_string()), 1),
        ((st.message_id().to_string(), "A".to_string()), 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(seen, want);
    a.close().await.unwrap();
    tap.close().await.unwrap();
    axis.close().await.unwrap();
    h.cleanup(&["A", "B", "C"]).await;
}

/// Settling returns before the broker has heard of it (the RabbitMQ axis
/// queues acks and nacks without waiting for the write): settlements made
/// just before the consumer and the axis are closed still take effect —
/// acked messages never come back, a retried one does.
pub async fn settlements_survive_an_immediate_close(h: &dyn Harness) {
    let axis = h.open().await;
    axis.setup(&["A", "B"]).await.unwrap();
    let n = 300;
    let envs: Vec<_> = (0..n)
        .map(|i| doc("A", &["B"], format!("s{i:04}")))
        .collect();
    for r in axis.publish_all(&envs).await {
        r.unwrap();
    }
    let mut c = axis.consume("B").await.unwrap();
    let mut acked = HashSet::new();
    for _ in 0..100 {
        let d = next(&mut c).await;
        acked.insert(body(&d));
        d.ack().await.unwrap();
    }
    let d = next(&mut c).await;
    let retried = body(&d);
    d.retry().await.unwrap();
    // At once, without waiting for anything to be written.
    c.close().await.unwrap();
    axis.close().await.unwrap();

    let axis = h.open().await;
    let mut c = axis.consume("B").await.unwrap();
    let mut seen = HashSet::new();
    while seen.len() < n - acked.len() {
        let d = next(&mut c).await;
        let b = body(&d);
        assert!(!acked.contains(&b), "acked message {b} came back");
        seen.insert(b);
        d.ack().await.unwrap();
    }
    assert!(seen.contains(&retried), "the retried message came again");
    assert_empty(&mut c).await;
    c.close().await.unwrap();
    axis.close().await.unwrap();
    h.cleanup(&["A", "B"]).await;
}

/// Invalid ids are refused before anything reaches the transport.
pub async fn invalid_ids_refused(h: &dyn Harness) {
    let axis = h.open().await;
    assert!(matches!(
        axis.setup(&["bad id"]).await,
        Err(AxisError::InvalidId { .. })
    ));
    assert!(matches!(
        axis.consume("a/b").await,
        Err(AxisError::InvalidId { .. })
    ));
    axis.close().await.unwrap();
}

/// Every agency name the properties use (for cleanup after a failure).
pub const ALL_AGENCIES: &[&str] = &["A", "B", "C", "D"];

/// Generate one `#[tokio::test]` per property for a harness constructor.
/// The property runs in its own task so that the harness's cleanup runs
/// even when an assertion fails (no leftover queues on the shared broker).
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let h = std::sync::Arc::new($make.await);
                let h2 = h.clone();
                let r = tokio::spawn(async move { conformance::$name(&*h2).await }).await;
                h.cleanup(conformance::ALL_AGENCIES).await;
                if let Err(e) = r {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        )*
    };
    ($make:expr) => {
        conformance_tests!($make;
            ordering,
            at_least_once_across_restart,
            fan_out,
            refusal_dead_letters_with_reason,
            unroutable_reported,
            delivery_limit_dead_letters,
            statuses_and_tap,
            invalid_ids_refused,
            settlements_survive_an_immediate_close,
        );
    };
}
