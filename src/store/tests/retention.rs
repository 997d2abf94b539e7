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
    flash_sale_max_age_ms: u64::MAX,
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

#[test]
fn flash_sales_and_their_claims_are_pruned_after_their_age_limit_and_claims_hold_the_stock() {
    use crate::store::commerce::NewClaim;
    use stagehand_protocol::types::{FlashSale, FlashSaleStatus, Product};
    let (_dir, store) = open();
    let product = Product {
        product_id: "p".into(),
        title: "P".into(),
        price: 1,
        currency: "EUR".into(),
        image_url: None,
        in_stock: true,
    };
    let sale = |ends_at| FlashSale {
        sale_id: String::new(),
        product: product.clone(),
        sale_price: 1,
        quantity: 3,
        per_buyer_limit: 2,
        opens_at: ends_at - 1_000,
        ends_at,
        status: FlashSaleStatus::Open,
        remaining: 3,
    };
    let old = store.write(|tx| tx.create_flash_sale("r", "c1", &sale(T0 - 40 * DAY), T0 - 41 * DAY)).unwrap().value;
    let new = store.write(|tx| tx.create_flash_sale("r", "c1", &sale(T0 + 1_000), T0)).unwrap().value;
    let claim = |id: &str, buyer: &str, quantity| NewClaim { claim_id: id.into(), buyer_id: buyer.into(), quantity };
    let claimed =
        |sale_id: &str, c: NewClaim, now| store.write(|tx| tx.claim("r", sale_id, c, true, now)).map(|w| w.value);
    claimed(&old.sale_id, claim("o1", "b", 1), T0 - 40 * DAY - 500).unwrap();
    assert_eq!(claimed(&new.sale_id, claim("n1", "b", 2), T0).unwrap().remaining, 1);
    // The per-buyer limit, then the stock, hold; a refused claim writes nothing.
    assert!(matches!(claimed(&new.sale_id, claim("n2", "b", 1), T0), Err(StoreError::LimitReached(_))));
    assert!(matches!(claimed(&new.sale_id, claim("n3", "x", 2), T0), Err(StoreError::SoldOut { remaining: 1, .. })));
    // A claim while the room does not show the sale is refused; a granted one is answered again.
    assert!(matches!(
        store.write(|tx| tx.claim("r", &new.sale_id, claim("n4", "y", 1), false, T0)),
        Err(StoreError::Conflict(_))
    ));
    assert!(store.write(|tx| tx.claim("r", &new.sale_id, claim("n1", "b", 2), false, T0)).unwrap().value.replayed);

    let retention = Retention { flash_sale_max_age_ms: 30 * DAY, ..KEEP_ALL };
    assert_eq!(prune(&store, retention, T0).flash_sales, 1);
    assert!(matches!(store.flash_sale("r", &old.sale_id, T0), Err(StoreError::NotFound(_))));
    assert_eq!(store.flash_sale("r", &new.sale_id, T0).unwrap().sale.remaining, 1);
    let claims: i64 = store.conn().query_row("SELECT count(*) FROM flash_claims", [], |r| r.get(0)).unwrap();
    assert_eq!(claims, 1, "the old sale's claims went with it");
}
