//! Scheduling and campaigns end to end, over real connections: the creator's calendar of LIVE
//! events (create, update, cancel, list), who may change it, the notifications and audit rows an
//! agency's changes make, the reminder before a planned start, and the campaign banner a live room
//! shows while its window is open — expiries on paused time read by the hub (`Clock::tokio`).

mod common;

use common::*;
use stagehand::client::{Auth, Client, Options};
use stagehand::clock::Clock;
use stagehand_protocol::server::{EventBody, ReplyResult};
use stagehand_protocol::types::{Campaign, CampaignAction, LiveEventInfo, LiveEventStatus, Role};
use stagehand_protocol::{Command, ErrorCode, Wire};
use std::time::Duration;

const HOUR: u64 = 3_600_000;

fn create(room: &str, starts_at: u64) -> Command {
    Command::CreateLiveEvent {
        room: room.into(),
        title: "Spring sale".into(),
        starts_at,
        product_set_id: Some("set-1".into()),
    }
}

fn event_of(reply: &stagehand_protocol::server::Reply) -> LiveEventInfo {
    match &reply.result {
        Some(ReplyResult::LiveEvent { event }) => event.clone(),
        _ => panic!("expected a live_event result, got {reply:?}"),
    }
}

async fn list(client: &mut Client, include_cancelled: bool) -> Vec<LiveEventInfo> {
    match client.request(Command::ListLiveEvents { include_cancelled }).await.unwrap().result {
        Some(ReplyResult::LiveEvents { items }) => items,
        other => panic!("expected live_events, got {other:?}"),
    }
}

#[tokio::test]
async fn the_creator_and_agencies_with_scheduling_plan_lives_and_the_creator_hears_of_agency_changes() {
    let hub = start().await;
    hub.grant("cara", "acme", None, DAY).await;
    hub.grant("cara", "narrow", Some(vec!["billboards"]), DAY).await;
    let mut cara = hub.creator(Wire::Json, "cara").await;
    let mut sam = hub.agency(Wire::MsgPack, "sam", "acme", "cara").await;
    let mut nia = hub.agency(Wire::Json, "nia", "narrow", "cara").await;
    let mut vic = hub.viewer(Wire::Json, "vic").await;
    let soon = stagehand::clock::now_ms() + 2 * HOUR;

    let own = event_of(&cara.request(create("show-a", soon)).await.unwrap());
    assert_eq!((own.creator_id.as_str(), own.status), ("cara", LiveEventStatus::Scheduled));
    assert!(own.event_id.starts_with("lev_"));
    assert_error(&nia.request(create("show-b", soon)).await.unwrap(), ErrorCode::Forbidden);
    assert_error(&vic.request(create("show-b", soon)).await.unwrap(), ErrorCode::Forbidden);
    assert_error(
        &vic.request(Command::ListLiveEvents { include_cancelled: false }).await.unwrap(),
        ErrorCode::Forbidden,
    );

    // An agency's plan goes into the creator's calendar, and the creator is told.
    let planned = event_of(&sam.request(create("show-b", soon + HOUR)).await.unwrap());
    assert_eq!(planned.creator_id, "cara");
    let told = notification_of(&mut cara, "live_event_created").await;
    assert_eq!(told.data["event"]["event_id"], planned.event_id.as_str());
    assert_eq!(told.data["staff_id"], "sam");

    let update = Command::UpdateLiveEvent {
        event_id: planned.event_id.clone(),
        title: Some("Summer sale".into()),
        starts_at: None,
        product_set_id: None,
    };
    let updated = event_of(&sam.request(update.clone()).await.unwrap());
    assert_eq!((updated.title.as_str(), updated.starts_at), ("Summer sale", soon + HOUR));
    assert_eq!(updated.product_set_id.as_deref(), Some("set-1"), "absent fields keep their value");
    assert_eq!(notification_of(&mut cara, "live_event_updated").await.data["event"]["title"], "Summer sale");

    let cancel = Command::CancelLiveEvent { event_id: planned.event_id.clone() };
    assert_eq!(event_of(&sam.request(cancel.clone()).await.unwrap()).status, LiveEventStatus::Cancelled);
    notification_of(&mut cara, "live_event_cancelled").await;
    assert_error(&sam.request(cancel).await.unwrap(), ErrorCode::Conflict);
    assert_error(&sam.request(update).await.unwrap(), ErrorCode::Conflict);

    // Lists: soonest first, cancelled ones only when asked for.
    let ids = |items: Vec<LiveEventInfo>| items.into_iter().map(|e| e.event_id).collect::<Vec<_>>();
    assert_eq!(ids(list(&mut sam, false).await), vec![own.event_id.clone()]);
    assert_eq!(ids(list(&mut cara, true).await), vec![own.event_id.clone(), planned.event_id.clone()]);

    // Another creator cannot see or touch cara's events; bad fields are refused.
    let mut bob = hub.creator(Wire::Json, "bob").await;
    let steal = Command::CancelLiveEvent { event_id: own.event_id.clone() };
    assert_error(&bob.request(steal).await.unwrap(), ErrorCode::NotFound);
    assert!(list(&mut bob, true).await.is_empty());
    assert_error(&cara.request(create("show-c", 1_000)).await.unwrap(), ErrorCode::Invalid);
    let bad = Campaign { title: "x".into(), link_url: None, starts_at: soon, ends_at: soon };
    let set = |campaign| Command::SetCampaign { event_id: own.event_id.clone(), campaign: Some(campaign) };
    assert_error(&cara.request(set(bad)).await.unwrap(), ErrorCode::Invalid);

    // Campaigns need `promotions`: the creator and acme (all scopes) may, narrow (billboards) not.
    let good = Campaign { title: "Spring".into(), link_url: None, starts_at: soon, ends_at: soon + HOUR };
    assert_eq!(event_of(&cara.request(set(good.clone())).await.unwrap()).campaign, Some(good.clone()));
    assert_ok(&sam.request(set(good.clone())).await.unwrap());
    assert_error(&nia.request(set(good.clone())).await.unwrap(), ErrorCode::Forbidden);
    assert_error(&vic.request(set(good)).await.unwrap(), ErrorCode::Forbidden);
    let clear = Command::SetCampaign { event_id: own.event_id.clone(), campaign: None };
    assert_eq!(event_of(&cara.request(clear).await.unwrap()).campaign, None);

    // Each agency change is audited once, with the real staff member.
    let (status, body) = hub.api_get("/api/v1/audit?creator_id=cara&limit=100").await;
    assert_eq!(status, 200);
    let rows = body["items"].as_array().unwrap();
    for command in ["create_live_event", "update_live_event", "cancel_live_event", "set_campaign"] {
        let ok = rows.iter().filter(|r| r["command"] == command && r["outcome"] == "ok").count();
        assert_eq!(ok, 1, "{command}: {body}");
    }
    assert!(rows
        .iter()
        .any(|r| r["command"] == "create_live_event" && r["outcome"] == "forbidden" && r["staff_id"] == "nia"));
}

/// A hub on paused time (the hub reads it through `Clock::tokio`), and a client that waits as long
/// as it takes (a wait limit would fire as soon as paused time jumps).
async fn paused(tweak: impl FnOnce(&mut stagehand::Config)) -> (TestHub, Clock) {
    let clock = Clock::tokio(stagehand::clock::now_ms());
    let hub = start_with(|c| {
        c.clock = clock;
        c.heartbeat_ms = 100 * HOUR;
        tweak(c);
    })
    .await;
    (hub, clock)
}

async fn patient(hub: &TestHub, user: &str, role: Role) -> Client {
    let token = hub.token(user, role);
    Client::connect_with(&hub.ws_url, Wire::Json, Options { wait: None, ..Options::new(Auth::Header(token)) })
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_creator_is_reminded_once_before_a_planned_start() {
    let (hub, clock) = paused(|c| c.live_reminder_ms = 600_000).await;
    let mut cara = patient(&hub, "cara", Role::Creator).await;
    // (Tokens last an hour of the hub's clock: the whole test stays well within it.)
    let starts_at = clock.now_ms() + 30 * 60_000;
    let planned = event_of(&cara.request(create("show", starts_at)).await.unwrap());
    let reminder = notification_of(&mut cara, "live_reminder").await;
    assert_eq!(reminder.data["event"]["event_id"], planned.event_id.as_str());
    assert!(reminder.created_at >= starts_at - 600_000, "not before the reminder time");
    assert!(reminder.created_at < starts_at, "before the start");
    tokio::time::sleep(Duration::from_millis(5 * 60_000)).await;
    let reply = cara.request(Command::ListNotifications { unread_only: false, before: None, limit: None }).await;
    let Some(ReplyResult::Notifications { items }) = reply.unwrap().result else { panic!() };
    assert_eq!(items.iter().filter(|n| n.kind == "live_reminder").count(), 1, "reminded once");
}

#[tokio::test(start_paused = true)]
async fn a_live_room_shows_its_campaign_while_the_window_is_open() {
    let (hub, clock) = paused(|_| {}).await;
    let mut cara = patient(&hub, "cara", Role::Creator).await;
    let now = clock.now_ms();
    let campaign = Campaign {
        title: "Spring campaign".into(),
        link_url: Some("https://shop.example.com/spring".into()),
        starts_at: now + 10 * 60_000,
        ends_at: now + 40 * 60_000,
    };
    let planned = event_of(&cara.request(create("show", now + HOUR)).await.unwrap());
    let set = Command::SetCampaign { event_id: planned.event_id, campaign: Some(campaign.clone()) };
    assert_ok(&cara.request(set).await.unwrap());
    ok_snapshot(cara.request(Command::StartRoom { room: "show".into(), title: None, event_id: None }).await.unwrap());
    let mut vic = patient(&hub, "vic", Role::Viewer).await;
    let snap = ok_snapshot(vic.request(Command::Join { room: "show".into(), since: None }).await.unwrap());
    // Paused time runs ahead while the store's thread works, so only the bounds that matter are
    // exact: never shown before the window opens, never hidden before it closes.
    match snap.campaign {
        None => {
            let shown = vic.next_non_count_event().await.unwrap();
            assert_eq!(shown.body, EventBody::Campaign { action: CampaignAction::Shown, campaign: campaign.clone() });
            assert!(shown.ts >= campaign.starts_at, "shown on the hub's clock");
        }
        Some(showing) => {
            assert_eq!(showing, campaign);
            assert!(clock.now_ms() >= campaign.starts_at);
        }
    }
    let mut late = patient(&hub, "lea", Role::Viewer).await;
    let snap = ok_snapshot(late.request(Command::Join { room: "show".into(), since: None }).await.unwrap());
    assert_eq!(snap.campaign.as_ref(), Some(&campaign), "a joiner sees it in the snapshot");

    let hidden = vic.next_non_count_event().await.unwrap();
    assert_eq!(hidden.body, EventBody::Campaign { action: CampaignAction::Hidden, campaign: campaign.clone() });
    assert!(hidden.ts >= campaign.ends_at);
}

#[tokio::test]
async fn starting_a_live_from_a_scheduled_event_loads_its_product_set_into_the_bag() {
    let hub = start().await;
    let mut cara = hub.creator(Wire::Json, "cara").await;
    let products: Vec<stagehand_protocol::types::Product> = ["p1", "p2"]
        .iter()
        .map(|id| stagehand_protocol::types::Product {
            product_id: (*id).into(),
            title: format!("Product {id}"),
            price: 1_500,
            currency: "EUR".into(),
            image_url: None,
            in_stock: *id == "p1",
        })
        .collect();
    let save = Command::SaveProductSet { set_id: "set-1".into(), name: "Spring".into(), products: products.clone() };
    assert_ok(&cara.request(save).await.unwrap());
    let soon = stagehand::clock::now_ms() + 2 * HOUR;
    let planned = event_of(&cara.request(create("ev-room", soon)).await.unwrap());
    let start = |room: &str, event_id: &str| Command::StartRoom {
        room: room.into(),
        title: None,
        event_id: Some(event_id.into()),
    };

    // Refusals change nothing: unknown event, another creator's, another room, a deleted set,
    // a cancelled event.
    assert_error(&cara.request(start("ev-room", "lev_999")).await.unwrap(), ErrorCode::NotFound);
    let mut olga = hub.creator(Wire::Json, "olga").await;
    assert_error(&olga.request(start("ev-room", &planned.event_id)).await.unwrap(), ErrorCode::NotFound);
    assert_error(&cara.request(start("elsewhere", &planned.event_id)).await.unwrap(), ErrorCode::Invalid);
    let mut gone = create("gone-room", soon);
    if let Command::CreateLiveEvent { product_set_id, .. } = &mut gone {
        *product_set_id = Some("set-gone".into());
    }
    let gone = event_of(&cara.request(gone).await.unwrap());
    assert_error(&cara.request(start("gone-room", &gone.event_id)).await.unwrap(), ErrorCode::NotFound);
    let cancelled = event_of(&cara.request(create("cancelled-room", soon)).await.unwrap());
    let cancel = Command::CancelLiveEvent { event_id: cancelled.event_id.clone() };
    assert_ok(&cara.request(cancel).await.unwrap());
    assert_error(&cara.request(start("cancelled-room", &cancelled.event_id)).await.unwrap(), ErrorCode::Conflict);
    let (status, _) = hub.api_get("/api/v1/rooms/gone-room").await;
    assert_eq!(status, 404, "a refused start creates no room");

    // The start: `room_started`, then the set loaded into the bag, in the creator's snapshot.
    let snapshot = ok_snapshot(cara.request(start("ev-room", &planned.event_id)).await.unwrap());
    assert_eq!(snapshot.title, "Spring sale", "the event's title by default");
    let bag = snapshot.bag.expect("the bag is loaded");
    let ids: Vec<&str> = bag.items.iter().map(|i| i.product.product_id.as_str()).collect();
    assert_eq!((ids, bag.version, bag.items[1].sold_out), (vec!["p1", "p2"], 1, true));
    assert_eq!(snapshot.seq, 2, "room_started is 1, the bag 2");

    // A viewer joining later gets it in the snapshot; one recovering from seq 1 gets the event.
    let mut vic = hub.viewer(Wire::MsgPack, "vic").await;
    let joined = ok_snapshot(vic.request(Command::Join { room: "ev-room".into(), since: None }).await.unwrap());
    assert_eq!(joined.bag.as_ref().map(|b| b.items.len()), Some(2));
    let since = stagehand_protocol::client::Since { seq: 1, epoch: joined.epoch.clone(), staff_seq: None };
    let mut late = hub.viewer(Wire::Json, "late").await;
    let recovered =
        ok_snapshot(late.request(Command::Join { room: "ev-room".into(), since: Some(since) }).await.unwrap());
    assert_eq!(recovered.recovered, Some(true));
    let replayed = late.next_non_count_event().await.unwrap();
    match replayed.body {
        EventBody::Bag { action, bag, by, operator, .. } => {
            assert_eq!(
                (action, bag.items.len(), by.id.as_str(), operator),
                (stagehand_protocol::types::BagAction::Loaded, 2, "cara", None)
            );
        }
        other => panic!("expected the bag event, got {other:?}"),
    }
    assert_eq!(replayed.seq, 2);
}
