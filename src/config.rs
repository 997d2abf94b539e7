//! Configuration: defaults that work out of the box, overridden by a TOML file, then by
//! `STAGEHAND_*` environment variables, then by command-line flags.
//!
//! One struct serves all three sources: clap reads flags and environment variables into it, serde
//! reads the file into it, and [`Config::load`] keeps a flag or variable only where the user really
//! gave one (clap's value source), so a file value is never hidden by a flag's default.

use clap::{ArgMatches, Args, FromArgMatches};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything `stagehand serve` can be told. Durations are milliseconds; rates are per second.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address for WebSocket and HTTP (one port for both).
    #[arg(long, env = "STAGEHAND_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// HS256 secret shared with the platform backend that signs connection tokens.
    #[arg(long, env = "STAGEHAND_JWT_SECRET", default_value = "stagehand-dev-secret", hide_env_values = true)]
    pub jwt_secret: String,
    /// Clock skew tolerated on token expiry, seconds: a token is good until `exp` plus this, at
    /// connect and while connected.
    #[arg(long, env = "STAGEHAND_JWT_LEEWAY_SECS", default_value_t = 30)]
    pub jwt_leeway_secs: u64,
    /// JWT algorithms accepted (comma-separated; pinned: a token naming another is refused).
    /// `HS256` uses `jwt_secret`; RS*/PS*/ES*/EdDSA need `jwt_public_key_file` or `jwks_file`.
    #[arg(long, env = "STAGEHAND_JWT_ALGORITHMS", value_delimiter = ',', default_value = "HS256")]
    pub jwt_algorithms: Vec<String>,
    /// PEM file with the platform's public key (RSA, EC P-256/P-384 or Ed25519) for asymmetric
    /// tokens.
    #[arg(long, env = "STAGEHAND_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,
    /// JWKS file (`{"keys": [...]}`) with the platform's public keys; a token's `kid` picks one.
    #[arg(long, env = "STAGEHAND_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,
    /// API key for the backend HTTP API (`Authorization: Bearer <key>`).
    #[arg(long, env = "STAGEHAND_API_KEY", default_value = "stagehand-dev-api-key", hide_env_values = true)]
    pub api_key: String,
    /// Directory of the durable store.
    #[arg(long, env = "STAGEHAND_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Log format: `human` or `json`.
    #[arg(long, env = "STAGEHAND_LOG_FORMAT", default_value = "human")]
    pub log_format: String,

    /// `SO_SNDBUF` of each accepted socket, bytes (the kernel doubles it); 0 leaves the kernel's
    /// autotuning, which lets a client that stops reading hold up to `net.ipv4.tcp_wmem`'s maximum
    /// before its queue fills and it is closed as slow.
    #[arg(long, env = "STAGEHAND_SEND_BUFFER_BYTES", default_value_t = 0)]
    pub send_buffer_bytes: usize,
    /// How long a close frame may take to reach the client (behind what the socket and the
    /// WebSocket layer already hold; the unsent queue is discarded) before the socket is dropped.
    /// The hub waits as long again for the client's answering close frame.
    #[arg(long, env = "STAGEHAND_CLOSE_TIMEOUT_MS", default_value_t = 5_000)]
    pub close_timeout_ms: u64,
    /// On shutdown, how long the hub keeps serving its connections while readiness and new
    /// upgrades answer 503 (so load balancers move away), before it closes them with 1001 and
    /// stops listening.
    #[arg(long, env = "STAGEHAND_SHUTDOWN_DRAIN_MS", default_value_t = 2_000)]
    pub shutdown_drain_ms: u64,
    /// Time from accept within which a request's headers must be complete (not reset by each
    /// byte); also how long an idle keep-alive HTTP connection stays open. Against slowloris and
    /// connections that never send anything.
    #[arg(long, env = "STAGEHAND_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Time a connection has to authenticate.
    #[arg(long, env = "STAGEHAND_AUTH_TIMEOUT_MS", default_value_t = 5_000)]
    pub auth_timeout_ms: u64,
    /// Heartbeat check interval: a connection is pinged at its first and second checks with
    /// nothing received from it, and closed with 4004 at its third.
    #[arg(long, env = "STAGEHAND_HEARTBEAT_MS", default_value_t = 20_000)]
    pub heartbeat_ms: u64,
    /// Largest request frame answered normally; up to 4× this gets `too_large`, beyond it a close.
    #[arg(long, env = "STAGEHAND_MAX_FRAME_BYTES", default_value_t = 16 * 1024)]
    pub max_frame_bytes: usize,
    /// Undecodable frames in a row before the connection is closed.
    #[arg(long, env = "STAGEHAND_MAX_INVALID_FRAMES", default_value_t = 10)]
    pub max_invalid_frames: u32,
    /// Bytes a connection's backlog may hold (what its socket could not take yet), like
    /// Centrifugo's `client_queue_max_size`. Past it, counters are coalesced and droppable events
    /// shed; a state event that still does not fit closes the connection as a slow consumer (it
    /// rejoins with `since`). A recovering joiner's missed events must fit in it.
    #[arg(long, env = "STAGEHAND_QUEUE_MAX_BYTES", default_value_t = 1024 * 1024)]
    pub queue_max_bytes: usize,
    /// Read buffer per connection, bytes: the most read from a socket at once (tungstenite's
    /// default is 128 KiB). Clients send small requests, and every connection holds this much
    /// while it idles; a bigger frame grows the buffer for as long as it takes to read.
    #[arg(long, env = "STAGEHAND_READ_BUFFER_BYTES", default_value_t = 256)]
    pub read_buffer_bytes: usize,
    /// Most simultaneous WebSocket connections.
    #[arg(long, env = "STAGEHAND_MAX_CONNECTIONS", default_value_t = 200_000)]
    pub max_connections: usize,
    /// Browser origins allowed to open WebSocket connections besides the hub's own origin
    /// (`scheme://host[:port]`, comma-separated; `*` allows any). Connections without `Origin`
    /// (not browsers) are always allowed; any other origin gets 403.
    #[arg(long, env = "STAGEHAND_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Addresses of reverse proxies whose `X-Forwarded-For` is believed (comma-separated IPs).
    /// Behind a proxy, set this, or every client shares the proxy's per-address limits.
    #[arg(long, env = "STAGEHAND_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Most simultaneous connections of one user (by token `sub`).
    #[arg(long, env = "STAGEHAND_MAX_CONNECTIONS_PER_USER", default_value_t = 32)]
    pub max_connections_per_user: usize,
    /// New WebSocket connections per second per client address, and the burst allowed.
    #[arg(long, env = "STAGEHAND_CONNECTION_RATE", default_value_t = 20.0)]
    pub connection_rate: f64,
    #[arg(long, env = "STAGEHAND_CONNECTION_BURST", default_value_t = 200)]
    pub connection_burst: u32,
    /// Largest `/api/v1` request body, bytes (413 `too_large` beyond).
    #[arg(long, env = "STAGEHAND_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
    /// Wrong API keys per second per client address, and the burst allowed; beyond it every
    /// `/api/v1` request from that address gets 429 until the budget refills.
    #[arg(long, env = "STAGEHAND_API_KEY_FAILURE_RATE", default_value_t = 0.1)]
    pub api_key_failure_rate: f64,
    #[arg(long, env = "STAGEHAND_API_KEY_FAILURE_BURST", default_value_t = 10)]
    pub api_key_failure_burst: u32,
    /// Most client addresses the per-address limits track at once (idle ones are forgotten first).
    #[arg(long, env = "STAGEHAND_MAX_TRACKED_ADDRESSES", default_value_t = 100_000)]
    pub max_tracked_addresses: usize,
    /// Most rooms kept in memory.
    #[arg(long, env = "STAGEHAND_MAX_ROOMS", default_value_t = 10_000)]
    pub max_rooms: usize,
    /// Most rooms one connection may join at once.
    #[arg(long, env = "STAGEHAND_MAX_ROOMS_PER_CONNECTION", default_value_t = 8)]
    pub max_rooms_per_connection: usize,
    /// How long an ended room stays for late joiners before it is forgotten.
    #[arg(long, env = "STAGEHAND_ENDED_ROOM_TTL_MS", default_value_t = 60_000)]
    pub ended_room_ttl_ms: u64,
    /// How often changed viewer counts are broadcast.
    #[arg(long, env = "STAGEHAND_VIEWER_COUNT_INTERVAL_MS", default_value_t = 1_000)]
    pub viewer_count_interval_ms: u64,
    /// Most rooms one creator may have scheduled or live at once.
    #[arg(long, env = "STAGEHAND_MAX_ROOMS_PER_CREATOR", default_value_t = 20)]
    pub max_rooms_per_creator: usize,
    /// A scheduled room is reclaimed this long after its planned start (or, without one, after
    /// it was created) if it has not gone live.
    #[arg(long, env = "STAGEHAND_SCHEDULED_ROOM_GRACE_MS", default_value_t = 3_600_000)]
    pub scheduled_room_grace_ms: u64,
    /// A live room is reclaimed (ended) when none of its creator's connections has been in it
    /// for this long.
    #[arg(long, env = "STAGEHAND_CREATOR_GONE_GRACE_MS", default_value_t = 600_000)]
    pub creator_gone_grace_ms: u64,
    /// Events each room keeps for recovery after a reconnect (per stream: room and staff-only).
    #[arg(long, env = "STAGEHAND_HISTORY_SIZE", default_value_t = 1_000)]
    pub history_size: usize,
    /// Oldest event a room keeps for recovery.
    #[arg(long, env = "STAGEHAND_HISTORY_TTL_MS", default_value_t = 300_000)]
    pub history_ttl_ms: u64,
    /// Time connections get to close on shutdown.
    #[arg(long, env = "STAGEHAND_SHUTDOWN_GRACE_MS", default_value_t = 5_000)]
    pub shutdown_grace_ms: u64,

    /// Longest comment, in characters (`invalid` beyond).
    #[arg(long, env = "STAGEHAND_MAX_COMMENT_CHARS", default_value_t = 500)]
    pub max_comment_chars: usize,
    /// Longest room, LIVE event and campaign title, in characters (`invalid` beyond).
    #[arg(long, env = "STAGEHAND_MAX_TITLE_CHARS", default_value_t = 256)]
    pub max_title_chars: usize,
    /// Longest billboard field (id, title, text, image and link URLs), in characters (`invalid`
    /// beyond).
    #[arg(long, env = "STAGEHAND_MAX_BILLBOARD_FIELD_CHARS", default_value_t = 1_024)]
    pub max_billboard_field_chars: usize,
    /// Comments per second per user (all of the user's connections together), and the burst
    /// allowed.
    #[arg(long, env = "STAGEHAND_COMMENT_RATE", default_value_t = 2.0)]
    pub comment_rate: f64,
    #[arg(long, env = "STAGEHAND_COMMENT_BURST", default_value_t = 5)]
    pub comment_burst: u32,
    /// Comments per second per room, and the burst allowed.
    #[arg(long, env = "STAGEHAND_ROOM_COMMENT_RATE", default_value_t = 1_000.0)]
    pub room_comment_rate: f64,
    #[arg(long, env = "STAGEHAND_ROOM_COMMENT_BURST", default_value_t = 2_000)]
    pub room_comment_burst: u32,
    /// Joins and leaves per second per user, and the burst allowed.
    #[arg(long, env = "STAGEHAND_JOIN_RATE", default_value_t = 5.0)]
    pub join_rate: f64,
    #[arg(long, env = "STAGEHAND_JOIN_BURST", default_value_t = 20)]
    pub join_burst: u32,
    /// Moderation and operation commands per second per user, and the burst allowed.
    #[arg(long, env = "STAGEHAND_OPS_RATE", default_value_t = 5.0)]
    pub ops_rate: f64,
    #[arg(long, env = "STAGEHAND_OPS_BURST", default_value_t = 20)]
    pub ops_burst: u32,
    /// Moderation and operation commands per second per room, and the burst allowed.
    #[arg(long, env = "STAGEHAND_ROOM_OPS_RATE", default_value_t = 20.0)]
    pub room_ops_rate: f64,
    #[arg(long, env = "STAGEHAND_ROOM_OPS_BURST", default_value_t = 50)]
    pub room_ops_burst: u32,
    /// Moderation commands per second per staff member (the creator, or one agency staff member),
    /// shared by all of that person's connections, and the burst allowed.
    #[arg(long, env = "STAGEHAND_STAFF_MODERATION_RATE", default_value_t = 5.0)]
    pub staff_moderation_rate: f64,
    #[arg(long, env = "STAGEHAND_STAFF_MODERATION_BURST", default_value_t = 20)]
    pub staff_moderation_burst: u32,

    // ---- commerce: product sets, the shopping bag, billboards, flash sales -----------------
    /// Product sets one creator may keep.
    #[arg(long, env = "STAGEHAND_MAX_PRODUCT_SETS", default_value_t = 50)]
    pub max_product_sets: u32,
    /// Products in one product set.
    #[arg(long, env = "STAGEHAND_MAX_PRODUCTS_PER_SET", default_value_t = 100)]
    pub max_products_per_set: usize,
    /// Products in one room's shopping bag.
    #[arg(long, env = "STAGEHAND_MAX_BAG_ITEMS", default_value_t = 100)]
    pub max_bag_items: usize,
    /// Longest display duration of a billboard (the shortest is one second).
    #[arg(long, env = "STAGEHAND_MAX_BILLBOARD_DURATION_MS", default_value_t = 86_400_000)]
    pub max_billboard_duration_ms: u64,
    /// Shortest and longest countdown before a flash sale opens.
    #[arg(long, env = "STAGEHAND_FLASH_SALE_MIN_COUNTDOWN_MS", default_value_t = 10_000)]
    pub flash_sale_min_countdown_ms: u64,
    #[arg(long, env = "STAGEHAND_FLASH_SALE_MAX_COUNTDOWN_MS", default_value_t = 300_000)]
    pub flash_sale_max_countdown_ms: u64,
    /// Shortest and longest time a flash sale stays open.
    #[arg(long, env = "STAGEHAND_FLASH_SALE_MIN_DURATION_MS", default_value_t = 60_000)]
    pub flash_sale_min_duration_ms: u64,
    #[arg(long, env = "STAGEHAND_FLASH_SALE_MAX_DURATION_MS", default_value_t = 1_200_000)]
    pub flash_sale_max_duration_ms: u64,
    /// Most units one flash sale may offer (granted claims are stored, one row each at most).
    #[arg(long, env = "STAGEHAND_FLASH_SALE_MAX_QUANTITY", default_value_t = 100_000)]
    pub flash_sale_max_quantity: u32,
    /// Flash sales and their claims are pruned this many days after the sale ended.
    #[arg(long, env = "STAGEHAND_FLASH_SALE_RETENTION_DAYS", default_value_t = 30)]
    pub flash_sale_retention_days: u64,
    // ---- engagement: giveaways, the activity feed, the live dashboard ----
    /// Most entrants one giveaway counts; later entries are ignored.
    #[arg(long, env = "STAGEHAND_MAX_GIVEAWAY_ENTRANTS", default_value_t = 10_000)]
    pub max_giveaway_entrants: u32,
    /// A backend event published again with the same `event_id` within this window is
    /// acknowledged and not counted or delivered twice.
    #[arg(long, env = "STAGEHAND_FEED_DEDUPE_WINDOW_MS", default_value_t = 600_000)]
    pub feed_dedupe_window_ms: u64,
    /// Most `event_id`s a room remembers for that (the oldest are forgotten first).
    #[arg(long, env = "STAGEHAND_FEED_DEDUPE_MAX", default_value_t = 10_000)]
    pub feed_dedupe_max: usize,
    /// Full activity-feed entries a room keeps for `activity_feed`.
    #[arg(long, env = "STAGEHAND_FEED_HISTORY", default_value_t = 500)]
    pub feed_history: usize,
    /// Per-minute dashboard points a room keeps (and its summary holds); the oldest go first.
    #[arg(long, env = "STAGEHAND_DASHBOARD_MAX_MINUTES", default_value_t = 1_440)]
    pub dashboard_max_minutes: usize,
    /// Most distinct viewers, buyers and products a room's dashboard tells apart; past it, new
    /// ones are still counted as events but no longer as distinct.
    #[arg(long, env = "STAGEHAND_DASHBOARD_MAX_TRACKED", default_value_t = 100_000)]
    pub dashboard_max_tracked: usize,
    /// Blocked terms in one creator's keyword filter.
    #[arg(long, env = "STAGEHAND_MAX_BLOCKED_TERMS", default_value_t = 500)]
    pub max_blocked_terms: usize,
    /// Accounts one creator may have muted, blocked or hidden at once (each sanction counts).
    #[arg(long, env = "STAGEHAND_MAX_SANCTIONS", default_value_t = 10_000)]
    pub max_sanctions: usize,
    /// Commenters per room whose recent comments the spam checks remember (slow mode, repeats,
    /// floods); past it the least recently active are forgotten.
    #[arg(long, env = "STAGEHAND_MODERATION_TRACKED_USERS", default_value_t = 10_000)]
    pub moderation_tracked_users: usize,
    /// Spam check: more than this many comments from one account within `flood_window_ms` are
    /// held for review.
    #[arg(long, env = "STAGEHAND_FLOOD_COMMENTS", default_value_t = 15)]
    pub flood_comments: usize,
    #[arg(long, env = "STAGEHAND_FLOOD_WINDOW_MS", default_value_t = 10_000)]
    pub flood_window_ms: u64,
    /// Spam check: a comment with the same text as one the account sent within this time is held
    /// for review.
    #[arg(long, env = "STAGEHAND_REPEAT_WINDOW_MS", default_value_t = 30_000)]
    pub repeat_window_ms: u64,

    /// How long before a planned LIVE event's start the creator gets a `live_reminder`.
    #[arg(long, env = "STAGEHAND_LIVE_REMINDER_MS", default_value_t = 900_000)]
    pub live_reminder_ms: u64,
    /// Scheduled LIVE events one creator may have at once.
    #[arg(long, env = "STAGEHAND_MAX_LIVE_EVENTS", default_value_t = 100)]
    pub max_live_events: u64,

    /// Account health warns about an agency grant that ends within this window (`grant_expiring`).
    #[arg(long, env = "STAGEHAND_GRANT_EXPIRY_WARNING_MS", default_value_t = 259_200_000)]
    pub grant_expiry_warning_ms: u64,

    /// The clock every timestamp, expiry and timeout reads (the wall clock; tests inject
    /// [`crate::clock::Clock::tokio`]). Not a setting.
    #[arg(skip)]
    #[serde(skip)]
    pub clock: crate::clock::Clock,

    /// Store jobs (writes, and separately reads) that may wait for the store's threads; beyond it a
    /// request gets `unavailable` at once.
    #[arg(long, env = "STAGEHAND_STORE_QUEUE", default_value_t = 1_024)]
    pub store_queue: usize,
    /// Read-only store connections, one thread each, beside the one writer thread.
    #[arg(long, env = "STAGEHAND_STORE_READERS", default_value_t = 2)]
    pub store_readers: usize,
    /// Audit records older than this many days are pruned.
    #[arg(long, env = "STAGEHAND_AUDIT_RETENTION_DAYS", default_value_t = 90)]
    pub audit_retention_days: u64,
    /// Each creator keeps at most this many audit records (the newest).
    #[arg(long, env = "STAGEHAND_AUDIT_MAX_PER_CREATOR", default_value_t = 100_000)]
    pub audit_max_per_creator: u64,
    /// Read notifications older than this many days are pruned (unread ones are kept).
    #[arg(long, env = "STAGEHAND_NOTIFICATION_RETENTION_DAYS", default_value_t = 30)]
    pub notification_retention_days: u64,
    /// Each inbox keeps at most this many read notifications (the newest).
    #[arg(long, env = "STAGEHAND_READ_NOTIFICATIONS_PER_INBOX", default_value_t = 1_000)]
    pub read_notifications_per_inbox: u64,
    /// How often the store prunes by the retention settings above (and once at start).
    #[arg(long, env = "STAGEHAND_STORE_PRUNE_INTERVAL_MS", default_value_t = 600_000)]
    pub store_prune_interval_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config::from_arg_matches(&defaults_command().get_matches_from(["stagehand"]))
            .unwrap_or_else(|e| unreachable!("the defaults parse: {e}"))
    }
}

fn defaults_command() -> clap::Command {
    // Environment variables must not leak into `Default`, so the env attributes are dropped here.
    let cmd = Config::augment_args(clap::Command::new("stagehand"));
    let args: Vec<clap::Arg> = cmd.get_arguments().map(|a| a.clone().env(None::<&str>)).collect();
    clap::Command::new("stagehand").args(args)
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("parsing {path}: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Merge `file` (if any) under the flags and environment variables the user really set.
    pub fn load(file: Option<&Path>, matches: &ArgMatches) -> Result<Config, ConfigError> {
        let from_cli = Config::from_arg_matches(matches).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let Some(path) = file else {
            from_cli.validate()?;
            return Ok(from_cli);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let mut merged: toml::Table =
            toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.into(), source })?;
        let cli_values = toml::Table::try_from(&from_cli).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        for (key, value) in cli_values {
            let given = matches!(
                matches.value_source(&key),
                Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
            );
            if given || !merged.contains_key(&key) {
                merged.insert(key, value);
            }
        }
        let config: Config = merged.try_into().map_err(|source| ConfigError::Parse { path: path.into(), source })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("comment_rate", self.comment_rate),
            ("room_comment_rate", self.room_comment_rate),
            ("ops_rate", self.ops_rate),
            ("room_ops_rate", self.room_ops_rate),
            ("staff_moderation_rate", self.staff_moderation_rate),
            ("join_rate", self.join_rate),
            ("connection_rate", self.connection_rate),
            ("api_key_failure_rate", self.api_key_failure_rate),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| !(v.is_finite() && *v > 0.0)) {
            return Err(ConfigError::Invalid(format!("{name} must be a positive number")));
        }
        if self.feed_dedupe_max == 0 || self.feed_history == 0 || self.dashboard_max_minutes == 0 {
            return Err(ConfigError::Invalid(
                "feed_dedupe_max, feed_history and dashboard_max_minutes must be non-zero".into(),
            ));
        }
        if self.max_comment_chars == 0 || self.max_title_chars == 0 || self.max_billboard_field_chars == 0 {
            return Err(ConfigError::Invalid(
                "max_comment_chars, max_title_chars and max_billboard_field_chars must be non-zero".into(),
            ));
        }
        if self.queue_max_bytes == 0
            || self.max_frame_bytes == 0
            || self.heartbeat_ms == 0
            || self.header_timeout_ms == 0
        {
            return Err(ConfigError::Invalid(
                "queue, frame size, heartbeat and header timeout must be non-zero".into(),
            ));
        }
        let store = [
            self.store_queue as u64,
            self.store_readers as u64,
            self.audit_max_per_creator,
            self.read_notifications_per_inbox,
            self.store_prune_interval_ms,
        ];
        if store.contains(&0) {
            return Err(ConfigError::Invalid(
                "store_queue, store_readers, retention counts and store_prune_interval_ms must be non-zero".into(),
            ));
        }
        crate::auth::TokenKeys::from_config(self).map_err(ConfigError::Invalid)?;
        if !matches!(self.log_format.as_str(), "human" | "json") {
            return Err(ConfigError::Invalid("log_format is `human` or `json`".into()));
        }
        Ok(())
    }
}

impl Config {
    /// What the store keeps, from the retention settings.
    pub fn retention(&self) -> crate::store::Retention {
        const DAY_MS: u64 = 24 * 3600 * 1000;
        crate::store::Retention {
            audit_max_age_ms: self.audit_retention_days.saturating_mul(DAY_MS),
            audit_max_per_creator: self.audit_max_per_creator,
            notification_max_age_ms: self.notification_retention_days.saturating_mul(DAY_MS),
            read_notifications_per_inbox: self.read_notifications_per_inbox,
            flash_sale_max_age_ms: self.flash_sale_retention_days.saturating_mul(DAY_MS),
        }
    }
}
