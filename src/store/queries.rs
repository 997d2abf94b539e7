//! Read-only queries over links, requests and grants: the filtered lists the API serves, and the
//! single-row lookups the transitions in [`cpa`](super::cpa) check before they write.
//!
//! Lists are newest first. List SQL is assembled from only the filters that are set, because SQLite
//! plans a statement once, before it sees the bound values: a catch-all `(?1 IS NULL OR col = ?1)` would
//! never use the pair indexes.

use rusqlite::types::Value;
use rusqlite::{Connection, ToSql};
use stagehand_protocol::types::{AccessRequestInfo, GrantInfo, LinkInfo, Millis};

use super::rows::{
    collect, first, grant_from_row, link_from_row, request_from_row, request_status_text, sql_ms, GRANT_COLUMNS,
    LINK_COLUMNS, REQUEST_COLUMNS, REQUEST_STATUS_SQL,
};
use super::{GrantFilter, LinkFilter, RequestFilter, StoreError};

/// `WHERE` clauses joined by `AND`, with their named parameters.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    params: Vec<(&'static str, Value)>,
}

impl Where {
    fn clause(&mut self, sql: impl Into<String>) {
        self.clauses.push(sql.into());
    }

    fn param(&mut self, name: &'static str, value: impl Into<Value>) {
        self.params.push((name, value.into()));
    }

    /// `col = :name` when `value` is set.
    fn equals(&mut self, column: &str, name: &'static str, value: Option<&str>) {
        if let Some(value) = value {
            self.clause(format!("{column} = {name}"));
            self.param(name, value.to_owned());
        }
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    fn named(&self) -> Vec<(&str, &dyn ToSql)> {
        self.params.iter().map(|(name, value)| (*name, value as &dyn ToSql)).collect()
    }
}

/// Grants matching `filter`, newest first.
pub(super) fn grants(conn: &Connection, filter: &GrantFilter, now: Millis) -> Result<Vec<GrantInfo>, StoreError> {
    let mut w = Where::default();
    w.equals("g.creator_id", ":creator", filter.creator_id.as_deref());
    w.equals("g.agency_id", ":agency", filter.agency_id.as_deref());
    if filter.live_only {
        w.clause("g.status IN ('active', 'suspended') AND g.expires_at > :now");
        w.param(":now", sql_ms(now, "now")?);
    }
    let sql = format!("SELECT {GRANT_COLUMNS} FROM grants g{} ORDER BY g.id DESC", w.sql());
    collect(&mut *conn.prepare_cached(&sql)?, w.named().as_slice(), grant_from_row)
}

/// Requests matching `filter`, newest first, with their status as of `now`.
pub(super) fn requests(
    conn: &Connection,
    filter: &RequestFilter,
    now: Millis,
) -> Result<Vec<AccessRequestInfo>, StoreError> {
    let mut w = Where::default();
    w.equals("r.creator_id", ":creator", filter.creator_id.as_deref());
    w.equals("r.agency_id", ":agency", filter.agency_id.as_deref());
    if let Some(status) = filter.status {
        w.clause(format!("{REQUEST_STATUS_SQL} = :status"));
        w.param(":status", request_status_text(status).to_owned());
        w.param(":now", sql_ms(now, "now")?);
    }
    let sql = format!(
        "SELECT {REQUEST_COLUMNS} FROM requests r JOIN links l ON l.id = r.link_id{} ORDER BY r.id DESC",
        w.sql()
    );
    collect(&mut *conn.prepare_cached(&sql)?, w.named().as_slice(), |row| request_from_row(row, now))
}

/// Links matching `filter`, newest first, with their status as of `now`.
pub(super) fn links(conn: &Connection, filter: &LinkFilter, now: Millis) -> Result<Vec<LinkInfo>, StoreError> {
    let mut w = Where::default();
    w.equals("l.creator_id", ":creator", filter.creator_id.as_deref());
    w.equals("l.agency_id", ":agency", filter.agency_id.as_deref());
    let sql = format!("SELECT {LINK_COLUMNS} FROM links l{} ORDER BY l.id DESC", w.sql());
    collect(&mut *conn.prepare_cached(&sql)?, w.named().as_slice(), |row| link_from_row(row, now))
}

/// One link by rowid, as of `now`.
pub(super) fn link(conn: &Connection, rowid: i64, now: Millis) -> Result<Option<LinkInfo>, StoreError> {
    let sql = format!("SELECT {LINK_COLUMNS} FROM links l WHERE l.id = ?1");
    first(&mut *conn.prepare_cached(&sql)?, [rowid], |row| link_from_row(row, now))
}

/// One request by rowid, as of `now`.
pub(super) fn request(conn: &Connection, rowid: i64, now: Millis) -> Result<Option<AccessRequestInfo>, StoreError> {
    let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests r JOIN links l ON l.id = r.link_id WHERE r.id = ?1");
    first(&mut *conn.prepare_cached(&sql)?, [rowid], |row| request_from_row(row, now))
}

/// One grant by rowid.
pub(super) fn grant(conn: &Connection, rowid: i64) -> Result<Option<GrantInfo>, StoreError> {
    let sql = format!("SELECT {GRANT_COLUMNS} FROM grants g WHERE g.id = ?1");
    first(&mut *conn.prepare_cached(&sql)?, [rowid], grant_from_row)
}

/// The pair's live grant: Active or Suspended and not yet expired. The transitions keep at most one.
pub(super) fn live_grant(
    conn: &Connection,
    creator_id: &str,
    agency_id: &str,
    now: i64,
) -> Result<Option<GrantInfo>, StoreError> {
    let sql = format!(
        "SELECT {GRANT_COLUMNS} FROM grants g WHERE g.creator_id = ?1 AND g.agency_id = ?2 \
         AND g.status IN ('active', 'suspended') AND g.expires_at > ?3 ORDER BY g.id DESC LIMIT 1"
    );
    first(&mut *conn.prepare_cached(&sql)?, rusqlite::params![creator_id, agency_id, now], grant_from_row)
}

/// The rowid of the pair's open link, if any: Active (or also Pending, with `include_pending`) and
/// agreement not yet ended. The transitions keep at most one.
pub(super) fn open_link_id(
    conn: &Connection,
    creator_id: &str,
    agency_id: &str,
    include_pending: bool,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM links WHERE creator_id = ?1 AND agency_id = ?2 \
         AND (status = 'active' OR (?3 AND status = 'pending')) AND agreement_ends_at > ?4 \
         ORDER BY id DESC LIMIT 1",
    )?;
    first(&mut stmt, rusqlite::params![creator_id, agency_id, include_pending, now], |row| Ok(row.get(0)?))
}

/// The rowid of a request of the pair that still awaits the creator (pending, agreement not ended).
pub(super) fn pending_request_id(
    conn: &Connection,
    creator_id: &str,
    agency_id: &str,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.id FROM requests r JOIN links l ON l.id = r.link_id \
         WHERE r.creator_id = ?1 AND r.agency_id = ?2 AND r.status = 'pending' AND l.agreement_ends_at > ?3 \
         ORDER BY r.id DESC LIMIT 1",
    )?;
    first(&mut stmt, rusqlite::params![creator_id, agency_id, now], |row| Ok(row.get(0)?))
}
