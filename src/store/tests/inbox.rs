//! Notification inboxes and the audit trail.

use serde_json::json;

use super::*;

fn audit(creator: &str, agency: &str, command: &str) -> NewAudit {
    NewAudit {
        creator_id: creator.into(),
        agency_id: agency.into(),
        staff_id: "s1".into(),
        staff_name: "Sam".into(),
        room: None,
        command: command.into(),
        outcome: "ok".into(),
        detail: None,
    }
}

#[test]
fn notifications_page_newest_first() {
    let (_dir, store) = open();
    let mut ids = Vec::new();
    for i in 0..5u64 {
        let note = store.notify("user:c1", "staff_joined", json!({"n": i, "staff": {"id": "s1"}}), T0 + i).unwrap();
        assert!(!note.read);
        ids.push(note.notification_id);
        store.notify("agency:a1", "access_granted", json!({"n": i}), T0 + i).unwrap();
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");

    let all = store.notifications("user:c1", false, None, 100).unwrap();
    assert_eq!(all.iter().map(|n| n.notification_id).rev().collect::<Vec<_>>(), ids);
    assert_eq!(all[0].data, json!({"n": 4, "staff": {"id": "s1"}}));
    assert_eq!((all[0].kind.as_str(), all[0].created_at), ("staff_joined", T0 + 4));

    let page = store.notifications("user:c1", false, Some(ids[3]), 2).unwrap();
    assert_eq!(page.iter().map(|n| n.notification_id).collect::<Vec<_>>(), vec![ids[2], ids[1]]);
    assert_eq!(store.notifications("user:c1", false, Some(ids[0]), 10).unwrap(), vec![]);
    assert_eq!(store.notifications("user:c1", false, Some(u64::MAX), 10).unwrap().len(), 5);
    // limit is clamped to at least one.
    assert_eq!(store.notifications("user:c1", false, None, 0).unwrap().len(), 1);
    assert!(store.notifications("user:nobody", false, None, 10).unwrap().is_empty());
}

#[test]
fn ack_marks_read_only_in_the_recipients_inbox() {
    let (_dir, store) = open();
    let mine: Vec<u64> =
        (0..3).map(|i| store.notify("user:c1", "access_requested", json!(i), T0).unwrap().notification_id).collect();
    let theirs = store.notify("user:c2", "access_requested", json!(null), T0).unwrap().notification_id;

    // Another inbox's id changes nothing, in either inbox.
    assert_eq!(store.ack("user:c1", &[theirs]).unwrap(), 0);
    assert_eq!(store.notifications("user:c2", true, None, 10).unwrap().len(), 1);

    assert_eq!(store.ack("user:c1", &[mine[0], mine[2], mine[2], 999, u64::MAX]).unwrap(), 2);
    assert_eq!(store.ack("user:c1", &[mine[0]]).unwrap(), 0, "already read");
    let unread = store.notifications("user:c1", true, None, 10).unwrap();
    assert_eq!(unread.iter().map(|n| n.notification_id).collect::<Vec<_>>(), vec![mine[1]]);
    let all = store.notifications("user:c1", false, None, 10).unwrap();
    assert_eq!(all.iter().map(|n| n.read).collect::<Vec<_>>(), vec![true, false, true]);
    assert_eq!(store.ack("user:c1", &[]).unwrap(), 0);
}

#[test]
fn audit_pages_follow_next_before() {
    let (_dir, store) = open();
    let mut ids = Vec::new();
    for i in 0..5 {
        let agency = if i % 2 == 0 { "a1" } else { "a2" };
        let mut entry = audit("c1", agency, &format!("cmd_{i}"));
        entry.room = Some("room_1".into());
        entry.detail = (i == 4).then(|| "bag full".to_owned());
        let record = store.append_audit(entry, T0 + i).unwrap();
        assert_eq!((record.ts, record.room.as_deref()), (T0 + i, Some("room_1")));
        ids.push(record.audit_id);
        store.append_audit(audit("c2", "a1", "other"), T0).unwrap();
    }

    let first = store.audit_page("c1", None, None, 2).unwrap();
    let commands = |page: &AuditPage| page.items.iter().map(|r| r.command.clone()).collect::<Vec<_>>();
    assert_eq!(commands(&first), vec!["cmd_4", "cmd_3"]);
    assert_eq!(first.items[0].detail.as_deref(), Some("bag full"));
    assert_eq!(first.next_before, Some(ids[3]));
    let second = store.audit_page("c1", None, first.next_before, 2).unwrap();
    assert_eq!(commands(&second), vec!["cmd_2", "cmd_1"]);
    let third = store.audit_page("c1", None, second.next_before, 2).unwrap();
    assert_eq!(commands(&third), vec!["cmd_0"]);
    assert_eq!(third.next_before, None, "a short page is the last");

    // A full page may be the last one; the next request is then empty.
    let exact = store.audit_page("c1", None, None, 5).unwrap();
    assert_eq!(exact.next_before, Some(ids[0]));
    let empty = store.audit_page("c1", None, exact.next_before, 5).unwrap();
    assert_eq!((empty.items.len(), empty.next_before), (0, None));

    let a1 = store.audit_page("c1", Some("a1"), None, 500).unwrap();
    assert_eq!(commands(&a1), vec!["cmd_4", "cmd_2", "cmd_0"]);
    assert_eq!(a1.next_before, None);
    assert_eq!(store.audit_page("c1", None, None, 0).unwrap().items.len(), 1, "limit clamps to 1");
    assert_eq!(store.audit_page("c1", None, None, u32::MAX).unwrap().items.len(), 5);
}

#[test]
fn audit_rows_cannot_be_changed_or_removed() {
    let (_dir, store) = open();
    store.append_audit(audit("c1", "a1", "pin_item"), T0).unwrap();
    let conn = store.conn();
    let update = conn.execute("UPDATE audit SET outcome = 'forbidden'", []);
    assert!(update.unwrap_err().to_string().contains("append-only"));
    assert!(conn.execute("DELETE FROM audit", []).is_err());
    drop(conn);
    assert_eq!(store.audit_page("c1", None, None, 10).unwrap().items[0].outcome, "ok");
}

#[test]
fn empty_recipient_or_kind_is_invalid() {
    let (_dir, store) = open();
    assert_invalid(store.notify("", "access_granted", json!({}), T0));
    assert_invalid(store.notify("user:c1", "", json!({}), T0));
}
