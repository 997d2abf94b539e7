//! Who may do what: one row per command, in one table.
//!
//! Handlers never check roles themselves; the command layer asks [`authorize`] before running
//! one, with the facts the table needs (the room's creator, the agency's live grant). Reading the
//! table is reading the product rules: viewers watch and comment; a creator runs its own rooms;
//! agency staff operate a creator's rooms only under a live grant with the matching scope, and
//! never start or end a LIVE.

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
    /// Rate-limit class, if any: the sender's own budget is charged before the table (so its
    /// refused floods stay bounded), the room's only once the command is allowed.
    pub limit: Option<LimitClass>,
    /// Whether an agency's attempt is written to the creator's audit trail.
    pub audited: bool,
    /// Whether the caller must be a member of the room.
    pub member: bool,
}

use Allow::{Always as A, Granted as G, Never as N, OwnRoom as O};
use LimitClass::{Comment as COMMENT, Operation as OPS, Presence as PRESENCE};

/// Columns: viewer, creator, agency, rate class, audited, membership required.
const fn row(
    viewer: Allow,
    creator: Allow,
    agency: Allow,
    limit: Option<LimitClass>,
    audited: bool,
    member: bool,
) -> Rule {
    Rule { viewer, creator, agency, limit, audited, member }
}

const fn scope(s: Scope) -> Allow {
    G(Some(s))
}

/// The table.
#[rustfmt::skip]
pub fn rule_for(command: &Command) -> Rule {
    match command {
        //                                   viewer creator agency                          limit           audited member
        Command::Connect { .. }           => row(A, A, A,                                  None,           false, false),
        Command::Ping                     => row(A, A, A,                                  None,           false, false),
        Command::Refresh { .. }           => row(A, A, A,                                  None,           false, false),
        Command::Join { .. }              => row(A, A, G(None),                            Some(PRESENCE), true,  false),
        Command::Leave { .. }             => row(A, A, G(None),                            Some(PRESENCE), true,  false),
        Command::Comment { .. }           => row(A, A, G(None),                            Some(COMMENT),  true,  true),
        Command::StartRoom { .. }         => row(N, O, N,                                  Some(OPS),      true,  false),
        Command::EndRoom { .. }           => row(N, O, N,                                  Some(OPS),      true,  false),
        Command::ScheduleRoom { .. }      => row(N, O, scope(Scope::Scheduling),           Some(OPS),      true,  false),
        Command::DeployBillboard { .. }   => row(N, O, scope(Scope::Billboards),           Some(OPS),      true,  false),
        Command::RemoveBillboard { .. }   => row(N, O, scope(Scope::Billboards),           Some(OPS),      true,  false),
        Command::DeleteComment { .. }     => row(N, O, scope(Scope::Moderation),           Some(OPS),      true,  false),
        // commerce: product sets are the creator's (the agency's token names the creator)
        Command::SaveProductSet { .. }    => row(N, A, scope(Scope::ShoppingBag),          Some(OPS),      true,  false),
        Command::DeleteProductSet { .. }  => row(N, A, scope(Scope::ShoppingBag),          Some(OPS),      true,  false),
        Command::ListProductSets          => row(N, A, scope(Scope::ShoppingBag),          None,           false, false),
        Command::BagAdd { .. }            => row(N, O, scope(Scope::ShoppingBag),          Some(OPS),      true,  false),
        Command::BagRemove { .. }         => row(N, O, scope(Scope::ShoppingBag),          Some(OPS),      true,  false),
        Command::BagMove { .. }           => row(N, O, scope(Scope::ShoppingBag),          Some(OPS),      true,  false),
        Command::BagPin { .. }            => row(N, O, scope(Scope::ShoppingBag),          Some(OPS),      true,  false),
        Command::BagUnpin { .. }          => row(N, O, scope(Scope::ShoppingBag),          Some(OPS),      true,  false),
        Command::BagSoldOut { .. }        => row(N, O, scope(Scope::ShoppingBag),          Some(OPS),      true,  false),
        Command::StartFlashSale { .. }    => row(N, O, scope(Scope::Promotions),           Some(OPS),      true,  false),
        // Engagement: giveaways (promotions); the full feed, the dashboard, summaries (analytics).
        // `get_summary` names no live room: its handler checks the summary is the caller's creator's.
        Command::StartGiveaway { .. }     => row(N, O, scope(Scope::Promotions),           Some(OPS),      true,  false),
        Command::ActivityFeed { .. }      => row(N, O, scope(Scope::Analytics),            Some(OPS),      true,  false),
        Command::Dashboard { .. }         => row(N, O, scope(Scope::Analytics),            Some(OPS),      true,  false),
        Command::GetSummary { .. }        => row(N, A, scope(Scope::Analytics),            Some(OPS),      true,  false),
        Command::SetCommentSettings { .. }=> row(N, O, scope(Scope::Moderation),           Some(OPS),      true,  false),
        Command::AddBlockedTerms { .. }   => row(N, O, scope(Scope::Moderation),           Some(OPS),      true,  false),
        Command::RemoveBlockedTerms { .. }=> row(N, O, scope(Scope::Moderation),           Some(OPS),      true,  false),
        Command::ReviewComment { .. }     => row(N, O, scope(Scope::Moderation),           Some(OPS),      true,  false),
        Command::Mute { .. }              => row(N, O, scope(Scope::Moderation),           Some(OPS),      true,  false),
        Command::Unmute { .. }            => row(N, O, scope(Scope::Moderation),           Some(OPS),      true,  false),
        Command::Block { .. }             => row(N, O, scope(Scope::Moderation),           Some(OPS),      true,  false),
        Command::Unblock { .. }           => row(N, O, scope(Scope::Moderation),           Some(OPS),      true,  false),
        Command::HideUser { .. }          => row(N, O, scope(Scope::Moderation),           Some(OPS),      true,  false),
        Command::UnhideUser { .. }        => row(N, O, scope(Scope::Moderation),           Some(OPS),      true,  false),
        Command::ListModeration { .. }    => row(N, O, scope(Scope::Moderation),           None,           false, false),
        Command::CreateLiveEvent { .. }   => row(N, A, scope(Scope::Scheduling),           Some(OPS),      true,  false),
        Command::UpdateLiveEvent { .. }   => row(N, A, scope(Scope::Scheduling),           Some(OPS),      true,  false),
        Command::CancelLiveEvent { .. }   => row(N, A, scope(Scope::Scheduling),           Some(OPS),      true,  false),
        Command::SetCampaign { .. }       => row(N, A, scope(Scope::Promotions),           Some(OPS),      true,  false),
        Command::ListLiveEvents { .. }    => row(N, A, scope(Scope::Scheduling),           None,           false, false),
        // Account health: the caller's own (creator) or the token's creator's (staff).
        Command::GetAccountHealth         => row(N, A, scope(Scope::Analytics),            Some(OPS),      true,  false),
        Command::AccessRequest { .. }     => row(N, N, A,                                  Some(OPS),      true,  false),
        Command::AccessAccept { .. }      => row(N, A, N,                                  Some(OPS),      true,  false),
        Command::AccessDecline { .. }     => row(N, A, N,                                  Some(OPS),      true,  false),
        Command::Unlink { .. }            => row(N, A, A,                                  Some(OPS),      true,  false),
        Command::ReportAgency { .. }      => row(N, A, N,                                  Some(OPS),      true,  false),
        Command::ResumeAgency { .. }      => row(N, A, N,                                  Some(OPS),      true,  false),
        Command::ListAccessRequests { .. }=> row(N, A, A,                                  None,           false, false),
        Command::ListLinks                => row(N, A, A,                                  None,           false, false),
        Command::ListGrants               => row(N, A, A,                                  None,           false, false),
        Command::ListAudit { .. }         => row(N, A, N,                                  None,           false, false),
        Command::ListNotifications { .. } => row(A, A, A,                                  None,           false, false),
        Command::Ack { .. }               => row(A, A, A,                                  None,           false, false),
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
        Allow::Never if matches!(command, Command::StartRoom { .. } | Command::EndRoom { .. }) => {
            Err(HubError::forbidden("only the creator can start or end a LIVE"))
        }
        Allow::Never => Err(HubError::forbidden(format!("{} may not send `{name}`", plural(who.role)))),
        Allow::OwnRoom => match target.room_creator {
            Some(creator) if creator == who.user.id => Ok(()),
            _ => Err(HubError::forbidden(format!("only the room's creator may send `{name}`"))),
        },
        Allow::Granted(scope) => {
            let works_for = who.agency.as_ref().map(|a| a.creator_id.as_str());
            if target.room_creator.is_some() && target.room_creator != works_for {
                return Err(HubError::forbidden("this agency token is not for this room's creator"));
            }
            let Some(scopes) = target.grant else {
                return Err(HubError::forbidden("no LIVE Manager access from this creator"));
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

fn plural(role: Role) -> &'static str {
    match role {
        Role::Viewer => "viewers",
        Role::Creator => "creators",
        Role::Agency => "agencies",
    }
}
