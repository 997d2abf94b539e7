//! [`StoreError`]: every way a store call can fail.
//!
//! The first four variants are the caller's fault and map one-to-one onto protocol error codes
//! (`not_found`, `conflict`, `invalid`, `forbidden`); the rest are the server's and should be reported
//! as an internal error without their detail reaching clients.

use std::path::PathBuf;

use stagehand_protocol::error::ErrorCode;

/// Why a store call failed. A failed call has changed nothing: each call is one transaction.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such request, link or grant, or it is not the caller's to see.
    #[error("not found: {0}")]
    NotFound(String),
    /// The row exists but is in the wrong state for this call (already decided, already linked…).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The input can never succeed (an agreement that already ended, access without a link…).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The caller is not a party to the row it tried to change.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A flash-sale claim for more units than are left.
    #[error("{message}")]
    SoldOut { message: String, remaining: u32 },
    /// A flash-sale claim past the sale's per-buyer limit.
    #[error("{0}")]
    LimitReached(String),
    /// A per-owner limit on rows (for example scheduled LIVE events per creator) is reached.
    #[error("{0}")]
    Full(String),
    /// The database was written by a newer build; opening it could corrupt data that build relies on.
    #[error("database schema version {found} is newer than this build supports ({supported}); run a newer stagehand")]
    SchemaTooNew {
        /// `PRAGMA user_version` found in the file.
        found: i64,
        /// The last migration this build knows.
        supported: i64,
    },
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// SQLite refused a setting the durability contract depends on (for example WAL mode).
    #[error("database setup failed: {0}")]
    Setup(String),
    /// A stored value did not parse back (an unknown status, scope or JSON): the file was edited by hand
    /// or written by an incompatible build.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    /// Any other SQLite failure (I/O, disk full, busy past the timeout…).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl StoreError {
    /// The protocol error code a reply should carry for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::NotFound(_) => ErrorCode::NotFound,
            StoreError::Conflict(_) => ErrorCode::Conflict,
            StoreError::Invalid(_) => ErrorCode::Invalid,
            StoreError::Forbidden(_) => ErrorCode::Forbidden,
            StoreError::SoldOut { .. } => ErrorCode::SoldOut,
            StoreError::LimitReached(_) => ErrorCode::LimitReached,
            StoreError::Full(_) => ErrorCode::Unavailable,
            // Another process held the write lock past the busy timeout: worth a retry, not a bug.
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) =>
            {
                ErrorCode::Unavailable
            }
            _ => ErrorCode::Internal,
        }
    }

    /// Shorthand for [`StoreError::Corrupt`].
    pub(super) fn corrupt(table: &'static str, detail: impl Into<String>) -> Self {
        StoreError::Corrupt { table, detail: detail.into() }
    }
}
