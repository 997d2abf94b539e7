//! Room commands: join, leave, comment, start/end/schedule a LIVE, billboards, deleting comments.
//! Authorization already happened in `dispatch`; these handlers only apply the command.
//!
//! Agency staff act as the creator: what they do is published with the creator as `author`/`by`
//! and their own identity as `operator`, which only staff members receive.

use crate::auth::Identity;
use crate::conn::session::Session;
use crate::error::{HubError, HubResult};
use crate::rooms::{Audience, Room, MAX_TITLE};
use stagehand_protocol::server::{EndReason, ReplyResult};
use stagehand_protocol::types::{Actor, Billboard, Role};
use stagehand_protocol::Command;
use std::sync::Arc;

/// Longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 500;

pub fn handle(
    session: &mut Session,
    identity: &Identity,
    room: Option<Arc<Room>>,
    command: &Command,
) -> HubResult<ReplyResult> {
    let hub = session.hub.clone();
    let existing = || room.clone().ok_or_else(|| HubError::not_found("no such room"));
    match command {
        Command::Join { .. } => {
            let room = existing()?;
            Ok(ReplyResult::Snapshot(join(session, identity, &room)?))
        }
        Command::Leave { .. } => {
            let room = existing()?;
            session.joined.retain(|r| !Arc::ptr_eq(r, &room));
            if !room.leave(session.id()) {
                return Err(HubError::not_found("not a member of this room"));
            }
            Ok(ReplyResult::Published { seq: room.snapshot(Audience::Viewers).seq })
        }
        Command::Comment { text, .. } => {
            let room = existing()?;
            if !room.is_member(session.id()) {
                return Err(HubError::forbidden("join the room before commenting"));
            }
            let text = text.trim();
            if text.is_empty() || text.chars().count() > MAX_COMMENT_CHARS {
                return Err(HubError::invalid(format!("comments are 1–{MAX_COMMENT_CHARS} characters")));
            }
            let (author, operator) = acting_as(identity, &room);
            let seq = room.comment(author, text.to_string(), operator)?;
            Ok(ReplyResult::Comment { comment_id: seq, seq })
        }
        Command::StartRoom { room: id, title } => {
            check_title(title.as_deref())?;
            let room = hub.rooms.get_or_create(id, &identity.user, title.as_deref())?;
            // The creator's connection is in its room from the start, so it sees `room_started`.
            join(session, identity, &room)?;
            Ok(ReplyResult::Snapshot(room.start(title.clone())?))
        }
        Command::EndRoom { .. } => {
            let room = existing()?;
            let seq = room.end(EndReason::Creator)?;
            session.joined.retain(|r| !Arc::ptr_eq(r, &room));
            Ok(ReplyResult::Published { seq })
        }
        Command::ScheduleRoom { room: id, title, starts_at } => {
            check_title(Some(title))?;
            let creator = match &identity.agency {
                // The agency token names the creator by id only; the creator's display name is
                // set when a room is created by the creator or the backend.
                Some(agency) => Actor { id: agency.creator_id.clone(), name: agency.creator_id.clone() },
                None => identity.user.clone(),
            };
            let room = hub.rooms.get_or_create(id, &creator, Some(title))?;
            Ok(ReplyResult::Snapshot(room.schedule(title.clone(), *starts_at)?))
        }
        Command::DeployBillboard { billboard, .. } => {
            let room = existing()?;
            check_billboard(billboard)?;
            let (by, operator) = acting_as(identity, &room);
            Ok(ReplyResult::Published { seq: room.deploy_billboard(billboard.clone(), by, operator)? })
        }
        Command::RemoveBillboard { .. } => {
            let room = existing()?;
            let (by, operator) = acting_as(identity, &room);
            Ok(ReplyResult::Published { seq: room.remove_billboard(by, operator)? })
        }
        Command::DeleteComment { comment_id, .. } => {
            let room = existing()?;
            let (by, operator) = acting_as(identity, &room);
            Ok(ReplyResult::Published { seq: room.delete_comment(*comment_id, by, operator)? })
        }
        other => Err(HubError::internal(format!("`{}` is not a room command", other.name()))),
    }
}

/// Join `room`, within the per-connection room limit.
fn join(
    session: &mut Session,
    identity: &Identity,
    room: &Arc<Room>,
) -> HubResult<stagehand_protocol::types::Snapshot> {
    let id = session.id();
    // Rooms that ended (or dropped this connection as slow) no longer count against the limit.
    session.joined.retain(|r| r.is_member(id));
    let already = session.joined.iter().any(|r| Arc::ptr_eq(r, room));
    if !already && session.joined.len() >= session.hub.config.max_rooms_per_connection {
        return Err(HubError::unavailable("joined the most rooms one connection may"));
    }
    let audience = match identity.role {
        Role::Agency => Audience::Staff,
        Role::Creator if room.creator.id == identity.user.id => Audience::Staff,
        _ => Audience::Viewers,
    };
    let snapshot = room.join(session.outbox.clone(), audience, identity.operator());
    if !already {
        session.joined.push(room.clone());
    }
    Ok(snapshot)
}

/// Who an action appears to come from, and the real operator behind it when that differs:
/// agency staff act as the room's creator.
fn acting_as(identity: &Identity, room: &Room) -> (Actor, Option<stagehand_protocol::types::Operator>) {
    match identity.operator() {
        Some(operator) => (room.creator.clone(), Some(operator)),
        None => (identity.user.clone(), None),
    }
}

fn check_title(title: Option<&str>) -> HubResult<()> {
    match title {
        Some(t) if t.trim().is_empty() || t.chars().count() > MAX_TITLE => {
            Err(HubError::invalid(format!("titles are 1–{MAX_TITLE} characters")))
        }
        _ => Ok(()),
    }
}

fn check_billboard(billboard: &Billboard) -> HubResult<()> {
    let fields = [
        Some(&billboard.billboard_id),
        Some(&billboard.title),
        billboard.text.as_ref(),
        billboard.image_url.as_ref(),
        billboard.link_url.as_ref(),
    ];
    if billboard.billboard_id.is_empty() || billboard.title.trim().is_empty() {
        return Err(HubError::invalid("a billboard needs an id and a title"));
    }
    if fields.into_iter().flatten().any(|f| f.chars().count() > 1024) {
        return Err(HubError::invalid("billboard fields are at most 1024 characters"));
    }
    Ok(())
}
