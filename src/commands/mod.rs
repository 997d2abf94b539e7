//! Requests → effects. [`dispatch`] runs the same steps for every command, in this order (the
//! first that fails answers):
//!
//! 1. the sender's own rate-limit budget for the command's class (`rate_limited`), so a flood of
//!    refused commands stays bounded;
//! 2. the room the command names must exist (`not_found`), except for the commands that create it;
//! 3. the role × command × grant table ([`crate::policy`]) (`forbidden`);
//! 4. membership of the room, for commands that need it (`forbidden`);
//! 5. the room's budget for the class (`rate_limited`): only permitted commands spend it;
//! 6. the handler: a room feature ([`crate::rooms::features`]) or Creator Partner Access
//!    (`partner.rs`), which validates against the current state (`invalid`, `not_live`,
//!    `conflict`, `not_found`, `unavailable`).
//!
//! Everything agency staff do or attempt is audited (with the real staff member) before the reply
//! goes out, except attempts refused by a rate limit, which are only counted.
//!
//! Handlers see a small context — who is asking, where replies go, the services they use — never
//! the connection's session or the hub.

mod commerce;
mod partner;

use crate::auth::Identity;
use crate::config::Config;
use crate::delivery::outbox::Outbox;
use crate::error::{HubError, HubResult};
use crate::limits::Limiters;
use crate::metrics::Metrics;
use crate::partner::grants::Access;
use crate::partner::inboxes::user_inbox;
use crate::partner::Partner;
use crate::policy::{self, Allow, Target};
use crate::rooms::features::moderation::{self, Moderation};
use crate::rooms::features::schedule;
use crate::rooms::features::{self, Answer, Ctx, Notice, Outcome};
use crate::rooms::{Room, Rooms};
use crate::store::NewAudit;
use serde_json::json;
use stagehand_protocol::server::Reply;
use stagehand_protocol::types::{Role, Scope};
use stagehand_protocol::{Command, ErrorCode};
use std::sync::Arc;

/// The services command handlers use.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub rooms: Arc<Rooms>,
    pub partner: Arc<Partner>,
    pub metrics: Arc<Metrics>,
    /// The creators' moderation rules (keyword filters, sanctions) and the comment pipeline's
    /// traffic.
    pub moderation: Arc<Moderation>,
}

/// An authenticated connection, as the command layer knows it.
pub struct Caller {
    pub identity: Identity,
    /// Where replies and the connection's room events go.
    pub outbox: Outbox,
    /// The rate limits of the connection's user, shared by all of that user's connections.
    pub limits: Arc<Limiters>,
    /// Rooms this connection joined (bounded by `max_rooms_per_connection`).
    pub joined: Vec<Arc<Room>>,
}

impl Caller {
    pub fn new(identity: Identity, outbox: Outbox, limits: Arc<Limiters>) -> Self {
        Caller { identity, outbox, limits, joined: Vec::new() }
    }
}

/// Run one request and build its reply; `None` when the room already queued it (a join's
/// snapshot, which must come before the events after it).
pub async fn dispatch(services: &Services, caller: &mut Caller, id: u64, command: Command) -> Option<Reply> {
    services.metrics.event_in(command.name());
    let (outcome, room) = run(services, caller, id, &command).await;
    if let Some(room) = &room {
        // A sender faster than the room's fan-out waits here (its reader reads nothing meanwhile).
        room.settled().await;
    }
    let limited = matches!(&outcome, Err(e) if e.code == ErrorCode::RateLimited);
    // A partner operation that succeeded wrote its audit row in its own transaction.
    let audited_with_change = outcome.is_ok()
        && (matches!(command, Command::AccessRequest { .. } | Command::Unlink { .. })
            || moderation::commands::audits_itself(&command)
            || schedule::commands::audits_itself(&command));
    if let (Role::Agency, Err(error)) = (caller.identity.role, &outcome) {
        if error.code == ErrorCode::Forbidden {
            count_refused(services, &caller.identity, room.as_deref());
        }
    }
    if caller.identity.role == Role::Agency && policy::rule_for(&command).audited && !limited && !audited_with_change {
        audit(services, &caller.identity, &command, room.as_deref(), &outcome).await;
    }
    match outcome {
        Ok(Answer::Reply(result)) => Some(Reply::ok(id, Some(result))),
        Ok(Answer::Sent) => None,
        Err(error) => {
            services.metrics.error(error.code);
            if error.code == ErrorCode::Forbidden
                && matches!(command, Command::StartRoom { .. } | Command::EndRoom { .. })
            {
                tracing::warn!(
                    conn = caller.outbox.id,
                    user = %caller.identity.user.id,
                    command = command.name(),
                    room = command.room(),
                    "refused attempt to start or end a LIVE"
                );
            }
            Some(Reply::err(Some(id), error.body()))
        }
    }
}

/// What a room feature's handler gets to work with, for `caller`'s request `id`.
fn room_ctx<'a>(services: &'a Services, caller: &'a mut Caller, id: u64) -> Ctx<'a> {
    Ctx {
        identity: &caller.identity,
        outbox: &caller.outbox,
        request_id: id,
        joined: &mut caller.joined,
        max_rooms: services.config.max_rooms_per_connection,
        rooms: &services.rooms,
        moderation: &services.moderation,
    }
}

/// The checks, then the handler. Also returns the room the command named, for the audit.
async fn run(
    services: &Services,
    caller: &mut Caller,
    id: u64,
    command: &Command,
) -> (HubResult<Answer>, Option<Arc<Room>>) {
    let room = command.room().and_then(|id| services.rooms.find(id));
    let result = async {
        let rule = policy::rule_for(command);
        if let Some(class) = rule.limit {
            caller.limits.check(class, "user").inspect_err(|_| services.metrics.limited(class.label()))?;
        }
        let target_creator = target_creator(&caller.identity, command, room.as_deref())?;
        authorize(services, &caller.identity, command, target_creator.as_deref())?;
        if let (true, Some(room)) = (rule.member, &room) {
            if !room.is_member(caller.outbox.id) {
                return Err(HubError::forbidden("join the room first"));
            }
        }
        // Moderation: the staff member's own budget, shared by all their connections.
        if rule.limit.is_some() && is_moderation(command) {
            let check = services.moderation.staff_limits.check(&caller.identity.user.id, "staff member moderation");
            check.inspect_err(|_| services.metrics.limited("staff_moderation"))?;
        }
        if let (Some(class), Some(room)) = (rule.limit, &room) {
            room.limits.check(class, "room").inspect_err(|_| services.metrics.limited(class.label()))?;
        }
        match command {
            Command::Connect { .. } => Err(HubError::conflict("already connected")),
            // The connection answers `refresh` itself (it holds the token); nothing else can.
            Command::Refresh { .. } => Err(HubError::invalid("refresh is answered by the connection")),
            Command::Ping => Ok(Answer::Reply(stagehand_protocol::server::ReplyResult::Pong {
                server_time: services.config.clock.now_ms(),
            })),
            command if commerce::handles(command) => {
                commerce::handle(services, &caller.identity, room.as_deref(), command).await
            }
            Command::GetAccountHealth => {
                let creator = match &caller.identity.agency {
                    Some(agency) => agency.creator_id.clone(),
                    None => caller.identity.user.id.clone(),
                };
                let sources = crate::health::Sources {
                    store: &services.partner.store,
                    rooms: &services.rooms,
                    moderation: &services.moderation,
                    config: &services.config,
                };
                let health = crate::health::report(sources, &creator).await?;
                Ok(Answer::Reply(stagehand_protocol::server::ReplyResult::AccountHealth { health }))
            }
            Command::GetSummary { room } => {
                let owner = match &caller.identity.agency {
                    Some(agency) => agency.creator_id.clone(),
                    None => caller.identity.user.id.clone(),
                };
                let summary = services.partner.summary(room.clone(), Some(owner)).await?;
                Ok(Answer::Reply(stagehand_protocol::server::ReplyResult::Summary { summary }))
            }
            Command::StartRoom { room: room_id, title, event_id: Some(event_id) } => {
                // The event and its set are read first: a refused start leaves nothing behind.
                let (event_title, set) = scheduled_start(services, &caller.identity, room_id, event_id).await?;
                let title = title.clone().or(Some(event_title));
                let mut ctx = room_ctx(services, caller, id);
                Ok(features::lifecycle::start(&mut ctx, room_id, title.as_deref(), set.as_ref())?.answer)
            }
            command if features::is_room_command(command) => {
                let mut ctx = room_ctx(services, caller, id);
                let Outcome { answer, notice } = features::handle(&mut ctx, room.clone(), command)?;
                if let Some(notice) = notice {
                    carry_out(services, &caller.identity, notice).await;
                }
                Ok(answer)
            }
            command if moderation::commands::is_command(command) => {
                let room = room.clone().ok_or_else(|| HubError::not_found("no such room"))?;
                moderation::commands::handle(&services.moderation, &caller.identity, room, command)
                    .await
                    .map(Answer::Reply)
            }
            command if schedule::commands::is_command(command) => {
                let (store, now) = (&services.partner.store, services.config.clock.now_ms());
                let settings = schedule_settings(&services.config);
                schedule::commands::handle(store, settings, now, &caller.identity, command).await.map(Answer::Reply)
            }
            command => partner::handle(services, &caller.identity, command).await.map(Answer::Reply),
        }
    }
    .await;
    (result, room)
}

/// A LIVE started from a scheduled event: the event must be the creator's, still scheduled, and
/// planned in this room; its title, and its product set if it names one (`not_found` if that set
/// was deleted).
async fn scheduled_start(
    services: &Services,
    identity: &Identity,
    room: &str,
    event_id: &str,
) -> HubResult<(String, Option<stagehand_protocol::types::ProductSet>)> {
    let (creator, id) = (identity.user.id.clone(), event_id.to_string());
    let event = services.partner.store.write(move |tx| tx.live_event(&id, &creator)).await?;
    if event.status != stagehand_protocol::types::LiveEventStatus::Scheduled {
        return Err(HubError::conflict(format!("the LIVE event {event_id} is cancelled")));
    }
    if event.room != room {
        return Err(HubError::invalid(format!("the LIVE event {event_id} is planned in the room `{}`", event.room)));
    }
    let set = match &event.product_set_id {
        Some(set_id) => Some(crate::catalog::get(&services.partner.store, &identity.user.id, set_id).await?),
        None => None,
    };
    Ok((event.title, set))
}

/// Commands that moderate comments and commenters (rate limited per staff member too).
fn is_moderation(command: &Command) -> bool {
    moderation::commands::is_command(command) || matches!(command, Command::DeleteComment { .. })
}

/// The scheduler's settings, from the config.
pub fn schedule_settings(config: &Config) -> schedule::Settings {
    schedule::Settings {
        reminder_ms: config.live_reminder_ms,
        max_events: config.max_live_events,
        max_title_chars: config.max_title_chars,
    }
}

/// The creator whose rules apply: the room's, or — for commands that create a room — the
/// caller's (for agency staff, the creator their token names). `not_found` for a room that does
/// not exist.
fn target_creator(identity: &Identity, command: &Command, room: Option<&Room>) -> HubResult<Option<String>> {
    let creates_room = matches!(command, Command::StartRoom { .. } | Command::ScheduleRoom { .. });
    Ok(match (room, command.room()) {
        (Some(room), _) => Some(room.creator.id.clone()),
        (None, Some(_)) if creates_room => Some(match &identity.agency {
            Some(agency) => agency.creator_id.clone(),
            None => identity.user.id.clone(),
        }),
        (None, Some(id)) => return Err(HubError::not_found(format!("no room `{id}`"))),
        (None, None) => None,
    })
}

/// The table, with the agency's live grant read from memory.
fn authorize(services: &Services, identity: &Identity, command: &Command, room_creator: Option<&str>) -> HubResult<()> {
    let rule = policy::rule_for(command);
    let mut access = Access::None;
    if let (Some(agency), Allow::Granted(_)) = (&identity.agency, rule.agency) {
        let creator = room_creator.unwrap_or(&agency.creator_id);
        access = services.partner.access(creator, &agency.agency_id);
    }
    let grant: Option<&[Scope]> = match &access {
        Access::Live(scopes) => Some(scopes),
        _ => None,
    };
    policy::authorize(identity, command, Target { room_creator, grant }).map_err(|refused| {
        match (&access, identity.role) {
            // Say why access is missing when that is the reason.
            (Access::Suspended | Access::Expired, Role::Agency) if grant.is_none() => {
                crate::partner::access_error(&access)
            }
            _ => refused,
        }
    })
}

/// Tell the creator about agency staff in its rooms: stored in its inbox, then pushed.
async fn carry_out(services: &Services, identity: &Identity, notice: Notice) {
    match notice {
        Notice::StaffPresence { room, joined } => staff_presence(services, identity, &room, joined),
        Notice::LiveScheduled { room, title, starts_at } => {
            let (Some(agency), Some(mut data)) = (&identity.agency, staff_data(identity)) else { return };
            data["room"] = room.into();
            data["title"] = title.into();
            data["starts_at"] = starts_at.into();
            if let Err(error) = services.partner.notify(&user_inbox(&agency.creator_id), "live_scheduled", data).await {
                tracing::error!(?error, "could not notify the creator of a scheduled LIVE");
            }
        }
        Notice::LiveEnded { room } => {
            // Failing here leaves the summary to housekeeping, which retries it.
            let max_minutes = services.config.dashboard_max_minutes;
            if let Err(error) = services.partner.store_summary(&room, max_minutes).await {
                tracing::warn!(room = %room.id, ?error, "could not store a LIVE summary at its end");
            }
        }
    }
}

/// Tell the room's creator that agency staff entered or left (stored, then pushed, without
/// waiting: the caller may be a closing connection).
fn staff_presence(services: &Services, identity: &Identity, room: &Room, joined: bool) {
    let Some(mut data) = staff_data(identity) else { return };
    data["room"] = room.id.clone().into();
    let kind = if joined { "staff_joined" } else { "staff_left" };
    services.partner.notify_later(user_inbox(&room.creator.id), kind, data);
}

/// Who the agency staff member is, as notifications to the creator name them.
fn staff_data(identity: &Identity) -> Option<serde_json::Value> {
    let agency = identity.agency.as_ref()?;
    Some(json!({
        "agency_id": agency.agency_id, "agency_name": agency.agency_name,
        "staff_id": identity.user.id, "staff_name": identity.user.name,
    }))
}

/// The connection ended: leave every room it was in. Agency staff are announced as gone from
/// each (also when the room already let them go as slow consumers or for lost access): the
/// connection's end is the one place every way out of a room passes through.
pub fn leave_all(services: &Services, caller: &mut Caller) {
    for room in caller.joined.drain(..) {
        let Some(departure) = room.leave(caller.outbox.id) else { continue };
        if let Some(Notice::StaffPresence { room, joined }) = features::presence::announce_departure(&room, departure) {
            staff_presence(services, &caller.identity, &room, joined);
        }
    }
}

/// Count an agency command refused as `forbidden` in the account health of the creator it
/// targeted: the room's, else the one the staff token names.
fn count_refused(services: &Services, identity: &Identity, room: Option<&Room>) {
    let Some(agency) = &identity.agency else { return };
    let creator = room.map(|room| room.creator.id.as_str()).unwrap_or(&agency.creator_id);
    services.moderation.tally.refused(creator);
}

/// Append the audit record of an agency command, with its outcome.
async fn audit(
    services: &Services,
    identity: &Identity,
    command: &Command,
    room: Option<&Room>,
    outcome: &HubResult<Answer>,
) {
    let Some(agency) = &identity.agency else { return };
    let creator_id = room.map(|room| room.creator.id.clone()).unwrap_or_else(|| agency.creator_id.clone());
    let (outcome, detail) = match outcome {
        Ok(_) => ("ok".to_string(), None),
        Err(error) => (error.code.as_str().to_string(), Some(error.message.clone())),
    };
    let entry = NewAudit {
        creator_id,
        agency_id: agency.agency_id.clone(),
        staff_id: identity.user.id.clone(),
        staff_name: identity.user.name.clone(),
        room: command.room().map(str::to_string),
        command: command.name().to_string(),
        outcome,
        detail,
    };
    if let Err(error) = services.partner.audit(entry).await {
        services.metrics.error(error.code);
        tracing::error!(?error, "could not write an audit record");
    }
}
