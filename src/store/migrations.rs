//! The database schema, as an ordered list of migrations, and the code that applies them.
//!
//! The file's schema version is SQLite's `PRAGMA user_version`: `N` means the first `N` entries of
//! [`MIGRATIONS`] have been applied. Opening runs the missing ones, all in one `IMMEDIATE` transaction
//! together with the version bump, so a crash mid-upgrade leaves the old schema intact and two
//! processes opening the same file cannot both migrate it. A file newer than this build is refused
//! rather than guessed at.
//!
//! Rules for editing: never change or reorder a released entry; append a new one.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// Migration steps, applied in order. Entry `i` takes the schema from version `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: Creator Partner Access (links, requests, grants), inboxes and the audit trail.
    //
    // AUTOINCREMENT so a rowid is never reused: ids are handed to clients (`req_12`) and notification
    // and audit ids are paging cursors, so they must only grow.
    // Timestamps are integer milliseconds since the epoch; statuses and kinds are the protocol's
    // snake_case names; scopes are a comma-separated list of scope names.
    r#"
CREATE TABLE links (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    creator_id        TEXT    NOT NULL,
    agency_id         TEXT    NOT NULL,
    agency_name       TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'declined', 'ended')),
    agreement_ends_at INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
-- At most one open (pending or active) link per pair. An active link whose agreement ran out is
-- closed (set to 'ended') by the next link request for the pair, before this index is checked.
CREATE UNIQUE INDEX links_one_open ON links (creator_id, agency_id) WHERE status IN ('pending', 'active');
CREATE INDEX links_pair ON links (creator_id, agency_id);
CREATE INDEX links_agency ON links (agency_id);

CREATE TABLE requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT    NOT NULL CHECK (kind IN ('link', 'access', 'link_and_access')),
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'accepted', 'declined', 'cancelled')),
    creator_id   TEXT    NOT NULL,
    agency_id    TEXT    NOT NULL,
    agency_name  TEXT    NOT NULL,
    requested_by TEXT    NOT NULL,
    scopes       TEXT    NOT NULL,
    link_id      INTEGER NOT NULL REFERENCES links (id),
    created_at   INTEGER NOT NULL,
    decided_at   INTEGER
);
CREATE INDEX requests_pair ON requests (creator_id, agency_id);
CREATE INDEX requests_agency ON requests (agency_id);
CREATE INDEX requests_link ON requests (link_id);

CREATE TABLE grants (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    creator_id  TEXT    NOT NULL,
    agency_id   TEXT    NOT NULL,
    agency_name TEXT    NOT NULL,
    link_id     INTEGER NOT NULL REFERENCES links (id),
    request_id  INTEGER NOT NULL REFERENCES requests (id),
    scopes      TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('active', 'suspended', 'revoked')),
    granted_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX grants_pair ON grants (creator_id, agency_id);
CREATE INDEX grants_agency ON grants (agency_id);
CREATE INDEX grants_link ON grants (link_id);

CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient  TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    read       INTEGER NOT NULL DEFAULT 0 CHECK (read IN (0, 1))
);
CREATE INDEX notifications_recipient ON notifications (recipient, id);

CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ts         INTEGER NOT NULL,
    creator_id TEXT    NOT NULL,
    agency_id  TEXT    NOT NULL,
    staff_id   TEXT    NOT NULL,
    staff_name TEXT    NOT NULL,
    room       TEXT,
    command    TEXT    NOT NULL,
    outcome    TEXT    NOT NULL,
    detail     TEXT
);
CREATE INDEX audit_creator ON audit (creator_id, id);
CREATE INDEX audit_creator_agency ON audit (creator_id, agency_id, id);
-- The trail is evidence for the creator: the database itself refuses to rewrite it.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
"#,
    // 2: retention. Old audit rows and read notifications are pruned (see `retention`). The audit
    // trail still refuses deletes, unless the pruning transaction opens the gate for its own
    // statements and closes it again before it commits.
    r#"
DROP TRIGGER audit_no_delete;
CREATE TABLE audit_prune_gate (open INTEGER NOT NULL CHECK (open IN (0, 1)));
INSERT INTO audit_prune_gate (open) VALUES (0);
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit WHEN (SELECT open FROM audit_prune_gate) = 0
BEGIN SELECT RAISE(ABORT, 'audit is append-only (only retention pruning removes rows)'); END;
CREATE INDEX audit_ts ON audit (ts);
CREATE INDEX notifications_read ON notifications (recipient, id) WHERE read = 1;
CREATE INDEX notifications_read_age ON notifications (created_at) WHERE read = 1;
"#,
    // 3: commerce. Creators' product sets (products as a JSON list), flash sales and the claims
    // granted against them: the hub's stock authority (see `commerce`). `sold` can never pass
    // `quantity`, whatever the code above it does.
    r#"
CREATE TABLE product_sets (
    creator_id TEXT    NOT NULL,
    set_id     TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    products   TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (creator_id, set_id)
);
CREATE TABLE flash_sales (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    room            TEXT    NOT NULL,
    creator_id      TEXT    NOT NULL,
    product         TEXT    NOT NULL,
    sale_price      INTEGER NOT NULL,
    quantity        INTEGER NOT NULL CHECK (quantity > 0),
    per_buyer_limit INTEGER NOT NULL CHECK (per_buyer_limit > 0),
    opens_at        INTEGER NOT NULL,
    ends_at         INTEGER NOT NULL,
    sold            INTEGER NOT NULL DEFAULT 0 CHECK (sold >= 0 AND sold <= quantity),
    closed          INTEGER NOT NULL DEFAULT 0 CHECK (closed IN (0, 1)),
    created_at      INTEGER NOT NULL
);
CREATE INDEX flash_sales_room ON flash_sales (room, id);
CREATE TABLE flash_claims (
    sale_id    INTEGER NOT NULL REFERENCES flash_sales (id),
    claim_id   TEXT    NOT NULL,
    buyer_id   TEXT    NOT NULL,
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    remaining  INTEGER NOT NULL,
    claimed_at INTEGER NOT NULL,
    PRIMARY KEY (sale_id, claim_id)
);
CREATE INDEX flash_claims_buyer ON flash_claims (sale_id, buyer_id);
"#,
    // 4 (engagement): LIVE summaries, written when a LIVE ends, one per room and start time.
    r#"
CREATE TABLE live_summaries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    room       TEXT    NOT NULL,
    creator_id TEXT    NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at   INTEGER NOT NULL,
    summary    TEXT    NOT NULL,
    UNIQUE (room, started_at)
);
CREATE INDEX live_summaries_room ON live_summaries (room, ended_at);
"#,
    // 5: moderation and scheduling. Each creator's keyword filter and the accounts sanctioned in
    // its rooms (see `moderation`); each creator's planned LIVE events (see `scheduling`).
    r#"
CREATE TABLE blocked_terms (
    creator_id TEXT NOT NULL,
    term TEXT NOT NULL,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (creator_id, term)
) WITHOUT ROWID;
CREATE TABLE sanctions (
    creator_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    sanction TEXT NOT NULL CHECK (sanction IN ('muted', 'blocked', 'hidden')),
    until INTEGER,
    room TEXT,
    since INTEGER NOT NULL,
    PRIMARY KEY (creator_id, user_id, sanction)
) WITHOUT ROWID;
CREATE TABLE live_events (
    id INTEGER PRIMARY KEY,
    creator_id TEXT NOT NULL,
    room TEXT NOT NULL,
    title TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    product_set_id TEXT,
    campaign TEXT,
    campaign_starts_at INTEGER,
    campaign_ends_at INTEGER,
    status TEXT NOT NULL CHECK (status IN ('scheduled', 'cancelled')),
    reminded INTEGER NOT NULL DEFAULT 0 CHECK (reminded IN (0, 1)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX live_events_creator ON live_events (creator_id, starts_at);
CREATE INDEX live_events_due ON live_events (starts_at) WHERE status = 'scheduled' AND reminded = 0;
CREATE INDEX live_events_campaigns ON live_events (campaign_ends_at) WHERE status = 'scheduled' AND campaign IS NOT NULL;
"#,
    // 6: account health: each creator's moderation counts (filtered comments, mutes, blocks,
    // refused agency operations), kept as running totals so they survive restarts.
    r#"
CREATE TABLE health_counters (
    creator_id TEXT NOT NULL,
    counter TEXT NOT NULL CHECK (counter IN ('filtered_comments', 'mutes', 'blocks', 'refused_agency_operations')),
    count INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (creator_id, counter)
) WITHOUT ROWID;
"#,
];

/// The schema version this build writes: the number of known migrations.
pub(super) fn latest_version() -> i64 {
    // The list is a handful of entries; it cannot overflow i64.
    MIGRATIONS.len() as i64
}

/// Reads the file's schema version.
pub(super) fn current_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

/// Brings the schema up to [`latest_version`]. A no-op on an up-to-date file; refuses a newer one.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    migrate_with(conn, MIGRATIONS)
}

/// [`migrate`] over an explicit list, so tests can exercise upgrades and refusals.
pub(super) fn migrate_with(conn: &mut Connection, steps: &[&str]) -> Result<(), StoreError> {
    let supported = steps.len() as i64;
    // IMMEDIATE takes the write lock before reading the version, so a concurrent opener waits
    // (busy_timeout) and then sees the upgraded version instead of applying the steps twice.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = current_version(&tx)?;
    if found < 0 {
        return Err(StoreError::corrupt("user_version", format!("negative schema version {found}")));
    }
    if found > supported {
        return Err(StoreError::SchemaTooNew { found, supported });
    }
    if found == supported {
        // Dropping the transaction rolls back; nothing was written.
        return Ok(());
    }
    for (index, sql) in steps.iter().enumerate().skip(found as usize) {
        tracing::info!(version = index + 1, "applying store migration");
        tx.execute_batch(sql)?;
    }
    // user_version lives in the database header and is covered by the transaction.
    tx.pragma_update(None, "user_version", supported)?;
    tx.commit()?;
    Ok(())
}
