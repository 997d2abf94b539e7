//! What every sender shares: turning a server message into a ready-to-write frame.
//!
//! Rooms, inboxes and sessions all hand connections the same kind of [`Frame`]; encoding lives
//! here, below all of them, so none of them reaches into another to send.

pub mod frame;
