//! The hub: what every connection and HTTP handler shares.

use crate::auth::TokenKeys;
use crate::commands::Services;
use crate::config::Config;
use crate::delivery::outbox::{ConnId, Outbox};
use crate::metrics::Metrics;
use crate::partner::grants::GrantCache;
use crate::partner::inboxes::{Inboxes, Unread};
use crate::partner::store_handle::Lanes;
use crate::partner::{Partner, StoreHandle};
use crate::rooms::features::moderation::{self, Moderation};
use crate::rooms::Rooms;
use crate::store::{GrantFilter, SqliteStore, Store, StoreError, MAX_PAGE};
use dashmap::DashMap;
use stagehand_protocol::CloseCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub struct Hub {
    pub config: Arc<Config>,
    /// What command handlers use (the same config, rooms, partner access and metrics).
    pub services: Services,
    pub keys: TokenKeys,
    pub rooms: Arc<Rooms>,
    pub metrics: Arc<Metrics>,
    /// Creator Partner Access: the store, live grants, inboxes.
    pub partner: Arc<Partner>,
    /// Cancelled when shutdown begins: readiness and new upgrades answer 503 from then on.
    pub shutdown: CancellationToken,
    /// Every connection task, so shutdown can wait for them to close.
    pub tasks: TaskTracker,
    /// One permit per open WebSocket connection (`max_connections`).
    pub connection_slots: Arc<Semaphore>,
    /// Origin, per-address and per-user checks on new connections.
    pub admission: crate::conn::admission::Admission,
    /// Wrong API keys per address (`/api/v1`).
    pub key_failures: crate::http::gate::KeyFailures,
    /// Every open connection (bounded by `connection_slots`), for heartbeats and shutdown.
    connections: DashMap<ConnId, Outbox>,
    next_connection: AtomicU64,
}

/// The heartbeat check, counted from a connection's last frame, at which it is closed as dead
/// (after two pings it did not answer).
const CLOSE_AT_SILENT_CHECK: u32 = 3;

impl Hub {
    /// Build a hub on the SQLite store in `config.data_dir`, with the live grants loaded.
    pub fn new(config: Config) -> Result<Arc<Self>, StoreError> {
        let store = SqliteStore::open(&config.data_dir)?;
        let live = GrantFilter { live_only: true, ..GrantFilter::default() };
        let grants = GrantCache::load(store.grants(&live, config.clock.now_ms())?);
        let moderation_rules = store.moderation_rules(config.clock.now_ms())?;
        let inboxes = Arc::new(Inboxes::default());
        let push = inboxes.clone();
        let lanes = Lanes { queue: config.store_queue, readers: config.store_readers };
        let store = StoreHandle::start(store, lanes, Arc::new(move |notified| push.deliver_all(notified)))?;
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        let rooms = Rooms::in_memory(config.clone(), metrics.clone());
        let moderation = Arc::new(Moderation::new(
            moderation::Limits::from_config(&config),
            moderation_rules,
            store.clone(),
            inboxes.clone(),
            rooms.clone(),
        ));
        let partner = Arc::new(Partner::new(store, grants, inboxes, rooms.clone(), config.clock));
        let services = Services {
            config: config.clone(),
            rooms: rooms.clone(),
            partner: partner.clone(),
            metrics: metrics.clone(),
            moderation,
        };
        Ok(Arc::new(Hub {
            services,
            keys: TokenKeys::from_config(&config).map_err(StoreError::Invalid)?,
            rooms,
            partner,
            metrics,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            connection_slots: Arc::new(Semaphore::new(config.max_connections)),
            admission: crate::conn::admission::Admission::new(&config),
            key_failures: crate::http::gate::KeyFailures::new(&config),
            connections: DashMap::new(),
            next_connection: AtomicU64::new(1),
            config,
        }))
    }

    pub fn next_connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// Add a connection to the registry. One whose upgrade raced with the start of shutdown is
    /// closed at once (with 1001, like the others).
    pub fn register(&self, outbox: Outbox) {
        self.connections.insert(outbox.id, outbox.clone());
        if self.shutdown.is_cancelled() {
            outbox.close(CloseCode::GOING_AWAY, crate::delivery::outbox::GOING_AWAY_TEXT);
        }
    }

    pub fn unregister(&self, id: ConnId) {
        self.connections.remove(&id);
    }

    /// Close every connection with 1001 "going away": reconnect with back-off (shutdown).
    pub fn close_all(&self) {
        for entry in self.connections.iter() {
            entry.value().close(CloseCode::GOING_AWAY, crate::delivery::outbox::GOING_AWAY_TEXT);
        }
    }

    /// Every heartbeat interval, one sweep for the whole hub (not a timer per connection): each
    /// connection counts one more silent check unless something arrived from it since the last
    /// one; at its [`CLOSE_AT_SILENT_CHECK`]th it is closed with 4004, before that it is pinged.
    /// The schedule follows tokio's clock, so paused-time tests drive it exactly.
    pub async fn heartbeat(self: Arc<Self>) {
        let interval = Duration::from_millis(self.config.heartbeat_ms);
        let ping = crate::delivery::frame::Frame::ping();
        let mut tick = tokio::time::interval_at(Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            for entry in self.connections.iter() {
                let outbox = entry.value();
                // Closing already (this sweep's earlier close, a slow consumer, a kick): it stays
                // registered until its task ends, and must not be counted or closed again.
                if outbox.is_closed() {
                    continue;
                }
                if outbox.silent_check() >= CLOSE_AT_SILENT_CHECK {
                    self.metrics.tripped(crate::metrics::Tripped::HeartbeatTimeout);
                    outbox.close(CloseCode::HEARTBEAT_TIMEOUT, "no frames from the client");
                } else {
                    outbox.reply(&ping);
                }
            }
        }
    }

    /// A session authenticated: open its inbox, then push what it has not read yet, oldest first —
    /// at most a page that fits its queue, followed by `notifications_remaining` when more unread
    /// ones are left — and from then on every new notification, in id order and each once (see
    /// [`Inboxes`]).
    pub fn on_session_start(&self, inbox: &str, outbox: &Outbox) {
        let (inbox, id) = (inbox.to_string(), outbox.id);
        self.partner.inboxes.register(&inbox, outbox.clone());
        let page = catch_up_page(self.config.queue_max_bytes);
        let partner = self.partner.clone();
        // Tracked, so shutdown waits for it like for the connection it serves.
        self.tasks.spawn(async move {
            let key = inbox.clone();
            let read = partner.store.call(move |s| s.notifications(&key, true, None, page + 1)).await;
            let unread = match read {
                Ok(mut items) => {
                    let more = items.len() > page as usize;
                    items.truncate(page as usize);
                    Unread::Page { items, more }
                }
                Err(error) => {
                    tracing::warn!(?error, inbox, "could not read unread notifications at connect");
                    Unread::Unknown
                }
            };
            partner.inboxes.caught_up(&inbox, id, unread);
        });
    }

    /// A session ended (after leaving its rooms).
    pub fn on_session_end(&self, inbox: &str, id: ConnId) {
        self.partner.inboxes.unregister(inbox, id);
    }
}

/// How many unread notifications are pushed at connect: what fills half the connection's backlog
/// bound at [`NOTIFICATION_BUDGET_BYTES`] each (the rest is room for replies and live traffic), at
/// most one store page less one (the hub reads one more to learn whether more remain).
pub fn catch_up_page(queue_max_bytes: usize) -> u32 {
    let half = u32::try_from(queue_max_bytes / 2 / NOTIFICATION_BUDGET_BYTES).unwrap_or(u32::MAX);
    half.clamp(1, MAX_PAGE - 1)
}

/// Bytes budgeted per notification when sizing the catch-up page: well above a typical one.
pub const NOTIFICATION_BUDGET_BYTES: usize = 1024;
