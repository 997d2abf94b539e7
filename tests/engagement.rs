//! Giveaways, the activity feed and the live dashboard, end to end over real sockets: who may use
//! them (creator, agency staff with `promotions` / `analytics`, nobody else), what each audience
//! receives (viewers never see staff identity or buyer data), snapshots and recovery, audit rows,
//! rate limits, retried publishes counted once, a giveaway's draw recomputed from what the hub
//! revealed, and dashboard ticks on the hub's clock.
//!
//! The giveaway draw and dashboard tests run on paused tokio time with the hub reading it
//! (`Clock::tokio`): tokio jumps time forward whenever the runtime is idle — also while the store's
//! threads work — so they connect and settle before starting anything timed, and judge timing by
//! the `ts`/`at` the hub stamped.

mod common;

use common::*;
use sha2::{Digest, Sha256};
use stagehand::client::Client;
use stagehand::clock::Clock;
use stagehand::rooms::features::giveaway;
use stagehand_protocol::server::{Event, EventBody, ReplyResult};
use stagehand_protocol::types::{DashboardData, Role};
use stagehand_protocol::{Command, ErrorCode, Wire};
use std::time::Duration;
use tokio::time::timeout;

/// A rate so slow that no bucket refills during a test (the limiters read the real clock).
const NO_REFILL: f64 = 0.001;
/// Longest a paused-time test waits (costs no real time).
const PATIENCE: Duration = Duration::from_secs(3_600);

fn join(room: &str) -> Command {
    Command::Join { room: room.into(), since: None }
}

fn comment(room: &str, text: &str) -> Command {
    Command::Comment { room: room.into(), text: text.into() }
}

fn giveaway(room: &str, duration_ms: u64, winners: u32, must_be_present: bool) -> Command {
    Command::StartGiveaway {
        room: room.into(),
        prize: "Blue linen shirt".into(),
        keyword: "Shirt Please".into(),
        duration_ms,
        winners,
        must_be_present,
    }
}

/// Read events until one of type `name` (skipping everything else).
async fn until(client: &mut Client, name: &str) -> Event {
    loop {
        let event = client.next_event().await.expect("an event");
        if event.body.name() == name {
            return event;
        }
    }
}

/// Every event up to and including the `activity` whose text is `marker`.
async fn up_to_marker(client: &mut Client, marker: &str) -> Vec<Event> {
    let mut seen = Vec::new();
    loop {
        let event = client.next_event().await.expect("an event");
        let done = matches!(&event.body, EventBody::Activity { text, .. } if text == marker);
        seen.push(event);
        if done {
            return seen;
        }
    }
}

async fn marker(hub: &TestHub, room: &str, text: &str) {
    let (status, body) =
        hub.publish(room, serde_json::json!({"type": "activity", "kind": "marker", "text": text})).await;
    assert_eq!(status, 202, "{body}");
}

async fn audit_rows(hub: &TestHub, creator: &str) -> Vec<serde_json::Value> {
    let (status, page) = hub.api_get(&format!("/api/v1/audit?creator_id={creator}")).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

fn audited<'a>(rows: &'a [serde_json::Value], command: &str, staff: &str) -> Option<&'a serde_json::Value> {
    rows.iter().find(|r| r["command"] == command && r["staff_id"] == staff)
}

/// The draw, written from SPEC.md's words (independently of the hub's code).
fn recompute(seed: &[u8], n: usize, k: usize) -> Vec<usize> {
    let mut pool: Vec<usize> = (0..n).collect();
    for i in 0..k.min(n) {
        let m = (n - i) as u128;
        let limit = (1u128 << 64) - (1u128 << 64) % m;
        let r = (0u32..)
            .map(|attempt| {
                let digest = Sha256::new()
                    .chain_update(seed)
                    .chain_update((i as u32).to_be_bytes())
                    .chain_update(attempt.to_be_bytes())
                    .finalize();
                u64::from_be_bytes(digest[..8].try_into().unwrap()) as u128
            })
            .find(|x| *x < limit)
            .unwrap();
        pool.swap(i, i + (r % m) as usize);
    }
    pool.truncate(k.min(n));
    pool
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

// ---- giveaways ---------------------------------------------------------------------------------

#[tokio::test]
async fn giveaways_are_for_the_creator_and_promotions_staff_and_viewers_see_them_as_the_creators() {
    let hub = start().await;
    hub.grant("cara", "promo", Some(vec!["promotions"]), DAY).await;
    hub.grant("cara", "stats", Some(vec!["analytics"]), DAY).await;
    let (mut cara, mut viewer) = live_room(&hub, Wire::Json, "gw-1", "cara").await;
    let mut promo = hub.agency(Wire::MsgPack, "pat", "promo", "cara").await;
    let mut stats = hub.agency(Wire::Json, "sid", "stats", "cara").await;
    ok_snapshot(promo.request(join("gw-1")).await.unwrap());
    ok_snapshot(stats.request(join("gw-1")).await.unwrap());

    let start = giveaway("gw-1", 600_000, 1, false);
    assert_error(&viewer.request(start.clone()).await.unwrap(), ErrorCode::Forbidden);
    assert_error(&stats.request(start.clone()).await.unwrap(), ErrorCode::Forbidden);
    assert_ok(&promo.request(start.clone()).await.unwrap());
    // One at a time.
    assert_error(&cara.request(start.clone()).await.unwrap(), ErrorCode::Conflict);
    let bad = Command::StartGiveaway {
        room: "gw-1".into(),
        prize: "x".into(),
        keyword: " ".into(),
        duration_ms: 60_000,
        winners: 1,
        must_be_present: false,
    };
    assert_error(&cara.request(bad).await.unwrap(), ErrorCode::Invalid);

    // Viewers see the creator; the creator sees the staff member behind it.
    let seen = until(&mut viewer, "giveaway_started").await;
    let EventBody::GiveawayStarted { giveaway: info, by, operator } = seen.body else { unreachable!() };
    assert_eq!((by.id.as_str(), operator), ("cara", None));
    assert_eq!((info.keyword.as_str(), info.winners, info.commitment.len()), ("Shirt Please", 1, 64));
    let seen = until(&mut cara, "giveaway_started").await;
    let EventBody::GiveawayStarted { operator, .. } = seen.body else { unreachable!() };
    assert_eq!(operator.map(|o| o.staff_id), Some("pat".into()));

    // A late joiner's snapshot has the open giveaway.
    let mut late = hub.viewer(Wire::MsgPack, "late").await;
    let snapshot = ok_snapshot(late.request(join("gw-1")).await.unwrap());
    assert_eq!(snapshot.giveaway.map(|g| g.giveaway_id), Some(info.giveaway_id.clone()));

    let rows = audit_rows(&hub, "cara").await;
    assert_eq!(audited(&rows, "start_giveaway", "pat").unwrap()["outcome"], "ok");
    assert_eq!(audited(&rows, "start_giveaway", "sid").unwrap()["outcome"], "forbidden");

    // The viewer enters; the draw (run here as housekeeping runs it at `ends_at`, without waiting
    // ten minutes of real time) names the winner by display name, and the creator's audit trail
    // records it as the staff member's who started the giveaway.
    assert_ok(&viewer.request(comment("gw-1", "shirt please")).await.unwrap());
    until(&mut viewer, "giveaway_entries").await;
    let running = hub.running.as_ref().unwrap();
    let room = running.hub.rooms.get("gw-1").unwrap();
    let drawn = giveaway::draw_due(&room, info.ends_at, Default::default).expect("due at its end");
    running.hub.partner.audit_draw(&room, drawn);
    let EventBody::GiveawayDrawn { winners, entrants, salt, .. } = until(&mut viewer, "giveaway_drawn").await.body
    else {
        unreachable!()
    };
    // The viewer finds its own entry; only the winner is named.
    assert_eq!(entrants, [entry_of(&info.giveaway_id, "gw-1-viewer", &salt)]);
    assert_eq!(winners[0].name, "gw-1-viewer name");
    let row = loop {
        if let Some(row) = audited(&audit_rows(&hub, "cara").await, "giveaway_draw", "pat") {
            break row.clone();
        }
        tokio::task::yield_now().await;
    };
    assert_eq!((row["agency_id"].as_str(), row["room"].as_str()), (Some("promo"), Some("gw-1")));
    assert!(row["detail"].as_str().unwrap().contains("\"id\":\"gw-1-viewer\""), "{row}");
}

#[tokio::test]
async fn engagement_commands_are_rate_limited_and_nothing_is_half_applied() {
    let hub = start_with(|c| {
        c.ops_burst = 3;
        c.ops_rate = NO_REFILL;
    })
    .await;
    let (mut cara, _viewer) = live_room(&hub, Wire::Json, "rl", "cara").await;
    // start_room spent one of three.
    assert_ok(&cara.request(Command::Dashboard { room: "rl".into() }).await.unwrap());
    assert_ok(&cara.request(giveaway("rl", 600_000, 1, false)).await.unwrap());
    for command in [
        giveaway("rl", 600_000, 1, false),
        Command::Dashboard { room: "rl".into() },
        Command::ActivityFeed { room: "rl".into(), after: None, limit: None },
        Command::GetSummary { room: "rl".into() },
    ] {
        let reply = cara.request(command).await.unwrap();
        assert_error(&reply, ErrorCode::RateLimited);
        assert!(reply.error.unwrap().retry_after_ms.unwrap() > 0);
    }
    let (_, snapshot) = hub.api_get("/api/v1/rooms/rl").await;
    assert_eq!(snapshot["giveaway"]["giveaway_id"], "gw_2", "{snapshot}");
}

/// Paused time races ahead while the store's threads work (a second per housekeeping tick, as
/// fast as the runtime goes idle), so paused-time tests use tokens and heartbeats that outlast it.
const LONG: u64 = 30 * DAY;

/// The hub on paused time, read by its clock; no heartbeat closes, one store reader (see `settle`).
async fn paused_hub() -> (TestHub, Clock) {
    let clock = Clock::tokio(stagehand::clock::now_ms());
    let hub = start_with(|c| {
        c.clock = clock;
        c.heartbeat_ms = LONG;
        c.store_readers = 1;
    })
    .await;
    (hub, clock)
}

/// A client on a token that outlasts paused time's races.
async fn lasting(hub: &TestHub, wire: Wire, user: &str, role: Role, agency: Option<&str>) -> Client {
    let claims = stagehand_protocol::Claims {
        exp: now_secs() + LONG / 1000,
        agency: agency.map(str::to_string),
        agency_name: agency.map(|a| format!("{a} Ltd")),
        creator: agency.map(|_| "cara".to_string()),
        ..claims(user, role, 0)
    };
    patient(hub, wire, hub.token_with(claims)).await
}

#[tokio::test(start_paused = true)]
async fn a_giveaway_is_drawn_at_its_end_and_anyone_can_recompute_the_draw() {
    let (hub, _clock) = paused_hub().await;
    let mut cara = lasting(&hub, Wire::Json, "cara", Role::Creator, None).await;
    let mut fans = Vec::new();
    for name in ["v1", "v2", "v3", "v4", "v5", "v6"] {
        let wire = if fans.len() % 2 == 0 { Wire::Json } else { Wire::MsgPack };
        fans.push(lasting(&hub, wire, name, Role::Viewer, None).await);
    }
    settle(&mut cara).await;
    ok_snapshot(cara.request(Command::StartRoom { room: "gw".into(), title: None, event_id: None }).await.unwrap());
    let mut joined_at = Vec::new();
    for fan in &mut fans {
        joined_at.push(ok_snapshot(fan.request(join("gw")).await.unwrap()));
    }
    assert_ok(&cara.request(giveaway("gw", 60_000, 2, true)).await.unwrap());
    let started = until(&mut fans[2], "giveaway_started").await;
    let EventBody::GiveawayStarted { giveaway: info, .. } = started.body else { unreachable!() };

    // v1, v2, v6 and v4 enter (the keyword trimmed and in any case); v3 comments something else,
    // v1 again and the creator do not count.
    for (who, text) in
        [(0, "shirt please"), (1, "  SHIRT PLEASE "), (2, "shirt"), (0, "Shirt Please"), (5, "shirt please")]
    {
        assert_ok(&fans[who].request(comment("gw", text)).await.unwrap());
    }
    assert_ok(&cara.request(comment("gw", "shirt please")).await.unwrap());
    assert_ok(&fans[3].request(comment("gw", "Shirt please")).await.unwrap());
    loop {
        let EventBody::GiveawayEntries { entries, giveaway_id } = until(&mut fans[2], "giveaway_entries").await.body
        else {
            unreachable!()
        };
        assert_eq!(giveaway_id, info.giveaway_id);
        if entries == 4 {
            break;
        }
        assert!(entries < 4, "entered {entries}");
    }
    let (_, snapshot) = hub.api_get("/api/v1/rooms/gw").await;
    assert_eq!(snapshot["giveaway"]["entries"], 4, "{snapshot}");
    // v4 leaves before the draw (so is not eligible); v5 steps out and will recover what it missed.
    assert_ok(&fans[3].request(Command::Leave { room: "gw".into() }).await.unwrap());
    assert_ok(&fans[4].request(Command::Leave { room: "gw".into() }).await.unwrap());

    let drawn = timeout(PATIENCE, until(&mut fans[2], "giveaway_drawn")).await.expect("the giveaway is drawn");
    assert!(drawn.ts >= info.ends_at && drawn.ts <= info.ends_at + 1_000, "drawn at {}", drawn.ts - info.ends_at);
    let EventBody::GiveawayDrawn { giveaway_id, seed, salt, entrants, winners, absent } = drawn.body.clone() else {
        unreachable!()
    };
    assert_eq!(giveaway_id, info.giveaway_id);
    // The revealed seed is the one committed to at the start…
    let seed = unhex(&seed);
    assert_eq!(seed.len(), 32);
    let commitment: String = Sha256::digest(&seed).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(commitment, info.commitment);
    // …the entrants are the present ones in entry order, as pseudonymous entries each viewer can
    // recompute from its own account id (and nobody's name or id appears)…
    assert_eq!(unhex(&salt).len(), 16);
    let expected_entries: Vec<String> = ["v1", "v2", "v6"].iter().map(|id| entry_of(&giveaway_id, id, &salt)).collect();
    assert_eq!(entrants, expected_entries);
    assert!(entrants.iter().all(|e| e.len() == 32 && !e.contains("name")));
    assert_eq!(absent, 1);
    // …and the winners are what the specified draw gives, named by display name.
    let expected = recompute(&seed, entrants.len(), 2);
    let got: Vec<usize> = winners.iter().map(|w| w.index as usize).collect();
    assert_eq!(got, expected);
    let names = ["v1 name", "v2 name", "v6 name"];
    assert!(winners.iter().all(|w| w.name == names[w.index as usize]));

    // v5 rejoins with `since` and recovers the comments and the draw it missed.
    let since = stagehand_protocol::client::Since {
        seq: joined_at[4].seq + 7,
        epoch: joined_at[4].epoch.clone(),
        staff_seq: None,
    };
    let back = ok_snapshot(fans[4].request(Command::Join { room: "gw".into(), since: Some(since) }).await.unwrap());
    assert_eq!(back.recovered, Some(true));
    assert!(back.giveaway.is_none(), "the snapshot after the draw has no open giveaway");
    let replayed = until(&mut fans[4], "giveaway_drawn").await;
    assert_eq!(replayed.body, drawn.body);

    // The creator's audit trail has the winners with their accounts.
    let draw = loop {
        let rows = audit_rows(&hub, "cara").await;
        if let Some(row) = audited(&rows, "giveaway_draw", "cara") {
            break row.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let detail: serde_json::Value = serde_json::from_str(draw["detail"].as_str().unwrap()).unwrap();
    let ids: Vec<&str> = detail["winners"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap()).collect();
    let expected_ids: Vec<String> = expected.iter().map(|&i| ["v1", "v2", "v6"][i].to_string()).collect();
    assert_eq!(ids, expected_ids);
}

/// A pseudonymous giveaway entry as SPEC.md words it (written from the spec, not the hub's code):
/// the first 16 bytes of SHA-256(giveaway_id ‖ 0x00 ‖ user_id ‖ 0x00 ‖ salt), lowercase hex.
fn entry_of(giveaway_id: &str, user_id: &str, salt_hex: &str) -> String {
    let mut input = giveaway_id.as_bytes().to_vec();
    input.push(0);
    input.extend_from_slice(user_id.as_bytes());
    input.push(0);
    input.extend_from_slice(&unhex(salt_hex));
    Sha256::digest(&input)[..16].iter().map(|b| format!("{b:02x}")).collect()
}

// ---- the activity feed -------------------------------------------------------------------------

fn order_with_id(event_id: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "order", "event_id": event_id, "order_id": "o-1", "buyer": "Bea", "buyer_id": "u-bea",
        "product_id": "p1", "product_name": "Lamp", "quantity": 2, "amount": 1999, "currency": "EUR"
    })
}

fn feed_publish(kind: &str, event_id: &str) -> serde_json::Value {
    let mut body = serde_json::json!({"type": kind, "event_id": event_id, "user_id": "u-fan", "user_name": "Fan"});
    match kind {
        "gift" => {
            body["gift"] = "Rose".into();
            body["count"] = 2.into();
        }
        "like" => body["count"] = 3.into(),
        _ => {}
    }
    body
}

async fn dashboard(client: &mut Client, room: &str) -> DashboardData {
    let reply = client.request(Command::Dashboard { room: room.into() }).await.unwrap();
    match reply.result {
        Some(ReplyResult::Dashboard { dashboard, .. }) => dashboard,
        _ => panic!("expected a dashboard: {reply:?}"),
    }
}

#[tokio::test]
async fn the_feed_is_light_for_viewers_full_for_analytics_and_a_retried_publish_counts_once() {
    let hub = start_with(|c| c.feed_dedupe_max = 4).await;
    hub.grant("cara", "stats", Some(vec!["analytics"]), DAY).await;
    hub.grant("cara", "promo", Some(vec!["promotions"]), DAY).await;
    let (mut cara, mut viewer) = live_room(&hub, Wire::MsgPack, "feed", "cara").await;
    let mut stats = hub.agency(Wire::Json, "sid", "stats", "cara").await;
    let mut promo = hub.agency(Wire::MsgPack, "pat", "promo", "cara").await;
    ok_snapshot(stats.request(join("feed")).await.unwrap());
    ok_snapshot(promo.request(join("feed")).await.unwrap());
    // A viewer that steps out now and recovers later.
    let mut away = hub.viewer(Wire::Json, "away").await;
    let before = ok_snapshot(away.request(join("feed")).await.unwrap());
    assert_ok(&away.request(Command::Leave { room: "feed".into() }).await.unwrap());

    let (status, first) = hub.publish("feed", order_with_id("e1")).await;
    assert_eq!((status, &first["duplicate"]), (202, &serde_json::json!(false)), "{first}");
    let (status, again) = hub.publish("feed", order_with_id("e1")).await;
    assert_eq!((status, &again["duplicate"], &again["seq"]), (200, &serde_json::json!(true), &first["seq"]));
    for (kind, id) in [("follow", "e2"), ("gift", "e3"), ("share", "e4"), ("subscription", "e5"), ("like", "e6")] {
        assert_eq!(hub.publish("feed", feed_publish(kind, id)).await.0, 202);
    }
    let (status, retried_like) = hub.publish("feed", feed_publish("like", "e6")).await;
    assert_eq!((status, &retried_like["duplicate"]), (200, &serde_json::json!(true)));
    let (status, bad) =
        hub.publish("feed", serde_json::json!({"type": "follow", "user_id": "u", "user_name": "U"})).await;
    assert_eq!(status, 400, "a follow needs an event_id: {bad}");
    marker(&hub, "feed", "end-1").await;

    // Viewers: the light events, once each, the like total once, no feed entries, no buyer ids.
    let seen = up_to_marker(&mut viewer, "end-1").await;
    let kinds: Vec<String> = seen
        .iter()
        .filter(|e| e.body.name() != "viewer_count")
        .map(|e| match &e.body {
            EventBody::Activity { kind, .. } => kind.clone(),
            other => other.name().to_string(),
        })
        .collect();
    assert_eq!(kinds, ["order", "follow", "gift", "share", "subscription", "like_count", "marker"]);
    assert!(seen.iter().any(|e| matches!(e.body, EventBody::LikeCount { likes: 3 })));
    for event in &seen {
        let json = serde_json::to_string(event).unwrap();
        assert!(!json.contains("u-bea") && !json.contains("u-fan"), "buyer data reached a viewer: {json}");
    }
    // Analytics staff and the creator: the full entries too.
    for client in [&mut stats, &mut cara] {
        let entries: Vec<_> = up_to_marker(client, "end-1")
            .await
            .into_iter()
            .filter_map(|e| match e.body {
                EventBody::FeedItem { entry } => Some(entry),
                _ => None,
            })
            .collect();
        assert_eq!(entries.len(), 6, "{entries:?}");
        assert_eq!((entries[0].user_id.as_deref(), entries[0].amount), (Some("u-bea"), Some(1999)));
    }
    // Staff without `analytics`: the light events only.
    let promo_seen = up_to_marker(&mut promo, "end-1").await;
    assert!(promo_seen.iter().all(|e| !matches!(e.body, EventBody::FeedItem { .. } | EventBody::Dashboard { .. })));

    // The full feed on request: creator and analytics yes, others forbidden; paged by feed_id.
    let feed = |after| Command::ActivityFeed { room: "feed".into(), after, limit: Some(4) };
    assert_error(&viewer.request(feed(None)).await.unwrap(), ErrorCode::Forbidden);
    assert_error(&promo.request(feed(None)).await.unwrap(), ErrorCode::Forbidden);
    let Some(ReplyResult::Feed { items }) = stats.request(feed(None)).await.unwrap().result else { panic!() };
    assert_eq!(items.iter().map(|i| i.feed_id).collect::<Vec<_>>(), [1, 2, 3, 4]);
    let Some(ReplyResult::Feed { items }) = cara.request(feed(Some(4))).await.unwrap().result else { panic!() };
    assert_eq!(items.iter().map(|i| i.feed_id).collect::<Vec<_>>(), [5, 6]);

    // Counted once each.
    let figures = dashboard(&mut stats, "feed").await;
    assert_eq!((figures.orders, figures.units, figures.likes), (1, 2, 3));
    assert_eq!((figures.follows, figures.gifts, figures.shares, figures.subscriptions), (1, 2, 1, 1));
    assert_eq!((figures.gmv[0].currency.as_str(), figures.gmv[0].amount, figures.buyers), ("EUR", 1999, 1));
    assert_eq!(figures.top_products[0].product_id, "p1");
    assert_error(&promo.request(Command::Dashboard { room: "feed".into() }).await.unwrap(), ErrorCode::Forbidden);
    assert_error(&viewer.request(Command::Dashboard { room: "feed".into() }).await.unwrap(), ErrorCode::Forbidden);

    // The dedupe set is bounded (4 here): e1 was forgotten, so its retry now counts.
    assert_eq!(hub.publish("feed", order_with_id("e1")).await.0, 202);
    assert_eq!(dashboard(&mut cara, "feed").await.orders, 2);

    // Snapshot and recovery: the like total, and the light events that were missed.
    let mut late = hub.viewer(Wire::Json, "late").await;
    assert_eq!(ok_snapshot(late.request(join("feed")).await.unwrap()).likes, 3);
    let since = stagehand_protocol::client::Since { seq: before.seq, epoch: before.epoch.clone(), staff_seq: None };
    let back = ok_snapshot(away.request(Command::Join { room: "feed".into(), since: Some(since) }).await.unwrap());
    assert_eq!((back.recovered, back.likes), (Some(true), 3));
    let replayed = up_to_marker(&mut away, "end-1").await;
    assert_eq!(replayed.iter().filter(|e| e.body.name() == "order").count(), 1);
    assert!(replayed.iter().all(|e| !matches!(e.body, EventBody::FeedItem { .. })));

    let rows = audit_rows(&hub, "cara").await;
    assert_eq!(audited(&rows, "activity_feed", "sid").unwrap()["outcome"], "ok");
    assert_eq!(audited(&rows, "activity_feed", "pat").unwrap()["outcome"], "forbidden");
    assert_eq!(audited(&rows, "dashboard", "pat").unwrap()["outcome"], "forbidden");
}

// ---- the live dashboard and the summary ----------------------------------------------------------

async fn summary(client: &mut Client) -> stagehand_protocol::server::Reply {
    client.request(Command::GetSummary { room: "dash".into() }).await.unwrap()
}

/// The next `dashboard` tick a client receives.
async fn tick(client: &mut Client) -> DashboardData {
    match timeout(PATIENCE, until(client, "dashboard")).await.expect("a tick").body {
        EventBody::Dashboard { dashboard } => dashboard,
        _ => unreachable!(),
    }
}

#[tokio::test(start_paused = true)]
async fn the_dashboard_ticks_each_second_to_analytics_only_and_the_summary_outlives_the_live() {
    let (hub, _clock) = paused_hub().await;
    hub.grant("cara", "stats", Some(vec!["analytics"]), DAY).await;
    hub.grant("cara", "promo", Some(vec!["promotions"]), DAY).await;
    let mut cara = lasting(&hub, Wire::Json, "cara", Role::Creator, None).await;
    let mut stats = lasting(&hub, Wire::MsgPack, "sid", Role::Agency, Some("stats")).await;
    let mut promo = lasting(&hub, Wire::Json, "pat", Role::Agency, Some("promo")).await;
    let mut viewer = lasting(&hub, Wire::MsgPack, "vic", Role::Viewer, None).await;
    settle(&mut cara).await;
    ok_snapshot(
        cara.request(Command::StartRoom { room: "dash".into(), title: Some("Show".into()), event_id: None })
            .await
            .unwrap(),
    );
    for client in [&mut viewer, &mut stats, &mut promo] {
        ok_snapshot(client.request(join("dash")).await.unwrap());
    }
    for text in ["hi", "love it"] {
        assert_ok(&viewer.request(comment("dash", text)).await.unwrap());
    }
    assert_eq!(hub.publish("dash", order_with_id("o1")).await.0, 202);

    // Once a second on the hub's clock, to the creator and analytics staff.
    let first = tick(&mut cara).await;
    let second = tick(&mut cara).await;
    assert_eq!(second.at - first.at, 1_000);
    assert_eq!((second.viewers, second.peak_viewers, second.unique_viewers), (1, 1, 1));
    assert_eq!((second.comments, second.comments_per_minute, second.orders), (2, 2, 1));
    assert_eq!(second.conversion_bp, 10_000, "one buyer among one unique viewer");
    let staff_tick = tick(&mut stats).await;
    assert_eq!(staff_tick.orders, 1);
    // Never to viewers, never to staff without `analytics`.
    marker(&hub, "dash", "end-1").await;
    for client in [&mut viewer, &mut promo] {
        let seen = up_to_marker(client, "end-1").await;
        assert!(seen.iter().all(|e| e.body.name() != "dashboard"), "{seen:?}");
    }

    // A minute later the first minute is in the series.
    loop {
        if tick(&mut cara).await.minute.start > first.minute.start {
            break;
        }
    }
    let reply = cara.request(Command::Dashboard { room: "dash".into() }).await.unwrap();
    let Some(ReplyResult::Dashboard { minutes, dashboard }) = reply.result else { panic!("{reply:?}") };
    assert_eq!((minutes.len(), minutes[0].comments, minutes[0].orders), (1, 2, 1));
    assert!(dashboard.avg_watch_ms >= 50_000, "one viewer watched about a minute: {}", dashboard.avg_watch_ms);

    // The LIVE ends: its summary is stored before the creator hears back.
    assert_ok(&cara.request(Command::EndRoom { room: "dash".into() }).await.unwrap());
    let reply = summary(&mut cara).await;
    let Some(ReplyResult::Summary { summary: kept }) = reply.result else { panic!("{reply:?}") };
    assert_eq!((kept.totals.comments, kept.totals.orders, kept.title.as_str()), (2, 1, "Show"));
    assert!(kept.minutes.len() >= 2, "the last minute is closed into the series");
    assert_ok(&summary(&mut stats).await);
    assert_error(&summary(&mut promo).await, ErrorCode::Forbidden);
    assert_error(&summary(&mut viewer).await, ErrorCode::Forbidden);
    let mut other = lasting(&hub, Wire::Json, "otto", Role::Creator, None).await;
    assert_error(&summary(&mut other).await, ErrorCode::NotFound);
    let (status, body) = hub.api_get("/api/v1/rooms/dash/summary").await;
    assert_eq!((status, &body["totals"]["orders"]), (200, &serde_json::json!(1)), "{body}");
    assert_eq!(hub.api_get("/api/v1/rooms/nope/summary").await.0, 404);
}

#[tokio::test]
async fn repeating_the_giveaway_keyword_is_an_entry_not_spam_other_repeats_are_still_held() {
    let hub = start().await;
    let (mut cara, mut vic) = live_room(&hub, Wire::Json, "gw-rep", "cara").await;
    assert_ok(&cara.request(giveaway("gw-rep", 600_000, 1, false)).await.unwrap());
    for text in ["Shirt Please", " shirt please ", "SHIRT PLEASE", "hello", "hello"] {
        assert_ok(&vic.request(comment("gw-rep", text)).await.unwrap());
    }
    // Staff see every public comment and every held one, in order.
    let mut public = Vec::new();
    let held = loop {
        let event = cara.next_non_count_event().await.unwrap();
        match event.body {
            EventBody::Comment { text, .. } => public.push(text),
            EventBody::CommentHeld { comment } => break comment,
            _ => {}
        }
    };
    assert_eq!(public, ["Shirt Please", " shirt please ", "SHIRT PLEASE", "hello"].map(|t| t.trim().to_string()));
    assert_eq!(
        (held.text.as_str(), held.reason),
        ("hello", stagehand_protocol::types::HoldReason::Repeated),
        "the repeat rule still applies to anything else"
    );
    // One entrant however often it is repeated.
    let snapshot = ok_snapshot(hub.viewer(Wire::Json, "late").await.request(join("gw-rep")).await.unwrap());
    assert_eq!(snapshot.giveaway.map(|g| g.entries), Some(1));
}
