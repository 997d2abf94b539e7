//! `GET /ws`: the WebSocket handshake. Picks the wire format from `Sec-WebSocket-Protocol`,
//! reads an optional `Authorization: Bearer` token, takes a connection slot, tunes the socket's
//! buffers and hands the socket to [`super::serve`].

use crate::hub::Hub;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use stagehand_protocol::Wire;
use std::net::SocketAddr;
use std::sync::Arc;

pub async fn handler(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if hub.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    if let Err(refusal) = hub.admission.at_upgrade(&hub.metrics, peer, &headers) {
        return crate::http::refusal_response(refusal);
    }
    let Ok(permit) = hub.connection_slots.clone().try_acquire_owned() else {
        hub.metrics.tripped(crate::metrics::Tripped::MaxConnections);
        return (StatusCode::SERVICE_UNAVAILABLE, "at the connection limit").into_response();
    };
    let wire = choose_wire(&headers);
    let preauth = bearer_token(&headers).map(|token| hub.keys.verify(token, hub.config.clock.now_ms()));
    if let Some(refusal) =
        preauth.as_ref().and_then(|p| p.as_ref().ok()).and_then(|id| hub.admission.user_refusal(&hub.metrics, id))
    {
        return crate::http::refusal_response(refusal);
    }
    let config = &hub.config;
    let hard_limit = config.max_frame_bytes.saturating_mul(4);
    let hub = hub.clone();
    upgrade
        .protocols([Wire::MsgPack.subprotocol(), Wire::Json.subprotocol()])
        .read_buffer_size(config.read_buffer_bytes)
        .write_buffer_size(config.write_buffer_bytes)
        .max_write_buffer_size(config.write_buffer_bytes.saturating_mul(64).max(hard_limit))
        .max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        .on_upgrade(move |socket| {
            let tasks = hub.tasks.clone();
            tasks.track_future(super::serve(socket, hub, wire, preauth, permit))
        })
}

/// The first of our formats the client offered, MessagePack when it offered none of them.
fn choose_wire(headers: &HeaderMap) -> Wire {
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    Wire::BOTH.into_iter().find(|wire| offered.contains(&wire.subprotocol())).unwrap_or(Wire::MsgPack)
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).map(str::trim)
}
