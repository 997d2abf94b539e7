//! Once-a-second housekeeping: broadcast changed viewer counts (throttled, so a join storm costs
//! one event per room per interval), close agency staff whose access ended (so an agreement's end
//! takes its connections within a second), and forget rooms that ended a while ago.

use super::Rooms;
use crate::partner::Partner;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub async fn run(rooms: Arc<Rooms>, partner: Arc<Partner>, interval: Duration, shutdown: CancellationToken) {
    let second = Duration::from_secs(1);
    let mut enforce = tokio::time::interval(second.min(interval));
    enforce.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = enforce.tick() => {
                partner.enforce();
                continue;
            }
            _ = tick.tick() => {}
        }
        for room in rooms.all() {
            room.announce_viewer_count();
        }
        rooms.evict_ended(rooms.now_ms());
    }
}
