//! The sending side every sender shares, below rooms, inboxes and sessions:
//!
//! - `frame.rs`: a server message as a whole WebSocket frame, built once for all its recipients;
//! - `outbox.rs`: one connection's sending end — a direct non-blocking write when nothing waits,
//!   else the backlog and a flush task while the socket is full;
//! - `backlog.rs`: the byte-bounded backlog, which coalesces counters and sheds droppable frames
//!   before any state frame is refused;
//! - `prefetch.rs`: a cache hint, so a fan-out fetches the next recipients' state while it writes.
//!
//! Rooms, inboxes and sessions all hand connections the same kind of [`frame::Frame`]; none of
//! them reaches into another to send.

pub mod backlog;
pub mod frame;
pub mod outbox;
pub mod prefetch;
