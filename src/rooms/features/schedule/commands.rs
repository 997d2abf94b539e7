//! The scheduling commands: create, update, cancel and list the creator's planned LIVE events,
//! and attach a campaign banner to one (`set_campaign`, under the `promotions` scope).
//! They act on the creator's calendar, not on a room, so they name no room for the command layer:
//! the creator acts on its own calendar, agency staff (with `scheduling`) on the calendar of the
//! creator their token names.
//!
//! Each change is one store transaction with, when agency staff made it, the creator's
//! notification (`live_event_created`, `live_event_updated`, `live_event_cancelled`) and the
//! agency's audit row.

use super::Settings;
use crate::auth::Identity;
use crate::error::{HubError, HubResult};
use crate::partner::inboxes::user_inbox;
use crate::partner::StoreHandle;
use crate::rooms::validate_room_id;
use crate::store::{LiveEventChange, NewAudit, NewLiveEvent, StoreError, Tx};
use serde_json::json;
use stagehand_protocol::server::ReplyResult;
use stagehand_protocol::types::{Campaign, LiveEventInfo};
use stagehand_protocol::Command;

/// Longest product set id and campaign link.
pub const MAX_ID: usize = 128;
pub const MAX_LINK: usize = 1024;
/// Most events one list returns.
pub const MAX_LIST: u32 = 500;

pub fn is_command(command: &Command) -> bool {
    matches!(
        command,
        Command::CreateLiveEvent { .. }
            | Command::UpdateLiveEvent { .. }
            | Command::CancelLiveEvent { .. }
            | Command::SetCampaign { .. }
            | Command::ListLiveEvents { .. }
    )
}

/// Whether a successful `command` wrote its own agency audit row, in its transaction.
pub fn audits_itself(command: &Command) -> bool {
    is_command(command) && !matches!(command, Command::ListLiveEvents { .. })
}

/// The creator whose calendar the caller works on.
fn creator_of(who: &Identity) -> String {
    match &who.agency {
        Some(agency) => agency.creator_id.clone(),
        None => who.user.id.clone(),
    }
}

pub async fn handle(
    store: &StoreHandle,
    settings: Settings,
    now: u64,
    who: &Identity,
    command: &Command,
) -> HubResult<ReplyResult> {
    handle_as(store, settings, now, who, false, command).await
}

/// The platform backend's twin (HTTP): `command` on `creator_id`'s calendar, audited with the
/// platform as the acting principal (in the change's transaction).
pub async fn handle_for_platform(
    store: &StoreHandle,
    settings: Settings,
    now: u64,
    creator_id: &str,
    command: &Command,
) -> HubResult<ReplyResult> {
    let who = Identity {
        user: stagehand_protocol::types::Actor { id: creator_id.to_string(), name: creator_id.to_string() },
        role: stagehand_protocol::types::Role::Creator,
        agency: None,
        valid_until: u64::MAX,
    };
    handle_as(store, settings, now, &who, true, command).await
}

async fn handle_as(
    store: &StoreHandle,
    settings: Settings,
    now: u64,
    who: &Identity,
    platform: bool,
    command: &Command,
) -> HubResult<ReplyResult> {
    let creator = creator_of(who);
    match command {
        Command::CreateLiveEvent { room, title, starts_at, product_set_id } => {
            validate_room_id(room)?;
            check(Some(title), Some(*starts_at), product_set_id.as_deref(), None, now, settings.max_title_chars)?;
            let new = NewLiveEvent {
                creator_id: creator.clone(),
                room: room.clone(),
                title: title.clone(),
                starts_at: *starts_at,
                product_set_id: product_set_id.clone(),
                campaign: None,
            };
            let max = settings.max_events;
            change(store, who, platform, now, "create_live_event", "live_event_created", move |tx| {
                if tx.scheduled_live_events(&new.creator_id)? >= max {
                    return Err(StoreError::Full(format!("a creator may have at most {max} scheduled LIVE events")));
                }
                tx.create_live_event(new, now)
            })
            .await
        }
        Command::UpdateLiveEvent { event_id, title, starts_at, product_set_id } => {
            check(title.as_ref(), *starts_at, product_set_id.as_deref(), None, now, settings.max_title_chars)?;
            let (id, update) = (
                event_id.clone(),
                LiveEventChange {
                    title: title.clone(),
                    starts_at: *starts_at,
                    product_set_id: product_set_id.clone(),
                    campaign: None,
                },
            );
            change(store, who, platform, now, "update_live_event", "live_event_updated", move |tx| {
                tx.update_live_event(&id, &creator, update, now)
            })
            .await
        }
        Command::SetCampaign { event_id, campaign } => {
            check(None, None, None, campaign.as_ref(), now, settings.max_title_chars)?;
            let id = event_id.clone();
            let update = LiveEventChange { campaign: Some(campaign.clone()), ..LiveEventChange::default() };
            change(store, who, platform, now, "set_campaign", "live_event_updated", move |tx| {
                tx.update_live_event(&id, &creator, update, now)
            })
            .await
        }
        Command::CancelLiveEvent { event_id } => {
            let id = event_id.clone();
            change(store, who, platform, now, "cancel_live_event", "live_event_cancelled", move |tx| {
                tx.cancel_live_event(&id, &creator, now)
            })
            .await
        }
        Command::ListLiveEvents { include_cancelled } => {
            let include = *include_cancelled;
            let items = store.write(move |tx| tx.live_events(&creator, include, MAX_LIST)).await?;
            Ok(ReplyResult::LiveEvents { items })
        }
        other => Err(HubError::internal(format!("`{}` is not a scheduling command", other.name()))),
    }
}

/// Field checks (`invalid`).
fn check(
    title: Option<&String>,
    starts_at: Option<u64>,
    product_set_id: Option<&str>,
    campaign: Option<&Campaign>,
    now: u64,
    max_title: usize,
) -> HubResult<()> {
    if let Some(title) = title {
        crate::rooms::features::lifecycle::check_title(Some(title), max_title)?;
    }
    if starts_at.is_some_and(|at| at <= now) {
        return Err(HubError::invalid("starts_at must be in the future"));
    }
    if product_set_id.is_some_and(|id| id.is_empty() || id.chars().count() > MAX_ID) {
        return Err(HubError::invalid(format!("product_set_id is 1–{MAX_ID} characters")));
    }
    if let Some(c) = campaign {
        if c.title.trim().is_empty() || c.title.chars().count() > max_title {
            return Err(HubError::invalid(format!("campaign titles are 1–{max_title} characters")));
        }
        if c.link_url.as_ref().is_some_and(|l| l.is_empty() || l.chars().count() > MAX_LINK) {
            return Err(HubError::invalid(format!("campaign links are 1–{MAX_LINK} characters")));
        }
        if c.ends_at <= c.starts_at {
            return Err(HubError::invalid("a campaign must end after it starts"));
        }
    }
    Ok(())
}

/// Run one change with, for agency staff, the creator's notification and the audit row.
async fn change(
    store: &StoreHandle,
    who: &Identity,
    platform: bool,
    now: u64,
    command: &'static str,
    kind: &'static str,
    f: impl FnOnce(&Tx<'_>) -> Result<LiveEventInfo, StoreError> + Send + 'static,
) -> HubResult<ReplyResult> {
    let staff = who.agency.as_ref().map(|agency| {
        let data = json!({
            "agency_id": agency.agency_id, "agency_name": agency.agency_name,
            "staff_id": who.user.id, "staff_name": who.user.name,
        });
        let audit = NewAudit {
            creator_id: agency.creator_id.clone(),
            agency_id: agency.agency_id.clone(),
            staff_id: who.user.id.clone(),
            staff_name: who.user.name.clone(),
            room: None,
            command: command.to_string(),
            outcome: "ok".to_string(),
            detail: None,
        };
        (data, audit)
    });
    // Over HTTP the platform acts: audited under its name, no notification (the platform told
    // the creator itself, if it wanted to).
    let platform_audit = platform.then(|| NewAudit {
        creator_id: who.user.id.clone(),
        agency_id: String::new(),
        staff_id: crate::rooms::features::moderation::platform::PLATFORM_ID.to_string(),
        staff_name: crate::rooms::features::moderation::platform::PLATFORM_NAME.to_string(),
        room: None,
        command: command.to_string(),
        outcome: "ok".to_string(),
        detail: None,
    });
    let event = store
        .write(move |tx| {
            let event = f(tx)?;
            if let Some((mut data, mut audit)) = staff {
                data["event"] = json!(event);
                tx.notify(&user_inbox(&event.creator_id), kind, data, now)?;
                audit.detail = Some(event.event_id.clone());
                tx.append_audit(audit, now)?;
            }
            if let Some(mut audit) = platform_audit {
                audit.detail = Some(event.event_id.clone());
                tx.append_audit(audit, now)?;
            }
            Ok(event)
        })
        .await?;
    Ok(ReplyResult::LiveEvent { event })
}
