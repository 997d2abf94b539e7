//! How protocol values are written to and read back from SQLite rows.
//!
//! Owns the text forms of kinds, statuses and scopes, the public id format (`req_12`), timestamp
//! range checks, and the row mappers. It is also where expiry is applied on read: a stored row keeps
//! the status it was last written with, and [`link_from_row`] / [`request_from_row`] report what that
//! status means at `now`, so no background sweep is needed.

use rusqlite::{Params, Row, Statement};
use stagehand_protocol::types::{
    AccessRequestInfo, GrantInfo, GrantStatus, LinkInfo, LinkStatus, Millis, RequestKind, RequestStatus, Scope,
};

use super::StoreError;

/// Public id prefixes. Ids are the table's rowid behind a prefix, so a link id can never be passed
/// where a request id is expected and still find a row.
pub(super) const REQUEST_PREFIX: &str = "req_";
pub(super) const LINK_PREFIX: &str = "lnk_";
pub(super) const GRANT_PREFIX: &str = "grt_";

/// `req_12` from prefix `req_` and rowid 12.
pub(super) fn format_id(prefix: &str, rowid: i64) -> String {
    format!("{prefix}{rowid}")
}

/// The rowid behind a public id, or `None` for a string no row of this kind can have.
pub(super) fn parse_id(prefix: &str, id: &str) -> Option<i64> {
    id.strip_prefix(prefix)?.parse().ok().filter(|rowid: &i64| *rowid > 0)
}

/// A caller-supplied timestamp as SQLite's signed integer. Only values past the year 292 million
/// fail, but a client-chosen `agreement_ends_at` could be one.
pub(super) fn sql_ms(value: Millis, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Invalid(format!("{what} is out of range")))
}

/// Scopes as stored: sorted and deduplicated.
pub(super) fn normalize_scopes(mut scopes: Vec<Scope>) -> Vec<Scope> {
    scopes.sort_unstable();
    scopes.dedup();
    scopes
}

/// `moderation,billboards`.
pub(super) fn scopes_to_text(scopes: &[Scope]) -> String {
    scopes.iter().map(|scope| scope.as_str()).collect::<Vec<_>>().join(",")
}

fn scopes_from_text(table: &'static str, text: &str) -> Result<Vec<Scope>, StoreError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|name| Scope::parse(name).ok_or_else(|| StoreError::corrupt(table, format!("unknown scope {name:?}"))))
        .collect()
}

pub(super) fn request_kind_text(kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::Link => "link",
        RequestKind::Access => "access",
        RequestKind::LinkAndAccess => "link_and_access",
    }
}

fn parse_request_kind(text: &str) -> Result<RequestKind, StoreError> {
    match text {
        "link" => Ok(RequestKind::Link),
        "access" => Ok(RequestKind::Access),
        "link_and_access" => Ok(RequestKind::LinkAndAccess),
        other => Err(StoreError::corrupt("requests", format!("unknown kind {other:?}"))),
    }
}

pub(super) fn request_status_text(status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::Pending => "pending",
        RequestStatus::Accepted => "accepted",
        RequestStatus::Declined => "declined",
        RequestStatus::Cancelled => "cancelled",
    }
}

fn parse_request_status(text: &str) -> Result<RequestStatus, StoreError> {
    match text {
        "pending" => Ok(RequestStatus::Pending),
        "accepted" => Ok(RequestStatus::Accepted),
        "declined" => Ok(RequestStatus::Declined),
        "cancelled" => Ok(RequestStatus::Cancelled),
        other => Err(StoreError::corrupt("requests", format!("unknown status {other:?}"))),
    }
}

fn parse_link_status(text: &str) -> Result<LinkStatus, StoreError> {
    match text {
        "pending" => Ok(LinkStatus::Pending),
        "active" => Ok(LinkStatus::Active),
        "declined" => Ok(LinkStatus::Declined),
        "ended" => Ok(LinkStatus::Ended),
        other => Err(StoreError::corrupt("links", format!("unknown status {other:?}"))),
    }
}

fn parse_grant_status(text: &str) -> Result<GrantStatus, StoreError> {
    match text {
        "active" => Ok(GrantStatus::Active),
        "suspended" => Ok(GrantStatus::Suspended),
        "revoked" => Ok(GrantStatus::Revoked),
        other => Err(StoreError::corrupt("grants", format!("unknown status {other:?}"))),
    }
}

/// Link columns in the order [`link_from_row`] reads them; `l` is the links table alias.
pub(super) const LINK_COLUMNS: &str = "l.id, l.creator_id, l.agency_id, l.agency_name, l.status, \
     l.agreement_ends_at, l.created_at";

/// A link as it stands at `now`: an open (pending or active) link whose agreement has run out is
/// `Ended`, whatever the row says.
pub(super) fn link_from_row(row: &Row<'_>, now: Millis) -> Result<LinkInfo, StoreError> {
    let stored = parse_link_status(&row.get::<_, String>(4)?)?;
    let agreement_ends_at: Millis = row.get(5)?;
    let status = match stored {
        LinkStatus::Pending | LinkStatus::Active if agreement_ends_at <= now => LinkStatus::Ended,
        other => other,
    };
    Ok(LinkInfo {
        link_id: format_id(LINK_PREFIX, row.get(0)?),
        creator_id: row.get(1)?,
        agency_id: row.get(2)?,
        agency_name: row.get(3)?,
        status,
        agreement_ends_at,
        created_at: row.get(6)?,
    })
}

/// Request columns in the order [`request_from_row`] reads them: `r` is the requests table joined
/// with its link as `l` (the agreement end lives on the link only).
pub(super) const REQUEST_COLUMNS: &str = "r.id, r.kind, r.status, r.creator_id, r.agency_id, r.agency_name, \
     r.requested_by, r.scopes, r.link_id, l.agreement_ends_at, r.created_at, r.decided_at";

/// The status a request row reports at `?now`, as SQL over `r` and `l`, for filtering by status.
/// Must agree with [`request_from_row`].
pub(super) const REQUEST_STATUS_SQL: &str =
    "CASE WHEN r.status = 'pending' AND l.agreement_ends_at <= :now THEN 'cancelled' ELSE r.status END";

/// A request as it stands at `now`: a pending request whose agreement has run out can no longer be
/// accepted, so it is reported `Cancelled` (the protocol's "the link it depended on ended").
pub(super) fn request_from_row(row: &Row<'_>, now: Millis) -> Result<AccessRequestInfo, StoreError> {
    let stored = parse_request_status(&row.get::<_, String>(2)?)?;
    let agreement_ends_at: Millis = row.get(9)?;
    let (status, decided_at) = match stored {
        // Cancelled the moment the agreement ran out: the same values the row gets once
        // `close_lapsed_links` writes it down.
        RequestStatus::Pending if agreement_ends_at <= now => (RequestStatus::Cancelled, Some(agreement_ends_at)),
        other => (other, row.get(11)?),
    };
    Ok(AccessRequestInfo {
        request_id: format_id(REQUEST_PREFIX, row.get(0)?),
        kind: parse_request_kind(&row.get::<_, String>(1)?)?,
        status,
        creator_id: row.get(3)?,
        agency_id: row.get(4)?,
        agency_name: row.get(5)?,
        requested_by: row.get(6)?,
        scopes: scopes_from_text("requests", &row.get::<_, String>(7)?)?,
        link_id: format_id(LINK_PREFIX, row.get(8)?),
        agreement_ends_at,
        created_at: row.get(10)?,
        decided_at,
    })
}

/// Grant columns in the order [`grant_from_row`] reads them; `g` is the grants table alias.
pub(super) const GRANT_COLUMNS: &str = "g.id, g.creator_id, g.agency_id, g.agency_name, g.link_id, g.scopes, \
     g.status, g.granted_at, g.expires_at";

/// A grant exactly as stored: expiry is left to the caller, who compares `expires_at` with its clock.
pub(super) fn grant_from_row(row: &Row<'_>) -> Result<GrantInfo, StoreError> {
    Ok(GrantInfo {
        grant_id: format_id(GRANT_PREFIX, row.get(0)?),
        creator_id: row.get(1)?,
        agency_id: row.get(2)?,
        agency_name: row.get(3)?,
        link_id: format_id(LINK_PREFIX, row.get(4)?),
        scopes: scopes_from_text("grants", &row.get::<_, String>(5)?)?,
        status: parse_grant_status(&row.get::<_, String>(6)?)?,
        granted_at: row.get(7)?,
        expires_at: row.get(8)?,
    })
}

/// Runs a query and maps every row with `map`, which may fail with a [`StoreError`] (unlike
/// `query_map`, whose closure can only return SQLite errors).
pub(super) fn collect<T, P: Params>(
    stmt: &mut Statement<'_>,
    params: P,
    mut map: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(row)?);
    }
    Ok(out)
}

/// Like [`collect`] for a query that matches at most one row.
pub(super) fn first<T, P: Params>(
    stmt: &mut Statement<'_>,
    params: P,
    map: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut rows = stmt.query(params)?;
    match rows.next()? {
        Some(row) => Ok(Some(map(row)?)),
        None => Ok(None),
    }
}
