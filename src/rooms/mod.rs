//! The rooms a hub keeps in memory: a sharded map from room id to [`Room`].
//!
//! - `room.rs`: one room's state, members and sequence;
//! - `fanout.rs`: encoding an event once and offering it to members;
//! - `ticker.rs`: the once-a-second housekeeping (viewer counts, forgetting ended rooms).

pub mod fanout;
pub mod room;
pub mod ticker;

use crate::config::Config;
use crate::error::{HubError, HubResult};
use crate::limits::Limiters;
use crate::metrics::Metrics;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
pub use fanout::Audience;
pub use room::Room;
use stagehand_protocol::types::{Actor, Millis, RoomState};
use std::sync::Arc;

/// Longest room id and title accepted.
pub const MAX_ROOM_ID: usize = 128;
pub const MAX_TITLE: usize = 256;

pub struct Rooms {
    map: DashMap<String, Arc<Room>>,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
}

impl Rooms {
    pub fn new(config: Arc<Config>, metrics: Arc<Metrics>) -> Self {
        Rooms { map: DashMap::new(), config, metrics }
    }

    /// Now, on the hub's clock.
    pub fn now_ms(&self) -> Millis {
        self.config.clock.now_ms()
    }

    pub fn get(&self, id: &str) -> HubResult<Arc<Room>> {
        self.map.get(id).map(|r| r.clone()).ok_or_else(|| HubError::not_found(format!("no room `{id}`")))
    }

    pub fn find(&self, id: &str) -> Option<Arc<Room>> {
        self.map.get(id).map(|r| r.clone())
    }

    /// The room `id`, created for `creator` if it does not exist. An existing room of another
    /// creator is a conflict.
    pub fn get_or_create(&self, id: &str, creator: &Actor, title: Option<&str>) -> HubResult<Arc<Room>> {
        validate_room_id(id)?;
        if self.map.len() >= self.config.max_rooms && !self.map.contains_key(id) {
            return Err(HubError::unavailable("the hub is at its room limit"));
        }
        let room = match self.map.entry(id.to_string()) {
            Entry::Occupied(existing) => existing.get().clone(),
            Entry::Vacant(slot) => {
                let title = title.unwrap_or(&creator.name).to_string();
                let limits = Limiters::per_room(&self.config);
                let room = Arc::new(Room::new(
                    id.to_string(),
                    creator.clone(),
                    title,
                    limits,
                    self.metrics.clone(),
                    self.config.clock,
                ));
                slot.insert(room.clone());
                room
            }
        };
        if room.creator.id != creator.id {
            return Err(HubError::conflict(format!("room `{id}` belongs to another creator")));
        }
        Ok(room)
    }

    /// Every room, for housekeeping and shutdown. Collected first so no shard lock is held while
    /// rooms are locked.
    pub fn all(&self) -> Vec<Arc<Room>> {
        self.map.iter().map(|r| r.value().clone()).collect()
    }

    /// Forget rooms that ended more than the configured time ago.
    pub fn evict_ended(&self, now: Millis) {
        let ttl = self.config.ended_room_ttl_ms;
        self.map.retain(|_, room| room.ended_at().is_none_or(|at| now.saturating_sub(at) < ttl));
    }

    /// Count rooms by state into the metrics.
    pub fn record_metrics(&self) {
        let mut counts = [0usize; 3];
        for room in self.all() {
            counts[match room.state() {
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
