//! Comments: posting in a live room through the moderation pipeline, and deleting recent ones.
//!
//! A comment passes [`pipeline::STEPS`](super::moderation::pipeline::STEPS) first. Published, it is
//! a `comment` event to everyone. Held for review (keyword, link, spam, hidden author), it is a
//! staff-only `comment_held` event, and its author's connection alone gets the `comment` event, with
//! the same reply as a published one: the author sees it as sent (shadow-hide). Approved later, it
//! is published with the same `comment_id`.
//!
//! Comment ids are the room's own counter (the fold of `comment` and `comment_held` events), so a
//! held comment keeps its id when it is approved.

use super::lifecycle::require_live;
use super::moderation::commands::tell;
use super::moderation::pipeline::{self, Submission, Verdict};
use super::{Ctx, Outcome};
use crate::error::{HubError, HubResult};
use crate::rooms::Room;
use stagehand_protocol::server::{EventBody, ReplyResult};
use stagehand_protocol::types::{HeldComment, Role};
use std::collections::VecDeque;

/// How many recent comments a room remembers so moderators can delete them.
pub const RECENT_COMMENTS: usize = 1024;

/// The comments slice: recent comments that can still be deleted (id and author id), oldest
/// first, and the id the next comment takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub recent: VecDeque<(u64, String)>,
    pub next_id: u64,
}

impl Default for State {
    fn default() -> Self {
        State { recent: VecDeque::new(), next_id: 1 }
    }
}

pub fn apply(state: &mut State, body: &EventBody) {
    match body {
        EventBody::Comment { comment_id, author, .. } => {
            if state.recent.len() == RECENT_COMMENTS {
                state.recent.pop_front();
            }
            state.recent.push_back((*comment_id, author.id.clone()));
            state.next_id = state.next_id.max(comment_id + 1);
        }
        EventBody::CommentHeld { comment } => state.next_id = state.next_id.max(comment.comment_id + 1),
        EventBody::CommentDeleted { comment_id, .. } => state.recent.retain(|(id, _)| id != comment_id),
        _ => {}
    }
}

/// `comment`: post in a live room (membership is checked by the policy table).
pub fn post(ctx: &mut Ctx<'_>, room: &Room, text: &str) -> HubResult<Outcome> {
    let text = text.trim();
    let (author, operator) = ctx.acting_as(room);
    let staff = ctx.identity.role == Role::Agency || ctx.identity.user.id == room.creator.id;
    let now = ctx.rooms.now_ms();
    let op = room.op();
    let (settings, comment_id, giveaway_entry) = op.read(|s| {
        require_live(s)
            .map(|_| (s.moderation.settings, s.comments.next_id, super::giveaway::is_entry(&s.giveaway, text, now)))
    })?;
    let submission = Submission {
        room: &room.id,
        creator_id: &room.creator.id,
        author: &ctx.identity.user,
        staff,
        text,
        settings,
        giveaway_entry,
        now,
    };
    let text = text.to_string();
    match pipeline::screen(ctx.moderation, &submission)? {
        Verdict::Publish => {
            let event = op.publish(EventBody::Comment { comment_id, author, text, operator });
            // Engagement hooks, after the comment is public: a giveaway entry's live count, and
            // the dashboard's comment counter.
            super::giveaway::on_comment(room, &op);
            super::dashboard::on_comment(room, event.ts);
            Ok(Outcome::reply(ReplyResult::Comment { comment_id, seq: event.seq }))
        }
        Verdict::Hold(reason) => {
            ctx.moderation.tally.filtered(&room.creator.id);
            let comment = HeldComment { comment_id, author: author.clone(), text: text.clone(), reason, held_at: now };
            op.publish(EventBody::CommentHeld { comment });
            tell(room, ctx.outbox, EventBody::Comment { comment_id, author, text, operator }, now);
            Ok(Outcome::reply(ReplyResult::Comment { comment_id, seq: op.position().seq }))
        }
    }
}

/// `delete_comment`: remove one of the room's recent comments.
pub fn delete(ctx: &mut Ctx<'_>, room: &Room, comment_id: u64) -> HubResult<Outcome> {
    let (by, operator) = ctx.acting_as(room);
    let op = room.op();
    op.read(|state| {
        require_live(state)?;
        match state.comments.recent.iter().any(|(id, _)| *id == comment_id) {
            true => Ok(()),
            false => Err(HubError::not_found(format!("no recent comment {comment_id}"))),
        }
    })?;
    let event = op.publish(EventBody::CommentDeleted { comment_id, by, operator });
    Ok(Outcome::reply(ReplyResult::Published { seq: event.seq }))
}
