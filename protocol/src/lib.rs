//! The Stagehand wire protocol, version 1.
//!
//! This crate holds every message that crosses the WebSocket (and the JSON bodies of the HTTP API),
//! and the codec that turns them into bytes. It has no async runtime in it, so clients, the hub, the
//! load harness and the examples all share one definition of the wire.
//!
//! Layout:
//! - [`types`]: the nouns shared by requests and events (actors, billboards, snapshots, grants…);
//! - [`client`]: what a client sends ([`ClientMessage`] = `id` + [`Command`]);
//! - [`server`]: what the hub sends ([`ServerMessage`]: replies, `welcome`, notifications, room events);
//! - [`error`]: stable error codes carried in replies;
//! - [`close`]: WebSocket close codes the hub uses;
//! - [`claims`]: the JWT claims a platform backend signs;
//! - [`codec`]: MessagePack and JSON encoding, and the strict decoder.
//!
//! `protocol/SPEC.md` is the same contract written for client authors.

pub mod claims;
pub mod client;
pub mod close;
pub mod codec;
pub mod error;
pub mod server;
pub mod types;

pub use claims::Claims;
pub use client::{ClientMessage, Command};
pub use close::CloseCode;
pub use codec::{DecodeError, Wire};
pub use error::{ErrorBody, ErrorCode};
pub use server::{Control, Event, EventBody, Reply, ReplyResult, ServerMessage};

/// The protocol's major version. Additive changes (new message types, new optional fields, new
/// error codes) keep it; anything a v1 client could misread bumps it and the subprotocol names.
pub const PROTOCOL_VERSION: u32 = 1;

/// `Sec-WebSocket-Protocol` value for MessagePack binary frames (the default).
pub const SUBPROTOCOL_MSGPACK: &str = "stagehand.v1.msgpack";

/// `Sec-WebSocket-Protocol` value for JSON text frames.
pub const SUBPROTOCOL_JSON: &str = "stagehand.v1.json";
