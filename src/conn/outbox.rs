//! The sending end of one connection: what rooms and the session hold to reach it.
//!
//! A bounded queue of ready-to-write frames feeds the connection's writer task. Queuing never
//! waits: a full queue either drops a droppable event (counted) or closes the connection as a slow
//! consumer, so one slow client never holds up a room's broadcast.

use axum::extract::ws::Message;
use futures::task::AtomicWaker;
use stagehand_protocol::{CloseCode, Wire};
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use tokio::sync::mpsc;

/// A connection's id, unique for the life of the hub process.
pub type ConnId = u64;

/// A frame ready to write, shared by every connection it goes to. Queues hold the pointer, not the
/// message: tokio's queue allocates its slots 32 at a time, and 32 pointers are 256 bytes where 32
/// messages would be 1.3 KiB per idle connection.
pub type Frame = Arc<Message>;

/// What happened to one frame offered to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Queued,
    /// The queue was full and the frame was droppable.
    Dropped,
    /// The queue was full and the frame was not droppable: the connection is being closed.
    SlowConsumer,
    /// The connection is already gone.
    Gone,
}

/// Which of the connection's two tasks waits for the kill signal.
#[derive(Debug, Clone, Copy)]
pub enum Task {
    Reader,
    Writer,
}

/// State shared by the connection's reader, writer and every outbox clone.
///
/// The kill signal is a flag and one waker per task rather than a `CancellationToken`: the writer
/// polls it on every wake-up, once per delivered event, and a flag costs an atomic load where a
/// token takes a lock.
pub struct Shared {
    killed: AtomicBool,
    wakers: [AtomicWaker; 2],
    /// The close frame to send, set once by whoever closes first.
    reason: OnceLock<(CloseCode, String)>,
    /// Last time anything arrived from the client, ms on the hub's clock ([`crate::hub::Hub::uptime_ms`]).
    pub last_seen_ms: AtomicU64,
}

impl Shared {
    pub fn new(now_ms: u64) -> Arc<Self> {
        Arc::new(Shared {
            killed: AtomicBool::new(false),
            wakers: [AtomicWaker::new(), AtomicWaker::new()],
            reason: OnceLock::new(),
            last_seen_ms: AtomicU64::new(now_ms),
        })
    }

    /// Ask the connection to close with `code`. The first reason given wins.
    pub fn close(&self, code: CloseCode, detail: impl Into<String>) {
        let _ = self.reason.set((code, detail.into()));
        self.kill();
    }

    /// End the connection without a reason of its own (the close frame says "going away").
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.wakers.iter().for_each(AtomicWaker::wake);
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// Resolves once the connection is killed.
    pub async fn killed(&self, task: Task) {
        poll_fn(|cx| {
            if self.is_killed() {
                return Poll::Ready(());
            }
            self.wakers[task as usize].register(cx.waker());
            // Checked again after registering, so a kill in between is not missed.
            if self.is_killed() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// The close frame to send; shutdown when nobody gave a reason.
    pub fn close_reason(&self) -> (CloseCode, String) {
        self.reason.get().cloned().unwrap_or((CloseCode::GOING_AWAY, "hub restarting, reconnect".into()))
    }

    pub fn touch(&self, now_ms: u64) {
        self.last_seen_ms.store(now_ms, Ordering::Relaxed);
    }
}

/// A cheap handle (two reference counts) to queue frames to one connection.
#[derive(Clone)]
pub struct Outbox {
    pub id: ConnId,
    pub wire: Wire,
    tx: mpsc::Sender<Frame>,
    shared: Arc<Shared>,
}

impl Outbox {
    pub fn new(id: ConnId, wire: Wire, tx: mpsc::Sender<Frame>, shared: Arc<Shared>) -> Self {
        Outbox { id, wire, tx, shared }
    }

    /// Queue `frame` without waiting. A frame that must not be lost and does not fit closes the
    /// connection as a slow consumer.
    pub fn offer(&self, frame: &Frame, droppable: bool) -> Delivery {
        match self.tx.try_send(frame.clone()) {
            Ok(()) => Delivery::Queued,
            Err(mpsc::error::TrySendError::Closed(_)) => Delivery::Gone,
            Err(mpsc::error::TrySendError::Full(_)) if droppable => Delivery::Dropped,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close(CloseCode::SLOW_CONSUMER, "outgoing queue full");
                Delivery::SlowConsumer
            }
        }
    }

    pub fn close(&self, code: CloseCode, detail: impl Into<String>) {
        self.shared.close(code, detail);
    }

    /// How many more frames the queue takes now.
    pub fn free(&self) -> usize {
        self.tx.capacity()
    }

    pub fn is_closed(&self) -> bool {
        self.shared.is_killed()
    }

    /// The state shared with the connection's tasks.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}
