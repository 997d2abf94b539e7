//! The store's own inputs and outputs: what callers pass in and the multi-row results of a transition.
//!
//! Everything a client sees is a protocol type (`AccessRequestInfo`, `LinkInfo`, `GrantInfo`…); these
//! structs only bundle them, so the hub can send each changed row to the parties that care.

use stagehand_protocol::client::NewLink;
use stagehand_protocol::types::{AccessRequestInfo, AuditRecord, GrantInfo, LinkInfo, RequestStatus, Scope};

/// An agency's link and/or LIVE Manager access request, as the hub validated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest {
    pub creator_id: String,
    pub agency_id: String,
    /// Copied onto the request, link and grant rows so lists need no agency lookup.
    pub agency_name: String,
    /// The staff member who sent it.
    pub requested_by: String,
    /// `Some` asks for a new link; `None` asks for access on the pair's existing active link.
    pub link: Option<NewLink>,
    /// Whether LIVE Manager access is asked for; must be `true` when `link` is `None`.
    pub live_access: bool,
    /// At least one; [`Scope::ALL`] for every scope.
    pub scopes: Vec<Scope>,
}

/// The rows a creator's decision changed (or, for a declined `Access` request, left alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub request: AccessRequestInfo,
    pub link: LinkInfo,
    /// The new grant, when an access request was accepted.
    pub grant: Option<GrantInfo>,
}

/// The rows an unlink changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlinked {
    /// Now `Ended`.
    pub link: LinkInfo,
    /// The grant that was live on the link, now `Revoked`.
    pub revoked: Option<GrantInfo>,
    /// Requests that were pending on the link, now `Cancelled`.
    pub cancelled: Vec<AccessRequestInfo>,
}

/// Who asks to unlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    /// The creator with this id.
    Creator(String),
    /// The agency with this id.
    Agency(String),
    /// Platform support: may end any link.
    Admin,
}

/// Which grants [`Store::grants`](super::Store::grants) returns; `None` fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantFilter {
    pub creator_id: Option<String>,
    pub agency_id: Option<String>,
    /// Only grants that are Active or Suspended and not yet expired; otherwise the whole history.
    pub live_only: bool,
}

/// Which requests [`Store::requests`](super::Store::requests) returns; `None` fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    pub creator_id: Option<String>,
    pub agency_id: Option<String>,
    /// Matched against the status as reported (a pending request whose agreement ended is `Cancelled`).
    pub status: Option<RequestStatus>,
}

/// Which links [`Store::links`](super::Store::links) returns; `None` fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkFilter {
    pub creator_id: Option<String>,
    pub agency_id: Option<String>,
}

/// One audit-trail entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAudit {
    pub creator_id: String,
    pub agency_id: String,
    pub staff_id: String,
    pub staff_name: String,
    pub room: Option<String>,
    /// The command's wire `type`.
    pub command: String,
    /// `ok`, or the error code it was refused with.
    pub outcome: String,
    pub detail: Option<String>,
}

/// One page of a creator's audit trail, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub items: Vec<AuditRecord>,
    /// Pass as `before` to get the next (older) page; `None` when this page was the last.
    pub next_before: Option<u64>,
}
