//! Messages the hub sends: control messages (`reply`, `welcome`, `notification`,
//! `notifications_remaining`) and room events.

use crate::error::ErrorBody;
use crate::types::*;
use serde::{Deserialize, Serialize};

/// Anything the hub sends. Room events carry `room`, `seq` and `ts`; control messages do not.
// Messages are built, encoded once and dropped; boxing a variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ServerMessage {
    Event(Event),
    Control(Control),
}

/// Messages that are not room events.
// A reply is built, encoded and dropped at once; boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Control {
    Reply(Reply),
    Welcome(Welcome),
    Notification(NotificationInfo),
    NotificationsRemaining(NotificationsRemaining),
}

/// Sent after the unread notifications pushed at connect when the inbox holds more unread ones than
/// were pushed: the client pages the rest with `list_notifications` (`unread_only: true`, `before`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationsRemaining {
    /// The smallest `notification_id` pushed; the remaining unread ones have smaller ids. Absent when
    /// the hub could not read the inbox at connect: page from the newest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The request's `id`; `null` when the frame was too broken to read one.
    #[serde(default)]
    pub id: Option<u64>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ReplyResult>,
}

impl Reply {
    pub fn ok(id: u64, result: Option<ReplyResult>) -> Self {
        Reply { id: Some(id), ok: true, error: None, result }
    }

    pub fn err(id: Option<u64>, error: ErrorBody) -> Self {
        Reply { id, ok: false, error: Some(error), result: None }
    }
}

/// What a successful reply returns, tagged by `kind`.
// A reply is built once and encoded at once; boxing the snapshot would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReplyResult {
    /// `join`, `start_room`, `schedule_room`.
    Snapshot(Snapshot),
    /// `comment`: the id viewers see and the event's seq.
    Comment {
        comment_id: u64,
        seq: u64,
    },
    /// A room operation that produced an event.
    Published {
        seq: u64,
    },
    /// `ping`.
    Pong {
        server_time: Millis,
    },
    /// `access_request`.
    Request {
        request: AccessRequestInfo,
    },
    /// `access_accept`, `access_decline`: the request, its link, and the grant an accept made.
    Decision {
        request: AccessRequestInfo,
        link: LinkInfo,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grant: Option<GrantInfo>,
    },
    /// `unlink`: the ended link and the grant it revoked, if any.
    Unlinked {
        link: LinkInfo,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        revoked: Option<GrantInfo>,
    },
    /// `report_agency`, `resume_agency`: the grant's new state.
    Grant {
        grant: GrantInfo,
    },
    Requests {
        items: Vec<AccessRequestInfo>,
    },
    Links {
        items: Vec<LinkInfo>,
    },
    Grants {
        items: Vec<GrantInfo>,
    },
    Notifications {
        items: Vec<NotificationInfo>,
    },
    Audit {
        items: Vec<AuditRecord>,
        /// Pass as `before` to get the next (older) page; absent on the last page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_before: Option<u64>,
    },
    /// `ack`: how many notifications changed to read.
    Acked {
        updated: u64,
    },
    /// `create_live_event`, `update_live_event`, `cancel_live_event`.
    LiveEvent {
        event: LiveEventInfo,
    },
    /// `list_live_events`.
    LiveEvents {
        items: Vec<LiveEventInfo>,
    },
    /// `list_moderation`: the creator's keyword filter and sanctioned accounts now.
    Moderation {
        terms: Vec<BlockedTerm>,
        users: Vec<ModeratedUser>,
    },
    /// `save_product_set`.
    ProductSet {
        set: ProductSet,
    },
    /// `list_product_sets`, newest change first.
    ProductSets {
        items: Vec<ProductSet>,
    },
    /// `delete_product_set`.
    ProductSetDeleted {
        set_id: String,
    },
    /// A bag command: the new bag and the seq of its `bag` event.
    Bag {
        seq: u64,
        bag: Bag,
    },
    /// `start_flash_sale`: the sale and the seq of its `flash_sale` event.
    FlashSale {
        seq: u64,
        sale: FlashSale,
    },
    // ---- engagement ----
    /// `activity_feed`: full feed entries after the cursor, oldest first.
    Feed {
        items: Vec<FeedEntry>,
    },
    /// `dashboard`: the figures now and the completed minutes so far.
    Dashboard {
        dashboard: DashboardData,
        minutes: Vec<MinutePoint>,
    },
    /// `get_summary`: the summary persisted when the room's LIVE ended.
    Summary {
        summary: LiveSummary,
    },
    /// `get_account_health`: the creator's counts and what the check found.
    AccountHealth {
        health: AccountHealth,
    },
}

/// Sent once, right after authentication succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol_version: u32,
    /// The hub's id for this connection (for support and logs).
    pub session: u64,
    pub user: Actor,
    pub role: Role,
    pub server_time: Millis,
    /// How often the hub pings; answer with pongs (WebSocket libraries do) or any frame.
    pub heartbeat_ms: u64,
    /// Largest frame the hub accepts, in bytes.
    pub max_frame_bytes: u64,
}

/// A room event: `room`, `seq`, `ts`, then the body's `type` and fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub room: String,
    /// Room sequence number: +1 for every event all members receive. Ephemeral events
    /// (`viewer_count`) and staff-only events repeat the latest seq instead of taking one.
    pub seq: u64,
    /// Staff stream sequence: +1 for each staff-only event (`staff_joined`, `staff_left`).
    /// Present only on those events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_seq: Option<u64>,
    /// Server time the event was made.
    pub ts: Millis,
    #[serde(flatten)]
    pub body: EventBody,
}

/// Why a room ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The creator ended the LIVE.
    Creator,
    /// The hub is shutting down.
    Shutdown,
    /// The hub reclaimed the room: a scheduled room whose start time passed long ago, or a live
    /// room whose creator has been gone longer than the grace period. The creator is notified.
    Reclaimed,
}

/// The kinds of room event, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    /// The scheduled LIVE's title or planned start changed (before it goes live).
    RoomScheduled {
        title: String,
        starts_at: Millis,
    },
    RoomStarted {
        title: String,
    },
    RoomEnded {
        reason: EndReason,
    },
    Comment {
        comment_id: u64,
        /// As viewers see it: agency staff comment as the creator.
        author: Actor,
        text: String,
        /// Creator and agency members only: who really wrote it, when it was agency staff.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<Operator>,
    },
    CommentDeleted {
        comment_id: u64,
        by: Actor,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<Operator>,
    },
    /// Published by the platform backend over HTTP.
    Order {
        order_id: String,
        buyer: String,
        product_id: String,
        product_name: String,
        quantity: u32,
        /// Price in minor units of `currency` (cents).
        amount: u64,
        currency: String,
    },
    /// Other backend activity (subscriptions, follows, shares…), shown in the activity feed.
    Activity {
        kind: String,
        text: String,
    },
    Billboard {
        action: BillboardAction,
        /// The billboard now shown (deployed) or taken down (removed).
        billboard: Billboard,
        by: Actor,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<Operator>,
    },
    /// Ephemeral, throttled; droppable.
    ViewerCount {
        count: u64,
    },
    /// Staff-only: agency staff entered the room.
    StaffJoined {
        staff: Operator,
    },
    /// Staff-only: agency staff left the room.
    StaffLeft {
        staff: Operator,
    },

    // ---- moderation ----------------------------------------------------------------------
    /// Staff-only: a comment was held for review (its author saw it as sent).
    CommentHeld {
        comment: HeldComment,
    },
    /// Staff-only: a held comment was approved (a `comment` with the same `comment_id` follows)
    /// or rejected.
    CommentReviewed {
        comment_id: u64,
        approved: bool,
        by: Actor,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<Operator>,
    },
    /// The room's comment rules changed.
    CommentSettings {
        settings: CommentSettings,
        by: Actor,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<Operator>,
    },
    /// Staff-only: an account was sanctioned or pardoned, or the keyword filter changed, in the
    /// creator's rooms (sent to each of the creator's live rooms).
    Moderated {
        action: ModerationAction,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<Millis>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        terms: Vec<String>,
        by: Actor,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<Operator>,
    },
    /// The campaign banner of the room's LIVE event was shown (its window opened) or hidden.
    Campaign {
        action: CampaignAction,
        campaign: Campaign,
    },
    /// To one connection only, not kept: it was removed from the room (`reason`: `blocked`) and
    /// receives nothing more from it.
    Removed {
        reason: String,
    },
    /// The shopping bag changed: the whole new bag, with its new version.
    Bag {
        action: BagAction,
        /// The product the change was about (absent for `loaded` and `unpinned`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        product_id: Option<String>,
        bag: Bag,
        by: Actor,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<Operator>,
    },
    /// A flash sale was announced or changed status (`countdown` → `open` → `sold_out` /
    /// `ended`). `by` is who announced it (on the announcement only).
    FlashSale {
        sale: FlashSale,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<Actor>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<Operator>,
    },
    /// Ephemeral, coalesced, droppable: units of the open flash sale not claimed yet.
    FlashSaleStock {
        sale_id: String,
        remaining: u32,
    },
    // ---- engagement: giveaways, the activity feed, the live dashboard ----
    /// A giveaway opened; `giveaway.commitment` binds the hub to the draw's seed.
    GiveawayStarted {
        giveaway: GiveawayInfo,
        by: Actor,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<Operator>,
    },
    /// Ephemeral, coalesced; droppable: the open giveaway's entry count.
    GiveawayEntries {
        giveaway_id: String,
        entries: u64,
    },
    /// The draw: the seed (lowercase hex, its SHA-256 is the commitment), the entrants the draw ran
    /// over in entry order as pseudonymous entries (each a truncated SHA-256 of the giveaway id, the
    /// account id and `salt`; SPEC), and the winners by display name. Anyone can recompute it, and
    /// each viewer can find their own entry.
    GiveawayDrawn {
        giveaway_id: String,
        seed: String,
        /// The per-giveaway salt of the entries (lowercase hex of 16 bytes).
        #[serde(default)]
        salt: String,
        entrants: Vec<String>,
        winners: Vec<GiveawayWinner>,
        /// Entrants left out because they were not in the room at the draw (`must_be_present`).
        #[serde(default)]
        absent: u64,
    },
    /// Ephemeral, coalesced; droppable: the room's like total.
    LikeCount {
        likes: u64,
    },
    /// Ephemeral; only to the creator and agency staff with `analytics`: one full feed entry.
    FeedItem {
        entry: FeedEntry,
    },
    /// Ephemeral, coalesced; droppable; once a second, only to the creator and agency staff
    /// with `analytics`: the live dashboard.
    Dashboard {
        dashboard: DashboardData,
    },
}

impl EventBody {
    /// The wire `type` of the event.
    pub fn name(&self) -> &'static str {
        match self {
            EventBody::RoomScheduled { .. } => "room_scheduled",
            EventBody::RoomStarted { .. } => "room_started",
            EventBody::RoomEnded { .. } => "room_ended",
            EventBody::Comment { .. } => "comment",
            EventBody::CommentDeleted { .. } => "comment_deleted",
            EventBody::Order { .. } => "order",
            EventBody::Activity { .. } => "activity",
            EventBody::Billboard { .. } => "billboard",
            EventBody::ViewerCount { .. } => "viewer_count",
            EventBody::StaffJoined { .. } => "staff_joined",
            EventBody::StaffLeft { .. } => "staff_left",
            EventBody::CommentHeld { .. } => "comment_held",
            EventBody::CommentReviewed { .. } => "comment_reviewed",
            EventBody::CommentSettings { .. } => "comment_settings",
            EventBody::Moderated { .. } => "moderated",
            EventBody::Removed { .. } => "removed",
            EventBody::Campaign { .. } => "campaign",
            EventBody::Bag { .. } => "bag",
            EventBody::FlashSale { .. } => "flash_sale",
            EventBody::FlashSaleStock { .. } => "flash_sale_stock",
            EventBody::GiveawayStarted { .. } => "giveaway_started",
            EventBody::GiveawayEntries { .. } => "giveaway_entries",
            EventBody::GiveawayDrawn { .. } => "giveaway_drawn",
            EventBody::LikeCount { .. } => "like_count",
            EventBody::FeedItem { .. } => "feed_item",
            EventBody::Dashboard { .. } => "dashboard",
        }
    }

    /// Whether a slow connection may miss this event (it is then counted as dropped) rather than
    /// be disconnected. Everything that changes what the room shows must not be lost.
    pub fn droppable(&self) -> bool {
        // Every counter may be dropped (a newer one follows).
        self.coalesces()
            || matches!(self, EventBody::Comment { .. } | EventBody::Activity { .. } | EventBody::FeedItem { .. })
    }

    /// Staff-only events go to creator and agency members, never to viewers.
    pub fn staff_only(&self) -> bool {
        matches!(
            self,
            EventBody::StaffJoined { .. }
                | EventBody::StaffLeft { .. }
                | EventBody::FeedItem { .. }
                | EventBody::Dashboard { .. }
                | EventBody::CommentHeld { .. }
                | EventBody::CommentReviewed { .. }
                | EventBody::Moderated { .. }
        )
    }

    /// Ephemeral events do not take a seq and are not kept in history.
    pub fn ephemeral(&self) -> bool {
        // Every counter is ephemeral (only its latest value matters).
        self.coalesces() || matches!(self, EventBody::FeedItem { .. } | EventBody::Removed { .. })
    }

    /// Counters and ticks: a newer event of the same type replaces one still queued for a
    /// connection, so a slow connection gets the latest value rather than every value.
    pub fn coalesces(&self) -> bool {
        matches!(
            self,
            EventBody::ViewerCount { .. }
                | EventBody::FlashSaleStock { .. }
                | EventBody::GiveawayEntries { .. }
                | EventBody::LikeCount { .. }
                | EventBody::Dashboard { .. }
        )
    }

    /// The same event as viewers must see it: the real operator removed.
    pub fn for_viewers(&self) -> EventBody {
        let mut public = self.clone();
        match &mut public {
            EventBody::Comment { operator, .. }
            | EventBody::CommentDeleted { operator, .. }
            | EventBody::Billboard { operator, .. }
            | EventBody::Bag { operator, .. }
            | EventBody::FlashSale { operator, .. }
            | EventBody::GiveawayStarted { operator, .. }
            | EventBody::CommentSettings { operator, .. } => *operator = None,
            _ => {}
        }
        public
    }

    /// Whether this event names a real operator, so viewers need their own encoding of it.
    pub fn has_operator(&self) -> bool {
        matches!(
            self,
            EventBody::Comment { operator: Some(_), .. }
                | EventBody::CommentDeleted { operator: Some(_), .. }
                | EventBody::Billboard { operator: Some(_), .. }
                | EventBody::Bag { operator: Some(_), .. }
                | EventBody::FlashSale { operator: Some(_), .. }
                | EventBody::GiveawayStarted { operator: Some(_), .. }
                | EventBody::CommentSettings { operator: Some(_), .. }
        )
    }
}
