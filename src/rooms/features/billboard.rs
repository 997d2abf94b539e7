//! The billboard: one promotional card shown over the stream, deployed and removed by the creator
//! or agency staff with `billboards`.

use super::lifecycle::require_live;
use super::{Ctx, Outcome};
use crate::error::{HubError, HubResult};
use crate::rooms::Room;
use stagehand_protocol::server::{EventBody, ReplyResult};
use stagehand_protocol::types::{Billboard, BillboardAction};

/// Longest billboard field, in characters.
pub const MAX_FIELD_CHARS: usize = 1024;

/// The billboard slice: the billboard shown now.
pub type State = Option<Billboard>;

pub fn apply(state: &mut State, body: &EventBody) {
    match body {
        EventBody::Billboard { action: BillboardAction::Deployed, billboard, .. } => *state = Some(billboard.clone()),
        EventBody::Billboard { action: BillboardAction::Removed, .. } => *state = None,
        _ => {}
    }
}

/// `deploy_billboard`: show `billboard`, replacing any shown.
pub fn deploy(ctx: &mut Ctx<'_>, room: &Room, billboard: &Billboard) -> HubResult<Outcome> {
    check(billboard)?;
    let (by, operator) = ctx.acting_as(room);
    let op = room.op();
    op.read(require_live)?;
    let body = EventBody::Billboard { action: BillboardAction::Deployed, billboard: billboard.clone(), by, operator };
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

fn check(billboard: &Billboard) -> HubResult<()> {
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
    if fields.into_iter().flatten().any(|f| f.chars().count() > MAX_FIELD_CHARS) {
        return Err(HubError::invalid(format!("billboard fields are at most {MAX_FIELD_CHARS} characters")));
    }
    Ok(())
}
