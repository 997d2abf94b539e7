//! Abuse from outside, as an attacker would try it, each with a bystander viewer in a live room
//! that must keep receiving every event while it runs ([`Bystander`]): slowloris and silent
//! connections before the upgrade (on paused time: the hub's timers decide, not the machine).

mod common;

use common::*;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Longer than any limit under test: a connection still open this long after its accept was
/// never closed by the hub.
const NEVER: Duration = Duration::from_secs(60);

/// Read until the hub closes `tcp` (end of stream or reset); returns when, or `None` if it was
/// still open at `NEVER` after `opened`.
async fn closed_at(tcp: &mut TcpStream, opened: Instant) -> Option<Instant> {
    let mut buf = [0u8; 1024];
    let wait = async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout_at(opened + NEVER, wait).await.ok()
}

/// A WebSocket upgrade request, sent one byte a second by a slowloris client.
const UPGRADE: &[u8] = b"GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// Connect, then send [`UPGRADE`] one byte a second until the hub closes the connection.
/// Returns how long after the accept it was closed (or `None`) and how many bytes went out.
async fn slowloris(addr: SocketAddr) -> (Option<Duration>, usize) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let opened = Instant::now();
    let (mut read, mut write) = tcp.into_split();
    let mut sent = 0;
    let writer = async {
        for byte in UPGRADE {
            if write.write_all(&[*byte]).await.is_err() {
                break;
            }
            sent += 1;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        std::future::pending::<()>().await
    };
    let reader = async {
        let mut buf = [0u8; 1024];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(_) => continue,
            }
        }
    };
    let closed = tokio::time::timeout_at(opened + NEVER, async {
        tokio::select! {
            at = reader => at,
            _ = writer => unreachable!(),
        }
    })
    .await
    .ok();
    (closed.map(|at| at - opened), sent)
}

fn tripped(metrics: &str, limit: &str) -> u64 {
    let prefix = format!("stagehand_limits_tripped_total{{limit=\"{limit}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.parse().ok()).unwrap_or(u64::MAX)
}

#[test]
fn the_default_header_timeout_is_at_most_ten_seconds() {
    assert!(stagehand::Config::default().header_timeout_ms <= 10_000);
}

/// 200 connections that never send a byte and 50 that send their headers one byte a second are
/// all closed `header_timeout_ms` after their accept — the bytes do not extend it — while the
/// bystander receives every event. (With `axum::serve` hyper had no timer: all stayed open.)
#[tokio::test(start_paused = true)]
async fn silent_and_slowloris_connections_are_closed_at_the_header_timeout_from_accept() {
    let timeout = Duration::from_millis(10_000);
    let hub = start_with(|c| c.header_timeout_ms = timeout.as_millis() as u64).await;
    let addr = hub.running.as_ref().unwrap().addr;
    let mut bystander = Bystander::join(&hub).await;

    let mut silent = Vec::new();
    for _ in 0..200 {
        let tcp = TcpStream::connect(addr).await.unwrap();
        silent.push((tcp, Instant::now()));
    }
    let slow: Vec<_> = (0..50).map(|_| tokio::spawn(slowloris(addr))).collect();
    bystander.sees_every_event(&hub, 5).await;

    for (mut tcp, opened) in silent {
        let at = closed_at(&mut tcp, opened).await.expect("a silent connection is closed");
        let after = at - opened;
        assert!(after >= timeout && after < timeout + Duration::from_millis(50), "closed {after:?} after accept");
    }
    for task in slow {
        let (after, sent) = task.await.unwrap();
        let after = after.expect("a slowloris connection is closed");
        assert!(after >= timeout && after < timeout + Duration::from_millis(50), "closed {after:?} after accept");
        assert!((10..=11).contains(&sent), "{sent} bytes sent before the close");
    }
    bystander.sees_every_event(&hub, 5).await;
    // (Plus the bystander's idle keep-alive HTTP connection, closed by the same timeout.)
    assert!(tripped(&hub.metrics().await, "header_timeout") >= 250);
}

/// A client that completes its request in time is served as before: a request's headers within
/// the timeout, then an idle keep-alive connection is closed after the same time.
#[tokio::test(start_paused = true)]
async fn a_request_in_time_is_served_and_an_idle_keep_alive_connection_is_closed_later() {
    let timeout = Duration::from_millis(10_000);
    let hub = start_with(|c| c.header_timeout_ms = timeout.as_millis() as u64).await;
    let addr = hub.running.as_ref().unwrap().addr;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let opened = Instant::now();
    tokio::time::sleep(timeout - Duration::from_millis(100)).await;
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf[..n]));
    let answered = Instant::now();
    let at = closed_at(&mut tcp, opened).await.expect("the idle connection is closed");
    let idle = at - answered;
    assert!(idle >= timeout && idle < timeout + Duration::from_millis(50), "closed after {idle:?} idle");
}
