//! Store tests against real SQLite files in temporary directories.
//!
//! Time is always an explicit `now` built from [`T0`], so expiry is tested by passing a later instant,
//! never by sleeping. This file holds the shared helpers, durability and migrations; the CPA rules and
//! the inbox/audit logs have their own files.

mod access;
mod expiry;
mod inbox;
mod retention;

use rusqlite::Connection;
use stagehand_protocol::client::NewLink;
use stagehand_protocol::types::{GrantStatus, LinkStatus, Millis, RequestKind, RequestStatus, Scope};
use tempfile::TempDir;

use super::migrations::{current_version, latest_version, migrate, migrate_with};
use super::*;

/// An arbitrary "now" for tests.
const T0: Millis = 1_700_000_000_000;
const HOUR: Millis = 3_600_000;
const DAY: Millis = 24 * HOUR;

fn open() -> (TempDir, SqliteStore) {
    let dir = TempDir::new().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open store");
    (dir, store)
}

/// A request for a new link ending `ends_at`, with or without live access, for every scope.
fn link_request(creator: &str, agency: &str, ends_at: Millis, live_access: bool) -> NewRequest {
    NewRequest {
        creator_id: creator.into(),
        agency_id: agency.into(),
        agency_name: format!("{agency} Ltd"),
        requested_by: "staff_1".into(),
        link: Some(NewLink { agreement_ends_at: ends_at }),
        live_access,
        scopes: Scope::ALL.to_vec(),
    }
}

/// A request for access on the pair's existing link.
fn access_request(creator: &str, agency: &str) -> NewRequest {
    NewRequest { link: None, live_access: true, ..link_request(creator, agency, 0, true) }
}

/// Links the pair (link-only request, accepted at `T0`) with an agreement ending `ends_at`.
fn linked(store: &SqliteStore, creator: &str, agency: &str, ends_at: Millis) -> Decision {
    let req = store.create_request(link_request(creator, agency, ends_at, false), T0).expect("link request");
    store.decide_request(&req.request_id, creator, true, T0).expect("accept link")
}

/// Links the pair with access (bundled request accepted at `T0`).
fn linked_with_access(store: &SqliteStore, creator: &str, agency: &str, ends_at: Millis) -> Decision {
    let req = store.create_request(link_request(creator, agency, ends_at, true), T0).expect("bundled request");
    store.decide_request(&req.request_id, creator, true, T0).expect("accept bundled")
}

fn live_grants(store: &SqliteStore, creator: &str, now: Millis) -> Vec<GrantInfo> {
    let filter = GrantFilter { creator_id: Some(creator.into()), agency_id: None, live_only: true };
    store.grants(&filter, now).expect("grants")
}

fn all_grants(store: &SqliteStore, creator: &str) -> Vec<GrantInfo> {
    let filter = GrantFilter { creator_id: Some(creator.into()), ..GrantFilter::default() };
    store.grants(&filter, T0).expect("grants")
}

fn links_of(store: &SqliteStore, creator: &str, now: Millis) -> Vec<LinkInfo> {
    store.links(&LinkFilter { creator_id: Some(creator.into()), agency_id: None }, now).expect("links")
}

fn requests_of(store: &SqliteStore, creator: &str, now: Millis) -> Vec<AccessRequestInfo> {
    let filter = RequestFilter { creator_id: Some(creator.into()), ..RequestFilter::default() };
    store.requests(&filter, now).expect("requests")
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::Conflict(_))), "expected Conflict, got {result:?}");
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::NotFound(_))), "expected NotFound, got {result:?}");
}

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(matches!(result, Err(StoreError::Invalid(_))), "expected Invalid, got {result:?}");
}

#[test]
fn open_creates_the_data_dir_and_sets_durability_pragmas() {
    let dir = TempDir::new().unwrap();
    let data_dir = dir.path().join("nested").join("data");
    let store = SqliteStore::open(&data_dir).unwrap();
    assert_eq!(store.path(), data_dir.join(DB_FILE));
    assert!(store.path().exists());

    let conn = store.conn();
    let journal: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    let synchronous: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
    let foreign_keys: i64 = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0)).unwrap();
    assert_eq!(journal, "wal");
    assert_eq!(synchronous, 2, "FULL");
    assert_eq!(foreign_keys, 1);
}

#[test]
fn everything_survives_drop_and_reopen() {
    let dir = TempDir::new().unwrap();
    let (grant, note, audit) = {
        let store = SqliteStore::open(dir.path()).unwrap();
        let decision = linked_with_access(&store, "c1", "a1", T0 + DAY);
        store.create_request(link_request("c2", "a1", T0 + DAY, false), T0).unwrap();
        let note = store.notify("user:c1", "access_granted", serde_json::json!({"agency": "a1"}), T0).unwrap();
        let entry = NewAudit {
            creator_id: "c1".into(),
            agency_id: "a1".into(),
            staff_id: "s1".into(),
            staff_name: "Sam".into(),
            room: Some("room_1".into()),
            command: "pin_item".into(),
            outcome: "ok".into(),
            detail: None,
        };
        let audit = store.append_audit(entry, T0).unwrap();
        (decision.grant.unwrap(), note, audit)
    };

    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(live_grants(&store, "c1", T0), vec![grant]);
    assert_eq!(links_of(&store, "c1", T0)[0].status, LinkStatus::Active);
    assert_eq!(requests_of(&store, "c2", T0)[0].status, RequestStatus::Pending);
    assert_eq!(store.notifications("user:c1", false, None, 10).unwrap(), vec![note]);
    assert_eq!(store.audit_page("c1", None, None, 10).unwrap().items, vec![audit]);
    // Ids keep growing after a reopen.
    let next = store.create_request(link_request("c3", "a1", T0 + DAY, false), T0).unwrap();
    assert_eq!(next.request_id, "req_3");
}

#[test]
fn migrations_are_idempotent() {
    let dir = TempDir::new().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    // A second and third open find the schema current and change nothing.
    drop(SqliteStore::open(dir.path()).unwrap());
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(current_version(&store.conn()).unwrap(), latest_version());
    assert_eq!(latest_version(), 6);

    let mut conn = Connection::open(store.path()).unwrap();
    migrate(&mut conn).unwrap();
    assert_eq!(current_version(&conn).unwrap(), latest_version());
}

#[test]
fn migrations_apply_only_the_missing_steps_in_order() {
    let dir = TempDir::new().unwrap();
    let mut conn = Connection::open(dir.path().join("m.db")).unwrap();
    let steps = ["CREATE TABLE a (x INTEGER);", "ALTER TABLE a ADD COLUMN y INTEGER;", "CREATE TABLE b (z);"];
    migrate_with(&mut conn, &steps[..1]).unwrap();
    assert_eq!(current_version(&conn).unwrap(), 1);
    // Re-running step 1 would fail ("table a already exists"), so success proves it was skipped.
    migrate_with(&mut conn, &steps).unwrap();
    assert_eq!(current_version(&conn).unwrap(), 3);
    conn.execute("INSERT INTO a (x, y) VALUES (1, 2)", []).unwrap();
    migrate_with(&mut conn, &steps).unwrap();

    // A failing step rolls back every step of the run, version included.
    let broken = [steps[0], steps[1], steps[2], "CREATE TABLE c (w);", "NOT SQL"];
    assert!(migrate_with(&mut conn, &broken).is_err());
    assert_eq!(current_version(&conn).unwrap(), 3);
    let c_exists: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'c'", [], |r| r.get(0)).unwrap();
    assert_eq!(c_exists, 0);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = TempDir::new().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);

    let err = SqliteStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { found: 99, supported: 6 }), "{err:?}");
    assert!(err.to_string().contains("newer than this build supports"), "{err}");
}

#[test]
fn ids_are_prefixed_rowids_and_kinds_do_not_mix() {
    let (_dir, store) = open();
    let decision = linked_with_access(&store, "c1", "a1", T0 + DAY);
    assert_eq!(decision.request.request_id, "req_1");
    assert_eq!(decision.link.link_id, "lnk_1");
    assert_eq!(decision.grant.as_ref().unwrap().grant_id, "grt_1");
    // A link id is not a request id, even with the same number.
    assert_not_found(store.decide_request("lnk_1", "c1", true, T0));
    assert_not_found(store.decide_request("req_x", "c1", true, T0));
    assert_not_found(store.unlink("req_1", &Party::Admin, T0));
}

#[test]
fn a_panic_mid_transaction_rolls_back_and_the_store_keeps_working() {
    let (_dir, store) = open();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut conn = store.conn();
        let tx = conn.transaction().unwrap();
        tx.execute("INSERT INTO notifications (recipient, kind, data, created_at) VALUES ('u', 'k', '{}', 1)", [])
            .unwrap();
        panic!("boom while holding the store lock");
    }));
    assert!(result.is_err());
    assert!(store.is_poisoned());
    assert!(store.notifications("u", false, None, 10).unwrap().is_empty(), "the insert was rolled back");
    store.notify("u", "k", serde_json::json!({}), T0).unwrap();
    assert_eq!(store.notifications("u", false, None, 10).unwrap().len(), 1);
}

#[test]
fn the_store_is_usable_as_a_shared_trait_object() {
    let (_dir, store) = open();
    let shared: std::sync::Arc<dyn Store> = std::sync::Arc::new(store);
    let other = std::sync::Arc::clone(&shared);
    std::thread::spawn(move || other.notify("user:c1", "staff_joined", serde_json::json!({}), T0).unwrap())
        .join()
        .unwrap();
    assert_eq!(shared.notifications("user:c1", false, None, 10).unwrap().len(), 1);
}

#[test]
fn errors_map_to_protocol_codes() {
    use stagehand_protocol::error::ErrorCode;
    let (_dir, store) = open();
    let code = |r: Result<Decision, StoreError>| r.unwrap_err().code();
    assert_eq!(code(store.decide_request("req_1", "c1", true, T0)), ErrorCode::NotFound);
    let err = store.create_request(link_request("c1", "a1", T0, true), T0).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Invalid);
    let busy = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None);
    assert_eq!(StoreError::from(busy).code(), ErrorCode::Unavailable);
    assert_eq!(StoreError::corrupt("links", "x").code(), ErrorCode::Internal);
}
