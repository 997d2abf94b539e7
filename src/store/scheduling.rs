//! Each creator's planned LIVE events (the calendar of `create_live_event` and friends), with the
//! campaign banner attached to each and whether its reminder went out.
//!
//! Ids are `lev_<rowid>`. A cancelled event stays, with `status = 'cancelled'`, so a list can show
//! it; nothing here deletes rows.

use rusqlite::{params, Connection, Row};
use stagehand_protocol::types::{Campaign, LiveEventInfo, LiveEventStatus, Millis};

use super::rows::{format_id, parse_id, sql_ms};
use super::StoreError;

const PREFIX: &str = "lev_";
const COLUMNS: &str =
    "id, creator_id, room, title, starts_at, product_set_id, campaign, status, created_at, updated_at";

/// A LIVE event to create.
#[derive(Debug, Clone)]
pub struct NewLiveEvent {
    pub creator_id: String,
    pub room: String,
    pub title: String,
    pub starts_at: Millis,
    pub product_set_id: Option<String>,
    pub campaign: Option<Campaign>,
}

/// What an update changes (`None`: keep).
#[derive(Debug, Clone, Default)]
pub struct LiveEventChange {
    pub title: Option<String>,
    pub starts_at: Option<Millis>,
    pub product_set_id: Option<String>,
    /// `Some(None)` removes the campaign.
    pub campaign: Option<Option<Campaign>>,
}

fn ms(value: i64) -> Millis {
    value.max(0) as Millis
}

fn from_row(row: &Row<'_>) -> Result<LiveEventInfo, StoreError> {
    let campaign: Option<String> = row.get(6)?;
    let campaign = campaign
        .map(|text| serde_json::from_str(&text).map_err(|e| StoreError::corrupt("live_events", e.to_string())))
        .transpose()?;
    let status: String = row.get(7)?;
    Ok(LiveEventInfo {
        event_id: format_id(PREFIX, row.get(0)?),
        creator_id: row.get(1)?,
        room: row.get(2)?,
        title: row.get(3)?,
        starts_at: ms(row.get(4)?),
        product_set_id: row.get(5)?,
        campaign,
        status: match status.as_str() {
            "scheduled" => LiveEventStatus::Scheduled,
            "cancelled" => LiveEventStatus::Cancelled,
            other => return Err(StoreError::corrupt("live_events", format!("unknown status {other:?}"))),
        },
        created_at: ms(row.get(8)?),
        updated_at: ms(row.get(9)?),
    })
}

/// A campaign as stored: its JSON, and its window for queries.
type CampaignColumns = (Option<String>, Option<i64>, Option<i64>);

fn campaign_columns(campaign: &Option<Campaign>) -> Result<CampaignColumns, StoreError> {
    Ok(match campaign {
        Some(c) => (
            Some(serde_json::to_string(c).map_err(|e| StoreError::Invalid(e.to_string()))?),
            Some(sql_ms(c.starts_at, "campaign.starts_at")?),
            Some(sql_ms(c.ends_at, "campaign.ends_at")?),
        ),
        None => (None, None, None),
    })
}

pub(super) fn create(conn: &Connection, new: NewLiveEvent, now: Millis) -> Result<LiveEventInfo, StoreError> {
    let (campaign, c_start, c_end) = campaign_columns(&new.campaign)?;
    conn.prepare_cached(
        "INSERT INTO live_events (creator_id, room, title, starts_at, product_set_id, campaign, campaign_starts_at,
         campaign_ends_at, status, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'scheduled', ?9, ?9)",
    )?
    .execute(params![
        new.creator_id,
        new.room,
        new.title,
        sql_ms(new.starts_at, "starts_at")?,
        new.product_set_id,
        campaign,
        c_start,
        c_end,
        sql_ms(now, "now")?
    ])?;
    get(conn, &format_id(PREFIX, conn.last_insert_rowid()), &new.creator_id)
}

/// `creator_id`'s event `event_id` (`NotFound` for another creator's).
pub(super) fn get(conn: &Connection, event_id: &str, creator_id: &str) -> Result<LiveEventInfo, StoreError> {
    let not_found = || StoreError::NotFound(format!("no LIVE event {event_id}"));
    let id = parse_id(PREFIX, event_id).ok_or_else(not_found)?;
    let sql = format!("SELECT {COLUMNS} FROM live_events WHERE id = ?1 AND creator_id = ?2");
    let mut statement = conn.prepare_cached(&sql)?;
    let mut rows = statement.query(params![id, creator_id])?;
    match rows.next()? {
        Some(row) => from_row(row),
        None => Err(not_found()),
    }
}

/// Change a scheduled event (`Conflict` once cancelled). A new start time re-arms the reminder.
pub(super) fn update(
    conn: &Connection,
    event_id: &str,
    creator_id: &str,
    change: LiveEventChange,
    now: Millis,
) -> Result<LiveEventInfo, StoreError> {
    let mut event = get(conn, event_id, creator_id)?;
    if event.status == LiveEventStatus::Cancelled {
        return Err(StoreError::Conflict(format!("{event_id} is cancelled")));
    }
    let moved = change.starts_at.is_some_and(|at| at != event.starts_at);
    event.title = change.title.unwrap_or(event.title);
    event.starts_at = change.starts_at.unwrap_or(event.starts_at);
    event.product_set_id = change.product_set_id.or(event.product_set_id);
    event.campaign = change.campaign.unwrap_or(event.campaign);
    let (campaign, c_start, c_end) = campaign_columns(&event.campaign)?;
    conn.prepare_cached(
        "UPDATE live_events SET title = ?1, starts_at = ?2, product_set_id = ?3, campaign = ?4, campaign_starts_at = ?5,
         campaign_ends_at = ?6, updated_at = ?7, reminded = CASE WHEN ?8 THEN 0 ELSE reminded END
         WHERE id = ?9",
    )?
    .execute(params![
        event.title,
        sql_ms(event.starts_at, "starts_at")?,
        event.product_set_id,
        campaign,
        c_start,
        c_end,
        sql_ms(now, "now")?,
        moved,
        parse_id(PREFIX, event_id),
    ])?;
    get(conn, event_id, creator_id)
}

pub(super) fn cancel(
    conn: &Connection,
    event_id: &str,
    creator_id: &str,
    now: Millis,
) -> Result<LiveEventInfo, StoreError> {
    let event = get(conn, event_id, creator_id)?;
    if event.status == LiveEventStatus::Cancelled {
        return Err(StoreError::Conflict(format!("{event_id} is already cancelled")));
    }
    conn.prepare_cached("UPDATE live_events SET status = 'cancelled', updated_at = ?1 WHERE id = ?2")?
        .execute(params![sql_ms(now, "now")?, parse_id(PREFIX, event_id)])?;
    get(conn, event_id, creator_id)
}

/// `creator_id`'s events, soonest first (at most `limit`).
pub(super) fn list(
    conn: &Connection,
    creator_id: &str,
    include_cancelled: bool,
    limit: u32,
) -> Result<Vec<LiveEventInfo>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM live_events WHERE creator_id = ?1 AND (?2 OR status = 'scheduled')
         ORDER BY starts_at, id LIMIT ?3"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let mut rows = statement.query(params![creator_id, include_cancelled, i64::from(limit)])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(from_row(row)?);
    }
    Ok(out)
}

/// How many scheduled events `creator_id` has.
pub(super) fn count_scheduled(conn: &Connection, creator_id: &str) -> Result<u64, StoreError> {
    let count: i64 = conn
        .prepare_cached("SELECT count(*) FROM live_events WHERE creator_id = ?1 AND status = 'scheduled'")?
        .query_row([creator_id], |r| r.get(0))?;
    Ok(count.max(0) as u64)
}

/// Scheduled events starting at or before `until` whose reminder has not gone out, marked as
/// reminded (at most `limit`).
pub(super) fn take_due(conn: &Connection, until: Millis, limit: u32) -> Result<Vec<LiveEventInfo>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM live_events WHERE status = 'scheduled' AND reminded = 0 AND starts_at <= ?1
         ORDER BY starts_at, id LIMIT ?2"
    );
    let mut due = Vec::new();
    {
        let mut statement = conn.prepare_cached(&sql)?;
        let mut rows = statement.query(params![sql_ms(until, "until")?, i64::from(limit)])?;
        while let Some(row) = rows.next()? {
            due.push(from_row(row)?);
        }
    }
    let mut mark = conn.prepare_cached("UPDATE live_events SET reminded = 1 WHERE id = ?1")?;
    for event in &due {
        mark.execute([parse_id(PREFIX, &event.event_id)])?;
    }
    Ok(due)
}

/// The campaigns whose window is open at `now`, with their room (scheduled events only; the
/// earliest-starting first, at most `limit`).
pub(super) fn open_campaigns(
    conn: &Connection,
    now: Millis,
    limit: u32,
) -> Result<Vec<(String, Campaign)>, StoreError> {
    let now = sql_ms(now, "now")?;
    let mut statement = conn.prepare_cached(
        "SELECT room, campaign FROM live_events WHERE status = 'scheduled' AND campaign IS NOT NULL
         AND campaign_ends_at > ?1 AND campaign_starts_at <= ?1 ORDER BY campaign_starts_at, id LIMIT ?2",
    )?;
    let mut rows = statement.query(params![now, i64::from(limit)])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let text: String = row.get(1)?;
        let campaign = serde_json::from_str(&text).map_err(|e| StoreError::corrupt("live_events", e.to_string()))?;
        out.push((row.get(0)?, campaign));
    }
    Ok(out)
}
