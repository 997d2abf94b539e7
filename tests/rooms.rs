//! Rooms end to end: a real hub, real WebSocket clients, both wire formats.

mod common;

use common::*;
use stagehand_protocol::server::{EndReason, EventBody, ReplyResult};
use stagehand_protocol::types::RoomState;
use stagehand_protocol::{Command, ErrorCode, Wire};

#[tokio::test]
async fn creator_starts_and_ends_a_room_and_everyone_sees_events_in_seq_order() {
    for wire in Wire::BOTH {
        let hub = start().await;
        let room = "live-1";
        // A viewer may join a room that is scheduled but not live yet.
        let (status, _) = hub
            .api_put(
                &format!("/api/v1/rooms/{room}"),
                serde_json::json!({"creator_id": "cara", "creator_name": "Cara", "title": "Soon"}),
            )
            .await;
        assert_eq!(status, 200);
        let mut early = hub.viewer(wire, "early").await;
        let snap = ok_snapshot(early.request(Command::Join { room: room.into(), since: None }).await.unwrap());
        assert_eq!(snap.state, RoomState::Scheduled);
        assert!(snap.staff.is_none(), "viewers get no staff list");

        let mut creator = hub.creator(wire, "cara").await;
        let snap = ok_snapshot(
            creator.request(Command::StartRoom { room: room.into(), title: None, event_id: None }).await.unwrap(),
        );
        assert_eq!(snap.state, RoomState::Live);
        hub.grant("cara", "acme", None, DAY).await;
        let mut agency = hub.agency(wire, "sam", "acme", "cara").await;
        ok_snapshot(agency.request(Command::Join { room: room.into(), since: None }).await.unwrap());

        assert_ok(&early.request(Command::Comment { room: room.into(), text: "hello".into() }).await.unwrap());
        let (status, body) = hub.publish(room, order("o-1")).await;
        assert_eq!(status, 202, "{body}");
        assert_ok(
            &creator.request(Command::DeployBillboard { room: room.into(), billboard: billboard("b1") }).await.unwrap(),
        );
        assert_ok(&creator.request(Command::EndRoom { room: room.into() }).await.unwrap());

        let viewer_events = events(&mut early, 5).await;
        assert_eq!(names(&viewer_events), ["room_started", "comment", "order", "billboard", "room_ended"]);
        let seqs: Vec<u64> = viewer_events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5], "gap-free and increasing");
        assert!(matches!(viewer_events[4].body, EventBody::RoomEnded { reason: EndReason::Creator }));

        // The agency joined after room_started (its own arrival is a staff-only event that repeats
        // the latest seq); it sees the rest in the same order, and with `analytics` the order's
        // full feed entry right after it.
        let agency_events: Vec<_> = events(&mut agency, 6).await.into_iter().map(|e| (e.seq, e.body.name())).collect();
        assert_eq!(
            agency_events,
            [(1, "staff_joined"), (2, "comment"), (3, "order"), (3, "feed_item"), (4, "billboard"), (5, "room_ended")]
        );

        // After room_ended nobody is a member; a late joiner sees the ended state.
        let mut late = hub.viewer(wire, "late").await;
        let snap = ok_snapshot(late.request(Command::Join { room: room.into(), since: None }).await.unwrap());
        assert_eq!((snap.state, snap.seq), (RoomState::Ended, 5));
        assert_error(
            &late.request(Command::Comment { room: room.into(), text: "hi".into() }).await.unwrap(),
            ErrorCode::NotLive,
        );
    }
}

#[tokio::test]
async fn only_the_creator_may_start_or_end_its_room() {
    for wire in Wire::BOTH {
        let hub = start().await;
        let room = "r-guard";
        hub.grant("cara", "acme", None, DAY).await;
        let mut viewer = hub.viewer(wire, "vic").await;
        let mut agency = hub.agency(wire, "sam", "acme", "cara").await;
        let mut other_creator = hub.creator(wire, "otto").await;
        // Nobody but cara may start cara's room, even before it exists.
        assert_error(
            &agency.request(Command::StartRoom { room: room.into(), title: None, event_id: None }).await.unwrap(),
            ErrorCode::Forbidden,
        );
        assert_error(
            &viewer.request(Command::StartRoom { room: room.into(), title: None, event_id: None }).await.unwrap(),
            ErrorCode::Forbidden,
        );
        let (status, _) = hub.api_get(&format!("/api/v1/rooms/{room}")).await;
        assert_eq!(status, 404, "refused starts create nothing");

        let mut cara = hub.creator(wire, "cara").await;
        ok_snapshot(cara.request(Command::StartRoom { room: room.into(), title: None, event_id: None }).await.unwrap());
        for client in [&mut viewer, &mut agency, &mut other_creator] {
            ok_snapshot(client.request(Command::Join { room: room.into(), since: None }).await.unwrap());
            assert_error(&client.request(Command::EndRoom { room: room.into() }).await.unwrap(), ErrorCode::Forbidden);
            assert_error(
                &client.request(Command::StartRoom { room: room.into(), title: None, event_id: None }).await.unwrap(),
                ErrorCode::Forbidden,
            );
        }
        let (_, snapshot) = hub.api_get(&format!("/api/v1/rooms/{room}")).await;
        assert_eq!(snapshot["state"], "live", "the room is unchanged");
        // Viewers and other creators may not operate it either.
        assert_error(
            &viewer.request(Command::DeployBillboard { room: room.into(), billboard: billboard("x") }).await.unwrap(),
            ErrorCode::Forbidden,
        );
        assert_error(
            &other_creator.request(Command::RemoveBillboard { room: room.into() }).await.unwrap(),
            ErrorCode::Forbidden,
        );
        let metrics = hub.metrics().await;
        assert!(metrics.contains("stagehand_errors_total{code=\"forbidden\"} 10"), "{metrics}");
    }
}

#[tokio::test]
async fn viewers_see_agency_actions_as_the_creators_and_staff_see_the_real_actor() {
    for wire in Wire::BOTH {
        let hub = start().await;
        let room = "r-staff";
        let (mut creator, mut viewer) = live_room(&hub, wire, room, "cara").await;
        hub.grant("cara", "acme", None, DAY).await;
        let mut agency = hub.agency(wire, "sam", "acme", "cara").await;
        let snap = ok_snapshot(agency.request(Command::Join { room: room.into(), since: None }).await.unwrap());
        // The joiner's snapshot comes before its own arrival, which it then receives like every
        // staff member, with the next staff_seq (never the snapshot's).
        assert_eq!((snap.staff.as_ref().map(|s| s.len()), snap.staff_seq), (Some(0), Some(0)));
        let own = agency.next_non_count_event().await.unwrap();
        assert_eq!((own.body.name(), own.staff_seq), ("staff_joined", Some(1)));
        // Joining again on the same connection announces nothing and shows the staff member.
        let again = ok_snapshot(agency.request(Command::Join { room: room.into(), since: None }).await.unwrap());
        assert_eq!((again.staff.as_ref().map(|s| s.len()), again.staff_seq), (Some(1), Some(1)));

        // The creator is told staff joined; viewers are not.
        let joined = creator.next_non_count_event().await.unwrap();
        match &joined.body {
            EventBody::StaffJoined { staff } => {
                assert_eq!((staff.staff_id.as_str(), staff.agency_id.as_str()), ("sam", "acme"));
            }
            other => panic!("expected staff_joined, got {other:?}"),
        }
        assert_eq!(joined.staff_seq, Some(1));

        assert_ok(&agency.request(Command::Comment { room: room.into(), text: "welcome all".into() }).await.unwrap());
        assert_ok(
            &agency.request(Command::DeployBillboard { room: room.into(), billboard: billboard("b") }).await.unwrap(),
        );
        let reply = viewer.request(Command::Comment { room: room.into(), text: "spam".into() }).await.unwrap();
        let Some(ReplyResult::Comment { comment_id, .. }) = reply.result else { panic!("{reply:?}") };
        assert_ok(&agency.request(Command::DeleteComment { room: room.into(), comment_id }).await.unwrap());
        agency.close().await;

        let seen = events(&mut viewer, 4).await;
        assert_eq!(names(&seen), ["comment", "billboard", "comment", "comment_deleted"]);
        for event in &seen {
            let text =
                String::from_utf8(stagehand_protocol::codec::encode(Wire::Json, event).unwrap().to_vec()).unwrap();
            assert!(
                !text.contains("sam") && !text.contains("acme") && !text.contains("operator"),
                "viewer saw staff: {text}"
            );
        }
        match &seen[0].body {
            EventBody::Comment { author, .. } => assert_eq!(author.id, "cara"),
            other => panic!("{other:?}"),
        }
        match &seen[3].body {
            EventBody::CommentDeleted { by, .. } => assert_eq!(by.id, "cara"),
            other => panic!("{other:?}"),
        }

        let staff_view = events(&mut creator, 5).await;
        assert_eq!(names(&staff_view), ["comment", "billboard", "comment", "comment_deleted", "staff_left"]);
        match &staff_view[1].body {
            EventBody::Billboard { by, operator: Some(op), .. } => {
                assert_eq!((by.id.as_str(), op.staff_id.as_str()), ("cara", "sam"));
            }
            other => panic!("the creator sees the real actor: {other:?}"),
        }
        // Staff-only events keep the room seq gap-free for viewers.
        assert_eq!(staff_view[4].seq, staff_view[3].seq);
        assert_eq!(staff_view[4].staff_seq, Some(2));
    }
}

#[tokio::test]
async fn a_late_joiner_gets_a_snapshot_of_the_current_state() {
    let hub = start().await;
    let room = "r-snap";
    let (mut creator, _viewer) = live_room(&hub, Wire::MsgPack, room, "cara").await;
    assert_ok(
        &creator.request(Command::DeployBillboard { room: room.into(), billboard: billboard("b9") }).await.unwrap(),
    );
    let mut late = hub.viewer(Wire::Json, "late").await;
    let snap = ok_snapshot(late.request(Command::Join { room: room.into(), since: None }).await.unwrap());
    assert_eq!(snap.state, RoomState::Live);
    assert_eq!(snap.billboard.map(|b| b.billboard_id), Some("b9".into()));
    assert_eq!(snap.viewer_count, 2);
    assert_eq!(snap.seq, 2);
    // The next event it receives follows the snapshot's seq.
    hub.publish(room, order("o")).await;
    assert_eq!(late.next_non_count_event().await.unwrap().seq, 3);
}

#[tokio::test]
async fn viewer_counts_are_broadcast_when_they_change() {
    let hub = start_with(|c| c.viewer_count_interval_ms = 50).await;
    let (_creator, mut viewer) = live_room(&hub, Wire::Json, "r-count", "cara").await;
    let mut second = hub.viewer(Wire::MsgPack, "v2").await;
    ok_snapshot(second.request(Command::Join { room: "r-count".into(), since: None }).await.unwrap());
    loop {
        let event = viewer.next_event().await.unwrap();
        if let EventBody::ViewerCount { count: 2 } = event.body {
            assert_eq!(event.seq, 1, "viewer counts repeat the latest seq");
            break;
        }
    }
}

#[tokio::test]
async fn backend_events_need_the_api_key_a_live_room_and_a_known_type() {
    let hub = start().await;
    let url = format!("{}/api/v1/rooms/r-api/events", hub.http_url);
    let status = hub.http.post(&url).json(&order("o")).send().await.unwrap().status();
    assert_eq!(status, 401);
    let status = hub.http.post(&url).bearer_auth("wrong").json(&order("o")).send().await.unwrap().status();
    assert_eq!(status, 401);
    let (status, body) = hub.publish("r-api", order("o")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));

    hub.api_put("/api/v1/rooms/r-api", serde_json::json!({"creator_id": "c", "creator_name": "C", "title": "T"})).await;
    let (status, body) = hub.publish("r-api", order("o")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("not_live")));

    let (_c, _v) = live_room(&hub, Wire::Json, "r-live", "c2").await;
    let (status, body) = hub.publish("r-live", serde_json::json!({"type": "room_ended", "reason": "creator"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid")));
    let (status, body) = hub.publish("r-live", serde_json::json!({"type": "order"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid")));
    let big = "x".repeat(100 * 1024);
    let (status, body) = hub.publish("r-live", serde_json::json!({"type": "activity", "kind": "k", "text": big})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("too_large")));
    let (status, body) =
        hub.publish("r-live", serde_json::json!({"type": "activity", "kind": "follow", "text": "Ann followed"})).await;
    assert_eq!((status, body["seq"].as_u64()), (202, Some(2)));
}
