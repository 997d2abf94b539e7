//! The broker: where a room's events get their place in the sequence and are kept for recovery.
//!
//! Every event that takes a `seq` (or, for staff-only events, a `staff_seq`) goes through
//! [`Broker::publish`]. The broker assigns the position, keeps the event in the room's bounded
//! history, and hands it to the node's one local entry point, [`Deliver::deliver`], which applies
//! it to the room's state and fans it out to the members on this node. The memory broker
//! ([`memory::MemoryBroker`]) calls that entry point itself, in sequence order; a Redis broker will
//! call the same entry point from its subscription, so a node's rooms never know which broker
//! they run on (centrifuge's `Broker` → `HandlePublication` is the model).
//!
//! A room's history has an **epoch**: a string that changes whenever the history's continuity is
//! lost (the hub restarted, the room was forgotten and created again). A position is only
//! meaningful within its epoch.

pub mod memory;

use stagehand_protocol::client::Since;
use stagehand_protocol::server::{Event, EventBody};
use stagehand_protocol::types::Millis;
use std::sync::Arc;

/// Where a room's streams stand: the last `seq` and `staff_seq` given, in `epoch`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Position {
    pub seq: u64,
    pub staff_seq: u64,
    pub epoch: Arc<str>,
}

/// Which of a room's two streams a reader wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streams {
    /// The room stream only (viewers).
    Room,
    /// The room stream and the staff-only stream, merged in publication order (creator, agency).
    RoomAndStaff,
}

/// Why a history request could not be served in full. The caller answers `recovered: false` with
/// a fresh snapshot: the client never silently misses an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Gap {
    #[error("the room's history has another epoch")]
    Epoch,
    #[error("events after the given position have left the history")]
    Evicted,
    #[error("the given position is ahead of the room")]
    Ahead,
    #[error("staff recovery needs `since.staff_seq`")]
    NoStaffSeq,
    #[error("more events were missed than the connection's queue holds")]
    TooMany,
}

/// The broker's contract, for every implementation:
/// - **Order:** publications of one room are delivered to [`Deliver::deliver`] in the order of
///   their positions, each exactly once per node; `seq` (and `staff_seq`) have no gaps.
/// - **History:** the last `history_size` events of each stream, none older than `history_ttl`,
///   are kept; [`Broker::history`] returns all events after a position or says why it cannot.
/// - **Epoch:** a room's epoch is fixed while its history is continuous and changes when it is
///   not (restart, [`Broker::forget`]).
pub trait Broker: Send + Sync + 'static {
    /// Give `body` its place in `room`'s stream (staff-only bodies in the staff stream), keep it,
    /// and deliver it. Returns the event as delivered.
    fn publish(&self, room: &str, body: EventBody, ts: Millis) -> Arc<Event>;

    /// Every event of `streams` after `since`, oldest first (room and staff events interleaved as
    /// published), or why not all of them can be given.
    fn history(&self, room: &str, since: &Since, streams: Streams, now: Millis) -> Result<Vec<Arc<Event>>, Gap>;

    /// The room's current position (its stream is created, with a new epoch, if it has none).
    fn position(&self, room: &str) -> Position;

    /// Forget the room's streams: a room created again later starts a new epoch.
    fn forget(&self, room: &str);
}

/// The node's local entry point for publications: apply to the room, fan out to its members.
pub trait Deliver: Send + Sync + 'static {
    fn deliver(&self, event: Arc<Event>);
}
