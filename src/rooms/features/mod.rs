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
//! - `backend.rs`: orders and activity published by the platform backend.
//!
//! Handlers run after the command layer has authorized the command; they validate it against the
//! room's state, publish the event through the room's broker, and return what the caller is
//! told plus any effects the command layer carries out (notifications).

pub mod backend;
pub mod billboard;
pub mod comments;
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
use std::sync::Arc;

/// Everything a room shows, as the fold of its events: applying an event is the only way the
/// state changes, so a snapshot is "the state at seq N" and a room can be rebuilt from history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomState {
    pub lifecycle: lifecycle::State,
    pub comments: comments::State,
    pub billboard: billboard::State,
    pub presence: presence::State,
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
        moderation::apply(&mut self.moderation, &event.body);
        schedule::apply(&mut self.campaign, &event.body);
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
        match self.identity.operator() {
            Some(operator) => (room.creator.clone(), Some(operator)),
            None => (self.identity.user.clone(), None),
        }
    }
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
        Command::StartRoom { room: id, title } => lifecycle::start(ctx, id, title.as_deref()),
        Command::EndRoom { .. } => lifecycle::end(&*existing()?),
        Command::ScheduleRoom { room: id, title, starts_at } => lifecycle::schedule(ctx, id, title, *starts_at),
        Command::DeployBillboard { billboard, .. } => billboard::deploy(ctx, &*existing()?, billboard),
        Command::RemoveBillboard { .. } => billboard::remove(ctx, &*existing()?),
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
    )
}
