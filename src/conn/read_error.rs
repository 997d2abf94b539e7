//! What a failed read means for the connection: the close code a broken frame earns, or no close
//! frame at all when the socket itself failed.
//!
//! Each code names the client's mistake precisely (RFC 6455 §7.4.1), so a buggy client is told
//! not to reconnect in a loop: only a dead socket ends the connection without a close frame.

use stagehand_protocol::CloseCode;
use tokio_tungstenite::tungstenite::Error as WsError;

/// How the connection ends after a read failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadFailure {
    /// The client broke the WebSocket rules: close with this code and explanation.
    Close(CloseCode, String),
    /// The socket failed or was reset: there is nobody to send a close frame to.
    Reset,
}

/// Classify a read error from the WebSocket layer.
pub fn classify(error: &WsError) -> ReadFailure {
    match error {
        WsError::Capacity(_) => ReadFailure::Close(CloseCode::MESSAGE_TOO_BIG, "frame over the hard size cap".into()),
        WsError::Utf8(_) => ReadFailure::Close(CloseCode::INVALID_PAYLOAD, "text frame is not valid UTF-8".into()),
        WsError::Protocol(tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) => {
            ReadFailure::Reset
        }
        WsError::Protocol(violation) => ReadFailure::Close(CloseCode::PROTOCOL_ERROR, violation.to_string()),
        WsError::AttackAttempt => ReadFailure::Close(CloseCode::PROTOCOL_ERROR, "attack attempt".into()),
        _ => ReadFailure::Reset,
    }
}
