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

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Open a WebSocket with extra request headers: the socket, or the HTTP status and
/// `Retry-After` of the refusal.
async fn upgrade(hub: &TestHub, headers: &[(&str, String)]) -> Result<Ws, (u16, Option<String>)> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Error;
    let mut request = hub.ws_url.as_str().into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, response)) => {
            assert_eq!(response.status().as_u16(), 101);
            Ok(ws)
        }
        Err(Error::Http(response)) => {
            let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
            Err((response.status().as_u16(), retry))
        }
        Err(other) => panic!("upgrade failed: {other}"),
    }
}

fn origin(value: &str) -> (&'static str, String) {
    ("origin", value.to_string())
}

/// Cross-site WebSocket hijacking: a page on another site (or a sandboxed one, `null`, or a
/// look-alike host) is refused at the upgrade with 403; no `Origin` (not a browser), the hub's
/// own origin and a listed one are served.
#[tokio::test]
async fn upgrades_from_other_origins_are_refused_with_403() {
    let hub = start_with(|c| c.allowed_origins = vec!["https://shop.example.com".into()]).await;
    let mut bystander = Bystander::join(&hub).await;
    let own = format!("http://{}", hub.running.as_ref().unwrap().addr);
    for bad in [
        "https://evil.example.net",
        "null",
        "https://shop.example.com.evil.net",
        "https://xshop.example.com",
        "http://shop.example.com",
        "https://shop.example.com:444",
    ] {
        assert_eq!(upgrade(&hub, &[origin(bad)]).await.err(), Some((403, None)), "{bad}");
        bystander.sees_every_event(&hub, 1).await;
    }
    for good in [own.as_str(), "https://shop.example.com", "HTTPS://Shop.Example.com:443"] {
        assert!(upgrade(&hub, &[origin(good)]).await.is_ok(), "{good} was refused");
    }
    assert!(upgrade(&hub, &[]).await.is_ok(), "no Origin was refused");
    assert_eq!(tripped(&hub.metrics().await, "origin"), 6);
    bystander.sees_every_event(&hub, 3).await;
}

/// One user's token cannot hold more than `max_connections_per_user` connections: with the
/// token in the header the next upgrade gets 429 with `Retry-After`; with a `connect` frame the
/// connection is closed with 4014. Closing one makes room again.
#[tokio::test]
async fn one_user_cannot_open_more_than_its_connection_cap() {
    use stagehand::client::{Auth, Client};
    use stagehand_protocol::types::Role;
    use stagehand_protocol::{CloseCode, Wire};
    let hub = start_with(|c| c.max_connections_per_user = 3).await;
    let mut bystander = Bystander::join(&hub).await;
    let token = hub.token("hog", Role::Viewer);
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(hub.client(Wire::Json, token.clone()).await);
    }
    for _ in 0..20 {
        let refused = upgrade(&hub, &[("authorization", format!("Bearer {token}"))]).await.err();
        assert_eq!(refused, Some((429, Some("1".into()))));
    }
    bystander.sees_every_event(&hub, 3).await;
    for wire in Wire::BOTH {
        let mut by_frame = Client::connect(&hub.ws_url, wire, Auth::None).await.unwrap();
        by_frame.send(stagehand_protocol::Command::Connect { token: token.clone() }).await.unwrap();
        let (code, reason) = by_frame.closed().await.unwrap();
        assert_eq!(code, CloseCode::TOO_MANY_CONNECTIONS.0, "{reason}");
        assert!(reason.starts_with("too_many_connections"), "{reason}");
    }
    // Another user is not affected.
    hub.viewer(Wire::Json, "someone-else").await;
    // Closing one of the three makes room (once the hub has seen the close).
    open.pop().unwrap().close().await;
    let mut attempts = 0;
    while upgrade(&hub, &[("authorization", format!("Bearer {token}"))]).await.is_err() {
        attempts += 1;
        assert!(attempts < 1_000, "the closed connection's slot was never freed");
        tokio::task::yield_now().await;
    }
    assert!(tripped(&hub.metrics().await, "connections_per_user") >= 22);
    bystander.sees_every_event(&hub, 3).await;
}

/// One address opening connections in a loop gets 429 with `Retry-After` after its burst,
/// whatever `X-Forwarded-For` it writes when the hub has no trusted proxy; behind a trusted proxy
/// each forwarded client address has its own budget.
#[tokio::test]
async fn one_address_cannot_open_connections_faster_than_its_rate() {
    let burst = 5;
    let hub = start_with(|c| {
        c.connection_rate = 0.001; // one a thousand seconds: only the burst counts here
        c.connection_burst = burst;
    })
    .await;
    // The bystander's two connections take two of 127.0.0.1's five.
    let mut bystander = Bystander::join(&hub).await;
    let mut open = Vec::new();
    for i in 0..burst - 2 {
        open.push(upgrade(&hub, &[("x-forwarded-for", format!("203.0.113.{i}"))]).await.expect("within the burst"));
    }
    for i in 0..50 {
        let (status, retry) = upgrade(&hub, &[("x-forwarded-for", format!("198.51.100.{i}"))]).await.err().unwrap();
        assert_eq!(status, 429);
        assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    }
    bystander.sees_every_event(&hub, 3).await;
    assert_eq!(tripped(&hub.metrics().await, "connection_rate"), 50);

    let hub = start_with(|c| {
        c.connection_rate = 0.001;
        c.connection_burst = burst;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let mut bystander = Bystander::join(&hub).await;
    let attacker = || ("x-forwarded-for", "192.0.2.1, 203.0.113.66".to_string());
    for _ in 0..burst {
        open.push(upgrade(&hub, &[attacker()]).await.expect("within the burst"));
    }
    assert_eq!(upgrade(&hub, &[attacker()]).await.err().map(|e| e.0), Some(429));
    // A different client behind the same proxy is not affected, nor is the bystander.
    assert!(upgrade(&hub, &[("x-forwarded-for", "203.0.113.67".into())]).await.is_ok());
    bystander.sees_every_event(&hub, 3).await;
}

/// Each connection is a descriptor: a `max_connections` above the descriptor limit is lowered
/// to what fits at start.
#[tokio::test]
async fn max_connections_is_clamped_to_the_descriptor_limit() {
    let limit = stagehand::conn::admission::descriptor_limit().expect("Linux: /proc/self/limits");
    let hub = start_with(|c| c.max_connections = 1_000_000_000).await;
    let max = hub.running.as_ref().unwrap().hub.config.max_connections as u64;
    assert!(max < limit, "max_connections {max} with a descriptor limit of {limit}");
    assert_eq!(hub.running.as_ref().unwrap().hub.connection_slots.available_permits() as u64, max);
}

/// Credential stuffing on the API key: after `api_key_failure_burst` wrong keys an address gets
/// 429 with `Retry-After` for every request — the right key too, so a guess that hits is not
/// told apart — while other addresses (the bystander's backend) are served.
#[tokio::test]
async fn wrong_api_keys_from_one_address_are_limited_with_429_and_retry_after() {
    let hub = start_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        c.api_key_failure_burst = 10;
        c.api_key_failure_rate = 0.001;
    })
    .await;
    let mut bystander = Bystander::join(&hub).await;
    let url = format!("{}/api/v1/rooms/{}/events", hub.http_url, Bystander::ROOM);
    let attempt = |key: String| {
        hub.http.post(&url).bearer_auth(key).header("x-forwarded-for", "203.0.113.5").json(&order("stuffed")).send()
    };
    let mut unauthorized = 0;
    for i in 0..300 {
        let response = attempt(format!("guess-{i}")).await.unwrap();
        match response.status().as_u16() {
            401 => unauthorized += 1,
            429 => {
                let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                assert!(retry >= 1);
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "rate_limited", "{body}");
            }
            other => panic!("status {other}"),
        }
        if i % 50 == 0 {
            bystander.sees_every_event(&hub, 1).await;
        }
    }
    assert_eq!(unauthorized, 10);
    // The right key from the limited address is refused the same way (and nothing is published).
    assert_eq!(attempt(API_KEY.into()).await.unwrap().status().as_u16(), 429);
    // Another address behind the same proxy, and the bystander's backend, are served.
    let other = hub
        .http
        .get(format!("{}/api/v1/rooms/{}", hub.http_url, Bystander::ROOM))
        .bearer_auth(API_KEY)
        .header("x-forwarded-for", "203.0.113.6")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 200);
    bystander.sees_every_event(&hub, 3).await;
    assert_eq!(tripped(&hub.metrics().await, "api_key_failures"), 291);
}

/// Bodies that are not JSON — plain text, forms, multipart, no Content-Type — are refused with
/// 415 on every JSON endpoint and change nothing; an empty body needs no type.
#[tokio::test]
async fn non_json_bodies_get_415_on_every_json_endpoint() {
    let hub = start().await;
    let mut bystander = Bystander::join(&hub).await;
    let endpoints: Vec<(reqwest::Method, String, serde_json::Value)> = vec![
        (
            reqwest::Method::PUT,
            "/api/v1/rooms/r415".into(),
            serde_json::json!({"creator_id": "c", "creator_name": "C", "title": "T"}),
        ),
        (reqwest::Method::POST, format!("/api/v1/rooms/{}/events", Bystander::ROOM), order("o415")),
        (
            reqwest::Method::POST,
            "/api/v1/access-requests".into(),
            serde_json::json!({"creator_id": "c", "agency_id": "a", "agency_name": "A", "requested_by": "b"}),
        ),
        (reqwest::Method::POST, "/api/v1/access-requests/req_1/accept".into(), serde_json::json!({"creator_id": "c"})),
        (reqwest::Method::POST, "/api/v1/access-requests/req_1/decline".into(), serde_json::json!({"creator_id": "c"})),
        (reqwest::Method::POST, "/api/v1/creators/c/agencies/a/suspend".into(), serde_json::json!({"reason": "x"})),
        (
            reqwest::Method::POST,
            "/api/v1/notifications/ack".into(),
            serde_json::json!({"recipient": "user:c", "notification_ids": [1]}),
        ),
    ];
    let types =
        [Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("multipart/form-data; boundary=x"), None];
    for (method, path, body) in &endpoints {
        for content_type in types {
            let mut request = hub
                .http
                .request(method.clone(), format!("{}{path}", hub.http_url))
                .bearer_auth(API_KEY)
                .body(body.to_string());
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status().as_u16(), 415, "{method} {path} as {content_type:?}");
            let error: serde_json::Value = response.json().await.unwrap();
            assert_eq!(error["error"]["code"], "invalid", "{error}");
        }
    }
    // Nothing was applied: no room, no request, and the bystander saw no stray order.
    assert_eq!(hub.api_get("/api/v1/rooms/r415").await.0, 404);
    let (_, requests) = hub.api_get("/api/v1/access-requests?creator_id=c").await;
    assert_eq!(requests["items"].as_array().map(Vec::len), Some(0), "{requests}");
    assert!(tripped(&hub.metrics().await, "content_type") >= 28);
    bystander.sees_every_event(&hub, 3).await;
    // A body-less POST needs no Content-Type.
    let resume = hub
        .http
        .post(format!("{}/api/v1/creators/c/agencies/a/resume", hub.http_url))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_ne!(resume.status().as_u16(), 415);
}

/// The HTTP body limit is a setting: over `max_body_bytes` is 413 `too_large`, and nothing is
/// published.
#[tokio::test]
async fn bodies_over_max_body_bytes_get_413() {
    let hub = start_with(|c| c.max_body_bytes = 1024).await;
    let mut bystander = Bystander::join(&hub).await;
    let text = "x".repeat(2048);
    let body = serde_json::json!({"type": "activity", "kind": "k", "text": text});
    let (status, error) = hub.publish(Bystander::ROOM, body).await;
    assert_eq!((status, error["error"]["code"].as_str()), (413, Some("too_large")));
    bystander.sees_every_event(&hub, 2).await;
}

/// A creator creating rooms in a loop stops at `max_rooms_per_creator` (503 `unavailable`,
/// counted), and the bystander's room is not affected.
#[tokio::test]
async fn a_creator_cannot_create_rooms_past_its_limit() {
    let hub = start_with(|c| c.max_rooms_per_creator = 3).await;
    let mut bystander = Bystander::join(&hub).await;
    let spec = serde_json::json!({"creator_id": "hoarder", "creator_name": "H", "title": "T"});
    for i in 0..20 {
        let (status, _) = hub.api_put(&format!("/api/v1/rooms/hoard-{i}"), spec.clone()).await;
        assert_eq!(status, if i < 3 { 200 } else { 503 }, "room {i}");
    }
    bystander.sees_every_event(&hub, 2).await;
    assert_eq!(tripped(&hub.metrics().await, "rooms_per_creator"), 17);
}
