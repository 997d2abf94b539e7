//! Retention pruning, with `now` passed in: age and count limits for the audit trail (per creator)
//! and for read notifications (per inbox); unread notifications are kept.

use super::*;
use serde_json::json;

fn entry(creator: &str) -> NewAudit {
    NewAudit {
        creator_id: creator.into(),
        agency_id: "a1".into(),
        staff_id: "s1".into(),
        staff_name: "Sam".into(),
        room: None,
        command: "join".into(),
        outcome: "ok".into(),
        detail: None,
    }
}

const KEEP_ALL: Retention = Retention {
    audit_max_age_ms: u64::MAX,
    audit_max_per_creator: u64::MAX,
    notification_max_age_ms: u64::MAX,
    read_notifications_per_inbox: u64::MAX,
};

fn prune(store: &SqliteStore, retention: Retention, now: Millis) -> Pruned {
    store.write(|tx| tx.prune(&retention, now)).unwrap().value
}

fn audit_ids(store: &SqliteStore, creator: &str) -> Vec<u64> {
    store.audit_page(creator, None, None, 500).unwrap().items.iter().map(|a| a.audit_id).collect()
}

#[test]
fn audit_rows_past_the_age_or_the_per_creator_count_are_pruned() {
    let (_dir, store) = open();
    store.append_audit(entry("c1"), T0 - 100 * DAY).unwrap(); // 1: too old
    for i in 0..4 {
        store.append_audit(entry("c1"), T0 - DAY + i).unwrap(); // 2..=5
    }
    store.append_audit(entry("c2"), T0 - 100 * DAY).unwrap(); // 6: too old
    store.append_audit(entry("c2"), T0).unwrap(); // 7

    let retention = Retention { audit_max_age_ms: 90 * DAY, audit_max_per_creator: 3, ..KEEP_ALL };
    assert_eq!(prune(&store, retention, T0).audit, 3);
    assert_eq!(audit_ids(&store, "c1"), [5, 4, 3], "the newest three of c1");
    assert_eq!(audit_ids(&store, "c2"), [7]);
    // Pruning again removes nothing, and the trail still refuses other deletes.
    assert_eq!(prune(&store, retention, T0), Pruned::default());
    assert!(store.conn().execute("DELETE FROM audit", []).is_err());
}

#[test]
fn read_notifications_past_the_age_or_the_per_inbox_count_are_pruned_unread_ones_stay() {
    let (_dir, store) = open();
    let old_unread = store.notify("user:c1", "k", json!({}), T0 - 100 * DAY).unwrap();
    let old_read = store.notify("user:c1", "k", json!({}), T0 - 100 * DAY).unwrap();
    let recent: Vec<u64> =
        (0..4).map(|i| store.notify("user:c1", "k", json!({}), T0 - DAY + i).unwrap().notification_id).collect();
    let other = store.notify("agency:a1", "k", json!({}), T0).unwrap();
    let mut read = vec![old_read.notification_id, other.notification_id];
    read.extend(&recent);
    store.ack("user:c1", &read).unwrap();
    store.ack("agency:a1", &read).unwrap();

    let retention = Retention { notification_max_age_ms: 30 * DAY, read_notifications_per_inbox: 2, ..KEEP_ALL };
    assert_eq!(prune(&store, retention, T0).notifications, 3);
    let left: Vec<u64> =
        store.notifications("user:c1", false, None, 500).unwrap().iter().map(|n| n.notification_id).collect();
    assert_eq!(left, [recent[3], recent[2], old_unread.notification_id], "the newest two read, and the unread one");
    assert_eq!(store.notifications("agency:a1", false, None, 500).unwrap().len(), 1);
}

#[test]
fn a_write_that_fails_midway_keeps_nothing_it_wrote() {
    let (_dir, store) = open();
    let failed = store.write(|tx| {
        tx.create_request(link_request("c1", "a1", T0 + DAY, true), T0)?;
        tx.notify("user:c1", "access_requested", json!({}), T0)?;
        tx.append_audit(NewAudit { creator_id: String::new(), ..entry("c1") }, T0)?;
        Err::<(), _>(StoreError::Invalid("refused after writing".into()))
    });
    assert!(failed.is_err());
    assert!(requests_of(&store, "c1", T0).is_empty());
    assert!(store.notifications("user:c1", false, None, 10).unwrap().is_empty());
    assert!(audit_ids(&store, "c1").is_empty());

    let written = store
        .write(|tx| {
            let request = tx.create_request(link_request("c1", "a1", T0 + DAY, true), T0)?;
            tx.notify("user:c1", "access_requested", json!({ "id": request.request_id }), T0)?;
            Ok(request)
        })
        .unwrap();
    assert_eq!(written.notified.len(), 1, "the committed notification is handed back for pushing");
    assert_eq!(written.notified[0].recipient, "user:c1");
}
