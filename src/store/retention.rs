//! Retention: how long the audit trail and read notifications are kept, and the pruning that
//! enforces it.
//!
//! Both logs would otherwise grow for ever. Pruning keeps, per creator, the audit rows younger than
//! the age limit and at most the newest `audit_max_per_creator` of them; per inbox, the read
//! notifications younger than their age limit and at most the newest `read_notifications_per_inbox`.
//! Unread notifications are never pruned: they are what a client has not seen yet. Flash sales (and
//! their claims) are kept for their own age limit after they ended.
//!
//! The audit trail refuses deletes (a trigger); pruning opens the trigger's gate for its own
//! statements and closes it again inside the same transaction, so no other write ever sees it open.

use rusqlite::{params, Connection};
use stagehand_protocol::types::Millis;

use super::StoreError;

/// What to keep. Ages are in milliseconds; a count of 0 keeps nothing but what the age allows… and
/// then nothing at all, so callers should pass at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Audit rows older than this are removed.
    pub audit_max_age_ms: u64,
    /// Each creator keeps at most this many audit rows (the newest).
    pub audit_max_per_creator: u64,
    /// Read notifications older than this are removed.
    pub notification_max_age_ms: u64,
    /// Each inbox keeps at most this many read notifications (the newest).
    pub read_notifications_per_inbox: u64,
    /// Flash sales that ended longer ago than this are removed with their claims (a retried claim
    /// of such a sale then gets `not_found`).
    pub flash_sale_max_age_ms: u64,
}

/// How many rows one pruning pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub audit: u64,
    pub notifications: u64,
    pub flash_sales: u64,
}

/// Removes what `retention` no longer keeps, as of `now`.
pub(super) fn prune(conn: &Connection, retention: &Retention, now: Millis) -> Result<Pruned, StoreError> {
    let cutoff = |age: u64| i64::try_from(now.saturating_sub(age)).unwrap_or(i64::MAX);
    let keep = |count: u64| i64::try_from(count).unwrap_or(i64::MAX);
    let mut pruned = Pruned::default();

    conn.prepare_cached("UPDATE audit_prune_gate SET open = 1")?.execute([])?;
    pruned.audit +=
        conn.prepare_cached("DELETE FROM audit WHERE ts < ?1")?.execute([cutoff(retention.audit_max_age_ms)])? as u64;
    pruned.audit += trim(
        conn,
        "SELECT creator_id FROM audit GROUP BY creator_id HAVING count(*) > ?1",
        "DELETE FROM audit WHERE creator_id = ?1 AND id <= \
         (SELECT id FROM audit WHERE creator_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        keep(retention.audit_max_per_creator),
    )?;
    conn.prepare_cached("UPDATE audit_prune_gate SET open = 0")?.execute([])?;

    pruned.notifications += conn
        .prepare_cached("DELETE FROM notifications WHERE read = 1 AND created_at < ?1")?
        .execute([cutoff(retention.notification_max_age_ms)])? as u64;
    pruned.notifications += trim(
        conn,
        "SELECT recipient FROM notifications WHERE read = 1 GROUP BY recipient HAVING count(*) > ?1",
        "DELETE FROM notifications WHERE recipient = ?1 AND read = 1 AND id <= \
         (SELECT id FROM notifications WHERE recipient = ?1 AND read = 1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        keep(retention.read_notifications_per_inbox),
    )?;

    let ended_before = cutoff(retention.flash_sale_max_age_ms);
    conn.prepare_cached("DELETE FROM flash_claims WHERE sale_id IN (SELECT id FROM flash_sales WHERE ends_at < ?1)")?
        .execute([ended_before])?;
    pruned.flash_sales +=
        conn.prepare_cached("DELETE FROM flash_sales WHERE ends_at < ?1")?.execute([ended_before])? as u64;
    Ok(pruned)
}

/// For every key `over` lists (keys with more than `keep` rows), runs `delete` to remove all but the
/// newest `keep` rows of that key.
fn trim(conn: &Connection, over: &str, delete: &str, keep: i64) -> Result<u64, StoreError> {
    let keys =
        conn.prepare_cached(over)?.query_map([keep], |row| row.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
    let mut removed = 0;
    let mut stmt = conn.prepare_cached(delete)?;
    for key in keys {
        removed += stmt.execute(params![key, keep])? as u64;
    }
    Ok(removed)
}
