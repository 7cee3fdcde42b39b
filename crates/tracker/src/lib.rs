//! # docaxis-tracker: what the operators of the axis see
//!
//! The tracker consumes the axis's tap (one copy of every document and
//! status per recipient), stores each event once in a hash-chained SQLite
//! log, and answers: how many documents went where, how many arrived, how
//! fast, which are stuck. It serves a JSON API (`docs/tracker-api.yaml`),
//! Prometheus `/metrics` and a dashboard.
//!
//! Layers, each usable alone:
//!
//! * [`state`]: the pure counting logic (events → figures), no I/O;
//! * [`store`]: the SQLite event log, deduplication, the hash chain and its
//!   verification ([`store::verify`], behind `docaxis audit verify`);
//! * [`decode`]: tap delivery → event, reading the header's few fields
//!   with [`extract`];
//! * [`Tracker`]: store + state, thread-safe; [`service`]: the ingest loop
//!   over the axis and [`run`]; [`http`]: the API, metrics and dashboard;
//! * [`report`]: the tables of `docaxis stats`.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let config = docaxis_tracker::Config::load(Some(std::path::Path::new("tracker.toml")))?;
//! docaxis_tracker::run(config).await // until Ctrl-C / SIGTERM
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod decode;
pub mod extract;
pub mod http;
pub mod report;
pub mod rollup;
pub mod service;
pub mod state;
pub mod store;
#[doc(hidden)]
pub mod synth;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

pub use config::Config;
pub use service::{ingest_tap, run, run_blocking, run_until, IngestOptions};
pub use state::{Event, Filter, State, Thresholds};
pub use store::{Head, Record, Store, StoreError};

/// Counters of the ingest path (since the process started).
#[derive(Debug, Default)]
pub struct IngestCounters {
    /// Records stored.
    pub stored: AtomicU64,
    /// Records already stored (redeliveries, duplicates).
    pub duplicates: AtomicU64,
    /// Deliveries refused because they could not be decoded.
    pub undecodable: AtomicU64,
    /// Transactions committed.
    pub batches: AtomicU64,
}

/// What one [`Tracker::ingest`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestReport {
    /// New records.
    pub stored: u64,
    /// Records already stored.
    pub duplicates: u64,
}

struct Inner {
    store: Mutex<Store>,
    state: RwLock<State>,
    reader: Mutex<rusqlite::Connection>,
    thresholds: Thresholds,
    counters: IngestCounters,
}

/// The store and the figures, shared by the ingest loop and the HTTP
/// server. Cheap to clone.
#[derive(Clone)]
pub struct Tracker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Tracker {
    /// Open the database at `db` (creating it) and rebuild the figures by
    /// replaying its events.
    pub fn open(db: &Path, durable: bool, thresholds: Thresholds) -> Result<Tracker, StoreError> {
        let store = Store::open(db, durable)?;
        let mut state = State::new();
        let n = store.replay(|e| state.apply(&e))?;
        tracing::info!(db = %db.display(), events = n, "tracker state rebuilt");
        let reader = store::open_read(db)?;
        Ok(Tracker {
            inner: Arc::new(Inner {
                store: Mutex::new(store),
                state: RwLock::new(state),
                reader: Mutex::new(reader),
                thresholds,
                counters: IngestCounters::default(),
            }),
        })
    }

    /// Store `records` in one transaction, then fold the new ones into the
    /// figures. When this returns `Ok`, they are committed: the deliveries
    /// they came from may be acknowledged. Blocking.
    pub fn ingest(&self, records: &[Record]) -> Result<IngestReport, StoreError> {
        let mut store = lock(&self.inner.store);
        let fresh = store.append(records)?;
        let mut state = self.inner.state.write().unwrap_or_else(|e| e.into_inner());
        let mut rep = IngestReport::default();
        for (r, new) in records.iter().zip(fresh) {
            if new {
                state.apply(&r.event);
                rep.stored += 1;
            } else {
                rep.duplicates += 1;
            }
        }
        let c = &self.inner.counters;
        c.stored.fetch_add(rep.stored, Ordering::Relaxed);
        c.duplicates.fetch_add(rep.duplicates, Ordering::Relaxed);
        c.batches.fetch_add(1, Ordering::Relaxed);
        Ok(rep)
    }

    /// The figures (read lock; keep it short).
    pub fn state(&self) -> RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Overdue thresholds.
    pub fn thresholds(&self) -> &Thresholds {
        &self.inner.thresholds
    }

    /// Every stored event about one document.
    pub fn history(&self, document_id: &str) -> Result<Vec<store::HistoryEntry>, StoreError> {
        store::history(&lock(&self.inner.reader), document_id)
    }

    /// The chain's head.
    pub fn head(&self) -> Head {
        lock(&self.inner.store).head()
    }

    /// Ingest counters.
    pub fn counters(&self) -> &IngestCounters {
        &self.inner.counters
    }
}
