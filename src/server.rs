//! Starting and stopping a hub: bind, serve HTTP and WebSocket on one port, run housekeeping,
//! and shut down gracefully — stop accepting, close every connection with "going away, come
//! back", and wait for them within a deadline.

use crate::config::Config;
use crate::housekeeping;
use crate::hub::Hub;
use axum::serve::ListenerExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A hub that is serving.
pub struct RunningHub {
    pub addr: SocketAddr,
    pub hub: Arc<Hub>,
    server: JoinHandle<()>,
}

/// Bind `config.listen` (port 0 picks a free port) and serve.
pub async fn start(config: Config) -> std::io::Result<RunningHub> {
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
    let router = crate::http::router(hub.clone());
    // Events are small and latency matters: no Nagle delay on accepted sockets.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    let shutdown = hub.shutdown.clone();
    let server = tokio::spawn(async move {
        let serve =
            axum::serve(listener, router.into_make_service()).with_graceful_shutdown(shutdown.cancelled_owned());
        if let Err(error) = serve.await {
            tracing::error!(%error, "HTTP server stopped");
        }
    });
    tracing::info!(%addr, "stagehand listening");
    Ok(RunningHub { addr, hub, server })
}

impl RunningHub {
    /// Stop accepting, close every connection with 1001, and wait for them up to the configured
    /// grace period. Returns whether everything closed in time.
    pub async fn shutdown(self) -> bool {
        let hub = self.hub;
        hub.shutdown.cancel();
        hub.close_all();
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
        drained
    }
}
