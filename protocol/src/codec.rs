//! Bytes ⇄ messages. MessagePack (maps with field names, via `rmp-serde`) in binary frames, JSON
//! in text frames. The decoder is strict: one message per frame, no trailing bytes, no unknown
//! `type`, no wrong field types, nothing over the size limit.

use crate::client::ClientMessage;
use crate::error::{ErrorBody, ErrorCode};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::Cursor;

/// A wire format, chosen per connection with `Sec-WebSocket-Protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wire {
    /// MessagePack in binary frames (the default).
    MsgPack,
    /// JSON in text frames.
    Json,
}

impl Wire {
    pub const BOTH: [Wire; 2] = [Wire::MsgPack, Wire::Json];

    /// The subprotocol name that selects this format.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Wire::MsgPack => crate::SUBPROTOCOL_MSGPACK,
            Wire::Json => crate::SUBPROTOCOL_JSON,
        }
    }

    pub fn from_subprotocol(name: &str) -> Option<Wire> {
        Wire::BOTH.into_iter().find(|wire| wire.subprotocol() == name.trim())
    }

    /// Index for per-format arrays (`[T; 2]`).
    pub fn index(self) -> usize {
        match self {
            Wire::MsgPack => 0,
            Wire::Json => 1,
        }
    }
}

/// Why bytes could not become a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("frame of {size} bytes is over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("{0}")]
    Invalid(String),
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
    #[error("encoding failed: {0}")]
    Encode(String),
}

/// A request that could not be decoded, with the `id` if one could be read so that the error
/// reply can be matched to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub id: Option<u64>,
    pub error: CodecError,
}

impl DecodeError {
    /// The error object for the reply.
    pub fn body(&self) -> ErrorBody {
        let code = match self.error {
            CodecError::TooLarge { .. } => ErrorCode::TooLarge,
            _ => ErrorCode::Invalid,
        };
        ErrorBody::new(code, self.error.to_string())
    }
}

/// Encode any message in `wire`'s format.
pub fn encode<T: Serialize>(wire: Wire, message: &T) -> Result<Bytes, CodecError> {
    let bytes = match wire {
        Wire::MsgPack => rmp_serde::to_vec_named(message).map_err(|e| CodecError::Encode(e.to_string()))?,
        Wire::Json => serde_json::to_vec(message).map_err(|e| CodecError::Encode(e.to_string()))?,
    };
    Ok(Bytes::from(bytes))
}

/// Decode exactly one message of type `T` from `bytes`; anything left over is an error.
pub fn decode<T: DeserializeOwned>(wire: Wire, bytes: &[u8]) -> Result<T, CodecError> {
    match wire {
        Wire::MsgPack => {
            let mut de = rmp_serde::Deserializer::new(Cursor::new(bytes));
            let value = T::deserialize(&mut de).map_err(|e| CodecError::Invalid(e.to_string()))?;
            let read = de.get_ref().position() as usize;
            if read != bytes.len() {
                return Err(CodecError::Trailing(bytes.len() - read));
            }
            Ok(value)
        }
        // serde_json rejects anything but whitespace after the value.
        Wire::Json => serde_json::from_slice(bytes).map_err(|e| CodecError::Invalid(e.to_string())),
    }
}

/// Just the `id` of a request, read when the full decode fails.
#[derive(Deserialize)]
struct IdOnly {
    id: u64,
}

/// Decode a client request, refusing frames over `limit` bytes before looking at them.
pub fn decode_request(wire: Wire, bytes: &[u8], limit: usize) -> Result<ClientMessage, DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError { id: None, error: CodecError::TooLarge { size: bytes.len(), limit } });
    }
    decode::<ClientMessage>(wire, bytes).map_err(|error| DecodeError { id: leading_id(wire, bytes), error })
}

/// The `id` of the first message in `bytes`, ignoring anything after it, so that even a frame
/// refused for trailing bytes gets a reply its sender can match.
fn leading_id(wire: Wire, bytes: &[u8]) -> Option<u64> {
    let only: IdOnly = match wire {
        Wire::MsgPack => rmp_serde::from_slice(bytes).ok()?,
        Wire::Json => serde_json::Deserializer::from_slice(bytes).into_iter().next()?.ok()?,
    };
    Some(only.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Command;
    use crate::server::*;
    use crate::types::*;

    fn join() -> ClientMessage {
        ClientMessage::new(7, Command::Join { room: "r1".into(), since: None })
    }

    #[test]
    fn both_formats_round_trip_a_request() {
        for wire in Wire::BOTH {
            let bytes = encode(wire, &join()).unwrap();
            assert_eq!(decode_request(wire, &bytes, 1024).unwrap(), join());
        }
    }

    #[test]
    fn json_request_is_a_flat_map_with_type() {
        let text = String::from_utf8(encode(Wire::Json, &join()).unwrap().to_vec()).unwrap();
        assert_eq!(text, r#"{"id":7,"type":"join","room":"r1"}"#);
    }

    #[test]
    fn trailing_bytes_are_rejected_in_both_formats() {
        for wire in Wire::BOTH {
            let mut bytes = encode(wire, &join()).unwrap().to_vec();
            bytes.extend_from_slice(match wire {
                Wire::MsgPack => &[0xc0],
                Wire::Json => b"{}",
            });
            let err = decode_request(wire, &bytes, 1024).unwrap_err();
            assert_eq!(err.body().code, ErrorCode::Invalid, "{wire:?}: {err:?}");
        }
    }

    #[test]
    fn unknown_type_is_invalid_but_keeps_the_id() {
        let err = decode_request(Wire::Json, br#"{"id":9,"type":"launch_rockets"}"#, 1024).unwrap_err();
        assert_eq!(err.id, Some(9));
        assert_eq!(err.body().code, ErrorCode::Invalid);
    }

    #[test]
    fn wrong_field_type_is_invalid() {
        let err = decode_request(Wire::Json, br#"{"id":1,"type":"join","room":42}"#, 1024).unwrap_err();
        assert_eq!(err.body().code, ErrorCode::Invalid);
        let msgpack = rmp_serde::to_vec_named(&serde_json::json!({"id": 1, "type": "join", "room": 42})).unwrap();
        let err = decode_request(Wire::MsgPack, &msgpack, 1024).unwrap_err();
        assert_eq!(err.body().code, ErrorCode::Invalid);
    }

    #[test]
    fn oversize_is_too_large() {
        let bytes = encode(Wire::Json, &join()).unwrap();
        let err = decode_request(Wire::Json, &bytes, 10).unwrap_err();
        assert_eq!(err.body().code, ErrorCode::TooLarge);
    }

    #[test]
    fn garbage_is_invalid_without_id() {
        for wire in Wire::BOTH {
            let err = decode_request(wire, &[0xff, 0x00, 0x13], 1024).unwrap_err();
            assert_eq!(err.id, None);
            assert_eq!(err.body().code, ErrorCode::Invalid);
        }
    }

    #[test]
    fn events_and_replies_decode_as_server_messages() {
        let event = ServerMessage::Event(Event {
            room: "r1".into(),
            seq: 3,
            staff_seq: None,
            ts: 1,
            body: EventBody::ViewerCount { count: 2 },
        });
        let reply = ServerMessage::Control(Control::Reply(Reply::ok(4, Some(ReplyResult::Pong { server_time: 5 }))));
        for wire in Wire::BOTH {
            for message in [&event, &reply] {
                let bytes = encode(wire, message).unwrap();
                assert_eq!(&decode::<ServerMessage>(wire, &bytes).unwrap(), message);
            }
        }
    }

    #[test]
    fn viewers_never_see_the_operator() {
        let body = EventBody::Billboard {
            action: BillboardAction::Deployed,
            billboard: Billboard {
                billboard_id: "b".into(),
                title: "t".into(),
                text: None,
                image_url: None,
                link_url: None,
                duration_ms: None,
                expires_at: None,
            },
            by: Actor { id: "c".into(), name: "C".into() },
            operator: Some(Operator { agency_id: "a".into(), staff_id: "s".into(), staff_name: "S".into() }),
        };
        assert!(body.has_operator());
        let public = body.for_viewers();
        assert!(!public.has_operator());
        let text = String::from_utf8(encode(Wire::Json, &public).unwrap().to_vec()).unwrap();
        assert!(!text.contains("operator") && !text.contains("\"s\""), "{text}");
    }
}
