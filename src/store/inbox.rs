//! Notification inboxes and the append-only audit trail.
//!
//! Both are logs keyed by an integer rowid that only grows, so the rowid doubles as the paging cursor:
//! a page is "the newest `limit` rows with id < `before`", which stays stable while new rows arrive.
//! The audit table has no UPDATE or DELETE here, and triggers in the schema refuse them anyway; only
//! retention pruning ([`retention`](super::retention)) removes old rows.
//!
//! The writes run inside the caller's transaction ([`Tx`](super::Tx)), so a notification or audit row
//! commits together with the change it reports.

use rusqlite::{params, Connection, Row};
use stagehand_protocol::types::{AuditRecord, Millis, NotificationInfo};

use super::rows::{collect, sql_ms};
use super::{AuditPage, NewAudit, StoreError};

/// The most rows one page may ask for; `limit` is clamped into `1..=MAX_PAGE`.
pub const MAX_PAGE: u32 = 500;

fn clamp_limit(limit: u32) -> i64 {
    i64::from(limit.clamp(1, MAX_PAGE))
}

/// A `before` cursor as SQL: absent (or beyond any rowid) means "from the newest".
fn before_cursor(before: Option<u64>) -> i64 {
    before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX))
}

/// Adds a notification to `recipient`'s inbox.
pub(super) fn notify(
    conn: &Connection,
    recipient: &str,
    kind: &str,
    data: serde_json::Value,
    now: Millis,
) -> Result<NotificationInfo, StoreError> {
    if recipient.is_empty() || kind.is_empty() {
        return Err(StoreError::Invalid("a notification needs a recipient and a kind".into()));
    }
    let text = serde_json::to_string(&data).map_err(|e| StoreError::Invalid(format!("notification data: {e}")))?;
    conn.prepare_cached("INSERT INTO notifications (recipient, kind, data, created_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![recipient, kind, text, sql_ms(now, "now")?])?;
    Ok(NotificationInfo {
        notification_id: rowid(conn.last_insert_rowid(), "notifications")?,
        kind: kind.to_owned(),
        created_at: now,
        read: false,
        data,
    })
}

/// One page of `recipient`'s inbox, newest first.
pub(super) fn notifications(
    conn: &Connection,
    recipient: &str,
    unread_only: bool,
    before: Option<u64>,
    limit: u32,
) -> Result<Vec<NotificationInfo>, StoreError> {
    // Two fixed statements: with `(?3 = 0 OR read = 0)` the plan depends on ?3, and SQLite
    // re-prepares such a statement whenever ?3 is bound again, i.e. on every call (every new
    // connection reads its unread page here).
    let sql = if unread_only {
        "SELECT id, kind, created_at, read, data FROM notifications \
         WHERE recipient = ?1 AND id < ?2 AND read = 0 ORDER BY id DESC LIMIT ?3"
    } else {
        "SELECT id, kind, created_at, read, data FROM notifications \
         WHERE recipient = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
    };
    let mut stmt = conn.prepare_cached(sql)?;
    collect(&mut stmt, params![recipient, before_cursor(before), clamp_limit(limit)], |row| {
        let data: String = row.get(4)?;
        Ok(NotificationInfo {
            notification_id: row.get(0)?,
            kind: row.get(1)?,
            created_at: row.get(2)?,
            read: row.get(3)?,
            data: serde_json::from_str(&data)
                .map_err(|e| StoreError::corrupt("notifications", format!("data is not JSON: {e}")))?,
        })
    })
}

/// Marks `ids` of `recipient`'s inbox read; ids of other inboxes, unknown ids and rows already read
/// are skipped. Returns how many rows changed from unread to read.
pub(super) fn ack(conn: &Connection, recipient: &str, ids: &[u64]) -> Result<u64, StoreError> {
    let mut changed = 0u64;
    let mut stmt =
        conn.prepare_cached("UPDATE notifications SET read = 1 WHERE id = ?1 AND recipient = ?2 AND read = 0")?;
    for &id in ids {
        // An id past i64::MAX cannot be a rowid, so it matches nothing.
        if let Ok(id) = i64::try_from(id) {
            changed += stmt.execute(params![id, recipient])? as u64;
        }
    }
    Ok(changed)
}

/// Appends one record to the audit trail.
pub(super) fn append_audit(conn: &Connection, entry: NewAudit, now: Millis) -> Result<AuditRecord, StoreError> {
    conn.prepare_cached(
        "INSERT INTO audit (ts, creator_id, agency_id, staff_id, staff_name, room, command, outcome, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        sql_ms(now, "now")?,
        entry.creator_id,
        entry.agency_id,
        entry.staff_id,
        entry.staff_name,
        entry.room,
        entry.command,
        entry.outcome,
        entry.detail
    ])?;
    Ok(AuditRecord {
        audit_id: rowid(conn.last_insert_rowid(), "audit")?,
        ts: now,
        creator_id: entry.creator_id,
        agency_id: entry.agency_id,
        staff_id: entry.staff_id,
        staff_name: entry.staff_name,
        room: entry.room,
        command: entry.command,
        outcome: entry.outcome,
        detail: entry.detail,
    })
}

/// One page of a creator's audit trail (optionally one agency's part of it), newest first.
pub(super) fn audit_page(
    conn: &Connection,
    creator_id: &str,
    agency_id: Option<&str>,
    before: Option<u64>,
    limit: u32,
) -> Result<AuditPage, StoreError> {
    let limit = clamp_limit(limit);
    let before = before_cursor(before);
    const COLUMNS: &str = "id, ts, creator_id, agency_id, staff_id, staff_name, room, command, outcome, detail";
    // Two fixed statements rather than `(?2 IS NULL OR agency_id = ?2)`, so each gets its own index.
    let items = match agency_id {
        Some(agency_id) => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM audit WHERE creator_id = ?1 AND agency_id = ?2 AND id < ?3 \
                 ORDER BY id DESC LIMIT ?4"
            ))?;
            collect(&mut stmt, params![creator_id, agency_id, before, limit], audit_from_row)?
        }
        None => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM audit WHERE creator_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
            ))?;
            collect(&mut stmt, params![creator_id, before, limit], audit_from_row)?
        }
    };
    // A full page may have more behind it; a short one is the end. (A full last page costs the
    // caller one extra, empty request; counting ahead would cost every page a query.)
    let next_before = if items.len() as i64 == limit { items.last().map(|r| r.audit_id) } else { None };
    Ok(AuditPage { items, next_before })
}

fn audit_from_row(row: &Row<'_>) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        audit_id: row.get(0)?,
        ts: row.get(1)?,
        creator_id: row.get(2)?,
        agency_id: row.get(3)?,
        staff_id: row.get(4)?,
        staff_name: row.get(5)?,
        room: row.get(6)?,
        command: row.get(7)?,
        outcome: row.get(8)?,
        detail: row.get(9)?,
    })
}

/// A fresh rowid as the protocol's unsigned id (rowids are positive).
fn rowid(rowid: i64, table: &'static str) -> Result<u64, StoreError> {
    u64::try_from(rowid).map_err(|_| StoreError::corrupt(table, format!("negative rowid {rowid}")))
}
