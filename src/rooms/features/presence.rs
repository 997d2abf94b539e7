//! Being in a room: `join` (with recovery of what a returning client missed), `leave`, and the
//! agency staff present, which the creator and staff see.
//!
//! Agency staff entering and leaving are staff-only events (`staff_joined`, `staff_left`) on the
//! staff stream, and notifications to the creator (carried out by the command layer).

use super::{Answer, Ctx, Notice, Outcome};
use crate::error::{HubError, HubResult};
use crate::rooms::{Audience, Room};
use stagehand_protocol::client::Since;
use stagehand_protocol::server::{EventBody, ReplyResult};
use stagehand_protocol::types::{Operator, Role, RoomState as Phase};
use std::sync::Arc;

/// The presence slice: agency staff in the room now (one entry per staff connection).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub staff: Vec<Operator>,
}

pub fn apply(state: &mut State, body: &EventBody) {
    match body {
        EventBody::StaffJoined { staff } => state.staff.push(staff.clone()),
        EventBody::StaffLeft { staff } => {
            if let Some(at) = state.staff.iter().position(|s| s == staff) {
                state.staff.remove(at);
            }
        }
        EventBody::RoomEnded { .. } => state.staff.clear(),
        _ => {}
    }
}

/// Which audience a caller joins a room in: the room's creator and agency staff see staff events.
pub fn audience(ctx: &Ctx<'_>, room: &Room) -> Audience {
    match ctx.identity.role {
        Role::Agency => Audience::Staff,
        Role::Creator if room.creator.id == ctx.identity.user.id => Audience::Staff,
        _ => Audience::Viewers,
    }
}

/// The connection may be in at most `max_rooms` rooms (`room`: the one it is about to join, if
/// it exists yet).
pub fn check_room_limit(ctx: &mut Ctx<'_>, room: Option<&Arc<Room>>) -> HubResult<()> {
    let id = ctx.outbox.id;
    // Rooms that ended (or dropped this connection as slow) no longer count against the limit.
    ctx.joined.retain(|r| r.is_member(id));
    let already = room.is_some_and(|room| ctx.joined.iter().any(|r| Arc::ptr_eq(r, room)));
    if !already && ctx.joined.len() >= ctx.max_rooms {
        ctx.rooms.metrics().tripped(crate::metrics::Tripped::RoomsPerConnection);
        return Err(HubError::unavailable("joined the most rooms one connection may"));
    }
    Ok(())
}

/// `join`: become a member; the room queues the snapshot reply, then (with `since`) the missed
/// events, then live ones. Agency staff joining for the first time on this connection announce
/// `staff_joined` after their snapshot.
pub fn join(ctx: &mut Ctx<'_>, room: &Arc<Room>, since: Option<&Since>) -> HubResult<Outcome> {
    let user = &ctx.identity.user.id;
    if ctx.identity.role != Role::Agency
        && *user != room.creator.id
        && ctx.moderation.is_blocked(&room.creator.id, user)
    {
        return Err(HubError::forbidden("blocked by the creator"));
    }
    check_room_limit(ctx, Some(room))?;
    let audience = audience(ctx, room);
    let operator = ctx.identity.operator();
    let first = room.join(ctx.outbox, audience, operator.clone(), since, ctx.request_id);
    remember(ctx, room);
    if audience == Audience::Viewers {
        let tracked = ctx.rooms.config().dashboard_max_tracked;
        super::dashboard::on_join(room, ctx.outbox.id, &ctx.identity.user.id, tracked);
    }
    let notice = match (first, operator) {
        (true, Some(staff)) => {
            // An ended room has no staff to tell; the creator is still notified.
            let op = room.op();
            if op.read(|s| s.lifecycle.phase != Phase::Ended) {
                op.publish(EventBody::StaffJoined { staff });
            }
            Some(Notice::StaffPresence { room: room.clone(), joined: true })
        }
        _ => None,
    };
    Ok(Outcome { answer: Answer::Sent, notice })
}

/// Join without recovery, for the creator's `start_room` (the caller holds the room's operation
/// lock, so the snapshot is exactly the state after `room_started`).
pub fn join_now(ctx: &mut Ctx<'_>, room: &Arc<Room>, audience: Audience) {
    room.join(ctx.outbox, audience, ctx.identity.operator(), None, ctx.request_id);
    remember(ctx, room);
}

fn remember(ctx: &mut Ctx<'_>, room: &Arc<Room>) {
    if !ctx.joined.iter().any(|r| Arc::ptr_eq(r, room)) {
        ctx.joined.push(room.clone());
    }
}

/// `leave`: stop receiving the room's events.
pub fn leave(ctx: &mut Ctx<'_>, room: &Arc<Room>) -> HubResult<Outcome> {
    ctx.joined.retain(|r| !Arc::ptr_eq(r, room));
    let Some(departure) = room.leave(ctx.outbox.id) else {
        return Err(HubError::not_found("not a member of this room"));
    };
    let notice = announce_departure(room, departure);
    Ok(Outcome { answer: Answer::Reply(ReplyResult::Published { seq: room.position().seq }), notice })
}

/// Publish `staff_left` for agency staff that left a room that has not ended, and say whom to
/// notify. Every way out of a room (leave, disconnect, slow consumer, lost access) ends here.
pub fn announce_departure(room: &Arc<Room>, departure: crate::rooms::Departure) -> Option<Notice> {
    let crate::rooms::Departure::Staff(staff) = departure else { return None };
    let op = room.op();
    if op.read(|s| s.lifecycle.phase == Phase::Ended) {
        return None;
    }
    op.publish(EventBody::StaffLeft { staff });
    Some(Notice::StaffPresence { room: room.clone(), joined: false })
}
