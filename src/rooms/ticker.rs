//! Once-a-second housekeeping: broadcast changed viewer counts (throttled, so a join storm costs
//! one event per room per interval) and forget rooms that ended a while ago.

use super::Rooms;
use crate::clock::now_ms;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub async fn run(rooms: Arc<Rooms>, interval: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        for room in rooms.all() {
            room.announce_viewer_count();
        }
        rooms.evict_ended(now_ms());
    }
}
