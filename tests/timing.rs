//! Timeouts, expiries and heartbeats, on paused tokio time: the hub reads the test's clock
//! (`Clock::tokio`), the test moves time with `sleep_until` (which, paused, jumps to the next timer
//! once every task is idle), and clients wait without a limit of their own. Nothing here depends
//! on how fast the machine is: each assertion names the exact instant it is about.

mod common;

use common::*;
use stagehand::client::{Auth, Client, ClientError, Options};
use stagehand::clock::Clock;
use stagehand_protocol::types::Role;
use stagehand_protocol::{CloseCode, Command, ErrorCode, Wire};
use std::time::Duration;
use tokio::time::{sleep, sleep_until, Instant};

const MS: Duration = Duration::from_millis(1);

/// A hub whose clock follows paused tokio time; returns the clock too.
async fn paused_hub(tweak: impl FnOnce(&mut stagehand::Config)) -> (TestHub, Clock) {
    let clock = Clock::tokio(stagehand::clock::now_ms());
    let hub = start_with(|config| {
        config.clock = clock;
        tweak(config);
    })
    .await;
    (hub, clock)
}

/// A client that waits as long as it takes: under paused time a wait limit would fire as soon as
/// the hub idles until its next timer.
async fn connect(hub: &TestHub, wire: Wire, auth: Auth) -> Result<Client, ClientError> {
    Client::connect_with(&hub.ws_url, wire, Options { wait: None, ..Options::new(auth) }).await
}

async fn open_connections(hub: &TestHub, role: &str) -> String {
    let metrics = hub.metrics().await;
    let prefix = format!("stagehand_connections{{role=\"{role}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or("absent").to_string()
}

#[tokio::test(start_paused = true)]
async fn a_connection_without_a_token_is_closed_with_4001_at_the_auth_timeout() {
    let (hub, _) = paused_hub(|c| c.auth_timeout_ms = 5_000).await;
    for wire in Wire::BOTH {
        let opened = Instant::now();
        let mut anonymous = connect(&hub, wire, Auth::None).await.unwrap();
        let reply = anonymous.request(Command::Join { room: "r".into(), since: None }).await.unwrap();
        assert_error(&reply, ErrorCode::Unauthenticated);
        // Requests do not extend the timeout, and until it passes the connection is open.
        sleep_until(opened + Duration::from_millis(4_990)).await;
        assert_error(&anonymous.request(Command::Ping).await.unwrap(), ErrorCode::Unauthenticated);
        let (code, reason) = anonymous.closed().await.unwrap();
        assert_eq!(code, CloseCode::UNAUTHENTICATED.0, "{reason}");
        let waited = opened.elapsed();
        assert!(waited >= Duration::from_millis(5_000) && waited < Duration::from_millis(5_010), "{waited:?}");
    }
}

/// One rule at connect and while connected: a token is good until `exp` + leeway. A token already
/// past `exp` but within the leeway is welcomed and served until exactly `exp` + leeway (it used
/// to be welcomed and closed at once); one past `exp` + leeway is refused before `welcome`.
#[tokio::test(start_paused = true)]
async fn a_token_is_good_until_exp_plus_the_leeway_and_the_connection_closes_then() {
    let (hub, clock) = paused_hub(|c| c.jwt_leeway_secs = 30).await;
    let exp = clock.now_ms() / 1000 - 10;
    let good_until = exp * 1000 + 30_000;
    let mut late = Vec::new();
    for wire in Wire::BOTH {
        let token = hub.token_with(claims("late", Role::Viewer, exp));
        late.push(connect(&hub, wire, Auth::Header(token)).await.expect("welcome within the leeway"));
    }
    sleep(Duration::from_millis(good_until - clock.now_ms()) - 5 * MS).await;
    for client in &mut late {
        assert_ok(&client.request(Command::Ping).await.unwrap());
    }
    for client in &mut late {
        let (code, reason) = client.closed().await.unwrap();
        assert_eq!(code, CloseCode::TOKEN_EXPIRED.0, "{reason}");
        let at = clock.now_ms();
        assert!(at >= good_until && at < good_until + 5, "closed {} ms after exp + leeway", at - good_until);
    }
    // Now past exp + leeway: refused at connect, by header and by frame, never welcomed.
    let stale = hub.token_with(claims("stale", Role::Viewer, exp));
    match connect(&hub, Wire::Json, Auth::Header(stale.clone())).await {
        Err(ClientError::Closed(Some((code, _)))) => assert_eq!(code, CloseCode::TOKEN_EXPIRED.0),
        Ok(_) => panic!("a stale token was welcomed"),
        Err(other) => panic!("{other}"),
    }
    let mut by_frame = connect(&hub, Wire::MsgPack, Auth::None).await.unwrap();
    by_frame.send(Command::Connect { token: stale }).await.unwrap();
    assert_eq!(by_frame.closed().await.unwrap().0, CloseCode::TOKEN_EXPIRED.0);
}

/// Expiry is read from the hub's clock, not the machine's: on a hub whose clock reads an hour
/// behind, a token that expired a minute ago by the system clock is welcomed, and the connection
/// closes when the hub's clock reaches `exp`.
#[tokio::test(start_paused = true)]
async fn token_expiry_follows_the_hubs_clock() {
    let clock = Clock::tokio(stagehand::clock::now_ms() - 3_600_000);
    let hub = start_with(|c| {
        c.clock = clock;
        c.jwt_leeway_secs = 0;
    })
    .await;
    let exp = now_secs() - 60;
    let token = hub.token_with(claims("v", Role::Viewer, exp));
    let mut client = connect(&hub, Wire::Json, Auth::Header(token.clone())).await.expect("good on the hub's clock");
    assert_ok(&client.request(Command::Ping).await.unwrap());
    assert_eq!(client.closed().await.unwrap().0, CloseCode::TOKEN_EXPIRED.0);
    let at = clock.now_ms();
    assert!(at >= exp * 1000 && at < exp * 1000 + 5, "closed {} ms after exp", at - exp * 1000);
    match connect(&hub, Wire::Json, Auth::Header(token)).await {
        Err(ClientError::Closed(Some((code, _)))) => assert_eq!(code, CloseCode::TOKEN_EXPIRED.0),
        Ok(_) => panic!("welcomed with a token expired on the hub's clock"),
        Err(other) => panic!("{other}"),
    }
}

/// The hub checks every interval (one schedule for all connections). A client that sends nothing
/// is pinged at the first and second checks after its last frame and closed with 4004 at the
/// third; one that reads (and so answers pings) stays.
#[tokio::test(start_paused = true)]
async fn a_silent_client_is_closed_at_the_third_heartbeat_check_and_a_reading_one_stays() {
    let interval = Duration::from_secs(10);
    let started = Instant::now();
    let (hub, _) = paused_hub(|c| c.heartbeat_ms = 10_000).await;
    // Connected mid-interval: the checks after it are at 10 s, 20 s and 30 s.
    sleep_until(started + interval / 2).await;
    let mut silent = connect(&hub, Wire::Json, Auth::Header(hub.token("silent", Role::Viewer))).await.unwrap();
    let mut awake = connect(&hub, Wire::MsgPack, Auth::Header(hub.token("awake", Role::Viewer))).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        let unexpected = tokio::select! {
            message = awake.next() => Some(message),
            _ = stopped => None,
        };
        (awake, unexpected)
    });

    sleep_until(started + 3 * interval - MS).await;
    assert_eq!(open_connections(&hub, "viewer").await, "2", "open until the third check");
    sleep_until(started + 3 * interval + MS).await;
    let (code, reason) = silent.closed().await.unwrap();
    assert_eq!(code, CloseCode::HEARTBEAT_TIMEOUT.0, "{reason}");
    assert_eq!(silent.pings, 2, "pinged at the first and second checks");

    // Between checks, so the count does not depend on which of two timers due together runs first.
    sleep_until(started + 9 * interval + interval / 2).await;
    stop.send(()).unwrap();
    let (awake, unexpected) = reader.await.unwrap();
    assert!(unexpected.is_none(), "{unexpected:?}");
    assert_eq!(awake.pings, 9, "pinged at every check and still open");
    assert_eq!(open_connections(&hub, "viewer").await, "1");
}

/// `refresh` moves a connection's end to the new token's `exp` + leeway without reconnecting; a
/// token for someone else (`forbidden`) or one that does not verify (`unauthenticated`) changes
/// nothing, and the connection still closes at the refreshed instant.
#[tokio::test(start_paused = true)]
async fn refresh_extends_a_connection_to_the_new_tokens_expiry() {
    let (hub, clock) = paused_hub(|c| c.jwt_leeway_secs = 0).await;
    for wire in Wire::BOTH {
        let first_exp = clock.now_ms() / 1000 + 10;
        let second_exp = first_exp + 60;
        let token = hub.token_with(claims("renewer", Role::Viewer, first_exp));
        let mut client = connect(&hub, wire, Auth::Header(token)).await.unwrap();
        let other = hub.token_with(claims("someone-else", Role::Viewer, second_exp));
        let reply = client.request(Command::Refresh { token: other }).await.unwrap();
        assert_error(&reply, ErrorCode::Forbidden);
        let creator = hub.token_with(claims("renewer", Role::Creator, second_exp));
        assert_error(&client.request(Command::Refresh { token: creator }).await.unwrap(), ErrorCode::Forbidden);
        let garbage = Command::Refresh { token: "not-a-jwt".into() };
        assert_error(&client.request(garbage).await.unwrap(), ErrorCode::Unauthenticated);
        let expired = hub.token_with(claims("renewer", Role::Viewer, clock.now_ms() / 1000 - 1));
        assert_error(&client.request(Command::Refresh { token: expired }).await.unwrap(), ErrorCode::Unauthenticated);
        let fresh = hub.token_with(claims("renewer", Role::Viewer, second_exp));
        assert_ok(&client.request(Command::Refresh { token: fresh }).await.unwrap());
        // Past the first token's end the connection is served…
        sleep(Duration::from_millis(first_exp * 1000 - clock.now_ms()) + 5 * MS).await;
        assert_ok(&client.request(Command::Ping).await.unwrap());
        // …until the refreshed one's.
        let (code, reason) = client.closed().await.unwrap();
        assert_eq!(code, CloseCode::TOKEN_EXPIRED.0, "{reason}");
        let at = clock.now_ms();
        assert!(at >= second_exp * 1000 && at < second_exp * 1000 + 5, "closed at {at}");
    }
}

/// Before authentication `refresh` is like any command but `connect`: `unauthenticated`.
#[tokio::test(start_paused = true)]
async fn refresh_before_connect_is_unauthenticated() {
    let (hub, _) = paused_hub(|_| {}).await;
    let mut anonymous = connect(&hub, Wire::Json, Auth::None).await.unwrap();
    let token = hub.token("v", Role::Viewer);
    assert_error(&anonymous.request(Command::Refresh { token }).await.unwrap(), ErrorCode::Unauthenticated);
}

/// A connection that is closing stays in the hub's registry until its task ends; the heartbeat
/// sweep skips it: one silent connection counts one `heartbeat_timeout` (not one per sweep until
/// it is gone), and one closed for another reason (here, as a slow consumer) counts none.
#[tokio::test(start_paused = true)]
async fn the_heartbeat_counts_a_silent_connection_once_and_skips_closing_ones() {
    let interval = Duration::from_secs(10);
    let started = Instant::now();
    let (hub, _) = paused_hub(|c| c.heartbeat_ms = 10_000).await;
    let inner = hub.running.as_ref().unwrap().hub.clone();
    // Connections without sockets and without a task: nothing unregisters them.
    let silent = socketless(1_000_001, 64 * 1024);
    let slow = socketless(1_000_002, 64 * 1024);
    inner.register(silent.clone());
    inner.register(slow.clone());
    slow.close(CloseCode::SLOW_CONSUMER, "slow");

    sleep_until(started + 6 * interval + interval / 2).await;
    assert!(silent.is_closed());
    let metrics = hub.metrics().await;
    let count =
        metrics.lines().find_map(|l| l.strip_prefix("stagehand_limits_tripped_total{limit=\"heartbeat_timeout\"} "));
    assert_eq!(count, Some("1"), "closed once, at the third check, and counted once");
}
