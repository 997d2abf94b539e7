//! `GET /ws`: the WebSocket handshake (RFC 6455 §4.2). Checks the request, picks the wire format
//! from `Sec-WebSocket-Protocol`, reads an optional `Authorization: Bearer` token, takes a
//! connection slot, answers 101, and hands the raw socket to [`super::serve`] once hyper lets go
//! of it.

use crate::hub::Hub;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use stagehand_protocol::Wire;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

pub async fn handler(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    let key = match handshake_key(request.method(), request.headers()) {
        Ok(key) => key,
        Err(why) => return (StatusCode::BAD_REQUEST, why).into_response(),
    };
    let Some(on_upgrade) = request.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        return (StatusCode::UPGRADE_REQUIRED, "this connection cannot be upgraded").into_response();
    };
    let headers = request.headers();
    if hub.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    if let Err(refusal) = hub.admission.at_upgrade(&hub.metrics, peer, headers) {
        return crate::http::refusal_response(refusal);
    }
    let Ok(permit) = hub.connection_slots.clone().try_acquire_owned() else {
        hub.metrics.tripped(crate::metrics::Tripped::MaxConnections);
        return (StatusCode::SERVICE_UNAVAILABLE, "at the connection limit").into_response();
    };
    let wire = choose_wire(headers);
    let offered_ours = offered(headers).any(|p| p == wire.subprotocol());
    let preauth = bearer_token(headers).map(|token| hub.keys.verify(token, hub.config.clock.now_ms()));
    if let Some(refusal) =
        preauth.as_ref().and_then(|p| p.as_ref().ok()).and_then(|id| hub.admission.user_refusal(&hub.metrics, id))
    {
        return crate::http::refusal_response(refusal);
    }
    let hub = hub.clone();
    let tasks = hub.tasks.clone();
    tasks.spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => return tracing::debug!(%error, "upgrade failed"),
        };
        // The connection gets its own task: this one's state (the pending upgrade) ends here
        // instead of staying beside the session's for the life of the connection.
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => drop(hub.tasks.spawn(super::serve(
                parts.io.into_inner(),
                parts.read_buf,
                hub.clone(),
                wire,
                preauth,
                permit,
            ))),
            Err(_) => tracing::error!("upgraded connection is not a TCP stream"),
        }
    });
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let out = response.headers_mut();
    out.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    out.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    out.insert(header::SEC_WEBSOCKET_ACCEPT, key);
    if offered_ours {
        out.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(wire.subprotocol()));
    }
    response
}

/// The `Sec-WebSocket-Accept` value for a valid opening handshake, or why it is not one.
fn handshake_key(method: &Method, headers: &HeaderMap) -> Result<HeaderValue, &'static str> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case(token))
    };
    if method != Method::GET {
        return Err("a WebSocket handshake is a GET");
    }
    if !has_token(header::CONNECTION, "upgrade") || !has_token(header::UPGRADE, "websocket") {
        return Err("expected Connection: upgrade and Upgrade: websocket");
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
        return Err("Sec-WebSocket-Version must be 13");
    }
    let key = headers.get(header::SEC_WEBSOCKET_KEY).ok_or("Sec-WebSocket-Key is missing")?;
    HeaderValue::from_str(&derive_accept_key(key.as_bytes())).map_err(|_| "bad Sec-WebSocket-Key")
}

fn offered(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// The first of our formats the client offered, MessagePack when it offered none of them.
fn choose_wire(headers: &HeaderMap) -> Wire {
    let offered: Vec<&str> = offered(headers).collect();
    Wire::BOTH.into_iter().find(|wire| offered.contains(&wire.subprotocol())).unwrap_or(Wire::MsgPack)
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).map(str::trim)
}
