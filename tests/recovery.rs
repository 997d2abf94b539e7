//! Recovery after a reconnect: a client that rejoins with `since` gets every event it missed, in
//! order, exactly once, then live ones — or `recovered: false` with a fresh snapshot when the hub
//! cannot give them all. Real hub, real sockets, both wire formats.

mod common;

use common::*;
use stagehand::client::Client;
use stagehand_protocol::client::Since;
use stagehand_protocol::server::{Control, Event, EventBody, ReplyResult, ServerMessage};
use stagehand_protocol::types::{Billboard, Snapshot};
use stagehand_protocol::{Command, Wire};

fn since(snapshot_or_event: (u64, &str), staff_seq: Option<u64>) -> Option<Since> {
    Some(Since { seq: snapshot_or_event.0, epoch: snapshot_or_event.1.to_string(), staff_seq })
}

async fn join(client: &mut Client, room: &str, since: Option<Since>) -> Snapshot {
    ok_snapshot(client.request(Command::Join { room: room.into(), since }).await.unwrap())
}

/// A hub whose comment budget does not get in the way of these tests.
async fn hub_with(tweak: impl FnOnce(&mut stagehand::Config)) -> TestHub {
    start_with(|c| {
        c.comment_burst = 1_000;
        tweak(c);
    })
    .await
}

fn billboard(id: &str) -> Billboard {
    Billboard {
        billboard_id: id.into(),
        title: "Deal".into(),
        text: None,
        image_url: None,
        link_url: None,
        ..Default::default()
    }
}

/// The next `n` events, asserting nothing else (but viewer counts) arrives in between.
async fn next_events(client: &mut Client, n: usize) -> Vec<Event> {
    events(client, n).await
}

#[tokio::test]
async fn a_viewer_that_rejoins_with_since_gets_every_missed_event_in_order_then_live_ones() {
    for wire in Wire::BOTH {
        let hub = hub_with(|_| {}).await;
        let room = "r-recover";
        let (mut creator, mut viewer) = live_room(&hub, wire, room, "cara").await;
        assert_ok(&creator.request(Command::Comment { room: room.into(), text: "first".into() }).await.unwrap());
        let seen = next_events(&mut viewer, 1).await;
        let (last_seq, epoch) = (seen[0].seq, creator_epoch(&mut creator, room).await);
        viewer.close().await;

        // While the viewer is away: comments, an order, a billboard, a deleted comment.
        let mut missed_ids = Vec::new();
        for i in 0..5 {
            let text = format!("missed {i}");
            let reply = creator.request(Command::Comment { room: room.into(), text }).await.unwrap();
            let Some(ReplyResult::Comment { comment_id, .. }) = reply.result else { panic!("{reply:?}") };
            missed_ids.push(comment_id);
        }
        assert_eq!(hub.publish(room, order("o-away")).await.0, 202);
        let bb = Command::DeployBillboard { room: room.into(), billboard: billboard("b1") };
        assert_ok(&creator.request(bb).await.unwrap());
        assert_ok(
            &creator.request(Command::DeleteComment { room: room.into(), comment_id: missed_ids[0] }).await.unwrap(),
        );

        let mut back = hub.viewer(wire, "r-recover-viewer").await;
        let snap = join(&mut back, room, since((last_seq, &epoch), None)).await;
        assert_eq!(snap.recovered, Some(true));
        assert_eq!(snap.epoch, epoch);
        assert_eq!(snap.seq, last_seq + 8, "the snapshot is the room now");
        let missed = next_events(&mut back, 8).await;
        let seqs: Vec<u64> = missed.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, ((last_seq + 1)..=(last_seq + 8)).collect::<Vec<_>>(), "every missed event, in order");
        assert_eq!(
            names(&missed),
            ["comment", "comment", "comment", "comment", "comment", "order", "billboard", "comment_deleted"]
        );
        // Then live ones, with no duplicate in between.
        assert_ok(&creator.request(Command::Comment { room: room.into(), text: "live".into() }).await.unwrap());
        let live = next_events(&mut back, 1).await;
        assert_eq!(live[0].seq, last_seq + 9);
        assert!(matches!(&live[0].body, EventBody::Comment { text, .. } if text == "live"));
    }
}

/// The room's epoch, as the creator's fresh join snapshot shows it.
async fn creator_epoch(creator: &mut Client, room: &str) -> String {
    join(creator, room, None).await.epoch
}

#[tokio::test]
async fn staff_recover_their_staff_only_events_too() {
    for wire in Wire::BOTH {
        let hub = start().await;
        let room = "r-staff-recover";
        let (mut creator, _viewer) = live_room(&hub, wire, room, "cara").await;
        hub.grant("cara", "acme", None, DAY).await;
        let mut sam = hub.agency(wire, "sam", "acme", "cara").await;
        let snap = join(&mut sam, room, None).await;
        let own = next_events(&mut sam, 1).await; // its own staff_joined
        let (seq, staff_seq) = (own[0].seq, own[0].staff_seq.unwrap());
        sam.close().await;
        // The creator sees sam leave; meanwhile kim joins and comments.
        let left = next_events(&mut creator, 2).await;
        assert_eq!(names(&left), ["staff_joined", "staff_left"]);
        let mut kim = hub.agency(wire, "kim", "acme", "cara").await;
        join(&mut kim, room, None).await;
        assert_ok(&kim.request(Command::Comment { room: room.into(), text: "hi".into() }).await.unwrap());

        let mut back = hub.agency(wire, "sam", "acme", "cara").await;
        let rejoined = join(&mut back, room, since((seq, &snap.epoch), Some(staff_seq))).await;
        assert_eq!(rejoined.recovered, Some(true));
        let missed = next_events(&mut back, 4).await;
        assert_eq!(names(&missed), ["staff_left", "staff_joined", "comment", "staff_joined"]);
        let staff_seqs: Vec<Option<u64>> = missed.iter().map(|e| e.staff_seq).collect();
        assert_eq!(staff_seqs, [Some(staff_seq + 1), Some(staff_seq + 2), None, Some(staff_seq + 3)]);
        // Staff without `since.staff_seq` cannot recover exactly: a fresh snapshot instead.
        let mut other = hub.agency(wire, "lee", "acme", "cara").await;
        let fresh = join(&mut other, room, since((seq, &snap.epoch), None)).await;
        assert_eq!(fresh.recovered, Some(false));
    }
}

#[tokio::test]
async fn a_gap_that_left_the_history_gets_a_fresh_snapshot() {
    for wire in Wire::BOTH {
        let hub = hub_with(|c| c.history_size = 5).await;
        let room = "r-evicted";
        let (mut creator, mut viewer) = live_room(&hub, wire, room, "cara").await;
        let snap = join(&mut viewer, room, None).await;
        viewer.close().await;
        for i in 0..6 {
            let text = format!("c{i}");
            assert_ok(&creator.request(Command::Comment { room: room.into(), text }).await.unwrap());
        }
        let mut back = hub.viewer(wire, "back").await;
        let fresh = join(&mut back, room, since((snap.seq, &snap.epoch), None)).await;
        assert_eq!(fresh.recovered, Some(false));
        assert_eq!(fresh.seq, snap.seq + 6, "the snapshot is the room now");
        // Nothing old follows: the next event is the next live one.
        assert_ok(&creator.request(Command::Comment { room: room.into(), text: "live".into() }).await.unwrap());
        assert_eq!(next_events(&mut back, 1).await[0].seq, fresh.seq + 1);
        // A gap still inside the history recovers.
        let mut near = hub.viewer(wire, "near").await;
        let recovered = join(&mut near, room, since((fresh.seq - 2, &snap.epoch), None)).await;
        assert_eq!(recovered.recovered, Some(true));
        let seqs: Vec<u64> = next_events(&mut near, 3).await.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [fresh.seq - 1, fresh.seq, fresh.seq + 1]);
        // A position from another epoch, or ahead of the room, is not recovered.
        let mut stranger = hub.viewer(wire, "stranger").await;
        assert_eq!(join(&mut stranger, room, since((1, "other-epoch"), None)).await.recovered, Some(false));
        let ahead = join(&mut stranger, room, since((fresh.seq + 100, &snap.epoch), None)).await;
        assert_eq!(ahead.recovered, Some(false));
    }
}

#[tokio::test]
async fn history_older_than_its_age_limit_is_not_replayed() {
    let hub = start_with(|c| c.history_ttl_ms = 0).await;
    let room = "r-aged";
    let (mut creator, mut viewer) = live_room(&hub, Wire::Json, room, "cara").await;
    let snap = join(&mut viewer, room, None).await;
    assert_ok(&creator.request(Command::Comment { room: room.into(), text: "old".into() }).await.unwrap());
    // With a zero age limit nothing stays in history once time has moved on at all.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut back = hub.viewer(Wire::Json, "back").await;
        let again = join(&mut back, room, since((snap.seq, &snap.epoch), None)).await;
        if again.recovered == Some(false) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "history never expired");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn after_a_hub_restart_the_epoch_changes_and_joins_get_a_fresh_snapshot() {
    let mut hub = start().await;
    let dir = hub.dir.path().to_path_buf();
    let room = "r-restart";
    let (_creator, mut viewer) = live_room(&hub, Wire::MsgPack, room, "cara").await;
    let before = join(&mut viewer, room, None).await;
    hub.shutdown().await;

    let again = start_with(|c| c.data_dir = dir).await;
    let (_creator, _v) = live_room(&again, Wire::MsgPack, room, "cara").await;
    let mut back = again.viewer(Wire::MsgPack, "back").await;
    let fresh = join(&mut back, room, since((before.seq, &before.epoch), None)).await;
    assert_ne!(fresh.epoch, before.epoch);
    assert_eq!(fresh.recovered, Some(false));
}

#[tokio::test]
async fn a_room_forgotten_and_created_again_has_a_new_epoch() {
    let hub = start_with(|c| c.ended_room_ttl_ms = 0).await;
    let room = "r-again";
    let (mut creator, _viewer) = live_room(&hub, Wire::Json, room, "cara").await;
    let first = join(&mut creator, room, None).await;
    assert_ok(&creator.request(Command::EndRoom { room: room.into() }).await.unwrap());
    // The ended room is forgotten at the next housekeeping tick; then the id is free again.
    let second = loop {
        let reply =
            creator.request(Command::StartRoom { room: room.into(), title: None, event_id: None }).await.unwrap();
        if reply.ok {
            break ok_snapshot(reply);
        }
        tokio::task::yield_now().await;
    };
    assert_ne!(second.epoch, first.epoch);
    let mut late = hub.viewer(Wire::Json, "late").await;
    assert_eq!(join(&mut late, room, since((first.seq, &first.epoch), None)).await.recovered, Some(false));
}

/// A join without `since` has no `recovered` field; the reply comes before any event.
#[tokio::test]
async fn a_plain_join_has_no_recovered_field_and_its_reply_comes_first() {
    let hub = start().await;
    let room = "r-plain";
    let (mut creator, _viewer) = live_room(&hub, Wire::Json, room, "cara").await;
    let mut v = hub.viewer(Wire::Json, "v").await;
    let id = v.send(Command::Join { room: room.into(), since: None }).await.unwrap();
    assert_ok(&creator.request(Command::Comment { room: room.into(), text: "x".into() }).await.unwrap());
    match v.next().await.unwrap() {
        ServerMessage::Control(Control::Reply(reply)) => {
            assert_eq!(reply.id, Some(id));
            assert_eq!(ok_snapshot(reply).recovered, None);
        }
        other => panic!("expected the join reply first, got {other:?}"),
    }
}
