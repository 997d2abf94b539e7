//! Prometheus metrics, served as text at `GET /metrics`.
//!
//! Hot-path counters are plain atomics added to once per fan-out (not once per recipient), so
//! counting costs the broadcaster nothing measurable.
//!
//! Every family is in the output from the start: [`Metrics::new`] creates each known label value
//! (every role, error code, rate-limit class, command and backend event type) at 0, so a
//! dashboard or an alert on `rate(...)` sees a series before its first increment.

use crate::limits::LimitClass;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use stagehand_protocol::types::Role;
use stagehand_protocol::ErrorCode;

/// Every role a connection can have.
const ROLES: [Role; 3] = [Role::Creator, Role::Viewer, Role::Agency];

/// The request and backend event types known when the hub starts. A type added later still gets
/// its series, from its first increment on.
const EVENT_IN_TYPES: &[&str] = &[
    // Requests (`Command::name`).
    "connect",
    "ping",
    "refresh",
    "join",
    "leave",
    "comment",
    "start_room",
    "end_room",
    "schedule_room",
    "deploy_billboard",
    "remove_billboard",
    "delete_comment",
    "access_request",
    "list_access_requests",
    "access_accept",
    "access_decline",
    "unlink",
    "list_links",
    "list_grants",
    "report_agency",
    "resume_agency",
    "list_notifications",
    "ack",
    "list_audit",
    // Commerce requests.
    "save_product_set",
    "delete_product_set",
    "list_product_sets",
    "bag_add",
    "bag_remove",
    "bag_move",
    "bag_pin",
    "bag_unpin",
    "bag_sold_out",
    "start_flash_sale",
    "start_giveaway",
    "activity_feed",
    "dashboard",
    "get_summary",
    // Moderation.
    "set_comment_settings",
    "add_blocked_terms",
    "remove_blocked_terms",
    "review_comment",
    "mute",
    "unmute",
    "block",
    "unblock",
    "hide_user",
    "unhide_user",
    "list_moderation",
    // Scheduling.
    "create_live_event",
    "update_live_event",
    "cancel_live_event",
    "set_campaign",
    "list_live_events",
    // Account health.
    "get_account_health",
    // Events backends publish over HTTP.
    "order",
    "subscription",
    "follow",
    "like",
    "gift",
    "share",
    "activity",
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoleLabel {
    pub role: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabel {
    pub r#type: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabel {
    pub limit: String,
}

/// The limits whose trips are counted in `stagehand_limits_tripped{limit}` (rate limits on commands
/// are `stagehand_rate_limited{limit}`; slow consumers `stagehand_slow_consumer_closes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tripped {
    /// A connection's request headers were not complete within `header_timeout_ms`.
    HeaderTimeout,
    /// A WebSocket upgrade with an `Origin` that is not allowed (403).
    Origin,
    /// An address over its new-connection rate (429).
    ConnectionRate,
    /// A user at `max_connections_per_user` (429 at the upgrade, or 4014).
    ConnectionsPerUser,
    /// The hub at `max_connections` (503 at the upgrade).
    MaxConnections,
    /// An `/api/v1` request from an address over its wrong-API-key budget (429).
    ApiKeyFailures,
    /// An `/api/v1` body that is not JSON (415).
    ContentType,
    /// A connection that did not authenticate within `auth_timeout_ms` (4001).
    AuthTimeout,
    /// A connection silent through its heartbeat checks (4004).
    HeartbeatTimeout,
    /// A room not created: the hub is at `max_rooms` (`unavailable`).
    MaxRooms,
    /// A room not created: its creator is at `max_rooms_per_creator` (`unavailable`).
    RoomsPerCreator,
    /// A join or start refused: the connection is in `max_rooms_per_connection` rooms
    /// (`unavailable`).
    RoomsPerConnection,
    /// A comment over `max_comment_chars` (`invalid`).
    CommentLength,
    /// A request frame over `max_frame_bytes` (`too_large`, or close 1009 beyond 4× the limit).
    FrameSize,
    /// An `/api/v1` body over `max_body_bytes` (413).
    BodySize,
}

impl Tripped {
    pub const ALL: [Tripped; 15] = [
        Tripped::HeaderTimeout,
        Tripped::Origin,
        Tripped::ConnectionRate,
        Tripped::ConnectionsPerUser,
        Tripped::MaxConnections,
        Tripped::ApiKeyFailures,
        Tripped::ContentType,
        Tripped::AuthTimeout,
        Tripped::HeartbeatTimeout,
        Tripped::MaxRooms,
        Tripped::RoomsPerCreator,
        Tripped::RoomsPerConnection,
        Tripped::CommentLength,
        Tripped::FrameSize,
        Tripped::BodySize,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Tripped::HeaderTimeout => "header_timeout",
            Tripped::Origin => "origin",
            Tripped::ConnectionRate => "connection_rate",
            Tripped::ConnectionsPerUser => "connections_per_user",
            Tripped::MaxConnections => "max_connections",
            Tripped::ApiKeyFailures => "api_key_failures",
            Tripped::ContentType => "content_type",
            Tripped::AuthTimeout => "auth_timeout",
            Tripped::HeartbeatTimeout => "heartbeat_timeout",
            Tripped::MaxRooms => "max_rooms",
            Tripped::RoomsPerCreator => "rooms_per_creator",
            Tripped::RoomsPerConnection => "rooms_per_connection",
            Tripped::CommentLength => "comment_length",
            Tripped::FrameSize => "frame_size",
            Tripped::BodySize => "body_size",
        }
    }
}

/// Every metric the hub keeps.
pub struct Metrics {
    pub connections: Family<RoleLabel, Gauge>,
    /// Set from the room registry at scrape time.
    pub rooms: Family<StateLabel, Gauge>,
    /// Requests received, by command type, and backend events published, by event type.
    pub events_in: Family<TypeLabel, Counter>,
    /// Frames queued to connections.
    pub deliveries: Counter,
    /// Droppable events a full backlog did not take, or shed from it to make room.
    pub dropped_events: Counter,
    /// Counters (viewer counts…) that replaced an older one still queued.
    pub coalesced_events: Counter,
    pub slow_consumer_closes: Counter,
    /// Joins with `since` that got every missed event, and those answered with a fresh snapshot.
    pub recovered_joins: Counter,
    pub unrecovered_joins: Counter,
    pub errors: Family<CodeLabel, Counter>,
    pub rate_limited: Family<LimitLabel, Counter>,
    pub invalid_frames: Counter,
    /// Limits that refused or closed something, by limit ([`Tripped`]).
    pub limits_tripped: Family<LimitLabel, Counter>,
    /// The hub process, read from `/proc/self` at scrape time ([`Metrics::record_process`]).
    pub resident_memory_bytes: Gauge,
    pub open_fds: Gauge,
    pub max_fds: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric at zero, with each known label value present.
    pub fn new() -> Self {
        let metrics = Metrics {
            connections: Family::default(),
            rooms: Family::default(),
            events_in: Family::default(),
            deliveries: Counter::default(),
            dropped_events: Counter::default(),
            coalesced_events: Counter::default(),
            slow_consumer_closes: Counter::default(),
            recovered_joins: Counter::default(),
            unrecovered_joins: Counter::default(),
            errors: Family::default(),
            rate_limited: Family::default(),
            invalid_frames: Counter::default(),
            limits_tripped: Family::default(),
            resident_memory_bytes: Gauge::default(),
            open_fds: Gauge::default(),
            max_fds: Gauge::default(),
        };
        for role in ROLES {
            let _ = metrics.connections.get_or_create(&RoleLabel { role: role.as_str().into() });
        }
        for kind in EVENT_IN_TYPES {
            let _ = metrics.events_in.get_or_create(&TypeLabel { r#type: (*kind).into() });
        }
        for code in ErrorCode::ALL {
            let _ = metrics.errors.get_or_create(&CodeLabel { code: code.as_str().into() });
        }
        for class in LimitClass::ALL {
            let _ = metrics.rate_limited.get_or_create(&LimitLabel { limit: class.label().into() });
        }
        for limit in Tripped::ALL {
            let _ = metrics.limits_tripped.get_or_create(&LimitLabel { limit: limit.label().into() });
        }
        metrics
    }

    /// `limit` refused or closed something.
    pub fn tripped(&self, limit: Tripped) {
        self.limits_tripped.get_or_create(&LimitLabel { limit: limit.label().into() }).inc();
    }

    pub fn connection_opened(&self, role: &str) {
        self.connections.get_or_create(&RoleLabel { role: role.to_string() }).inc();
    }

    pub fn connection_closed(&self, role: &str) {
        self.connections.get_or_create(&RoleLabel { role: role.to_string() }).dec();
    }

    pub fn event_in(&self, kind: &str) {
        self.events_in.get_or_create(&TypeLabel { r#type: kind.to_string() }).inc();
    }

    pub fn error(&self, code: stagehand_protocol::ErrorCode) {
        self.errors.get_or_create(&CodeLabel { code: code.as_str().to_string() }).inc();
    }

    pub fn limited(&self, class: &str) {
        self.rate_limited.get_or_create(&LimitLabel { limit: class.to_string() }).inc();
    }

    pub fn set_rooms(&self, state: &str, count: usize) {
        self.rooms.get_or_create(&StateLabel { state: state.to_string() }).set(count as i64);
    }

    /// Read the process's resident memory and file descriptors (each connection is one, and the
    /// descriptor limit is what caps connections first) from `/proc/self`. Figures that cannot be
    /// read (not Linux) stay at 0.
    pub fn record_process(&self) {
        if let Some(kib) = proc_field("/proc/self/status", "VmRSS:") {
            self.resident_memory_bytes.set(kib * 1024);
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(fds.count() as i64);
        }
        if let Some(max) = proc_field("/proc/self/limits", "Max open files") {
            self.max_fds.set(max);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut registry = Registry::with_prefix("stagehand");
        registry.register("connections", "Open WebSocket connections by role", self.connections.clone());
        registry.register("rooms", "Rooms in memory by state", self.rooms.clone());
        registry.register("events_in", "Requests and backend events received by type", self.events_in.clone());
        registry.register("deliveries", "Frames queued to connections", self.deliveries.clone());
        registry.register(
            "dropped_events",
            "Droppable events not queued to a full connection",
            self.dropped_events.clone(),
        );
        registry.register(
            "coalesced_events",
            "Counter events that replaced an older one still queued to a connection",
            self.coalesced_events.clone(),
        );
        registry.register(
            "slow_consumer_closes",
            "Connections closed as slow consumers",
            self.slow_consumer_closes.clone(),
        );
        registry.register(
            "recovered_joins",
            "Joins with `since` that received every missed event",
            self.recovered_joins.clone(),
        );
        registry.register(
            "unrecovered_joins",
            "Joins with `since` answered with a fresh snapshot (recovered: false)",
            self.unrecovered_joins.clone(),
        );
        registry.register("errors", "Error replies by code, over WebSocket and HTTP", self.errors.clone());
        registry.register("rate_limited", "Requests refused by a rate limit, by limit", self.rate_limited.clone());
        registry.register(
            "invalid_frames",
            "Frames that could not be decoded or that the WebSocket layer refused",
            self.invalid_frames.clone(),
        );
        registry.register(
            "limits_tripped",
            "Connections and requests refused or closed by a limit, by limit",
            self.limits_tripped.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of the hub process",
            self.resident_memory_bytes.clone(),
        );
        registry.register("process_open_fds", "Open file descriptors of the hub process", self.open_fds.clone());
        registry.register("process_max_fds", "The hub process's file descriptor limit", self.max_fds.clone());
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
            text.clear();
        }
        text
    }
}

/// The first number after `label` on the line of `path` that starts with it (`VmRSS:   1234 kB`).
fn proc_field(path: &str, label: &str) -> Option<i64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(label))?;
    line[label.len()..].split_whitespace().next()?.parse().ok()
}
