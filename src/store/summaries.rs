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

#[cfg(test)]
mod tests {
    use crate::store::{SqliteStore, Store};
    use stagehand_protocol::types::{DashboardData, LiveSummary};

    fn summary(started_at: u64, ended_at: u64, orders: u64) -> LiveSummary {
        LiveSummary {
            room: "r".into(),
            creator_id: "c".into(),
            title: "t".into(),
            started_at,
            ended_at,
            totals: DashboardData { orders, ..DashboardData::default() },
            minutes: Vec::new(),
        }
    }

    #[test]
    fn a_live_is_stored_once_and_the_latest_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.live_summary("r").unwrap(), None);
        store.write(|tx| tx.save_summary(&summary(10, 20, 1))).unwrap();
        // The same LIVE again (a racing second write) changes nothing.
        store.write(|tx| tx.save_summary(&summary(10, 25, 9))).unwrap();
        assert_eq!(store.live_summary("r").unwrap().unwrap().totals.orders, 1);
        // A later LIVE of the same room id is the one read.
        store.write(|tx| tx.save_summary(&summary(30, 40, 2))).unwrap();
        assert_eq!(store.live_summary("r").unwrap().unwrap().totals.orders, 2);
        assert_eq!(store.live_summary("other").unwrap(), None);
    }
}
