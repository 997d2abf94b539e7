//! The reading half of a connection: authenticate, then decode each frame, dispatch it and queue
//! the reply.
//!
//! Bad input never ends the connection by itself: an undecodable or oversize frame gets an
//! `invalid`/`too_large` reply and the session goes on, unless the client sends
//! `max_invalid_frames` bad frames in a row. A frame the WebSocket layer refuses (above the hard
//! cap of 4× the limit, invalid UTF-8, a protocol violation) ends the session with the close code
//! [`super::read_error`] gives it.

use super::read_error::{self, ReadFailure};
use super::socket::WsIo;
use crate::auth::{Identity, TokenError};
use crate::commands::{self, Caller};
use crate::delivery::frame::{encode_frame, Class};
use crate::delivery::outbox::{ConnId, Outbox};
use crate::hub::Hub;
use crate::partner::inboxes::inbox_of;
use futures::{SinkExt, StreamExt};
use stagehand_protocol::codec::decode_request;
use stagehand_protocol::server::{Control, Reply, ServerMessage, Welcome};
use stagehand_protocol::types::Actor;
use stagehand_protocol::{CloseCode, Command, ErrorBody, ErrorCode, PROTOCOL_VERSION};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// The reading half of one connection.
pub struct Session {
    hub: Arc<Hub>,
    outbox: Outbox,
    /// Set once authentication succeeds: what the command layer knows of this connection.
    caller: Option<Caller>,
    invalid_streak: u32,
    /// This connection in its user's count (`max_connections_per_user`), once authenticated.
    _user_slot: Option<super::admission::UserSlot>,
}

impl Session {
    pub fn new(hub: Arc<Hub>, outbox: Outbox) -> Self {
        Session { hub, outbox, caller: None, invalid_streak: 0, _user_slot: None }
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    pub fn id(&self) -> ConnId {
        self.outbox.id
    }

    /// Take the outcome of a bearer token from the handshake, if there was one.
    pub fn start(&mut self, preauth: Option<Result<Identity, TokenError>>) {
        match preauth {
            Some(Ok(identity)) => self.authenticated(identity),
            Some(Err(error)) => self.refuse_token(error),
            None => {}
        }
    }

    /// Read frames until the connection ends (at once if [`Session::start`] refused its token).
    pub async fn run(&mut self, stream: &mut WebSocketStream<WsIo>) {
        let auth_deadline = Instant::now() + Duration::from_millis(self.hub.config.auth_timeout_ms);
        loop {
            let deadline = match &self.caller {
                None => auth_deadline,
                Some(caller) => token_deadline(caller.identity.valid_until, self.hub.config.clock.now_ms()),
            };
            let frame = tokio::select! {
                biased;
                _ = self.outbox.killed() => return,
                _ = tokio::time::sleep_until(deadline) => {
                    match self.caller {
                        None => {
                            self.hub.metrics.tripped(crate::metrics::Tripped::AuthTimeout);
                            self.outbox.close(CloseCode::UNAUTHENTICATED, "no token in time")
                        }
                        Some(_) => self.outbox.close(CloseCode::TOKEN_EXPIRED, "the token expired"),
                    }
                    return;
                }
                // A client whose replies wait unsent is not read further until they go out:
                // slowed down, never closed for its own replies.
                frame = async { self.outbox.wait_for_room().await; stream.next().await } => frame,
            };
            self.outbox.touch();
            match frame {
                Some(Ok(Message::Binary(bytes))) => self.on_frame(stagehand_protocol::Wire::MsgPack, &bytes).await,
                Some(Ok(Message::Text(text))) => self.on_frame(stagehand_protocol::Wire::Json, text.as_bytes()).await,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_))) => {
                    // The WebSocket layer queued the answering close frame: send it, and no other.
                    let _ = stream.flush().await;
                    return self.outbox.abort();
                }
                // The socket ended without a close frame: nobody is left to send one to.
                None => return self.outbox.abort(),
                Some(Err(error)) => return self.on_read_error(&error),
            }
        }
    }

    /// A frame the WebSocket layer refused is counted and closed with its own code; a failed
    /// socket ends without a close frame.
    fn on_read_error(&self, error: &WsError) {
        match read_error::classify(error) {
            ReadFailure::Close(code, detail) => {
                self.hub.metrics.invalid_frames.inc();
                if code == CloseCode::MESSAGE_TOO_BIG {
                    self.hub.metrics.tripped(crate::metrics::Tripped::FrameSize);
                }
                tracing::debug!(conn = self.id(), code = code.0, %detail, "unreadable frame");
                self.outbox.close(code, detail);
            }
            ReadFailure::Reset => self.outbox.abort(),
        }
    }

    async fn on_frame(&mut self, wire: stagehand_protocol::Wire, bytes: &[u8]) {
        let message = match decode_request(wire, bytes, self.hub.config.max_frame_bytes) {
            Ok(message) => message,
            Err(error) => {
                self.hub.metrics.invalid_frames.inc();
                let body = error.body();
                self.hub.metrics.error(body.code);
                if body.code == ErrorCode::TooLarge {
                    self.hub.metrics.tripped(crate::metrics::Tripped::FrameSize);
                }
                self.reply(Reply::err(error.id, body));
                self.invalid_streak += 1;
                if self.invalid_streak >= self.hub.config.max_invalid_frames {
                    self.outbox.close(CloseCode::PROTOCOL_ABUSE, "too many invalid frames in a row");
                }
                return;
            }
        };
        self.invalid_streak = 0;
        let id = message.id;
        let Some(caller) = self.caller.as_mut() else {
            return self.on_unauthenticated(id, message.command);
        };
        if let Command::Refresh { token } = &message.command {
            self.hub.metrics.event_in("refresh");
            let refreshed = self.hub.keys.refresh(&caller.identity, token, self.hub.config.clock.now_ms());
            let reply = match refreshed {
                Ok(valid_until) => {
                    // The session's loop reads the deadline from here on its next turn.
                    caller.identity.valid_until = valid_until;
                    Reply::ok(id, None)
                }
                Err(error) => {
                    self.hub.metrics.error(error.code);
                    Reply::err(Some(id), error.body())
                }
            };
            return self.reply(reply);
        }
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
        match self.hub.keys.verify(&token, self.hub.config.clock.now_ms()) {
            Ok(identity) => {
                self.reply(Reply::ok(id, None));
                self.authenticated(identity);
            }
            Err(error) => self.refuse_token(error),
        }
    }

    fn refuse_token(&mut self, error: TokenError) {
        self.hub.metrics.error(ErrorCode::Unauthenticated);
        // A reason code, never the token or the library's text (which can quote claim values).
        tracing::info!(conn = self.id(), %error, "token refused");
        self.outbox.close(error.close_code(), error.to_string());
    }

    fn authenticated(&mut self, identity: Identity) {
        let hub = self.hub.clone();
        let Some(slot) = hub.admission.user_slot(&identity.user.id, &hub.config) else {
            hub.metrics.tripped(crate::metrics::Tripped::ConnectionsPerUser);
            return self.outbox.close(CloseCode::TOO_MANY_CONNECTIONS, "the user has too many connections open");
        };
        let limits = slot.limits();
        self._user_slot = Some(slot);
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
        self.caller = Some(Caller::new(identity, self.outbox.clone(), limits));
        self.send(ServerMessage::Control(Control::Welcome(welcome)));
        hub.on_session_start(&inbox, &self.outbox);
    }

    /// Queue a reply. Replies must not be lost: a client that does not read them is closed.
    pub fn reply(&self, reply: Reply) {
        self.send(ServerMessage::Control(Control::Reply(reply)));
    }

    /// Queue any control message to this connection.
    pub fn send(&self, message: ServerMessage) {
        if let Some(frame) = encode_frame(self.outbox.wire, &message, Class::Reply) {
            self.outbox.reply(&frame);
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

/// The tokio instant at which a token good until `valid_until` (ms since the epoch, on the hub's
/// clock, which reads `now`) runs out.
fn token_deadline(valid_until: u64, now: u64) -> Instant {
    let left = valid_until.saturating_sub(now);
    // Far-future tokens: cap the sleep so the timer stays within tokio's range.
    Instant::now() + Duration::from_millis(left.min(365 * 24 * 3600 * 1000))
}
