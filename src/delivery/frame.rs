//! Whole WebSocket frames, built once and written as they are.
//!
//! Server frames are not masked, so the frame — header and payload — is the same bytes for every
//! recipient of one message in one wire format: it is built once per (message, audience, wire)
//! and every connection writes the same shared buffer.

use bytes::{BufMut, Bytes, BytesMut};
use stagehand_protocol::server::ServerMessage;
use stagehand_protocol::{codec, CloseCode, Wire};

/// How a frame may be treated when its connection falls behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Changes what the client shows: never dropped; a connection that cannot take it is closed
    /// as a slow consumer (and recovers with `since`).
    State,
    /// May be shed under pressure (comments, activity), counted as dropped.
    Droppable,
    /// A counter or tick: a newer frame with the same key replaces one still queued, and it may
    /// be shed like a droppable one.
    Coalesce(u64),
    /// The connection's own replies and control frames: never dropped, and never a reason to
    /// close the connection as slow (the reader stops reading requests instead).
    Reply,
}

impl Class {
    pub fn sheddable(self) -> bool {
        matches!(self, Class::Droppable | Class::Coalesce(_))
    }
}

/// A complete WebSocket frame ready to write, shared by every connection it goes to: cloning it
/// is a reference-count bump.
#[derive(Debug, Clone)]
pub struct Frame {
    pub bytes: Bytes,
    pub class: Class,
    /// Where the payload starts in `bytes` (after the header).
    header_len: u8,
}

/// WebSocket opcodes the hub sends.
#[derive(Debug, Clone, Copy)]
#[repr(u8)]
pub enum Opcode {
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
}

impl Frame {
    /// A final, unmasked frame carrying `payload`.
    pub fn new(opcode: Opcode, payload: &[u8], class: Class) -> Frame {
        let mut buf = BytesMut::with_capacity(payload.len() + 10);
        buf.put_u8(0x80 | opcode as u8);
        match payload.len() {
            len @ 0..=125 => buf.put_u8(len as u8),
            len @ 126..=0xFFFF => {
                buf.put_u8(126);
                buf.put_u16(len as u16);
            }
            len => {
                buf.put_u8(127);
                buf.put_u64(len as u64);
            }
        }
        let header_len = buf.len() as u8;
        buf.put_slice(payload);
        Frame { bytes: buf.freeze(), class, header_len }
    }

    /// Bytes that already are whole frames (the WebSocket layer's own answers: pongs, the echo
    /// of a client's close).
    pub fn raw(bytes: Bytes) -> Frame {
        Frame { bytes, class: Class::Reply, header_len: 0 }
    }

    /// The same bytes, treated as `class`.
    pub fn with_class(&self, class: Class) -> Frame {
        Frame { class, ..self.clone() }
    }

    /// An empty ping.
    pub fn ping() -> Frame {
        Frame::new(Opcode::Ping, &[], Class::Reply)
    }

    /// A close frame: the code, then `word: detail` cut to the 123 bytes a reason may hold.
    pub fn close(code: CloseCode, detail: &str) -> Frame {
        let mut payload = code.0.to_be_bytes().to_vec();
        payload.extend_from_slice(close_text(code, detail).as_bytes());
        Frame::new(Opcode::Close, &payload, Class::Reply)
    }

    /// The payload (the frame without its header).
    pub fn payload(&self) -> &[u8] {
        &self.bytes[self.header_len as usize..]
    }

    /// Bytes on the wire.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Encode any server message as a frame for `wire`: binary for MessagePack, text for JSON.
pub fn encode_frame(wire: Wire, message: &ServerMessage, class: Class) -> Option<Frame> {
    match codec::encode(wire, message) {
        Ok(payload) => {
            let opcode = match wire {
                Wire::MsgPack => Opcode::Binary,
                Wire::Json => Opcode::Text,
            };
            Some(Frame::new(opcode, &payload, class))
        }
        Err(error) => {
            tracing::error!(%error, "could not encode a server message");
            None
        }
    }
}

/// `word: detail`, cut to the 123 bytes a close frame's reason may hold.
fn close_text(code: CloseCode, detail: &str) -> String {
    let mut text = if detail.is_empty() { code.reason().to_string() } else { format!("{}: {detail}", code.reason()) };
    if text.len() > 123 {
        let mut end = 123;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;

    /// Our headers parse as tungstenite reads them, at each length encoding's edges.
    #[test]
    fn headers_match_the_length_encodings() {
        for len in [0, 1, 125, 126, 127, 0xFFFF, 0x1_0000, 70_000] {
            let payload = vec![7u8; len];
            let frame = Frame::new(Opcode::Binary, &payload, Class::State);
            let mut cursor = std::io::Cursor::new(&frame.bytes[..]);
            let (header, parsed_len) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
            assert!(header.is_final && header.mask.is_none());
            assert_eq!(parsed_len as usize, len);
            assert_eq!(cursor.position() as usize + len, frame.len());
            assert_eq!(frame.payload(), &payload[..]);
        }
    }

    #[test]
    fn close_reasons_fit_a_control_frame() {
        let frame = Frame::close(CloseCode::SLOW_CONSUMER, &"é".repeat(200));
        assert!(frame.payload().len() <= 125);
        assert!(std::str::from_utf8(&frame.payload()[2..]).is_ok());
    }
}
