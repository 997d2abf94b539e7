//! The text the harness publishes (and comments), which carries what a receiver needs to measure:
//! a marker, the publisher's index and the send time in nanoseconds since the Unix epoch, padded
//! to a chosen size. `"LT 17 1732491234567890123 ......"`.
//!
//! Publisher and receivers run on the same machine, so their clocks are the same clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Marker of an event published by the backend publisher.
pub const PUBLISHED: &str = "LT";
/// Marker of a comment sent by a commenting viewer.
pub const COMMENT: &str = "LC";

/// Nanoseconds since the Unix epoch.
pub fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// `marker index nanos` padded with `.` to `len` bytes (never truncated below the header).
pub fn make(marker: &str, index: u64, nanos: u64, len: usize) -> String {
    let mut text = format!("{marker} {index} {nanos} ");
    if text.len() < len {
        text.extend(std::iter::repeat_n('.', len - text.len()));
    }
    text
}

/// A parsed payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// True for [`COMMENT`], false for [`PUBLISHED`].
    pub comment: bool,
    pub index: u64,
    pub nanos: u64,
}

/// Parse a payload made by [`make`]; `None` for anything else.
pub fn parse(text: &str) -> Option<Stamp> {
    let mut parts = text.splitn(4, ' ');
    let comment = match parts.next()? {
        PUBLISHED => false,
        COMMENT => true,
        _ => return None,
    };
    let index = parts.next()?.parse().ok()?;
    let nanos = parts.next()?.parse().ok()?;
    Some(Stamp { comment, index, nanos })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_pads() {
        let text = make(PUBLISHED, 42, 1_732_000_000_000_000_000, 128);
        assert_eq!(text.len(), 128);
        assert_eq!(parse(&text), Some(Stamp { comment: false, index: 42, nanos: 1_732_000_000_000_000_000 }));
        let short = make(COMMENT, 1, 2, 3);
        assert_eq!(parse(&short), Some(Stamp { comment: true, index: 1, nanos: 2 }));
        assert_eq!(parse("hello world"), None);
        assert_eq!(parse("LT x 1"), None);
    }
}
