//! The room engine's fixed defects, each pinned by a test that fails without its fix: refused
//! commands spending a room's budget, one creator filling the hub with rooms, abandoned rooms kept
//! forever, agency presence floods filling the audit trail, and duplicated `room_started` /
//! `staff_joined`. Real hub, real sockets, real SQLite.
//!
//! The reclaim tests run on paused tokio time with the hub reading it (`Clock::tokio`). Tokio
//! jumps paused time forward whenever the runtime is idle — also while the store's threads work —
//! so those tests judge when something happened by the event's own `ts` (stamped by the hub's
//! clock) and keep store work out of the windows they measure.

mod common;

use common::*;
use stagehand::client::Client;
use stagehand::clock::Clock;
use stagehand_protocol::server::{EndReason, Event, EventBody};
use stagehand_protocol::types::{Role, RoomState};
use stagehand_protocol::{Command, ErrorCode, Wire};
use std::time::Duration;
use tokio::time::{sleep, timeout};

/// A rate so slow that no bucket refills during a test (the limiters read the real clock).
const NO_REFILL: f64 = 0.001;

fn join(room: &str) -> Command {
    Command::Join { room: room.into(), since: None }
}

fn deploy(room: &str, id: &str) -> Command {
    Command::DeployBillboard { room: room.into(), billboard: billboard(id) }
}

fn comment(room: &str, text: &str) -> Command {
    Command::Comment { room: room.into(), text: text.into() }
}

fn error_message(reply: &stagehand_protocol::server::Reply) -> String {
    reply.error.as_ref().map(|e| e.message.clone()).unwrap_or_default()
}

/// `n` viewers each send `command` `attempts` times; returns how many replies had each code,
/// forbidden first, then rate-limited.
async fn flood(hub: &TestHub, n: usize, attempts: usize, command: &Command) -> (usize, usize) {
    let (mut forbidden, mut limited) = (0, 0);
    for i in 0..n {
        let wire = if i % 2 == 0 { Wire::Json } else { Wire::MsgPack };
        let mut flooder = hub.viewer(wire, &format!("flooder-{i}")).await;
        for _ in 0..attempts {
            let reply = flooder.request(command.clone()).await.unwrap();
            match reply.error.as_ref().map(|e| e.code) {
                Some(ErrorCode::Forbidden) => forbidden += 1,
                Some(ErrorCode::RateLimited) => {
                    assert!(error_message(&reply).contains("over the user"), "the flooder's own budget: {reply:?}");
                    limited += 1;
                }
                _ => panic!("a flooder got {reply:?}"),
            }
        }
    }
    (forbidden, limited)
}

// 1. A refused command no longer spends the room's budget.

#[tokio::test]
async fn forbidden_operations_do_not_spend_the_rooms_operation_budget() {
    let hub = start_with(|c| {
        (c.ops_burst, c.ops_rate) = (5, NO_REFILL);
        (c.room_ops_burst, c.room_ops_rate) = (3, NO_REFILL);
    })
    .await;
    let room = "r-ops";
    let (mut cara, _viewer) = live_room(&hub, Wire::Json, room, "cara").await;
    hub.grant("cara", "acme", None, DAY).await;
    let mut sam = hub.agency(Wire::MsgPack, "sam", "acme", "cara").await;
    ok_snapshot(sam.request(join(room)).await.unwrap());

    // Four viewers flood `deploy_billboard`: each is refused by the table until its own budget
    // (5) is spent, then rate-limited — 20 refused attempts in all, more than the room's budget.
    let (forbidden, limited) = flood(&hub, 4, 8, &deploy(room, "spam")).await;
    assert_eq!((forbidden, limited), (20, 12));

    // The room's budget of 3 is intact for the creator and the granted agency…
    assert_ok(&cara.request(deploy(room, "b1")).await.unwrap());
    assert_ok(&sam.request(deploy(room, "b2")).await.unwrap());
    assert_ok(&cara.request(Command::RemoveBillboard { room: room.into() }).await.unwrap());
    // …and it is a real budget: the fourth permitted operation is over it.
    let over = cara.request(deploy(room, "b3")).await.unwrap();
    assert_error(&over, ErrorCode::RateLimited);
    assert!(error_message(&over).contains("room operation"), "{over:?}");
    let metrics = hub.metrics().await;
    assert!(metrics.contains("stagehand_errors_total{code=\"forbidden\"} 20"), "{metrics}");
}

#[tokio::test]
async fn comments_from_non_members_do_not_spend_the_rooms_comment_budget() {
    let hub = start_with(|c| {
        (c.comment_burst, c.comment_rate) = (5, NO_REFILL);
        (c.room_comment_burst, c.room_comment_rate) = (3, NO_REFILL);
    })
    .await;
    let room = "r-comments";
    let (mut cara, mut viewer) = live_room(&hub, Wire::MsgPack, room, "cara").await;

    // Four viewers that never joined flood comments: "join the room first", then their own limit.
    let (forbidden, limited) = flood(&hub, 4, 8, &comment(room, "spam")).await;
    assert_eq!((forbidden, limited), (20, 12));

    assert_ok(&viewer.request(comment(room, "hello")).await.unwrap());
    assert_ok(&viewer.request(comment(room, "again")).await.unwrap());
    assert_ok(&cara.request(comment(room, "welcome")).await.unwrap());
    let over = cara.request(comment(room, "one more")).await.unwrap();
    assert_error(&over, ErrorCode::RateLimited);
    assert!(error_message(&over).contains("room comment"), "{over:?}");
}

/// A user's command budgets are the user's, not each connection's: opening more connections buys
/// no more comments.
#[tokio::test]
async fn a_users_connections_share_one_comment_budget() {
    let hub = start_with(|c| (c.comment_burst, c.comment_rate) = (4, NO_REFILL)).await;
    let room = "r-per-user";
    let (_cara, mut first) = live_room(&hub, Wire::MsgPack, room, "cara").await;
    // `live_room`'s viewer is `r-per-user-viewer`; a second connection of the same user joins too.
    let mut second = hub.viewer(Wire::MsgPack, "r-per-user-viewer").await;
    ok_snapshot(second.request(join(room)).await.unwrap());
    for n in 0..2 {
        assert_ok(&first.request(comment(room, &format!("first {n}"))).await.unwrap());
        assert_ok(&second.request(comment(room, &format!("second {n}"))).await.unwrap());
    }
    for client in [&mut first, &mut second] {
        let over = client.request(comment(room, "one more")).await.unwrap();
        assert_error(&over, ErrorCode::RateLimited);
        assert!(error_message(&over).contains("comment"), "{over:?}");
    }
    // Another user's budget is untouched.
    let mut other = hub.viewer(Wire::MsgPack, "someone-else").await;
    ok_snapshot(other.request(join(room)).await.unwrap());
    assert_ok(&other.request(comment(room, "hello")).await.unwrap());
}

// 2. One creator cannot lock everyone out.

#[tokio::test]
async fn a_creator_may_have_at_most_max_rooms_per_creator_open_rooms() {
    let hub = start_with(|c| c.max_rooms_per_creator = 2).await;
    let starts_at = stagehand::clock::now_ms() + 3_600_000;
    let mut cara = hub.creator(Wire::Json, "cara").await;
    ok_snapshot(cara.request(Command::StartRoom { room: "c-1".into(), title: None, event_id: None }).await.unwrap());
    let schedule = |room: &str| Command::ScheduleRoom { room: room.into(), title: "Later".into(), starts_at };
    ok_snapshot(cara.request(schedule("c-2")).await.unwrap());

    // A third room, by any way in, is refused and nothing is created.
    assert_error(
        &cara.request(Command::StartRoom { room: "c-3".into(), title: None, event_id: None }).await.unwrap(),
        ErrorCode::Unavailable,
    );
    assert_error(&cara.request(schedule("c-3")).await.unwrap(), ErrorCode::Unavailable);
    hub.grant("cara", "acme", None, DAY).await;
    let mut sam = hub.agency(Wire::MsgPack, "sam", "acme", "cara").await;
    assert_error(&sam.request(schedule("c-3")).await.unwrap(), ErrorCode::Unavailable);
    let spec = serde_json::json!({"creator_id": "cara", "creator_name": "Cara", "title": "Third"});
    let (status, body) = hub.api_put("/api/v1/rooms/c-3", spec.clone()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("unavailable")), "{body}");
    assert_eq!(hub.api_get("/api/v1/rooms/c-3").await.0, 404, "a refused room is not created");

    // Her rooms that exist are still hers to run, and other creators are not affected.
    ok_snapshot(cara.request(Command::StartRoom { room: "c-2".into(), title: None, event_id: None }).await.unwrap());
    let mut otto = hub.creator(Wire::MsgPack, "otto").await;
    ok_snapshot(otto.request(Command::StartRoom { room: "o-1".into(), title: None, event_id: None }).await.unwrap());
    let other = serde_json::json!({"creator_id": "otto", "creator_name": "Otto", "title": "Next"});
    assert_eq!(hub.api_put("/api/v1/rooms/o-2", other).await.0, 200);

    // An ended room no longer counts.
    assert_ok(&cara.request(Command::EndRoom { room: "c-1".into() }).await.unwrap());
    let (status, body) = hub.api_put("/api/v1/rooms/c-3", spec).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("scheduled")), "{body}");
    assert_error(
        &cara.request(Command::StartRoom { room: "c-4".into(), title: None, event_id: None }).await.unwrap(),
        ErrorCode::Unavailable,
    );
}

// 3. Abandoned rooms are reclaimed, telling the creator.

const SCHEDULED_GRACE: u64 = 30_000;
const CREATOR_GRACE: u64 = 60_000;
/// Housekeeping looks for abandoned rooms once a second.
const HOUSEKEEPING: u64 = 1_000;
/// Longest a test waits (in paused time, so this costs no real time).
const PATIENCE: Duration = Duration::from_secs(3_600);

/// A hub on paused time with short graces and no heartbeat closes; returns its clock.
async fn paused_hub() -> (TestHub, Clock) {
    let clock = Clock::tokio(stagehand::clock::now_ms());
    let hub = start_with(|c| {
        c.clock = clock;
        c.scheduled_room_grace_ms = SCHEDULED_GRACE;
        c.creator_gone_grace_ms = CREATOR_GRACE;
        c.heartbeat_ms = 3_600_000;
        c.store_readers = 1;
    })
    .await;
    (hub, clock)
}

/// The next room event (not a viewer count) within `PATIENCE`, or `None`.
async fn next_event(client: &mut Client) -> Option<Event> {
    timeout(PATIENCE, client.next_non_count_event()).await.ok().map(|e| e.expect("an event"))
}

fn assert_reclaimed(event: &Event) {
    assert!(matches!(event.body, EventBody::RoomEnded { reason: EndReason::Reclaimed }), "{event:?}");
}

#[tokio::test(start_paused = true)]
async fn a_scheduled_room_is_reclaimed_once_its_start_passed_by_the_grace() {
    let (hub, clock) = paused_hub().await;
    let mut cara = patient(&hub, Wire::Json, hub.token("cara", Role::Creator)).await;
    let mut viewer = patient(&hub, Wire::MsgPack, hub.token("vic", Role::Viewer)).await;
    settle(&mut viewer).await;
    let starts_at = clock.now_ms() + 10_000;
    let spec =
        serde_json::json!({"creator_id": "cara", "creator_name": "Cara", "title": "Soon", "starts_at": starts_at});
    assert_eq!(hub.api_put("/api/v1/rooms/r-sched", spec).await.0, 200);
    assert_eq!(ok_snapshot(viewer.request(join("r-sched")).await.unwrap()).state, RoomState::Scheduled);

    let ended = next_event(&mut viewer).await.expect("the scheduled room is reclaimed");
    assert_reclaimed(&ended);
    let deadline = starts_at + SCHEDULED_GRACE;
    assert!(ended.ts > deadline, "reclaimed {} ms before the grace ended", deadline - ended.ts);
    assert!(ended.ts <= deadline + HOUSEKEEPING, "reclaimed {} ms after the grace", ended.ts - deadline);

    let told = timeout(PATIENCE, notification_of(&mut cara, "room_reclaimed")).await.expect("the creator is told");
    assert_eq!(told.data["room"], "r-sched");
    assert_eq!(told.data["reason"], "scheduled_start_passed");
}

#[tokio::test(start_paused = true)]
async fn a_live_room_is_reclaimed_after_its_creator_was_gone_for_the_grace() {
    let (hub, clock) = paused_hub().await;
    let creator_token = || hub.token("cara", Role::Creator);
    // Cara's second connection (her inbox, not in the room) hears about the reclaim.
    let mut inbox = patient(&hub, Wire::Json, creator_token()).await;
    let mut studio = patient(&hub, Wire::MsgPack, creator_token()).await;
    let mut viewer = patient(&hub, Wire::Json, hub.token("vic", Role::Viewer)).await;
    settle(&mut viewer).await;
    ok_snapshot(
        studio.request(Command::StartRoom { room: "r-gone".into(), title: None, event_id: None }).await.unwrap(),
    );
    ok_snapshot(viewer.request(join("r-gone")).await.unwrap());

    // The studio drops; the hub notices when it reads the close.
    let left_at = clock.now_ms();
    studio.close().await;
    while open_connections(&hub, "creator").await != 1 {
        sleep(Duration::from_millis(1)).await;
    }
    let noticed_by = clock.now_ms();

    let ended = next_event(&mut viewer).await.expect("the abandoned room is reclaimed");
    assert_reclaimed(&ended);
    assert!(ended.ts > left_at + CREATOR_GRACE, "reclaimed {} ms early", left_at + CREATOR_GRACE - ended.ts);
    assert!(ended.ts <= noticed_by + CREATOR_GRACE + HOUSEKEEPING, "reclaimed late, at {}", ended.ts - left_at);

    let told = timeout(PATIENCE, notification_of(&mut inbox, "room_reclaimed")).await.expect("the creator is told");
    assert_eq!(told.data["room"], "r-gone");
    assert_eq!(told.data["reason"], "creator_gone");
}

#[tokio::test(start_paused = true)]
async fn a_live_room_whose_creator_comes_back_within_the_grace_stays_live() {
    let (hub, clock) = paused_hub().await;
    let creator_token = || hub.token("cara", Role::Creator);
    let mut studio = patient(&hub, Wire::Json, creator_token()).await;
    // Connected now so that coming back needs no store read (which lets paused time run on).
    let mut phone = patient(&hub, Wire::MsgPack, creator_token()).await;
    let mut viewer = patient(&hub, Wire::Json, hub.token("vic", Role::Viewer)).await;
    settle(&mut viewer).await;
    ok_snapshot(
        studio.request(Command::StartRoom { room: "r-back".into(), title: None, event_id: None }).await.unwrap(),
    );
    ok_snapshot(viewer.request(join("r-back")).await.unwrap());

    let left_at = clock.now_ms();
    assert_ok(&studio.request(Command::Leave { room: "r-back".into() }).await.unwrap());
    // Back on another connection before the grace ends…
    sleep(Duration::from_millis(CREATOR_GRACE / 2)).await;
    let back = ok_snapshot(phone.request(join("r-back")).await.unwrap());
    assert_eq!(back.state, RoomState::Live);
    assert!(clock.now_ms() < left_at + CREATOR_GRACE, "the test came back too late");

    // …so the room is not reclaimed, however long it then runs.
    let quiet = timeout(Duration::from_millis(3 * CREATOR_GRACE), viewer.next_non_count_event()).await;
    assert!(quiet.is_err(), "the viewer got {quiet:?}");
    let (_, snapshot) = hub.api_get("/api/v1/rooms/r-back").await;
    assert_eq!(snapshot["state"], "live");
    // And once the creator leaves for good, the grace starts again from then.
    let left_again = clock.now_ms();
    phone.close().await;
    let ended = next_event(&mut viewer).await.expect("reclaimed after the second departure");
    assert_reclaimed(&ended);
    assert!(ended.ts > left_again + CREATOR_GRACE);
}

async fn open_connections(hub: &TestHub, role: &str) -> usize {
    let metrics = hub.metrics().await;
    let prefix = format!("stagehand_connections{{role=\"{role}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|n| n.parse().ok()).unwrap_or(0)
}

// 4. Agency join/leave have a rate class.

#[tokio::test]
async fn an_agency_flooding_join_and_leave_is_rate_limited_and_not_audited_past_its_burst() {
    let hub = start_with(|c| (c.join_burst, c.join_rate) = (4, NO_REFILL)).await;
    let room = "r-churn";
    let (_cara, _viewer) = live_room(&hub, Wire::Json, room, "cara").await;
    hub.grant("cara", "acme", None, DAY).await;
    let mut sam = hub.agency(Wire::MsgPack, "sam", "acme", "cara").await;
    let mut outcomes = Vec::new();
    for i in 0..20 {
        let command = if i % 2 == 0 { join(room) } else { Command::Leave { room: room.into() } };
        let reply = sam.request(command).await.unwrap();
        outcomes.push(reply.error.map(|e| e.code));
    }
    let limited = outcomes.iter().filter(|o| **o == Some(ErrorCode::RateLimited)).count();
    assert_eq!(outcomes[..4], [None, None, None, None], "the burst is served");
    assert_eq!(limited, 16, "{outcomes:?}");

    let (status, trail) = hub.api_get("/api/v1/audit?creator_id=cara").await;
    assert_eq!(status, 200, "{trail}");
    let presence: Vec<_> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["command"] == "join" || a["command"] == "leave")
        .collect();
    assert_eq!(presence.len(), 4, "only the served attempts are audited: {presence:?}");
    assert!(presence.iter().all(|a| a["outcome"] == "ok"), "{presence:?}");

    // The limit is the connection's: another console of the same agency joins at once.
    let mut kim = hub.agency(Wire::Json, "kim", "acme", "cara").await;
    ok_snapshot(kim.request(join(room)).await.unwrap());
}

// 5. Duplicates and order.

#[tokio::test]
async fn the_creator_gets_its_start_as_the_snapshot_and_not_again_as_an_event() {
    for wire in Wire::BOTH {
        let hub = start().await;
        let mut cara = hub.creator(wire, "cara").await;
        let started = ok_snapshot(
            cara.request(Command::StartRoom { room: "r-start".into(), title: None, event_id: None }).await.unwrap(),
        );
        assert_eq!((started.state, started.seq), (RoomState::Live, 1));
        let (status, body) = hub.publish("r-start", order("o-1")).await;
        assert_eq!(status, 202, "{body}");
        let next = cara.next_non_count_event().await.unwrap();
        assert_eq!((next.body.name(), next.seq), ("order", 2), "{next:?}");
    }
}

/// The creator's notifications of `kind`, read over HTTP.
async fn notifications_of(hub: &TestHub, creator: &str, kind: &str) -> Vec<serde_json::Value> {
    let (status, body) = hub.api_get(&format!("/api/v1/notifications?recipient=user:{creator}")).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().iter().filter(|n| n["kind"] == kind).cloned().collect()
}

/// Poll the creator's inbox until it holds a notification of `kind`.
async fn until_notified(hub: &TestHub, creator: &str, kind: &str) {
    let poll = async {
        while notifications_of(hub, creator, kind).await.is_empty() {
            sleep(Duration::from_millis(5)).await;
        }
    };
    // Only a bound on a hang: the poll ends as soon as the notification is stored.
    timeout(Duration::from_secs(60), poll).await.unwrap_or_else(|_| panic!("no `{kind}` notification"));
}

#[tokio::test]
async fn staff_joining_again_on_the_same_connection_is_announced_once() {
    let hub = start().await;
    let room = "r-again";
    let (mut cara, _viewer) = live_room(&hub, Wire::Json, room, "cara").await;
    hub.grant("cara", "acme", None, DAY).await;
    let mut sam = hub.agency(Wire::MsgPack, "sam", "acme", "cara").await;
    ok_snapshot(sam.request(join(room)).await.unwrap());
    until_notified(&hub, "cara", "staff_joined").await;

    let again = ok_snapshot(sam.request(join(room)).await.unwrap());
    assert_eq!(again.staff.map(|s| s.len()), Some(1), "one staff member, once");
    // A marker that produces an event and a notification after anything the re-join produced.
    assert_ok(&sam.request(Command::Leave { room: room.into() }).await.unwrap());
    until_notified(&hub, "cara", "staff_left").await;
    assert_eq!(notifications_of(&hub, "cara", "staff_joined").await.len(), 1);

    let seen = events(&mut cara, 2).await;
    assert_eq!(names(&seen), ["staff_joined", "staff_left"]);
    assert!(matches!(seen[1].body, EventBody::StaffLeft { .. }));
}
