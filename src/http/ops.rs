//! Operations endpoints: liveness, readiness, Prometheus metrics.

use crate::hub::Hub;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Hub>> {
    Router::new().route("/healthz", get(|| async { "ok" })).route("/readyz", get(ready)).route("/metrics", get(metrics))
}

/// Ready while accepting connections; 503 from the moment shutdown begins (while the listener
/// still answers, for `shutdown_drain_ms`), so load balancers move away.
async fn ready(State(hub): State<Arc<Hub>>) -> impl IntoResponse {
    if hub.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else {
        (StatusCode::OK, "ready")
    }
}

async fn metrics(State(hub): State<Arc<Hub>>) -> impl IntoResponse {
    hub.rooms.record_metrics();
    hub.metrics.record_process();
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], hub.metrics.render())
}
