//! Bad input, bad tokens, slow consumers and floods: each gets its stable code, is counted, and
//! never disturbs another connection. (Timeouts, expiries and heartbeats are in `timing.rs`, on
//! paused time; shutdown is in `ops.rs`.)

mod common;

use common::*;
use futures::StreamExt;
use stagehand::client::{Auth, Client, ClientError};
use stagehand_protocol::server::{Event, EventBody, ReplyResult, ServerMessage};
use stagehand_protocol::types::{Billboard, Role};
use stagehand_protocol::{Claims, CloseCode, Command, ErrorCode, Wire};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn missing_bad_and_expired_tokens_are_refused_with_their_close_codes() {
    let hub = start().await;
    let expired = hub.token_with(claims("v", Role::Viewer, now_secs() - 3600));
    let forged = stagehand::auth::TokenKeys::new("not-the-secret", 0)
        .sign(&claims("v", Role::Viewer, now_secs() + 3600))
        .unwrap();
    let agency_without_creator = hub.token_with(Claims {
        sub: "s".into(),
        name: "S".into(),
        role: Role::Agency,
        exp: now_secs() + 3600,
        agency: Some("acme".into()),
        agency_name: None,
        creator: None,
    });
    for wire in Wire::BOTH {
        // (No token at all: tests/timing.rs, on paused time.)
        for (token, code) in [
            ("garbage".to_string(), CloseCode::INVALID_TOKEN),
            (forged.clone(), CloseCode::INVALID_TOKEN),
            (agency_without_creator.clone(), CloseCode::INVALID_TOKEN),
            (expired.clone(), CloseCode::TOKEN_EXPIRED),
        ] {
            // In the connect frame…
            let mut by_frame = Client::connect(&hub.ws_url, wire, Auth::None).await.unwrap();
            by_frame.send(Command::Connect { token: token.clone() }).await.unwrap();
            let (got, reason) = by_frame.closed().await.unwrap();
            assert_eq!(got, code.0, "{reason}");
            assert!(reason.starts_with(code.reason()), "{reason}");
            // …and in the Authorization header.
            let request = {
                use tokio_tungstenite::tungstenite::client::IntoClientRequest;
                let mut request = hub.ws_url.as_str().into_client_request().unwrap();
                request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
                request
            };
            let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
            let close = loop {
                match ws.next().await {
                    Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
                    Some(Ok(_)) => continue,
                    _ => break None,
                }
            };
            assert_eq!(close, Some(code.0));
        }
    }
    let metrics = hub.metrics().await;
    assert!(metrics.contains("stagehand_errors_total{code=\"unauthenticated\"}"), "{metrics}");
}

#[tokio::test]
async fn malformed_and_oversize_frames_get_errors_and_everyone_else_is_served() {
    let hub = start_with(|c| c.max_frame_bytes = 1024).await;
    let (_creator, mut bystander) = live_room(&hub, Wire::MsgPack, "r-bad", "cara").await;
    for wire in Wire::BOTH {
        let mut client = hub.viewer(wire, "mallory").await;
        ok_snapshot(client.request(Command::Join { room: "r-bad".into(), since: None }).await.unwrap());
        let bad_frames: Vec<(Message, Option<u64>, ErrorCode)> = vec![
            (Message::Binary(vec![0xc1, 0x00].into()), None, ErrorCode::Invalid),
            (Message::Text("{not json".into()), None, ErrorCode::Invalid),
            (Message::Text(r#"{"id":41,"type":"teleport"}"#.into()), Some(41), ErrorCode::Invalid),
            (Message::Text(r#"{"id":42,"type":"join","room":7}"#.into()), Some(42), ErrorCode::Invalid),
            (Message::Text(r#"{"id":43,"type":"ping"} {"id":44,"type":"ping"}"#.into()), Some(43), ErrorCode::Invalid),
            (Message::Binary(vec![b'x'; 2000].into()), None, ErrorCode::TooLarge),
        ];
        for (frame, id, code) in bad_frames {
            client.send_raw(frame).await.unwrap();
            let reply = client.reply_to(id).await.unwrap();
            assert_error(&reply, code);
        }
        // Trailing bytes after a valid MessagePack request.
        let mut bytes = stagehand_protocol::codec::encode(
            Wire::MsgPack,
            &stagehand_protocol::ClientMessage::new(45, Command::Ping),
        )
        .unwrap()
        .to_vec();
        bytes.push(0xc0);
        client.send_raw(Message::Binary(bytes.into())).await.unwrap();
        assert_error(&client.reply_to(Some(45)).await.unwrap(), ErrorCode::Invalid);
        // The connection still works.
        let reply = client.request(Command::Ping).await.unwrap();
        assert!(matches!(reply.result, Some(ReplyResult::Pong { .. })));
    }
    // Others were not touched.
    hub.publish("r-bad", order("o-after")).await;
    assert_eq!(bystander.next_non_count_event().await.unwrap().body.name(), "order");

    // A stream of garbage is closed as abuse; a frame over the hard cap is closed with 1009.
    let mut flooder = hub.viewer(Wire::Json, "flooder").await;
    for _ in 0..10 {
        flooder.send_raw(Message::Text("nope".into())).await.unwrap();
    }
    assert_eq!(flooder.closed().await.unwrap().0, CloseCode::PROTOCOL_ABUSE.0);
    let mut giant = hub.viewer(Wire::MsgPack, "giant").await;
    giant.send_raw(Message::Binary(vec![0u8; 8 * 1024].into())).await.unwrap();
    assert_eq!(giant.closed().await.unwrap().0, CloseCode::MESSAGE_TOO_BIG.0);

    hub.publish("r-bad", order("o-last")).await;
    assert_eq!(bystander.next_non_count_event().await.unwrap().body.name(), "order");
    let metrics = hub.metrics().await;
    assert!(metrics.contains("stagehand_invalid_frames_total"), "{metrics}");
    assert!(metrics.contains("stagehand_errors_total{code=\"too_large\"} 2"), "{metrics}");
}

/// A frame the WebSocket layer refuses closes that one connection with the code for its fault
/// (RFC 6455 §7.4.1), which tells the client not to reconnect; nobody else notices.
#[tokio::test]
async fn frames_that_break_the_websocket_rules_close_with_their_own_codes() {
    use tokio::io::AsyncWriteExt;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    let hub = start().await;
    let (_creator, mut bystander) = live_room(&hub, Wire::MsgPack, "r-rules", "cara").await;

    // Text that is not UTF-8: 1007.
    let mut client = hub.viewer(Wire::Json, "latin1").await;
    let not_utf8 = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    client.send_raw(Message::Frame(not_utf8)).await.unwrap();
    let (code, reason) = client.closed().await.unwrap();
    assert_eq!((code, reason.starts_with("invalid_payload")), (CloseCode::INVALID_PAYLOAD.0, true), "{reason}");

    // An unmasked frame from a client (written under the WebSocket layer, which would mask it): 1002.
    let mut client = hub.viewer(Wire::Json, "unmasked").await;
    client.socket_mut().write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    let (code, reason) = client.closed().await.unwrap();
    assert_eq!((code, reason.starts_with("protocol_error")), (CloseCode::PROTOCOL_ERROR.0, true), "{reason}");

    // Reserved bits set without an extension that defines them: 1002.
    let mut client = hub.viewer(Wire::MsgPack, "rsv").await;
    let mut frame = Frame::message(vec![0x80], OpCode::Data(Data::Binary), true);
    frame.header_mut().rsv1 = true;
    client.send_raw(Message::Frame(frame)).await.unwrap();
    assert_eq!(client.closed().await.unwrap().0, CloseCode::PROTOCOL_ERROR.0);

    for code in [CloseCode::PROTOCOL_ERROR, CloseCode::INVALID_PAYLOAD] {
        assert!(!code.should_reconnect(), "{code:?}");
    }
    hub.publish("r-rules", order("o-still")).await;
    assert_eq!(bystander.next_non_count_event().await.unwrap().body.name(), "order");
    let metrics = hub.metrics().await;
    assert!(metrics.contains("stagehand_invalid_frames_total 3"), "{metrics}");
}

/// A hub for slow-consumer tests. Small socket send buffers and a 16 KiB backlog bound, so a
/// stalled client backs up after some 100 kB. Whatever the machine's speed, its close frame waits
/// for it: the close timeout outlasts any test, and the heartbeat stays out of the way.
async fn slow_consumer_hub() -> TestHub {
    start_with(|c| {
        c.queue_max_bytes = 16 * 1024;
        c.send_buffer_bytes = 16 * 1024;
        c.close_timeout_ms = 600_000;
        c.heartbeat_ms = 600_000;
    })
    .await
}

/// Publish large orders into `room` until the hub has closed one slow consumer (polling the
/// metric, not the clock); returns how many were published.
async fn publish_until_a_slow_consumer_is_closed(hub: &TestHub, room: &str, prefix: &str) -> usize {
    let big = "y".repeat(1000);
    for published in 1..=20_000 {
        let mut body = order(&format!("{prefix}{published}"));
        body["product_name"] = big.clone().into();
        let (status, _) = hub.publish(room, body).await;
        assert_eq!(status, 202);
        if hub.metrics().await.contains("stagehand_slow_consumer_closes_total 1") {
            return published;
        }
    }
    panic!("20000 orders and the stalled client was never closed as slow");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_as_slow_recovers_with_since_and_the_others_get_everything() {
    let hub = slow_consumer_hub().await;
    let room = "r-slow";
    let (_creator, mut reader) = live_room(&hub, Wire::MsgPack, room, "cara").await;
    let mut stalled = small_window_client(&hub, hub.token("stalled", Role::Viewer)).await;
    let joined = ok_snapshot(stalled.request(Command::Join { room: room.into(), since: None }).await.unwrap());

    // The healthy reader drains concurrently and counts every order, in seq order, until the
    // closing `activity` marker.
    let reading = tokio::spawn(async move {
        let mut last_seq = 1;
        let mut orders = 0usize;
        loop {
            let event: Event = reader.next_non_count_event().await.expect("reader keeps receiving");
            assert_eq!(event.seq, last_seq + 1, "no gaps for a healthy reader");
            last_seq = event.seq;
            match event.body {
                EventBody::Order { .. } => orders += 1,
                EventBody::Activity { .. } => return orders,
                _ => {}
            }
        }
    });
    // Big orders fill the stalled client's socket, then its queue, until the hub drops it.
    let published = publish_until_a_slow_consumer_is_closed(&hub, room, "o").await;
    hub.publish(room, serde_json::json!({"type": "activity", "kind": "done", "text": "done"})).await;
    assert_eq!(reading.await.unwrap(), published, "the healthy reader got every order");
    // The stalled client, once it reads again, finds what its socket held and then the close
    // code; its unsent queue was discarded, so it did not get every order.
    let mut received = 0;
    let mut last_seq = joined.seq;
    let (code, reason) = loop {
        match stalled.next().await {
            Ok(ServerMessage::Event(Event { seq, body: EventBody::Order { .. }, .. })) => {
                received += 1;
                last_seq = seq;
            }
            Ok(_) => {}
            Err(ClientError::Closed(Some(close))) => break close,
            Err(other) => panic!("expected the close frame, got {other}"),
        }
    };
    assert_eq!(code, CloseCode::SLOW_CONSUMER.0, "{reason}");
    assert!(received < published, "{received} of {published}");

    // It comes back with `since` and gets every event it missed, in order, then live ones.
    let mut back = hub.viewer(Wire::MsgPack, "stalled").await;
    let since = stagehand_protocol::client::Since { seq: last_seq, epoch: joined.epoch.clone(), staff_seq: None };
    let rejoined = ok_snapshot(back.request(Command::Join { room: room.into(), since: Some(since) }).await.unwrap());
    assert_eq!(rejoined.recovered, Some(true));
    let mut missed = Vec::new();
    loop {
        let event = back.next_non_count_event().await.unwrap();
        missed.push(event.seq);
        if matches!(event.body, EventBody::Activity { .. }) {
            break;
        }
    }
    assert_eq!(missed, (last_seq + 1..=rejoined.seq).collect::<Vec<_>>());
    assert_eq!(received + missed.len(), published + 1);
}

#[tokio::test]
async fn staff_over_the_moderation_rate_limit_get_rate_limited_and_nothing_changes() {
    let hub = start_with(|c| {
        c.ops_rate = 0.01;
        c.ops_burst = 2;
    })
    .await;
    let room = "r-rate";
    let (_creator, mut viewer) = live_room(&hub, Wire::Json, room, "cara").await;
    hub.grant("cara", "acme", None, DAY).await;
    let mut agency = hub.agency(Wire::Json, "sam", "acme", "cara").await;
    ok_snapshot(agency.request(Command::Join { room: room.into(), since: None }).await.unwrap());
    let billboard = |id: &str| Billboard {
        billboard_id: id.into(),
        title: "t".into(),
        text: None,
        image_url: None,
        link_url: None,
        duration_ms: None,
        expires_at: None,
    };
    assert_ok(
        &agency.request(Command::DeployBillboard { room: room.into(), billboard: billboard("b1") }).await.unwrap(),
    );
    assert_ok(&agency.request(Command::RemoveBillboard { room: room.into() }).await.unwrap());
    let reply =
        agency.request(Command::DeployBillboard { room: room.into(), billboard: billboard("b2") }).await.unwrap();
    assert_error(&reply, ErrorCode::RateLimited);
    assert!(reply.error.unwrap().retry_after_ms.unwrap() > 1000);
    let (_, snapshot) = hub.api_get(&format!("/api/v1/rooms/{room}")).await;
    assert!(snapshot.get("billboard").is_none(), "nothing was applied: {snapshot}");
    let seen = events(&mut viewer, 2).await;
    assert_eq!(names(&seen), ["billboard", "billboard"]);
    let metrics = hub.metrics().await;
    assert!(metrics.contains("stagehand_rate_limited_total{limit=\"operation\"} 1"), "{metrics}");
}

#[tokio::test]
async fn comments_are_rate_limited() {
    let hub = start_with(|c| {
        c.comment_rate = 0.01;
        c.comment_burst = 3;
    })
    .await;
    let (_creator, mut viewer) = live_room(&hub, Wire::MsgPack, "r-chat", "cara").await;
    for _ in 0..3 {
        assert_ok(&viewer.request(Command::Comment { room: "r-chat".into(), text: "hi".into() }).await.unwrap());
    }
    let reply = viewer.request(Command::Comment { room: "r-chat".into(), text: "hi".into() }).await.unwrap();
    assert_error(&reply, ErrorCode::RateLimited);
}

#[tokio::test]
async fn agency_staff_dropped_as_slow_consumers_are_seen_leaving() {
    let hub = slow_consumer_hub().await;
    let room = "r-slow-staff";
    let (mut creator, viewer) = live_room(&hub, Wire::MsgPack, room, "cara").await;
    viewer.close().await; // only the agency console stalls
    hub.grant("cara", "acme", None, DAY).await;
    let mut stalled = small_window_client(&hub, hub.agency_token("sam", "acme", "cara")).await;
    ok_snapshot(stalled.request(Command::Join { room: room.into(), since: None }).await.unwrap());
    // The creator reads everything; the agency console stops reading.
    let watching = tokio::spawn(async move {
        loop {
            let event = creator.next_non_count_event().await.expect("the creator keeps receiving");
            if let EventBody::StaffLeft { staff } = event.body {
                return staff.staff_id;
            }
        }
    });
    publish_until_a_slow_consumer_is_closed(&hub, room, "s").await;
    assert_eq!(watching.await.unwrap(), "sam");
    assert_eq!(stalled.closed().await.unwrap().0, CloseCode::SLOW_CONSUMER.0);
    // …and in the creator's inbox: a fresh connection gets it pushed (unread, or live).
    let mut creator = hub.creator(Wire::MsgPack, "cara").await;
    let staff_left = notification_of(&mut creator, "staff_left");
    let n =
        tokio::time::timeout(std::time::Duration::from_secs(10), staff_left).await.expect("a staff_left notification");
    assert_eq!(n.data["staff_id"], "sam");
}
