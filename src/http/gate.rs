//! What every `/api/v1` request passes before its handler, in this order:
//!
//! 1. **Failed-key limit per address**: an address that sent `api_key_failure_burst` wrong keys
//!    (refilled at `api_key_failure_rate` per second) gets 429 with `Retry-After` for *every*
//!    request until then — a right key too, or a guesser would learn the key from the one answer
//!    that is not 429. The address is the client's ([`crate::conn::admission::Admission::client_ip`]:
//!    `X-Forwarded-For` only from `trusted_proxies`).
//! 2. **The API key** (`Authorization: Bearer <key>`), compared in constant time over its full
//!    length: both sides are hashed (SHA-256) and the digests compared with `subtle`, so neither
//!    where they differ nor the key's length shows in the timing. Wrong: 401.
//! 3. **A JSON body**: a request with a body (any `Content-Length` but 0, or chunked) must say
//!    `Content-Type: application/json` (or `application/<x>+json`); anything else — plain text,
//!    forms, multipart, no type — gets 415, as axum's `Json` extractor does.
//! 4. **The body size** (`max_body_bytes`) is enforced where handlers read the body; their 413 is
//!    counted here (`body_size`).
//!
//! Both maps are bounded by `max_tracked_addresses`: idle limiter entries and lapsed blocks are
//! dropped when full, and beyond that a new address is not tracked (it keeps its 401s).

use super::ApiError;
use crate::conn::admission::{keyed_limiter, retry_after_secs, Refusal};
use crate::error::HubError;
use crate::hub::Hub;
use crate::metrics::Tripped;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::DefaultKeyedRateLimiter;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::time::Instant;

/// Failed API-key attempts per address.
pub struct KeyFailures {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses refused until the instant (tokio's clock).
    blocked: DashMap<IpAddr, Instant>,
    max_tracked: usize,
}

impl KeyFailures {
    pub fn new(config: &crate::Config) -> Self {
        KeyFailures {
            limiter: keyed_limiter(config.api_key_failure_rate, config.api_key_failure_burst),
            blocked: DashMap::new(),
            max_tracked: config.max_tracked_addresses.max(1),
        }
    }

    /// How long `address` is still refused, if it is.
    fn blocked_for(&self, address: IpAddr) -> Option<Duration> {
        let until = *self.blocked.get(&address)?;
        let now = Instant::now();
        if until > now {
            return Some(until - now);
        }
        self.blocked.remove_if(&address, |_, until| *until <= now);
        None
    }

    /// Count a wrong key from `address`; `Some(wait)` once it is over its budget.
    fn failed(&self, address: IpAddr) -> Option<Duration> {
        if self.limiter.len() >= self.max_tracked {
            self.limiter.retain_recent();
        }
        let not_until = self.limiter.check_key(&address).err()?;
        let wait = not_until.wait_time_from(DefaultClock::default().now()).max(Duration::from_millis(1));
        if self.blocked.len() >= self.max_tracked {
            let now = Instant::now();
            self.blocked.retain(|_, until| *until > now);
        }
        if self.blocked.len() < self.max_tracked {
            self.blocked.insert(address, Instant::now() + wait);
        }
        Some(wait)
    }
}

/// The `/api/v1` middleware: failed-key limit, API key, JSON content type (see the module).
pub async fn api_gate(State(hub): State<Arc<Hub>>, request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let address = peer.map(|peer| hub.admission.client_ip(peer, request.headers()));
    if let Some(wait) = address.and_then(|a| hub.key_failures.blocked_for(a)) {
        return limited(&hub, wait);
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !keys_match(given.as_bytes(), hub.config.api_key.as_bytes()) {
        if let Some(wait) = address.and_then(|a| hub.key_failures.failed(a)) {
            return limited(&hub, wait);
        }
        return ApiError(HubError::unauthenticated("a valid API key is required")).into_response();
    }
    if has_body(request.method(), request.headers()) && !is_json(request.headers()) {
        hub.metrics.tripped(Tripped::ContentType);
        let error = HubError::invalid("request bodies must be JSON: send `Content-Type: application/json`");
        return super::error_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, error);
    }
    let response = next.run(request).await;
    // Bodies are read (and cut at `max_body_bytes`) inside the handlers: their 413 is counted here.
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        hub.metrics.tripped(Tripped::BodySize);
    }
    response
}

fn limited(hub: &Hub, wait: Duration) -> Response {
    hub.metrics.tripped(Tripped::ApiKeyFailures);
    super::refusal_response(Refusal::Limited { limit: "api_key_failures", retry_after_secs: retry_after_secs(wait) })
}

/// Compare secrets in constant time over their full length: the SHA-256 digests of both (equal
/// length whatever the inputs) compared with `subtle`.
pub fn keys_match(given: &[u8], expected: &[u8]) -> bool {
    let given: [u8; 32] = Sha256::digest(given).into();
    let expected: [u8; 32] = Sha256::digest(expected).into();
    given.ct_eq(&expected).into()
}

/// Whether the request carries a body: a method that takes one, with a `Content-Length` other
/// than 0 or a chunked `Transfer-Encoding`.
fn has_body(method: &Method, headers: &HeaderMap) -> bool {
    if !matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        return false;
    }
    let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).map(str::trim);
    length.is_some_and(|l| l != "0") || headers.contains_key(header::TRANSFER_ENCODING)
}

/// `application/json` or `application/<anything>+json`, with any parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_only_when_equal_whatever_the_lengths() {
        assert!(keys_match(b"secret-key", b"secret-key"));
        for wrong in [&b""[..], b"s", b"secret-ke", b"secret-key ", b"secret-kez", b"Secret-key"] {
            assert!(!keys_match(wrong, b"secret-key"));
        }
    }

    #[test]
    fn json_content_types_are_recognised() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            is_json(&headers)
        };
        assert!(
            with("application/json") && with("Application/JSON; charset=utf-8") && with("application/merge-patch+json")
        );
        assert!(!with("text/plain") && !with("application/x-www-form-urlencoded") && !with("multipart/form-data; b=x"));
        assert!(!with("application/jsonx") && !is_json(&HeaderMap::new()));
    }
}
