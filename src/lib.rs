//! Stagehand: a real-time WebSocket hub for live-commerce rooms.
//!
//! # Layout — the data path, in file order
//! - [`server`]: bind, serve, shut down gracefully;
//! - [`http`]: the HTTP side of the one port (`/healthz`, `/readyz`, `/metrics`, `/api/v1`);
//! - [`conn`]: one WebSocket connection — handshake, the reading session, the batching writer,
//!   and the bounded outbox between them;
//! - [`auth`]: verifying platform tokens into an [`auth::Identity`];
//! - [`commands`]: each request → rate limit → [`policy`] (role × command table) → its handler;
//! - [`rooms`]: rooms in memory, their sequence, and the encode-once fan-out to members;
//! - [`partner`]: Creator Partner Access — requests, decisions, grants, notifications, audit —
//!   on the durable [`store`] (SQLite);
//! - [`limits`], [`metrics`], [`config`], [`error`]: the supporting cast;
//! - [`client`] and [`reconnect`]: a client of the hub, and how it comes back after a drop
//!   (back-off, `join.since`), for the examples and the tests.
//!
//! Bytes → frames ([`stagehand_protocol::codec`]) → commands ([`stagehand_protocol::Command`]) →
//! room logic ([`rooms::Room`]) → events → encoded bytes ([`rooms::fanout`]) → writer
//! ([`conn::writer`]). Only the writer touches a socket's sink.

pub mod auth;
pub mod broker;
pub mod client;
pub mod clock;
pub mod commands;
pub mod config;
pub mod conn;
pub mod delivery;
pub mod error;
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
