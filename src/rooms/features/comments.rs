//! Comments: posting in a live room, and deleting recent ones (moderation).

use super::lifecycle::require_live;
use super::{Ctx, Outcome};
use crate::error::{HubError, HubResult};
use crate::rooms::Room;
use stagehand_protocol::server::{EventBody, ReplyResult};
use std::collections::VecDeque;

/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 500;
/// How many recent comment ids a room remembers so moderators can delete them.
pub const RECENT_COMMENTS: usize = 1024;

/// The comments slice: ids of recent comments that can still be deleted, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub recent: VecDeque<u64>,
}

pub fn apply(state: &mut State, body: &EventBody) {
    match body {
        EventBody::Comment { comment_id, .. } => {
            if state.recent.len() == RECENT_COMMENTS {
                state.recent.pop_front();
            }
            state.recent.push_back(*comment_id);
        }
        EventBody::CommentDeleted { comment_id, .. } => state.recent.retain(|id| id != comment_id),
        _ => {}
    }
}

/// `comment`: post in a live room (membership is checked by the policy table).
pub fn post(ctx: &mut Ctx<'_>, room: &Room, text: &str) -> HubResult<Outcome> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_COMMENT_CHARS {
        return Err(HubError::invalid(format!("comments are 1–{MAX_COMMENT_CHARS} characters")));
    }
    let (author, operator) = ctx.acting_as(room);
    let op = room.op();
    op.read(require_live)?;
    // A comment's id is the seq of its event, which the broker gives; the body names it too, so
    // it is set to the seq the event will take (the operation lock keeps that exact).
    let comment_id = op.position().seq + 1;
    let event = op.publish(EventBody::Comment { comment_id, author, text: text.to_string(), operator });
    debug_assert_eq!(event.seq, comment_id);
    // Engagement hooks, after the comment is public: a giveaway entry's live count, and the
    // dashboard's comment counter.
    super::giveaway::on_comment(room, &op);
    super::dashboard::on_comment(room, event.ts);
    Ok(Outcome::reply(ReplyResult::Comment { comment_id, seq: event.seq }))
}

/// `delete_comment`: remove one of the room's recent comments.
pub fn delete(ctx: &mut Ctx<'_>, room: &Room, comment_id: u64) -> HubResult<Outcome> {
    let (by, operator) = ctx.acting_as(room);
    let op = room.op();
    op.read(|state| {
        require_live(state)?;
        match state.comments.recent.contains(&comment_id) {
            true => Ok(()),
            false => Err(HubError::not_found(format!("no recent comment {comment_id}"))),
        }
    })?;
    let event = op.publish(EventBody::CommentDeleted { comment_id, by, operator });
    Ok(Outcome::reply(ReplyResult::Published { seq: event.seq }))
}
