//! The hub's request error: a stable protocol code plus a human message.

use stagehand_protocol::{ErrorBody, ErrorCode};

/// Why a request failed. Built with the constructor named after its code, so every failure in the
/// hub maps to exactly one stable wire code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct HubError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_ms: Option<u64>,
    /// The shopping bag's current version, on a `conflict` about a stale one.
    pub version: Option<u64>,
    /// Units left, on a flash-sale claim refused as `sold_out`.
    pub remaining: Option<u32>,
}

macro_rules! constructors {
    ($($name:ident => $code:ident),* $(,)?) => {
        impl HubError {
            $(pub fn $name(message: impl Into<String>) -> Self {
                HubError::new(ErrorCode::$code, message)
            })*
        }
    };
}

constructors! {
    unauthenticated => Unauthenticated,
    forbidden => Forbidden,
    not_live => NotLive,
    invalid => Invalid,
    not_found => NotFound,
    conflict => Conflict,
    unavailable => Unavailable,
    internal => Internal,
    limit_reached => LimitReached,
}

impl HubError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        HubError { code, message: message.into(), retry_after_ms: None, version: None, remaining: None }
    }

    /// `sold_out`, saying how many units are left.
    pub fn sold_out(message: impl Into<String>, remaining: u32) -> Self {
        HubError { remaining: Some(remaining), ..HubError::new(ErrorCode::SoldOut, message) }
    }

    /// `conflict` about a stale bag version, carrying the current one.
    pub fn stale_version(current: u64) -> Self {
        HubError {
            version: Some(current),
            ..HubError::conflict(format!("the bag changed: its version is {current}; apply the latest bag and retry"))
        }
    }

    pub fn rate_limited(limit: &str, retry_after_ms: u64) -> Self {
        HubError {
            retry_after_ms: Some(retry_after_ms.max(1)),
            ..HubError::new(ErrorCode::RateLimited, format!("over the {limit} rate limit"))
        }
    }

    /// The sender is muted until `retry_after_ms` from now (`None`: until the end of the LIVE).
    pub fn muted(retry_after_ms: Option<u64>) -> Self {
        let message = match retry_after_ms {
            Some(_) => "a moderator muted you for a while",
            None => "a moderator muted you for the rest of this LIVE",
        };
        HubError { retry_after_ms: retry_after_ms.map(|ms| ms.max(1)), ..HubError::new(ErrorCode::Muted, message) }
    }

    /// The `error` object of the reply.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code,
            message: self.message.clone(),
            retry_after_ms: self.retry_after_ms,
            version: self.version,
            remaining: self.remaining,
        }
    }
}

pub type HubResult<T> = Result<T, HubError>;
