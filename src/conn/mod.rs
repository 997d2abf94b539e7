//! One WebSocket connection, from handshake to close.
//!
//! - `accept.rs`: the accept loop — hyper's HTTP/1 per TCP connection, with the header timeout;
//! - `admission.rs`: who may connect — origin, per-address rate, per-user cap, the fd clamp;
//! - `upgrade.rs`: the HTTP handshake (wire format, bearer token, buffer sizes);
//! - `session.rs`: the reader — authentication, decoding, dispatching requests, replies;
//! - `writer.rs`: the writer task — batching queued frames onto the socket, pings, the close frame;
//! - `read_error.rs`: the close code a failed read earns (or none, for a dead socket).
//!
//! The socket is split: the session reads, the writer writes, and the two share only the queue
//! and a kill signal. Whichever ends first kills the connection and the other follows. Every
//! connection is also in the hub's registry, for heartbeats and shutdown.

pub mod accept;
pub mod admission;
pub mod read_error;
pub mod session;
pub mod upgrade;
pub mod writer;

use crate::auth::{Identity, TokenError};
use crate::delivery::outbox::{Outbox, Shared};
use crate::hub::Hub;
use axum::extract::ws::WebSocket;
use futures::StreamExt;
use stagehand_protocol::Wire;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

/// Run one connection until it closes. `preauth` is the result of a bearer token from the
/// handshake, if there was one.
pub async fn serve(
    socket: WebSocket,
    hub: Arc<Hub>,
    wire: Wire,
    preauth: Option<Result<Identity, TokenError>>,
    _slot: OwnedSemaphorePermit,
) {
    let id = hub.next_connection_id();
    let (sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::channel(hub.config.outbound_queue);
    let shared = Shared::new();
    let outbox = Outbox::new(id, wire, tx, shared.clone());
    let close_timeout = Duration::from_millis(hub.config.close_timeout_ms);
    let writer = tokio::spawn(writer::run(sink, rx, shared.clone(), close_timeout));
    hub.register(outbox.clone());

    let mut session = session::Session::new(hub.clone(), outbox, shared.clone());
    session.run(&mut stream, preauth).await;
    session.finish();
    drop(session);
    hub.unregister(id);

    // Close handshake: the writer sends the close frame while the reading half stays open for
    // the client's answer, so a client still catching up (answering pings, reading backlog) gets
    // the close code instead of a reset. A failed socket has nobody to answer.
    shared.kill();
    if shared.close_reason().is_none() {
        let _ = writer.await;
        return;
    }
    let linger = tokio::time::timeout(close_timeout, async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, axum::extract::ws::Message::Close(_)) {
                break;
            }
        }
    });
    let _ = tokio::join!(writer, linger);
}
