//! The hub's one clock, injectable: every timestamp, expiry and timeout reads it.
//!
//! Production uses [`Clock::system`] (the wall clock). Tests use [`Clock::tokio`], which reads
//! tokio's clock from a fixed wall-clock origin: under `tokio::time::pause` it moves only when the
//! test advances time (or the runtime auto-advances to the next timer), so a test of a timeout,
//! an expiry or a heartbeat never depends on how fast the machine is.

use stagehand_protocol::types::Millis;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of "now" in protocol units (milliseconds since the Unix epoch). Copy it freely.
#[derive(Debug, Clone, Copy, Default)]
pub enum Clock {
    /// The wall clock.
    #[default]
    System,
    /// Tokio's clock, read as `origin_ms` plus the tokio time elapsed since `start`.
    Tokio { origin_ms: Millis, start: tokio::time::Instant },
}

impl Clock {
    pub fn system() -> Self {
        Clock::System
    }

    /// A clock that follows tokio's time from `origin_ms` on. Must be made inside a runtime.
    pub fn tokio(origin_ms: Millis) -> Self {
        Clock::Tokio { origin_ms, start: tokio::time::Instant::now() }
    }

    pub fn now_ms(&self) -> Millis {
        match self {
            Clock::System => now_ms(),
            Clock::Tokio { origin_ms, start } => origin_ms + start.elapsed().as_millis() as Millis,
        }
    }
}

/// The wall clock: milliseconds since the Unix epoch. A clock before 1970 reads as 0 rather
/// than panicking. Hub code reads its [`Clock`] instead; this is for tools (`stagehand token`).
pub fn now_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as Millis).unwrap_or(0)
}
