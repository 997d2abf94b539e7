//! The client side of reconnection (`stagehand::reconnect`) against the real hub: which closes it
//! retries, and rejoining with `since` — the position a client kept gets back exactly the events
//! it missed, after a `recovered: true` snapshot.

mod common;

use common::*;
use stagehand::client::ClientError;
use stagehand::reconnect::{self, Rejoin, RoomPosition, Seen};
use stagehand_protocol::server::EventBody;
use stagehand_protocol::{Command, Wire};

/// Post `n` comments as the creator and wait for their replies.
async fn comments(creator: &mut stagehand::client::Client, room: &str, n: usize) {
    for i in 0..n {
        let reply = creator.request(Command::Comment { room: room.into(), text: format!("c{i}") }).await.unwrap();
        assert_ok(&reply);
    }
}

#[tokio::test]
async fn a_rejoin_with_since_gets_exactly_the_missed_events_after_a_recovered_snapshot() {
    let hub = start().await;
    let room = "r-rejoin";
    let (mut creator, viewer) = live_room(&hub, Wire::Json, room, "cara").await;
    viewer.close().await;

    // The viewer this test follows: first membership, then one live event.
    let mut position: Option<RoomPosition> = None;
    let mut v = hub.viewer(Wire::MsgPack, "vic").await;
    let joined = reconnect::join(&mut v, room, &mut position).await.unwrap();
    assert_eq!(joined.rejoin, None);
    comments(&mut creator, room, 1).await;
    let first = v.next_non_count_event().await.unwrap();
    assert_eq!(position.as_mut().unwrap().observe(&first), Seen::Next);
    let seen = position.as_ref().unwrap().seq;
    assert_eq!(seen, first.seq);

    // Away while three comments are posted.
    v.close().await;
    comments(&mut creator, room, 3).await;
    let mut v = hub.viewer(Wire::MsgPack, "vic").await;
    let joined = reconnect::join(&mut v, room, &mut position).await.unwrap();
    assert_eq!(joined.snapshot.recovered, Some(true), "{:?}", joined.snapshot);
    assert_eq!(joined.rejoin, Some(Rejoin::Recovered { missed: 3 }));
    let position = position.as_mut().unwrap();
    assert_eq!((position.seq, position.replay_pending()), (seen, 3));

    // The missed ones, in order, once; then live events.
    for i in 1..=3 {
        let event = v.next_non_count_event().await.unwrap();
        assert_eq!(event.seq, seen + i);
        assert!(matches!(&event.body, EventBody::Comment { text, .. } if *text == format!("c{}", i - 1)));
        assert_eq!(position.observe(&event), Seen::Replayed);
    }
    assert_eq!(position.replay_pending(), 0);
    comments(&mut creator, room, 1).await;
    let live = v.next_non_count_event().await.unwrap();
    assert_eq!((live.seq, position.observe(&live)), (seen + 4, Seen::Next));
}

#[tokio::test]
async fn a_gap_longer_than_the_history_is_reported_and_starts_again_from_the_snapshot() {
    let hub = start_with(|c| c.history_size = 2).await;
    let room = "r-long-gap";
    let (mut creator, viewer) = live_room(&hub, Wire::Json, room, "cara").await;
    viewer.close().await;
    let mut position = None;
    let mut v = hub.viewer(Wire::Json, "vic").await;
    let seen = reconnect::join(&mut v, room, &mut position).await.unwrap().snapshot.seq;
    v.close().await;
    comments(&mut creator, room, 3).await;
    let mut v = hub.viewer(Wire::Json, "vic").await;
    let joined = reconnect::join(&mut v, room, &mut position).await.unwrap();
    assert_eq!(joined.snapshot.recovered, Some(false));
    assert_eq!(joined.rejoin, Some(Rejoin::Reset { missed: Some(3) }));
    let position = position.as_mut().unwrap();
    assert_eq!((position.seq, position.replay_pending()), (seen + 3, 0));
    comments(&mut creator, room, 1).await;
    let live = v.next_non_count_event().await.unwrap();
    assert_eq!((live.seq, position.observe(&live)), (seen + 4, Seen::Next));
}

#[tokio::test]
async fn a_rejoin_from_another_epoch_starts_again_from_the_snapshot() {
    let hub = start().await;
    let room = "r-epoch";
    let (_creator, _viewer) = live_room(&hub, Wire::Json, room, "cara").await;
    let mut v = hub.viewer(Wire::Json, "vic").await;
    let mut position = None;
    let snapshot = reconnect::join(&mut v, room, &mut position).await.unwrap().snapshot;
    // A position from a history the hub no longer has (e.g. before a restart).
    let mut stale = position.clone().unwrap();
    stale.epoch = format!("{}-old", snapshot.epoch);
    v.close().await;
    let mut v = hub.viewer(Wire::Json, "vic").await;
    let mut position = Some(stale);
    let joined = reconnect::join(&mut v, room, &mut position).await.unwrap();
    assert_eq!(joined.snapshot.recovered, Some(false));
    assert_eq!(joined.rejoin, Some(Rejoin::Reset { missed: None }));
    assert_eq!(position.unwrap().since().epoch, snapshot.epoch);
}

#[tokio::test]
async fn a_hub_going_away_is_retried_and_a_refused_join_is_not() {
    let mut hub = start().await;
    let (_creator, mut viewer) = live_room(&hub, Wire::Json, "r-away", "cara").await;
    let mut other = hub.viewer(Wire::Json, "val").await;
    let mut position = None;
    let refused = reconnect::join(&mut other, "no-such-room", &mut position).await.unwrap_err();
    assert!(!refused.should_retry(), "{refused}");
    assert_eq!(position, None);

    hub.shutdown().await;
    let error = loop {
        match viewer.next().await {
            Ok(_) => continue,
            Err(error) => break error,
        }
    };
    assert!(matches!(error, ClientError::Closed(Some((1001, _)))), "{error}");
    assert!(reconnect::should_retry(&error));
    // While the hub is down, connecting fails in a way that is retried too.
    let down = stagehand::client::Client::connect(&hub.ws_url, Wire::Json, stagehand::client::Auth::None).await;
    assert!(down.as_ref().is_err_and(reconnect::should_retry), "{:?}", down.err());
}
