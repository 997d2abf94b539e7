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

/// The body of a `billboard` event, for checks.
pub fn is_billboard(body: &EventBody) -> bool {
    matches!(body, EventBody::Billboard { .. })
}

/// A room started by `creator` with a viewer joined, ready for traffic.
pub async fn live_room(hub: &TestHub, wire: Wire, room: &str, creator: &str) -> (Client, Client) {
    let mut c = hub.creator(wire, creator).await;
    let started =
        ok_snapshot(c.request(Command::StartRoom { room: room.into(), title: Some("Show".into()) }).await.unwrap());
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

/// A connection without a socket (MessagePack), for in-process tests: its queue is read directly.
pub fn socketless(
    id: u64,
    capacity: usize,
) -> (stagehand::delivery::outbox::Outbox, tokio::sync::mpsc::Receiver<stagehand::delivery::outbox::Frame>) {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity);
    (stagehand::delivery::outbox::Outbox::new(id, Wire::MsgPack, tx, stagehand::delivery::outbox::Shared::new()), rx)
}

/// Everything queued to a socketless connection so far, decoded.
pub fn drain(rx: &mut tokio::sync::mpsc::Receiver<stagehand::delivery::outbox::Frame>) -> Vec<ServerMessage> {
    let mut out = Vec::new();
    while let Ok(frame) = rx.try_recv() {
        if let axum::extract::ws::Message::Binary(bytes) = &*frame {
            out.push(stagehand_protocol::codec::decode(Wire::MsgPack, bytes).unwrap());
        }
    }
    out
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
