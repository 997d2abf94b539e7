//! One subscriber connection, for either target: open the TCP socket (from a chosen 127.0.0.x
//! source address), do the WebSocket handshake under a concurrency limit, authenticate and join
//! (Stagehand), then [`pump`] frames into a [`Tally`] until told to stop.
//!
//! The pump decodes only what it measures ([`Lite`]) instead of the full `ServerMessage`: the
//! load generator has one core, and at saturation it must read several hundred thousand frames a
//! second. Setup frames (`welcome`, replies) are decoded with the real protocol types.

use crate::metrics::Tally;
use crate::payload;
use crate::target::{Target, TargetKind};
use anyhow::{anyhow, bail, Context, Result};
use futures::{SinkExt, Stream, StreamExt};
use serde::Deserialize;
use stagehand_protocol::client::Since;
use stagehand_protocol::codec::{decode, encode};
use stagehand_protocol::types::Snapshot;
use stagehand_protocol::{ClientMessage, Command, Control, ReplyResult, ServerMessage, Wire};
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::{HeaderValue, AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

pub type Ws = WebSocketStream<TcpStream>;

/// How long one handshake (TCP connect + upgrade) and one setup request may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections per source address before the next 127.0.0.x is used. The ephemeral port range
/// towards one server address holds about 28,000, but the kernel's search for a free port slows
/// down long before it is full: 19,000 connections ramped in 9.2 s from one address and in 3.7 s
/// from four.
pub const CONNECTIONS_PER_SOURCE: usize = 8_000;

/// Opens connections: picks the source address, limits in-flight handshakes, sets small buffers.
pub struct Connector {
    pub target: Arc<Target>,
    sources: Vec<Ipv4Addr>,
    handshakes: Semaphore,
    config: WebSocketConfig,
}

impl Connector {
    /// `sources` = how many 127.0.0.x addresses to spread over (0 or 1: let the kernel choose).
    pub fn new(target: Arc<Target>, sources: u8, max_handshakes: usize) -> Connector {
        let sources = if sources > 1 { (1..=sources).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect() } else { vec![] };
        // Small buffers: a viewer receives small frames, and 100,000 connections × tungstenite's
        // 128 KiB default would be 12 GiB on the load generator.
        let config = WebSocketConfig::default().read_buffer_size(8 * 1024).write_buffer_size(0);
        Connector { target, sources, handshakes: Semaphore::new(max_handshakes.max(1)), config }
    }

    /// Source addresses to use for `connections` when the flag says 0 (automatic).
    pub fn auto_sources(flag: u8, connections: usize) -> u8 {
        if flag > 0 {
            flag
        } else {
            connections.div_ceil(CONNECTIONS_PER_SOURCE).clamp(1, 250) as u8
        }
    }

    /// Connect connection number `n` to `room`: handshake, and for Stagehand `welcome` + `join`.
    /// Returns the socket and the snapshot's seq (0 for nchan). At most `max_handshakes` of these
    /// run at once, so the server's listen backlog is never flooded.
    pub async fn join(&self, n: usize, room: &str, sub: &str) -> Result<(Ws, u64)> {
        let (ws, snapshot) = self.join_since(n, room, sub, None).await?;
        Ok((ws, snapshot.map_or(0, |s| s.seq)))
    }

    /// [`Connector::join`] with `join.since` (Stagehand), returning the whole snapshot (`None` for
    /// nchan), whose `recovered` says whether the missed events follow.
    pub async fn join_since(
        &self,
        n: usize,
        room: &str,
        sub: &str,
        since: Option<Since>,
    ) -> Result<(Ws, Option<Snapshot>)> {
        let _permit = self.handshakes.acquire().await.context("connector closed")?;
        let token = match self.target.kind {
            TargetKind::Stagehand => Some(self.target.token(stagehand_protocol::types::Role::Viewer, sub)?),
            TargetKind::Nchan => None,
        };
        let mut ws = self.open(n, room, token.as_deref()).await?;
        let snapshot = match self.target.kind {
            TargetKind::Stagehand => {
                let wire = self.target.wire;
                wait_welcome(&mut ws, wire).await?;
                let join = Command::Join { room: room.to_owned(), since };
                match request_result(&mut ws, wire, 1, join).await? {
                    Ok(Some(ReplyResult::Snapshot(snapshot))) => Some(snapshot),
                    Ok(_) => bail!("join answered without a snapshot"),
                    Err(code) => bail!("join refused: {code}"),
                }
            }
            TargetKind::Nchan => None,
        };
        Ok((ws, snapshot))
    }

    /// TCP connect (bound to a source address when several are in use) and WebSocket upgrade.
    pub async fn open(&self, n: usize, room: &str, token: Option<&str>) -> Result<Ws> {
        let addr = self.target.addr;
        let connect = async {
            let stream = match self.sources.get(n % self.sources.len().max(1)) {
                Some(ip) => connect_from(*ip, addr).await?,
                None => TcpStream::connect(addr).await?,
            };
            stream.set_nodelay(true)?;
            let mut request = self.target.ws_url(room).into_client_request()?;
            if let Some(token) = token {
                request.headers_mut().insert(AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}"))?);
            }
            if self.target.kind == TargetKind::Stagehand {
                let protocol = HeaderValue::from_static(self.target.wire.subprotocol());
                request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, protocol);
            }
            let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(self.config)).await?;
            anyhow::Ok(ws)
        };
        tokio::time::timeout(STEP_TIMEOUT, connect).await.map_err(|_| anyhow!("handshake timed out"))?
    }
}

/// A TCP connection from `source` (port chosen at connect time, so that each source address has
/// the whole ephemeral range towards each server address).
async fn connect_from(source: Ipv4Addr, to: SocketAddr) -> Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    bind_address_no_port(&socket);
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0)).with_context(|| format!("binding {source}"))?;
    Ok(socket.connect(to).await?)
}

/// `IP_BIND_ADDRESS_NO_PORT`: without it `bind(ip, 0)` reserves a port for every destination and
/// the range runs out at 28,000 connections in total instead of per server address.
fn bind_address_no_port(socket: &TcpSocket) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: a valid fd, a pointer to a live c_int and its size. Failure only costs ports.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Wait for the hub's `welcome`.
pub async fn wait_welcome(ws: &mut Ws, wire: Wire) -> Result<()> {
    loop {
        match next_message(ws, wire).await? {
            ServerMessage::Control(Control::Welcome(_)) => return Ok(()),
            ServerMessage::Control(Control::Reply(reply)) if !reply.ok => {
                bail!("refused before welcome: {:?}", reply.error.map(|e| e.code.as_str()))
            }
            _ => {}
        }
    }
}

/// Send one request and wait for its reply. `Ok(Ok(seq))` on success (`seq` from a snapshot,
/// comment or published result, if any); `Ok(Err(code))` when the hub refused it.
pub async fn request(ws: &mut Ws, wire: Wire, id: u64, command: Command) -> Result<Result<Option<u64>, String>> {
    Ok(request_result(ws, wire, id, command).await?.map(|result| match result {
        Some(ReplyResult::Snapshot(s)) => Some(s.seq),
        Some(ReplyResult::Comment { seq, .. } | ReplyResult::Published { seq }) => Some(seq),
        _ => None,
    }))
}

/// Send one request and wait for its reply: `Ok(Ok(result))` on success, `Ok(Err(code))` when the
/// hub refused it.
pub async fn request_result(
    ws: &mut Ws,
    wire: Wire,
    id: u64,
    command: Command,
) -> Result<Result<Option<ReplyResult>, String>> {
    let bytes = encode(wire, &ClientMessage::new(id, command))?;
    ws.send(frame(wire, bytes)).await?;
    loop {
        if let ServerMessage::Control(Control::Reply(reply)) = next_message(ws, wire).await? {
            if reply.id != Some(id) {
                continue;
            }
            if !reply.ok {
                return Ok(Err(reply.error.map(|e| e.code.as_str().to_owned()).unwrap_or_else(|| "unknown".into())));
            }
            return Ok(Ok(reply.result));
        }
    }
}

/// A binary (MessagePack) or text (JSON) frame holding `bytes`.
pub fn frame(wire: Wire, bytes: bytes::Bytes) -> Message {
    match wire {
        Wire::MsgPack => Message::Binary(bytes),
        // JSON encoding is UTF-8 by construction.
        Wire::Json => Message::Text(String::from_utf8_lossy(&bytes).into_owned().into()),
    }
}

/// The next protocol message, fully decoded; a close or EOF is an error.
async fn next_message(ws: &mut Ws, wire: Wire) -> Result<ServerMessage> {
    loop {
        let msg = tokio::time::timeout(STEP_TIMEOUT, ws.next())
            .await
            .map_err(|_| anyhow!("no answer from the server"))?
            .ok_or_else(|| anyhow!("connection closed"))??;
        match msg {
            Message::Binary(b) => return Ok(decode(wire, &b)?),
            Message::Text(t) => return Ok(decode(wire, t.as_bytes())?),
            Message::Close(c) => bail!("closed by server: {}", c.map(|c| u16::from(c.code)).unwrap_or(1005)),
            _ => {}
        }
    }
}

/// The fields of a server frame the pump looks at, borrowed from the frame. Unknown fields are
/// skipped.
#[derive(Deserialize)]
pub struct Lite<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default)]
    pub seq: Option<u64>,
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(default)]
    pub ok: Option<bool>,
    #[serde(default, borrow)]
    pub error: Option<LiteError<'a>>,
}

#[derive(Deserialize)]
pub struct LiteError<'a> {
    #[serde(borrow)]
    pub code: Cow<'a, str>,
}

impl<'a> Lite<'a> {
    /// Decode without copying strings (the protocol crate's strict decoder copies them all,
    /// which costs the load generator ~10% at saturation).
    pub fn decode(wire: Wire, bytes: &'a [u8]) -> Option<Lite<'a>> {
        match wire {
            Wire::MsgPack => rmp_serde::from_slice(bytes).ok(),
            Wire::Json => serde_json::from_slice(bytes).ok(),
        }
    }
}

/// Where a pump records, and who it is.
#[derive(Clone)]
pub struct PumpCtx {
    pub kind: TargetKind,
    pub wire: Wire,
    pub tally: Arc<Tally>,
    /// Receiver number (picks the latency shard).
    pub who: usize,
    /// Room index (for per-room delivery counts).
    pub room: usize,
    /// After a recovered rejoin: the snapshot's seq. Events up to it are the missed ones replayed
    /// (counted in [`Tally::replayed`], kept out of the latency histogram); 0 otherwise.
    pub replay_until: u64,
}

/// How a pump ended.
#[derive(Debug, Clone, Default)]
pub struct PumpEnd {
    /// Highest room seq seen (Stagehand), or `start_seq` if none arrived.
    pub last_seq: u64,
    /// Why it ended, if not because it was told to stop: `close_4008`, `eof`, `error`.
    pub ended_by: Option<String>,
}

/// Read frames until `stop` is cancelled or the connection ends, counting stamped payloads.
/// `start_seq` is the snapshot's seq, so that a gap right after joining is counted too.
pub async fn pump<S>(ws: &mut S, ctx: &PumpCtx, start_seq: u64, stop: &CancellationToken) -> PumpEnd
where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let mut end = PumpEnd { last_seq: start_seq, ended_by: None };
    // One wait for `stop` for the whole pump, not a new one registered and dropped per frame.
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    loop {
        let msg = tokio::select! {
            biased;
            _ = &mut stopped => return end,
            msg = ws.next() => msg,
        };
        let msg = match msg {
            Some(Ok(msg)) => msg,
            Some(Err(_)) => {
                end.ended_by = Some("error".into());
                break;
            }
            None => {
                end.ended_by = Some("eof".into());
                break;
            }
        };
        match msg {
            Message::Text(text) => on_frame(ctx, &mut end, text.as_bytes()),
            Message::Binary(bytes) => on_frame(ctx, &mut end, &bytes),
            Message::Close(c) => {
                end.ended_by = Some(format!("close_{}", c.map(|c| u16::from(c.code)).unwrap_or(1005)));
                break;
            }
            _ => {}
        }
    }
    if let Some(why) = &end.ended_by {
        ctx.tally.outcome(why);
    }
    end
}

fn on_frame(ctx: &PumpCtx, end: &mut PumpEnd, bytes: &[u8]) {
    match ctx.kind {
        // nchan delivers the published body as it is.
        TargetKind::Nchan => match std::str::from_utf8(bytes).ok().and_then(payload::parse) {
            Some(stamp) => ctx.tally.delivered(ctx.who, ctx.room, micros_since(stamp.nanos)),
            None => undecodable(ctx),
        },
        TargetKind::Stagehand => match Lite::decode(ctx.wire, bytes) {
            Some(lite) => on_stagehand_frame(ctx, end, &lite),
            None => undecodable(ctx),
        },
    }
}

fn undecodable(ctx: &PumpCtx) {
    ctx.tally.undecodable.fetch_add(1, Relaxed);
}

fn micros_since(nanos: u64) -> u64 {
    payload::now_nanos().saturating_sub(nanos) / 1000
}

fn on_stagehand_frame(ctx: &PumpCtx, end: &mut PumpEnd, lite: &Lite) {
    match lite.kind.as_ref() {
        "reply" => match (&lite.ok, &lite.error) {
            (Some(true), _) => {
                ctx.tally.replies_ok.fetch_add(1, Relaxed);
            }
            (_, Some(error)) => ctx.tally.outcome(error.code.as_ref()),
            _ => ctx.tally.outcome("reply_without_error"),
        },
        "welcome" | "notification" => {}
        // Ephemeral: repeats the latest seq.
        "viewer_count" => {}
        _ => {
            let mut replayed = false;
            if let Some(seq) = lite.seq {
                if seq <= end.last_seq {
                    ctx.tally.duplicates.fetch_add(1, Relaxed);
                } else if seq > end.last_seq + 1 {
                    ctx.tally.seq_gaps.fetch_add(seq - end.last_seq - 1, Relaxed);
                }
                replayed = seq > end.last_seq && seq <= ctx.replay_until;
                end.last_seq = end.last_seq.max(seq);
            }
            if replayed {
                ctx.tally.replayed(ctx.room);
            } else if let Some(stamp) = lite.text.as_deref().and_then(payload::parse) {
                ctx.tally.delivered(ctx.who, ctx.room, micros_since(stamp.nanos));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{TargetArgs, WireArg};
    use std::collections::BTreeMap;
    use tokio::net::TcpListener;

    /// Connections really leave from 127.0.0.1, .2 and .3 in turn when three sources are asked
    /// for: a WebSocket server on 127.0.0.1 records each peer's address.
    #[tokio::test]
    async fn connections_spread_over_the_source_addresses() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let args = TargetArgs {
            target: TargetKind::Nchan,
            addr: listener.local_addr().unwrap(),
            jwt_secret: String::new(),
            api_key: String::new(),
            wire: WireArg::Msgpack,
        };
        let connector = Connector::new(Arc::new(Target::new(&args).unwrap()), 3, 4);
        let server = tokio::spawn(async move {
            let mut peers: BTreeMap<IpAddr, usize> = BTreeMap::new();
            let mut sockets = Vec::new();
            for _ in 0..6 {
                let (stream, peer) = listener.accept().await.unwrap();
                *peers.entry(peer.ip()).or_default() += 1;
                sockets.push(tokio_tungstenite::accept_async(stream).await.unwrap());
            }
            peers
        });
        let mut clients = Vec::new();
        for n in 0..6 {
            clients.push(connector.open(n, "r", None).await.unwrap());
        }
        let peers = server.await.unwrap();
        let expected: BTreeMap<IpAddr, usize> = (1..=3).map(|i| (IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)), 2)).collect();
        assert_eq!(peers, expected);
        assert_eq!(Connector::auto_sources(0, 60_000), 8);
        assert_eq!(Connector::auto_sources(0, 10), 1);
    }
}
