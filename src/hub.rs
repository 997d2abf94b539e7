//! The hub: what every connection and HTTP handler shares.

use crate::auth::TokenKeys;
use crate::config::Config;
use crate::conn::session::Session;
use crate::metrics::Metrics;
use crate::rooms::Rooms;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub struct Hub {
    pub config: Arc<Config>,
    pub keys: TokenKeys,
    pub rooms: Arc<Rooms>,
    pub metrics: Arc<Metrics>,
    /// Cancelled once on shutdown; every connection's token is a child of it.
    pub shutdown: CancellationToken,
    /// Every connection task, so shutdown can wait for them to close.
    pub tasks: TaskTracker,
    /// One permit per open WebSocket connection (`max_connections`).
    pub connection_slots: Arc<Semaphore>,
    next_connection: AtomicU64,
}

impl Hub {
    pub fn new(config: Config) -> Arc<Self> {
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        Arc::new(Hub {
            keys: TokenKeys::new(&config.jwt_secret, config.jwt_leeway_secs),
            rooms: Arc::new(Rooms::new(config.clone(), metrics.clone())),
            metrics,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            connection_slots: Arc::new(Semaphore::new(config.max_connections)),
            next_connection: AtomicU64::new(1),
            config,
        })
    }

    pub fn next_connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// A session authenticated.
    pub fn on_session_start(&self, _session: &Session) {}

    /// A session ended (after leaving its rooms).
    pub fn on_session_end(&self, _session: &Session) {}
}
