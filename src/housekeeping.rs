//! Once-a-second housekeeping, above rooms and partner access: broadcast changed viewer counts
//! (throttled, so a join storm costs one event per room per interval), expire what room features
//! time on the hub's clock (billboards, flash-sale countdowns and ends), close agency staff whose
//! access ended (so an agreement's end takes its connections within a second), reclaim abandoned
//! rooms (telling their creators), draw giveaways that closed, send the live dashboard, store the
//! summaries of LIVEs that ended, and forget rooms that ended a while ago; and, on its own
//! interval, prune the store by the configured retention.

use crate::partner::inboxes::user_inbox;
use crate::partner::Partner;
use crate::rooms::features::{dashboard, giveaway};
use crate::rooms::Rooms;
use serde_json::json;
use stagehand_protocol::server::EventBody;
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
                let now = rooms.now_ms();
                for room in rooms.all() {
                    crate::rooms::features::tick(&room, now);
                }
                reclaim(&rooms, &partner);
                engagement(&rooms, &partner);
                rooms.evict_ended(rooms.now_ms());
            }
            _ = tick.tick() => {
                for room in rooms.all() {
                    room.announce_viewer_count();
                }
            }
        }
    }
}

/// End abandoned rooms and tell each creator why.
fn reclaim(rooms: &Rooms, partner: &Arc<Partner>) {
    for (room, reason) in rooms.reclaim(rooms.now_ms()) {
        tracing::info!(room = %room.id, reason = reason.as_str(), "reclaimed a room");
        let data = json!({ "room": room.id, "reason": reason.as_str() });
        partner.notify_later(user_inbox(&room.creator.id), "room_reclaimed", data);
    }
}

/// Giveaways whose entries closed are drawn (and the draw audited); live rooms send their
/// dashboard to the creator and `analytics` staff; LIVEs that ended get their summary stored.
fn engagement(rooms: &Rooms, partner: &Arc<Partner>) {
    let now = rooms.now_ms();
    let max_minutes = rooms.config().dashboard_max_minutes;
    for room in rooms.all() {
        if let Some(drawn) = giveaway::draw_due(&room, now, || dashboard::present_viewers(&room)) {
            tracing::info!(room = %room.id, giveaway = %drawn.giveaway_id, "drew a giveaway");
            partner.audit_draw(&room, drawn);
        }
        if let Some(figures) = dashboard::tick(&room, now, max_minutes) {
            room.announce_to(EventBody::Dashboard { dashboard: figures }, partner.analysts(&room));
        }
        if dashboard::pending_summary(&room) {
            let partner = partner.clone();
            tokio::spawn(async move {
                if let Err(error) = partner.store_summary(&room, max_minutes).await {
                    tracing::warn!(room = %room.id, ?error, "could not store a LIVE summary; retrying");
                }
            });
        }
    }
}

/// Prune the store by the configured retention at start and then every `store_prune_interval_ms`,
/// until shutdown.
pub async fn prune_periodically(
    partner: Arc<Partner>,
    config: Arc<crate::config::Config>,
    shutdown: CancellationToken,
) {
    let every = Duration::from_millis(config.store_prune_interval_ms);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match partner.prune(config.retention()).await {
            Ok(pruned) if pruned != crate::store::Pruned::default() => tracing::info!(?pruned, "store pruned"),
            Ok(_) => {}
            Err(error) => tracing::warn!(?error, "store pruning failed; retrying at the next tick"),
        }
    }
}
