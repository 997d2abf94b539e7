//! Messages a client sends. Every one is a request: a map with `type`, an `id` chosen by the
//! client, and the command's fields. The hub answers each with a `reply` carrying the same `id`.

use crate::types::{Billboard, Millis, RequestStatus, Scope};
use serde::{Deserialize, Serialize};

/// One request frame: `{"type": ..., "id": ..., ...fields}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientMessage {
    /// Echoed in the reply. Any number the client likes; unique per connection is wise.
    pub id: u64,
    #[serde(flatten)]
    pub command: Command,
}

impl ClientMessage {
    pub fn new(id: u64, command: Command) -> Self {
        ClientMessage { id, command }
    }
}

/// Where a client's copy of a room stands: the `seq` (and, for staff, the `staff_seq`) of the last
/// event it received, in the room's `epoch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Since {
    pub seq: u64,
    pub epoch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_seq: Option<u64>,
}

/// A new link's terms, for a request bundled with linking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewLink {
    /// When the linking agreement (and any access granted with it) ends.
    pub agreement_ends_at: Millis,
}

fn default_true() -> bool {
    true
}

/// An optional flag whose default is `true`: absent and `null` both mean the default.
fn true_if_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(true))
}

/// An optional flag whose default is `false`: absent and `null` both mean the default.
fn false_if_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(false))
}

/// The command of a request, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    // ---- session -------------------------------------------------------------------------
    /// First frame of a browser client: authenticate with the platform's token.
    Connect {
        token: String,
    },
    /// Application-level liveness check; the reply carries the server time.
    Ping,
    /// Replace the connection's token before it expires, without reconnecting. The new token
    /// must be valid and name the same user, role and agency; from then on the connection lives
    /// until the new token's `exp` (plus the leeway). Refused: the old token stays in force.
    Refresh {
        token: String,
    },

    // ---- rooms ---------------------------------------------------------------------------
    /// Become a member of a room and receive its events; the reply holds a snapshot. With
    /// `since` (the position of the last event the client has, from an earlier membership), the
    /// hub first sends every event the client missed, if it still has them all.
    Join {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<Since>,
    },
    Leave {
        room: String,
    },
    /// Post a comment in a live room.
    Comment {
        room: String,
        text: String,
    },
    /// Creator only, own room: go live. Creates the room if it does not exist yet.
    StartRoom {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    /// Creator only, own room: end the LIVE. Every member receives `room_ended`.
    EndRoom {
        room: String,
    },
    /// Creator, or agency staff with the `scheduling` scope: announce a LIVE event.
    /// The creator is notified when an agency schedules one.
    ScheduleRoom {
        room: String,
        title: String,
        starts_at: Millis,
    },

    // ---- room operations (creator, or agency staff with a grant) -------------------------
    DeployBillboard {
        room: String,
        billboard: Billboard,
    },
    RemoveBillboard {
        room: String,
    },
    DeleteComment {
        room: String,
        comment_id: u64,
    },

    // ---- Creator Partner Access ----------------------------------------------------------
    /// Agency: ask a creator for a link and/or LIVE Manager access. With `link`, a new link is
    /// requested (bundled with access when `live_access` is true); without it, access for the
    /// existing link. `scopes` defaults to all of them.
    AccessRequest {
        creator: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        link: Option<NewLink>,
        #[serde(default = "default_true", deserialize_with = "true_if_null")]
        live_access: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scopes: Option<Vec<Scope>>,
    },
    /// Creator: requests addressed to me; agency: requests my agency sent.
    ListAccessRequests {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<RequestStatus>,
    },
    /// Creator: accept a pending request.
    AccessAccept {
        request_id: String,
    },
    /// Creator: decline a pending request.
    AccessDecline {
        request_id: String,
    },
    /// Creator or agency: end a link (and any access that came with it).
    Unlink {
        link_id: String,
    },
    /// Creator or agency: my links.
    ListLinks,
    /// Creator or agency: my grants.
    ListGrants,
    /// Creator: report suspicious activity; suspends the agency's access at once.
    ReportAgency {
        agency: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Creator: lift a suspension.
    ResumeAgency {
        agency: String,
    },
    /// My inbox, newest first. `before` pages by notification id.
    ListNotifications {
        #[serde(default, deserialize_with = "false_if_null")]
        unread_only: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Mark notifications read.
    Ack {
        notification_ids: Vec<u64>,
    },
    /// Creator: the audit trail of agency actions in my rooms, newest first.
    ListAudit {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agency: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
}

impl Command {
    /// The wire `type` of this command (for logs, metrics and the audit trail).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Connect { .. } => "connect",
            Command::Ping => "ping",
            Command::Refresh { .. } => "refresh",
            Command::Join { .. } => "join",
            Command::Leave { .. } => "leave",
            Command::Comment { .. } => "comment",
            Command::StartRoom { .. } => "start_room",
            Command::EndRoom { .. } => "end_room",
            Command::ScheduleRoom { .. } => "schedule_room",
            Command::DeployBillboard { .. } => "deploy_billboard",
            Command::RemoveBillboard { .. } => "remove_billboard",
            Command::DeleteComment { .. } => "delete_comment",
            Command::AccessRequest { .. } => "access_request",
            Command::ListAccessRequests { .. } => "list_access_requests",
            Command::AccessAccept { .. } => "access_accept",
            Command::AccessDecline { .. } => "access_decline",
            Command::Unlink { .. } => "unlink",
            Command::ListLinks => "list_links",
            Command::ListGrants => "list_grants",
            Command::ReportAgency { .. } => "report_agency",
            Command::ResumeAgency { .. } => "resume_agency",
            Command::ListNotifications { .. } => "list_notifications",
            Command::Ack { .. } => "ack",
            Command::ListAudit { .. } => "list_audit",
        }
    }

    /// The room a command targets, if any.
    pub fn room(&self) -> Option<&str> {
        match self {
            Command::Join { room, .. }
            | Command::Leave { room }
            | Command::Comment { room, .. }
            | Command::StartRoom { room, .. }
            | Command::EndRoom { room }
            | Command::ScheduleRoom { room, .. }
            | Command::DeployBillboard { room, .. }
            | Command::RemoveBillboard { room }
            | Command::DeleteComment { room, .. } => Some(room),
            _ => None,
        }
    }
}
