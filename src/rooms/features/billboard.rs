//! The billboard: one promotional card shown over the stream, deployed (replacing any shown) and
//! removed by the creator or agency staff with `billboards`. With a display duration it comes
//! down by itself on the hub's clock ([`tick`], once a second: an `expired` billboard event).

use super::lifecycle::require_live;
use super::{Ctx, Outcome};
use crate::error::{HubError, HubResult};
use crate::rooms::Room;
use stagehand_protocol::server::{EventBody, ReplyResult};
use stagehand_protocol::types::{Billboard, BillboardAction, Millis};

/// The billboard slice: the billboard shown now.
pub type State = Option<Billboard>;

pub fn apply(state: &mut State, body: &EventBody) {
    match body {
        EventBody::Billboard { action: BillboardAction::Deployed, billboard, .. } => *state = Some(billboard.clone()),
        EventBody::Billboard { action: BillboardAction::Removed | BillboardAction::Expired, .. } => *state = None,
        _ => {}
    }
}

/// Shortest display duration.
pub const MIN_DURATION_MS: u64 = 1_000;

/// `deploy_billboard`: show `billboard`, replacing any shown; with `duration_ms`, until then.
pub fn deploy(ctx: &mut Ctx<'_>, room: &Room, billboard: &Billboard) -> HubResult<Outcome> {
    check(billboard, ctx.rooms.config().max_billboard_field_chars)?;
    let mut billboard = billboard.clone();
    billboard.expires_at = None;
    if let Some(duration) = billboard.duration_ms {
        let max = ctx.rooms.config().max_billboard_duration_ms;
        if !(MIN_DURATION_MS..=max).contains(&duration) {
            return Err(HubError::invalid(format!("duration_ms is {MIN_DURATION_MS}–{max}")));
        }
        billboard.expires_at = Some(ctx.rooms.now_ms() + duration);
    }
    let (by, operator) = ctx.acting_as(room);
    let op = room.op();
    op.read(require_live)?;
    let body = EventBody::Billboard { action: BillboardAction::Deployed, billboard, by, operator };
    Ok(Outcome::reply(ReplyResult::Published { seq: op.publish(body).seq }))
}

/// `remove_billboard`: take the shown billboard down.
pub fn remove(ctx: &mut Ctx<'_>, room: &Room) -> HubResult<Outcome> {
    let (by, operator) = ctx.acting_as(room);
    let op = room.op();
    let billboard = op.read(|state| {
        require_live(state)?;
        state.billboard.clone().ok_or_else(|| HubError::not_found("no billboard is deployed"))
    })?;
    let body = EventBody::Billboard { action: BillboardAction::Removed, billboard, by, operator };
    Ok(Outcome::reply(ReplyResult::Published { seq: op.publish(body).seq }))
}

/// Housekeeping, once a second: take down a billboard whose display duration ran out.
pub fn tick(room: &Room, now: Millis) {
    let op = room.op();
    let due = op.read(|state| {
        state.billboard.clone().filter(|b| require_live(state).is_ok() && b.expires_at.is_some_and(|at| now >= at))
    });
    if let Some(billboard) = due {
        let by = room.creator.clone();
        op.publish(EventBody::Billboard { action: BillboardAction::Expired, billboard, by, operator: None });
    }
}

/// An id and a title, and no field over `max_chars` (`max_billboard_field_chars`).
fn check(billboard: &Billboard, max_chars: usize) -> HubResult<()> {
    if billboard.billboard_id.is_empty() || billboard.title.trim().is_empty() {
        return Err(HubError::invalid("a billboard needs an id and a title"));
    }
    let fields = [
        Some(&billboard.billboard_id),
        Some(&billboard.title),
        billboard.text.as_ref(),
        billboard.image_url.as_ref(),
        billboard.link_url.as_ref(),
    ];
    if fields.into_iter().flatten().any(|f| f.chars().count() > max_chars) {
        return Err(HubError::invalid(format!("billboard fields are at most {max_chars} characters")));
    }
    Ok(())
}
