//! The adapter's counters, exposed as Prometheus text on `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the publish-latency histogram, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// Counters updated by the sender and the receiver.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Documents published and confirmed.
    pub documents_sent: AtomicU64,
    /// Documents put in the inbox.
    pub documents_received: AtomicU64,
    /// Redeliveries recognised and not delivered again.
    pub duplicates: AtomicU64,
    /// Documents refused (outbox rejects and incoming refusals).
    pub documents_refused: AtomicU64,
    /// Statuses published.
    pub statuses_sent: AtomicU64,
    /// Statuses received.
    pub statuses_received: AtomicU64,
    /// Messages being handled now.
    pub in_flight: AtomicU64,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

impl Metrics {
    /// Records one publish's latency (from start to the broker's confirm).
    pub fn publish_latency(&self, d: Duration) {
        let s = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// Prometheus text exposition, labelled by agency.
    pub fn render(&self, agency: &str) -> String {
        let mut out = String::new();
        let counters: [(&str, &str, &AtomicU64, &str); 7] = [
            (
                "docaxis_adapter_documents_sent_total",
                "Documents published and confirmed by the axis.",
                &self.documents_sent,
                "counter",
            ),
            (
                "docaxis_adapter_documents_received_total",
                "Documents written to the inbox.",
                &self.documents_received,
                "counter",
            ),
            (
                "docaxis_adapter_duplicates_total",
                "Redelivered messages recognised and not delivered again.",
                &self.duplicates,
                "counter",
            ),
            (
                "docaxis_adapter_documents_refused_total",
                "Documents refused (outbox rejects and incoming refusals).",
                &self.documents_refused,
                "counter",
            ),
            (
                "docaxis_adapter_statuses_sent_total",
                "Status messages published.",
                &self.statuses_sent,
                "counter",
            ),
            (
                "docaxis_adapter_statuses_received_total",
                "Status messages received.",
                &self.statuses_received,
                "counter",
            ),
            (
                "docaxis_adapter_in_flight",
                "Messages being handled now.",
                &self.in_flight,
                "gauge",
            ),
        ];
        for (name, help, v, kind) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            let _ = writeln!(
                out,
                "{name}{{agency=\"{agency}\"}} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let name = "docaxis_adapter_publish_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from publish to the axis's confirmation.\n# TYPE {name} histogram"
        );
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{agency=\"{agency}\",le=\"{b}\"}} {}",
                self.latency_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{{agency=\"{agency}\",le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "{name}_sum{{agency=\"{agency}\"}} {}",
            self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{{agency=\"{agency}\"}} {count}");
        out
    }
}

/// Counts a message as in flight while the guard lives.
pub struct InFlight<'a>(&'a Metrics);

impl<'a> InFlight<'a> {
    /// Starts counting.
    pub fn new(m: &'a Metrics) -> Self {
        m.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(m)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.documents_sent.fetch_add(3, Ordering::Relaxed);
        m.publish_latency(Duration::from_millis(3));
        m.publish_latency(Duration::from_millis(30));
        let text = m.render("000.00.00.G22");
        assert!(text.contains("docaxis_adapter_documents_sent_total{agency=\"000.00.00.G22\"} 3"));
        assert!(text.contains(
            "docaxis_adapter_publish_seconds_bucket{agency=\"000.00.00.G22\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "docaxis_adapter_publish_seconds_bucket{agency=\"000.00.00.G22\",le=\"0.05\"} 2"
        ));
        assert!(text.contains("docaxis_adapter_publish_seconds_count{agency=\"000.00.00.G22\"} 2"));
    }
}
