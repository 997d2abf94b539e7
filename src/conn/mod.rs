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
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Run one connection until it closes. `early` holds bytes read past the handshake; `preauth`
/// is the result of a bearer token from the handshake, if there was one.
///
/// The setup is done here, before the connection's future exists: what it needs once only
/// (the socket, `early`, `preauth`) never takes room in that future, which every connection
/// holds for as long as it is open.
pub fn serve(
    tcp: TcpStream,
    early: Bytes,
    hub: Arc<Hub>,
    wire: Wire,
    preauth: Option<Result<Identity, TokenError>>,
    slot: OwnedSemaphorePermit,
) -> impl Future<Output = ()> + Send + 'static {
    let id = hub.next_connection_id();
    let outbox = Outbox::new(id, wire, tcp, hub.config.queue_max_bytes);
    let io = WsIo::new(outbox.clone(), early);
    let mut session = session::Session::new(hub.clone(), outbox.clone());
    session.start(preauth);
    run(io, session, slot)
}

async fn run(io: WsIo, mut session: session::Session, _slot: OwnedSemaphorePermit) {
    let (hub, outbox) = (session.hub().clone(), session.outbox().clone());
    let config = &hub.config;
    let hard_limit = config.max_frame_bytes.saturating_mul(4);
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(config.read_buffer_bytes)
        // Its writes (pongs, a close echo) go to the outbox at once.
        .write_buffer_size(0)
        .max_message_size(Some(hard_limit))
        .max_frame_size(Some(hard_limit));
    // Boxed, like the closing handshake below: each is a one-off, and inline its state would
    // stay in every connection's future for the whole life of the connection.
    let mut stream = Box::pin(WebSocketStream::from_raw_socket(io, Role::Server, Some(ws_config))).await;
    hub.register(outbox.clone());
    session.run(&mut stream).await;
    session.finish();
    drop(session);
    hub.unregister(outbox.id);
    Box::pin(close_handshake(stream, &outbox, Duration::from_millis(config.close_timeout_ms))).await;
    outbox.tear_down();
}

/// The close handshake: the close frame follows what is queued, while the reading half stays open
/// for the client's answer, so a client still catching up gets the close code instead of a reset.
/// A failed socket, or a client whose close was already answered, needs none.
async fn close_handshake(mut stream: WebSocketStream<WsIo>, outbox: &Outbox, close_timeout: Duration) {
    outbox.finish();
    if outbox.close_reason().is_none() {
        return;
    }
    let linger = async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(close_timeout, futures::future::join(outbox.drained(), linger)).await;
}
