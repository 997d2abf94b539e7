//! What the harness talks to — a Stagehand hub or an nchan server — and how to reach each: the
//! WebSocket URL a viewer opens, the HTTP URL the backend publishes to, and the tokens a Stagehand
//! hub wants. Every address is checked to be loopback: this harness never sends traffic elsewhere.

use anyhow::{bail, Context, Result};
use jsonwebtoken::{EncodingKey, Header};
use serde::Serialize;
use stagehand_protocol::types::Role;
use stagehand_protocol::{Claims, Wire};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Which server is under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// A Stagehand hub: `/ws` with a JWT, `join`, events published to `/api/v1/rooms/{room}/events`.
    Stagehand,
    /// nginx + nchan: WebSocket subscribers on `/sub/{room}`, HTTP publisher on `/pub/{room}`
    /// (see `load-tests/nchan/nginx.conf`).
    Nchan,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Stagehand => "stagehand",
            TargetKind::Nchan => "nchan",
        }
    }
}

/// Stagehand's wire format for viewer connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum WireArg {
    Msgpack,
    Json,
}

impl From<WireArg> for Wire {
    fn from(arg: WireArg) -> Wire {
        match arg {
            WireArg::Msgpack => Wire::MsgPack,
            WireArg::Json => Wire::Json,
        }
    }
}

/// Command-line description of the server under load.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct TargetArgs {
    /// The server under load.
    #[arg(long, value_enum, default_value = "stagehand")]
    pub target: TargetKind,
    /// Its address (loopback only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// HS256 secret the hub verifies viewer tokens with (Stagehand only).
    #[arg(long, env = "STAGEHAND_JWT_SECRET", default_value = "load-test-secret", hide_env_values = true)]
    #[serde(skip)]
    pub jwt_secret: String,
    /// Backend API key for publishing (Stagehand only).
    #[arg(long, env = "STAGEHAND_API_KEY", default_value = "load-test-key", hide_env_values = true)]
    #[serde(skip)]
    pub api_key: String,
    /// Wire format of Stagehand viewer connections.
    #[arg(long, value_enum, default_value = "msgpack")]
    pub wire: WireArg,
}

/// A checked, ready-to-use target.
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: TargetKind,
    pub addr: SocketAddr,
    pub wire: Wire,
    api_key: String,
    jwt_key: EncodingKey,
}

impl Target {
    pub fn new(args: &TargetArgs) -> Result<Target> {
        if !args.addr.ip().is_loopback() {
            bail!("{} is not a loopback address: this harness only loads servers on this machine", args.addr);
        }
        Ok(Target {
            kind: args.target,
            addr: args.addr,
            wire: args.wire.into(),
            api_key: args.api_key.clone(),
            jwt_key: EncodingKey::from_secret(args.jwt_secret.as_bytes()),
        })
    }

    /// The URL a subscriber opens for `room`.
    pub fn ws_url(&self, room: &str) -> String {
        match self.kind {
            TargetKind::Stagehand => format!("ws://{}/ws", self.addr),
            TargetKind::Nchan => format!("ws://{}/sub/{room}", self.addr),
        }
    }

    /// The URL the backend publishes `room`'s events to.
    pub fn publish_url(&self, room: &str) -> String {
        match self.kind {
            TargetKind::Stagehand => format!("http://{}/api/v1/rooms/{room}/events", self.addr),
            TargetKind::Nchan => format!("http://{}/pub/{room}", self.addr),
        }
    }

    /// `Authorization` header value for the publisher, if the target wants one.
    pub fn publish_auth(&self) -> Option<String> {
        match self.kind {
            TargetKind::Stagehand => Some(format!("Bearer {}", self.api_key)),
            TargetKind::Nchan => None,
        }
    }

    /// `http://addr/metrics` (Stagehand only).
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    /// A signed token for `sub` with `role`, valid for a day.
    pub fn token(&self, role: Role, sub: &str) -> Result<String> {
        let exp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) + 86_400;
        let claims = Claims {
            sub: sub.to_owned(),
            name: sub.to_owned(),
            role,
            exp,
            agency: None,
            agency_name: None,
            creator: None,
        };
        jsonwebtoken::encode(&Header::default(), &claims, &self.jwt_key).context("signing a token")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        target: TargetArgs,
    }

    #[test]
    fn refuses_non_loopback_addresses() {
        let args = Wrap::parse_from(["x", "--addr", "10.0.0.1:80"]).target;
        assert!(Target::new(&args).is_err());
        let args = Wrap::parse_from(["x", "--addr", "127.0.0.2:80", "--target", "nchan"]).target;
        let target = Target::new(&args).unwrap();
        assert_eq!(target.ws_url("r1"), "ws://127.0.0.2:80/sub/r1");
        assert_eq!(target.publish_url("r1"), "http://127.0.0.2:80/pub/r1");
    }
}
