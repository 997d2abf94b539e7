//! A LIVE's lifecycle: scheduled → live → ended. Only the creator starts or ends it (the policy
//! table says so); the creator or agency staff with `scheduling` announce it.

use super::{Ctx, Notice, Outcome, RoomState};
use crate::error::{HubError, HubResult};
use crate::rooms::Audience;
use stagehand_protocol::server::{EndReason, Event, EventBody, ReplyResult};
use stagehand_protocol::types::{Actor, Millis, ProductSet, RoomState as Phase};

/// The lifecycle slice of a room's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub phase: Phase,
    pub title: String,
    pub starts_at: Option<Millis>,
    /// When it went live.
    pub started_at: Option<Millis>,
    pub ended_at: Option<Millis>,
}

impl State {
    pub fn new(title: String) -> Self {
        State { phase: Phase::Scheduled, title, starts_at: None, started_at: None, ended_at: None }
    }
}

pub fn apply(state: &mut State, event: &Event) {
    match &event.body {
        EventBody::RoomScheduled { title, starts_at } => {
            state.title = title.clone();
            state.starts_at = Some(*starts_at);
        }
        EventBody::RoomStarted { title } => {
            state.phase = Phase::Live;
            state.title = title.clone();
            state.started_at = Some(event.ts);
        }
        EventBody::RoomEnded { .. } => {
            state.phase = Phase::Ended;
            state.ended_at = Some(event.ts);
        }
        _ => {}
    }
}

/// The room must be live for this command.
pub fn require_live(state: &RoomState) -> HubResult<()> {
    match state.lifecycle.phase {
        Phase::Live => Ok(()),
        _ => Err(HubError::not_live("the room is not live")),
    }
}

/// `start_room`: create the room if needed, go live, and make the creator's connection a member
/// right after `room_started`: its snapshot is the room at that event.
///
/// `set`: the product set of the scheduled event the LIVE starts from, loaded into the bag right
/// after `room_started` (a `bag` event with `action: "loaded"`), before the creator's snapshot.
pub fn start(ctx: &mut Ctx<'_>, id: &str, title: Option<&str>, set: Option<&ProductSet>) -> HubResult<Outcome> {
    check_title(title, ctx.rooms.config().max_title_chars)?;
    // Checked before the room is created, so a refused start leaves nothing behind.
    super::presence::check_room_limit(ctx, ctx.rooms.find(id).as_ref())?;
    let room = ctx.rooms.get_or_create(id, &ctx.identity.user, title)?;
    let op = room.op();
    let title = op.read(|state| match state.lifecycle.phase {
        Phase::Live => Err(HubError::conflict("the room is already live")),
        Phase::Ended => Err(HubError::conflict("the room has ended; start a new room")),
        Phase::Scheduled => Ok(title.map(str::to_string).unwrap_or_else(|| state.lifecycle.title.clone())),
    })?;
    op.publish(EventBody::RoomStarted { title });
    if let Some(set) = set {
        super::bag::load_in(&op, &room, set, ctx.rooms.config().max_bag_items)?;
    }
    // Still under the room's operation lock: no event can come between `room_started` and the
    // creator's snapshot.
    super::presence::join_now(ctx, &room, Audience::Staff);
    Ok(Outcome { answer: super::Answer::Sent, notice: None })
}

/// `end_room`: everyone receives `room_ended`, then the room has no members; the LIVE's summary
/// is persisted before the creator hears back.
pub fn end(room: &std::sync::Arc<crate::rooms::Room>) -> HubResult<Outcome> {
    let event = end_with(room, EndReason::Creator)?;
    let notice = Some(Notice::LiveEnded { room: room.clone() });
    Ok(Outcome { answer: super::Answer::Reply(ReplyResult::Published { seq: event.seq }), notice })
}

/// End `room` for `reason` (also used when the hub reclaims a room).
pub fn end_with(room: &crate::rooms::Room, reason: EndReason) -> HubResult<std::sync::Arc<Event>> {
    let op = room.op();
    op.read(|state| match state.lifecycle.phase {
        Phase::Ended => Err(HubError::conflict("the room has already ended")),
        _ => Ok(()),
    })?;
    Ok(op.publish(EventBody::RoomEnded { reason }))
}

/// `schedule_room`: create the room as scheduled if needed and set its title and start time.
pub fn schedule(ctx: &mut Ctx<'_>, id: &str, title: &str, starts_at: Millis) -> HubResult<Outcome> {
    check_title(Some(title), ctx.rooms.config().max_title_chars)?;
    let creator = match &ctx.identity.agency {
        // The agency token names the creator by id only; the creator's display name is set when a
        // room is created by the creator or the backend.
        Some(agency) => Actor { id: agency.creator_id.clone(), name: agency.creator_id.clone() },
        None => ctx.identity.user.clone(),
    };
    let room = ctx.rooms.get_or_create(id, &creator, Some(title))?;
    schedule_room(&room, title, starts_at)?;
    let notice = ctx.identity.agency.as_ref().map(|_| Notice::LiveScheduled {
        room: id.to_string(),
        title: title.to_string(),
        starts_at,
    });
    let snapshot = room.snapshot(Audience::Staff);
    Ok(Outcome { answer: super::Answer::Reply(ReplyResult::Snapshot(snapshot)), notice })
}

/// Announce (or move) a scheduled LIVE: title and start time, before it goes live. Shared with
/// the backend's `PUT /api/v1/rooms/{room}`.
pub fn schedule_room(room: &crate::rooms::Room, title: &str, starts_at: Millis) -> HubResult<()> {
    let op = room.op();
    op.read(|state| match state.lifecycle.phase {
        Phase::Scheduled => Ok(()),
        _ => Err(HubError::conflict("only a room that has not started can be scheduled")),
    })?;
    op.publish(EventBody::RoomScheduled { title: title.to_string(), starts_at });
    Ok(())
}

/// A title, if given, is 1 to `max` characters (`max_title_chars`).
pub fn check_title(title: Option<&str>, max: usize) -> HubResult<()> {
    match title {
        Some(t) if t.trim().is_empty() || t.chars().count() > max => {
            Err(HubError::invalid(format!("titles are 1–{max} characters")))
        }
        _ => Ok(()),
    }
}
