//! Per-agency delivery counters and latency histograms (the figures of
//! `/metrics`), kept up to date event by event instead of recounted at
//! each scrape.
//!
//! # How they stay exact
//!
//! A delivery's contribution ([`Contribution`]) is a pure function of the
//! delivery and its document (sent or not, arrived or not, latencies...).
//! When an event changes a delivery, [`crate::state::State::apply`] takes
//! its contribution out, applies the event, and puts the new contribution
//! in; counters and histogram buckets are sums, so taking out is
//! subtracting. The totals are therefore always the sum over the current
//! deliveries, whatever the order of the events, exactly what a recount
//! gives ([`crate::state::State::recount_agency_metrics`], compared in the
//! tests).
//!
//! They live in memory, beside the figures they summarise: the event log
//! stays the only stored truth, and opening the tracker replays it, which
//! rebuilds these as well (no second stored copy that could drift from the
//! audited log).

/// Histogram bucket bounds (seconds) of the latency histograms.
pub const LATENCY_BUCKETS: [i64; 11] = [
    60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800,
];

/// A Prometheus histogram with the fixed [`LATENCY_BUCKETS`] (not
/// cumulative here; the exporter accumulates).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hist {
    /// Samples per bucket (`v <= LATENCY_BUCKETS[i]`, above the previous).
    pub buckets: [u64; LATENCY_BUCKETS.len()],
    /// Every sample, including those above the last bound.
    pub count: u64,
    /// Sum of the samples.
    pub sum: i64,
}

impl Hist {
    /// Add (`sign` 1) or take out (`sign` -1) one sample.
    fn observe(&mut self, v: i64, sign: i64) {
        let add = |x: &mut u64| *x = x.wrapping_add_signed(sign);
        add(&mut self.count);
        self.sum += sign * v;
        if let Some(i) = LATENCY_BUCKETS.iter().position(|&b| v <= b) {
            add(&mut self.buckets[i]);
        }
    }
}

/// The `/metrics` figures of one agency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgencyMetrics {
    /// Deliveries of the documents it sent.
    pub sent: u64,
    /// Deliveries addressed to it.
    pub expected: u64,
    /// Of those, arrived.
    pub arrived: u64,
    /// Accepted (03).
    pub accepted: u64,
    /// Refused (02).
    pub refused: u64,
    /// Completed (06).
    pub completed: u64,
    /// Recalled by their sender (13).
    pub recalled: u64,
    /// Time to arrival of its deliveries.
    pub arrival: Hist,
    /// Time to acceptance of its deliveries.
    pub acceptance: Hist,
}

/// What one expected delivery of a seen document adds to the rollups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contribution {
    /// Sending agency (interned).
    pub sender: u32,
    /// Receiving agency (interned).
    pub recipient: u32,
    /// Seconds from sending to arrival.
    pub time_to_arrival: Option<i64>,
    /// Seconds from sending to acceptance.
    pub time_to_acceptance: Option<i64>,
    /// Refused (02).
    pub refused: bool,
    /// Completed (06).
    pub completed: bool,
    /// Recalled (13).
    pub recalled: bool,
}

/// The per-agency rollup, indexed by interned agency id.
#[derive(Debug, Clone, Default)]
pub struct Rollups {
    agencies: Vec<AgencyMetrics>,
}

impl Rollups {
    fn at(&mut self, agency: u32) -> &mut AgencyMetrics {
        let i = agency as usize;
        if self.agencies.len() <= i {
            self.agencies.resize(i + 1, AgencyMetrics::default());
        }
        &mut self.agencies[i]
    }

    /// Add (`sign` 1) or take out (`sign` -1) one delivery.
    pub fn apply(&mut self, c: &Contribution, sign: i64) {
        let add = |x: &mut u64, on: bool| {
            if on {
                *x = x.wrapping_add_signed(sign);
            }
        };
        add(&mut self.at(c.sender).sent, true);
        let m = self.at(c.recipient);
        add(&mut m.expected, true);
        if let Some(t) = c.time_to_arrival {
            add(&mut m.arrived, true);
            m.arrival.observe(t, sign);
        }
        if let Some(t) = c.time_to_acceptance {
            add(&mut m.accepted, true);
            m.acceptance.observe(t, sign);
        }
        add(&mut m.refused, c.refused);
        add(&mut m.completed, c.completed);
        add(&mut m.recalled, c.recalled);
    }

    /// The figures of agency `i` (zero if it never had a delivery).
    pub fn get(&self, agency: u32) -> AgencyMetrics {
        self.agencies
            .get(agency as usize)
            .copied()
            .unwrap_or_default()
    }
}
