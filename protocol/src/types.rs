//! Nouns shared by requests, replies and events.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (UTC). Every timestamp on the wire uses it.
pub type Millis = u64;

/// What a token says its holder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Creator,
    Viewer,
    Agency,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Creator => "creator",
            Role::Viewer => "viewer",
            Role::Agency => "agency",
        }
    }
}

/// A public identity: who viewers see as the author of a comment or an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub id: String,
    pub name: String,
}

/// The real person behind an agency action. Sent only to the creator and agency connections of
/// a room, never to viewers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    pub agency_id: String,
    pub staff_id: String,
    pub staff_name: String,
}

/// Lifecycle of a live room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomState {
    Scheduled,
    Live,
    Ended,
}

/// A promotional billboard shown over the stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Billboard {
    pub billboard_id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_url: Option<String>,
    /// How long to show it, in ms (1 s to 24 h by default); absent: until removed or replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Set by the hub when a billboard with `duration_ms` is deployed: when it comes down by
    /// itself, on the hub's clock (a value a client sends is replaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Millis>,
}

/// Whether a `billboard` event shows or hides one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillboardAction {
    Deployed,
    Removed,
    /// Its display duration ran out (the hub took it down).
    Expired,
}

/// What a late joiner needs to show the room at once. Returned by `join`, `start_room`,
/// `schedule_room`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub room: String,
    pub state: RoomState,
    pub title: String,
    pub creator: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billboard: Option<Billboard>,
    pub viewer_count: u64,
    /// Seq of the latest event; the next event that takes a seq has `seq + 1`.
    pub seq: u64,
    /// The room's history epoch: `seq` values compare only within one epoch. Pass it back in
    /// `join.since` to recover what was missed.
    pub epoch: String,
    /// Only in the reply to a `join` with `since`: whether every missed event follows (`true`) or
    /// the client must start again from this snapshot (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<bool>,
    /// Staff stream position; only for creator and agency members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_seq: Option<u64>,
    /// Agency staff in the room; only for creator and agency members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff: Option<Vec<Operator>>,
    /// The shopping bag, once anything was put in it (`version` > 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bag: Option<Bag>,
    /// The room's flash sale, from its creation until it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash_sale: Option<FlashSale>,
    // ---- engagement ----
    /// The giveaway open now, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub giveaway: Option<GiveawayInfo>,
    /// Likes so far (absent while zero).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub likes: u64,
    // ---- moderation and scheduling ----
    /// The room's comment rules, when they differ from the defaults (no slow mode, no links).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_settings: Option<CommentSettings>,
    /// Comments held for review, oldest first; only for creator and agency members, and only
    /// when there are some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<Vec<HeldComment>>,
    /// The campaign banner shown now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<Campaign>,
}

/// A capability an agency may be granted in a creator's rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Delete comments, mute, block, filter spam.
    Moderation,
    /// Pin, delete and rearrange shopping-bag items.
    ShoppingBag,
    /// Deploy and remove billboards.
    Billboards,
    /// Giveaways and flash sales.
    Promotions,
    /// Schedule LIVE events.
    Scheduling,
    /// Dashboards and analytics.
    Analytics,
}

impl Scope {
    /// Every scope: what a request that names none asks for.
    pub const ALL: [Scope; 6] = [
        Scope::Moderation,
        Scope::ShoppingBag,
        Scope::Billboards,
        Scope::Promotions,
        Scope::Scheduling,
        Scope::Analytics,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Moderation => "moderation",
            Scope::ShoppingBag => "shopping_bag",
            Scope::Billboards => "billboards",
            Scope::Promotions => "promotions",
            Scope::Scheduling => "scheduling",
            Scope::Analytics => "analytics",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

/// What an agency's request asks for (see the Creator Partner Access rules in SPEC.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// A new link, without LIVE Manager access.
    Link,
    /// LIVE Manager access for a link that already exists.
    Access,
    /// A new link bundled with LIVE Manager access.
    LinkAndAccess,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Accepted,
    Declined,
    /// Superseded: the link it depended on ended before the creator decided.
    Cancelled,
}

/// An agency's link and/or access request, as the creator sees it in Cooperation Management.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequestInfo {
    pub request_id: String,
    pub kind: RequestKind,
    pub status: RequestStatus,
    pub creator_id: String,
    pub agency_id: String,
    pub agency_name: String,
    /// The staff member who sent it.
    pub requested_by: String,
    pub scopes: Vec<Scope>,
    pub link_id: String,
    pub agreement_ends_at: Millis,
    pub created_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Millis>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    /// Requested, not yet accepted.
    Pending,
    Active,
    /// Declined before it started.
    Declined,
    /// Unlinked, or its agreement ended.
    Ended,
}

/// A creator–agency linking agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkInfo {
    pub link_id: String,
    pub creator_id: String,
    pub agency_id: String,
    pub agency_name: String,
    pub status: LinkStatus,
    pub agreement_ends_at: Millis,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    Active,
    /// Suspended by the creator's report; resumes only by the creator's action.
    Suspended,
    /// Ended by unlinking.
    Revoked,
}

/// LIVE Manager access of one agency to one creator's rooms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantInfo {
    pub grant_id: String,
    pub creator_id: String,
    pub agency_id: String,
    pub agency_name: String,
    pub link_id: String,
    pub scopes: Vec<Scope>,
    pub status: GrantStatus,
    pub granted_at: Millis,
    /// The link agreement's end: the grant stops working at this instant by itself.
    pub expires_at: Millis,
}

/// One entry of a user's or agency's inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationInfo {
    pub notification_id: u64,
    /// To creators: `access_requested`, `live_scheduled`, `live_event_created`,
    /// `live_event_updated`, `live_event_cancelled`, `live_reminder`, `staff_joined`, `staff_left`,
    /// `room_reclaimed`, and `access_revoked`/`unlinked` when the agency ends the link. To
    /// agencies: `access_granted`, `link_accepted`, `access_declined`, `link_declined`,
    /// `access_revoked`/`unlinked` when the creator ends the link, `access_suspended`,
    /// `access_resumed`.
    pub kind: String,
    pub created_at: Millis,
    pub read: bool,
    /// Kind-specific details (agency, room, request id, staff member…).
    pub data: serde_json::Value,
}

/// One audit-trail record of something an agency connection did or tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub audit_id: u64,
    pub ts: Millis,
    pub creator_id: String,
    pub agency_id: String,
    pub staff_id: String,
    pub staff_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// The command's wire `type`.
    pub command: String,
    /// `ok`, or the error code it was refused with.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

// ---- commerce: products, product sets, the shopping bag, flash sales ------------------------

/// A product as a creator sells it in a LIVE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub product_id: String,
    pub title: String,
    /// Price in minor units of `currency` (cents).
    pub price: u64,
    /// ISO 4217 code, three upper-case letters.
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// Whether the shop has it in stock.
    pub in_stock: bool,
}

/// A creator's named list of products, prepared before a LIVE (persisted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductSet {
    pub set_id: String,
    pub name: String,
    pub products: Vec<Product>,
    pub updated_at: Millis,
}

/// One product in a room's shopping bag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BagItem {
    pub product: Product,
    /// Marked sold out during the LIVE.
    pub sold_out: bool,
}

/// A room's shopping bag: an ordered list, at most one pinned product, and a version that every
/// change increments (a command names the version it was made against).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bag {
    pub version: u64,
    pub items: Vec<BagItem>,
    /// The `product_id` of the pinned card viewers see, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<String>,
}

/// What changed in a `bag` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BagAction {
    Added,
    Removed,
    Moved,
    Pinned,
    Unpinned,
    SoldOut,
    /// A product set replaced the bag's contents (a LIVE started from a scheduled event).
    Loaded,
}

/// Where a flash sale stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlashSaleStatus {
    /// Announced; opens at `opens_at`.
    Countdown,
    Open,
    /// Every unit is claimed.
    SoldOut,
    /// Its time ran out (or the room ended).
    Ended,
}

/// A flash sale as it is announced (`start_flash_sale`, `POST /rooms/{room}/flash-sales`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewFlashSale {
    pub product: Product,
    /// The sale price, in minor units of the product's currency.
    pub sale_price: u64,
    /// Units on sale in all.
    pub quantity: u32,
    /// Most units one buyer may claim.
    pub per_buyer_limit: u32,
    /// Time before it opens, ms (10–300 s by default).
    pub countdown_ms: u64,
    /// How long it stays open, ms (1–20 min by default).
    pub duration_ms: u64,
}

/// A flash sale in a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlashSale {
    pub sale_id: String,
    pub product: Product,
    pub sale_price: u64,
    pub quantity: u32,
    pub per_buyer_limit: u32,
    pub opens_at: Millis,
    pub ends_at: Millis,
    pub status: FlashSaleStatus,
    /// Units not yet claimed, as last announced.
    pub remaining: u32,
}

// ---- engagement: giveaways, the activity feed, the live dashboard ----------------------------

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A giveaway as the room shows it (`giveaway_started`, the join snapshot while it is open).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiveawayInfo {
    pub giveaway_id: String,
    pub prize: String,
    /// Viewers enter by commenting exactly this (trimmed, case-insensitive).
    pub keyword: String,
    /// How many winners are drawn (fewer if fewer entered).
    pub winners: u32,
    /// Only entrants with a connection in the room at the draw can win.
    pub must_be_present: bool,
    /// Entries past this many are not counted.
    pub max_entrants: u32,
    pub started_at: Millis,
    /// When entries close; the hub draws within a second after.
    pub ends_at: Millis,
    /// Lowercase hex SHA-256 of the draw's 32-byte seed, revealed in `giveaway_drawn`.
    pub commitment: String,
    /// Entrants so far (in snapshots; `giveaway_entries` carries it live).
    #[serde(default)]
    pub entries: u64,
}

/// One winner of a giveaway: its position in the revealed entrant list and its display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GiveawayWinner {
    pub index: u32,
    pub name: String,
}

/// The kinds of activity a platform backend publishes into a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    Order,
    Subscription,
    Follow,
    Like,
    Gift,
    Share,
}

impl ActivityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Order => "order",
            ActivityKind::Subscription => "subscription",
            ActivityKind::Follow => "follow",
            ActivityKind::Like => "like",
            ActivityKind::Gift => "gift",
            ActivityKind::Share => "share",
        }
    }
}

/// One entry of the full activity feed, for the creator and agency staff with `analytics`:
/// everything the backend published, including who (ids) and how much.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedEntry {
    /// Position in this room's full feed: +1 per entry; page with `activity_feed.after`.
    pub feed_id: u64,
    pub kind: ActivityKind,
    pub ts: Millis,
    /// The backend's id for the event (retries with the same id are not counted twice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The `seq` of the light event viewers got for it (likes have none: they are a counter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub user_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    /// Minor units of `currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Gifts: the gift's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gift: Option<String>,
    /// Likes and gifts: how many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

/// An amount of one currency, in its minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub currency: String,
    pub amount: u64,
}

/// Sales of one product in a LIVE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductStat {
    pub product_id: String,
    pub product_name: String,
    pub orders: u64,
    pub units: u64,
    pub gmv: Money,
}

/// One minute of a LIVE, for charts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinutePoint {
    /// The minute's start (the LIVE's first tick plus whole minutes).
    pub start: Millis,
    /// Most viewers seen in the minute.
    pub viewers: u64,
    pub comments: u64,
    pub likes: u64,
    pub orders: u64,
    pub units: u64,
    /// Per currency.
    pub gmv: Vec<Money>,
}

/// The live dashboard ("Data Compass"): totals since the LIVE started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardData {
    pub started_at: Millis,
    /// When these figures were taken.
    pub at: Millis,
    pub viewers: u64,
    pub peak_viewers: u64,
    /// Distinct viewer accounts that joined.
    pub unique_viewers: u64,
    /// Viewer time divided by unique viewers, ms.
    pub avg_watch_ms: u64,
    pub comments: u64,
    /// Comments in the last 60 seconds.
    pub comments_per_minute: u64,
    pub likes: u64,
    pub follows: u64,
    pub subscriptions: u64,
    pub shares: u64,
    pub gifts: u64,
    pub orders: u64,
    pub units: u64,
    /// Gross merchandise value per currency.
    pub gmv: Vec<Money>,
    /// Distinct buyers.
    pub buyers: u64,
    /// Buyers ÷ unique viewers, in basis points (1 % = 100).
    pub conversion_bp: u64,
    /// Up to 5 products, most units first.
    pub top_products: Vec<ProductStat>,
    /// Comments the moderation pipeline filtered, held for review, or moderated (deleted, muted…).
    pub filtered: u64,
    pub held: u64,
    pub moderated: u64,
    /// The minute in progress.
    pub minute: MinutePoint,
}

/// What a LIVE did, persisted when it ends: the final totals and the per-minute series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSummary {
    pub room: String,
    pub creator_id: String,
    pub title: String,
    pub started_at: Millis,
    pub ended_at: Millis,
    pub totals: DashboardData,
    /// Oldest first; at most `dashboard_max_minutes` (the oldest are dropped past it).
    pub minutes: Vec<MinutePoint>,
}

// ---- moderation ------------------------------------------------------------------------------

/// A room's comment rules, set by the creator or agency staff with `moderation`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentSettings {
    /// Slow mode: the least time between two comments of one viewer, in ms (0: off). The
    /// creator and agency staff are exempt.
    pub slow_mode_ms: u64,
    /// Whether viewers' comments may contain links; when not, a comment with one is held for
    /// review.
    pub links_allowed: bool,
}

/// Why a comment was held for review instead of being shown to the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// It hits one of the creator's blocked terms.
    Keyword,
    /// A link, in a room where links are not allowed.
    Link,
    /// The same text as the author's recent comments.
    Repeated,
    /// Too many comments from the author in a short time, or one character repeated at length.
    Flood,
    /// The author is hidden (shadow-banned) in the creator's rooms.
    HiddenUser,
}

/// A comment waiting for a moderator's decision. Its author saw it as sent; nobody else sees
/// it unless it is approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldComment {
    pub comment_id: u64,
    pub author: Actor,
    pub text: String,
    pub reason: HoldReason,
    pub held_at: Millis,
}

/// How long a mute lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MuteDuration {
    #[serde(rename = "10s")]
    Secs10,
    #[serde(rename = "1m")]
    Min1,
    #[serde(rename = "5m")]
    Min5,
    #[serde(rename = "10m")]
    Min10,
    #[serde(rename = "30m")]
    Min30,
    #[serde(rename = "24h")]
    Hours24,
    /// Until the LIVE the mute was given in ends.
    #[serde(rename = "live")]
    RestOfLive,
}

impl MuteDuration {
    /// The length in ms; `None` for the rest of the LIVE.
    pub fn millis(self) -> Option<Millis> {
        let s = 1000;
        match self {
            MuteDuration::Secs10 => Some(10 * s),
            MuteDuration::Min1 => Some(60 * s),
            MuteDuration::Min5 => Some(300 * s),
            MuteDuration::Min10 => Some(600 * s),
            MuteDuration::Min30 => Some(1800 * s),
            MuteDuration::Hours24 => Some(86_400 * s),
            MuteDuration::RestOfLive => None,
        }
    }
}

/// A term of the creator's keyword filter. `*` matches any run of letters and digits; matching
/// ignores case, accents, zero-width characters and common look-alike letters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedTerm {
    pub term: String,
    /// When the term stops applying by itself; absent: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Millis>,
}

/// What a moderator did to an account in the creator's rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sanction {
    /// May not comment until `until` (or the end of `room`'s LIVE).
    Muted,
    /// Removed from the creator's rooms and refused at every join.
    Blocked,
    /// Shadow-banned: its comments are seen only by itself and staff.
    Hidden,
}

/// One sanction on one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeratedUser {
    pub user_id: String,
    pub sanction: Sanction,
    /// When a mute ends; absent for a mute for the rest of a LIVE and for blocks and hides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Millis>,
    /// The room whose LIVE a "rest of the LIVE" mute lasts for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    pub since: Millis,
}

/// What a `moderated` event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModerationAction {
    Muted,
    Unmuted,
    Blocked,
    Unblocked,
    Hidden,
    Unhidden,
    TermsAdded,
    TermsRemoved,
}

// ---- scheduling and campaigns ----------------------------------------------------------------

/// A campaign banner attached to a LIVE event: shown to the room's viewers while its window is
/// open (on the hub's clock) and the room is live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_url: Option<String>,
    pub starts_at: Millis,
    /// After `starts_at`.
    pub ends_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveEventStatus {
    Scheduled,
    Cancelled,
}

/// A planned LIVE in the creator's calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveEventInfo {
    pub event_id: String,
    pub creator_id: String,
    /// The room the LIVE will take place in.
    pub room: String,
    pub title: String,
    pub starts_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_set_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<Campaign>,
    pub status: LiveEventStatus,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Whether a `campaign` event shows or hides a banner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignAction {
    Shown,
    Hidden,
}

// ---- account health ----------------------------------------------------------------------------

/// A creator's account health (`get_account_health`, `GET /api/v1/creators/{id}/health`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountHealth {
    pub creator_id: String,
    /// Since the creator's first LIVE on this hub; they survive restarts.
    pub counts: HealthCounts,
    /// What the check found wrong now, at most [`MAX_HEALTH_FINDINGS`]; empty when all is well.
    pub findings: Vec<HealthFinding>,
    /// Set when there were more findings than the list holds.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
    /// When the check ran (the hub's clock).
    pub checked_at: Millis,
}

/// Most findings one health check lists.
pub const MAX_HEALTH_FINDINGS: usize = 100;

fn is_false(b: &bool) -> bool {
    !*b
}

/// The creator's moderation counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCounts {
    /// Comments the pipeline held for review (keyword, link, spam, hidden author).
    pub filtered_comments: u64,
    pub mutes: u64,
    pub blocks: u64,
    /// Agency commands refused as `forbidden` (no grant, out of scope, not the creator's room).
    pub refused_agency_operations: u64,
}

/// What a finding is about; the codes are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The billboard of a live room hits one of the creator's blocked terms.
    BillboardBlockedTerm,
    /// A product in a live room's bag hits a blocked term (its title).
    BagBlockedTerm,
    /// A product of a product set hits a blocked term (its title) or the set's name does.
    ProductSetBlockedTerm,
    /// A flash sale sold out and its product is still the pinned card.
    SoldOutPinned,
    /// A scheduled LIVE event has no product set.
    EventWithoutProductSet,
    /// A scheduled LIVE event names a product set that no longer exists.
    EventProductSetMissing,
    /// An agency's grant ends within the warning window.
    GrantExpiring,
}

/// One thing wrong with the creator's setup, with the ids needed to act on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthFinding {
    pub kind: FindingKind,
    /// A readable explanation.
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billboard_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency_id: Option<String>,
    /// For `grant_expiring`: when the grant ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Millis>,
}

impl HealthFinding {
    pub fn new(kind: FindingKind, detail: impl Into<String>) -> Self {
        HealthFinding {
            kind,
            detail: detail.into(),
            room: None,
            billboard_id: None,
            product_id: None,
            set_id: None,
            sale_id: None,
            event_id: None,
            agency_id: None,
            expires_at: None,
        }
    }
}
