//! Starting and stopping a hub: bind, serve HTTP and WebSocket on one port, run housekeeping,
//! and shut down gracefully, in this order:
//!
//! 1. readiness goes 503 (and so do new upgrades) while the listener keeps answering, so load
//!    balancers move away and clients trying to connect get a 503, not "connection refused";
//! 2. after `shutdown_drain_ms`, every connection is closed with 1001 `going_away`, whose reason
//!    tells the client to reconnect with jittered exponential back-off and rejoin with `since`;
//! 3. the listener stops;
//! 4. the connections get `shutdown_grace_ms` to finish their close handshakes.

use crate::config::Config;
use crate::housekeeping;
use crate::hub::Hub;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A hub that is serving.
pub struct RunningHub {
    pub addr: SocketAddr,
    pub hub: Arc<Hub>,
    server: JoinHandle<()>,
    /// Stops the listener (after the drain).
    stop_listening: CancellationToken,
}

/// Bind `config.listen` (port 0 picks a free port) and serve.
pub async fn start(mut config: Config) -> std::io::Result<RunningHub> {
    crate::conn::admission::clamp_max_connections(&mut config);
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let hub = Hub::new(config).map_err(std::io::Error::other)?;
    tokio::spawn(housekeeping::run(
        hub.rooms.clone(),
        hub.partner.clone(),
        Duration::from_millis(hub.config.viewer_count_interval_ms.max(10)),
        hub.shutdown.clone(),
    ));
    tokio::spawn(hub.clone().heartbeat());
    tokio::spawn(crate::rooms::features::schedule::run(
        hub.partner.store.clone(),
        hub.rooms.clone(),
        crate::commands::schedule_settings(&hub.config),
        hub.shutdown.clone(),
    ));
    tokio::spawn(crate::health::run(hub.services.moderation.clone(), hub.partner.store.clone(), hub.shutdown.clone()));
    tokio::spawn(housekeeping::prune_periodically(hub.partner.clone(), hub.config.clone(), hub.shutdown.clone()));
    let router = crate::http::router(hub.clone());
    let stop_listening = CancellationToken::new();
    let server = tokio::spawn(crate::conn::accept::run(listener, router, hub.clone(), stop_listening.clone()));
    tracing::info!(%addr, "stagehand listening");
    Ok(RunningHub { addr, hub, server, stop_listening })
}

impl RunningHub {
    /// Shut down in the order the module describes. Returns whether every connection closed
    /// within the grace period.
    pub async fn shutdown(self) -> bool {
        let hub = self.hub;
        hub.shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(hub.config.shutdown_drain_ms)).await;
        hub.close_all();
        self.stop_listening.cancel();
        hub.tasks.close();
        let grace = Duration::from_millis(hub.config.shutdown_grace_ms);
        let drained = tokio::time::timeout(grace, async {
            hub.tasks.wait().await;
            let _ = self.server.await;
        })
        .await
        .is_ok();
        if !drained {
            tracing::warn!("connections still open after the shutdown grace period");
        }
        // The last account-health counts, after the connections that could add to them.
        hub.services.moderation.tally.flush(&hub.partner.store).await;
        drained
    }
}
