//! [`SqliteStore`]: the [`Store`] on one SQLite file, `stagehand.db` in the data directory.
//!
//! Owns a connection and its settings, and opens write transactions ([`SqliteStore::write`]). The
//! hub runs one writable `SqliteStore` on one writer thread and a few read-only ones
//! ([`SqliteStore::open_reader`]) on reader threads (see `partner::store_handle`); WAL lets those
//! readers run beside the writer. The connection sits behind a `std::sync::Mutex` only so that the
//! store stays `Sync` for direct use (tests, tools); on the hub's threads the lock is never contended.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use stagehand_protocol::types::{
    AccessRequestInfo, AuditRecord, GrantInfo, LinkInfo, LiveSummary, Millis, NotificationInfo,
};

use super::{
    commerce, inbox, migrations, queries, summaries, AuditPage, Decision, GrantFilter, LinkFilter, NewAudit,
    NewRequest, Party, RequestFilter, Store, StoreError, Tx, Unlinked, Written,
};

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "stagehand.db";

/// How long a call waits for another process's write lock before failing with `SQLITE_BUSY`, unless
/// [`SqliteStore::set_busy_timeout`] says otherwise.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite-backed [`Store`]. Cheap to share behind an `Arc`; all methods take `&self`.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) `data_dir/stagehand.db`, creating `data_dir` too, and migrates the
    /// schema to this build's version. Refuses a file whose schema is newer than this build.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|source| StoreError::DataDir { path: data_dir.to_path_buf(), source })?;
        let path = data_dir.join(DB_FILE);
        let mut conn = Connection::open(&path)?;
        configure(&conn)?;
        migrations::migrate(&mut conn)?;
        tracing::debug!(path = %path.display(), schema = migrations::latest_version(), "store opened");
        Ok(SqliteStore { conn: Mutex::new(conn), path })
    }

    /// A read-only connection to the same file, for a reader thread. The file must exist (open the
    /// writable store first). Writes through it fail.
    pub fn open_reader(&self) -> Result<Self, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(SqliteStore { conn: Mutex::new(conn), path: self.path.clone() })
    }

    /// How long a call waits for another process's lock before failing with `SQLITE_BUSY`.
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<(), StoreError> {
        Ok(self.conn().busy_timeout(timeout)?)
    }

    /// Runs `f` in one `IMMEDIATE` transaction and commits if it returns `Ok`; on `Err` nothing it
    /// wrote is kept. Returns `f`'s value with the notifications written through the [`Tx`].
    pub fn write<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, StoreError>) -> Result<Written<T>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (value, notified) = {
            let writer = Tx::new(&tx);
            let value = f(&writer)?;
            (value, writer.into_notified())
        };
        tx.commit()?;
        Ok(Written { value, notified })
    }

    /// The database file.
    /// Every creator's blocked terms and sanctions that still apply at `now` (read once at
    /// start, on the writable connection: the ones that no longer apply are deleted).
    pub fn moderation_rules(
        &self,
        now: stagehand_protocol::types::Millis,
    ) -> Result<super::ModerationRows, StoreError> {
        super::moderation::load(&self.conn(), now)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, even if a previous holder panicked. Recovering is safe: every write runs in a
    /// rusqlite `Transaction`, which rolls back when dropped during the unwind, so a panic cannot
    /// leave a half-applied change or an open transaction behind.
    pub(super) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|poisoned: PoisonError<_>| {
            tracing::warn!("store mutex was poisoned by a panic; continuing with the rolled-back connection");
            poisoned.into_inner()
        })
    }
}

#[cfg(test)]
impl SqliteStore {
    /// Whether a panic poisoned the lock (tests check that [`SqliteStore::conn`] recovers from it).
    pub(super) fn is_poisoned(&self) -> bool {
        self.conn.is_poisoned()
    }
}

/// Connection settings the [`Store`] contract depends on.
fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL lets readers (another process, a backup) run beside the writer; FULL syncs the WAL on every
    // commit, which is what makes "returned Ok" mean "survives power loss".
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Setup(format!("journal_mode is {mode}, WAL is required")));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

impl Store for SqliteStore {
    fn create_request(&self, req: NewRequest, now: Millis) -> Result<AccessRequestInfo, StoreError> {
        self.write(|tx| tx.create_request(req, now)).map(|w| w.value)
    }

    fn decide_request(
        &self,
        request_id: &str,
        creator_id: &str,
        accept: bool,
        now: Millis,
    ) -> Result<Decision, StoreError> {
        self.write(|tx| tx.decide_request(request_id, creator_id, accept, now)).map(|w| w.value)
    }

    fn unlink(&self, link_id: &str, party: &Party, now: Millis) -> Result<Unlinked, StoreError> {
        self.write(|tx| tx.unlink(link_id, party, now)).map(|w| w.value)
    }

    fn set_suspended(
        &self,
        creator_id: &str,
        agency_id: &str,
        suspended: bool,
        now: Millis,
    ) -> Result<GrantInfo, StoreError> {
        self.write(|tx| tx.set_suspended(creator_id, agency_id, suspended, now)).map(|w| w.value)
    }

    fn grants(&self, filter: &GrantFilter, now: Millis) -> Result<Vec<GrantInfo>, StoreError> {
        queries::grants(&self.conn(), filter, now)
    }

    fn requests(&self, filter: &RequestFilter, now: Millis) -> Result<Vec<AccessRequestInfo>, StoreError> {
        queries::requests(&self.conn(), filter, now)
    }

    fn links(&self, filter: &LinkFilter, now: Millis) -> Result<Vec<LinkInfo>, StoreError> {
        queries::links(&self.conn(), filter, now)
    }

    fn notify(
        &self,
        recipient: &str,
        kind: &str,
        data: serde_json::Value,
        now: Millis,
    ) -> Result<NotificationInfo, StoreError> {
        self.write(|tx| tx.notify(recipient, kind, data, now)).map(|w| w.value)
    }

    fn notifications(
        &self,
        recipient: &str,
        unread_only: bool,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<NotificationInfo>, StoreError> {
        inbox::notifications(&self.conn(), recipient, unread_only, before, limit)
    }

    fn ack(&self, recipient: &str, ids: &[u64]) -> Result<u64, StoreError> {
        self.write(|tx| tx.ack(recipient, ids)).map(|w| w.value)
    }

    fn append_audit(&self, entry: NewAudit, now: Millis) -> Result<AuditRecord, StoreError> {
        self.write(|tx| tx.append_audit(entry, now)).map(|w| w.value)
    }

    fn audit_page(
        &self,
        creator_id: &str,
        agency_id: Option<&str>,
        before: Option<u64>,
        limit: u32,
    ) -> Result<AuditPage, StoreError> {
        inbox::audit_page(&self.conn(), creator_id, agency_id, before, limit)
    }

    fn product_sets(&self, creator_id: &str) -> Result<Vec<stagehand_protocol::types::ProductSet>, StoreError> {
        commerce::product_sets(&self.conn(), creator_id)
    }

    fn product_set(&self, creator_id: &str, set_id: &str) -> Result<stagehand_protocol::types::ProductSet, StoreError> {
        commerce::product_set(&self.conn(), creator_id, set_id)
    }

    fn flash_sale(&self, room: &str, sale_id: &str, now: Millis) -> Result<commerce::StoredSale, StoreError> {
        commerce::flash_sale(&self.conn(), room, sale_id, now)
    }

    fn live_summary(&self, room: &str) -> Result<Option<LiveSummary>, StoreError> {
        summaries::latest(&self.conn(), room)
    }
}
