//! Scheduling: the creator's calendar of planned LIVE events (persisted; `commands.rs`), the
//! reminder the creator gets before each, and the campaign banner attached to an event, which the
//! event's room shows while the campaign's window is open.
//!
//! The room's slice is the campaign banner shown now; it changes only by `campaign` events, so
//! the join snapshot and recovery carry it. [`tick`] runs once a second on the hub's clock: in one
//! store transaction it takes the reminders that fell due (writing the creators' `live_reminder`
//! notifications) and reads the campaigns whose window is open; then it shows or hides each live
//! room's banner to match.

pub mod commands;

use crate::partner::inboxes::user_inbox;
use crate::partner::StoreHandle;
use crate::rooms::Rooms;
use serde_json::json;
use stagehand_protocol::server::EventBody;
use stagehand_protocol::types::{Campaign, CampaignAction, Millis, RoomState as Phase};
use std::collections::HashMap;

/// Most reminders sent, and open campaigns read, per tick.
const PER_TICK: u32 = 500;

/// The campaign slice: the banner shown now.
pub type State = Option<Campaign>;

pub fn apply(state: &mut State, body: &EventBody) {
    match body {
        EventBody::Campaign { action: CampaignAction::Shown, campaign } => *state = Some(campaign.clone()),
        EventBody::Campaign { action: CampaignAction::Hidden, .. } | EventBody::RoomEnded { .. } => *state = None,
        _ => {}
    }
}

/// Settings of the scheduler.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long before a planned start the creator is reminded.
    pub reminder_ms: u64,
    /// Most scheduled events per creator.
    pub max_events: u64,
    /// Longest event and campaign title (`max_title_chars`).
    pub max_title_chars: usize,
}

/// One pass: send due reminders, then show or hide campaign banners in live rooms.
pub async fn tick(store: &StoreHandle, rooms: &Rooms, settings: Settings) {
    let now = rooms.now_ms();
    let until = now.saturating_add(settings.reminder_ms);
    let result = store
        .write(move |tx| {
            for event in tx.take_due_live_events(until, PER_TICK)? {
                tx.notify(&user_inbox(&event.creator_id), "live_reminder", json!({ "event": event }), now)?;
            }
            tx.open_campaigns(now, PER_TICK)
        })
        .await;
    match result {
        Ok(open) => show_campaigns(rooms, open, now),
        Err(error) => tracing::warn!(?error, "scheduling tick failed; retrying at the next"),
    }
}

/// Make each live room show the open campaign of its event (the earliest-starting one), or none.
fn show_campaigns(rooms: &Rooms, open: Vec<(String, Campaign)>, _now: Millis) {
    let mut wanted: HashMap<String, Campaign> = HashMap::new();
    for (room, campaign) in open {
        wanted.entry(room).or_insert(campaign);
    }
    for room in rooms.all() {
        let want = wanted.remove(&room.id);
        let op = room.op();
        let shown = op.read(|s| (s.lifecycle.phase == Phase::Live).then(|| s.campaign.clone()));
        let Some(shown) = shown else { continue };
        match (shown, want) {
            (Some(now), Some(want)) if now == want => {}
            (_, Some(campaign)) => {
                op.publish(EventBody::Campaign { action: CampaignAction::Shown, campaign });
            }
            (Some(campaign), None) => {
                op.publish(EventBody::Campaign { action: CampaignAction::Hidden, campaign });
            }
            (None, None) => {}
        }
    }
}

/// Run [`tick`] once a second until shutdown.
pub async fn run(
    store: StoreHandle,
    rooms: std::sync::Arc<Rooms>,
    settings: Settings,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => tick(&store, &rooms, settings).await,
        }
    }
}
