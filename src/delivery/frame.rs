//! Encoding a server message as a WebSocket frame of a connection's wire format.

use super::outbox::Frame;
use axum::extract::ws::{Message, Utf8Bytes};
use stagehand_protocol::server::ServerMessage;
use stagehand_protocol::{codec, Wire};

/// Encode any server message as a frame for `wire`.
pub fn encode_frame(wire: Wire, message: &ServerMessage) -> Option<Frame> {
    let bytes = match codec::encode(wire, message) {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::error!(%error, "could not encode a server message");
            return None;
        }
    };
    Some(Frame::new(match wire {
        Wire::MsgPack => Message::Binary(bytes),
        // serde_json only writes UTF-8, so this check cannot fail; it runs once per message.
        Wire::Json => Message::Text(Utf8Bytes::try_from(bytes).ok()?),
    }))
}
