//! The hub: what every connection and HTTP handler shares.

use crate::auth::TokenKeys;
use crate::commands::Services;
use crate::config::Config;
use crate::conn::outbox::{ConnId, Outbox};
use crate::metrics::Metrics;
use crate::partner::grants::GrantCache;
use crate::partner::inboxes::Inboxes;
use crate::partner::{Partner, StoreHandle};
use crate::rooms::Rooms;
use crate::store::{GrantFilter, SqliteStore, Store, StoreError};
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
    /// Cancelled once on shutdown; every connection's token is a child of it.
    pub shutdown: CancellationToken,
    /// Every connection task, so shutdown can wait for them to close.
    pub tasks: TaskTracker,
    /// One permit per open WebSocket connection (`max_connections`).
    pub connection_slots: Arc<Semaphore>,
    /// Every open connection (bounded by `connection_slots`), for heartbeats and shutdown.
    connections: DashMap<ConnId, Outbox>,
    next_connection: AtomicU64,
    /// When the hub started: the origin of [`Hub::uptime_ms`].
    epoch: Instant,
}

/// Silent heartbeat intervals tolerated before a connection counts as dead.
const MISSED_HEARTBEATS: u64 = 3;

impl Hub {
    /// Build a hub on the SQLite store in `config.data_dir`, with the live grants loaded.
    pub fn new(config: Config) -> Result<Arc<Self>, StoreError> {
        let store = SqliteStore::open(&config.data_dir)?;
        let live = GrantFilter { live_only: true, ..GrantFilter::default() };
        let grants = GrantCache::load(store.grants(&live, config.clock.now_ms())?);
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        let rooms = Rooms::in_memory(config.clone(), metrics.clone());
        let partner = Arc::new(Partner::new(StoreHandle::new(Arc::new(store)), grants, rooms.clone(), config.clock));
        let services = Services {
            config: config.clone(),
            rooms: rooms.clone(),
            partner: partner.clone(),
            metrics: metrics.clone(),
        };
        Ok(Arc::new(Hub {
            services,
            keys: TokenKeys::new(&config.jwt_secret, config.jwt_leeway_secs),
            rooms,
            partner,
            metrics,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            connection_slots: Arc::new(Semaphore::new(config.max_connections)),
            connections: DashMap::new(),
            next_connection: AtomicU64::new(1),
            epoch: Instant::now(),
            config,
        }))
    }

    pub fn next_connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// Milliseconds since the hub started (monotonic): the clock of connection liveness.
    pub fn uptime_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Add a connection to the registry. One that arrives after shutdown began is closed at once.
    pub fn register(&self, outbox: Outbox) {
        let shared = outbox.shared().clone();
        self.connections.insert(outbox.id, outbox);
        if self.shutdown.is_cancelled() {
            shared.kill();
        }
    }

    pub fn unregister(&self, id: ConnId) {
        self.connections.remove(&id);
    }

    /// Close every connection with "going away, come back" (shutdown).
    pub fn close_all(&self) {
        for entry in self.connections.iter() {
            entry.value().shared().kill();
        }
    }

    /// Every heartbeat interval: queue a ping to each connection, and close the ones that have
    /// sent nothing (not even a pong) for three intervals. One sweep for the whole hub instead of
    /// a timer per connection.
    pub async fn heartbeat(self: Arc<Self>) {
        let interval = Duration::from_millis(self.config.heartbeat_ms);
        let ping: crate::conn::outbox::Frame = Arc::new(axum::extract::ws::Message::Ping(Default::default()));
        let mut tick = tokio::time::interval_at(Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = self.uptime_ms();
            let limit = self.config.heartbeat_ms.saturating_mul(MISSED_HEARTBEATS);
            for entry in self.connections.iter() {
                let outbox = entry.value();
                let silent = now.saturating_sub(outbox.shared().last_seen_ms.load(Ordering::Relaxed));
                if silent >= limit {
                    outbox.close(CloseCode::HEARTBEAT_TIMEOUT, "no frames from the client");
                } else {
                    // Droppable: a connection whose queue is full is busy enough to be alive.
                    outbox.offer(&ping, true);
                }
            }
        }
    }

    /// A session authenticated: open its inbox and push what it has not read yet, oldest first.
    pub fn on_session_start(&self, inbox: &str, outbox: &Outbox) {
        self.partner.inboxes.register(inbox, outbox.clone());
        let (store, outbox, inbox) = (self.partner.store.clone(), outbox.clone(), inbox.to_string());
        tokio::spawn(async move {
            let unread = store.call(move |s| s.notifications(&inbox, true, None, crate::store::MAX_PAGE)).await;
            match unread {
                Ok(items) => items.into_iter().rev().for_each(|n| Inboxes::deliver_to(&outbox, n)),
                Err(error) => tracing::error!(?error, "could not read unread notifications"),
            }
        });
    }

    /// A session ended (after leaving its rooms).
    pub fn on_session_end(&self, inbox: &str, id: ConnId) {
        self.partner.inboxes.unregister(inbox, id);
    }
}
