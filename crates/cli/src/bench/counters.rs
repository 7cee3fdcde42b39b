//! How many messages the broker handled for the bench, from the broker's
//! own counters: the per-object metrics of the `rabbitmq_prometheus` plugin
//! (`/metrics/detailed`), which are RabbitMQ's core metrics (what the
//! management UI shows), per channel × exchange × queue.
//!
//! Those counters live as long as their channel: a channel that closes
//! takes its counts with it. So the bench scrapes every few seconds and
//! keeps, per series, the first and the last value it saw; a series born
//! during the pass counts from zero. The adapters and the tracker keep
//! their channels open for the whole run, so nothing is lost in practice;
//! at worst the counts of a channel between its last scrape and its closing
//! would be.
//!
//! `rabbitmqctl list_queues` has no cumulative counters, and the
//! management plugin is not enabled on every broker; the Prometheus plugin
//! is light (one HTTP listener on port 15692) and is enabled, online, by
//! `rabbitmq-plugins enable rabbitmq_prometheus` — which the bench does if
//! the endpoint does not answer, and says so.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;

use super::http;

const FAMILIES: &str = "/metrics/detailed?family=channel_exchange_metrics\
                        &family=channel_queue_exchange_metrics&family=channel_queue_metrics";

/// The broker's Prometheus endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `host:port`.
    pub host: String,
}

impl Endpoint {
    /// The endpoint at `host`; if it does not answer and the broker runs on
    /// this machine, enables the plugin (printing that it does so).
    pub fn ensure(host: &str) -> anyhow::Result<Endpoint> {
        let e = Endpoint {
            host: host.to_owned(),
        };
        if e.scrape().is_ok() {
            return Ok(e);
        }
        eprintln!(
            "bench: the broker's counters are read from the rabbitmq_prometheus plugin, \
             which does not answer at http://{host}; enabling it: rabbitmq-plugins enable rabbitmq_prometheus"
        );
        let out = Command::new("rabbitmq-plugins")
            .args(["enable", "rabbitmq_prometheus"])
            .output();
        let hint = "enable it on the broker (rabbitmq-plugins enable rabbitmq_prometheus), \
                    or give its address with --prometheus HOST:PORT";
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => bail!(
                "rabbitmq-plugins enable rabbitmq_prometheus failed: {}{}; {hint}",
                String::from_utf8_lossy(&o.stdout).trim(),
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(err) => bail!("cannot run rabbitmq-plugins ({err}); {hint}"),
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match e.scrape() {
                Ok(_) => return Ok(e),
                Err(err) if Instant::now() > deadline => {
                    return Err(err.context(format!(
                        "the plugin is enabled but {host} does not answer; {hint}"
                    )))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }

    /// The current value of every per-channel series.
    pub fn scrape(&self) -> anyhow::Result<Vec<Series>> {
        let body = http::get(&self.host, FAMILIES, Duration::from_secs(10))
            .context("reading the broker's counters")?;
        Ok(parse(&body))
    }
}

/// One Prometheus sample: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Metric name without the `rabbitmq_detailed_` prefix.
    pub name: String,
    /// Labels, as written.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

impl Series {
    fn label(&self, k: &str) -> &str {
        self.labels
            .iter()
            .find(|(n, _)| n == k)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The virtual host of the series: its queue's, else its exchange's,
    /// else its channel's.
    fn vhost(&self) -> &str {
        ["queue_vhost", "exchange_vhost", "vhost"]
            .iter()
            .map(|k| self.label(k))
            .find(|v| !v.is_empty())
            .unwrap_or("")
    }

    fn key(&self) -> String {
        let mut k = self.name.clone();
        for (n, v) in &self.labels {
            k.push_str(&format!(",{n}={v}"));
        }
        k
    }
}

/// The Prometheus text format, the per-channel series of the families
/// asked for (comments and other metrics skipped).
fn parse(body: &str) -> Vec<Series> {
    body.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("rabbitmq_detailed_")?;
            let (name, rest) = rest.split_once('{')?;
            let (labels, value) = rest.rsplit_once('}')?;
            let value: f64 = value.trim().parse().ok()?;
            let mut out = Vec::new();
            let mut s = labels;
            // key="value" pairs; values may hold escaped quotes.
            while let Some((k, v)) = s.split_once("=\"") {
                let mut end = 0;
                let bytes = v.as_bytes();
                while end < bytes.len()
                    && !(bytes[end] == b'"' && (end == 0 || bytes[end - 1] != b'\\'))
                {
                    end += 1;
                }
                out.push((
                    k.trim_start_matches(',').trim().to_owned(),
                    v[..end].replace("\\\"", "\""),
                ));
                s = v.get(end + 1..).unwrap_or("");
            }
            Some(Series {
                name: name.to_owned(),
                labels: out,
                value,
            })
        })
        .collect()
}

/// Counters over a window: per series, the first and the last value seen.
#[derive(Debug)]
pub struct Window {
    endpoint: Endpoint,
    first: HashMap<String, f64>,
    last: HashMap<String, Series>,
}

impl Window {
    /// Opens a window at the counters' current values.
    pub fn open(endpoint: &Endpoint) -> anyhow::Result<Window> {
        let mut w = Window {
            endpoint: endpoint.clone(),
            first: HashMap::new(),
            last: HashMap::new(),
        };
        for s in endpoint.scrape()? {
            w.first.insert(s.key(), s.value);
            w.last.insert(s.key(), s);
        }
        Ok(w)
    }

    /// Takes another reading (every few seconds, and at the end).
    pub fn update(&mut self) -> anyhow::Result<()> {
        for s in self.endpoint.scrape()? {
            self.first.entry(s.key()).or_insert(0.0);
            self.last.insert(s.key(), s);
        }
        Ok(())
    }

    /// What happened in `vhost` (topology prefix `prefix`), and in the
    /// other virtual hosts, since the window opened.
    pub fn counts(&self, vhost: &str, prefix: &str) -> BrokerCounts {
        let mut c = BrokerCounts::default();
        let tap = format!("{prefix}.tap");
        let documents = format!("{prefix}.documents");
        let statuses = format!("{prefix}.statuses");
        for (key, s) in &self.last {
            let delta = (s.value - self.first.get(key).copied().unwrap_or(0.0)).max(0.0) as u64;
            if delta == 0 {
                continue;
            }
            if s.vhost() != vhost {
                if s.name == "channel_messages_published_total" {
                    c.other_vhosts_published += delta;
                }
                continue;
            }
            match s.name.as_str() {
                "channel_messages_published_total" => c.published += delta,
                "channel_messages_confirmed_total" => c.confirmed += delta,
                "channel_messages_unroutable_returned_total"
                | "channel_messages_unroutable_dropped_total" => c.unroutable += delta,
                "queue_messages_published_total" => {
                    let (q, x) = (s.label("queue"), s.label("exchange"));
                    if q == tap {
                        c.enqueued_tap += delta;
                    } else if x == documents {
                        c.enqueued_documents += delta;
                    } else if x == statuses {
                        c.enqueued_statuses += delta;
                    } else {
                        c.enqueued_other += delta;
                    }
                }
                "channel_messages_delivered_ack_total"
                | "channel_messages_delivered_total"
                | "channel_get_ack_total"
                | "channel_get_total" => c.delivered += delta,
                "channel_messages_redelivered_total" => c.redelivered += delta,
                "channel_messages_acked_total" => c.acked += delta,
                _ => {}
            }
        }
        c.enqueued = c.enqueued_documents + c.enqueued_statuses + c.enqueued_tap + c.enqueued_other;
        c
    }
}

/// Messages the broker handled, from its counters.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct BrokerCounts {
    /// Messages published by clients (one per recipient of a document, one
    /// per status).
    pub published: u64,
    /// Of those, confirmed to the publisher.
    pub confirmed: u64,
    /// Returned or dropped as unroutable.
    pub unroutable: u64,
    /// Copies stored in queues (each a quorum-queue write): the sum of the
    /// four below.
    pub enqueued: u64,
    /// Documents into recipients' inboxes.
    pub enqueued_documents: u64,
    /// Statuses into senders' inboxes.
    pub enqueued_statuses: u64,
    /// Copies into the tracker's tap.
    pub enqueued_tap: u64,
    /// Anything else (dead letters).
    pub enqueued_other: u64,
    /// Deliveries to consumers.
    pub delivered: u64,
    /// Of those, redeliveries.
    pub redelivered: u64,
    /// Acknowledgements received.
    pub acked: u64,
    /// Messages published in the broker's other virtual hosts meanwhile
    /// (the broker is shared: its CPU time includes their work).
    pub other_vhosts_published: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"# TYPE rabbitmq_detailed_channel_messages_published_total counter
rabbitmq_detailed_channel_messages_published_total{channel="<0.1.0>",vhost="v",exchange="docaxis.documents"} 6
rabbitmq_detailed_channel_messages_published_total{channel="<0.2.0>",vhost="other",exchange=""} 100
rabbitmq_detailed_queue_messages_published_total{channel="<0.1.0>",queue_vhost="v",queue="docaxis.in.A",exchange_vhost="v",exchange="docaxis.documents"} 6
rabbitmq_detailed_queue_messages_published_total{channel="<0.1.0>",queue_vhost="v",queue="docaxis.tap",exchange_vhost="v",exchange="docaxis.documents"} 6
rabbitmq_detailed_queue_messages_published_total{channel="<0.3.0>",queue_vhost="v",queue="docaxis.in.B",exchange_vhost="v",exchange="docaxis.statuses"} 2
rabbitmq_detailed_channel_messages_delivered_ack_total{channel="<0.4.0>",vhost="v",queue="docaxis.in.A"} 6
rabbitmq_build_info{rabbitmq_version="3.10.8"} 1
"#;

    #[test]
    fn series_are_parsed_with_their_labels() {
        let s = parse(SAMPLE);
        assert_eq!(s.len(), 6);
        assert_eq!(s[0].name, "channel_messages_published_total");
        assert_eq!(s[0].label("exchange"), "docaxis.documents");
        assert_eq!(s[0].vhost(), "v");
        assert_eq!(s[2].vhost(), "v");
        assert_eq!(s[2].label("queue"), "docaxis.in.A");
        assert_eq!(s[2].value, 6.0);
        let escaped = parse("rabbitmq_detailed_x_total{queue=\"a\\\"b\",vhost=\"v\"} 3\n");
        assert_eq!(escaped[0].label("queue"), "a\"b");
        assert_eq!(escaped[0].vhost(), "v");
    }

    #[test]
    fn counts_are_deltas_per_series_and_new_series_count_from_zero() {
        let mut w = Window {
            endpoint: Endpoint {
                host: String::new(),
            },
            first: HashMap::new(),
            last: HashMap::new(),
        };
        // Opened with the published counter at 2; the others appear later.
        let all = parse(SAMPLE);
        let mut opened = all[0].clone();
        opened.value = 2.0;
        w.first.insert(opened.key(), 2.0);
        for s in all {
            w.first.entry(s.key()).or_insert(0.0);
            w.last.insert(s.key(), s);
        }
        let c = w.counts("v", "docaxis");
        assert_eq!(c.published, 4);
        assert_eq!(c.enqueued_documents, 6);
        assert_eq!(c.enqueued_tap, 6);
        assert_eq!(c.enqueued_statuses, 2);
        assert_eq!(c.enqueued, 14);
        assert_eq!(c.delivered, 6);
        assert_eq!(c.other_vhosts_published, 100);
    }
}
