//! Stagehand: a real-time WebSocket hub for live-commerce rooms.
//!
//! # Layout — the data path, in file order
//! - [`server`]: bind, serve, shut down gracefully; [`hub`]: what every connection and HTTP
//!   handler shares;
//! - [`http`]: the HTTP side of the one port (`/healthz`, `/readyz`, `/metrics`, `/api/v1`);
//! - [`conn`]: one WebSocket connection — handshake, the reading session, the batching writer;
//! - [`auth`]: verifying platform tokens into an [`auth::Identity`];
//! - [`commands`]: each request → the sender's rate limit → the room exists → [`policy`] (role ×
//!   command × grant table) → membership → the room's rate limit → its handler;
//! - [`rooms`]: rooms in memory — one module per room feature (`rooms::features`), each room's
//!   state, members and joins with recovery (`rooms::room`), the encode-once fan-out
//!   (`rooms::fanout`);
//! - [`broker`]: each room's `seq`/`staff_seq`, epoch and bounded history, and the one local
//!   entry point published events come back through (memory broker now);
//! - [`delivery`]: the bounded per-connection outbox and frame encoding, shared by rooms, inboxes
//!   and sessions;
//! - [`catalog`]: creators' product sets (persisted), loaded into rooms' shopping bags;
//! - [`partner`]: Creator Partner Access — requests, decisions, grants, notifications, audit —
//!   on the durable [`store`] (SQLite);
//! - [`housekeeping`]: once a second, viewer counts, access expiry, reclaiming abandoned rooms,
//!   forgetting ended ones; store pruning on its own interval;
//! - [`limits`], [`metrics`], [`config`], [`clock`], [`error`]: the supporting cast;
//! - [`client`] and [`reconnect`]: a client of the hub, and how it comes back after a drop
//!   (back-off, `join.since`), for the examples and the tests.
//!
//! Bytes → frames ([`stagehand_protocol::codec`]) → commands ([`stagehand_protocol::Command`]) →
//! room features ([`rooms::features`]) → the broker ([`broker::Broker`]: seq, history) → the room
//! ([`rooms::Room::apply`]) → encoded bytes ([`rooms::fanout`]) → the outbox
//! ([`delivery::outbox`]) → writer ([`conn::writer`]). Only the writer touches a socket's sink.

pub mod auth;
pub mod broker;
pub mod catalog;
pub mod client;
pub mod clock;
pub mod commands;
pub mod config;
pub mod conn;
pub mod delivery;
pub mod error;
pub mod health;
pub mod housekeeping;
pub mod http;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod partner;
pub mod policy;
pub mod reconnect;
pub mod rooms;
pub mod server;
pub mod store;

pub use config::Config;
pub use hub::Hub;
pub use server::{start, RunningHub};
