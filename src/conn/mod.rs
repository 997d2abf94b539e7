//! One WebSocket connection, from handshake to close.
//!
//! - `accept.rs`: the accept loop — hyper's HTTP/1 per TCP connection, with the header timeout;
//! - `admission.rs`: who may connect — origin, per-address rate, per-user cap, the fd clamp;
//! - `upgrade.rs`: the HTTP handshake (wire format, bearer token), handing over the raw socket;
//! - `socket.rs`: the socket as tokio-tungstenite reads it;
//! - `session.rs`: the reader — authentication, decoding, dispatching requests, replies;
//! - `read_error.rs`: the close code a failed read earns (or none, for a dead socket).
//!
//! There is no writer task: whoever sends a frame writes it ([`crate::delivery::outbox`]). The
//! session reads; everything else shares the connection's outbox. Every connection is also in the
//! hub's registry, for heartbeats and shutdown.

pub mod accept;
pub mod admission;
pub mod read_error;
pub mod session;
pub mod socket;
pub mod upgrade;

use crate::auth::{Identity, TokenError};
use crate::delivery::outbox::Outbox;
use crate::hub::Hub;
use bytes::Bytes;
use futures::StreamExt;
use socket::WsIo;
use stagehand_protocol::Wire;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Run one connection until it closes. `early` holds bytes read past the handshake; `preauth`
/// is the result of a bearer token from the handshake, if there was one.
pub async fn serve(
    tcp: TcpStream,
    early: Bytes,
    hub: Arc<Hub>,
    wire: Wire,
    preauth: Option<Result<Identity, TokenError>>,
    _slot: OwnedSemaphorePermit,
) {
    let config = &hub.config;
    let id = hub.next_connection_id();
    let outbox = Outbox::new(id, wire, tcp, config.queue_max_bytes);
    let hard_limit = config.max_frame_bytes.saturating_mul(4);
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(config.read_buffer_bytes)
        // Its writes (pongs, a close echo) go to the outbox at once.
        .write_buffer_size(0)
        .max_message_size(Some(hard_limit))
        .max_frame_size(Some(hard_limit));
    let mut stream =
        WebSocketStream::from_raw_socket(WsIo::new(outbox.clone(), early), Role::Server, Some(ws_config)).await;
    hub.register(outbox.clone());

    let mut session = session::Session::new(hub.clone(), outbox.clone());
    session.run(&mut stream, preauth).await;
    session.finish();
    drop(session);
    hub.unregister(id);

    // Close handshake: the close frame follows what is queued, while the reading half stays open
    // for the client's answer, so a client still catching up gets the close code instead of a
    // reset. A failed socket, or a client whose close was already answered, needs none.
    outbox.finish();
    if outbox.close_reason().is_some() {
        let linger = async {
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        };
        let close_timeout = Duration::from_millis(config.close_timeout_ms);
        let _ = tokio::time::timeout(close_timeout, futures::future::join(outbox.drained(), linger)).await;
    }
    outbox.tear_down();
}
