//! The sending end of one connection: what rooms and the session hold to reach it.
//!
//! A bounded queue of ready-to-write frames feeds the connection's writer task. Queuing never
//! waits: a full queue either drops a droppable event (counted) or closes the connection as a slow
//! consumer, so one slow client never holds up a room's broadcast.

use axum::extract::ws::Message;
use stagehand_protocol::{CloseCode, Wire};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A connection's id, unique for the life of the hub process.
pub type ConnId = u64;

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

/// State shared by the connection's reader, writer and every outbox clone.
pub struct Shared {
    /// Cancelled to end the connection; a child of the hub's shutdown token.
    pub kill: CancellationToken,
    /// The close frame to send, set once by whoever closes first.
    reason: OnceLock<(CloseCode, String)>,
    /// Last time anything arrived from the client, ms since the connection started.
    pub last_seen_ms: AtomicU64,
}

impl Shared {
    pub fn new(kill: CancellationToken) -> Arc<Self> {
        Arc::new(Shared { kill, reason: OnceLock::new(), last_seen_ms: AtomicU64::new(0) })
    }

    /// Ask the connection to close with `code`. The first reason given wins.
    pub fn close(&self, code: CloseCode, detail: impl Into<String>) {
        let _ = self.reason.set((code, detail.into()));
        self.kill.cancel();
    }

    /// The close frame to send; shutdown when nobody gave a reason.
    pub fn close_reason(&self) -> (CloseCode, String) {
        self.reason.get().cloned().unwrap_or((CloseCode::GOING_AWAY, "hub restarting, reconnect".into()))
    }

    pub fn touch(&self, since_start_ms: u64) {
        self.last_seen_ms.store(since_start_ms, Ordering::Relaxed);
    }
}

/// A cheap handle (two reference counts) to queue frames to one connection.
#[derive(Clone)]
pub struct Outbox {
    pub id: ConnId,
    pub wire: Wire,
    tx: mpsc::Sender<Message>,
    shared: Arc<Shared>,
}

impl Outbox {
    pub fn new(id: ConnId, wire: Wire, tx: mpsc::Sender<Message>, shared: Arc<Shared>) -> Self {
        Outbox { id, wire, tx, shared }
    }

    /// Queue `frame` without waiting. A frame that must not be lost and does not fit closes the
    /// connection as a slow consumer.
    pub fn offer(&self, frame: &Message, droppable: bool) -> Delivery {
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

    pub fn is_closed(&self) -> bool {
        self.shared.kill.is_cancelled()
    }
}
