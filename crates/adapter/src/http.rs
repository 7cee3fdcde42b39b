//! The loopback HTTP endpoint, for document systems that prefer to POST.
//!
//! - `POST /documents` (body: edXML) → 200 with the DocumentId and who it
//!   was delivered to; 422 with every problem if it is refused; 503 if the
//!   axis did not take it (POST again: it is idempotent per DocumentId).
//! - `POST /statuses` (body: JSON status request) → 200, 422 or 503.
//! - `GET /sent?document_id=...` → the sent record with statuses heard.
//! - `GET /health`, `GET /metrics` (Prometheus).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::watch;

use crate::adapter::{Adapter, StatusRequest, SubmitError};

/// Serves until `stop` turns true.
pub async fn serve(
    adapter: Arc<Adapter>,
    listener: tokio::net::TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/documents", post(post_document))
        .route("/statuses", post(post_status))
        .route("/sent", get(sent))
        .with_state(adapter);
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, "HTTP endpoint failed");
    }
}

async fn health(State(a): State<Arc<Adapter>>) -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "agency": a.organ_id().as_str() }))
}

async fn metrics(State(a): State<Arc<Adapter>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        a.metrics.render(a.organ_id().as_str()),
    )
        .into_response()
}

fn submit_error(e: SubmitError) -> Response {
    match e {
        SubmitError::Invalid(problems) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "outcome": "refused", "problems": problems })),
        )
            .into_response(),
        other => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "outcome": "retry", "error": other.to_string() })),
        )
            .into_response(),
    }
}

async fn post_document(State(a): State<Arc<Adapter>>, body: Bytes) -> Response {
    match a.submit(&body, "http").await {
        Ok(outcome) => Json(json!({ "outcome": "sent", "result": outcome })).into_response(),
        Err(e) => submit_error(e),
    }
}

async fn post_status(State(a): State<Arc<Adapter>>, body: Bytes) -> Response {
    let req: StatusRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return submit_error(SubmitError::Invalid(vec![format!(
                "not a status request: {e}"
            )]))
        }
    };
    match a.send_status(&req).await {
        Ok(()) => Json(json!({ "outcome": "sent" })).into_response(),
        Err(e) => submit_error(e),
    }
}

async fn sent(State(a): State<Arc<Adapter>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(id) = q.get("document_id") else {
        return (StatusCode::BAD_REQUEST, "add ?document_id=...").into_response();
    };
    match a.sent_record(id) {
        Ok(Some(r)) => Json(r).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "not sent by this agency" })),
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
