//! Requests → effects. [`dispatch`] runs the same steps for every command:
//! rate limit (so refused floods stay bounded) → role × command table ([`crate::policy`]) →
//! the handler → reply; and it counts what happened. One `match` picks the handler; each handler
//! module owns one group of commands.

mod rooms;

use crate::conn::session::Session;
use crate::error::{HubError, HubResult};
use crate::policy::{self, Target};
use stagehand_protocol::server::{Reply, ReplyResult};
use stagehand_protocol::types::{Role, Scope};
use stagehand_protocol::{Command, ErrorCode};

/// Run one request from an authenticated session and build its reply.
pub async fn dispatch(session: &mut Session, id: u64, command: Command) -> Reply {
    let hub = session.hub.clone();
    hub.metrics.event_in(command.name());
    match run(session, &command).await {
        Ok(result) => Reply::ok(id, result),
        Err(error) => {
            hub.metrics.error(error.code);
            if matches!(error.code, ErrorCode::Forbidden) && matches!(command, Command::StartRoom { .. } | Command::EndRoom { .. }) {
                let who = session.identity.as_ref().map(|i| i.user.id.as_str()).unwrap_or("?");
                tracing::warn!(conn = session.id(), user = who, command = command.name(), room = command.room(), "refused attempt to start or end a LIVE");
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
    let grant: Option<Vec<Scope>> = match identity.role {
        Role::Agency => Some(Scope::ALL.to_vec()),
        _ => None,
    };
    policy::authorize(&identity, command, Target { room_creator: room_creator.as_deref(), grant: grant.as_deref() })?;

    match command {
        Command::Connect { .. } => Err(HubError::conflict("already connected")),
        Command::Ping => Ok(Some(ReplyResult::Pong { server_time: crate::clock::now_ms() })),
        Command::Join { .. }
        | Command::Leave { .. }
        | Command::Comment { .. }
        | Command::StartRoom { .. }
        | Command::EndRoom { .. }
        | Command::ScheduleRoom { .. }
        | Command::DeployBillboard { .. }
        | Command::RemoveBillboard { .. }
        | Command::DeleteComment { .. } => rooms::handle(session, &identity, room, command).map(Some),
        _ => Err(HubError::unavailable(format!("`{}` is not available on this hub yet", command.name()))),
    }
}
