//! The rooms a hub keeps in memory: a sharded map from room id to [`Room`], and the node's local
//! entry point for published events ([`Deliver`]).
//!
//! - `room.rs`: one room's state, members, joins with recovery, and the application of events;
//! - `features/`: each room capability — its slice of state, its events, its commands;
//! - `fanout.rs`: encoding an event once per audience and format and offering it to members.
//!
//! Bounds: `max_rooms` in all and `max_rooms_per_creator` open (not ended) rooms per creator;
//! ended rooms are forgotten after `ended_room_ttl_ms`, and abandoned ones are reclaimed
//! ([`Rooms::reclaim`]).

pub mod fanout;
pub mod features;
pub mod members;
pub mod pipeline;
pub mod room;

use crate::broker::memory::{MemoryBroker, Retention};
use crate::broker::{Broker, Deliver};
use crate::config::Config;
use crate::error::{HubError, HubResult};
use crate::limits::Limiters;
use crate::metrics::Metrics;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
pub use fanout::Audience;
pub use room::{Departure, Room};
use stagehand_protocol::server::{EndReason, Event};
use stagehand_protocol::types::{Actor, Millis, RoomState};
use std::sync::Arc;

/// Longest room id accepted (titles: `max_title_chars`).
pub const MAX_ROOM_ID: usize = 128;

pub struct Rooms {
    map: DashMap<String, Arc<Room>>,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    broker: Arc<dyn Broker>,
}

/// Why the hub reclaimed a room (the creator is told).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reclaim {
    /// Scheduled, and its planned start passed longer ago than the grace period.
    StartPassed,
    /// Live, and none of the creator's connections has been in it for the grace period.
    CreatorGone,
}

impl Reclaim {
    pub fn as_str(self) -> &'static str {
        match self {
            Reclaim::StartPassed => "scheduled_start_passed",
            Reclaim::CreatorGone => "creator_gone",
        }
    }
}

impl Rooms {
    pub fn new(config: Arc<Config>, metrics: Arc<Metrics>, broker: Arc<dyn Broker>) -> Self {
        Rooms { map: DashMap::new(), config, metrics, broker }
    }

    /// Rooms on the single-node memory broker, wired so the broker delivers to them.
    pub fn in_memory(config: Arc<Config>, metrics: Arc<Metrics>) -> Arc<Rooms> {
        let retention = Retention { size: config.history_size, ttl_ms: config.history_ttl_ms };
        let broker = Arc::new(MemoryBroker::new(retention));
        let rooms = Arc::new(Rooms::new(config, metrics, broker.clone()));
        let deliver: Arc<dyn Deliver> = rooms.clone();
        broker.set_deliver(Arc::downgrade(&deliver));
        rooms
    }

    /// The broker the rooms publish through.
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.broker
    }

    /// The hub's configuration (features read their bounds from it).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The hub's metrics (features count the limits they enforce there).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Now, on the hub's clock.
    pub fn now_ms(&self) -> Millis {
        self.config.clock.now_ms()
    }

    pub fn get(&self, id: &str) -> HubResult<Arc<Room>> {
        self.find(id).ok_or_else(|| HubError::not_found(format!("no room `{id}`")))
    }

    pub fn find(&self, id: &str) -> Option<Arc<Room>> {
        self.map.get(id).map(|r| r.clone())
    }

    /// The room `id`, created for `creator` if it does not exist, within the hub's and the
    /// creator's room limits. An existing room of another creator is a conflict.
    pub fn get_or_create(&self, id: &str, creator: &Actor, title: Option<&str>) -> HubResult<Arc<Room>> {
        validate_room_id(id)?;
        if let Some(room) = self.find(id) {
            return owned_by(room, creator);
        }
        if self.map.len() >= self.config.max_rooms {
            self.metrics.tripped(crate::metrics::Tripped::MaxRooms);
            return Err(HubError::unavailable("the hub is at its room limit"));
        }
        if self.open_rooms_of(&creator.id) >= self.config.max_rooms_per_creator {
            self.metrics.tripped(crate::metrics::Tripped::RoomsPerCreator);
            return Err(HubError::unavailable(format!(
                "a creator may have at most {} rooms scheduled or live",
                self.config.max_rooms_per_creator
            )));
        }
        let room = match self.map.entry(id.to_string()) {
            Entry::Occupied(existing) => existing.get().clone(),
            Entry::Vacant(slot) => {
                let title = title.unwrap_or(&creator.name).to_string();
                let room = Room::new(
                    id.to_string(),
                    creator.clone(),
                    title,
                    Limiters::per_room(&self.config),
                    self.metrics.clone(),
                    self.config.clock,
                    self.broker.clone(),
                );
                slot.insert(room.clone());
                room
            }
        };
        owned_by(room, creator)
    }

    /// Rooms of `creator_id` that have not ended.
    fn open_rooms_of(&self, creator_id: &str) -> usize {
        self.all().iter().filter(|r| r.creator.id == creator_id && r.phase() != RoomState::Ended).count()
    }

    /// Every room, for housekeeping and shutdown. Collected first so no shard lock is held while
    /// rooms are locked.
    pub fn all(&self) -> Vec<Arc<Room>> {
        self.map.iter().map(|r| r.value().clone()).collect()
    }

    /// Forget rooms that ended more than the configured time ago; their history goes with them,
    /// so a room created again under the same id starts a new epoch.
    pub fn evict_ended(&self, now: Millis) {
        let ttl = self.config.ended_room_ttl_ms;
        let mut forgotten = Vec::new();
        self.map.retain(|id, room| {
            let keep = room.ended_at().is_none_or(|at| now.saturating_sub(at) < ttl);
            if !keep {
                forgotten.push(id.clone());
            }
            keep
        });
        for id in forgotten {
            self.broker.forget(&id);
        }
    }

    /// End rooms nobody will use: scheduled rooms whose start passed longer ago than
    /// `scheduled_room_grace_ms` (or, without a start time, created that long ago), and live rooms
    /// the creator has been gone from for `creator_gone_grace_ms`. Returns what was reclaimed, so
    /// the caller can tell each creator.
    pub fn reclaim(&self, now: Millis) -> Vec<(Arc<Room>, Reclaim)> {
        let mut reclaimed = Vec::new();
        for room in self.all() {
            let lifecycle = room.lifecycle();
            let reason = match lifecycle.phase {
                RoomState::Scheduled => {
                    let due = lifecycle.starts_at.unwrap_or(room.created_at);
                    (now.saturating_sub(due) > self.config.scheduled_room_grace_ms).then_some(Reclaim::StartPassed)
                }
                RoomState::Live => room
                    .creator_gone_since()
                    .filter(|since| now.saturating_sub(*since) > self.config.creator_gone_grace_ms)
                    .map(|_| Reclaim::CreatorGone),
                RoomState::Ended => None,
            };
            if let Some(reason) = reason {
                if features::lifecycle::end_with(&room, EndReason::Reclaimed).is_ok() {
                    reclaimed.push((room, reason));
                }
            }
        }
        reclaimed
    }

    /// Count rooms by state into the metrics.
    pub fn record_metrics(&self) {
        let mut counts = [0usize; 3];
        for room in self.all() {
            counts[match room.phase() {
                RoomState::Scheduled => 0,
                RoomState::Live => 1,
                RoomState::Ended => 2,
            }] += 1;
        }
        for (state, count) in ["scheduled", "live", "ended"].into_iter().zip(counts) {
            self.metrics.set_rooms(state, count);
        }
    }
}

impl Deliver for Rooms {
    /// A published event reaches this node: apply it to the room here, if the room is here.
    fn deliver(&self, event: Arc<Event>) {
        if let Some(room) = self.find(&event.room) {
            room.apply(event);
        }
    }
}

fn owned_by(room: Arc<Room>, creator: &Actor) -> HubResult<Arc<Room>> {
    if room.creator.id != creator.id {
        return Err(HubError::conflict(format!("room `{}` belongs to another creator", room.id)));
    }
    Ok(room)
}

pub fn validate_room_id(id: &str) -> HubResult<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ROOM_ID
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(HubError::invalid(format!("room ids are 1–{MAX_ROOM_ID} characters of [A-Za-z0-9-_.:]")))
    }
}
