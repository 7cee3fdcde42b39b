//! Tracker memory bench: heap bytes per delivery of the figures' state,
//! and of the whole tracker (store included), as traffic accumulates.
//!
//! ```sh
//! cargo bench -p docaxis-tracker --bench memory
//! TRACKER_MEMORY_DELIVERIES=100000 cargo bench -p docaxis-tracker --bench memory   # smaller
//! ```
//!
//! 1. [`State`] alone: one month of national traffic (the synthetic
//!    generator's shape: ≈620,000 deliveries, ≈3.6 per document, ≈4
//!    events per delivery), streamed document by document; the live Rust
//!    heap (a counting allocator) at a quarter, half and all of it. The
//!    history is what answers queries over any period, so it grows with
//!    the deliveries: the figure to watch is bytes per delivery, which
//!    should stay flat from a quarter to the end.
//! 2. The same events applied a second time (a replay, redeliveries the
//!    store did not catch): the heap must not grow.
//! 3. The whole tracker (SQLite store + state, batches of 1,000 as the
//!    ingest loop commits them): Rust heap and SQLite's own heap
//!    (`sqlite3_memory_used`), which must stay bounded (page caches).

#[path = "../tests/common/counting.rs"]
mod counting;

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

use docaxis_tracker::state::State;
use docaxis_tracker::store::Record;
use docaxis_tracker::synth::{Traffic, JULY_2022};
use docaxis_tracker::{Thresholds, Tracker};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Streams the month's records to `f` in batches of about `batch`, and
/// calls `mark` with the events so far when the deliveries reach a
/// quarter, half and all of `deliveries`.
fn stream<S>(
    deliveries: u64,
    batch: usize,
    s: &mut S,
    mut f: impl FnMut(&mut S, &[Record]),
    mut mark: impl FnMut(&mut S, u64),
) {
    let marks = [deliveries / 4, deliveries / 2, deliveries];
    let mut t = Traffic::new(2022, JULY_2022, 31);
    let mut buf = Vec::new();
    let mut events = 0u64;
    let mut next = 0;
    while next < marks.len() {
        t.next_document(&mut buf);
        if buf.len() >= batch || t.deliveries() >= marks[next] {
            f(s, &buf);
            events += buf.len() as u64;
            buf.clear();
        }
        while next < marks.len() && t.deliveries() >= marks[next] {
            mark(s, events);
            next += 1;
        }
    }
}

/// The process's resident memory, from /proc (0 elsewhere): what the heap
/// figures cost once the allocator's headers, rounding and free lists are
/// counted.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

fn sqlite_heap() -> i64 {
    // SAFETY: a read of SQLite's global memory counter, callable at any
    // time from any thread.
    unsafe { rusqlite::ffi::sqlite3_memory_used() }
}

fn main() {
    let deliveries = env("TRACKER_MEMORY_DELIVERIES", 620_000);
    let store_deliveries = env("TRACKER_MEMORY_STORE_DELIVERIES", deliveries / 4);
    println!("docaxis-tracker memory bench: {deliveries} deliveries (one month at 620,000)");

    // 1. State alone.
    let base = counting::live();
    let base_blocks = counting::blocks();
    let base_rss = rss();
    let mut state = State::new();
    stream(
        deliveries,
        1,
        &mut state,
        |state, recs| recs.iter().for_each(|r| state.apply(&r.event)),
        |state, events| {
            let c = state.counters();
            let heap = counting::live() - base;
            let blocks = counting::blocks() - base_blocks;
            let grown = rss().saturating_sub(base_rss);
            println!(
                "state: {:>7} deliveries, {:>7} documents, {:>8} events: heap {:>6.1} MB = {:>5.1} bytes/delivery ({:.1} bytes/document), {:.2} heap blocks/delivery; RSS +{:.1} MB = {:.1} bytes/delivery",
                c.deliveries,
                c.documents,
                events,
                heap as f64 / 1e6,
                heap as f64 / c.deliveries as f64,
                heap as f64 / c.documents as f64,
                blocks as f64 / c.deliveries as f64,
                grown as f64 / 1e6,
                grown as f64 / c.deliveries as f64,
            );
        },
    );
    let c = state.counters();
    let full = counting::live() - base;
    println!(
        "state: one month of national volume (620,830 deliveries) at this rate: {:.1} MB",
        full as f64 / c.deliveries as f64 * 620_830.0 / 1e6
    );

    // 2. Everything again.
    let before = counting::live();
    stream(
        deliveries,
        1,
        &mut state,
        |state, recs| recs.iter().for_each(|r| state.apply(&r.event)),
        |_, _| {},
    );
    println!(
        "state: the same events applied again: heap grew by {} bytes",
        counting::live() as i64 - before as i64
    );
    drop(state);

    // 3. The whole tracker.
    let dir = tempfile::tempdir().unwrap();
    let base = counting::live();
    let mut tracker =
        Tracker::open(&dir.path().join("t.db"), false, Thresholds::default()).unwrap();
    stream(
        store_deliveries,
        1000,
        &mut tracker,
        |tracker, recs| {
            tracker.ingest(recs).unwrap();
        },
        |tracker, events| {
            let c = tracker.state().counters();
            let heap = counting::live() - base;
            println!(
                "tracker: {:>7} deliveries, {:>8} events: Rust heap {:>6.1} MB = {:>5.1} bytes/delivery; SQLite heap {:.1} MB",
                c.deliveries,
                events,
                heap as f64 / 1e6,
                heap as f64 / c.deliveries as f64,
                sqlite_heap() as f64 / 1e6,
            );
        },
    );
}
