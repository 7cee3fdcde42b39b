//! Exact counts: a known history (redeliveries, refusals, a recall,
//! out-of-order statuses, a status before its document, a tracker restart
//! in the middle) and every figure checked. Once by direct ingest, once end
//! to end through the real embedded axis.

mod common;

use std::time::Duration;

use common::*;
use docaxis_axis::{connect, EmbeddedAxis, EmbeddedOptions, Envelope};
use docaxis_tracker::decode::decode;
use docaxis_tracker::{store, IngestOptions, Record, Thresholds, Tracker};

fn records(copies: &[(Envelope, String)]) -> Vec<Record> {
    copies
        .iter()
        .map(|(e, r)| decode(e, r, 1_000).unwrap())
        .collect()
}

#[test]
fn direct_ingest_with_restart_and_redeliveries() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tracker.db");
    let (p1, p2) = history();
    let c1 = copies(&p1);
    let c2 = copies(&p2);
    {
        let t = Tracker::open(&db, true, Thresholds::default()).unwrap();
        // Phase 1 in two batches, the second one redelivering the first.
        let r1 = records(&c1);
        let rep = t.ingest(&r1[..6]).unwrap();
        assert_eq!((rep.stored, rep.duplicates), (6, 0));
        let rep = t.ingest(&r1).unwrap();
        assert_eq!((rep.stored, rep.duplicates), (5, 6));
    } // restart
    let t = Tracker::open(&db, true, Thresholds::default()).unwrap();
    assert_eq!(
        t.state().counters().events,
        11,
        "replayed after the restart"
    );
    // Phase 2, with phase 1 redelivered again (after the restart) and one
    // document copy twice in the same batch.
    let mut r = records(&c2);
    r.extend(records(&c1));
    r.push(r[0].clone());
    let rep = t.ingest(&r).unwrap();
    assert_eq!((rep.stored, rep.duplicates), (13, 12));
    check_history(&t.state());
    assert_eq!(t.head().seq, RECORDS);
    drop(t);

    // Replay from scratch gives the same figures; the chain verifies.
    let t = Tracker::open(&db, true, Thresholds::default()).unwrap();
    check_history(&t.state());
    let history = t.history(&doc_id(A, "2022/07/01", 1)).unwrap();
    assert_eq!(
        history.len(),
        3 + 7,
        "3 copies of the document, 7 statuses (one ignored)"
    );
    let head = t.head();
    drop(t);
    let audit = store::verify(&db, Some(&head)).unwrap();
    assert!(audit.ok, "{:?}", audit.problems);
    assert_eq!(audit.records, RECORDS);
}

#[test]
fn the_order_of_events_does_not_change_the_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (p1, p2) = history();
    let mut all = records(&copies(&p1));
    all.extend(records(&copies(&p2)));
    // Reversed, then rotated: statuses long before their documents.
    for k in [0usize, 7, 13] {
        let db = dir.path().join(format!("t{k}.db"));
        let t = Tracker::open(&db, false, Thresholds::default()).unwrap();
        let mut v = all.clone();
        v.reverse();
        v.rotate_left(k);
        t.ingest(&v).unwrap();
        check_history(&t.state());
    }
}

/// Wait until `cond` holds (or fail after 20 s).
async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_through_the_embedded_axis() {
    let dir = tempfile::tempdir().unwrap();
    let axis_dir = dir.path().join("axis");
    let db = dir.path().join("tracker.db");
    let url = format!("file://{}", axis_dir.display());
    let axis = connect(Some(&url)).await.unwrap();
    axis.setup(&[A, B, C, D]).await.unwrap();
    let (p1, p2) = history();

    // Phase 1, with the first document published twice (a sender's retry:
    // same signed bytes, same message id) and one garbage message.
    for e in &p1 {
        axis.publish(e).await.unwrap();
    }
    axis.publish(&p1[0]).await.unwrap();
    let garbage = Envelope::document(A, vec![B.into()], "key-id", &b"not edXML"[..]).unwrap();
    axis.publish(&garbage).await.unwrap();

    // A redelivery the axis itself makes: take one tap copy and give it back.
    {
        let mut tap = axis.tap().await.unwrap();
        let d = tap.next().await.unwrap().unwrap();
        d.retry().await.unwrap();
        tap.close().await.unwrap();
    }

    // Tracker #1 commits its first batch, then "crashes" before acking it.
    {
        let t = Tracker::open(&db, true, Thresholds::default()).unwrap();
        let opts = IngestOptions {
            batch_size: 5,
            batch_wait: Duration::from_millis(100),
            crash_after_first_commit: true,
        };
        docaxis_tracker::ingest_tap(axis.as_ref(), t.clone(), opts, std::future::pending())
            .await
            .unwrap();
        assert!(t.head().seq >= 1, "the first batch was committed");
    }

    for e in &p2 {
        axis.publish(e).await.unwrap();
    }

    // Tracker #2 (a restart): everything, redeliveries recognised.
    let t = Tracker::open(&db, true, Thresholds::default()).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let axis2 = connect(Some(&url)).await.unwrap();
    let t2 = t.clone();
    let run = tokio::spawn(async move {
        let opts = IngestOptions {
            batch_size: 8,
            batch_wait: Duration::from_millis(20),
            crash_after_first_commit: false,
        };
        docaxis_tracker::ingest_tap(axis2.as_ref(), t2, opts, async {
            let _ = stop_rx.await;
        })
        .await
    });
    let ld = std::sync::atomic::Ordering::Relaxed;
    wait_for("all records", || t.head().seq == RECORDS).await;
    wait_for("the garbage refused", || {
        t.counters().undecodable.load(ld) == 1
    })
    .await;
    // The tap drains: the duplicate publish (3 copies) and the unacked
    // first batch come back and are recognised, not counted.
    let tap_dir = axis_dir.join("queues/tap");
    wait_for("the tap to drain", || {
        std::fs::read_dir(tap_dir.join("new")).unwrap().count() == 0
            && std::fs::read_dir(tap_dir.join("cur")).unwrap().count() == 0
    })
    .await;
    assert!(t.counters().duplicates.load(ld) >= 3, "{:?}", t.counters());
    stop_tx.send(()).unwrap();
    run.await.unwrap().unwrap();

    check_history(&t.state());
    assert_eq!(t.head().seq, RECORDS);
    assert_eq!(
        std::fs::read_dir(axis_dir.join("queues/tap.dlq/new"))
            .unwrap()
            .count(),
        1,
        "the garbage message is in the tap's dead-letter queue"
    );
    drop(t);
    let audit = store::verify(&db, None).unwrap();
    assert!(audit.ok, "{:?}", audit.problems);
    let _ = EmbeddedAxis::open(&axis_dir, EmbeddedOptions::default()).unwrap();
}
