//! The operations side seen from outside: `/metrics` families, `/readyz`, and shutdown's drain.

mod common;

use common::*;
use stagehand::clock::Clock;
use stagehand_protocol::{CloseCode, Command, Wire};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Error as WsError;

async fn readyz(hub: &TestHub) -> u16 {
    hub.http.get(format!("{}/readyz", hub.http_url)).send().await.unwrap().status().as_u16()
}

/// Every error the HTTP API answers is counted by its code, whichever layer gave it: a body that
/// is not the request's JSON, a room that does not exist, an unknown path, a wrong method, a
/// missing API key.
#[tokio::test]
async fn http_errors_are_counted_by_code() {
    let hub = start().await;
    let before = hub.metrics().await;
    let (status, body) = hub.publish("no-such-room", serde_json::json!({"type": "order", "nonsense": 1})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = hub.publish("no-such-room", order("o-1")).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = hub.api_get("/api/v1/nowhere").await;
    assert_eq!(status, 404);
    let response = hub.http.delete(format!("{}/healthz", hub.http_url)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let response = hub.http.get(format!("{}/api/v1/rooms/no-such-room", hub.http_url)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);

    let after = hub.metrics().await;
    for (code, n) in [("invalid", 2), ("not_found", 2), ("unauthenticated", 1)] {
        assert_eq!(errors(&after, code), errors(&before, code) + n, "{code}\n{after}");
    }
}

/// Prometheus users expect every family, with each known label value, before its first
/// increment: a fresh hub shows them all at 0.
#[tokio::test]
async fn a_fresh_hub_shows_every_metric_family_at_zero() {
    let hub = start().await;
    let metrics = hub.metrics().await;
    let mut expected: Vec<String> = ["creator", "viewer", "agency"]
        .iter()
        .map(|role| format!("stagehand_connections{{role=\"{role}\"}} 0"))
        .collect();
    for code in stagehand_protocol::ErrorCode::ALL {
        expected.push(format!("stagehand_errors_total{{code=\"{}\"}} 0", code.as_str()));
    }
    for limit in ["comment", "operation"] {
        expected.push(format!("stagehand_rate_limited_total{{limit=\"{limit}\"}} 0"));
    }
    // Every limit that refuses or closes something.
    let limits = [
        "header_timeout",
        "origin",
        "connection_rate",
        "connections_per_user",
        "max_connections",
        "api_key_failures",
        "content_type",
    ];
    for limit in limits {
        expected.push(format!("stagehand_limits_tripped_total{{limit=\"{limit}\"}} 0"));
    }
    // Every request type (one test vector each) and the two backend event types.
    let vectors = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol/vectors");
    let mut types: Vec<String> = vec!["order".into(), "activity".into()];
    for entry in std::fs::read_dir(vectors).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("client_") && name.ends_with(".json") {
            let request: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            types.push(request["type"].as_str().unwrap().to_string());
        }
    }
    assert!(types.len() > 20, "{types:?}");
    for kind in types {
        expected.push(format!("stagehand_events_in_total{{type=\"{kind}\"}} 0"));
    }
    for series in ["stagehand_slow_consumer_closes_total 0", "stagehand_invalid_frames_total 0"] {
        expected.push(series.into());
    }
    let missing: Vec<&String> = expected.iter().filter(|line| !metrics.lines().any(|l| l == line.as_str())).collect();
    assert!(missing.is_empty(), "missing {missing:?} in\n{metrics}");
}

/// Shutdown, on paused time: readiness goes 503 at once while the listener keeps answering (new
/// upgrades get HTTP 503, not "connection refused") and open connections are still served; after
/// the drain every connection gets 1001 with advice to back off, and then the listener stops.
#[tokio::test(start_paused = true)]
async fn shutdown_drains_then_closes_every_connection_with_going_away_then_stops_listening() {
    let drain = Duration::from_millis(2_000);
    let mut hub = start_with(|c| {
        c.clock = Clock::tokio(stagehand::clock::now_ms());
        c.shutdown_drain_ms = 2_000;
    })
    .await;
    let (mut creator, mut viewer) = live_room(&hub, Wire::Json, "r-bye", "cara").await;
    for client in [&mut creator, &mut viewer] {
        client.set_wait(None); // the hub's timers decide, on paused time
    }
    assert_eq!(readyz(&hub).await, 200);

    let began = Instant::now();
    let shutdown = tokio::spawn(hub.running.take().unwrap().shutdown());
    while readyz(&hub).await != 503 {
        tokio::task::yield_now().await;
    }
    match tokio_tungstenite::connect_async(hub.ws_url.as_str()).await {
        Err(WsError::Http(response)) => assert_eq!(response.status().as_u16(), 503),
        other => panic!("expected an HTTP 503 during the drain, got {other:?}"),
    }
    assert_ok(&viewer.request(Command::Ping).await.unwrap());
    assert!(began.elapsed() < drain);

    for client in [&mut creator, &mut viewer] {
        let (code, reason) = client.closed().await.unwrap();
        assert_eq!(code, CloseCode::GOING_AWAY.0, "{reason}");
        assert!(reason.contains("jittered exponential back-off") && reason.contains("since"), "{reason}");
        assert!(CloseCode(code).should_reconnect());
    }
    assert!(began.elapsed() >= drain, "closed after the drain, not before");
    drop((creator, viewer));
    assert!(shutdown.await.unwrap(), "every connection closed within the grace period");
    match tokio_tungstenite::connect_async(hub.ws_url.as_str()).await {
        Err(WsError::Io(error)) => assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused),
        other => panic!("expected the listener gone, got {other:?}"),
    }
}
