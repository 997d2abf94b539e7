//! The sending end of one connection: what rooms and the session hold to reach it.
//!
//! A bounded queue of ready-to-write frames feeds the connection's writer task. Queuing never
//! waits: a full queue either drops a droppable event (counted) or closes the connection as a slow
//! consumer, so one slow client never holds up a room's broadcast.

use axum::extract::ws::Message;
use futures::task::AtomicWaker;
use stagehand_protocol::{CloseCode, Wire};
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
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
    /// How the connection ends, set once by whoever closes first: the close frame to send, or
    /// `None` when the socket failed and no close frame can be sent.
    reason: OnceLock<Option<(CloseCode, String)>>,
    /// Heartbeat checks since anything last arrived from the client ([`crate::hub::Hub::heartbeat`]).
    silent_checks: AtomicU32,
}

impl Shared {
    pub fn new() -> Arc<Self> {
        Arc::new(Shared {
            killed: AtomicBool::new(false),
            wakers: [AtomicWaker::new(), AtomicWaker::new()],
            reason: OnceLock::new(),
            silent_checks: AtomicU32::new(0),
        })
    }

    /// Ask the connection to close with `code`. The first reason given wins.
    pub fn close(&self, code: CloseCode, detail: impl Into<String>) {
        let _ = self.reason.set(Some((code, detail.into())));
        self.kill();
    }

    /// End the connection without a close frame: the socket failed or was reset.
    pub fn abort(&self) {
        let _ = self.reason.set(None);
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

    /// The close frame to send (`None`: send none). "Going away" when nobody gave a reason.
    pub fn close_reason(&self) -> Option<(CloseCode, String)> {
        match self.reason.get() {
            Some(reason) => reason.clone(),
            None => Some((CloseCode::GOING_AWAY, GOING_AWAY_TEXT.into())),
        }
    }

    /// Something arrived from the client: it is alive.
    pub fn touch(&self) {
        self.silent_checks.store(0, Ordering::Relaxed);
    }

    /// Count one more heartbeat check with nothing from the client since its last frame; returns
    /// how many there have been.
    pub fn silent_check(&self) -> u32 {
        self.silent_checks.fetch_add(1, Ordering::Relaxed).saturating_add(1)
    }
}

/// The explanation sent with 1001: what a client should do about it.
pub const GOING_AWAY_TEXT: &str = "hub restarting; reconnect with jittered exponential back-off, rejoin with since";

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
