//! The writer task: the only code that touches a connection's socket sink.
//!
//! It waits for the first queued frame, takes whatever else is already queued (up to a batch),
//! and flushes them in as few socket writes as the write buffer allows; when the connection ends
//! it discards what is still queued and sends the close frame. It keeps no timer of its own: pings are queued like any frame by
//! the hub's heartbeat sweep ([`crate::hub::Hub::heartbeat`]), so a wake-up costs one queue
//! receive and one flag check.

use crate::delivery::outbox::{Frame, Shared, Task};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::stream::SplitSink;
use futures::SinkExt;
use stagehand_protocol::CloseCode;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::sync::mpsc;

/// Most frames gathered into one flush.
const MAX_BATCH: usize = 64;

/// Write queued frames until the connection is killed, then send its close frame. The close
/// frame may take up to `close_timeout` (`close_timeout_ms`) to go out before the socket is just
/// dropped.
pub async fn run(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Frame>,
    shared: Arc<Shared>,
    close_timeout: Duration,
) {
    loop {
        let frame = tokio::select! {
            biased;
            _ = shared.killed(Task::Writer) => break,
            frame = queue.recv() => frame,
        };
        let Some(frame) = frame else { break };
        // Usually the socket takes the batch at once. A client that stopped reading leaves the
        // flush pending forever, and being killed (e.g. as a slow consumer) must still end this
        // task, so only then is the write raced against the kill signal.
        let write = write_batch(&mut sink, frame, &mut queue);
        tokio::pin!(write);
        let written = match futures::poll!(&mut write) {
            Poll::Ready(written) => written,
            Poll::Pending => tokio::select! {
                biased;
                written = &mut write => written,
                _ = shared.killed(Task::Writer) => break,
            },
        };
        if written.is_err() {
            // The socket failed: no close frame can follow.
            shared.abort();
            return;
        }
    }
    // Later offers see a closed queue. What a slow consumer had queued and not yet written is
    // discarded: its close frame follows only what the kernel and the WebSocket layer's write
    // buffer already hold, so it gets its close code as soon as it reads that (and rejoins with
    // `since` for the rest). Any other close sends what was queued before the decision to close
    // (e.g. the notification that access was revoked) first.
    queue.close();
    let Some((code, detail)) = shared.close_reason() else { return };
    let frame = CloseFrame { code: code.0, reason: close_text(code, &detail).into() };
    let _ = tokio::time::timeout(close_timeout, async {
        if code != CloseCode::SLOW_CONSUMER {
            while let Ok(frame) = queue.try_recv() {
                sink.feed(Arc::unwrap_or_clone(frame)).await?;
            }
        }
        sink.send(Message::Close(Some(frame))).await?;
        sink.close().await
    })
    .await;
}

/// Feed `first` and everything already queued behind it (up to a batch), then flush once.
async fn write_batch(
    sink: &mut SplitSink<WebSocket, Message>,
    first: Frame,
    queue: &mut mpsc::Receiver<Frame>,
) -> Result<(), axum::Error> {
    sink.feed(Arc::unwrap_or_clone(first)).await?;
    for _ in 1..MAX_BATCH {
        match queue.try_recv() {
            Ok(frame) => sink.feed(Arc::unwrap_or_clone(frame)).await?,
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
