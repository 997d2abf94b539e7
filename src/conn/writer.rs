//! The writer task: the only code that touches a connection's socket sink.
//!
//! It waits for the first queued frame, takes whatever else is already queued (up to a batch),
//! and flushes them in as few socket writes as the write buffer allows. It also pings on a timer,
//! closes connections that went silent, and sends the close frame when the connection ends.

use super::outbox::Shared;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::stream::SplitSink;
use futures::SinkExt;
use stagehand_protocol::CloseCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Most frames gathered into one flush.
const MAX_BATCH: usize = 64;
/// How long a close frame may take to go out (behind whatever a slow client has not read yet)
/// before the socket is just dropped.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Silent heartbeat intervals tolerated before a connection counts as dead.
const MISSED_HEARTBEATS: u32 = 3;

pub async fn run(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Message>,
    shared: Arc<Shared>,
    heartbeat: Duration,
    started: Instant,
) {
    let mut ping = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = shared.kill.cancelled() => break,
            frame = queue.recv() => {
                let Some(frame) = frame else { break };
                // A client that stopped reading leaves the flush pending forever; being killed
                // (e.g. as a slow consumer) must still end this task.
                tokio::select! {
                    biased;
                    written = write_batch(&mut sink, frame, &mut queue) => if written.is_err() {
                        shared.kill.cancel();
                        return;
                    },
                    _ = shared.kill.cancelled() => break,
                }
            }
            _ = ping.tick() => {
                let silent_ms = (started.elapsed().as_millis() as u64)
                    .saturating_sub(shared.last_seen_ms.load(Ordering::Relaxed));
                if silent_ms >= heartbeat.as_millis() as u64 * MISSED_HEARTBEATS as u64 {
                    shared.close(CloseCode::HEARTBEAT_TIMEOUT, "no frames from the client");
                } else if sink.send(Message::Ping(Default::default())).await.is_err() {
                    shared.kill.cancel();
                    return;
                }
            }
        }
    }
    let (code, detail) = shared.close_reason();
    let frame = CloseFrame { code: code.0, reason: close_text(code, &detail).into() };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        sink.send(Message::Close(Some(frame))).await?;
        sink.close().await
    })
    .await;
}

/// Feed `first` and everything already queued behind it (up to a batch), then flush once.
async fn write_batch(
    sink: &mut SplitSink<WebSocket, Message>,
    first: Message,
    queue: &mut mpsc::Receiver<Message>,
) -> Result<(), axum::Error> {
    sink.feed(first).await?;
    for _ in 1..MAX_BATCH {
        match queue.try_recv() {
            Ok(frame) => sink.feed(frame).await?,
            Err(_) => break,
        }
    }
    sink.flush().await
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
