//! Durable state for Creator Partner Access: links, access requests, grants, notification inboxes and
//! the agency audit trail.
//!
//! The hub keeps rooms in memory; what must survive a restart lives here. The API is synchronous (the
//! hub calls it from its own store threads, `partner::store_handle`). Reads and single changes are the
//! small [`Store`] trait, so a shared store for a multi-node deployment can implement the same
//! contract; a change that must commit together with its notifications and audit row runs in one
//! [`Tx`] ([`SqliteStore::write`]).
//!
//! Layout:
//! - [`Store`] (this file): the contract;
//! - [`model`]: the inputs and multi-row results of the contract;
//! - [`error`]: the error type, [`StoreError`];
//! - [`sqlite`]: [`SqliteStore`], the connection and its settings;
//! - `tx`: [`Tx`], one write transaction that several changes share;
//! - `cpa`: the request / decide / unlink / suspend transitions;
//! - `queries`: filtered lists and the lookups the transitions use;
//! - `inbox`: notifications and the audit trail;
//! - [`commerce`]: product sets, flash sales and their claims (the stock authority);
//! - `moderation`: the creators' keyword filters and sanctioned accounts;
//! - `scheduling`: the creators' planned LIVE events and their campaigns;
//! - `health`: the creators' account-health counts;
//! - `retention`: pruning old audit rows and read notifications;
//! - `summaries`: LIVE summaries, written when a LIVE ends;
//! - `rows`: row mapping, id format, and expiry applied on read;
//! - `migrations`: the versioned schema.
//!
//! Time is always passed in as `now` rather than read from a clock, so that every rule involving the
//! agreement's end is decided by one instant the caller chose and can be tested without sleeping.

pub mod commerce;
mod cpa;
pub mod error;
mod health;
mod inbox;
mod migrations;
pub mod model;
mod moderation;
mod queries;
mod retention;
mod rows;
mod scheduling;
pub mod sqlite;
mod summaries;
mod tx;

#[cfg(test)]
mod tests;

use stagehand_protocol::types::{
    AccessRequestInfo, AuditRecord, GrantInfo, LinkInfo, LiveSummary, Millis, NotificationInfo, ProductSet,
};

pub use error::StoreError;
pub use inbox::MAX_PAGE;
pub use model::{AuditPage, Decision, GrantFilter, LinkFilter, NewAudit, NewRequest, Party, RequestFilter, Unlinked};
pub use moderation::ModerationRows;
pub use retention::{Pruned, Retention};
pub use scheduling::{LiveEventChange, NewLiveEvent};
pub use sqlite::{SqliteStore, DB_FILE};
pub use tx::{Notified, Tx, Written};

/// Durable Creator Partner Access state.
///
/// Contract, for every implementation:
/// - **Durable:** a method that returns `Ok` has committed, and the change survives a crash or power
///   loss (the SQLite store: WAL with `synchronous=FULL`).
/// - **Atomic:** each call is one transaction. A call that returns `Err` has changed nothing, and a
///   transition's checks and writes cannot interleave with another call's.
/// - **Time is the caller's:** `now` (ms since the epoch) decides every expiry question. Nothing
///   sweeps expired rows: a link whose `agreement_ends_at <= now` reads as `Ended`, a pending request
///   on it as `Cancelled`, and a grant keeps its stored status with `expires_at` for the caller to
///   compare with its clock (`grants` with `live_only` leaves expired grants out).
/// - **Ids:** requests, links and grants have string ids (`req_12`, `lnk_3`, `grt_5`); notification and
///   audit ids are integers that only grow and serve as `before` paging cursors.
/// - **Errors:** [`StoreError::NotFound`], `Conflict`, `Invalid` and `Forbidden` are the caller's;
///   anything else is the store's.
/// - Lists are newest first.
pub trait Store: Send + Sync + 'static {
    /// An agency asks a creator for a link, a link bundled with LIVE Manager access, or access on the
    /// pair's existing link.
    ///
    /// With `link: Some(..)`: `agreement_ends_at` must be after `now` (`Invalid`); the pair must have
    /// no pending or active link (`Conflict`). Creates a pending link and a request of kind
    /// `LinkAndAccess` (`live_access`) or `Link`.
    ///
    /// With `link: None`: `live_access` must be `true` (`Invalid`); the pair must have an active,
    /// unexpired link (`NotFound`), and neither live access nor a pending request (`Conflict`).
    /// Creates an `Access` request whose agreement end is the link's.
    ///
    /// Empty ids or `agency_name` are `Invalid`, and so are empty `scopes` (the caller spells out
    /// [`Scope::ALL`](stagehand_protocol::types::Scope::ALL) for every scope); scopes are stored
    /// sorted and deduplicated.
    fn create_request(&self, req: NewRequest, now: Millis) -> Result<AccessRequestInfo, StoreError>;

    /// The creator accepts or declines a pending request addressed to them.
    ///
    /// `NotFound` if there is no such request or it is not `creator_id`'s; `Conflict` if it is no
    /// longer pending (decided, cancelled by unlinking, or its agreement ended).
    /// Accept: `Link` activates the link; `Access` grants access until the agreement ends;
    /// `LinkAndAccess` does both. Decline: `Access` leaves the link active; `Link` and `LinkAndAccess`
    /// decline the link, cancelling the whole relationship.
    fn decide_request(
        &self,
        request_id: &str,
        creator_id: &str,
        accept: bool,
        now: Millis,
    ) -> Result<Decision, StoreError>;

    /// Ends an active link. `party` must be its creator or agency, or an admin (`Forbidden`); the link
    /// must exist (`NotFound`) and be active (`Conflict`). Revokes the link's live grant and cancels its
    /// pending requests. The agency may then send a new link request, with or without access.
    fn unlink(&self, link_id: &str, party: &Party, now: Millis) -> Result<Unlinked, StoreError>;

    /// Suspends (`true`) or resumes (`false`) the pair's live grant. `NotFound` without a live
    /// (active or suspended, unexpired) grant; `Conflict` if it is already in that state.
    fn set_suspended(
        &self,
        creator_id: &str,
        agency_id: &str,
        suspended: bool,
        now: Millis,
    ) -> Result<GrantInfo, StoreError>;

    /// Grants matching `filter`.
    fn grants(&self, filter: &GrantFilter, now: Millis) -> Result<Vec<GrantInfo>, StoreError>;

    /// Requests matching `filter`, with statuses as of `now`.
    fn requests(&self, filter: &RequestFilter, now: Millis) -> Result<Vec<AccessRequestInfo>, StoreError>;

    /// Links matching `filter`, with statuses as of `now`.
    fn links(&self, filter: &LinkFilter, now: Millis) -> Result<Vec<LinkInfo>, StoreError>;

    /// Adds an unread notification to `recipient`'s inbox. `recipient` is an opaque key (the hub uses
    /// `user:<id>` and `agency:<id>`).
    fn notify(
        &self,
        recipient: &str,
        kind: &str,
        data: serde_json::Value,
        now: Millis,
    ) -> Result<NotificationInfo, StoreError>;

    /// Up to `limit` (clamped to `1..=`[`MAX_PAGE`]) of `recipient`'s notifications with id below
    /// `before`, newest first.
    fn notifications(
        &self,
        recipient: &str,
        unread_only: bool,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<NotificationInfo>, StoreError>;

    /// Marks `ids` read in `recipient`'s inbox only; returns how many went from unread to read.
    fn ack(&self, recipient: &str, ids: &[u64]) -> Result<u64, StoreError>;

    /// Appends to the audit trail. Records are never changed, and removed only by retention pruning
    /// ([`Tx::prune`]).
    fn append_audit(&self, entry: NewAudit, now: Millis) -> Result<AuditRecord, StoreError>;

    /// Up to `limit` (clamped to `1..=`[`MAX_PAGE`]) of `creator_id`'s audit records with id below
    /// `before`, newest first, optionally only `agency_id`'s. `next_before` is set when the page is full.
    fn audit_page(
        &self,
        creator_id: &str,
        agency_id: Option<&str>,
        before: Option<u64>,
        limit: u32,
    ) -> Result<AuditPage, StoreError>;

    /// `creator_id`'s product sets, most recently changed first.
    fn product_sets(&self, creator_id: &str) -> Result<Vec<ProductSet>, StoreError>;

    /// One of `creator_id`'s product sets (`NotFound` if it has none of that id).
    fn product_set(&self, creator_id: &str, set_id: &str) -> Result<ProductSet, StoreError>;

    /// The flash sale `sale_id` of `room`, its `status` and `remaining` as of `now`.
    fn flash_sale(&self, room: &str, sale_id: &str, now: Millis) -> Result<commerce::StoredSale, StoreError>;
    /// The summary of `room`'s latest LIVE that ended, if one was stored ([`Tx::save_summary`]).
    fn live_summary(&self, room: &str) -> Result<Option<LiveSummary>, StoreError>;
}
