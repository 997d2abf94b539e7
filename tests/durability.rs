//! What the hub acknowledged survives `kill -9`: the real `stagehand` binary gets a grant, a
//! notification, an audit record, the creator's moderation rules (a blocked term, a block, a
//! 24-hour mute, a block made over HTTP), planned LIVE events (one over HTTP), a LIVE's summary
//! and account-health counts acknowledged, is killed with SIGKILL,
//! restarts on the same data directory, and still has all of them — and enforces the grant and the
//! rules again at once. Likewise a product set and an answered flash-sale claim.

mod common;

use common::{assert_error, assert_ok, ok_snapshot, API_KEY, SECRET};
use stagehand::auth::TokenKeys;
use stagehand::client::{Auth, Client};
use stagehand_protocol::server::{EventBody, ReplyResult};
use stagehand_protocol::types::{BlockedTerm, MuteDuration, Role, Sanction};
use stagehand_protocol::{Claims, Command, ErrorCode, Wire};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};

/// Start the binary on a free port and return it with its address (read from its JSON log).
fn spawn_hub(data_dir: &Path) -> (Child, String) {
    spawn_hub_with(data_dir, &[])
}

/// [`spawn_hub`] with extra `serve` flags.
fn spawn_hub_with(data_dir: &Path, flags: &[&str]) -> (Child, String) {
    let mut child = Process::new(env!("CARGO_BIN_EXE_stagehand"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(flags)
        .arg("--data-dir")
        .arg(data_dir)
        .env("STAGEHAND_JWT_SECRET", SECRET)
        .env("STAGEHAND_API_KEY", API_KEY)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the stagehand binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines.next().expect("the hub logs its address").expect("a log line");
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if let Some(addr) = entry["fields"]["addr"].as_str() {
            break addr.to_string();
        }
    };
    // Keep draining the log so the hub never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

fn token(keys: &TokenKeys, sub: &str, role: Role, agency: Option<&str>) -> String {
    keys.sign(&Claims {
        sub: sub.into(),
        name: format!("{sub} name"),
        role,
        exp: stagehand::clock::now_ms() / 1000 + 3600,
        agency: agency.map(str::to_string),
        agency_name: None,
        creator: agency.map(|_| "cara".to_string()),
    })
    .unwrap()
}

#[tokio::test]
async fn acknowledged_grants_notifications_and_audit_records_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let keys = TokenKeys::new(SECRET, 0);
    let http = reqwest::Client::new();
    let (mut hub, addr) = spawn_hub(dir.path());
    let ws = format!("ws://{addr}/ws");

    // The agency asks (the creator's notification is stored), the creator accepts (the grant is
    // stored), staff attempt to end the creator's LIVE (the refusal is audited) — each acknowledged.
    let mut console =
        Client::connect(&ws, Wire::MsgPack, Auth::Header(token(&keys, "sam", Role::Agency, Some("acme"))))
            .await
            .unwrap();
    let ends = stagehand::clock::now_ms() + 24 * 3600 * 1000;
    let reply = console
        .request(Command::AccessRequest {
            creator: "cara".into(),
            link: Some(stagehand_protocol::client::NewLink { agreement_ends_at: ends }),
            live_access: true,
            scopes: None,
        })
        .await
        .unwrap();
    assert_ok(&reply);
    let Some(stagehand_protocol::server::ReplyResult::Request { request }) = reply.result else { panic!() };
    let mut cara =
        Client::connect(&ws, Wire::Json, Auth::Header(token(&keys, "cara", Role::Creator, None))).await.unwrap();
    assert_ok(&cara.request(Command::AccessAccept { request_id: request.request_id.clone() }).await.unwrap());
    ok_snapshot(cara.request(Command::StartRoom { room: "show".into(), title: None, event_id: None }).await.unwrap());
    assert_error(&console.request(Command::EndRoom { room: "show".into() }).await.unwrap(), ErrorCode::Forbidden);
    // The creator's moderation rules, each acknowledged.
    let term = BlockedTerm { term: "free".into(), expires_at: None };
    assert_ok(&cara.request(Command::AddBlockedTerms { room: "show".into(), terms: vec![term] }).await.unwrap());
    assert_ok(&console.request(Command::Block { room: "show".into(), user_id: "vic".into() }).await.unwrap());
    let mute = Command::Mute {
        room: "show".into(),
        user_id: "max".into(),
        duration: MuteDuration::Hours24,
        remove_comments: false,
    };
    assert_ok(&cara.request(mute).await.unwrap());
    // A LIVE event planned by the agency.
    let plan = Command::CreateLiveEvent {
        room: "show-3".into(),
        title: "Next week".into(),
        starts_at: ends - 3600 * 1000,
        product_set_id: None,
    };
    assert_ok(&console.request(plan).await.unwrap());
    // A LIVE with an order ends: the creator's acknowledged `end_room` means its summary is stored.
    let order = serde_json::json!({
        "type": "order", "event_id": "e-1", "order_id": "o-1", "buyer": "Bea", "product_id": "p1",
        "product_name": "Lamp", "quantity": 3, "amount": 2997, "currency": "EUR"
    });
    let published =
        http.post(format!("http://{addr}/api/v1/rooms/show/events")).bearer_auth(API_KEY).json(&order).send().await;
    assert_eq!(published.unwrap().status().as_u16(), 202);
    assert_ok(&cara.request(Command::EndRoom { room: "show".into() }).await.unwrap());
    // The platform's HTTP twins: a block and a planned LIVE, each answered.
    let blocked = http.put(format!("http://{addr}/api/v1/creators/cara/blocks/zed")).bearer_auth(API_KEY).send().await;
    assert_eq!(blocked.unwrap().status().as_u16(), 200);
    let planned = serde_json::json!({"room": "show-4", "title": "Platform planned", "starts_at": ends - 1800 * 1000});
    let created = http
        .post(format!("http://{addr}/api/v1/creators/cara/live-events"))
        .bearer_auth(API_KEY)
        .json(&planned)
        .send()
        .await;
    assert_eq!(created.unwrap().status().as_u16(), 201);
    // Account health as answered: mutes and blocks are stored with the sanction, and a report
    // stores the counts still pending (the refused `end_room`) before it answers.
    let health = http.get(format!("http://{addr}/api/v1/creators/cara/health")).bearer_auth(API_KEY).send().await;
    let health: serde_json::Value = health.unwrap().json().await.unwrap();
    let counts = health["counts"].clone();
    assert_eq!(
        (counts["mutes"].as_u64(), counts["blocks"].as_u64(), counts["refused_agency_operations"].as_u64()),
        (Some(1), Some(2), Some(1)),
        "{health}"
    );

    hub.kill().expect("SIGKILL");
    hub.wait().unwrap();

    let (mut hub, addr) = spawn_hub(dir.path());
    let api = |path: &str| http.get(format!("http://{addr}/api/v1{path}")).bearer_auth(API_KEY).send();
    let grants: serde_json::Value = api("/grants?creator_id=cara&live_only=true").await.unwrap().json().await.unwrap();
    assert_eq!(grants["items"][0]["agency_id"], "acme", "{grants}");
    let inbox: serde_json::Value = api("/notifications?recipient=user:cara").await.unwrap().json().await.unwrap();
    assert!(inbox["items"].as_array().unwrap().iter().any(|n| n["kind"] == "access_requested"), "{inbox}");
    let audit: serde_json::Value = api("/audit?creator_id=cara").await.unwrap().json().await.unwrap();
    let refused = audit["items"].as_array().unwrap().iter().find(|a| a["command"] == "end_room").cloned();
    let refused = refused.unwrap_or_else(|| panic!("the refused end_room is in the audit: {audit}"));
    assert_eq!((refused["staff_id"].as_str(), refused["outcome"].as_str()), (Some("sam"), Some("forbidden")));
    let summary: serde_json::Value = api("/rooms/show/summary").await.unwrap().json().await.unwrap();
    assert_eq!((summary["totals"]["orders"].as_u64(), summary["totals"]["units"].as_u64()), (Some(1), Some(3)));
    assert_eq!(summary["creator_id"], "cara", "{summary}");
    let health: serde_json::Value = api("/creators/cara/health").await.unwrap().json().await.unwrap();
    assert_eq!(health["counts"], counts, "the answered account-health counts survive");

    // The grant works from memory again right after the restart.
    let ws = format!("ws://{addr}/ws");
    let mut cara =
        Client::connect(&ws, Wire::Json, Auth::Header(token(&keys, "cara", Role::Creator, None))).await.unwrap();
    ok_snapshot(cara.request(Command::StartRoom { room: "show-2".into(), title: None, event_id: None }).await.unwrap());
    let mut sam =
        Client::connect(&ws, Wire::Json, Auth::Header(token(&keys, "sam", Role::Agency, Some("acme")))).await.unwrap();
    ok_snapshot(sam.request(Command::Join { room: "show-2".into(), since: None }).await.unwrap());

    // The moderation rules are back: listed, and enforced.
    let reply = cara.request(Command::ListModeration { room: "show-2".into() }).await.unwrap();
    let Some(ReplyResult::Moderation { terms, users }) = reply.result else { panic!("{reply:?}") };
    assert_eq!(terms.iter().map(|t| t.term.as_str()).collect::<Vec<_>>(), vec!["free"]);
    let sanctions: Vec<(&str, Sanction)> = users.iter().map(|u| (u.user_id.as_str(), u.sanction)).collect();
    assert_eq!(sanctions, vec![("max", Sanction::Muted), ("vic", Sanction::Blocked), ("zed", Sanction::Blocked)]);
    let viewer = |sub: &str| Client::connect(&ws, Wire::Json, Auth::Header(token(&keys, sub, Role::Viewer, None)));
    let mut vic = viewer("vic").await.unwrap();
    assert_error(
        &vic.request(Command::Join { room: "show-2".into(), since: None }).await.unwrap(),
        ErrorCode::Forbidden,
    );
    let mut max = viewer("max").await.unwrap();
    ok_snapshot(max.request(Command::Join { room: "show-2".into(), since: None }).await.unwrap());
    let comment = |text: &str| Command::Comment { room: "show-2".into(), text: text.into() };
    assert_error(&max.request(comment("hi")).await.unwrap(), ErrorCode::Muted);
    let mut ann = viewer("ann").await.unwrap();
    ok_snapshot(ann.request(Command::Join { room: "show-2".into(), since: None }).await.unwrap());
    assert_ok(&ann.request(comment("ＦＲＥＥ stuff")).await.unwrap());
    loop {
        if let EventBody::CommentHeld { comment } = cara.next_non_count_event().await.unwrap().body {
            assert_eq!(comment.text, "ＦＲＥＥ stuff");
            break;
        }
    }

    // The planned LIVE event is still in the calendar.
    let reply = cara.request(Command::ListLiveEvents { include_cancelled: false }).await.unwrap();
    let Some(ReplyResult::LiveEvents { items }) = reply.result else { panic!("{reply:?}") };
    assert_eq!(items.iter().map(|e| e.title.as_str()).collect::<Vec<_>>(), vec!["Next week", "Platform planned"]);
    hub.kill().unwrap();
    hub.wait().unwrap();
}

#[tokio::test]
async fn acknowledged_product_sets_and_flash_sale_claims_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let keys = TokenKeys::new(SECRET, 0);
    let http = reqwest::Client::new();
    // No countdown, so the sale opens at once on the real clock.
    let flags = ["--flash-sale-min-countdown-ms", "0"];
    let (mut hub, addr) = spawn_hub_with(dir.path(), &flags);
    let api = |addr: &str, path: &str| format!("http://{addr}/api/v1{path}");

    let mut cara = Client::connect(
        &format!("ws://{addr}/ws"),
        Wire::Json,
        Auth::Header(token(&keys, "cara", Role::Creator, None)),
    )
    .await
    .unwrap();
    ok_snapshot(cara.request(Command::StartRoom { room: "shop".into(), title: None, event_id: None }).await.unwrap());
    let lamp =
        serde_json::json!({"product_id": "p1", "title": "Lamp", "price": 4900, "currency": "EUR", "in_stock": true});
    let set = serde_json::json!({"name": "Evening", "products": [lamp.clone()]});
    let saved =
        http.put(api(&addr, "/creators/cara/product-sets/evening")).bearer_auth(API_KEY).json(&set).send().await;
    assert_eq!(saved.unwrap().status(), 200);
    let sale = serde_json::json!({
        "product": lamp, "sale_price": 2900, "quantity": 5, "per_buyer_limit": 2, "countdown_ms": 0, "duration_ms": 600000
    });
    let created =
        http.post(api(&addr, "/rooms/shop/flash-sales")).bearer_auth(API_KEY).json(&sale).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let sale_id = created.json::<serde_json::Value>().await.unwrap()["sale_id"].as_str().unwrap().to_string();
    let claims = format!("/rooms/shop/flash-sales/{sale_id}/claims");
    let claim = serde_json::json!({"claim_id": "c1", "buyer_id": "bea", "quantity": 2});
    let answered = http.post(api(&addr, &claims)).bearer_auth(API_KEY).json(&claim).send().await.unwrap();
    assert_eq!(answered.status(), 201);
    let answered: serde_json::Value = answered.json().await.unwrap();
    assert_eq!(answered["remaining"], 3);

    hub.kill().expect("SIGKILL");
    hub.wait().unwrap();

    let (mut hub, addr) = spawn_hub_with(dir.path(), &flags);
    let set: serde_json::Value = http
        .get(api(&addr, "/creators/cara/product-sets/evening"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["products"][0]["product_id"], "p1", "{set}");
    let stored: serde_json::Value = http
        .get(api(&addr, &format!("/rooms/shop/flash-sales/{sale_id}")))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["remaining"], 3, "the claimed units stay claimed: {stored}");
    // A retry of the acknowledged claim gets the same answer and takes nothing more.
    let again = http.post(api(&addr, &claims)).bearer_auth(API_KEY).json(&claim).send().await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.json::<serde_json::Value>().await.unwrap(), answered);
    hub.kill().unwrap();
    hub.wait().unwrap();
}
