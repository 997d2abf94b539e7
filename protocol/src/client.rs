//! Messages a client sends. Every one is a request: a map with `type`, an `id` chosen by the
//! client, and the command's fields. The hub answers each with a `reply` carrying the same `id`.

use crate::types::{
    Billboard, BlockedTerm, Campaign, Millis, MuteDuration, NewFlashSale, Product, RequestStatus, Scope,
};
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
    /// Creator only, own room: go live. Creates the room if it does not exist yet. With
    /// `event_id`, the LIVE is that scheduled event of the creator's (in this room): its product
    /// set is loaded into the bag, and its title is the default title.
    StartRoom {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
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

    // ---- commerce: product sets, the shopping bag, flash sales ---------------------------
    /// Creator, or agency staff with `shopping_bag`: create a product set of the creator's, or
    /// replace the one with this `set_id`.
    SaveProductSet {
        set_id: String,
        name: String,
        products: Vec<Product>,
    },
    /// Creator, or agency staff with `shopping_bag`: delete one of the creator's product sets.
    DeleteProductSet {
        set_id: String,
    },
    /// Creator, or agency staff with `shopping_bag`: the creator's product sets.
    ListProductSets,
    /// Add to the bag one `product`, or every product of the creator's set `set_id` that is not
    /// in the bag yet (exactly one of the two). Every bag command names the bag `version` it was
    /// made against; another version is refused with `conflict` and the current one.
    BagAdd {
        room: String,
        version: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        product: Option<Product>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        set_id: Option<String>,
    },
    BagRemove {
        room: String,
        version: u64,
        product_id: String,
    },
    /// Move a product to `position` (0 is the top).
    BagMove {
        room: String,
        version: u64,
        product_id: String,
        position: u32,
    },
    /// Pin a product: viewers see its card. Replaces any pinned one.
    BagPin {
        room: String,
        version: u64,
        product_id: String,
    },
    BagUnpin {
        room: String,
        version: u64,
    },
    /// Mark a product in the bag sold out.
    BagSoldOut {
        room: String,
        version: u64,
        product_id: String,
    },
    /// Creator, or agency staff with `promotions`: announce a flash sale (one at a time a room).
    StartFlashSale {
        room: String,
        sale: NewFlashSale,
    },
    // ---- engagement: giveaways (`promotions`), feed and dashboard (`analytics`) ------------
    /// Open a giveaway in a live room: viewers enter by commenting `keyword`; the hub draws
    /// `winners` at the end of `duration_ms`. One at a time per room.
    StartGiveaway {
        room: String,
        prize: String,
        keyword: String,
        duration_ms: u64,
        winners: u32,
        #[serde(default, deserialize_with = "false_if_null")]
        must_be_present: bool,
    },
    /// The full activity feed: entries with `feed_id` above `after`, oldest first.
    ActivityFeed {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// The live dashboard now, with the completed minutes (for charts).
    Dashboard {
        room: String,
    },
    /// The summary persisted when a room's LIVE ended (also after the room is forgotten).
    GetSummary {
        room: String,
    },

    // ---- moderation (creator, or agency staff with `moderation`) -------------------------
    /// Change the room's comment rules; absent fields keep their value.
    SetCommentSettings {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        slow_mode_ms: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        links_allowed: Option<bool>,
    },
    /// Add terms to the creator's keyword filter (all the creator's rooms); a term already
    /// there gets the new expiry.
    AddBlockedTerms {
        room: String,
        terms: Vec<BlockedTerm>,
    },
    RemoveBlockedTerms {
        room: String,
        terms: Vec<String>,
    },
    /// Approve (broadcast) or reject a held comment.
    ReviewComment {
        room: String,
        comment_id: u64,
        approve: bool,
    },
    /// Mute an account in the creator's rooms, optionally removing its recent comments here.
    Mute {
        room: String,
        user_id: String,
        duration: MuteDuration,
        #[serde(default, deserialize_with = "false_if_null")]
        remove_comments: bool,
    },
    Unmute {
        room: String,
        user_id: String,
    },
    /// Block an account: out of the creator's rooms now and refused at every later join.
    Block {
        room: String,
        user_id: String,
    },
    Unblock {
        room: String,
        user_id: String,
    },
    /// Hide an account (shadow ban): its comments are seen only by itself and staff.
    HideUser {
        room: String,
        user_id: String,
    },
    UnhideUser {
        room: String,
        user_id: String,
    },
    /// The creator's keyword filter and sanctioned accounts.
    ListModeration {
        room: String,
    },

    // ---- scheduling (creator, or agency staff with `scheduling`) ---------------------------
    /// Plan a LIVE in the creator's calendar (for agency staff: the creator their token names).
    CreateLiveEvent {
        room: String,
        title: String,
        starts_at: Millis,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        product_set_id: Option<String>,
    },
    /// Change a planned LIVE; absent fields keep their value.
    UpdateLiveEvent {
        event_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        starts_at: Option<Millis>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        product_set_id: Option<String>,
    },
    CancelLiveEvent {
        event_id: String,
    },
    /// Creator, or agency staff with `promotions`: attach a campaign banner to a planned LIVE
    /// (`null` or absent: remove it).
    SetCampaign {
        event_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        campaign: Option<Campaign>,
    },
    /// The creator's planned LIVEs, soonest first.
    ListLiveEvents {
        #[serde(default, deserialize_with = "false_if_null")]
        include_cancelled: bool,
    },

    // ---- account health (creator, or agency staff with `analytics`) ------------------------
    /// The creator's account health: moderation and refusal counts, and a check of its setup.
    /// Names no room: it is the caller's own (the creator) or the token's creator (staff).
    GetAccountHealth,

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
            Command::SaveProductSet { .. } => "save_product_set",
            Command::DeleteProductSet { .. } => "delete_product_set",
            Command::ListProductSets => "list_product_sets",
            Command::BagAdd { .. } => "bag_add",
            Command::BagRemove { .. } => "bag_remove",
            Command::BagMove { .. } => "bag_move",
            Command::BagPin { .. } => "bag_pin",
            Command::BagUnpin { .. } => "bag_unpin",
            Command::BagSoldOut { .. } => "bag_sold_out",
            Command::StartFlashSale { .. } => "start_flash_sale",
            Command::StartGiveaway { .. } => "start_giveaway",
            Command::ActivityFeed { .. } => "activity_feed",
            Command::Dashboard { .. } => "dashboard",
            Command::GetSummary { .. } => "get_summary",
            Command::SetCommentSettings { .. } => "set_comment_settings",
            Command::AddBlockedTerms { .. } => "add_blocked_terms",
            Command::RemoveBlockedTerms { .. } => "remove_blocked_terms",
            Command::ReviewComment { .. } => "review_comment",
            Command::Mute { .. } => "mute",
            Command::Unmute { .. } => "unmute",
            Command::Block { .. } => "block",
            Command::Unblock { .. } => "unblock",
            Command::HideUser { .. } => "hide_user",
            Command::UnhideUser { .. } => "unhide_user",
            Command::ListModeration { .. } => "list_moderation",
            Command::CreateLiveEvent { .. } => "create_live_event",
            Command::UpdateLiveEvent { .. } => "update_live_event",
            Command::CancelLiveEvent { .. } => "cancel_live_event",
            Command::SetCampaign { .. } => "set_campaign",
            Command::ListLiveEvents { .. } => "list_live_events",
            Command::GetAccountHealth => "get_account_health",
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
            | Command::DeleteComment { room, .. }
            | Command::BagAdd { room, .. }
            | Command::BagRemove { room, .. }
            | Command::BagMove { room, .. }
            | Command::BagPin { room, .. }
            | Command::BagUnpin { room, .. }
            | Command::BagSoldOut { room, .. }
            | Command::StartFlashSale { room, .. }
            | Command::StartGiveaway { room, .. }
            | Command::ActivityFeed { room, .. }
            | Command::Dashboard { room }
            | Command::SetCommentSettings { room, .. }
            | Command::AddBlockedTerms { room, .. }
            | Command::RemoveBlockedTerms { room, .. }
            | Command::ReviewComment { room, .. }
            | Command::Mute { room, .. }
            | Command::Unmute { room, .. }
            | Command::Block { room, .. }
            | Command::Unblock { room, .. }
            | Command::HideUser { room, .. }
            | Command::UnhideUser { room, .. }
            | Command::ListModeration { room } => Some(room),
            // `get_summary` names a room that may be long gone: the summary's owner is checked by
            // its handler instead.
            _ => None,
        }
    }
}
