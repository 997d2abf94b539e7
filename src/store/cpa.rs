//! Creator Partner Access transitions: requesting, deciding, unlinking and suspending.
//!
//! Each function runs inside the caller's `IMMEDIATE` transaction ([`Tx`](super::Tx)): SQLite's write
//! lock is taken before anything is read, so the checks made here (is there already an open link? is
//! the request still pending?) still hold when the rows are written, even if another process shares
//! the file. The caller adds the transition's notifications and audit row to the same transaction;
//! an error anywhere rolls all of it back.
//!
//! The rules come from the product source (Creator Partner Access on LIVE Manager):
//! - an agency asks for a link, a link bundled with access, or access on an existing link;
//! - accepting grants access for the whole linking agreement;
//! - declining access leaves an existing link alone, but declining a bundled request cancels the link;
//! - to drop access but stay linked, the parties unlink and the agency sends a link-only request.

use rusqlite::{params, Transaction};
use stagehand_protocol::types::{
    AccessRequestInfo, GrantInfo, GrantStatus, LinkInfo, LinkStatus, Millis, RequestKind, RequestStatus,
};

use super::queries;
use super::rows::{
    format_id, normalize_scopes, parse_id, request_kind_text, request_status_text, scopes_to_text, sql_ms,
    GRANT_PREFIX, LINK_PREFIX, REQUEST_PREFIX,
};
use super::{Decision, NewRequest, Party, StoreError, Unlinked};

/// Creates a request, and for `link: Some(..)` the pending link it asks for.
pub(super) fn create_request(
    tx: &Transaction<'_>,
    req: NewRequest,
    now: Millis,
) -> Result<AccessRequestInfo, StoreError> {
    for (field, value) in [
        ("creator_id", &req.creator_id),
        ("agency_id", &req.agency_id),
        ("agency_name", &req.agency_name),
        ("requested_by", &req.requested_by),
    ] {
        if value.is_empty() {
            return Err(StoreError::Invalid(format!("{field} is empty")));
        }
    }
    if req.scopes.is_empty() {
        return Err(StoreError::Invalid("scopes must name at least one scope (omit it for all)".into()));
    }
    let now_sql = sql_ms(now, "now")?;
    let scopes = scopes_to_text(&normalize_scopes(req.scopes));
    let (creator, agency) = (req.creator_id.as_str(), req.agency_id.as_str());

    let (kind, link_rowid) = match req.link {
        Some(new_link) => {
            if new_link.agreement_ends_at <= now {
                return Err(StoreError::Invalid("agreement_ends_at must be in the future".into()));
            }
            let ends_at = sql_ms(new_link.agreement_ends_at, "agreement_ends_at")?;
            close_lapsed_links(tx, creator, agency, now_sql)?;
            if let Some(open) = queries::open_link_id(tx, creator, agency, true, now_sql)? {
                let open = format_id(LINK_PREFIX, open);
                return Err(StoreError::Conflict(format!("{agency} already has an open link {open} with {creator}")));
            }
            tx.prepare_cached(
                "INSERT INTO links (creator_id, agency_id, agency_name, status, agreement_ends_at, created_at, \
                 updated_at) VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?5)",
            )?
            .execute(params![creator, agency, req.agency_name, ends_at, now_sql])?;
            let kind = if req.live_access { RequestKind::LinkAndAccess } else { RequestKind::Link };
            (kind, tx.last_insert_rowid())
        }
        None => {
            if !req.live_access {
                return Err(StoreError::Invalid("a request without a new link must ask for live access".into()));
            }
            let link = queries::open_link_id(tx, creator, agency, false, now_sql)?
                .ok_or_else(|| StoreError::NotFound(format!("{agency} has no active link with {creator}")))?;
            if let Some(grant) = queries::live_grant(tx, creator, agency, now_sql)? {
                return Err(StoreError::Conflict(format!("{agency} already has access ({})", grant.grant_id)));
            }
            if let Some(pending) = queries::pending_request_id(tx, creator, agency, now_sql)? {
                let pending = format_id(REQUEST_PREFIX, pending);
                return Err(StoreError::Conflict(format!("request {pending} is still awaiting {creator}")));
            }
            (RequestKind::Access, link)
        }
    };
    tx.prepare_cached(
        "INSERT INTO requests (kind, status, creator_id, agency_id, agency_name, requested_by, scopes, link_id, \
         created_at) VALUES (?1, 'pending', ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        request_kind_text(kind),
        creator,
        agency,
        req.agency_name,
        req.requested_by,
        scopes,
        link_rowid,
        now_sql
    ])?;
    queries::request(tx, tx.last_insert_rowid(), now)?.ok_or_else(|| vanished("requests"))
}

/// Records the creator's answer to a pending request and applies it to the link and grant.
pub(super) fn decide_request(
    tx: &Transaction<'_>,
    request_id: &str,
    creator_id: &str,
    accept: bool,
    now: Millis,
) -> Result<Decision, StoreError> {
    let not_found = || StoreError::NotFound(format!("no request {request_id}"));
    let request_rowid = parse_id(REQUEST_PREFIX, request_id).ok_or_else(not_found)?;
    let now_sql = sql_ms(now, "now")?;

    // Someone else's request answers exactly like a missing one, so ids cannot be probed.
    let request =
        queries::request(tx, request_rowid, now)?.filter(|r| r.creator_id == creator_id).ok_or_else(not_found)?;
    match request.status {
        RequestStatus::Pending => {}
        RequestStatus::Cancelled if now >= request.agreement_ends_at => {
            return Err(StoreError::Conflict(format!("the linking agreement of {request_id} has ended")));
        }
        other => {
            return Err(StoreError::Conflict(format!("{request_id} is already {}", request_status_text(other))));
        }
    }
    let link_rowid = rowid_of(LINK_PREFIX, &request.link_id, "requests")?;
    let link = queries::link(tx, link_rowid, now)?.ok_or_else(|| vanished("links"))?;

    let grant_rowid = if accept {
        apply_accept(tx, &request, &link, link_rowid, request_rowid, now_sql)?
    } else {
        apply_decline(tx, &request, &link, link_rowid, now_sql)?;
        None
    };
    let status = if accept { RequestStatus::Accepted } else { RequestStatus::Declined };
    tx.prepare_cached("UPDATE requests SET status = ?1, decided_at = ?2 WHERE id = ?3")?.execute(params![
        request_status_text(status),
        now_sql,
        request_rowid
    ])?;

    Ok(Decision {
        request: queries::request(tx, request_rowid, now)?.ok_or_else(|| vanished("requests"))?,
        link: queries::link(tx, link_rowid, now)?.ok_or_else(|| vanished("links"))?,
        grant: match grant_rowid {
            Some(rowid) => Some(queries::grant(tx, rowid)?.ok_or_else(|| vanished("grants"))?),
            None => None,
        },
    })
}

/// Applies an acceptance: activates a requested link, and creates the grant for access kinds.
/// Returns the new grant's rowid.
fn apply_accept(
    tx: &Transaction<'_>,
    request: &AccessRequestInfo,
    link: &LinkInfo,
    link_rowid: i64,
    request_rowid: i64,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    // Unreachable through the status check above (a pending request on an ended agreement reads as
    // cancelled), but the rule is the product's, so it is stated where access is given.
    let ends_at = sql_ms(link.agreement_ends_at, "agreement_ends_at")?;
    if ends_at <= now {
        return Err(StoreError::Conflict(format!("the linking agreement {} has ended", link.link_id)));
    }
    match request.kind {
        RequestKind::Link | RequestKind::LinkAndAccess => {
            expect_link(link, LinkStatus::Pending)?;
            tx.prepare_cached("UPDATE links SET status = 'active', updated_at = ?1 WHERE id = ?2")?
                .execute(params![now, link_rowid])?;
        }
        RequestKind::Access => {
            expect_link(link, LinkStatus::Active)?;
            if let Some(grant) = queries::live_grant(tx, &request.creator_id, &request.agency_id, now)? {
                return Err(StoreError::Conflict(format!(
                    "{} already has access ({})",
                    request.agency_id, grant.grant_id
                )));
            }
        }
    }
    if request.kind == RequestKind::Link {
        return Ok(None);
    }
    // Access lasts for the whole linking agreement, and not a moment longer.
    tx.prepare_cached(
        "INSERT INTO grants (creator_id, agency_id, agency_name, link_id, request_id, scopes, status, granted_at, \
         expires_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'active', ?7, ?8, ?7)",
    )?
    .execute(params![
        request.creator_id,
        request.agency_id,
        request.agency_name,
        link_rowid,
        request_rowid,
        scopes_to_text(&request.scopes),
        now,
        ends_at
    ])?;
    Ok(Some(tx.last_insert_rowid()))
}

/// Applies a refusal. Declining access on an existing link leaves the link alone; declining a request
/// that asked for a new link (bundled or not) declines that link, which ends the whole relationship.
fn apply_decline(
    tx: &Transaction<'_>,
    request: &AccessRequestInfo,
    link: &LinkInfo,
    link_rowid: i64,
    now: i64,
) -> Result<(), StoreError> {
    match request.kind {
        RequestKind::Access => {}
        RequestKind::Link | RequestKind::LinkAndAccess => {
            expect_link(link, LinkStatus::Pending)?;
            tx.prepare_cached("UPDATE links SET status = 'declined', updated_at = ?1 WHERE id = ?2")?
                .execute(params![now, link_rowid])?;
        }
    }
    Ok(())
}

/// Ends an active link on behalf of one of its parties: revokes its grant and cancels what is pending.
pub(super) fn unlink(tx: &Transaction<'_>, link_id: &str, party: &Party, now: Millis) -> Result<Unlinked, StoreError> {
    let not_found = || StoreError::NotFound(format!("no link {link_id}"));
    let link_rowid = parse_id(LINK_PREFIX, link_id).ok_or_else(not_found)?;
    let now_sql = sql_ms(now, "now")?;

    let link = queries::link(tx, link_rowid, now)?.ok_or_else(not_found)?;
    let allowed = match party {
        Party::Creator(id) => *id == link.creator_id,
        Party::Agency(id) => *id == link.agency_id,
        Party::Admin => true,
    };
    if !allowed {
        return Err(StoreError::Forbidden(format!("not a party to {link_id}")));
    }
    expect_link(&link, LinkStatus::Active)?;

    let revoked = ids(
        tx,
        "SELECT id FROM grants WHERE link_id = ?1 AND status IN ('active', 'suspended') ORDER BY id",
        link_rowid,
    )?;
    tx.prepare_cached(
        "UPDATE grants SET status = 'revoked', updated_at = ?1 WHERE link_id = ?2 AND status IN ('active', 'suspended')",
    )?
    .execute(params![now_sql, link_rowid])?;
    let cancelled =
        ids(tx, "SELECT id FROM requests WHERE link_id = ?1 AND status = 'pending' ORDER BY id", link_rowid)?;
    tx.prepare_cached(
        "UPDATE requests SET status = 'cancelled', decided_at = ?1 WHERE link_id = ?2 AND status = 'pending'",
    )?
    .execute(params![now_sql, link_rowid])?;
    tx.prepare_cached("UPDATE links SET status = 'ended', updated_at = ?1 WHERE id = ?2")?
        .execute(params![now_sql, link_rowid])?;

    Ok(Unlinked {
        link: queries::link(tx, link_rowid, now)?.ok_or_else(|| vanished("links"))?,
        // The transitions keep at most one live grant per link; the newest is the one that counts.
        revoked: match revoked.last() {
            Some(&rowid) => Some(queries::grant(tx, rowid)?.ok_or_else(|| vanished("grants"))?),
            None => None,
        },
        cancelled: cancelled
            .into_iter()
            .map(|rowid| queries::request(tx, rowid, now)?.ok_or_else(|| vanished("requests")))
            .collect::<Result<_, _>>()?,
    })
}

/// Suspends or resumes the pair's live grant.
pub(super) fn set_suspended(
    tx: &Transaction<'_>,
    creator_id: &str,
    agency_id: &str,
    suspended: bool,
    now: Millis,
) -> Result<GrantInfo, StoreError> {
    let now_sql = sql_ms(now, "now")?;
    let grant = queries::live_grant(tx, creator_id, agency_id, now_sql)?
        .ok_or_else(|| StoreError::NotFound(format!("{agency_id} has no live access to {creator_id}")))?;
    let target = if suspended { "suspended" } else { "active" };
    if (grant.status == GrantStatus::Suspended) == suspended {
        return Err(StoreError::Conflict(format!("{} is already {target}", grant.grant_id)));
    }
    let rowid = rowid_of(GRANT_PREFIX, &grant.grant_id, "grants")?;
    tx.prepare_cached("UPDATE grants SET status = ?1, updated_at = ?2 WHERE id = ?3")?
        .execute(params![target, now_sql, rowid])?;
    queries::grant(tx, rowid)?.ok_or_else(|| vanished("grants"))
}

/// Closes the pair's links whose agreement ran out while they were still pending or active, and
/// cancels the requests that were waiting on them. Reads already report these as ended and cancelled
/// (at the agreement's end); writing it down lets the one-open-link-per-pair index admit a new link.
fn close_lapsed_links(tx: &Transaction<'_>, creator_id: &str, agency_id: &str, now: i64) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE requests SET status = 'cancelled', decided_at = \
             (SELECT l.agreement_ends_at FROM links l WHERE l.id = requests.link_id) \
         WHERE status = 'pending' AND link_id IN (SELECT id FROM links WHERE creator_id = ?1 AND agency_id = ?2 \
             AND status IN ('pending', 'active') AND agreement_ends_at <= ?3)",
    )?
    .execute(params![creator_id, agency_id, now])?;
    tx.prepare_cached(
        "UPDATE links SET status = 'ended', updated_at = ?3 WHERE creator_id = ?1 AND agency_id = ?2 \
         AND status IN ('pending', 'active') AND agreement_ends_at <= ?3",
    )?
    .execute(params![creator_id, agency_id, now])?;
    Ok(())
}

/// Conflict unless the link (as of now) is in `status`.
fn expect_link(link: &LinkInfo, status: LinkStatus) -> Result<(), StoreError> {
    if link.status == status {
        return Ok(());
    }
    let word = |s: LinkStatus| match s {
        LinkStatus::Pending => "pending",
        LinkStatus::Active => "active",
        LinkStatus::Declined => "declined",
        LinkStatus::Ended => "ended",
    };
    Err(StoreError::Conflict(format!("{} is {}, not {}", link.link_id, word(link.status), word(status))))
}

/// Rowids returned by a one-parameter query, in ascending order of the query.
fn ids(tx: &Transaction<'_>, sql: &str, param: i64) -> Result<Vec<i64>, StoreError> {
    let mut stmt = tx.prepare_cached(sql)?;
    let rows = stmt.query_map([param], |row| row.get(0))?;
    Ok(rows.collect::<Result<Vec<i64>, _>>()?)
}

/// The rowid behind an id this store formatted itself.
fn rowid_of(prefix: &str, id: &str, table: &'static str) -> Result<i64, StoreError> {
    parse_id(prefix, id).ok_or_else(|| StoreError::corrupt(table, format!("malformed id {id:?}")))
}

/// A row written or read earlier in this same transaction could not be read back.
fn vanished(table: &'static str) -> StoreError {
    StoreError::corrupt(table, "row vanished inside its own transaction")
}
