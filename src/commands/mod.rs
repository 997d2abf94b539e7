//! Requests → effects. [`dispatch`] runs the same steps for every command:
//! rate limit (so refused floods stay bounded) → role × command table ([`crate::policy`]) →
//! the handler → reply; and it counts what happened. One `match` picks the handler; each handler
//! module owns one group of commands.

mod partner;
mod rooms;

use crate::auth::Identity;
use crate::conn::session::Session;
use crate::error::{HubError, HubResult};
use crate::hub::Hub;
use crate::partner::grants::Access;
use crate::partner::inboxes::user_inbox;
use crate::policy::{self, Allow, Target};
use crate::rooms::Room;
use crate::store::NewAudit;
use serde_json::json;
use stagehand_protocol::server::{Reply, ReplyResult};
use stagehand_protocol::types::{Role, Scope};
use stagehand_protocol::{Command, ErrorCode};

/// Run one request from an authenticated session and build its reply. Everything agency staff
/// do or attempt is audited (with the real staff member) before the reply goes out; attempts
/// refused by a rate limit are only counted, so a flood cannot grow the trail without bound.
pub async fn dispatch(session: &mut Session, id: u64, command: Command) -> Reply {
    let hub = session.hub.clone();
    hub.metrics.event_in(command.name());
    let outcome = run(session, &command).await;
    if let Some(identity) = session.identity.clone() {
        let limited = matches!(&outcome, Err(e) if e.code == ErrorCode::RateLimited);
        // A partner operation that succeeded wrote its audit row in its own transaction.
        let audited_with_change =
            outcome.is_ok() && matches!(command, Command::AccessRequest { .. } | Command::Unlink { .. });
        if identity.role == Role::Agency && policy::audited(&command) && !limited && !audited_with_change {
            audit(&hub, &identity, &command, &outcome).await;
        }
    }
    match outcome {
        Ok(result) => Reply::ok(id, result),
        Err(error) => {
            hub.metrics.error(error.code);
            if matches!(error.code, ErrorCode::Forbidden)
                && matches!(command, Command::StartRoom { .. } | Command::EndRoom { .. })
            {
                let who = session.identity.as_ref().map(|i| i.user.id.as_str()).unwrap_or("?");
                tracing::warn!(
                    conn = session.id(),
                    user = who,
                    command = command.name(),
                    room = command.room(),
                    "refused attempt to start or end a LIVE"
                );
            }
            Reply::err(Some(id), error.body())
        }
    }
}

async fn run(session: &mut Session, command: &Command) -> HubResult<Option<ReplyResult>> {
    let Some(identity) = session.identity.clone() else {
        return Err(HubError::unauthenticated("send `connect` first"));
    };
    let hub = session.hub.clone();
    let room = command.room().and_then(|id| hub.rooms.find(id));

    let rule = policy::rule_for(command);
    if let Some(class) = rule.limit {
        let limited = session.limits.check(class, "connection").and_then(|()| match &room {
            Some(room) => room.limits.check(class, "room"),
            None => Ok(()),
        });
        if let Err(error) = limited {
            hub.metrics.limited(class.label());
            return Err(error);
        }
    }

    // The creator of the room the command is about; commands that create a room act for the
    // caller (or, for agency staff, for the creator their token names).
    let creates_room = matches!(command, Command::StartRoom { .. } | Command::ScheduleRoom { .. });
    let room_creator: Option<String> = match (&room, command.room()) {
        (Some(room), _) => Some(room.creator.id.clone()),
        (None, Some(_)) if creates_room => Some(match &identity.agency {
            Some(agency) => agency.creator_id.clone(),
            None => identity.user.id.clone(),
        }),
        (None, Some(id)) => return Err(HubError::not_found(format!("no room `{id}`"))),
        (None, None) => None,
    };
    // Agency staff: the live grant of their agency for the creator, read from memory.
    let mut access = Access::None;
    if let (Some(agency), Allow::Granted(_)) = (&identity.agency, rule.agency) {
        let creator = room_creator.as_deref().unwrap_or(&agency.creator_id);
        access = hub.partner.access(creator, &agency.agency_id);
    }
    let grant: Option<&[Scope]> = match &access {
        Access::Live(scopes) => Some(scopes),
        _ => None,
    };
    let target = Target { room_creator: room_creator.as_deref(), grant };
    policy::authorize(&identity, command, target).map_err(|refused| match (&access, identity.role) {
        // Say why access is missing when that is the reason.
        (Access::Suspended | Access::Expired, Role::Agency) if grant.is_none() => crate::partner::access_error(&access),
        _ => refused,
    })?;

    match command {
        Command::Connect { .. } => Err(HubError::conflict("already connected")),
        Command::Ping => Ok(Some(ReplyResult::Pong { server_time: hub.config.clock.now_ms() })),
        Command::Join { .. }
        | Command::Leave { .. }
        | Command::Comment { .. }
        | Command::StartRoom { .. }
        | Command::EndRoom { .. }
        | Command::ScheduleRoom { .. }
        | Command::DeployBillboard { .. }
        | Command::RemoveBillboard { .. }
        | Command::DeleteComment { .. } => {
            let result = rooms::handle(session, &identity, room.clone(), command)?;
            after_room_command(&hub, &identity, command, room.as_ref()).await;
            Ok(Some(result))
        }
        _ => partner::handle(&hub, &identity, command).await.map(Some),
    }
}

/// What the creator is told about agency staff in its rooms.
async fn after_room_command(hub: &Hub, identity: &Identity, command: &Command, room: Option<&std::sync::Arc<Room>>) {
    let Some(agency) = &identity.agency else { return };
    match command {
        Command::Join { .. } | Command::Leave { .. } => {
            if let Some(room) = room {
                staff_presence_changed(hub, identity, room, matches!(command, Command::Join { .. }));
            }
        }
        Command::ScheduleRoom { room, title, starts_at } => {
            let data = json!({
                "room": room, "title": title, "starts_at": starts_at,
                "agency_id": agency.agency_id, "agency_name": agency.agency_name,
                "staff_id": identity.user.id, "staff_name": identity.user.name,
            });
            if let Err(error) = hub.partner.notify(&user_inbox(&agency.creator_id), "live_scheduled", data).await {
                tracing::error!(?error, "could not notify the creator of a scheduled LIVE");
            }
        }
        _ => {}
    }
}

/// Tell the creator that agency staff joined or left one of its rooms (stored, then pushed).
pub fn staff_presence_changed(hub: &Hub, identity: &Identity, room: &Room, joined: bool) {
    let Some(agency) = &identity.agency else { return };
    let data = json!({
        "room": room.id, "agency_id": agency.agency_id, "agency_name": agency.agency_name,
        "staff_id": identity.user.id, "staff_name": identity.user.name,
    });
    let kind = if joined { "staff_joined" } else { "staff_left" };
    hub.partner.notify_later(user_inbox(&room.creator.id), kind, data);
}

/// Append the audit record of an agency command, with its outcome.
async fn audit(hub: &Hub, identity: &Identity, command: &Command, outcome: &HubResult<Option<ReplyResult>>) {
    let Some(agency) = &identity.agency else { return };
    let creator_id = command
        .room()
        .and_then(|id| hub.rooms.find(id))
        .map(|room| room.creator.id.clone())
        .unwrap_or_else(|| agency.creator_id.clone());
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
    if let Err(error) = hub.partner.audit(entry).await {
        hub.metrics.error(error.code);
        tracing::error!(?error, "could not write an audit record");
    }
}
