//! Who may do what: the role × command table, in one place.
//!
//! Handlers never check roles themselves; the session asks [`authorize`] before running one, with
//! the facts the table needs (the room's creator, the agency's live grant). Reading the table is
//! reading the product rules: viewers watch and comment; a creator runs its own rooms; agency staff
//! operate a creator's rooms only under a live grant with the matching scope, and never start or
//! end a LIVE.

use crate::auth::Identity;
use crate::error::HubError;
use crate::limits::LimitClass;
use stagehand_protocol::types::{Role, Scope};
use stagehand_protocol::Command;

/// What one role may do with one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allow {
    Never,
    Always,
    /// Only in a room whose creator is the caller.
    OwnRoom,
    /// Agency staff: only in rooms of the creator named in the token, under a live grant, which
    /// must include the scope when one is named.
    Granted(Option<Scope>),
}

/// A row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub viewer: Allow,
    pub creator: Allow,
    pub agency: Allow,
    /// Rate-limited class, if any (checked before the table, so refused floods stay bounded).
    pub limit: Option<LimitClass>,
}

const fn rule(viewer: Allow, creator: Allow, agency: Allow, limit: Option<LimitClass>) -> Rule {
    Rule { viewer, creator, agency, limit }
}

use Allow::{Always as A, Granted as G, Never as N, OwnRoom as O};
const OPS: Option<LimitClass> = Some(LimitClass::Operation);

/// The table.
pub fn rule_for(command: &Command) -> Rule {
    match command {
        //                                        viewer creator agency                        limit
        Command::Connect { .. } | Command::Ping => rule(A, A, A, None),
        Command::Join { .. } | Command::Leave { .. } => rule(A, A, G(None), None),
        Command::Comment { .. } => rule(A, A, G(None), Some(LimitClass::Comment)),
        Command::StartRoom { .. } | Command::EndRoom { .. } => rule(N, O, N, OPS),
        Command::ScheduleRoom { .. } => rule(N, O, G(Some(Scope::Scheduling)), OPS),
        Command::DeployBillboard { .. } | Command::RemoveBillboard { .. } => {
            rule(N, O, G(Some(Scope::Billboards)), OPS)
        }
        Command::DeleteComment { .. } => rule(N, O, G(Some(Scope::Moderation)), OPS),
        Command::AccessRequest { .. } => rule(N, N, A, OPS),
        Command::AccessAccept { .. } | Command::AccessDecline { .. } => rule(N, A, N, OPS),
        Command::ReportAgency { .. } | Command::ResumeAgency { .. } => rule(N, A, N, OPS),
        Command::Unlink { .. } => rule(N, A, A, OPS),
        Command::ListAccessRequests { .. } | Command::ListLinks | Command::ListGrants => rule(N, A, A, None),
        Command::ListAudit { .. } => rule(N, A, N, None),
        Command::ListNotifications { .. } | Command::Ack { .. } => rule(A, A, A, None),
    }
}

/// The facts about the target that the table needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Target<'a> {
    /// The creator of the room the command is about, if it is about a room.
    pub room_creator: Option<&'a str>,
    /// The scopes of the caller's agency's live grant for that creator, if it has one.
    pub grant: Option<&'a [Scope]>,
}

/// May `who` run `command` on `target`?
pub fn authorize(who: &Identity, command: &Command, target: Target<'_>) -> Result<(), HubError> {
    let row = rule_for(command);
    let allow = match who.role {
        Role::Viewer => row.viewer,
        Role::Creator => row.creator,
        Role::Agency => row.agency,
    };
    let name = command.name();
    match allow {
        Allow::Always => Ok(()),
        Allow::Never => Err(HubError::forbidden(format!("a {} may not {name}", who.role.as_str()))),
        Allow::OwnRoom => match target.room_creator {
            Some(creator) if creator == who.user.id => Ok(()),
            _ => Err(HubError::forbidden(format!("only the room's creator may {name}"))),
        },
        Allow::Granted(scope) => {
            let works_for = who.agency.as_ref().map(|a| a.creator_id.as_str());
            if target.room_creator.is_some() && target.room_creator != works_for {
                return Err(HubError::forbidden("this agency token is not for this room's creator"));
            }
            let Some(scopes) = target.grant else {
                return Err(HubError::forbidden("no live LIVE Manager access from this creator"));
            };
            match scope {
                Some(needed) if !scopes.contains(&needed) => {
                    Err(HubError::forbidden(format!("the grant does not include `{}`", needed.as_str())))
                }
                _ => Ok(()),
            }
        }
    }
}

/// Whether an agency's attempt at this command is written to the creator's audit trail:
/// everything but reads and session housekeeping.
pub fn audited(command: &Command) -> bool {
    !matches!(
        command,
        Command::Connect { .. }
            | Command::Ping
            | Command::ListAccessRequests { .. }
            | Command::ListLinks
            | Command::ListGrants
            | Command::ListNotifications { .. }
            | Command::Ack { .. }
            | Command::ListAudit { .. }
    )
}
