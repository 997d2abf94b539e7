//! The sending side every sender shares, below rooms, inboxes and sessions: the bounded
//! per-connection queue ([`outbox`]) and turning a server message into a ready-to-write frame
//! ([`frame`]). Rooms, inboxes and sessions all hand connections the same kind of
//! [`outbox::Frame`]; none of them reaches into another to send. Only the connection's writer
//! (`conn/writer.rs`) takes frames out of the queue and touches the socket.

pub mod frame;
pub mod outbox;
