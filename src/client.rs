//! A small Stagehand client on tokio-tungstenite, used by the examples and the integration tests.
//! It speaks either wire format, authenticates by header or by `connect` frame, matches replies
//! to requests by `id`, and keeps whatever arrives in between for the caller.
//!
//! [`Options`] tune it for tests: no wait limit (under paused tokio time a limit would fire as
//! soon as the runtime idles), and a small socket receive buffer (so a client that stops reading
//! backs the hub up after a few frames instead of megabytes).

use futures::{SinkExt, StreamExt};
use stagehand_protocol::server::{Control, Event, Reply, ServerMessage, Welcome};
use stagehand_protocol::{codec, ClientMessage, Command, Wire};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

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

/// How long a client waits for any one message before giving up, unless told otherwise.
pub const WAIT: Duration = Duration::from_secs(10);

/// How a client connects and waits.
pub struct Options {
    pub auth: Auth,
    /// How long to wait for any one message; `None` waits as long as it takes (for tests on
    /// paused tokio time, where the hub's own timers decide what happens).
    pub wait: Option<Duration>,
    /// `SO_RCVBUF` of the client's socket, set before connecting; the system default if `None`.
    pub recv_buffer_bytes: Option<u32>,
}

impl Options {
    /// `auth`, waiting up to [`WAIT`], with the system's socket buffers.
    pub fn new(auth: Auth) -> Self {
        Options { auth, wait: Some(WAIT), recv_buffer_bytes: None }
    }
}

pub struct Client {
    ws: WebSocketStream<TcpStream>,
    wire: Wire,
    next_id: u64,
    wait: Option<Duration>,
    /// Messages that arrived while waiting for a reply.
    pending: VecDeque<ServerMessage>,
    /// The `welcome`, once received.
    pub welcome: Option<Welcome>,
    /// WebSocket pings received from the hub (answered by the WebSocket layer while reading).
    pub pings: u64,
}

impl Client {
    /// Connect to `url` (e.g. `ws://127.0.0.1:8080/ws`). With a token, waits for `welcome`.
    pub async fn connect(url: &str, wire: Wire, auth: Auth) -> Result<Client, ClientError> {
        Client::connect_with(url, wire, Options::new(auth)).await
    }

    /// Connect to a `ws://` `url` with `options`. With a token, waits for `welcome`.
    pub async fn connect_with(url: &str, wire: Wire, options: Options) -> Result<Client, ClientError> {
        let Options { auth, wait, recv_buffer_bytes } = options;
        let mut request = url.into_client_request()?;
        let socket = open_socket(request.uri(), recv_buffer_bytes).await?;
        let headers = request.headers_mut();
        headers.insert("sec-websocket-protocol", HeaderValue::from_static(wire.subprotocol()));
        if let Auth::Header(token) = &auth {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|e| ClientError::Unexpected(e.to_string()))?;
            headers.insert("authorization", value);
        }
        let (ws, _) = tokio_tungstenite::client_async(request, socket).await?;
        let mut client = Client { ws, wire, next_id: 0, wait, pending: VecDeque::new(), welcome: None, pings: 0 };
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

    /// Change how long the client waits for any one message (`None`: no limit).
    pub fn set_wait(&mut self, wait: Option<Duration>) {
        self.wait = wait;
    }

    /// The socket under the WebSocket, to write raw bytes the WebSocket layer would refuse to.
    pub fn socket_mut(&mut self) -> &mut TcpStream {
        self.ws.get_mut()
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

    /// The next event that does not arrive on a timer (`viewer_count`, and the once-a-second
    /// `dashboard` the creator and `analytics` staff get).
    pub async fn next_non_count_event(&mut self) -> Result<Event, ClientError> {
        loop {
            let event = self.next_event().await?;
            if !matches!(event.body.name(), "viewer_count" | "dashboard") {
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

    /// Wait (up to the client's wait limit) for one message from the socket.
    async fn recv(&mut self) -> Result<ServerMessage, ClientError> {
        loop {
            let frame = match self.wait {
                Some(wait) => tokio::time::timeout(wait, self.ws.next()).await.map_err(|_| ClientError::Timeout)?,
                None => self.ws.next().await,
            };
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
                Message::Ping(_) => {
                    self.pings += 1;
                    continue;
                }
                _ => continue,
            };
        }
    }

    /// Close politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// A TCP connection to the host and port of `uri`, with the receive buffer set before connecting
/// (so the window the client advertises is small from the start).
async fn open_socket(
    uri: &tokio_tungstenite::tungstenite::http::Uri,
    recv_buffer: Option<u32>,
) -> Result<TcpStream, ClientError> {
    let host = uri.host().ok_or_else(|| ClientError::Unexpected(format!("no host in {uri}")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(80);
    let mut last_error = None;
    for addr in tokio::net::lookup_host((host, port)).await.map_err(tokio_tungstenite::tungstenite::Error::Io)? {
        let socket = if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() };
        let attempt = async {
            let socket = socket?;
            if let Some(bytes) = recv_buffer {
                socket.set_recv_buffer_size(bytes)?;
            }
            let stream = socket.connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok::<_, std::io::Error>(stream)
        };
        match attempt.await {
            Ok(stream) => return Ok(stream),
            Err(error) => last_error = Some(error),
        }
    }
    let error = last_error.unwrap_or_else(|| std::io::Error::other(format!("{host} has no address")));
    Err(tokio_tungstenite::tungstenite::Error::Io(error).into())
}

fn close_pair(frame: CloseFrame) -> (u16, String) {
    (frame.code.into(), frame.reason.to_string())
}
