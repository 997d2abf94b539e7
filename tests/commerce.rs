//! Commerce end to end, real hub and real sockets: product sets (WebSocket and HTTP), the
//! versioned shopping bag, billboards with a display duration, and flash sales with their claims.
//! Timed behaviour (billboard expiry, flash-sale countdown and end) runs on paused tokio time with
//! the hub reading it (`Clock::tokio`), and is judged by the events' own `ts`.

mod common;

use common::*;
use stagehand::client::{Auth, Client, Options};
use stagehand::clock::Clock;
use stagehand_protocol::server::{Event, EventBody, ReplyResult};
use stagehand_protocol::types::{
    Bag, BagAction, Billboard, BillboardAction, FlashSale, FlashSaleStatus, NewFlashSale, Product, ProductSet, Role,
};
use stagehand_protocol::{Command, ErrorCode, Wire};
use std::time::Duration;
use tokio::time::timeout;

fn product(id: &str) -> Product {
    Product {
        product_id: id.into(),
        title: format!("Product {id}"),
        price: 1_999,
        currency: "EUR".into(),
        image_url: Some(format!("https://cdn.example.com/{id}.jpg")),
        in_stock: true,
    }
}

fn save_set(set_id: &str, products: &[&str]) -> Command {
    Command::SaveProductSet {
        set_id: set_id.into(),
        name: format!("Set {set_id}"),
        products: products.iter().map(|p| product(p)).collect(),
    }
}

fn set_of(reply: stagehand_protocol::server::Reply) -> ProductSet {
    assert_ok(&reply);
    match reply.result {
        Some(ReplyResult::ProductSet { set }) => set,
        other => panic!("expected a product set, got {other:?}"),
    }
}

fn bag_of(reply: stagehand_protocol::server::Reply) -> Bag {
    assert_ok(&reply);
    match reply.result {
        Some(ReplyResult::Bag { bag, .. }) => bag,
        other => panic!("expected a bag, got {other:?}"),
    }
}

fn ids(bag: &Bag) -> Vec<&str> {
    bag.items.iter().map(|i| i.product.product_id.as_str()).collect()
}

/// The next event of `kind`, skipping others.
async fn next_of(client: &mut Client, kind: &str) -> Event {
    loop {
        let event = client.next_non_count_event().await.expect("an event");
        if event.body.name() == kind {
            return event;
        }
    }
}

async fn audit_rows(hub: &TestHub, creator: &str) -> Vec<serde_json::Value> {
    let (status, body) = hub.api_get(&format!("/api/v1/audit?creator_id={creator}&limit=100")).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

// ---- product sets -----------------------------------------------------------------------------

#[tokio::test]
async fn product_sets_are_the_creators_edited_by_creator_agency_with_shopping_bag_and_http() {
    let hub = start_with(|c| {
        c.max_product_sets = 2;
        c.max_products_per_set = 3;
    })
    .await;
    hub.grant("cara", "acme", Some(vec!["shopping_bag"]), DAY).await;
    hub.grant("cara", "other", Some(vec!["billboards"]), DAY).await;
    let mut cara = hub.creator(Wire::Json, "cara").await;
    let mut sam = hub.agency(Wire::MsgPack, "sam", "acme", "cara").await;
    let mut olga = hub.agency(Wire::Json, "olga", "other", "cara").await;
    let mut vic = hub.viewer(Wire::Json, "vic").await;

    let set = set_of(cara.request(save_set("s1", &["p1", "p2"])).await.unwrap());
    assert_eq!((set.set_id.as_str(), set.products.len()), ("s1", 2));
    // Agency staff with `shopping_bag` edit the creator's sets (the token names the creator).
    let edited = set_of(sam.request(save_set("s1", &["p1", "p2", "p3"])).await.unwrap());
    assert_eq!(edited.products.len(), 3);
    set_of(sam.request(save_set("s2", &["p4"])).await.unwrap());
    // Bounds: products a set, sets a creator, duplicate products, bad fields.
    assert_error(&cara.request(save_set("s1", &["a", "b", "c", "d"])).await.unwrap(), ErrorCode::Invalid);
    assert_error(&cara.request(save_set("s3", &["p1"])).await.unwrap(), ErrorCode::Conflict);
    assert_error(&cara.request(save_set("s1", &["p1", "p1"])).await.unwrap(), ErrorCode::Invalid);
    let mut bad = product("p9");
    bad.currency = "euro".into();
    let refused = cara.request(Command::SaveProductSet { set_id: "s1".into(), name: "x".into(), products: vec![bad] });
    assert_error(&refused.await.unwrap(), ErrorCode::Invalid);
    // Without the scope, and as a viewer: forbidden.
    assert_error(&olga.request(save_set("s9", &["p1"])).await.unwrap(), ErrorCode::Forbidden);
    assert_error(&olga.request(Command::ListProductSets).await.unwrap(), ErrorCode::Forbidden);
    assert_error(&vic.request(save_set("s9", &["p1"])).await.unwrap(), ErrorCode::Forbidden);
    assert_error(&vic.request(Command::ListProductSets).await.unwrap(), ErrorCode::Forbidden);

    // Another creator's sets are its own.
    let mut dora = hub.creator(Wire::Json, "dora").await;
    match dora.request(Command::ListProductSets).await.unwrap().result {
        Some(ReplyResult::ProductSets { items }) => assert!(items.is_empty()),
        other => panic!("{other:?}"),
    }
    match sam.request(Command::ListProductSets).await.unwrap().result {
        Some(ReplyResult::ProductSets { items }) => {
            let mut names: Vec<_> = items.iter().map(|s| s.set_id.as_str()).collect();
            names.sort();
            assert_eq!(names, ["s1", "s2"]);
        }
        other => panic!("{other:?}"),
    }
    let deleted = sam.request(Command::DeleteProductSet { set_id: "s2".into() }).await.unwrap();
    assert!(matches!(deleted.result, Some(ReplyResult::ProductSetDeleted { .. })), "{deleted:?}");
    assert_error(&sam.request(Command::DeleteProductSet { set_id: "s2".into() }).await.unwrap(), ErrorCode::NotFound);

    // The same sets over HTTP.
    let (status, body) = hub.api_get("/api/v1/creators/cara/product-sets").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    assert_eq!(body["items"][0]["products"][2]["product_id"], "p3");
    let spec =
        serde_json::json!({"name": "From the backend", "products": [serde_json::to_value(product("h1")).unwrap()]});
    let response = hub
        .http
        .put(format!("{}/api/v1/creators/cara/product-sets/web", hub.http_url))
        .bearer_auth(API_KEY)
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, body) = hub.api_get("/api/v1/creators/cara/product-sets/web").await;
    assert_eq!((status, body["name"].as_str()), (200, Some("From the backend")));
    let response = hub
        .http
        .put(format!("{}/api/v1/creators/cara/product-sets/third", hub.http_url))
        .bearer_auth(API_KEY)
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409, "the creator's set limit holds over HTTP too");
    let response = hub
        .http
        .delete(format!("{}/api/v1/creators/cara/product-sets/web", hub.http_url))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(hub.api_get("/api/v1/creators/cara/product-sets/web").await.0, 404);

    // Agency edits are audited with the real staff member, refusals too.
    let rows = audit_rows(&hub, "cara").await;
    let of = |staff: &str, command: &str, outcome: &str| {
        rows.iter().any(|r| r["staff_id"] == staff && r["command"] == command && r["outcome"] == outcome)
    };
    assert!(of("sam", "save_product_set", "ok"), "{rows:?}");
    assert!(of("sam", "delete_product_set", "ok"), "{rows:?}");
    assert!(of("olga", "save_product_set", "forbidden"), "{rows:?}");
}

// ---- the shopping bag -------------------------------------------------------------------------

#[tokio::test]
async fn the_bag_is_versioned_a_stale_version_is_refused_and_viewers_see_changes_as_the_creators() {
    for wire in Wire::BOTH {
        let hub = start().await;
        let room = "bag-room";
        hub.grant("cara", "acme", Some(vec!["shopping_bag"]), DAY).await;
        hub.grant("cara", "other", Some(vec!["promotions"]), DAY).await;
        let (mut cara, mut vic) = live_room(&hub, wire, room, "cara").await;
        let mut sam = hub.agency(wire, "sam", "acme", "cara").await;
        ok_snapshot(sam.request(Command::Join { room: room.into(), since: None }).await.unwrap());
        let mut olga = hub.agency(wire, "olga", "other", "cara").await;
        set_of(cara.request(save_set("spring", &["p1", "p2", "p3"])).await.unwrap());

        // The creator loads a set (version 0 → 1); the agency pins against version 1.
        let add = |version, set: &str| Command::BagAdd {
            room: room.into(),
            version,
            product: None,
            set_id: Some(set.into()),
        };
        let bag = bag_of(cara.request(add(0, "spring")).await.unwrap());
        assert_eq!((bag.version, ids(&bag)), (1, vec!["p1", "p2", "p3"]));
        let pin = |version, id: &str| Command::BagPin { room: room.into(), version, product_id: id.into() };
        let bag = bag_of(sam.request(pin(1, "p2")).await.unwrap());
        assert_eq!((bag.version, bag.pinned.as_deref()), (2, Some("p2")));

        // The creator, still at version 1, is refused with the current version; nothing changed.
        let stale = cara.request(Command::BagRemove { room: room.into(), version: 1, product_id: "p1".into() });
        let stale = stale.await.unwrap();
        assert_error(&stale, ErrorCode::Conflict);
        assert_eq!(stale.error.as_ref().unwrap().version, Some(2));

        let moved = Command::BagMove { room: room.into(), version: 2, product_id: "p3".into(), position: 0 };
        let bag = bag_of(cara.request(moved).await.unwrap());
        assert_eq!((bag.version, ids(&bag)), (3, vec!["p3", "p1", "p2"]));
        let sold = Command::BagSoldOut { room: room.into(), version: 3, product_id: "p1".into() };
        let bag = bag_of(sam.request(sold).await.unwrap());
        assert!(bag.items[1].sold_out);
        let one = Command::BagAdd { room: room.into(), version: 4, product: Some(product("p9")), set_id: None };
        let bag = bag_of(sam.request(one).await.unwrap());
        assert_eq!(ids(&bag), ["p3", "p1", "p2", "p9"]);
        let again = Command::BagAdd { room: room.into(), version: 5, product: Some(product("p9")), set_id: None };
        assert_error(&sam.request(again).await.unwrap(), ErrorCode::Conflict);
        let remove = Command::BagRemove { room: room.into(), version: 5, product_id: "p2".into() };
        let bag = bag_of(cara.request(remove).await.unwrap());
        assert_eq!((bag.version, bag.pinned.as_deref()), (6, None), "removing the pinned product unpins it");
        assert_error(
            &cara.request(Command::BagUnpin { room: room.into(), version: 6 }).await.unwrap(),
            ErrorCode::Conflict,
        );
        let missing = Command::BagPin { room: room.into(), version: 6, product_id: "nope".into() };
        assert_error(&cara.request(missing).await.unwrap(), ErrorCode::NotFound);
        assert_error(&cara.request(add(6, "no-such-set")).await.unwrap(), ErrorCode::NotFound);

        // Without the scope, and as a viewer: forbidden, and audited for the agency.
        assert_error(&olga.request(pin(6, "p1")).await.unwrap(), ErrorCode::Forbidden);
        assert_error(&vic.request(pin(6, "p1")).await.unwrap(), ErrorCode::Forbidden);

        // The viewer saw every change, in order, as the creator's, with each new version.
        let seen = events(&mut vic, 6).await;
        let versions: Vec<(u64, BagAction)> = seen
            .iter()
            .map(|e| match &e.body {
                EventBody::Bag { bag, action, by, operator, .. } => {
                    assert_eq!(by.id, "cara", "viewers see the creator");
                    assert!(operator.is_none(), "viewers never see staff");
                    (bag.version, *action)
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            versions,
            [
                (1, BagAction::Added),
                (2, BagAction::Pinned),
                (3, BagAction::Moved),
                (4, BagAction::SoldOut),
                (5, BagAction::Added),
                (6, BagAction::Removed)
            ]
        );
        // The creator sees who on the agency did it.
        let pinned = next_of(&mut cara, "bag").await;
        let pinned = if matches!(&pinned.body, EventBody::Bag { action: BagAction::Added, .. }) {
            next_of(&mut cara, "bag").await
        } else {
            pinned
        };
        match &pinned.body {
            EventBody::Bag { operator: Some(op), action: BagAction::Pinned, .. } => assert_eq!(op.staff_id, "sam"),
            other => panic!("{other:?}"),
        }

        // A late joiner's snapshot has the bag; a rejoin with `since` replays the changes.
        let mut late = hub.viewer(wire, "late").await;
        let snap = ok_snapshot(late.request(Command::Join { room: room.into(), since: None }).await.unwrap());
        let bag = snap.bag.expect("the snapshot carries the bag");
        assert_eq!((bag.version, ids(&bag)), (6, vec!["p3", "p1", "p9"]));
        let since = stagehand_protocol::client::Since { seq: seen[1].seq, epoch: snap.epoch.clone(), staff_seq: None };
        let mut back = hub.viewer(wire, "back").await;
        let snap = ok_snapshot(back.request(Command::Join { room: room.into(), since: Some(since) }).await.unwrap());
        assert_eq!(snap.recovered, Some(true));
        let replayed = events(&mut back, 4).await;
        assert!(replayed.iter().all(|e| e.body.name() == "bag"));
        assert_eq!(replayed[0].seq, seen[2].seq);

        let rows = audit_rows(&hub, "cara").await;
        assert!(rows.iter().any(|r| r["staff_id"] == "sam" && r["command"] == "bag_pin" && r["outcome"] == "ok"));
        assert!(rows
            .iter()
            .any(|r| r["staff_id"] == "olga" && r["command"] == "bag_pin" && r["outcome"] == "forbidden"));
    }
}

#[tokio::test]
async fn bag_commands_are_rate_limited_and_bounded() {
    let hub = start_with(|c| {
        c.ops_burst = 4; // start_room takes one
        c.ops_rate = 0.001;
        c.max_bag_items = 2;
    })
    .await;
    let (mut cara, _vic) = live_room(&hub, Wire::Json, "limits", "cara").await;
    let add = |version, id: &str| Command::BagAdd {
        room: "limits".into(),
        version,
        product: Some(product(id)),
        set_id: None,
    };
    bag_of(cara.request(add(0, "a")).await.unwrap());
    bag_of(cara.request(add(1, "b")).await.unwrap());
    assert_error(&cara.request(add(2, "c")).await.unwrap(), ErrorCode::Unavailable);
    // Another creator may not touch cara's bag.
    let mut dora = hub.creator(Wire::Json, "dora").await;
    assert_error(&dora.request(add(2, "d")).await.unwrap(), ErrorCode::Forbidden);
    let limited = cara.request(add(2, "c")).await.unwrap();
    assert_error(&limited, ErrorCode::RateLimited);
    assert!(limited.error.unwrap().retry_after_ms.unwrap() > 0);
}

// ---- load a set into a bag (for LIVEs started from a scheduled event) --------------------------

#[tokio::test]
async fn a_product_set_loads_into_a_rooms_bag_replacing_it() {
    let hub = start().await;
    let (mut cara, mut vic) = live_room(&hub, Wire::MsgPack, "load", "cara").await;
    set_of(cara.request(save_set("evening", &["e1", "e2"])).await.unwrap());
    let one = Command::BagAdd { room: "load".into(), version: 0, product: Some(product("x")), set_id: None };
    bag_of(cara.request(one).await.unwrap());
    let running = hub.running.as_ref().unwrap();
    let room = running.hub.rooms.get("load").unwrap();
    stagehand::catalog::load_into_bag(&running.hub.partner.store, &running.hub.config, &room, "evening").await.unwrap();
    let events = events(&mut vic, 2).await;
    match &events[1].body {
        EventBody::Bag { action: BagAction::Loaded, bag, by, .. } => {
            assert_eq!((bag.version, ids(bag), by.id.as_str()), (2, vec!["e1", "e2"], "cara"));
        }
        other => panic!("{other:?}"),
    }
}

// ---- timed: billboards and flash sales on the hub's clock ---------------------------------------

/// Longest a paused-time test waits (costs no real time).
const PATIENCE: Duration = Duration::from_secs(12 * 3_600);
/// Housekeeping expires things once a second.
const HOUSEKEEPING: u64 = 1_000;
const HOUR: u64 = 3_600_000;

async fn paused_hub(tweak: impl FnOnce(&mut stagehand::Config)) -> (TestHub, Clock) {
    let clock = Clock::tokio(stagehand::clock::now_ms());
    let hub = start_with(|c| {
        c.clock = clock;
        // No heartbeat closes or reclaiming while hours of paused time pass.
        c.heartbeat_ms = 30 * 24 * HOUR;
        c.creator_gone_grace_ms = 30 * 24 * HOUR;
        c.history_ttl_ms = 24 * HOUR;
        tweak(c);
    })
    .await;
    (hub, clock)
}

/// A token that outlives the test's paused time.
fn long_token(hub: &TestHub, user: &str, role: Role) -> String {
    hub.token_with(claims(user, role, now_secs() + 30 * 24 * 3600))
}

fn long_agency_token(hub: &TestHub, staff: &str, agency: &str) -> String {
    hub.token_with(stagehand_protocol::Claims {
        exp: now_secs() + 30 * 24 * 3600,
        agency: Some(agency.into()),
        agency_name: Some(format!("{agency} Ltd")),
        creator: Some("cara".into()),
        ..claims(staff, Role::Agency, 0)
    })
}

async fn patient(hub: &TestHub, wire: Wire, token: String) -> Client {
    let options = Options { wait: None, ..Options::new(Auth::Header(token)) };
    Client::connect_with(&hub.ws_url, wire, options).await.expect("client connects")
}

async fn patient_room(hub: &TestHub, room: &str) -> (Client, Client) {
    let mut cara = patient(hub, Wire::Json, long_token(hub, "cara", Role::Creator)).await;
    ok_snapshot(cara.request(Command::StartRoom { room: room.into(), title: None, event_id: None }).await.unwrap());
    let mut vic = patient(hub, Wire::MsgPack, long_token(hub, "vic", Role::Viewer)).await;
    ok_snapshot(vic.request(Command::Join { room: room.into(), since: None }).await.unwrap());
    (cara, vic)
}

fn billboard(id: &str, duration_ms: Option<u64>) -> Billboard {
    Billboard { billboard_id: id.into(), title: "Tonight only".into(), duration_ms, ..Default::default() }
}

#[tokio::test(start_paused = true)]
async fn a_billboard_with_a_duration_expires_by_itself_and_a_replacement_resets_it() {
    let (hub, clock) = paused_hub(|_| {}).await;
    hub.grant("cara", "acme", Some(vec!["billboards"]), DAY).await;
    let (mut cara, mut vic) = patient_room(&hub, "bb").await;
    let mut sam = patient(&hub, Wire::Json, long_agency_token(&hub, "sam", "acme")).await;
    ok_snapshot(sam.request(Command::Join { room: "bb".into(), since: None }).await.unwrap());

    let deploy = |b| Command::DeployBillboard { room: "bb".into(), billboard: b };
    assert_error(&cara.request(deploy(billboard("b0", Some(10)))).await.unwrap(), ErrorCode::Invalid);
    assert_ok(&sam.request(deploy(billboard("b1", Some(2 * HOUR)))).await.unwrap());
    let first = next_of(&mut vic, "billboard").await;
    let EventBody::Billboard { billboard: b1, operator: None, by, .. } = &first.body else { panic!("{first:?}") };
    assert_eq!((b1.expires_at, by.id.as_str()), (Some(first.ts + 2 * HOUR), "cara"));
    // Replaced before it expires: the new one's duration counts from its own deployment.
    assert_ok(&cara.request(deploy(billboard("b2", Some(HOUR)))).await.unwrap());
    let second = next_of(&mut vic, "billboard").await;
    let EventBody::Billboard { billboard: b2, .. } = &second.body else { panic!() };
    let expires_at = b2.expires_at.expect("an expiry");

    let expired = timeout(PATIENCE, next_of(&mut vic, "billboard")).await.expect("it expires");
    match &expired.body {
        EventBody::Billboard { action: BillboardAction::Expired, billboard, .. } => {
            assert_eq!(billboard.billboard_id, "b2")
        }
        other => panic!("{other:?}"),
    }
    assert!(expired.ts >= expires_at && expired.ts <= expires_at + HOUSEKEEPING, "expired at {}", expired.ts);
    assert!(clock.now_ms() >= expires_at);
    let snap = ok_snapshot(
        patient(&hub, Wire::Json, long_token(&hub, "late", Role::Viewer))
            .await
            .request(Command::Join { room: "bb".into(), since: None })
            .await
            .unwrap(),
    );
    assert!(snap.billboard.is_none());
    // Without a duration it stays.
    assert_ok(&cara.request(deploy(billboard("b3", None))).await.unwrap());
    next_of(&mut vic, "billboard").await;
    let quiet = timeout(Duration::from_secs(4 * 3600), next_of(&mut vic, "billboard")).await;
    assert!(quiet.is_err(), "{quiet:?}");
}

fn new_sale(quantity: u32, per_buyer_limit: u32, countdown_ms: u64, duration_ms: u64) -> NewFlashSale {
    NewFlashSale { product: product("fs-p"), sale_price: 999, quantity, per_buyer_limit, countdown_ms, duration_ms }
}

fn sale_of(reply: stagehand_protocol::server::Reply) -> FlashSale {
    assert_ok(&reply);
    match reply.result {
        Some(ReplyResult::FlashSale { sale, .. }) => sale,
        other => panic!("expected a flash sale, got {other:?}"),
    }
}

fn sale_event(event: &Event) -> (&FlashSale, FlashSaleStatus) {
    match &event.body {
        EventBody::FlashSale { sale, .. } => (sale, sale.status),
        other => panic!("{other:?}"),
    }
}

async fn claim(
    hub: &TestHub,
    room: &str,
    sale: &str,
    claim_id: &str,
    buyer: &str,
    quantity: u32,
) -> (u16, serde_json::Value) {
    let body = serde_json::json!({"claim_id": claim_id, "buyer_id": buyer, "quantity": quantity});
    hub.api_post(&format!("/api/v1/rooms/{room}/flash-sales/{sale}/claims"), body).await
}

#[tokio::test(start_paused = true)]
async fn a_flash_sale_counts_down_opens_and_ends_on_the_hubs_clock() {
    // Store work lets paused time run on (see tests/defects.rs), so the windows are hours long.
    let (hub, _clock) = paused_hub(|c| {
        c.flash_sale_max_countdown_ms = 4 * HOUR;
        c.flash_sale_max_duration_ms = 8 * HOUR;
    })
    .await;
    hub.grant("cara", "acme", Some(vec!["promotions"]), DAY).await;
    hub.grant("cara", "other", Some(vec!["shopping_bag"]), DAY).await;
    let (mut cara, mut vic) = patient_room(&hub, "fs").await;
    let mut sam = patient(&hub, Wire::MsgPack, long_agency_token(&hub, "sam", "acme")).await;
    let mut olga = patient(&hub, Wire::Json, long_agency_token(&hub, "olga", "other")).await;

    let start = |sale| Command::StartFlashSale { room: "fs".into(), sale };
    assert_error(&sam.request(start(new_sale(5, 6, HOUR, HOUR))).await.unwrap(), ErrorCode::Invalid);
    // Who may: not an agency without `promotions`, nor a viewer.
    assert_error(&olga.request(start(new_sale(5, 1, 60_000, 60_000))).await.unwrap(), ErrorCode::Forbidden);
    assert_error(&vic.request(start(new_sale(5, 1, 60_000, 60_000))).await.unwrap(), ErrorCode::Forbidden);

    let sale = sale_of(sam.request(start(new_sale(5, 2, 2 * HOUR, 4 * HOUR))).await.unwrap());
    assert_eq!(sale.status, FlashSaleStatus::Countdown);
    // One at a time.
    assert_error(&cara.request(start(new_sale(5, 1, 60_000, 60_000))).await.unwrap(), ErrorCode::Conflict);
    let announced = next_of(&mut vic, "flash_sale").await;
    let EventBody::FlashSale { by, operator, .. } = &announced.body else { panic!() };
    assert_eq!((by.as_ref().map(|b| b.id.as_str()), operator), (Some("cara"), &None), "viewers see the creator");
    match &next_of(&mut cara, "flash_sale").await.body {
        EventBody::FlashSale { operator: Some(op), .. } => assert_eq!(op.staff_id, "sam"),
        other => panic!("{other:?}"),
    }

    let opened = timeout(PATIENCE, next_of(&mut vic, "flash_sale")).await.expect("it opens");
    assert_eq!(sale_event(&opened).1, FlashSaleStatus::Open);
    assert!(opened.ts >= sale.opens_at && opened.ts <= sale.opens_at + HOUSEKEEPING);
    let (status, body) = claim(&hub, "fs", &sale.sale_id, "c1", "b1", 2).await;
    assert_eq!((status, body["remaining"].as_u64()), (201, Some(3)), "{body}");
    let stock = next_of(&mut vic, "flash_sale_stock").await;
    assert!(matches!(stock.body, EventBody::FlashSaleStock { remaining: 3, .. }), "{stock:?}");
    assert_eq!(stock.seq, opened.seq, "the counter takes no seq");
    let (status, body) = claim(&hub, "fs", &sale.sale_id, "c2", "b1", 1).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("limit_reached")), "{body}");

    // A joiner's snapshot shows the sale with its stock; a rejoin with `since` replays its states.
    let mut late = patient(&hub, Wire::Json, long_token(&hub, "late", Role::Viewer)).await;
    let snap = ok_snapshot(late.request(Command::Join { room: "fs".into(), since: None }).await.unwrap());
    let shown = snap.flash_sale.expect("the snapshot carries the sale");
    assert_eq!((shown.status, shown.remaining), (FlashSaleStatus::Open, 3));
    let since =
        stagehand_protocol::client::Since { seq: announced.seq - 1, epoch: snap.epoch.clone(), staff_seq: None };
    let mut back = patient(&hub, Wire::MsgPack, long_token(&hub, "back", Role::Viewer)).await;
    let snap = ok_snapshot(back.request(Command::Join { room: "fs".into(), since: Some(since) }).await.unwrap());
    assert_eq!(snap.recovered, Some(true));
    let replayed = events(&mut back, 2).await;
    assert_eq!(
        replayed.iter().map(|e| sale_event(e).1).collect::<Vec<_>>(),
        [FlashSaleStatus::Countdown, FlashSaleStatus::Open]
    );

    let ended = timeout(PATIENCE, next_of(&mut vic, "flash_sale")).await.expect("it ends");
    assert_eq!(sale_event(&ended).1, FlashSaleStatus::Ended);
    assert!(ended.ts >= sale.ends_at && ended.ts <= sale.ends_at + HOUSEKEEPING);
    let (status, body) = claim(&hub, "fs", &sale.sale_id, "late", "b2", 1).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")), "{body}");
    // The acknowledged claim is still answered the same.
    let (status, body) = claim(&hub, "fs", &sale.sale_id, "c1", "b1", 2).await;
    assert_eq!((status, body["remaining"].as_u64()), (201, Some(3)), "{body}");

    let rows = audit_rows(&hub, "cara").await;
    assert!(rows.iter().any(|r| r["staff_id"] == "sam" && r["command"] == "start_flash_sale" && r["outcome"] == "ok"));
    assert!(rows
        .iter()
        .any(|r| r["staff_id"] == "olga" && r["command"] == "start_flash_sale" && r["outcome"] == "forbidden"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_claims_for_ten_units_sell_exactly_ten_within_the_per_buyer_limit() {
    let hub = start_with(|c| c.flash_sale_min_countdown_ms = 0).await;
    let (_cara, mut vic) = live_room(&hub, Wire::Json, "rush", "cara").await;
    let spec = serde_json::to_value(new_sale(10, 2, 0, 60_000)).unwrap();
    let (status, sale) = hub.api_post("/api/v1/rooms/rush/flash-sales", spec.clone()).await;
    assert_eq!(status, 201, "{sale}");
    let sale_id = sale["sale_id"].as_str().unwrap().to_string();
    assert_eq!(sale["status"], "open");
    let (status, body) = hub.api_post("/api/v1/rooms/rush/flash-sales", spec).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")), "one at a time: {body}");

    // 50 claims at once: 25 buyers, two claims of one unit each… and one of two.
    let hub = std::sync::Arc::new(hub);
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (hub, sale_id) = (hub.clone(), sale_id.clone());
            tokio::spawn(async move {
                let buyer = format!("buyer-{}", i % 20);
                let quantity = if i % 5 == 0 { 2 } else { 1 };
                let (status, body) = claim(&hub, "rush", &sale_id, &format!("claim-{i}"), &buyer, quantity).await;
                (buyer, quantity, status, body)
            })
        })
        .collect();
    let mut sold = 0;
    let mut per_buyer = std::collections::HashMap::<String, u32>::new();
    for task in tasks {
        let (buyer, quantity, status, body) = task.await.unwrap();
        match status {
            201 => {
                sold += quantity;
                *per_buyer.entry(buyer).or_default() += quantity;
            }
            409 => assert!(matches!(body["error"]["code"].as_str(), Some("sold_out" | "limit_reached")), "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(sold, 10, "exactly the quantity is sold");
    assert!(per_buyer.values().all(|&n| n <= 2), "{per_buyer:?}");
    let (_, stored) = hub.api_get(&format!("/api/v1/rooms/rush/flash-sales/{sale_id}")).await;
    assert_eq!((stored["remaining"].as_u64(), stored["status"].as_str()), (Some(0), Some("sold_out")), "{stored}");

    // The room sees it sold out as a state event (stock counters before it may be coalesced).
    let sold_out = next_of(&mut vic, "flash_sale").await; // the announcement
    assert_eq!(sale_event(&sold_out).1, FlashSaleStatus::Open);
    let sold_out = next_of(&mut vic, "flash_sale").await;
    assert_eq!((sale_event(&sold_out).1, sale_event(&sold_out).0.remaining), (FlashSaleStatus::SoldOut, 0));
    let (status, body) = claim(&hub, "rush", &sale_id, "after", "buyer-99", 1).await;
    assert_eq!(
        (status, body["error"]["code"].as_str(), body["error"]["remaining"].as_u64()),
        (409, Some("sold_out"), Some(0))
    );
}

#[tokio::test]
async fn flash_sale_bounds_are_10_to_300_s_of_countdown_and_1_to_20_min_open_by_default() {
    let hub = start().await;
    let (_cara, _vic) = live_room(&hub, Wire::Json, "bounds", "cara").await;
    let create =
        |sale: NewFlashSale| hub.api_post("/api/v1/rooms/bounds/flash-sales", serde_json::to_value(sale).unwrap());
    for (countdown, duration) in [(9_999, 60_000), (300_001, 60_000), (10_000, 59_999), (10_000, 1_200_001)] {
        let (status, body) = create(new_sale(5, 1, countdown, duration)).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid")), "{countdown} {duration}: {body}");
    }
    assert_eq!(create(new_sale(0, 1, 10_000, 60_000)).await.0, 400);
    assert_eq!(create(new_sale(5, 0, 10_000, 60_000)).await.0, 400);
    let (status, body) = create(new_sale(5, 1, 300_000, 1_200_000)).await;
    assert_eq!((status, body["status"].as_str()), (201, Some("countdown")), "{body}");
    assert_eq!(
        hub.api_post(
            "/api/v1/rooms/nowhere/flash-sales",
            serde_json::to_value(new_sale(5, 1, 10_000, 60_000)).unwrap()
        )
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn claims_are_idempotent_by_claim_id() {
    let hub = start_with(|c| c.flash_sale_min_countdown_ms = 0).await;
    let (mut cara, _vic) = live_room(&hub, Wire::Json, "idem", "cara").await;
    let (_, sale) =
        hub.api_post("/api/v1/rooms/idem/flash-sales", serde_json::to_value(new_sale(3, 3, 0, 60_000)).unwrap()).await;
    let sale_id = sale["sale_id"].as_str().unwrap();
    let (status, first) = claim(&hub, "idem", sale_id, "k1", "bea", 2).await;
    assert_eq!((status, first["remaining"].as_u64()), (201, Some(1)), "{first}");
    // A retry gets the same answer and takes nothing more.
    let (status, again) = claim(&hub, "idem", sale_id, "k1", "bea", 2).await;
    assert_eq!((status, &again), (201, &first));
    let (_, stored) = hub.api_get(&format!("/api/v1/rooms/idem/flash-sales/{sale_id}")).await;
    assert_eq!(stored["remaining"], 1);
    // The same claim id for something else is a conflict, not a second claim.
    let (status, body) = claim(&hub, "idem", sale_id, "k1", "bea", 1).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")), "{body}");
    let (status, body) = claim(&hub, "idem", sale_id, "k2", "bob", 2).await;
    assert_eq!(
        (status, body["error"]["code"].as_str(), body["error"]["remaining"].as_u64()),
        (409, Some("sold_out"), Some(1))
    );
    // Once the LIVE ends, no new claim is granted; an acknowledged one is still answered the same.
    assert_ok(&cara.request(Command::EndRoom { room: "idem".into() }).await.unwrap());
    let (status, body) = claim(&hub, "idem", sale_id, "k5", "cy", 1).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")), "{body}");
    assert_eq!(claim(&hub, "idem", sale_id, "k1", "bea", 2).await, (201, first.clone()));
    // A claim before the sale opens is refused (a countdown of a minute, on the real clock).
    assert_eq!(hub.api_post("/api/v1/rooms/idem/flash-sales", serde_json::json!({})).await.0, 400);
    let (_c, _v) = live_room(&hub, Wire::MsgPack, "later", "cara").await;
    let (status, later) = hub
        .api_post("/api/v1/rooms/later/flash-sales", serde_json::to_value(new_sale(3, 3, 60_000, 60_000)).unwrap())
        .await;
    assert_eq!((status, later["status"].as_str()), (201, Some("countdown")), "{later}");
    let (status, body) = claim(&hub, "later", later["sale_id"].as_str().unwrap(), "k9", "bob", 1).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")), "{body}");
    // Bad input and unknown sales.
    assert_eq!(claim(&hub, "idem", sale_id, "k3", "bob", 0).await.0, 400);
    assert_eq!(claim(&hub, "idem", "fs_999", "k3", "bob", 1).await.0, 404);
    assert_eq!(claim(&hub, "other-room", sale_id, "k3", "bob", 1).await.0, 404);
}
