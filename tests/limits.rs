//! The limits on what one client may send, each tripped from outside over real sockets: the
//! refusal has its documented code, `/metrics` counts it in
//! `stagehand_limits_tripped_total{limit}`, and a bystander viewer in a live room keeps receiving
//! every event meanwhile ([`Bystander`]). (Connection-level abuse: tests/abuse.rs.)

mod common;

use common::*;
use stagehand_protocol::types::Billboard;
use stagehand_protocol::{CloseCode, Command, ErrorCode, Wire};
use tokio_tungstenite::tungstenite::Message;

/// Every new limit's series is there at 0 before it first trips.
#[tokio::test]
async fn every_limit_is_in_metrics_from_the_start() {
    let hub = start().await;
    let metrics = hub.metrics().await;
    for limit in ["comment_length", "rooms_per_connection", "frame_size", "body_size"] {
        assert_eq!(tripped(&metrics, limit), 0, "{limit}");
    }
}

/// Comments over `max_comment_chars` are `invalid` and counted; at the limit they are published.
#[tokio::test]
async fn comments_over_the_length_limit_are_refused_and_counted() {
    let hub = start_with(|c| {
        c.max_comment_chars = 40;
        c.comment_burst = 100;
    })
    .await;
    let mut bystander = Bystander::join(&hub).await;
    let (_creator, mut watcher) = live_room(&hub, Wire::MsgPack, "wordy", "wordy-creator").await;
    let mut spammer = hub.viewer(Wire::Json, "long-winded").await;
    let room = "wordy".to_string();
    ok_snapshot(spammer.request(Command::Join { room: room.clone(), since: None }).await.unwrap());
    for _ in 0..5 {
        let long = Command::Comment { room: room.clone(), text: "é, ".repeat(14) };
        assert_error(&spammer.request(long).await.unwrap(), ErrorCode::Invalid);
        bystander.sees_every_event(&hub, 1).await;
    }
    // 40 characters (not a run of one character, which the spam checks hold).
    let fits = Command::Comment { room: room.clone(), text: format!("{}é", "é, ".repeat(13)) };
    assert_ok(&spammer.request(fits).await.unwrap());
    assert_eq!(watcher.next_non_count_event().await.unwrap().body.name(), "comment");
    bystander.sees_every_event(&hub, 2).await;
    assert_eq!(tripped(&hub.metrics().await, "comment_length"), 5);
}

/// Titles and billboard fields have their settings too (not counted: only staff send them).
#[tokio::test]
async fn title_and_billboard_lengths_are_settings() {
    let hub = start_with(|c| {
        c.max_title_chars = 10;
        c.max_billboard_field_chars = 20;
    })
    .await;
    let mut creator = hub.creator(Wire::Json, "titled").await;
    let start =
        |title: &str| Command::StartRoom { room: "titled-room".into(), title: Some(title.into()), event_id: None };
    assert_error(&creator.request(start("eleven char")).await.unwrap(), ErrorCode::Invalid);
    ok_snapshot(creator.request(start("ten chars!")).await.unwrap());
    let billboard = |title: String| Command::DeployBillboard {
        room: "titled-room".into(),
        billboard: Billboard {
            billboard_id: "bb".into(),
            title,
            text: None,
            image_url: None,
            link_url: None,
            duration_ms: None,
            expires_at: None,
        },
    };
    assert_error(&creator.request(billboard("x".repeat(21))).await.unwrap(), ErrorCode::Invalid);
    assert_ok(&creator.request(billboard("x".repeat(20))).await.unwrap());
    let spec = serde_json::json!({"creator_id": "c", "creator_name": "C", "title": "eleven char"});
    let (status, body) = hub.api_put("/api/v1/rooms/long-title", spec).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid")));
}

/// A connection joining room after room stops at `max_rooms_per_connection` (`unavailable`,
/// counted); leaving one makes room for another.
#[tokio::test]
async fn one_connection_cannot_join_more_rooms_than_its_limit() {
    let hub = start_with(|c| {
        c.max_rooms_per_connection = 2;
        c.join_burst = 100;
    })
    .await;
    let mut bystander = Bystander::join(&hub).await;
    let mut creators = Vec::new();
    for i in 0..4 {
        let (creator, _viewer) = live_room(&hub, Wire::MsgPack, &format!("hop-{i}"), &format!("hop-creator-{i}")).await;
        creators.push(creator);
    }
    let mut hopper = hub.viewer(Wire::Json, "hopper").await;
    for i in 0..2 {
        ok_snapshot(hopper.request(Command::Join { room: format!("hop-{i}"), since: None }).await.unwrap());
    }
    for i in 2..4 {
        let join = Command::Join { room: format!("hop-{i}"), since: None };
        assert_error(&hopper.request(join).await.unwrap(), ErrorCode::Unavailable);
        bystander.sees_every_event(&hub, 1).await;
    }
    let join = Command::Join { room: Bystander::ROOM.into(), since: None };
    assert_error(&hopper.request(join).await.unwrap(), ErrorCode::Unavailable);
    assert_ok(&hopper.request(Command::Leave { room: "hop-0".into() }).await.unwrap());
    ok_snapshot(hopper.request(Command::Join { room: "hop-2".into(), since: None }).await.unwrap());
    bystander.sees_every_event(&hub, 2).await;
    assert_eq!(tripped(&hub.metrics().await, "rooms_per_connection"), 3);
}

/// Frames over `max_frame_bytes` are `too_large` (the connection goes on), and beyond 4× the
/// limit closed with 1009; each is counted, in both formats.
#[tokio::test]
async fn oversize_frames_are_refused_closed_and_counted() {
    let hub = start_with(|c| c.max_frame_bytes = 1024).await;
    let mut bystander = Bystander::join(&hub).await;
    for wire in Wire::BOTH {
        let mut client = hub.viewer(wire, "bulky").await;
        let oversize = match wire {
            Wire::Json => Message::Text("x".repeat(2000).into()),
            Wire::MsgPack => Message::Binary(vec![b'x'; 2000].into()),
        };
        client.send_raw(oversize).await.unwrap();
        assert_error(&client.reply_to(None).await.unwrap(), ErrorCode::TooLarge);
        assert_ok(&client.request(Command::Ping).await.unwrap());
        bystander.sees_every_event(&hub, 1).await;
        let giant = match wire {
            Wire::Json => Message::Text("x".repeat(8 * 1024).into()),
            Wire::MsgPack => Message::Binary(vec![0u8; 8 * 1024].into()),
        };
        client.send_raw(giant).await.unwrap();
        assert_eq!(client.closed().await.unwrap().0, CloseCode::MESSAGE_TOO_BIG.0);
        bystander.sees_every_event(&hub, 1).await;
    }
    assert_eq!(tripped(&hub.metrics().await, "frame_size"), 4);
}

/// Bodies over `max_body_bytes` get 413 `too_large` on every kind of endpoint, each counted.
#[tokio::test]
async fn bodies_over_the_limit_get_413_and_are_counted() {
    let hub = start_with(|c| c.max_body_bytes = 1024).await;
    let mut bystander = Bystander::join(&hub).await;
    let big = "x".repeat(2048);
    let publish = serde_json::json!({"type": "activity", "kind": "k", "text": big});
    let (status, body) = hub.publish(Bystander::ROOM, publish).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("too_large")));
    bystander.sees_every_event(&hub, 1).await;
    let spec = serde_json::json!({"creator_id": "c", "creator_name": big, "title": "T"});
    let (status, _) = hub.api_put("/api/v1/rooms/big-room", spec).await;
    assert_eq!(status, 413);
    bystander.sees_every_event(&hub, 1).await;
    assert_eq!(tripped(&hub.metrics().await, "body_size"), 2);
}
