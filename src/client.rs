//! A small Stagehand client on tokio-tungstenite, used by the examples and the integration tests.
//! It speaks either wire format, authenticates by header or by `connect` frame, matches replies
//! to requests by `id`, and keeps whatever arrives in between for the caller.

use futures::{SinkExt, StreamExt};
use stagehand_protocol::server::{Control, Event, Reply, ServerMessage, Welcome};
use stagehand_protocol::{codec, ClientMessage, Command, Wire};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("websocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("codec: {0}")]
    Codec(#[from] stagehand_protocol::codec::CodecError),
    #[error("the connection closed: {0:?}")]
    Closed(Option<(u16, String)>),
    #[error("timed out waiting for the hub")]
    Timeout,
    #[error("unexpected frame: {0}")]
    Unexpected(String),
}

/// How the client authenticates.
pub enum Auth {
    /// `Authorization: Bearer` on the upgrade request.
    Header(String),
    /// A `connect` frame right after the upgrade.
    Frame(String),
    /// Nothing (to see the hub refuse).
    None,
}

/// How long a client waits for any one message before giving up.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    wire: Wire,
    next_id: u64,
    /// Messages that arrived while waiting for a reply.
    pending: VecDeque<ServerMessage>,
    /// The `welcome`, once received.
    pub welcome: Option<Welcome>,
}

impl Client {
    /// Connect to `url` (e.g. `ws://127.0.0.1:8080/ws`). With a token, waits for `welcome`.
    pub async fn connect(url: &str, wire: Wire, auth: Auth) -> Result<Client, ClientError> {
        let mut request = url.into_client_request()?;
        let headers = request.headers_mut();
        headers.insert("sec-websocket-protocol", HeaderValue::from_static(wire.subprotocol()));
        if let Auth::Header(token) = &auth {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|e| ClientError::Unexpected(e.to_string()))?;
            headers.insert("authorization", value);
        }
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        let mut client = Client { ws, wire, next_id: 0, pending: VecDeque::new(), welcome: None };
        match auth {
            Auth::Header(_) => {
                client.wait_welcome().await?;
            }
            Auth::Frame(token) => {
                let reply = client.request(Command::Connect { token }).await?;
                if !reply.ok {
                    return Err(ClientError::Unexpected(format!("connect refused: {reply:?}")));
                }
                client.wait_welcome().await?;
            }
            Auth::None => {}
        }
        Ok(client)
    }

    pub fn wire(&self) -> Wire {
        self.wire
    }

    async fn wait_welcome(&mut self) -> Result<Welcome, ClientError> {
        loop {
            match self.recv().await? {
                ServerMessage::Control(Control::Welcome(welcome)) => {
                    self.welcome = Some(welcome.clone());
                    return Ok(welcome);
                }
                other => self.pending.push_back(other),
            }
        }
    }

    /// Send a command; returns the id it was sent with.
    pub async fn send(&mut self, command: Command) -> Result<u64, ClientError> {
        self.next_id += 1;
        let id = self.next_id;
        let bytes = codec::encode(self.wire, &ClientMessage::new(id, command))?;
        self.send_raw(self.frame(bytes)).await?;
        Ok(id)
    }

    /// Wrap bytes in the frame type of this client's wire format.
    pub fn frame(&self, bytes: bytes::Bytes) -> Message {
        match self.wire {
            Wire::MsgPack => Message::Binary(bytes),
            Wire::Json => Message::Text(String::from_utf8_lossy(&bytes).into_owned().into()),
        }
    }

    pub async fn send_raw(&mut self, message: Message) -> Result<(), ClientError> {
        Ok(self.ws.send(message).await?)
    }

    /// Send a command and wait for its reply, keeping anything else that arrives meanwhile.
    pub async fn request(&mut self, command: Command) -> Result<Reply, ClientError> {
        let id = self.send(command).await?;
        self.reply_to(Some(id)).await
    }

    /// Wait for the reply with `id` (or `None`: a reply to an unreadable frame).
    pub async fn reply_to(&mut self, id: Option<u64>) -> Result<Reply, ClientError> {
        loop {
            match self.recv().await? {
                ServerMessage::Control(Control::Reply(reply)) if reply.id == id => return Ok(reply),
                other => self.pending.push_back(other),
            }
        }
    }

    /// The next message: first anything kept while waiting for replies, then the socket.
    pub async fn next(&mut self) -> Result<ServerMessage, ClientError> {
        match self.pending.pop_front() {
            Some(message) => Ok(message),
            None => self.recv().await,
        }
    }

    /// The next room event, skipping control messages.
    pub async fn next_event(&mut self) -> Result<Event, ClientError> {
        loop {
            if let ServerMessage::Event(event) = self.next().await? {
                return Ok(event);
            }
        }
    }

    /// The next event that is not a `viewer_count` (which arrive on a timer).
    pub async fn next_non_count_event(&mut self) -> Result<Event, ClientError> {
        loop {
            let event = self.next_event().await?;
            if event.body.name() != "viewer_count" {
                return Ok(event);
            }
        }
    }

    /// Read until the hub closes the connection; returns its close code and reason.
    pub async fn closed(&mut self) -> Result<(u16, String), ClientError> {
        loop {
            match self.recv().await {
                Ok(_) => continue,
                Err(ClientError::Closed(Some(close))) => return Ok(close),
                Err(ClientError::Closed(None)) => return Ok((1006, String::new())),
                Err(other) => return Err(other),
            }
        }
    }

    /// Wait up to `WAIT` for one message from the socket.
    async fn recv(&mut self) -> Result<ServerMessage, ClientError> {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next()).await.map_err(|_| ClientError::Timeout)?;
            let message = match frame {
                None => return Err(ClientError::Closed(None)),
                Some(Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed)) => {
                    return Err(ClientError::Closed(None))
                }
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(message)) => message,
            };
            return match message {
                Message::Binary(bytes) => Ok(codec::decode(Wire::MsgPack, &bytes)?),
                Message::Text(text) => Ok(codec::decode(Wire::Json, text.as_bytes())?),
                Message::Close(frame) => Err(ClientError::Closed(frame.map(close_pair))),
                _ => continue,
            };
        }
    }

    /// Close politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

fn close_pair(frame: CloseFrame) -> (u16, String) {
    (frame.code.into(), frame.reason.to_string())
}
