//! The figures' memory: a bounded number of bytes per delivery, whatever
//! the order of the events, and nothing more when events come again.
//!
//! One test in this binary: the counting allocator sees every thread, so
//! another test running beside it would blur the figures.

#[path = "common/counting.rs"]
mod counting;

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

use docaxis_tracker::state::{Event, Filter, State};
use docaxis_tracker::synth::{traffic, Rng, JULY_2022};
use docaxis_tracker::{Thresholds, Tracker};

/// Heap bytes per delivery the state may hold (the history of every
/// delivery, its share of its document included). The state keeps about
/// 62 on a month of traffic (`cargo bench --bench memory`); it kept 284
/// before the deliveries were packed.
const BOUND: f64 = 80.0;

/// Heap held by a state built from `events`, and its deliveries.
fn state_of<'a>(events: impl Iterator<Item = &'a Event>) -> (State, usize) {
    let before = counting::live();
    let mut s = State::new();
    events.for_each(|e| s.apply(e));
    (s, counting::live() - before)
}

#[test]
fn bytes_per_delivery_are_bounded_and_replays_add_nothing() {
    let recs = traffic(11, 60_000, JULY_2022, 31);
    let events: Vec<&Event> = recs.iter().map(|r| &r.event).collect();

    // In tap order.
    let (mut s, heap) = state_of(events.iter().copied());
    let deliveries = s.counters().deliveries;
    let per = heap as f64 / deliveries as f64;
    eprintln!("tap order: {per:.1} bytes per delivery ({deliveries} deliveries)");
    assert!(
        per < BOUND,
        "{per:.1} bytes per delivery (bound {BOUND}) for {deliveries} deliveries"
    );
    let want = s.figures(&Filter::default());

    // Every event again, and again shuffled: nothing new to keep.
    let mut again = events.clone();
    let mut rng = Rng::new(5);
    for i in (1..again.len()).rev() {
        again.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let before = counting::live();
    events.iter().chain(&again).for_each(|e| s.apply(e));
    assert_eq!(
        counting::live() as i64 - before as i64,
        0,
        "heap grew on replaying the same events"
    );
    assert_eq!(s.figures(&Filter::default()), want);
    drop(s);

    // Shuffled: statuses before their documents, a document's events
    // among others', so its deliveries are created one by one and move to
    // the end to stay side by side; the holes they leave stay a small part.
    let (s, heap) = state_of(again.iter().copied());
    assert_eq!(s.counters().deliveries, deliveries);
    assert_eq!(s.figures(&Filter::default()), want);
    let per = heap as f64 / deliveries as f64;
    eprintln!("shuffled: {per:.1} bytes per delivery");
    assert!(per < BOUND, "{per:.1} bytes per delivery shuffled");
    drop(s);

    // Through the tracker: redeliveries the store recognises do not reach
    // the figures, and leave the heap as it was.
    let dir = tempfile::tempdir().unwrap();
    let t = Tracker::open(&dir.path().join("t.db"), false, Thresholds::default()).unwrap();
    for chunk in recs.chunks(1000) {
        t.ingest(chunk).unwrap();
    }
    let before = counting::live();
    for chunk in recs.chunks(1000) {
        let rep = t.ingest(chunk).unwrap();
        assert_eq!(rep.stored, 0);
    }
    let grown = counting::live() as i64 - before as i64;
    assert!(
        grown <= 0,
        "redeliveries grew the tracker's heap by {grown} bytes"
    );
    assert_eq!(t.state().figures(&Filter::default()), want);
}
