//! The platform backend's twins of the creator's moderation rules (HTTP): replace the keyword
//! list, block and unblock accounts, without a room. Each change is stored first, in one
//! transaction with an audit row naming the platform as the acting principal, then applied in
//! memory, then reported by a `moderated` event (as the creator's, no operator) in each of the
//! creator's rooms that has not ended; a block also takes the account out of those rooms at once.

use super::commands::{check_user_id, expel};
use super::Moderation;
use crate::error::{HubError, HubResult};
use crate::store::{NewAudit, StoreError, Tx};
use stagehand_protocol::server::EventBody;
use stagehand_protocol::types::{
    BlockedTerm, HealthCounts, ModeratedUser, ModerationAction, RoomState as Phase, Sanction,
};

/// Who the audit trail names for changes made over the HTTP API.
pub const PLATFORM_ID: &str = "platform";
pub const PLATFORM_NAME: &str = "Platform (API)";

fn audit_row(creator_id: &str, command: &str, detail: String) -> NewAudit {
    NewAudit {
        creator_id: creator_id.to_string(),
        agency_id: String::new(),
        staff_id: PLATFORM_ID.to_string(),
        staff_name: PLATFORM_NAME.to_string(),
        room: None,
        command: command.to_string(),
        outcome: "ok".to_string(),
        detail: Some(detail),
    }
}

async fn persist<T: Send + 'static>(
    m: &Moderation,
    audit: NewAudit,
    change: impl FnOnce(&Tx<'_>) -> Result<T, StoreError> + Send + 'static,
) -> HubResult<T> {
    let now = m.rooms.now_ms();
    m.store
        .write(move |tx| {
            let value = change(tx)?;
            tx.append_audit(audit, now)?;
            Ok(value)
        })
        .await
}

/// Report a change in each of the creator's rooms that has not ended, as the creator's.
fn report(m: &Moderation, creator_id: &str, action: ModerationAction, user_id: Option<&str>, terms: Vec<String>) {
    for room in m.rooms.all() {
        if room.creator.id != creator_id {
            continue;
        }
        let op = room.op();
        if op.read(|s| s.lifecycle.phase == Phase::Ended) {
            continue;
        }
        op.publish(EventBody::Moderated {
            action,
            user_id: user_id.map(str::to_string),
            until: None,
            terms: terms.clone(),
            by: room.creator.clone(),
            operator: None,
        });
    }
}

/// Replace the creator's keyword list with `terms` (an empty list clears it). Returns the list now
/// in force.
pub async fn replace_terms(m: &Moderation, creator_id: &str, terms: Vec<BlockedTerm>) -> HubResult<Vec<BlockedTerm>> {
    let now = m.rooms.now_ms();
    if terms.len() > m.limits.max_terms {
        return Err(HubError::unavailable(format!("a creator may block at most {} terms", m.limits.max_terms)));
    }
    let mut listed: Vec<BlockedTerm> = Vec::with_capacity(terms.len());
    for term in terms {
        super::filter::check_term(&term.term).map_err(HubError::invalid)?;
        if term.expires_at.is_some_and(|at| at <= now) {
            return Err(HubError::invalid(format!("the term {:?} would expire at once", term.term)));
        }
        listed.retain(|t: &BlockedTerm| t.term != term.term);
        listed.push(term);
    }
    let old: Vec<String> = m.all_terms(creator_id).into_iter().map(|t| t.term).collect();
    let removed: Vec<String> = old.iter().filter(|t| !listed.iter().any(|l| &l.term == *t)).cloned().collect();
    let added: Vec<String> = listed.iter().map(|t| t.term.clone()).collect();
    let (creator, stored, gone) = (creator_id.to_string(), listed.clone(), removed.clone());
    let detail = format!("{} terms", listed.len());
    persist(m, audit_row(creator_id, "put_blocked_terms", detail), move |tx| {
        tx.remove_blocked_terms(&creator, &gone)?;
        tx.put_blocked_terms(&creator, &stored, now)
    })
    .await?;
    m.set_terms(creator_id, listed);
    if !removed.is_empty() {
        report(m, creator_id, ModerationAction::TermsRemoved, None, removed);
    }
    if !added.is_empty() {
        report(m, creator_id, ModerationAction::TermsAdded, None, added);
    }
    Ok(m.terms(creator_id, now))
}

/// Block `user_id` in all of the creator's rooms (replacing an earlier block).
pub async fn block(m: &Moderation, creator_id: &str, user_id: &str) -> HubResult<ModeratedUser> {
    check_user_id(user_id)?;
    if user_id == creator_id {
        return Err(HubError::invalid("the creator cannot be sanctioned in their own rooms"));
    }
    let now = m.rooms.now_ms();
    let live = m.sanctions(creator_id, now);
    let replaces = live.iter().any(|s| s.user_id == user_id && s.sanction == Sanction::Blocked);
    if !replaces && live.len() >= m.limits.max_sanctions {
        return Err(HubError::unavailable(format!(
            "a creator may have at most {} sanctions in force",
            m.limits.max_sanctions
        )));
    }
    let record = ModeratedUser {
        user_id: user_id.to_string(),
        sanction: Sanction::Blocked,
        until: None,
        room: None,
        since: now,
    };
    let (creator, stored) = (creator_id.to_string(), record.clone());
    persist(m, audit_row(creator_id, "block", format!("user {user_id}")), move |tx| {
        tx.put_sanction(&creator, &stored)?;
        tx.add_health_counts(&creator, &HealthCounts { blocks: 1, ..HealthCounts::default() })
    })
    .await?;
    m.put_sanction(creator_id, record.clone());
    report(m, creator_id, ModerationAction::Blocked, Some(user_id), Vec::new());
    expel(m, creator_id, user_id);
    Ok(record)
}

/// Lift the block of `user_id` (`not_found` if there is none).
pub async fn unblock(m: &Moderation, creator_id: &str, user_id: &str) -> HubResult<()> {
    if !m.is_blocked(creator_id, user_id) {
        return Err(HubError::not_found(format!("{user_id} is not blocked")));
    }
    let (creator, user) = (creator_id.to_string(), user_id.to_string());
    persist(m, audit_row(creator_id, "unblock", format!("user {user_id}")), move |tx| {
        tx.remove_sanction(&creator, &user, Sanction::Blocked)
    })
    .await?;
    m.remove_sanction(creator_id, user_id, Sanction::Blocked);
    report(m, creator_id, ModerationAction::Unblocked, Some(user_id), Vec::new());
    Ok(())
}

/// The accounts blocked in the creator's rooms.
pub fn blocked(m: &Moderation, creator_id: &str) -> Vec<ModeratedUser> {
    let now = m.rooms.now_ms();
    m.sanctions(creator_id, now).into_iter().filter(|s| s.sanction == Sanction::Blocked).collect()
}
