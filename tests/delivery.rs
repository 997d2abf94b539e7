//! The delivery path from outside: the per-connection byte bound, what gives way under pressure
//! (counters coalesce, droppable events are shed, state never is), and backpressure on requests —
//! each with a bystander in the same room that keeps receiving everything.

mod common;

use common::*;
use stagehand::client::Client;
use stagehand_protocol::server::{Control, Event, EventBody, ServerMessage};
use stagehand_protocol::types::Role;
use stagehand_protocol::{codec, ClientMessage, Command, Wire};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;

const BOUND: usize = 64 * 1024;

/// Read `client`'s room events until an `order` (the marker every test ends with); returns all
/// of them, the marker last.
fn read_until_order(mut client: Client) -> JoinHandle<Vec<Event>> {
    tokio::spawn(async move {
        let mut events = Vec::new();
        loop {
            let event = client.next_event().await.expect("keeps receiving");
            let done = matches!(event.body, EventBody::Order { .. });
            events.push(event);
            if done {
                return events;
            }
        }
    })
}

fn activity(n: usize, size: usize) -> serde_json::Value {
    serde_json::json!({"type": "activity", "kind": "flood", "text": format!("{n:06}{}", "a".repeat(size))})
}

/// A counter's value from `/metrics`.
async fn metric(hub: &TestHub, name: &str) -> u64 {
    let metrics = hub.metrics().await;
    let line = metrics.lines().find(|l| l.starts_with(&format!("{name} "))).expect("the metric exists");
    line[name.len() + 1..].trim().parse().unwrap()
}

/// The encoded size of what a client received, in MessagePack.
fn wire_bytes(events: &[Event]) -> usize {
    events.iter().map(|e| codec::encode(Wire::MsgPack, &ServerMessage::Event(e.clone())).unwrap().len()).sum()
}

#[tokio::test]
async fn a_reader_that_stops_holds_at_most_the_bound_and_droppable_events_give_way_to_state() {
    let hub = start_with(|c| {
        c.queue_max_bytes = BOUND;
        c.send_buffer_bytes = 16 * 1024;
    })
    .await;
    let room = "r-bound";
    let (_creator, bystander) = live_room(&hub, Wire::MsgPack, room, "cara").await;
    let mut stalled = small_window_client(&hub, hub.token("stalled", Role::Viewer)).await;
    ok_snapshot(stalled.request(Command::Join { room: room.into(), since: None }).await.unwrap());
    let watching = read_until_order(bystander);

    // Far more droppable traffic than the bound, while `stalled` reads nothing; then one state
    // event.
    let flood = 400;
    for n in 0..flood {
        assert_eq!(hub.publish(room, activity(n, 1000)).await.0, 202);
    }
    assert_eq!(hub.publish(room, order("marker")).await.0, 202);

    // The bystander got everything, in order.
    let seen = watching.await.unwrap();
    assert_eq!(seen.len(), flood + 1);
    assert!(seen.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    // The stalled reader gets what the kernel and its backlog held — at most the bound plus the
    // socket buffers (16 KiB configured, which Linux doubles, and its 4 KiB window, likewise) —
    // and then the state event, which shed droppable events to fit: never dropped, not closed.
    let got = read_until_order(stalled).await.unwrap();
    let kernel = 2 * 16 * 1024 + 2 * 4096 + 16 * 1024;
    assert!(wire_bytes(&got) <= BOUND + kernel, "{} bytes held for a reader that stopped", wire_bytes(&got));
    assert!(got.len() < flood, "droppable events were shed ({} of {flood} arrived)", got.len() - 1);
    assert!(got.windows(2).all(|w| w[1].seq > w[0].seq), "what arrives is in order");
    assert!(metric(&hub, "stagehand_dropped_events_total").await > 0);
    assert_eq!(metric(&hub, "stagehand_slow_consumer_closes_total").await, 0);
}

#[tokio::test]
async fn a_stalled_readers_viewer_counts_coalesce_into_the_latest() {
    let hub = start_with(|c| {
        c.viewer_count_interval_ms = 20;
        c.send_buffer_bytes = 16 * 1024;
    })
    .await;
    let room = "r-counts";
    let (_creator, mut bystander) = live_room(&hub, Wire::MsgPack, room, "cara").await;
    let mut stalled = small_window_client(&hub, hub.token("stalled", Role::Viewer)).await;
    ok_snapshot(stalled.request(Command::Join { room: room.into(), since: None }).await.unwrap());
    // Fill what the kernel holds for `stalled`, so what follows waits in its backlog.
    for n in 0..100 {
        hub.publish(room, activity(n, 1000)).await;
    }
    // Ten more viewers, one at a time: each count is announced (the bystander sees it).
    let mut viewers = Vec::new();
    for n in 0..10u64 {
        let mut viewer = hub.viewer(Wire::MsgPack, &format!("v{n}")).await;
        ok_snapshot(viewer.request(Command::Join { room: room.into(), since: None }).await.unwrap());
        viewers.push(viewer);
        loop {
            match bystander.next_event().await.unwrap().body {
                EventBody::ViewerCount { count } if count == n + 3 => break,
                _ => {}
            }
        }
    }
    hub.publish(room, order("marker")).await;
    let got = read_until_order(stalled).await.unwrap();
    let first_flood = got.iter().position(|e| matches!(e.body, EventBody::Activity { .. })).unwrap();
    let counts: Vec<u64> = got[first_flood..]
        .iter()
        .filter_map(|e| match e.body {
            EventBody::ViewerCount { count } => Some(count),
            _ => None,
        })
        .collect();
    // (The count of 2, announced as `stalled` joined, may have reached the kernel first.)
    let after_joins: Vec<u64> = counts.into_iter().filter(|&count| count > 2).collect();
    assert_eq!(after_joins, [12], "one viewer_count, the latest, instead of ten");
    assert!(metric(&hub, "stagehand_coalesced_events_total").await >= 9);
}

#[tokio::test]
async fn a_client_that_sends_300_comments_in_one_write_gets_every_reply() {
    let hub = start_with(|c| {
        c.queue_max_bytes = 8 * 1024;
        c.send_buffer_bytes = 16 * 1024;
        // Every comment is accepted, so each also becomes an event to everyone.
        c.comment_rate = 10_000.0;
        c.comment_burst = 1_000;
        c.room_comment_rate = 10_000.0;
        c.room_comment_burst = 1_000;
        // Nor held as a flood by the moderation pipeline.
        c.flood_comments = 10_000;
    })
    .await;
    let room = "r-burst";
    let (_creator, bystander) = live_room(&hub, Wire::MsgPack, room, "cara").await;
    let mut flooder = small_window_client(&hub, hub.token("flooder", Role::Viewer)).await;
    ok_snapshot(flooder.request(Command::Join { room: room.into(), since: None }).await.unwrap());
    let watching = read_until_order(bystander);

    // 300 comments in one write, before reading anything.
    let mut burst = Vec::new();
    for id in 1_000..1_300u64 {
        let text = format!("comment number {id} of the burst, which goes to everyone in the room");
        let payload =
            codec::encode(Wire::MsgPack, &ClientMessage::new(id, Command::Comment { room: room.into(), text }))
                .unwrap();
        let mut frame = Frame::message(payload, OpCode::Data(Data::Binary), true);
        frame.header_mut().mask = Some(fastrand::u32(..).to_be_bytes());
        frame.format(&mut burst).unwrap();
    }
    flooder.socket_mut().write_all(&burst).await.unwrap();

    // Every reply arrives, each once; the connection stays open.
    let mut replied = std::collections::BTreeSet::new();
    while replied.len() < 300 {
        match flooder.next().await.expect("the flooder is not closed") {
            ServerMessage::Control(Control::Reply(reply)) => {
                let id = reply.id.expect("a reply to a readable frame");
                assert!(reply.ok, "{reply:?}");
                assert!(replied.insert(id), "reply {id} twice");
            }
            ServerMessage::Control(other) => panic!("unexpected {other:?}"),
            ServerMessage::Event(_) => {}
        }
    }
    assert_eq!(replied.into_iter().collect::<Vec<_>>(), (1_000..1_300).collect::<Vec<_>>());
    assert!(flooder.request(Command::Ping).await.unwrap().ok);

    // The bystander saw all 300 comments.
    hub.publish(room, order("marker")).await;
    let seen = watching.await.unwrap();
    let comments = seen.iter().filter(|e| matches!(e.body, EventBody::Comment { .. })).count();
    assert_eq!(comments, 300);
    assert_eq!(metric(&hub, "stagehand_slow_consumer_closes_total").await, 0);
}
