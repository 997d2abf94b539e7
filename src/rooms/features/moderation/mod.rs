//! Moderation: the comment pipeline's rules and the commands that set them.
//!
//! - `pipeline.rs`: the ordered checks every comment passes before fan-out (length, mute, slow
//!   mode, hidden user, keyword filter, links, repeats, floods);
//! - `filter.rs`: Unicode normalisation and the blocked-term matcher;
//! - `rules.rs`: [`Moderation`], each creator's rules in memory (persisted in the store) and
//!   each room's recent comment traffic;
//! - `commands.rs`: the moderation commands (settings, terms, review, mute, block, hide, list);
//! - `platform.rs`: the platform backend's twins (keyword list, blocks) over HTTP.
//!
//! The room's slice ([`State`]) is what staff and viewers see in the room: its comment settings
//! (public) and the comments held for review (staff only). Both change only by events, so the
//! join snapshot and recovery carry them. A creator's rules (terms, sanctions) apply to all its
//! rooms; each change to them is reported by a staff-only `moderated` event in each of its live
//! rooms.

pub mod commands;
pub mod filter;
pub mod pipeline;
pub mod platform;
mod rules;

pub use rules::{Limits, Moderation, Traffic};

use stagehand_protocol::server::EventBody;
use stagehand_protocol::types::{CommentSettings, HeldComment};
use std::collections::VecDeque;

/// Most comments a room holds for review; the oldest goes (unapproved) when another is held.
pub const MAX_HELD: usize = 200;
/// Longest slow-mode interval.
pub const MAX_SLOW_MODE_MS: u64 = 600_000;

/// The moderation slice of a room's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub settings: CommentSettings,
    /// Comments waiting for review, oldest first (at most [`MAX_HELD`]).
    pub held: VecDeque<HeldComment>,
}

pub fn apply(state: &mut State, body: &EventBody) {
    match body {
        EventBody::CommentSettings { settings, .. } => state.settings = *settings,
        EventBody::CommentHeld { comment } => {
            if state.held.len() == MAX_HELD {
                state.held.pop_front();
            }
            state.held.push_back(comment.clone());
        }
        EventBody::CommentReviewed { comment_id, .. } => state.held.retain(|c| c.comment_id != *comment_id),
        EventBody::RoomEnded { .. } => state.held.clear(),
        _ => {}
    }
}
