//! The HTTP side of the hub's one port: the router, API-key auth, and JSON error bodies — also for
//! unknown paths (404 `not_found`) and methods a path does not have (405 `invalid`).
//!
//! - `gate.rs`: what every `/api/v1` request passes first — failed-key limit, API key, JSON body;
//! - `ops.rs`: `/healthz`, `/readyz`, `/metrics`;
//! - `rooms_api.rs`: backends schedule rooms and publish orders and activity into them;
//! - `partner_api.rs`: Creator Partner Access for backends (requests, decisions, grants, audit);
//! - `commerce_api.rs`: product sets, flash sales and their claims;
//! - `live_ops_api.rs`: account health, and the moderation and scheduling twins.

mod commerce_api;
pub mod gate;
mod live_ops_api;
mod ops;
mod partner_api;
mod rooms_api;

use crate::error::HubError;
use crate::hub::Hub;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use stagehand_protocol::ErrorCode;
use std::sync::Arc;

pub fn router(hub: Arc<Hub>) -> Router {
    let api = rooms_api::routes()
        .merge(partner_api::routes())
        .merge(commerce_api::routes())
        .merge(live_ops_api::routes())
        .layer(middleware::from_fn_with_state(hub.clone(), gate::api_gate))
        .layer(DefaultBodyLimit::max(hub.config.max_body_bytes));
    Router::new()
        .route("/ws", get(crate::conn::upgrade::handler))
        .merge(ops::routes())
        .nest("/api/v1", api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(hub.clone(), count_errors))
        .with_state(hub)
}

/// The error code of an error response, for [`count_errors`].
#[derive(Debug, Clone, Copy)]
struct ErrorReply(ErrorCode);

/// Count every error the hub answers over HTTP by its code (`stagehand_errors_total`), whichever
/// layer or handler gave it, as the WebSocket side counts its error replies.
async fn count_errors(
    State(hub): State<Arc<Hub>>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    let response = next.run(request).await;
    if let Some(ErrorReply(code)) = response.extensions().get::<ErrorReply>() {
        hub.metrics.error(*code);
    }
    response
}

/// Any path the hub does not serve.
async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError(HubError::not_found(format!("no route {}", uri.path())))
}

/// A path the hub serves, with a method it does not take there.
async fn method_not_allowed(method: axum::http::Method) -> Response {
    error_response(StatusCode::METHOD_NOT_ALLOWED, HubError::invalid(format!("{method} is not allowed here")))
}

/// An error as an HTTP response with `status`: body `{"error": {...}}`, counted by its code.
pub fn error_response(status: StatusCode, error: HubError) -> Response {
    let code = error.code;
    let mut response = (status, Json(serde_json::json!({ "error": error.body() }))).into_response();
    response.extensions_mut().insert(ErrorReply(code));
    response
}

/// An admission refusal as an HTTP response: 403 `forbidden`, or 429 `rate_limited` with
/// `Retry-After`.
pub fn refusal_response(refusal: crate::conn::admission::Refusal) -> Response {
    use crate::conn::admission::Refusal;
    match refusal {
        Refusal::Origin(message) => ApiError(HubError::forbidden(message)).into_response(),
        Refusal::Limited { limit, retry_after_secs } => {
            let error = HubError::rate_limited(limit, retry_after_secs.saturating_mul(1000));
            let mut response = ApiError(error).into_response();
            response.headers_mut().insert(header::RETRY_AFTER, retry_after_secs.into());
            response
        }
    }
}

/// A [`HubError`] as an HTTP response: status by code, body `{"error": {...}}`.
pub struct ApiError(pub HubError);

impl From<HubError> for ApiError {
    fn from(error: HubError) -> Self {
        ApiError(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self.0.code {
            ErrorCode::Invalid => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden | ErrorCode::Muted => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict | ErrorCode::NotLive | ErrorCode::SoldOut | ErrorCode::LimitReached => {
                StatusCode::CONFLICT
            }
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        error_response(status, self.0)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Decode a JSON request body with the protocol's error codes (instead of axum's plain text).
pub fn json_body<T: DeserializeOwned>(
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<T> {
    let bytes = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            HubError::new(ErrorCode::TooLarge, "the body is over the hub's limit (max_body_bytes)")
        }
        _ => HubError::invalid(rejection.body_text()),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError(HubError::invalid(e.to_string())))
}
