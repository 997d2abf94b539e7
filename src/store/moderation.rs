//! The creators' moderation rules: each creator's keyword filter (blocked terms) and the accounts
//! sanctioned in its rooms (muted, blocked, hidden). The hub holds them in memory and writes
//! every change here first, in the transaction of the agency audit row that reports it, so an
//! acknowledged change survives `kill -9`; at start it reads them all back ([`load`]).
//!
//! Expiry is applied by the reader against its clock: an expired term or mute stays in the table
//! until it is replaced or removed, or the next start ([`load`]) deletes it.

use rusqlite::{params, Connection};
use stagehand_protocol::types::{BlockedTerm, ModeratedUser, Sanction};

use super::rows::sql_ms;
use super::StoreError;

/// Everything stored, as `(creator_id, rule)` pairs.
#[derive(Debug, Default)]
pub struct ModerationRows {
    pub terms: Vec<(String, BlockedTerm)>,
    pub sanctions: Vec<(String, ModeratedUser)>,
}

fn sanction_text(sanction: Sanction) -> &'static str {
    match sanction {
        Sanction::Muted => "muted",
        Sanction::Blocked => "blocked",
        Sanction::Hidden => "hidden",
    }
}

fn sanction_from(text: &str) -> Result<Sanction, StoreError> {
    match text {
        "muted" => Ok(Sanction::Muted),
        "blocked" => Ok(Sanction::Blocked),
        "hidden" => Ok(Sanction::Hidden),
        other => Err(StoreError::corrupt("sanctions", format!("unknown sanction {other:?}"))),
    }
}

fn opt_ms(value: Option<u64>, what: &str) -> Result<Option<i64>, StoreError> {
    value.map(|v| sql_ms(v, what)).transpose()
}

/// Add or replace `creator_id`'s blocked terms.
pub(super) fn put_terms(
    conn: &Connection,
    creator_id: &str,
    terms: &[BlockedTerm],
    now: u64,
) -> Result<(), StoreError> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO blocked_terms (creator_id, term, expires_at, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (creator_id, term) DO UPDATE SET expires_at = excluded.expires_at",
    )?;
    for term in terms {
        insert.execute(params![creator_id, term.term, opt_ms(term.expires_at, "expires_at")?, sql_ms(now, "now")?])?;
    }
    Ok(())
}

/// Remove terms; returns how many were there.
pub(super) fn remove_terms(conn: &Connection, creator_id: &str, terms: &[String]) -> Result<usize, StoreError> {
    let mut delete = conn.prepare_cached("DELETE FROM blocked_terms WHERE creator_id = ?1 AND term = ?2")?;
    let mut removed = 0;
    for term in terms {
        removed += delete.execute(params![creator_id, term])?;
    }
    Ok(removed)
}

/// Add or replace one sanction of `creator_id` on `user.user_id`.
pub(super) fn put_sanction(conn: &Connection, creator_id: &str, user: &ModeratedUser) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO sanctions (creator_id, user_id, sanction, until, room, since) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (creator_id, user_id, sanction)
         DO UPDATE SET until = excluded.until, room = excluded.room, since = excluded.since",
    )?
    .execute(params![
        creator_id,
        user.user_id,
        sanction_text(user.sanction),
        opt_ms(user.until, "until")?,
        user.room,
        sql_ms(user.since, "since")?,
    ])?;
    Ok(())
}

/// Lift one sanction; returns whether it was there.
pub(super) fn remove_sanction(
    conn: &Connection,
    creator_id: &str,
    user_id: &str,
    sanction: Sanction,
) -> Result<bool, StoreError> {
    let removed = conn
        .prepare_cached("DELETE FROM sanctions WHERE creator_id = ?1 AND user_id = ?2 AND sanction = ?3")?
        .execute(params![creator_id, user_id, sanction_text(sanction)])?;
    Ok(removed > 0)
}

/// Every stored term and sanction, after deleting those that no longer apply at `now`: expired
/// terms and mutes, and mutes for the rest of a LIVE (rooms do not outlive the process, so their
/// LIVE has ended).
pub(super) fn load(conn: &Connection, now: u64) -> Result<ModerationRows, StoreError> {
    let now = sql_ms(now, "now")?;
    conn.execute("DELETE FROM blocked_terms WHERE expires_at IS NOT NULL AND expires_at <= ?1", [now])?;
    conn.execute("DELETE FROM sanctions WHERE sanction = 'muted' AND (until IS NULL OR until <= ?1)", [now])?;
    let ms = |v: Option<i64>| v.map(|v| v.max(0) as u64);
    let mut rows = ModerationRows::default();
    let mut terms = conn.prepare("SELECT creator_id, term, expires_at FROM blocked_terms ORDER BY creator_id, term")?;
    let mut read = terms.query([])?;
    while let Some(row) = read.next()? {
        rows.terms.push((row.get(0)?, BlockedTerm { term: row.get(1)?, expires_at: ms(row.get(2)?) }));
    }
    let mut sanctions = conn.prepare(
        "SELECT creator_id, user_id, sanction, until, room, since FROM sanctions ORDER BY creator_id, user_id",
    )?;
    let mut read = sanctions.query([])?;
    while let Some(row) = read.next()? {
        let sanction: String = row.get(2)?;
        let since: i64 = row.get(5)?;
        rows.sanctions.push((
            row.get(0)?,
            ModeratedUser {
                user_id: row.get(1)?,
                sanction: sanction_from(&sanction)?,
                until: ms(row.get(3)?),
                room: row.get(4)?,
                since: since.max(0) as u64,
            },
        ));
    }
    Ok(rows)
}
