//! LIVE summaries: what a LIVE did (totals and the per-minute series), written once when it ends
//! and read back by room id — after the room itself is long forgotten.
//!
//! Stored as the protocol's JSON (`LiveSummary`) beside the columns it is found by. A LIVE is
//! identified by its room and start time, so a second write of the same summary (the creator's
//! `end_room` and housekeeping racing) changes nothing.

use rusqlite::{params, Connection, OptionalExtension};
use stagehand_protocol::types::LiveSummary;

use super::rows::sql_ms;
use super::StoreError;

/// Stores `summary` unless that LIVE's summary is already stored.
pub(super) fn save(conn: &Connection, summary: &LiveSummary) -> Result<(), StoreError> {
    let text = serde_json::to_string(summary).map_err(|e| StoreError::Invalid(format!("summary: {e}")))?;
    conn.prepare_cached(
        "INSERT OR IGNORE INTO live_summaries (room, creator_id, started_at, ended_at, summary)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        summary.room,
        summary.creator_id,
        sql_ms(summary.started_at, "started_at")?,
        sql_ms(summary.ended_at, "ended_at")?,
        text
    ])?;
    Ok(())
}

/// The summary of the room's latest LIVE that ended.
pub(super) fn latest(conn: &Connection, room: &str) -> Result<Option<LiveSummary>, StoreError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT summary FROM live_summaries WHERE room = ?1 ORDER BY ended_at DESC, id DESC LIMIT 1")?
        .query_row(params![room], |row| row.get(0))
        .optional()?;
    text.map(|text| serde_json::from_str(&text).map_err(|e| StoreError::corrupt("live_summaries", e.to_string())))
        .transpose()
}
