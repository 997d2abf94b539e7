//! Test support: a real hub on 127.0.0.1:0 with its own data directory, tokens, and clients.
#![allow(dead_code)]

use stagehand::auth::TokenKeys;
use stagehand::client::{Auth, Client, Options};
use stagehand::{Config, RunningHub};
use stagehand_protocol::server::{Control, Event, EventBody, Reply, ReplyResult, ServerMessage};
use stagehand_protocol::types::{NotificationInfo, Role, Snapshot};
use stagehand_protocol::{Claims, Command, Wire};
use tempfile::TempDir;

pub const SECRET: &str = "test-secret";
pub const API_KEY: &str = "test-api-key";
/// A day in milliseconds: an agreement that outlasts any test.
pub const DAY: u64 = 24 * 3600 * 1000;

pub struct TestHub {
    pub running: Option<RunningHub>,
    pub ws_url: String,
    pub http_url: String,
    pub keys: TokenKeys,
    pub http: reqwest::Client,
    pub dir: TempDir,
}

pub fn test_config(dir: &TempDir) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        jwt_secret: SECRET.into(),
        api_key: API_KEY.into(),
        data_dir: dir.path().to_path_buf(),
        viewer_count_interval_ms: 3_600_000, // off unless a test wants it
        // Every test client connects from 127.0.0.1: the per-address rate is off unless a test
        // (tests/abuse.rs) wants it.
        connection_rate: 1_000_000.0,
        connection_burst: 1_000_000,
        ..Config::default()
    }
}

pub async fn start() -> TestHub {
    start_with(|_| {}).await
}

pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestHub {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&dir);
    tweak(&mut config);
    let running = stagehand::start(config).await.expect("hub starts");
    let addr = running.addr;
    TestHub {
        running: Some(running),
        ws_url: format!("ws://{addr}/ws"),
        http_url: format!("http://{addr}"),
        keys: TokenKeys::new(SECRET, 0),
        http: reqwest::Client::new(),
        dir,
    }
}

pub fn now_secs() -> u64 {
    stagehand::clock::now_ms() / 1000
}

/// Claims of a non-agency token for `sub` (named "`sub` name") that expires at `exp` (seconds).
pub fn claims(sub: &str, role: Role, exp: u64) -> Claims {
    Claims { sub: sub.into(), name: format!("{sub} name"), role, exp, agency: None, agency_name: None, creator: None }
}

impl TestHub {
    pub fn token_with(&self, claims: Claims) -> String {
        self.keys.sign(&claims).unwrap()
    }

    pub fn token(&self, user: &str, role: Role) -> String {
        self.token_with(claims(user, role, now_secs() + 3600))
    }

    pub fn agency_token(&self, staff: &str, agency: &str, creator: &str) -> String {
        self.token_with(Claims {
            sub: staff.into(),
            name: format!("{staff} name"),
            role: Role::Agency,
            exp: now_secs() + 3600,
            agency: Some(agency.into()),
            agency_name: Some(format!("{agency} Ltd")),
            creator: Some(creator.into()),
        })
    }

    pub async fn client(&self, wire: Wire, token: String) -> Client {
        Client::connect(&self.ws_url, wire, Auth::Header(token)).await.expect("client connects")
    }

    pub async fn viewer(&self, wire: Wire, user: &str) -> Client {
        self.client(wire, self.token(user, Role::Viewer)).await
    }

    pub async fn creator(&self, wire: Wire, user: &str) -> Client {
        self.client(wire, self.token(user, Role::Creator)).await
    }

    pub async fn agency(&self, wire: Wire, staff: &str, agency: &str, creator: &str) -> Client {
        self.client(wire, self.agency_token(staff, agency, creator)).await
    }

    /// POST a backend event to a room; returns the HTTP status and JSON body.
    pub async fn publish(&self, room: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.api_post(&format!("/api/v1/rooms/{room}/events"), body).await
    }

    pub async fn api_post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response =
            self.http.post(format!("{}{path}", self.http_url)).bearer_auth(API_KEY).json(&body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn api_put(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response =
            self.http.put(format!("{}{path}", self.http_url)).bearer_auth(API_KEY).json(&body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn api_get(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.http.get(format!("{}{path}", self.http_url)).bearer_auth(API_KEY).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Link `agency` to `creator` with LIVE Manager access (all scopes unless given), through the
    /// backend API: a bundled request, accepted by the creator. Returns the request id.
    pub async fn grant(&self, creator: &str, agency: &str, scopes: Option<Vec<&str>>, agreement_ms: u64) -> String {
        let mut body = serde_json::json!({
            "creator_id": creator, "agency_id": agency, "agency_name": format!("{agency} Ltd"),
            "requested_by": "backend", "link": {"agreement_ends_at": stagehand::clock::now_ms() + agreement_ms},
        });
        if let Some(scopes) = scopes {
            body["scopes"] = scopes.into();
        }
        let (status, request) = self.api_post("/api/v1/access-requests", body).await;
        assert_eq!(status, 201, "{request}");
        let id = request["request_id"].as_str().unwrap().to_string();
        let (status, decision) = self
            .api_post(&format!("/api/v1/access-requests/{id}/accept"), serde_json::json!({"creator_id": creator}))
            .await;
        assert_eq!(status, 200, "{decision}");
        id
    }

    pub async fn metrics(&self) -> String {
        self.http.get(format!("{}/metrics", self.http_url)).send().await.unwrap().text().await.unwrap()
    }

    pub async fn shutdown(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }
}

/// The value of one series in `/metrics` text, e.g. `stagehand_errors_total{code="invalid"}`
/// (`u64::MAX` when it is missing, so that an assertion on it fails).
pub fn series(metrics: &str, series: &str) -> u64 {
    let prefix = format!("{series} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.parse().ok()).unwrap_or(u64::MAX)
}

/// The value of `stagehand_limits_tripped_total{limit}`.
pub fn tripped(metrics: &str, limit: &str) -> u64 {
    series(metrics, &format!("stagehand_limits_tripped_total{{limit=\"{limit}\"}}"))
}

/// The value of `stagehand_errors_total{code}`.
pub fn errors(metrics: &str, code: &str) -> u64 {
    series(metrics, &format!("stagehand_errors_total{{code=\"{code}\"}}"))
}

pub fn order(id: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "order", "order_id": id, "buyer": "Bea", "product_id": "p1",
        "product_name": "Lamp", "quantity": 1, "amount": 1999, "currency": "EUR"
    })
}

pub fn ok_snapshot(reply: Reply) -> Snapshot {
    assert!(reply.ok, "expected ok, got {reply:?}");
    match reply.result {
        Some(ReplyResult::Snapshot(snapshot)) => snapshot,
        other => panic!("expected a snapshot, got {other:?}"),
    }
}

pub fn assert_ok(reply: &Reply) {
    assert!(reply.ok, "expected ok, got {reply:?}");
}

pub fn assert_error(reply: &Reply, code: stagehand_protocol::ErrorCode) {
    assert!(!reply.ok, "expected {code:?}, got ok: {reply:?}");
    assert_eq!(reply.error.as_ref().map(|e| e.code), Some(code), "{reply:?}");
}

/// Collect the next `n` non-`viewer_count` events.
pub async fn events(client: &mut Client, n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    while out.len() < n {
        out.push(client.next_non_count_event().await.expect("an event"));
    }
    out
}

pub fn names(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.body.name()).collect()
}

/// A billboard with only an id and a title.
pub fn billboard(id: &str) -> stagehand_protocol::types::Billboard {
    stagehand_protocol::types::Billboard { billboard_id: id.into(), title: "50% off".into(), ..Default::default() }
}

/// The body of a `billboard` event, for checks.
pub fn is_billboard(body: &EventBody) -> bool {
    matches!(body, EventBody::Billboard { .. })
}

/// A room started by `creator` with a viewer joined, ready for traffic.
pub async fn live_room(hub: &TestHub, wire: Wire, room: &str, creator: &str) -> (Client, Client) {
    let mut c = hub.creator(wire, creator).await;
    let started = ok_snapshot(
        c.request(Command::StartRoom { room: room.into(), title: Some("Show".into()), event_id: None }).await.unwrap(),
    );
    // The creator's snapshot is the room right after `room_started`.
    assert_eq!((started.state, started.seq), (stagehand_protocol::types::RoomState::Live, 1));
    let mut v = hub.viewer(wire, &format!("{room}-viewer")).await;
    ok_snapshot(v.request(Command::Join { room: room.into(), since: None }).await.unwrap());
    (c, v)
}

/// The next notification pushed to this connection.
pub async fn notification(client: &mut Client) -> NotificationInfo {
    loop {
        if let ServerMessage::Control(Control::Notification(n)) = client.next().await.unwrap() {
            return n;
        }
    }
}

/// The next pushed notification of `kind`, skipping others (e.g. unread ones pushed at connect).
pub async fn notification_of(client: &mut Client, kind: &str) -> NotificationInfo {
    loop {
        let n = notification(client).await;
        if n.kind == kind {
            return n;
        }
    }
}

/// A connection without a socket (MessagePack), for in-process tests: what it is sent waits in
/// its backlog (up to `bytes`) until [`drain`] reads it.
pub fn socketless(id: u64, bytes: usize) -> stagehand::delivery::outbox::Outbox {
    stagehand::delivery::outbox::Outbox::socketless(id, Wire::MsgPack, bytes)
}

/// Everything sent to a socketless connection so far, decoded, once `room` delivered all it
/// queued.
pub async fn drain(
    room: &stagehand::rooms::room::Room,
    outbox: &stagehand::delivery::outbox::Outbox,
) -> Vec<ServerMessage> {
    room.idle().await;
    outbox
        .take_frames()
        .iter()
        .map(|frame| stagehand_protocol::codec::decode(Wire::MsgPack, frame.payload()).unwrap())
        .collect()
}

/// A client with a small socket receive buffer, so that once it stops reading a few events fill
/// what the kernel holds for it and the hub's backlog fills soon after.
pub async fn small_window_client(hub: &TestHub, token: String) -> Client {
    let options = stagehand::client::Options {
        recv_buffer_bytes: Some(4096),
        ..stagehand::client::Options::new(Auth::Header(token))
    };
    Client::connect_with(&hub.ws_url, Wire::MsgPack, options).await.expect("client connects")
}

/// A viewer in a live room of its own, watching while an abuse runs: [`Bystander::sees_every_event`]
/// publishes orders through the backend API (the hub's normal path: broker, history, fan-out) and
/// checks that the viewer receives each of them, in order, with consecutive `seq`s — none lost,
/// none late beyond the viewer's next read. Its clients wait without a limit of their own, so it
/// works on paused time too.
pub struct Bystander {
    pub creator: Client,
    pub viewer: Client,
    pub room: String,
    /// The viewer's last `seq`.
    seq: u64,
    published: usize,
}

impl Bystander {
    pub const ROOM: &'static str = "bystander-room";

    /// Start the bystander's room and join its viewer.
    pub async fn join(hub: &TestHub) -> Bystander {
        use stagehand::client::Options;
        let connect = |token: String| async move {
            Client::connect_with(
                &hub.ws_url,
                Wire::MsgPack,
                Options { wait: None, ..Options::new(Auth::Header(token)) },
            )
            .await
            .expect("bystander connects")
        };
        let mut creator = connect(hub.token("bystander-creator", Role::Creator)).await;
        let room = Bystander::ROOM.to_string();
        ok_snapshot(
            creator
                .request(Command::StartRoom { room: room.clone(), title: Some("Show".into()), event_id: None })
                .await
                .unwrap(),
        );
        let mut viewer = connect(hub.token("bystander-viewer", Role::Viewer)).await;
        let snapshot = ok_snapshot(viewer.request(Command::Join { room: room.clone(), since: None }).await.unwrap());
        Bystander { creator, viewer, room, seq: snapshot.seq, published: 0 }
    }

    /// Publish `n` orders into the room; the viewer receives every one, in order.
    pub async fn sees_every_event(&mut self, hub: &TestHub, n: usize) {
        for _ in 0..n {
            self.published += 1;
            let id = format!("bystander-{}", self.published);
            let (status, body) = hub.publish(&self.room, order(&id)).await;
            assert_eq!(status, 202, "the bystander's backend publish was refused: {body}");
            let event = self.viewer.next_non_count_event().await.expect("the bystander receives the event");
            assert_eq!(event.seq, self.seq + 1, "the bystander missed an event: {event:?}");
            self.seq += 1;
            match &event.body {
                EventBody::Order { order_id, .. } => assert_eq!(order_id, &id),
                other => panic!("the bystander expected order {id}, got {other:?}"),
            }
        }
    }
}

/// A client that waits as long as it takes (paused time would fire a wait limit at once).
pub async fn patient(hub: &TestHub, wire: Wire, token: String) -> Client {
    let options = Options { wait: None, ..Options::new(Auth::Header(token)) };
    Client::connect_with(&hub.ws_url, wire, options).await.expect("client connects")
}

/// Return once the store has nothing in flight: with one reader thread, a read queued now runs
/// after every connection's catch-up read, and an (empty) ack queued now runs after the start-up
/// prune on the writer thread. Paused time runs on while the store works, so the tests set their
/// deadlines after this.
pub async fn settle(client: &mut Client) {
    let list = Command::ListNotifications { unread_only: false, before: None, limit: None };
    assert_ok(&client.request(list).await.unwrap());
    assert_ok(&client.request(Command::Ack { notification_ids: vec![] }).await.unwrap());
}
