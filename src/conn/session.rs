//! The reading half of a connection: authenticate, then decode each frame, dispatch it and queue
//! the reply.
//!
//! Bad input never ends the connection by itself: an undecodable or oversize frame gets an
//! `invalid`/`too_large` reply and the session goes on, unless the client sends
//! `max_invalid_frames` bad frames in a row. A frame above the hard cap (4× the limit) is cut off
//! by the WebSocket layer, and the session closes with 1009.

use super::outbox::{ConnId, Outbox, Shared, Task};
use crate::auth::{Identity, TokenError};
use crate::commands::{self, Caller};
use crate::delivery::frame::encode_frame;
use crate::hub::Hub;
use crate::partner::inboxes::inbox_of;
use axum::extract::ws::{Message, WebSocket};
use futures::stream::SplitStream;
use futures::StreamExt;
use stagehand_protocol::codec::decode_request;
use stagehand_protocol::server::{Control, Reply, ServerMessage, Welcome};
use stagehand_protocol::types::Actor;
use stagehand_protocol::{CloseCode, Command, ErrorBody, ErrorCode, PROTOCOL_VERSION};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The reading half of one connection.
pub struct Session {
    hub: Arc<Hub>,
    outbox: Outbox,
    shared: Arc<Shared>,
    /// Set once authentication succeeds: what the command layer knows of this connection.
    caller: Option<Caller>,
    invalid_streak: u32,
}

impl Session {
    pub fn new(hub: Arc<Hub>, outbox: Outbox, shared: Arc<Shared>) -> Self {
        Session { hub, outbox, shared, caller: None, invalid_streak: 0 }
    }

    pub fn id(&self) -> ConnId {
        self.outbox.id
    }

    /// Read frames until the connection ends.
    pub async fn run(&mut self, stream: &mut SplitStream<WebSocket>, preauth: Option<Result<Identity, TokenError>>) {
        if let Some(result) = preauth {
            match result {
                Ok(identity) => self.authenticated(identity),
                Err(error) => return self.refuse_token(error),
            }
        }
        let auth_deadline = Instant::now() + Duration::from_millis(self.hub.config.auth_timeout_ms);
        loop {
            let deadline = match &self.caller {
                None => auth_deadline,
                Some(caller) => token_deadline(caller.identity.expires_at, self.hub.config.clock.now_ms()),
            };
            let frame = tokio::select! {
                biased;
                _ = self.shared.killed(Task::Reader) => return,
                _ = tokio::time::sleep_until(deadline) => {
                    match self.caller {
                        None => self.shared.close(CloseCode::UNAUTHENTICATED, "no token in time"),
                        Some(_) => self.shared.close(CloseCode::TOKEN_EXPIRED, "the token expired"),
                    }
                    return;
                }
                frame = stream.next() => frame,
            };
            self.shared.touch(self.hub.uptime_ms());
            match frame {
                Some(Ok(Message::Binary(bytes))) => self.on_frame(stagehand_protocol::Wire::MsgPack, &bytes).await,
                Some(Ok(Message::Text(text))) => self.on_frame(stagehand_protocol::Wire::Json, text.as_bytes()).await,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None => return,
                Some(Err(error)) => {
                    if is_capacity_error(&error) {
                        self.hub.metrics.invalid_frames.inc();
                        self.shared.close(CloseCode::MESSAGE_TOO_BIG, "frame over the hard size cap");
                    }
                    return;
                }
            }
        }
    }

    async fn on_frame(&mut self, wire: stagehand_protocol::Wire, bytes: &[u8]) {
        let message = match decode_request(wire, bytes, self.hub.config.max_frame_bytes) {
            Ok(message) => message,
            Err(error) => {
                self.hub.metrics.invalid_frames.inc();
                let body = error.body();
                self.hub.metrics.error(body.code);
                self.reply(Reply::err(error.id, body));
                self.invalid_streak += 1;
                if self.invalid_streak >= self.hub.config.max_invalid_frames {
                    self.shared.close(CloseCode::PROTOCOL_ABUSE, "too many invalid frames in a row");
                }
                return;
            }
        };
        self.invalid_streak = 0;
        let id = message.id;
        let Some(caller) = self.caller.as_mut() else {
            return self.on_unauthenticated(id, message.command);
        };
        // Boxed: handling a command awaits the store and the partner logic, and inline that state
        // machine would make every connection's task kilobytes larger while it idles.
        let reply = Box::pin(commands::dispatch(&self.hub.services, caller, id, message.command)).await;
        if let Some(reply) = reply {
            self.reply(reply);
        }
    }

    /// Before authentication only `connect` is accepted.
    fn on_unauthenticated(&mut self, id: u64, command: Command) {
        let Command::Connect { token } = command else {
            self.hub.metrics.error(ErrorCode::Unauthenticated);
            let body = ErrorBody::new(ErrorCode::Unauthenticated, "send `connect` with a token first");
            return self.reply(Reply::err(Some(id), body));
        };
        self.hub.metrics.event_in("connect");
        match self.hub.keys.verify(&token) {
            Ok(identity) => {
                self.reply(Reply::ok(id, None));
                self.authenticated(identity);
            }
            Err(error) => self.refuse_token(error),
        }
    }

    fn refuse_token(&mut self, error: TokenError) {
        self.hub.metrics.error(ErrorCode::Unauthenticated);
        tracing::info!(conn = self.id(), %error, "token refused");
        self.shared.close(error.close_code(), error.to_string());
    }

    fn authenticated(&mut self, identity: Identity) {
        let hub = self.hub.clone();
        hub.metrics.connection_opened(identity.role.as_str());
        let welcome = Welcome {
            protocol_version: PROTOCOL_VERSION,
            session: self.id(),
            user: Actor { id: identity.user.id.clone(), name: identity.user.name.clone() },
            role: identity.role,
            server_time: hub.config.clock.now_ms(),
            heartbeat_ms: hub.config.heartbeat_ms,
            max_frame_bytes: hub.config.max_frame_bytes as u64,
        };
        tracing::debug!(conn = self.id(), user = %identity.user.id, role = identity.role.as_str(), "authenticated");
        let inbox = inbox_of(&identity);
        self.caller = Some(Caller::new(identity, self.outbox.clone(), &hub.config));
        self.send(ServerMessage::Control(Control::Welcome(welcome)));
        hub.on_session_start(&inbox, &self.outbox);
    }

    /// Queue a reply. Replies must not be lost: a client that does not read them is closed.
    pub fn reply(&self, reply: Reply) {
        self.send(ServerMessage::Control(Control::Reply(reply)));
    }

    /// Queue any control message to this connection.
    pub fn send(&self, message: ServerMessage) {
        if let Some(frame) = encode_frame(self.outbox.wire, &message) {
            self.outbox.offer(&frame, false);
        }
    }

    /// Leave every room and release what the session registered.
    pub fn finish(&mut self) {
        let Some(mut caller) = self.caller.take() else { return };
        commands::leave_all(&self.hub.services, &mut caller);
        self.hub.metrics.connection_closed(caller.identity.role.as_str());
        self.hub.on_session_end(&inbox_of(&caller.identity), self.id());
    }
}

/// When a token expiring at `expires_at` (ms since the epoch) stops being valid, on the tokio clock.
fn token_deadline(expires_at: u64, now: u64) -> Instant {
    let left = expires_at.saturating_sub(now);
    // Far-future tokens: cap the sleep so the timer stays within tokio's range.
    Instant::now() + Duration::from_millis(left.min(365 * 24 * 3600 * 1000))
}

fn is_capacity_error(error: &axum::Error) -> bool {
    use std::error::Error;
    let mut source = error.source();
    while let Some(inner) = source {
        if let Some(tokio_tungstenite::tungstenite::Error::Capacity(_)) =
            inner.downcast_ref::<tokio_tungstenite::tungstenite::Error>()
        {
            return true;
        }
        source = inner.source();
    }
    false
}
