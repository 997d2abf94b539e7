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
}

macro_rules! constructors {
    ($($name:ident => $code:ident),* $(,)?) => {
        impl HubError {
            $(pub fn $name(message: impl Into<String>) -> Self {
                HubError { code: ErrorCode::$code, message: message.into(), retry_after_ms: None }
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
}

impl HubError {
    pub fn rate_limited(limit: &str, retry_after_ms: u64) -> Self {
        HubError {
            code: ErrorCode::RateLimited,
            message: format!("over the {limit} rate limit"),
            retry_after_ms: Some(retry_after_ms.max(1)),
        }
    }

    /// The sender is muted until `retry_after_ms` from now (`None`: until the end of the LIVE).
    pub fn muted(retry_after_ms: Option<u64>) -> Self {
        let message = match retry_after_ms {
            Some(_) => "a moderator muted you for a while",
            None => "a moderator muted you for the rest of this LIVE",
        };
        HubError { code: ErrorCode::Muted, message: message.into(), retry_after_ms: retry_after_ms.map(|ms| ms.max(1)) }
    }

    /// The `error` object of the reply.
    pub fn body(&self) -> ErrorBody {
        ErrorBody { code: self.code, message: self.message.clone(), retry_after_ms: self.retry_after_ms }
    }
}

pub type HubResult<T> = Result<T, HubError>;
