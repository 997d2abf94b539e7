//! A recovering join races live events: an event published while the joiner's missed events are
//! being fetched must reach it exactly once, after its reply and after the missed events, in
//! `seq` order. In process, with a broker that publishes in the middle of `history` — the moment
//! a concurrent publisher (or a remote broker's delivery) would hit.

mod common;

use common::{drain, socketless};
use stagehand::broker::memory::{MemoryBroker, Retention};
use stagehand::broker::{Broker, Deliver, Gap, Position, Streams};
use stagehand::metrics::Metrics;
use stagehand::rooms::{Audience, Rooms};
use stagehand::Config;
use stagehand_protocol::client::Since;
use stagehand_protocol::server::{Control, Event, EventBody, ServerMessage};
use stagehand_protocol::types::{Actor, Millis};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The memory broker, except that the first `history` call publishes an event first.
struct Interleaving {
    inner: Arc<MemoryBroker>,
    armed: AtomicBool,
}

impl Broker for Interleaving {
    fn publish(&self, room: &str, body: EventBody, ts: Millis) -> Arc<Event> {
        self.inner.publish(room, body, ts)
    }

    fn history(&self, room: &str, since: &Since, streams: Streams, now: Millis) -> Result<Vec<Arc<Event>>, Gap> {
        if self.armed.swap(false, Ordering::SeqCst) {
            let body = EventBody::Activity { kind: "race".into(), text: "published mid-recovery".into() };
            self.inner.publish(room, body, now);
        }
        self.inner.history(room, since, streams, now)
    }

    fn position(&self, room: &str) -> Position {
        self.inner.position(room)
    }

    fn forget(&self, room: &str) {
        self.inner.forget(room)
    }
}

#[test]
fn an_event_published_while_a_join_recovers_arrives_once_after_the_reply_and_the_missed_events() {
    let config = Arc::new(Config::default());
    let memory = Arc::new(MemoryBroker::new(Retention { size: 100, ttl_ms: 60_000 }));
    let broker = Arc::new(Interleaving { inner: memory.clone(), armed: AtomicBool::new(false) });
    let rooms = Arc::new(Rooms::new(config, Arc::new(Metrics::default()), broker.clone()));
    let deliver: Arc<dyn Deliver> = rooms.clone();
    memory.set_deliver(Arc::downgrade(&deliver));

    let creator = Actor { id: "cara".into(), name: "Cara".into() };
    let room = rooms.get_or_create("race", &creator, None).unwrap();
    room.op().publish(EventBody::RoomStarted { title: "Live".into() });
    let viewer = socketless(1, 1 << 20);
    room.join(&viewer, Audience::Viewers, None, None, 1);
    let first = futures::executor::block_on(drain(&room, &viewer));
    let ServerMessage::Control(Control::Reply(reply)) = &first[0] else { panic!("{first:?}") };
    let Some(stagehand_protocol::server::ReplyResult::Snapshot(snapshot)) = &reply.result else { panic!() };
    let since = Since { seq: snapshot.seq, epoch: snapshot.epoch.clone(), staff_seq: None };

    // The viewer drops; two events are missed; it rejoins with `since` while a third event is
    // published during the history fetch.
    room.leave(1);
    for n in 0..2 {
        room.op().publish(EventBody::Activity { kind: "missed".into(), text: n.to_string() });
    }
    broker.armed.store(true, Ordering::SeqCst);
    room.join(&viewer, Audience::Viewers, None, Some(&since), 2);
    // And one live event after the join.
    room.op().publish(EventBody::Activity { kind: "live".into(), text: "after".into() });

    let got = futures::executor::block_on(drain(&room, &viewer));
    let ServerMessage::Control(Control::Reply(reply)) = &got[0] else { panic!("the reply comes first: {got:?}") };
    let Some(stagehand_protocol::server::ReplyResult::Snapshot(rejoined)) = &reply.result else { panic!() };
    assert_eq!(rejoined.recovered, Some(true));
    let events: Vec<(u64, String)> = got[1..]
        .iter()
        .map(|m| match m {
            ServerMessage::Event(Event { seq, body: EventBody::Activity { kind, .. }, .. }) => (*seq, kind.clone()),
            other => panic!("only the activities follow: {other:?}"),
        })
        .collect();
    let s = since.seq;
    assert_eq!(
        events,
        [(s + 1, "missed".into()), (s + 2, "missed".into()), (s + 3, "race".into()), (s + 4, "live".into())],
        "each event once, in seq order, after the reply"
    );
}

/// A connection that joins again with `since` while it is still a member: the events whose
/// fan-out was still queued when it rejoined reach it once, in the replay after its new reply —
/// not once before the reply from the old membership and again in the replay.
#[tokio::test]
async fn a_member_rejoining_with_since_gets_each_queued_event_once_after_its_reply() {
    let config = Arc::new(Config::default());
    let broker = Arc::new(MemoryBroker::new(Retention { size: 100, ttl_ms: 60_000 }));
    let rooms = Arc::new(Rooms::new(config, Arc::new(Metrics::default()), broker.clone()));
    let deliver: Arc<dyn Deliver> = rooms.clone();
    broker.set_deliver(Arc::downgrade(&deliver));

    let creator = Actor { id: "cara".into(), name: "Cara".into() };
    let room = rooms.get_or_create("rejoin", &creator, None).unwrap();
    room.op().publish(EventBody::RoomStarted { title: "Live".into() });
    let viewer = socketless(1, 1 << 20);
    room.join(&viewer, Audience::Viewers, None, None, 1);
    let first = drain(&room, &viewer).await;
    let ServerMessage::Control(Control::Reply(reply)) = &first[0] else { panic!("{first:?}") };
    let Some(stagehand_protocol::server::ReplyResult::Snapshot(snapshot)) = &reply.result else { panic!() };
    let since = Since { seq: snapshot.seq, epoch: snapshot.epoch.clone(), staff_seq: None };

    // On this current-thread runtime the pump runs only when the test awaits: both events are
    // still queued for the viewer, as a member, when it joins again.
    for n in 0..2 {
        room.op().publish(EventBody::Activity { kind: "queued".into(), text: n.to_string() });
    }
    room.join(&viewer, Audience::Viewers, None, Some(&since), 2);

    let got = drain(&room, &viewer).await;
    let ServerMessage::Control(Control::Reply(reply)) = &got[0] else { panic!("the reply comes first: {got:?}") };
    assert_eq!(reply.id, Some(2));
    let seqs: Vec<u64> = got[1..]
        .iter()
        .map(|m| match m {
            ServerMessage::Event(Event { seq, body: EventBody::Activity { .. }, .. }) => *seq,
            other => panic!("only the activities follow: {other:?}"),
        })
        .collect();
    assert_eq!(seqs, [since.seq + 1, since.seq + 2], "each queued event once, after the reply");
}
