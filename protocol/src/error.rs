//! Stable error codes carried by failed replies.

use serde::{Deserialize, Serialize};

/// A machine-readable reason a request failed. The set only grows within a protocol version;
/// clients treat a code they do not know as a generic failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No valid `connect` yet, or the token is not accepted.
    Unauthenticated,
    /// The role or grant does not allow this command here.
    Forbidden,
    /// The room is not live (comments, operations) or already live (`start_room`).
    NotLive,
    /// Over a rate limit; `retry_after_ms` says when a retry can succeed. Nothing was applied.
    RateLimited,
    /// The frame or its fields could not be decoded or are out of range.
    Invalid,
    /// The frame is larger than the configured limit.
    TooLarge,
    /// The room, request, comment… does not exist.
    NotFound,
    /// The request conflicts with the current state (e.g. a request already decided).
    Conflict,
    /// A server-side limit (rooms, members) is reached.
    Unavailable,
    /// A bug or a storage failure; nothing can be assumed applied.
    Internal,
    /// A flash-sale claim: not enough units left.
    SoldOut,
    /// A flash-sale claim: the buyer would pass the sale's per-buyer limit.
    LimitReached,
    /// A moderator muted the sender in this creator's rooms; `retry_after_ms` says when the mute
    /// ends (absent: at the end of the LIVE).
    Muted,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotLive => "not_live",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Invalid => "invalid",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::SoldOut => "sold_out",
            ErrorCode::LimitReached => "limit_reached",
            ErrorCode::Muted => "muted",
        }
    }

    /// Every code, for metrics that want a stable label set.
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::NotLive,
        ErrorCode::RateLimited,
        ErrorCode::Invalid,
        ErrorCode::TooLarge,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::SoldOut,
        ErrorCode::LimitReached,
        ErrorCode::Muted,
    ];
}

/// The `error` object of a failed reply (and of HTTP API error bodies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// With `conflict` for a bag command made against another version: the bag's current version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// With `sold_out` for a flash-sale claim: the units left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u32>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody { code, message: message.into(), retry_after_ms: None, version: None, remaining: None }
    }
}
