//! The accept loop: every TCP connection of the one port, served by hyper's HTTP/1 connection
//! with a timer, so a request's headers must be complete within `header_timeout_ms`.
//!
//! `axum::serve` gave hyper no timer, so hyper's header-read timeout never started: a client that
//! connected and sent nothing (or one header byte a second) held a descriptor for as long as it
//! liked. Here each connection is served by [`hyper::server::conn::http1::Builder`] with
//! [`TokioTimer`] (tokio's clock, so paused-time tests drive it) and `header_read_timeout`.
//! hyper starts that timer when it first tries to read a request head — the first poll of the
//! connection's task, right after the accept — and does not reset it when bytes arrive; after
//! a keep-alive response it starts again for the next request, so an idle keep-alive connection
//! is closed after the same time.
//!
//! The connection's IO is exactly [`TokioIo<TcpStream>`] (no wrapper), so after a WebSocket
//! upgrade `hyper::upgrade::Upgraded::downcast::<TokioIo<TcpStream>>()` gives back the raw socket.
//! Each request carries the peer's address as axum's [`ConnectInfo<SocketAddr>`].
//!
//! Shutdown equals `axum::serve(..).with_graceful_shutdown(stop)`: when `stop` is cancelled the
//! loop stops accepting, every connection still speaking HTTP is told to finish its in-flight
//! request and close, and [`run`] returns when they all have. An upgraded connection has left
//! hyper by then (its WebSocket session is tracked by the hub's task tracker instead).

use crate::hub::Hub;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// After a failed accept (most often EMFILE: out of descriptors), wait this long before the next
/// try, doubling up to [`MAX_ACCEPT_BACKOFF`] while failures continue, so a full descriptor table
/// is not a busy loop (mini-redis's accept back-off).
const FIRST_ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Accept connections on `listener` and serve `router` on each until `stop` is cancelled, then
/// wait for the connections still speaking HTTP to finish.
pub async fn run(listener: TcpListener, router: Router, hub: Arc<Hub>, stop: CancellationToken) {
    let connections = TaskTracker::new();
    let mut backoff = FIRST_ACCEPT_BACKOFF;
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => {
                backoff = FIRST_ACCEPT_BACKOFF;
                accepted
            }
            Err(error) => {
                tracing::warn!(%error, "accept failed; backing off");
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                continue;
            }
        };
        tune(&tcp, hub.config.send_buffer_bytes);
        connections.spawn(serve_connection(tcp, peer, router.clone(), hub.clone(), stop.clone()));
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// Events are small and latency matters: no Nagle delay; and the configured send buffer.
fn tune(tcp: &TcpStream, send_buffer: usize) {
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY");
    }
    if send_buffer > 0 {
        if let Err(error) = socket2::SockRef::from(tcp).set_send_buffer_size(send_buffer) {
            tracing::debug!(%error, "could not set SO_SNDBUF");
        }
    }
}

/// Serve one connection's HTTP/1 requests (and its upgrade, if it asks for one).
async fn serve_connection(tcp: TcpStream, peer: SocketAddr, router: Router, hub: Arc<Hub>, stop: CancellationToken) {
    let io: TokioIo<TcpStream> = TokioIo::new(tcp);
    let service = router.map_request(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(Duration::from_millis(hub.config.header_timeout_ms));
    let mut connection = pin!(builder.serve_connection(io, TowerToHyperService::new(service)).with_upgrades());
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        if error.is_timeout() {
            hub.metrics.tripped(crate::metrics::Tripped::HeaderTimeout);
        }
        tracing::trace!(%error, %peer, "HTTP connection ended with an error");
    }
}
