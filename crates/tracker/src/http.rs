//! The HTTP side: JSON API (`docs/tracker-api.yaml`), Prometheus `/metrics`
//! and the dashboard (one static page embedded in the binary).

use std::fmt::Write as _;
use std::future::Future;

use axum::extract::{Path, Query, State as AxState};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::state::{Filter, Granularity, Ts};
use crate::{store, Tracker};

/// The dashboard page (HTML, CSS and JS in one file, no build step).
pub const DASHBOARD_HTML: &str = include_str!("dashboard.html");

/// Query parameters shared by the endpoints.
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    /// Period start: Unix seconds, `YYYY-MM-DD` (Vietnam day) or RFC 3339.
    pub from: Option<String>,
    /// Period end (exclusive instant; a date means the end of that day).
    pub to: Option<String>,
    /// Sending agency.
    pub sender: Option<String>,
    /// Receiving agency.
    pub recipient: Option<String>,
    /// Either side.
    pub agency: Option<String>,
    /// `hour` or `day`.
    pub granularity: Option<String>,
    /// Most items.
    pub limit: Option<usize>,
    /// Overdue reference time (same forms as `from`); default now.
    pub now: Option<String>,
    /// Document id (for `/document`) or search text (for `/documents`).
    pub id: Option<String>,
    /// Search text.
    pub q: Option<String>,
    /// Least deliveries for `/slowest`.
    pub min: Option<u64>,
}

/// A bad request.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

/// Parse a time: Unix seconds, `YYYY-MM-DD` (start of that day in Vietnam,
/// or its end with `end_of_day`), or RFC 3339.
pub fn parse_time(s: &str, end_of_day: bool) -> Option<Ts> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    if s.len() == 10 {
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        let d = time::Date::parse(s, &fmt).ok()?;
        let t = d
            .midnight()
            .assume_offset(time::macros::offset!(+7))
            .unix_timestamp();
        return Some(if end_of_day { t + 86400 } else { t });
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

impl Params {
    /// The filter these parameters describe.
    pub fn filter(&self) -> Result<Filter, ApiError> {
        let t = |v: &Option<String>, end: bool, what: &str| -> Result<Option<Ts>, ApiError> {
            v.as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| {
                    parse_time(s, end).ok_or_else(|| {
                        bad(format!(
                            "{what}: {s:?} is not a time (Unix seconds, YYYY-MM-DD or RFC 3339)"
                        ))
                    })
                })
                .transpose()
        };
        let s = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        Ok(Filter {
            from: t(&self.from, false, "from")?,
            to: t(&self.to, true, "to")?,
            sender: s(&self.sender),
            recipient: s(&self.recipient),
            agency: s(&self.agency),
        })
    }

    fn now(&self) -> Result<Ts, ApiError> {
        match self.now.as_deref().filter(|s| !s.is_empty()) {
            None => Ok(store::now()),
            Some(s) => parse_time(s, false).ok_or_else(|| bad(format!("now: {s:?} is not a time"))),
        }
    }

    fn limit(&self, default: usize) -> usize {
        self.limit.unwrap_or(default).clamp(1, 10_000)
    }
}

/// Every path the router serves, as written in `docs/tracker-api.yaml`.
pub const PATHS: &[&str] = &[
    "/",
    "/metrics",
    "/api/v1/health",
    "/api/v1/totals",
    "/api/v1/agencies",
    "/api/v1/agencies/{id}",
    "/api/v1/pairs",
    "/api/v1/heatmap",
    "/api/v1/series",
    "/api/v1/overdue",
    "/api/v1/slowest",
    "/api/v1/documents",
    "/api/v1/document",
    "/api/v1/audit/head",
];

/// The router: API, metrics, dashboard.
pub fn router(tracker: Tracker) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/metrics", get(metrics))
        .route("/api/v1/health", get(health))
        .route("/api/v1/totals", get(totals))
        .route("/api/v1/agencies", get(agencies))
        .route("/api/v1/agencies/{id}", get(agency))
        .route("/api/v1/pairs", get(pairs))
        .route("/api/v1/heatmap", get(heatmap))
        .route("/api/v1/series", get(series))
        .route("/api/v1/overdue", get(overdue))
        .route("/api/v1/slowest", get(slowest))
        .route("/api/v1/documents", get(documents))
        .route("/api/v1/document", get(document))
        .route("/api/v1/audit/head", get(audit_head))
        .with_state(tracker)
}

/// Serve `router(tracker)` on `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tracker: Tracker,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(tracker))
        .with_graceful_shutdown(shutdown)
        .await
}

type T = AxState<Tracker>;
type Q = Query<Params>;

async fn dashboard() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        DASHBOARD_HTML,
    )
}

async fn health(AxState(t): T) -> Json<serde_json::Value> {
    let c = t.state().counters();
    Json(json!({ "ok": true, "events": c.events, "head": t.head() }))
}

/// `/api/v1/totals`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Totals {
    /// The filter applied.
    pub filter: Filter,
    /// The figures.
    pub figures: crate::state::Figures,
    /// Filter-independent counters.
    pub counters: crate::state::Counters,
    /// Overdue deliveries now (within the filter).
    pub overdue: u64,
}

async fn totals(AxState(t): T, Query(p): Q) -> Result<Json<Totals>, ApiError> {
    let f = p.filter()?;
    let now = p.now()?;
    let s = t.state();
    let (_, overdue) = s.overdue(now, t.thresholds(), &f, 0);
    Ok(Json(Totals {
        figures: s.figures(&f),
        counters: s.counters(),
        overdue,
        filter: f,
    }))
}

async fn agencies(AxState(t): T, Query(p): Q) -> Result<Response, ApiError> {
    let f = p.filter()?;
    let mut v = t.state().agencies(&f);
    v.truncate(p.limit(10_000));
    Ok(Json(v).into_response())
}

async fn agency(AxState(t): T, Path(id): Path<String>, Query(p): Q) -> Result<Response, ApiError> {
    let mut f = p.filter()?;
    f.agency = Some(id.clone());
    let v = t.state().agencies(&f);
    match v.into_iter().find(|a| a.agency == id) {
        Some(a) => Ok(Json(a).into_response()),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no agency {id:?} seen"),
        )),
    }
}

async fn pairs(AxState(t): T, Query(p): Q) -> Result<Response, ApiError> {
    let f = p.filter()?;
    let v = t.state().top_pairs(&f, p.limit(1000));
    Ok(Json(v).into_response())
}

async fn heatmap(AxState(t): T, Query(p): Q) -> Result<Response, ApiError> {
    let f = p.filter()?;
    Ok(Json(t.state().heatmap(&f, p.limit(15).min(60))).into_response())
}

async fn series(AxState(t): T, Query(p): Q) -> Result<Response, ApiError> {
    let f = p.filter()?;
    let g = match p.granularity.as_deref().unwrap_or("day") {
        "day" => Granularity::Day,
        "hour" => Granularity::Hour,
        other => return Err(bad(format!("granularity: {other:?} is not hour or day"))),
    };
    Ok(Json(t.state().series(&f, g)).into_response())
}

async fn overdue(AxState(t): T, Query(p): Q) -> Result<Response, ApiError> {
    let f = p.filter()?;
    let now = p.now()?;
    let (items, total) = t.state().overdue(now, t.thresholds(), &f, p.limit(100));
    Ok(
        Json(json!({ "now": now, "total": total, "thresholds": t.thresholds().0, "items": items }))
            .into_response(),
    )
}

async fn slowest(AxState(t): T, Query(p): Q) -> Result<Response, ApiError> {
    let f = p.filter()?;
    Ok(Json(t.state().slowest(&f, p.min.unwrap_or(1), p.limit(10))).into_response())
}

async fn documents(AxState(t): T, Query(p): Q) -> Result<Response, ApiError> {
    let q = p.q.clone().or(p.id.clone()).unwrap_or_default();
    if q.trim().is_empty() {
        return Err(bad("q: give part of a DocumentId"));
    }
    Ok(Json(t.state().search(q.trim(), p.limit(20))).into_response())
}

async fn document(AxState(t): T, Query(p): Q) -> Result<Response, ApiError> {
    let Some(id) = p.id.clone().filter(|s| !s.trim().is_empty()) else {
        return Err(bad("id: the DocumentId is required"));
    };
    let id = id.trim().to_string();
    let now = p.now()?;
    let view = t.state().document(&id, now, t.thresholds());
    let Some(view) = view else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no document {id:?}"),
        ));
    };
    let t2 = t.clone();
    let id2 = id.clone();
    let events = tokio::task::spawn_blocking(move || t2.history(&id2))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(json!({ "document": view, "events": events })).into_response())
}

async fn audit_head(AxState(t): T) -> Json<store::Head> {
    Json(t.head())
}

pub use crate::rollup::LATENCY_BUCKETS;
use crate::rollup::{AgencyMetrics, Hist};

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The Prometheus text exposition of `tracker`.
pub fn render_metrics(tracker: &Tracker) -> String {
    // The per-agency figures are maintained at ingest (crate::rollup):
    // rendering is proportional to the number of agencies, not of
    // deliveries.
    let (per, counters, overdue) = {
        let s = tracker.state();
        let per: Vec<(String, AgencyMetrics)> = s
            .agency_metrics()
            .into_iter()
            .map(|(a, m)| (a.to_string(), m))
            .collect();
        let (_, overdue) = s.overdue(store::now(), tracker.thresholds(), &Filter::default(), 0);
        (per, s.counters(), overdue)
    };
    let mut o = String::with_capacity(4096 + per.len() * 2048);
    let counter = |o: &mut String, name: &str, help: &str, get: &dyn Fn(&AgencyMetrics) -> u64| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter");
        for (a, m) in &per {
            let _ = writeln!(o, "{name}{{agency=\"{}\"}} {}", esc(a), get(m));
        }
    };
    counter(
        &mut o,
        "docaxis_tracker_deliveries_sent_total",
        "Deliveries of documents the agency sent (document x recipient).",
        &|m| m.sent,
    );
    counter(
        &mut o,
        "docaxis_tracker_deliveries_expected_total",
        "Deliveries addressed to the agency.",
        &|m| m.expected,
    );
    counter(
        &mut o,
        "docaxis_tracker_deliveries_arrived_total",
        "Deliveries to the agency that arrived (status 01 or later).",
        &|m| m.arrived,
    );
    counter(
        &mut o,
        "docaxis_tracker_deliveries_accepted_total",
        "Deliveries the agency accepted (03).",
        &|m| m.accepted,
    );
    counter(
        &mut o,
        "docaxis_tracker_deliveries_refused_total",
        "Deliveries the agency refused (02).",
        &|m| m.refused,
    );
    counter(
        &mut o,
        "docaxis_tracker_deliveries_completed_total",
        "Deliveries the agency completed (06).",
        &|m| m.completed,
    );
    counter(
        &mut o,
        "docaxis_tracker_deliveries_recalled_total",
        "Deliveries to the agency recalled by their sender (13).",
        &|m| m.recalled,
    );
    let hist = |o: &mut String, name: &str, help: &str, get: &dyn Fn(&AgencyMetrics) -> &Hist| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (a, m) in &per {
            let h = get(m);
            let a = esc(a);
            let mut cum = 0;
            for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
                cum += h.buckets[i];
                let _ = writeln!(o, "{name}_bucket{{agency=\"{a}\",le=\"{b}\"}} {cum}");
            }
            let _ = writeln!(o, "{name}_bucket{{agency=\"{a}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(o, "{name}_sum{{agency=\"{a}\"}} {}", h.sum);
            let _ = writeln!(o, "{name}_count{{agency=\"{a}\"}} {}", h.count);
        }
    };
    hist(
        &mut o,
        "docaxis_tracker_time_to_arrival_seconds",
        "Time from sending to arrival (01) of deliveries to the agency.",
        &|m| &m.arrival,
    );
    hist(
        &mut o,
        "docaxis_tracker_time_to_acceptance_seconds",
        "Time from sending to acceptance (03) of deliveries to the agency.",
        &|m| &m.acceptance,
    );
    let c = tracker.counters();
    let ld = std::sync::atomic::Ordering::Relaxed;
    let head = tracker.head();
    let _ = write!(
        o,
        "# HELP docaxis_tracker_overdue_deliveries Deliveries past their overdue threshold without arrival.\n\
         # TYPE docaxis_tracker_overdue_deliveries gauge\n\
         docaxis_tracker_overdue_deliveries {overdue}\n\
         # HELP docaxis_tracker_events Events in the log.\n\
         # TYPE docaxis_tracker_events gauge\n\
         docaxis_tracker_events {}\n\
         # HELP docaxis_tracker_chain_head_seq Sequence number of the hash chain's last record.\n\
         # TYPE docaxis_tracker_chain_head_seq gauge\n\
         docaxis_tracker_chain_head_seq {}\n\
         # HELP docaxis_tracker_ingested_total Records stored since start.\n\
         # TYPE docaxis_tracker_ingested_total counter\n\
         docaxis_tracker_ingested_total {}\n\
         # HELP docaxis_tracker_duplicates_total Redelivered records recognised since start.\n\
         # TYPE docaxis_tracker_duplicates_total counter\n\
         docaxis_tracker_duplicates_total {}\n\
         # HELP docaxis_tracker_undecodable_total Tap deliveries refused as not edXML since start.\n\
         # TYPE docaxis_tracker_undecodable_total counter\n\
         docaxis_tracker_undecodable_total {}\n",
        counters.events,
        head.seq,
        c.stored.load(ld),
        c.duplicates.load(ld),
        c.undecodable.load(ld),
    );
    o
}

async fn metrics(AxState(t): T) -> impl IntoResponse {
    let body = tokio::task::spawn_blocking(move || render_metrics(&t))
        .await
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
