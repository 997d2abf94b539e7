//! Room features: each module owns one capability of a room — its slice of the room's state, the
//! events that change that slice, and the commands that produce those events. Adding a capability
//! is one module here, its slice in [`RoomState`], its arm in [`handle`], and one row per command
//! in [`crate::policy`].
//!
//! - `lifecycle.rs`: start, end and schedule a LIVE;
//! - `presence.rs`: join (with recovery) and leave; agency staff present;
//! - `comments.rs`: comments (through the moderation pipeline) and deleting them;
//! - `moderation/`: the comment pipeline, keyword filter, slow mode, review of held comments,
//!   mutes, blocks and hidden users (its commands are async: they write the store first);
//! - `schedule/`: the creator's planned LIVE events, reminders, and the campaign banner a room
//!   shows while its window is open;
//! - `billboard.rs`: the billboard shown over the stream;
//! - `backend.rs`: orders and activity published by the platform backend;
//! - `bag.rs`: the shopping bag (versioned; a set loads into it);
//! - `flash_sale.rs`: flash sales (countdown, stock, claims against the store).
//! - `backend.rs`: the activity feed the platform backend publishes (orders, subscriptions,
//!   follows, likes, gifts, shares), deduplicated by `event_id`;
//! - `giveaway.rs`: giveaways entered by commenting a keyword, drawn verifiably;
//! - `dashboard.rs`: the live dashboard's meters, its once-a-second tick, the LIVE's summary.
//!
//! Handlers run after the command layer has authorized the command; they validate it against the
//! room's state, publish the event through the room's broker, and return what the caller is
//! told plus any effects the command layer carries out (notifications).

pub mod backend;
pub mod bag;
pub mod billboard;
pub mod comments;
pub mod dashboard;
pub mod flash_sale;
pub mod giveaway;
pub mod lifecycle;
pub mod moderation;
pub mod presence;
pub mod schedule;

use super::{Room, Rooms};
use crate::auth::Identity;
use crate::delivery::outbox::Outbox;
use crate::error::{HubError, HubResult};
use stagehand_protocol::server::{Event, ReplyResult};
use stagehand_protocol::types::{Actor, Operator};
use stagehand_protocol::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Everything a room shows, as the fold of its events: applying an event is the only way the
/// state changes, so a snapshot is "the state at seq N" and a room can be rebuilt from history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomState {
    pub lifecycle: lifecycle::State,
    pub comments: comments::State,
    pub billboard: billboard::State,
    pub presence: presence::State,
    pub bag: bag::State,
    pub flash_sale: flash_sale::State,
    pub giveaway: giveaway::State,
    pub moderation: moderation::State,
    pub campaign: schedule::State,
}

impl RoomState {
    pub fn new(title: String) -> Self {
        RoomState {
            lifecycle: lifecycle::State::new(title),
            comments: comments::State::default(),
            billboard: billboard::State::default(),
            presence: presence::State::default(),
            bag: bag::State::default(),
            flash_sale: flash_sale::State::default(),
            giveaway: giveaway::State::default(),
            moderation: moderation::State::default(),
            campaign: schedule::State::default(),
        }
    }

    /// The reducer: fold one event into the state.
    pub fn apply(&mut self, event: &Event) {
        lifecycle::apply(&mut self.lifecycle, event);
        comments::apply(&mut self.comments, &event.body);
        billboard::apply(&mut self.billboard, &event.body);
        presence::apply(&mut self.presence, &event.body);
        bag::apply(&mut self.bag, &event.body);
        flash_sale::apply(&mut self.flash_sale, &event.body);
        giveaway::apply(&mut self.giveaway, event);
        moderation::apply(&mut self.moderation, &event.body);
        schedule::apply(&mut self.campaign, &event.body);
    }
}

/// What room features keep beside the room's state: what is not the fold of its events — the open
/// giveaway's seed until the draw reveals it, the full activity feed and its dedupe window, the
/// dashboard's meters. Each part has its own short lock, never held across `.await` nor while
/// publishing.
#[derive(Default)]
pub struct Side {
    pub giveaway: Mutex<giveaway::Secret>,
    pub feed: Mutex<backend::Feed>,
    pub meter: Mutex<dashboard::Meter>,
    /// Likes so far (a counter, not an event: viewers get `like_count`).
    pub likes: AtomicU64,
}

impl Side {
    pub fn likes(&self) -> u64 {
        self.likes.load(Ordering::Relaxed)
    }
}

/// The connection a command came from, as room features need it: who is asking, where replies
/// and events go, and the rooms it is in.
pub struct Ctx<'a> {
    pub identity: &'a Identity,
    pub outbox: &'a Outbox,
    /// The request's id, for replies the room queues itself (join snapshots).
    pub request_id: u64,
    /// Rooms this connection is in (bounded by `max_rooms`).
    pub joined: &'a mut Vec<Arc<Room>>,
    pub max_rooms: usize,
    pub rooms: &'a Rooms,
    /// The creators' moderation rules and the rooms' comment traffic.
    pub moderation: &'a moderation::Moderation,
}

impl Ctx<'_> {
    /// Who an action appears to come from, and the real operator behind it when that differs:
    /// agency staff act as the room's creator.
    pub fn acting_as(&self, room: &Room) -> (Actor, Option<Operator>) {
        acting_as(self.identity, room)
    }
}

/// Who an action by `identity` in `room` appears to come from, and the real operator behind it.
pub fn acting_as(identity: &Identity, room: &Room) -> (Actor, Option<Operator>) {
    match identity.operator() {
        Some(operator) => (room.creator.clone(), Some(operator)),
        None => (identity.user.clone(), None),
    }
}

/// Housekeeping, once a second: what expires by itself on the hub's clock (billboards with a
/// display duration, flash-sale countdowns and ends).
pub fn tick(room: &Room, now: stagehand_protocol::types::Millis) {
    billboard::tick(room, now);
    flash_sale::tick(room, now);
}

/// What a handler produced.
pub struct Outcome {
    pub answer: Answer,
    /// Something the command layer must tell someone about.
    pub notice: Option<Notice>,
}

/// The caller's reply.
// Built once per command and matched at once; boxing the reply would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Answer {
    Reply(ReplyResult),
    /// The room already queued the reply (a snapshot, ordered before the events after it).
    Sent,
}

/// Effects beyond the room, carried out by the command layer.
pub enum Notice {
    /// Agency staff entered (`true`) or left one of the creator's rooms.
    StaffPresence { room: Arc<Room>, joined: bool },
    /// Agency staff scheduled a LIVE.
    LiveScheduled { room: String, title: String, starts_at: u64 },
    /// The LIVE ended: persist its summary before the reply goes out.
    LiveEnded { room: Arc<Room> },
}

impl Outcome {
    pub fn reply(result: ReplyResult) -> Self {
        Outcome { answer: Answer::Reply(result), notice: None }
    }
}

/// Run one room command. `room` is the room the command names, if it exists.
pub fn handle(ctx: &mut Ctx<'_>, room: Option<Arc<Room>>, command: &Command) -> HubResult<Outcome> {
    let existing = || room.clone().ok_or_else(|| HubError::not_found("no such room"));
    match command {
        Command::Join { since, .. } => presence::join(ctx, &existing()?, since.as_ref()),
        Command::Leave { .. } => presence::leave(ctx, &existing()?),
        Command::Comment { text, .. } => comments::post(ctx, &*existing()?, text),
        Command::DeleteComment { comment_id, .. } => comments::delete(ctx, &*existing()?, *comment_id),
        Command::StartRoom { room: id, title, .. } => lifecycle::start(ctx, id, title.as_deref(), None),
        Command::EndRoom { .. } => lifecycle::end(&existing()?),
        Command::ScheduleRoom { room: id, title, starts_at } => lifecycle::schedule(ctx, id, title, *starts_at),
        Command::DeployBillboard { billboard, .. } => billboard::deploy(ctx, &*existing()?, billboard),
        Command::RemoveBillboard { .. } => billboard::remove(ctx, &*existing()?),
        Command::BagAdd { .. }
        | Command::BagRemove { .. }
        | Command::BagMove { .. }
        | Command::BagPin { .. }
        | Command::BagUnpin { .. }
        | Command::BagSoldOut { .. } => bag::handle(ctx, &*existing()?, command),
        Command::StartGiveaway { prize, keyword, duration_ms, winners, must_be_present, .. } => {
            let spec = giveaway::Spec {
                prize,
                keyword,
                duration_ms: *duration_ms,
                winners: *winners,
                must_be_present: *must_be_present,
            };
            giveaway::start(ctx, &*existing()?, spec)
        }
        Command::ActivityFeed { after, limit, .. } => backend::feed(&*existing()?, *after, *limit),
        Command::Dashboard { .. } => dashboard::read(ctx, &*existing()?),
        other => Err(HubError::internal(format!("`{}` is not a room command", other.name()))),
    }
}

/// Whether a command is one of the room features' (the rest are Creator Partner Access and
/// session commands).
pub fn is_room_command(command: &Command) -> bool {
    matches!(
        command,
        Command::Join { .. }
            | Command::Leave { .. }
            | Command::Comment { .. }
            | Command::DeleteComment { .. }
            | Command::StartRoom { .. }
            | Command::EndRoom { .. }
            | Command::ScheduleRoom { .. }
            | Command::DeployBillboard { .. }
            | Command::RemoveBillboard { .. }
            | Command::BagAdd { .. }
            | Command::BagRemove { .. }
            | Command::BagMove { .. }
            | Command::BagPin { .. }
            | Command::BagUnpin { .. }
            | Command::BagSoldOut { .. }
            | Command::StartGiveaway { .. }
            | Command::ActivityFeed { .. }
            | Command::Dashboard { .. }
    )
}
