//! Account health: each creator's running moderation counts (`health_counters`). Mutes and blocks
//! are counted in the transaction that stores them; filtered comments and refused agency
//! operations are counted in memory and added here in batches (`crate::health`).

use rusqlite::{params, Connection};
use stagehand_protocol::types::HealthCounts;

use super::StoreError;

const COUNTERS: [&str; 4] = ["filtered_comments", "mutes", "blocks", "refused_agency_operations"];

fn values(counts: &HealthCounts) -> [u64; 4] {
    [counts.filtered_comments, counts.mutes, counts.blocks, counts.refused_agency_operations]
}

/// Add `delta` to `creator_id`'s counts.
pub(super) fn add(conn: &Connection, creator_id: &str, delta: &HealthCounts) -> Result<(), StoreError> {
    let mut upsert = conn.prepare_cached(
        "INSERT INTO health_counters (creator_id, counter, count) VALUES (?1, ?2, ?3)
         ON CONFLICT (creator_id, counter) DO UPDATE SET count = count + excluded.count",
    )?;
    for (counter, value) in COUNTERS.iter().zip(values(delta)) {
        if value > 0 {
            let value = i64::try_from(value).map_err(|_| StoreError::Invalid("count out of range".into()))?;
            upsert.execute(params![creator_id, counter, value])?;
        }
    }
    Ok(())
}

/// `creator_id`'s counts (zeros for a creator never counted).
pub(super) fn counts(conn: &Connection, creator_id: &str) -> Result<HealthCounts, StoreError> {
    let mut select = conn.prepare_cached("SELECT counter, count FROM health_counters WHERE creator_id = ?1")?;
    let mut rows = select.query([creator_id])?;
    let mut counts = HealthCounts::default();
    while let Some(row) = rows.next()? {
        let (counter, count): (String, i64) = (row.get(0)?, row.get(1)?);
        let count = count.max(0) as u64;
        match counter.as_str() {
            "filtered_comments" => counts.filtered_comments = count,
            "mutes" => counts.mutes = count,
            "blocks" => counts.blocks = count,
            "refused_agency_operations" => counts.refused_agency_operations = count,
            other => return Err(StoreError::corrupt("health_counters", format!("unknown counter {other:?}"))),
        }
    }
    Ok(counts)
}
