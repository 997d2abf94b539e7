//! Account health end to end, over real connections: who may read it (the creator, agency staff
//! with `analytics`; other staff and viewers are `forbidden`), its counts (filtered comments,
//! mutes, blocks, refused agency operations — still there after a restart), every finding kind of
//! the setup check, and the HTTP twin.

mod common;

use common::*;
use stagehand::client::Client;
use stagehand_protocol::server::{Event, Reply, ReplyResult};
use stagehand_protocol::types::{
    AccountHealth, BlockedTerm, FindingKind, HealthCounts, MuteDuration, NewFlashSale, Product,
};
use stagehand_protocol::{Command, ErrorCode, Wire};

const ROOM: &str = "health-room";

fn health_of(reply: Reply) -> AccountHealth {
    assert_ok(&reply);
    match reply.result {
        Some(ReplyResult::AccountHealth { health }) => health,
        other => panic!("expected account health, got {other:?}"),
    }
}

async fn health(client: &mut Client) -> AccountHealth {
    health_of(client.request(Command::GetAccountHealth).await.unwrap())
}

async fn http_health(hub: &TestHub, creator: &str) -> AccountHealth {
    let (status, body) = hub.api_get(&format!("/api/v1/creators/{creator}/health")).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

fn kinds(health: &AccountHealth) -> Vec<FindingKind> {
    let mut kinds: Vec<FindingKind> = health.findings.iter().map(|f| f.kind).collect();
    kinds.sort_by_key(|k| format!("{k:?}"));
    kinds
}

fn product(id: &str, title: &str) -> Product {
    Product {
        product_id: id.into(),
        title: title.into(),
        price: 1_999,
        currency: "EUR".into(),
        image_url: None,
        in_stock: true,
    }
}

fn block_terms(list: &[&str]) -> Command {
    let terms = list.iter().map(|t| BlockedTerm { term: (*t).into(), expires_at: None }).collect();
    Command::AddBlockedTerms { room: ROOM.into(), terms }
}

async fn next_of(client: &mut Client, name: &str) -> Event {
    loop {
        let event = client.next_non_count_event().await.unwrap();
        if event.body.name() == name {
            return event;
        }
    }
}

#[tokio::test]
async fn the_creator_and_analytics_staff_read_it_other_staff_and_viewers_are_forbidden() {
    let hub = start().await;
    hub.grant("cara", "acme", Some(vec!["analytics"]), 30 * DAY).await;
    hub.grant("cara", "narrow", Some(vec!["moderation"]), 30 * DAY).await;
    let mut cara = hub.creator(Wire::Json, "cara").await;
    let mine = health(&mut cara).await;
    assert_eq!((mine.creator_id.as_str(), mine.counts, mine.findings.len()), ("cara", HealthCounts::default(), 0));

    let mut sam = hub.agency(Wire::MsgPack, "sam", "acme", "cara").await;
    assert_eq!(health(&mut sam).await.creator_id, "cara", "staff read the token's creator's");
    let mut nia = hub.agency(Wire::Json, "nia", "narrow", "cara").await;
    assert_error(&nia.request(Command::GetAccountHealth).await.unwrap(), ErrorCode::Forbidden);
    let mut stranger = hub.agency(Wire::Json, "sid", "nobody", "cara").await;
    assert_error(&stranger.request(Command::GetAccountHealth).await.unwrap(), ErrorCode::Forbidden);
    let mut vic = hub.viewer(Wire::Json, "vic").await;
    assert_error(&vic.request(Command::GetAccountHealth).await.unwrap(), ErrorCode::Forbidden);

    // Staff reads are audited with the real staff member; the two refusals count.
    let counts = health(&mut cara).await.counts;
    assert_eq!(counts.refused_agency_operations, 2, "{counts:?}");
    let (_, page) = hub.api_get("/api/v1/audit?creator_id=cara").await;
    let rows = page["items"].as_array().unwrap();
    assert!(rows
        .iter()
        .any(|r| r["command"] == "get_account_health" && r["staff_id"] == "sam" && r["outcome"] == "ok"));
    assert!(rows.iter().any(|r| r["command"] == "get_account_health" && r["outcome"] == "forbidden"));

    // The HTTP twin needs the API key and a valid id.
    let response = hub.http.get(format!("{}/api/v1/creators/cara/health", hub.http_url)).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let (status, body) = hub.api_get("/api/v1/creators/bad%20id/health").await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid")), "{body}");
}

#[tokio::test]
async fn counts_filtered_comments_mutes_blocks_and_refusals_and_keeps_them_across_a_restart() {
    let mut hub = start().await;
    hub.grant("cara", "acme", Some(vec!["moderation"]), 30 * DAY).await;
    let (mut cara, mut vic) = live_room(&hub, Wire::Json, ROOM, "cara").await;
    let mut sam = hub.agency(Wire::Json, "sam", "acme", "cara").await;
    ok_snapshot(sam.request(Command::Join { room: ROOM.into(), since: None }).await.unwrap());

    assert_ok(&cara.request(block_terms(&["free"])).await.unwrap());
    for text in ["totally ｆｒｅｅ", "Frée stuff", "visit https://spam.example"] {
        assert_ok(&vic.request(Command::Comment { room: ROOM.into(), text: text.into() }).await.unwrap());
    }
    assert_ok(&vic.request(Command::Comment { room: ROOM.into(), text: "hello".into() }).await.unwrap());
    let mute = |user: &str| Command::Mute {
        room: ROOM.into(),
        user_id: user.into(),
        duration: MuteDuration::Min1,
        remove_comments: false,
    };
    assert_ok(&sam.request(mute("zed")).await.unwrap());
    assert_ok(&cara.request(mute("yan")).await.unwrap());
    assert_ok(&sam.request(Command::Block { room: ROOM.into(), user_id: "xia".into() }).await.unwrap());
    assert_ok(&sam.request(Command::HideUser { room: ROOM.into(), user_id: "wes".into() }).await.unwrap());
    // Out of scope for this agency, and not the creator's to start: refused and counted.
    let billboard = Command::RemoveBillboard { room: ROOM.into() };
    assert_error(&sam.request(billboard).await.unwrap(), ErrorCode::Forbidden);
    assert_error(&sam.request(Command::EndRoom { room: ROOM.into() }).await.unwrap(), ErrorCode::Forbidden);

    let expected = HealthCounts { filtered_comments: 3, mutes: 2, blocks: 1, refused_agency_operations: 2 };
    assert_eq!(health(&mut cara).await.counts, expected);

    // More counted after the read, then a restart on the same data: nothing is lost.
    assert_ok(&vic.request(Command::Comment { room: ROOM.into(), text: "FREE!!".into() }).await.unwrap());
    assert_error(&sam.request(Command::RemoveBillboard { room: ROOM.into() }).await.unwrap(), ErrorCode::Forbidden);
    drop((cara, vic, sam));
    hub.shutdown().await;
    let running = stagehand::start(test_config(&hub.dir)).await.expect("hub restarts");
    hub.http_url = format!("http://{}", running.addr);
    hub.running = Some(running);
    let after = http_health(&hub, "cara").await;
    let expected = HealthCounts { filtered_comments: 4, refused_agency_operations: 3, ..expected };
    assert_eq!(after.counts, expected);
    assert_eq!(http_health(&hub, "other").await.counts, HealthCounts::default(), "counts are per creator");
}

#[tokio::test]
async fn the_check_finds_every_kind_of_setup_problem_and_clears_when_fixed() {
    let hub = start_with(|c| c.flash_sale_min_countdown_ms = 0).await;
    // One grant ending within the (default, three-day) window, one well outside it.
    hub.grant("cara", "soon", Some(vec!["analytics"]), 3_600_000).await;
    hub.grant("cara", "later", Some(vec!["analytics"]), 30 * DAY).await;
    let (mut cara, _vic) = live_room(&hub, Wire::Json, ROOM, "cara").await;
    assert_ok(&cara.request(block_terms(&["replica"])).await.unwrap());

    // A product set with a product that hits the list, and one that is clean.
    let products = vec![product("p1", "Replica watch"), product("p2", "Linen shirt")];
    let save = Command::SaveProductSet { set_id: "dirty".into(), name: "Tonight".into(), products };
    assert_ok(&cara.request(save).await.unwrap());
    let save = Command::SaveProductSet {
        set_id: "clean".into(),
        name: "Basics".into(),
        products: vec![product("p3", "Socks")],
    };
    assert_ok(&cara.request(save).await.unwrap());
    // In the room: the bag holds the dirty product and the sale's product, pinned; the billboard
    // hits the list.
    let add = |version, p| Command::BagAdd { room: ROOM.into(), version, product: Some(p), set_id: None };
    assert_ok(&cara.request(add(0, product("p1", "Replica watch"))).await.unwrap());
    assert_ok(&cara.request(add(1, product("fs-p", "Flash hat"))).await.unwrap());
    let pin = Command::BagPin { room: ROOM.into(), version: 2, product_id: "fs-p".into() };
    assert_ok(&cara.request(pin).await.unwrap());
    let board = stagehand_protocol::types::Billboard {
        billboard_id: "b1".into(),
        title: "Big sale".into(),
        text: Some("REPLICA bags tonight".into()),
        ..Default::default()
    };
    assert_ok(&cara.request(Command::DeployBillboard { room: ROOM.into(), billboard: board }).await.unwrap());
    // A flash sale of one unit, sold out.
    let sale = NewFlashSale {
        product: product("fs-p", "Flash hat"),
        sale_price: 999,
        quantity: 1,
        per_buyer_limit: 1,
        countdown_ms: 0,
        duration_ms: 60_000,
    };
    let reply = cara.request(Command::StartFlashSale { room: ROOM.into(), sale }).await.unwrap();
    let Some(ReplyResult::FlashSale { sale, .. }) = reply.result else { panic!("{reply:?}") };
    let body = serde_json::json!({"claim_id": "c1", "buyer_id": "b1", "quantity": 1});
    let (status, claimed) =
        hub.api_post(&format!("/api/v1/rooms/{ROOM}/flash-sales/{}/claims", sale.sale_id), body).await;
    assert_eq!(status, 201, "{claimed}");
    // Scheduled LIVEs: one without a product set, one whose set is deleted, one that is fine.
    let soon = stagehand::clock::now_ms() + DAY;
    let event = |title: &str, set: Option<&str>| Command::CreateLiveEvent {
        room: "later-room".into(),
        title: title.into(),
        starts_at: soon,
        product_set_id: set.map(str::to_string),
    };
    assert_ok(&cara.request(event("No set", None)).await.unwrap());
    let save =
        Command::SaveProductSet { set_id: "gone".into(), name: "Gone".into(), products: vec![product("p4", "Cap")] };
    assert_ok(&cara.request(save).await.unwrap());
    assert_ok(&cara.request(event("Gone set", Some("gone"))).await.unwrap());
    assert_ok(&cara.request(Command::DeleteProductSet { set_id: "gone".into() }).await.unwrap());
    assert_ok(&cara.request(event("Fine", Some("clean"))).await.unwrap());

    let found = health(&mut cara).await;
    assert_eq!(
        kinds(&found),
        vec![
            FindingKind::BagBlockedTerm,
            FindingKind::BillboardBlockedTerm,
            FindingKind::EventProductSetMissing,
            FindingKind::EventWithoutProductSet,
            FindingKind::GrantExpiring,
            FindingKind::ProductSetBlockedTerm,
            FindingKind::SoldOutPinned,
        ],
        "{found:#?}"
    );
    let one = |kind| found.findings.iter().find(|f| f.kind == kind).unwrap();
    let bag = one(FindingKind::BagBlockedTerm);
    assert_eq!((bag.room.as_deref(), bag.product_id.as_deref()), (Some(ROOM), Some("p1")));
    assert_eq!(one(FindingKind::BillboardBlockedTerm).billboard_id.as_deref(), Some("b1"));
    let set = one(FindingKind::ProductSetBlockedTerm);
    assert_eq!((set.set_id.as_deref(), set.product_id.as_deref()), (Some("dirty"), Some("p1")));
    let pinned = one(FindingKind::SoldOutPinned);
    assert_eq!((pinned.product_id.as_deref(), pinned.sale_id.as_deref()), (Some("fs-p"), Some(sale.sale_id.as_str())));
    assert!(one(FindingKind::EventWithoutProductSet).event_id.is_some());
    assert_eq!(one(FindingKind::EventProductSetMissing).set_id.as_deref(), Some("gone"));
    let grant = one(FindingKind::GrantExpiring);
    assert_eq!(grant.agency_id.as_deref(), Some("soon"));
    assert!(grant.expires_at.is_some());
    // The HTTP twin reports the same.
    assert_eq!(kinds(&http_health(&hub, "cara").await), kinds(&found));
    // Codes on the wire are stable snake_case.
    let (_, body) = hub.api_get("/api/v1/creators/cara/health").await;
    let codes: Vec<&str> = body["findings"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert!(codes.contains(&"sold_out_pinned") && codes.contains(&"grant_expiring"), "{codes:?}");

    // Fixing the room's problems clears them.
    assert_ok(&cara.request(Command::RemoveBillboard { room: ROOM.into() }).await.unwrap());
    let bag = cara.request(Command::BagUnpin { room: ROOM.into(), version: 3 }).await.unwrap();
    assert_ok(&bag);
    assert_ok(
        &cara.request(Command::BagRemove { room: ROOM.into(), version: 4, product_id: "p1".into() }).await.unwrap(),
    );
    next_of(&mut cara, "bag").await;
    let after = health(&mut cara).await;
    assert_eq!(
        kinds(&after),
        vec![
            FindingKind::EventProductSetMissing,
            FindingKind::EventWithoutProductSet,
            FindingKind::GrantExpiring,
            FindingKind::ProductSetBlockedTerm,
        ],
        "{after:#?}"
    );
}

#[tokio::test]
async fn a_shorter_warning_window_leaves_the_grant_out() {
    let hub = start_with(|c| c.grant_expiry_warning_ms = 60_000).await;
    hub.grant("cara", "soon", Some(vec!["analytics"]), 3_600_000).await;
    let mut cara = hub.creator(Wire::Json, "cara").await;
    assert!(health(&mut cara).await.findings.is_empty());
}
