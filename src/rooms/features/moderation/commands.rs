//! The moderation commands. The command layer has authorized them (creator, or agency staff with
//! `moderation`) and charged the sender's and the room's operation budgets, so a refused flood
//! is `rate_limited` before anything here runs.
//!
//! Room settings and reviews change only the room: one event each. The creator's rules (terms,
//! mutes, blocks, hides) are written to the store first — with the agency audit row in the same
//! transaction — then changed in memory, then reported by a staff-only `moderated` event in each
//! of the creator's rooms that has not ended. A store failure changes nothing.

use super::{Moderation, MAX_SLOW_MODE_MS};
use crate::auth::Identity;
use crate::delivery::frame::{encode_frame, Class};
use crate::delivery::outbox::Outbox;
use crate::error::{HubError, HubResult};
use crate::partner::inboxes::user_inbox;
use crate::rooms::Room;
use crate::store::{NewAudit, StoreError, Tx};
use stagehand_protocol::server::{Event, EventBody, ReplyResult, ServerMessage};
use stagehand_protocol::types::{
    Actor, BlockedTerm, CommentSettings, HealthCounts, ModeratedUser, ModerationAction, MuteDuration, Operator,
    RoomState as Phase, Sanction,
};
use stagehand_protocol::Command;
use std::sync::Arc;

/// Most terms one command may add or remove.
pub const MAX_TERMS_PER_COMMAND: usize = 100;
/// Longest account id a sanction may name.
pub const MAX_USER_ID: usize = 128;

/// Whether `command` is one of moderation's.
pub fn is_command(command: &Command) -> bool {
    matches!(
        command,
        Command::SetCommentSettings { .. }
            | Command::AddBlockedTerms { .. }
            | Command::RemoveBlockedTerms { .. }
            | Command::ReviewComment { .. }
            | Command::Mute { .. }
            | Command::Unmute { .. }
            | Command::Block { .. }
            | Command::Unblock { .. }
            | Command::HideUser { .. }
            | Command::UnhideUser { .. }
            | Command::ListModeration { .. }
    )
}

/// Whether a successful `command` wrote its own agency audit row, in the transaction of the
/// change (the command layer audits the others, and every refusal).
pub fn audits_itself(command: &Command) -> bool {
    is_command(command)
        && !matches!(
            command,
            Command::SetCommentSettings { .. } | Command::ReviewComment { .. } | Command::ListModeration { .. }
        )
}

/// Run one moderation command in `room`.
pub async fn handle(m: &Moderation, who: &Identity, room: Arc<Room>, command: &Command) -> HubResult<ReplyResult> {
    let now = m.rooms.now_ms();
    let creator = room.creator.id.clone();
    match command {
        Command::SetCommentSettings { slow_mode_ms, links_allowed, .. } => {
            set_settings(who, &room, *slow_mode_ms, *links_allowed)
        }
        Command::ReviewComment { comment_id, approve, .. } => review(who, &room, *comment_id, *approve),
        Command::ListModeration { .. } => {
            Ok(ReplyResult::Moderation { terms: m.terms(&creator, now), users: m.sanctions(&creator, now) })
        }
        Command::AddBlockedTerms { terms, .. } => add_terms(m, who, &room, terms, now).await,
        Command::RemoveBlockedTerms { terms, .. } => remove_terms(m, who, &room, terms).await,
        Command::Mute { user_id, duration, remove_comments, .. } => {
            mute(m, who, &room, user_id, *duration, *remove_comments, now).await
        }
        Command::Block { user_id, .. } => {
            sanction(m, who, &room, user_id, Sanction::Blocked, now).await?;
            expel(m, &room.creator.id, user_id);
            Ok(published(&room))
        }
        Command::HideUser { user_id, .. } => sanction(m, who, &room, user_id, Sanction::Hidden, now).await,
        Command::Unmute { user_id, .. } => pardon(m, who, &room, user_id, Sanction::Muted, now).await,
        Command::Unblock { user_id, .. } => pardon(m, who, &room, user_id, Sanction::Blocked, now).await,
        Command::UnhideUser { user_id, .. } => pardon(m, who, &room, user_id, Sanction::Hidden, now).await,
        other => Err(HubError::internal(format!("`{}` is not a moderation command", other.name()))),
    }
}

/// Who an action appears to come from (the creator, for agency staff) and who really did it.
fn acting_as(who: &Identity, room: &Room) -> (Actor, Option<Operator>) {
    match who.operator() {
        Some(operator) => (room.creator.clone(), Some(operator)),
        None => (who.user.clone(), None),
    }
}

fn published(room: &Room) -> ReplyResult {
    ReplyResult::Published { seq: room.position().seq }
}

fn require_open(phase: Phase) -> HubResult<()> {
    match phase {
        Phase::Ended => Err(HubError::not_live("the room has ended")),
        _ => Ok(()),
    }
}

/// `set_comment_settings`: a public `comment_settings` event with the merged settings.
fn set_settings(who: &Identity, room: &Room, slow_mode_ms: Option<u64>, links: Option<bool>) -> HubResult<ReplyResult> {
    if slow_mode_ms.is_some_and(|ms| ms > MAX_SLOW_MODE_MS) {
        return Err(HubError::invalid(format!("slow_mode_ms is at most {MAX_SLOW_MODE_MS}")));
    }
    let (by, operator) = acting_as(who, room);
    let op = room.op();
    let current = op.read(|s| require_open(s.lifecycle.phase).map(|_| s.moderation.settings))?;
    let settings = CommentSettings {
        slow_mode_ms: slow_mode_ms.unwrap_or(current.slow_mode_ms),
        links_allowed: links.unwrap_or(current.links_allowed),
    };
    let event = op.publish(EventBody::CommentSettings { settings, by, operator });
    Ok(ReplyResult::Published { seq: event.seq })
}

/// `review_comment`: `comment_reviewed` to staff, and on approval the comment to everyone, with
/// the id its author already saw.
fn review(who: &Identity, room: &Room, comment_id: u64, approve: bool) -> HubResult<ReplyResult> {
    let (by, operator) = acting_as(who, room);
    let op = room.op();
    let held = op.read(|s| {
        if approve {
            super::super::lifecycle::require_live(s)?;
        }
        s.moderation
            .held
            .iter()
            .find(|c| c.comment_id == comment_id)
            .cloned()
            .ok_or_else(|| HubError::not_found(format!("no held comment {comment_id}")))
    })?;
    op.publish(EventBody::CommentReviewed { comment_id, approved: approve, by, operator });
    if approve {
        let body = EventBody::Comment { comment_id, author: held.author, text: held.text, operator: None };
        return Ok(ReplyResult::Published { seq: op.publish(body).seq });
    }
    Ok(ReplyResult::Published { seq: op.position().seq })
}

/// Write a change to the creator's rules in one transaction with the agency's audit row.
async fn persist<T: Send + 'static>(
    m: &Moderation,
    who: &Identity,
    room: &Room,
    command: &'static str,
    detail: Option<String>,
    change: impl FnOnce(&Tx<'_>) -> Result<T, StoreError> + Send + 'static,
) -> HubResult<T> {
    let now = m.rooms.now_ms();
    let audit = who.agency.as_ref().map(|agency| NewAudit {
        creator_id: room.creator.id.clone(),
        agency_id: agency.agency_id.clone(),
        staff_id: who.user.id.clone(),
        staff_name: who.user.name.clone(),
        room: Some(room.id.clone()),
        command: command.to_string(),
        outcome: "ok".to_string(),
        detail,
    });
    m.store
        .write(move |tx| {
            let value = change(tx)?;
            if let Some(entry) = audit {
                tx.append_audit(entry, now)?;
            }
            Ok(value)
        })
        .await
}

/// Report a change to the creator's rules in each of its rooms that has not ended.
fn report(
    m: &Moderation,
    who: &Identity,
    room: &Room,
    action: ModerationAction,
    user_id: Option<&str>,
    until: Option<u64>,
    terms: Vec<String>,
) {
    let (by, operator) = acting_as(who, room);
    for r in m.rooms.all() {
        if r.creator.id != room.creator.id {
            continue;
        }
        let op = r.op();
        if op.read(|s| s.lifecycle.phase == Phase::Ended) {
            continue;
        }
        op.publish(EventBody::Moderated {
            action,
            user_id: user_id.map(str::to_string),
            until,
            terms: terms.clone(),
            by: by.clone(),
            operator: operator.clone(),
        });
    }
}

async fn add_terms(
    m: &Moderation,
    who: &Identity,
    room: &Room,
    terms: &[BlockedTerm],
    now: u64,
) -> HubResult<ReplyResult> {
    if terms.is_empty() || terms.len() > MAX_TERMS_PER_COMMAND {
        return Err(HubError::invalid(format!("give 1–{MAX_TERMS_PER_COMMAND} terms")));
    }
    for term in terms {
        super::filter::check_term(&term.term).map_err(HubError::invalid)?;
        if term.expires_at.is_some_and(|at| at <= now) {
            return Err(HubError::invalid(format!("the term {:?} would expire at once", term.term)));
        }
    }
    let creator = room.creator.id.clone();
    let mut listed: Vec<BlockedTerm> =
        m.all_terms(&creator).into_iter().filter(|t| t.expires_at.is_none_or(|at| now < at)).collect();
    for term in terms {
        listed.retain(|t| t.term != term.term);
        listed.push(term.clone());
    }
    if listed.len() > m.limits.max_terms {
        return Err(HubError::unavailable(format!("a creator may block at most {} terms", m.limits.max_terms)));
    }
    let names: Vec<String> = terms.iter().map(|t| t.term.clone()).collect();
    let (owned, who_creator) = (terms.to_vec(), creator.clone());
    persist(m, who, room, "add_blocked_terms", Some(names.join(", ")), move |tx| {
        tx.put_blocked_terms(&who_creator, &owned, now)
    })
    .await?;
    m.set_terms(&creator, listed);
    report(m, who, room, ModerationAction::TermsAdded, None, None, names);
    Ok(published(room))
}

async fn remove_terms(m: &Moderation, who: &Identity, room: &Room, terms: &[String]) -> HubResult<ReplyResult> {
    if terms.is_empty() || terms.len() > MAX_TERMS_PER_COMMAND {
        return Err(HubError::invalid(format!("give 1–{MAX_TERMS_PER_COMMAND} terms")));
    }
    let creator = room.creator.id.clone();
    let listed = m.all_terms(&creator);
    if !terms.iter().any(|t| listed.iter().any(|l| &l.term == t)) {
        return Err(HubError::not_found("none of these terms is blocked"));
    }
    let (owned, who_creator) = (terms.to_vec(), creator.clone());
    persist(m, who, room, "remove_blocked_terms", Some(terms.join(", ")), move |tx| {
        tx.remove_blocked_terms(&who_creator, &owned)
    })
    .await?;
    m.set_terms(&creator, listed.into_iter().filter(|l| !terms.contains(&l.term)).collect());
    report(m, who, room, ModerationAction::TermsRemoved, None, None, terms.to_vec());
    Ok(published(room))
}

/// An account id a sanction may name.
pub(super) fn check_user_id(user_id: &str) -> HubResult<()> {
    if user_id.is_empty() || user_id.chars().count() > MAX_USER_ID {
        return Err(HubError::invalid(format!("user ids are 1–{MAX_USER_ID} characters")));
    }
    Ok(())
}

/// The account a sanction names must be someone else than the room's creator.
fn check_target(room: &Room, user_id: &str) -> HubResult<()> {
    check_user_id(user_id)?;
    if user_id == room.creator.id {
        return Err(HubError::invalid("the creator cannot be sanctioned in their own rooms"));
    }
    Ok(())
}

/// Make room for one more sanction of the creator's, within `max_sanctions`.
fn check_capacity(m: &Moderation, creator: &str, user_id: &str, kind: Sanction, now: u64) -> HubResult<()> {
    let live = m.sanctions(creator, now);
    let replaces = live.iter().any(|s| s.user_id == user_id && s.sanction == kind);
    if !replaces && live.len() >= m.limits.max_sanctions {
        return Err(HubError::unavailable(format!(
            "a creator may have at most {} sanctions in force",
            m.limits.max_sanctions
        )));
    }
    m.forget_lapsed(creator, now);
    Ok(())
}

fn action_of(kind: Sanction, on: bool) -> ModerationAction {
    match (kind, on) {
        (Sanction::Muted, true) => ModerationAction::Muted,
        (Sanction::Muted, false) => ModerationAction::Unmuted,
        (Sanction::Blocked, true) => ModerationAction::Blocked,
        (Sanction::Blocked, false) => ModerationAction::Unblocked,
        (Sanction::Hidden, true) => ModerationAction::Hidden,
        (Sanction::Hidden, false) => ModerationAction::Unhidden,
    }
}

fn command_name(kind: Sanction, on: bool) -> &'static str {
    match (kind, on) {
        (Sanction::Muted, true) => "mute",
        (Sanction::Muted, false) => "unmute",
        (Sanction::Blocked, true) => "block",
        (Sanction::Blocked, false) => "unblock",
        (Sanction::Hidden, true) => "hide_user",
        (Sanction::Hidden, false) => "unhide_user",
    }
}

/// Store, remember and report one sanction.
async fn impose(m: &Moderation, who: &Identity, room: &Room, sanction: ModeratedUser) -> HubResult<()> {
    let creator = room.creator.id.clone();
    check_capacity(m, &creator, &sanction.user_id, sanction.sanction, sanction.since)?;
    let (stored, who_creator) = (sanction.clone(), creator.clone());
    let detail = Some(format!("user {}", sanction.user_id));
    persist(m, who, room, command_name(sanction.sanction, true), detail, move |tx| {
        tx.put_sanction(&who_creator, &stored)?;
        let counted = match stored.sanction {
            Sanction::Muted => HealthCounts { mutes: 1, ..HealthCounts::default() },
            Sanction::Blocked => HealthCounts { blocks: 1, ..HealthCounts::default() },
            Sanction::Hidden => return Ok(()),
        };
        tx.add_health_counts(&who_creator, &counted)
    })
    .await?;
    let (action, user, until) = (action_of(sanction.sanction, true), sanction.user_id.clone(), sanction.until);
    m.put_sanction(&creator, sanction);
    report(m, who, room, action, Some(&user), until, Vec::new());
    Ok(())
}

async fn sanction(
    m: &Moderation,
    who: &Identity,
    room: &Room,
    user_id: &str,
    kind: Sanction,
    now: u64,
) -> HubResult<ReplyResult> {
    check_target(room, user_id)?;
    let record = ModeratedUser { user_id: user_id.to_string(), sanction: kind, until: None, room: None, since: now };
    impose(m, who, room, record).await?;
    Ok(published(room))
}

/// `mute`: for a fixed time, or (`live`) until this room's LIVE ends; optionally remove the
/// account's recent comments in this room, one `comment_deleted` each.
async fn mute(
    m: &Moderation,
    who: &Identity,
    room: &Room,
    user_id: &str,
    duration: MuteDuration,
    remove_comments: bool,
    now: u64,
) -> HubResult<ReplyResult> {
    check_target(room, user_id)?;
    let phase = room.phase();
    let record = match duration.millis() {
        Some(ms) => {
            require_open(phase)?;
            ModeratedUser {
                user_id: user_id.into(),
                sanction: Sanction::Muted,
                until: Some(now + ms),
                room: None,
                since: now,
            }
        }
        None if phase == Phase::Live => ModeratedUser {
            user_id: user_id.into(),
            sanction: Sanction::Muted,
            until: None,
            room: Some(room.id.clone()),
            since: now,
        },
        None => return Err(HubError::not_live("a mute for the rest of the LIVE needs a live room")),
    };
    impose(m, who, room, record).await?;
    if remove_comments {
        let (by, operator) = acting_as(who, room);
        let op = room.op();
        let theirs: Vec<u64> =
            op.read(|s| s.comments.recent.iter().filter(|(_, author)| author == user_id).map(|(id, _)| *id).collect());
        for comment_id in theirs {
            op.publish(EventBody::CommentDeleted { comment_id, by: by.clone(), operator: operator.clone() });
        }
    }
    Ok(published(room))
}

async fn pardon(
    m: &Moderation,
    who: &Identity,
    room: &Room,
    user_id: &str,
    kind: Sanction,
    now: u64,
) -> HubResult<ReplyResult> {
    let creator = room.creator.id.clone();
    if !m.sanctions(&creator, now).iter().any(|s| s.user_id == user_id && s.sanction == kind) {
        return Err(HubError::not_found(format!("{user_id} is not {}", past(kind))));
    }
    let (user, who_creator) = (user_id.to_string(), creator.clone());
    let detail = Some(format!("user {user_id}"));
    persist(m, who, room, command_name(kind, false), detail, move |tx| tx.remove_sanction(&who_creator, &user, kind))
        .await?;
    m.remove_sanction(&creator, user_id, kind);
    report(m, who, room, action_of(kind, false), Some(user_id), None, Vec::new());
    Ok(published(room))
}

fn past(kind: Sanction) -> &'static str {
    match kind {
        Sanction::Muted => "muted",
        Sanction::Blocked => "blocked",
        Sanction::Hidden => "hidden",
    }
}

/// Take a blocked account out of each of the creator's rooms at once: every connection of it that
/// is a member leaves, and is told with a `removed` event.
pub(super) fn expel(m: &Moderation, creator_id: &str, user_id: &str) {
    let connections = m.inboxes.connections(&user_inbox(user_id));
    if connections.is_empty() {
        return;
    }
    for room in m.rooms.all() {
        if room.creator.id != creator_id {
            continue;
        }
        for outbox in &connections {
            if room.leave(outbox.id).is_some() {
                tell(&room, outbox, EventBody::Removed { reason: "blocked".into() }, m.rooms.now_ms());
            }
        }
    }
}

/// Send an event to one connection only: not sequenced or kept (it carries the room's latest
/// `seq`, as ephemeral events do). Used for what concerns that connection alone.
pub fn tell(room: &Room, outbox: &Outbox, body: EventBody, now: u64) {
    // It concerns this connection alone, like a reply: never shed, never a reason to close it.
    let event = Event { room: room.id.clone(), seq: room.position().seq, staff_seq: None, ts: now, body };
    if let Some(frame) = encode_frame(outbox.wire, &ServerMessage::Event(event), Class::Reply) {
        outbox.reply(&frame);
    }
}
