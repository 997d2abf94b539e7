//! The single-node broker: positions and history in memory.
//!
//! Each room has one short `std::sync::Mutex` around its streams. [`MemoryBroker::publish`]
//! assigns the position, appends to history and calls the local entry point while holding it, so
//! deliveries of one room happen in sequence order; rooms never contend with each other.

use super::{Broker, Deliver, Gap, Position, Streams};
use dashmap::DashMap;
use stagehand_protocol::client::Since;
use stagehand_protocol::server::{Event, EventBody};
use stagehand_protocol::types::Millis;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// How long and how much history each stream keeps.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Most events kept per stream.
    pub size: usize,
    /// Oldest event kept, ms.
    pub ttl_ms: u64,
}

pub struct MemoryBroker {
    streams: DashMap<String, Arc<Mutex<RoomStreams>>>,
    retention: Retention,
    deliver: OnceLock<Weak<dyn Deliver>>,
    /// Random per process, so epochs differ across restarts.
    instance: u64,
    next_epoch: AtomicU64,
}

/// One room's two streams.
struct RoomStreams {
    position: Position,
    room: History,
    staff: History,
}

/// A bounded history: `(published at, event)`, oldest first.
#[derive(Default)]
struct History {
    events: VecDeque<(Millis, Arc<Event>)>,
    /// The position (in this stream) of the newest event that has left the history.
    evicted_to: u64,
}

impl History {
    fn push(&mut self, at: Millis, event: Arc<Event>, position: impl Fn(&Event) -> u64, retention: Retention) {
        self.events.push_back((at, event));
        while self.events.len() > retention.size {
            self.evict_front(&position);
        }
        self.expire(at, &position, retention);
    }

    fn expire(&mut self, now: Millis, position: &impl Fn(&Event) -> u64, retention: Retention) {
        while self.events.front().is_some_and(|(at, _)| now.saturating_sub(*at) > retention.ttl_ms) {
            self.evict_front(position);
        }
    }

    fn evict_front(&mut self, position: &impl Fn(&Event) -> u64) {
        if let Some((_, event)) = self.events.pop_front() {
            self.evicted_to = position(&event);
        }
    }

    /// Events after `from` (exclusive), if none of them has been evicted.
    fn after(&self, from: u64, current: u64, position: impl Fn(&Event) -> u64) -> Result<Vec<Arc<Event>>, Gap> {
        if from > current {
            return Err(Gap::Ahead);
        }
        if from < self.evicted_to {
            return Err(Gap::Evicted);
        }
        Ok(self.events.iter().filter(|(_, e)| position(e) > from).map(|(_, e)| e.clone()).collect())
    }
}

fn seq_of(event: &Event) -> u64 {
    event.seq
}

fn staff_seq_of(event: &Event) -> u64 {
    event.staff_seq.unwrap_or(0)
}

impl MemoryBroker {
    pub fn new(retention: Retention) -> Self {
        MemoryBroker {
            streams: DashMap::new(),
            retention,
            deliver: OnceLock::new(),
            instance: fastrand::u64(..),
            next_epoch: AtomicU64::new(1),
        }
    }

    /// Set the local entry point (once, at start; held weakly so the two can own each other).
    pub fn set_deliver(&self, deliver: Weak<dyn Deliver>) {
        let _ = self.deliver.set(deliver);
    }

    fn streams(&self, room: &str) -> Arc<Mutex<RoomStreams>> {
        if let Some(streams) = self.streams.get(room) {
            return streams.clone();
        }
        self.streams
            .entry(room.to_string())
            .or_insert_with(|| {
                let n = self.next_epoch.fetch_add(1, Ordering::Relaxed);
                let epoch: Arc<str> = format!("{:016x}-{n}", self.instance).into();
                let position = Position { seq: 0, staff_seq: 0, epoch };
                Arc::new(Mutex::new(RoomStreams { position, room: History::default(), staff: History::default() }))
            })
            .clone()
    }
}

fn lock(streams: &Mutex<RoomStreams>) -> std::sync::MutexGuard<'_, RoomStreams> {
    // Nothing under this lock can leave the streams half-updated in a way that matters more than
    // losing the room, so a poisoned lock is taken over rather than spread.
    streams.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Broker for MemoryBroker {
    fn publish(&self, room: &str, body: EventBody, ts: Millis) -> Arc<Event> {
        let streams = self.streams(room);
        let mut s = lock(&streams);
        let staff_only = body.staff_only();
        if staff_only {
            s.position.staff_seq += 1;
        } else {
            s.position.seq += 1;
        }
        let staff_seq = staff_only.then_some(s.position.staff_seq);
        let event = Arc::new(Event { room: room.to_string(), seq: s.position.seq, staff_seq, ts, body });
        if staff_only {
            s.staff.push(ts, event.clone(), staff_seq_of, self.retention);
        } else {
            s.room.push(ts, event.clone(), seq_of, self.retention);
        }
        // Delivered under the stream lock: the next publication of this room waits, so members
        // receive events in sequence order.
        if let Some(deliver) = self.deliver.get().and_then(Weak::upgrade) {
            deliver.deliver(event.clone());
        }
        event
    }

    fn history(&self, room: &str, since: &Since, streams: Streams, now: Millis) -> Result<Vec<Arc<Event>>, Gap> {
        let Some(handle) = self.streams.get(room).map(|s| s.clone()) else { return Err(Gap::Epoch) };
        let mut s = lock(&handle);
        if *s.position.epoch != since.epoch {
            return Err(Gap::Epoch);
        }
        s.room.expire(now, &seq_of, self.retention);
        s.staff.expire(now, &staff_seq_of, self.retention);
        let mut events = s.room.after(since.seq, s.position.seq, seq_of)?;
        if streams == Streams::RoomAndStaff {
            let staff_since = since.staff_seq.ok_or(Gap::NoStaffSeq)?;
            let staff = s.staff.after(staff_since, s.position.staff_seq, staff_seq_of)?;
            // A staff-only event carries the room seq current when it was published, so it goes
            // after the room event of that seq and before the next one.
            events.extend(staff);
            events.sort_by_key(|e| (e.seq, e.staff_seq.is_some(), e.staff_seq));
        }
        Ok(events)
    }

    fn position(&self, room: &str) -> Position {
        lock(&self.streams(room)).position.clone()
    }

    fn forget(&self, room: &str) {
        self.streams.remove(room);
    }
}
