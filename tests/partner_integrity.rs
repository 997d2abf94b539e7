//! Creator Partner Access under faults and bad input, against a real hub and its real SQLite file:
//! a change commits with its notification and audit row or not at all, store failures reach
//! clients as stable generic errors, and input the contract calls invalid is refused (also on
//! unknown routes and methods, which answer with JSON error bodies).
//!
//! Faults are injected the way a full disk or a broken row would surface: a trigger, added to the
//! hub's database from another connection, makes one table's inserts fail with a recognisable text.

mod common;

use common::*;
use rusqlite::Connection;
use stagehand_protocol::server::ReplyResult;
use stagehand_protocol::{Command, ErrorCode, Wire};

/// The text the injected failures carry; it must never reach a client.
const SECRET: &str = "disk-secret-4711 database or disk is full";

fn db(hub: &TestHub) -> Connection {
    Connection::open(hub.dir.path().join(stagehand::store::DB_FILE)).unwrap()
}

/// Make every insert into `table` fail until [`heal`].
fn break_inserts(hub: &TestHub, table: &str) {
    db(hub)
        .execute_batch(&format!(
            "CREATE TRIGGER test_fault BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, '{SECRET}'); END;"
        ))
        .unwrap();
}

fn heal(hub: &TestHub) {
    db(hub).execute_batch("DROP TRIGGER test_fault;").unwrap();
}

fn bundled(creator: &str, agency: &str) -> serde_json::Value {
    serde_json::json!({
        "creator_id": creator, "agency_id": agency, "agency_name": format!("{agency} Ltd"),
        "requested_by": "backend", "link": {"agreement_ends_at": stagehand::clock::now_ms() + DAY},
    })
}

async fn items(hub: &TestHub, path: &str) -> Vec<serde_json::Value> {
    let (status, body) = hub.api_get(path).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_request_whose_notification_fails_changes_nothing_and_the_error_hides_the_detail() {
    let hub = start().await;
    break_inserts(&hub, "notifications");
    let (status, body) = hub.api_post("/api/v1/access-requests", bundled("cara", "acme")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (500, Some("internal")), "{body}");
    assert!(!body.to_string().contains("disk-secret"), "store detail leaked: {body}");
    // Not a half-done change: no request, no link.
    assert!(items(&hub, "/api/v1/access-requests?creator_id=cara").await.is_empty());
    assert!(items(&hub, "/api/v1/links?creator_id=cara").await.is_empty());

    // Once the store works, the same request commits with its notification and is reported ok.
    heal(&hub);
    let (status, body) = hub.api_post("/api/v1/access-requests", bundled("cara", "acme")).await;
    assert_eq!(status, 201, "{body}");
    let inbox = items(&hub, "/api/v1/notifications?recipient=user:cara").await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["data"]["request"]["request_id"], body["request_id"]);
}

#[tokio::test]
async fn an_agency_request_whose_audit_row_fails_changes_nothing_and_notifies_no_one() {
    let hub = start().await;
    let mut cara = hub.creator(Wire::Json, "cara").await;
    let mut console = hub.agency(Wire::MsgPack, "sam", "acme", "cara").await;
    let ask = || Command::AccessRequest {
        creator: "cara".into(),
        link: Some(stagehand_protocol::client::NewLink { agreement_ends_at: stagehand::clock::now_ms() + DAY }),
        live_access: true,
        scopes: None,
    };

    break_inserts(&hub, "audit");
    let reply = console.request(ask()).await.unwrap();
    assert_error(&reply, ErrorCode::Internal);
    assert!(!reply.error.as_ref().unwrap().message.contains("disk-secret"), "{reply:?}");
    assert!(items(&hub, "/api/v1/access-requests?creator_id=cara").await.is_empty());
    assert!(items(&hub, "/api/v1/notifications?recipient=user:cara").await.is_empty());

    heal(&hub);
    let reply = console.request(ask()).await.unwrap();
    assert_ok(&reply);
    // The creator hears of the committed request only (the first one never reached the inbox).
    let pushed = notification(&mut cara).await;
    assert_eq!(pushed.kind, "access_requested");
    let Some(ReplyResult::Request { request }) = reply.result else { panic!("{reply:?}") };
    assert_eq!(pushed.data["request"]["request_id"], request.request_id.as_str());
    // Exactly one audit row for it, written with the change (not a second one after it).
    let trail = items(&hub, "/api/v1/audit?creator_id=cara").await;
    let ok: Vec<_> = trail.iter().filter(|a| a["command"] == "access_request" && a["outcome"] == "ok").collect();
    assert_eq!(ok.len(), 1, "{trail:?}");
}

#[tokio::test]
async fn a_suspension_whose_notification_fails_is_not_applied_and_the_operator_stays() {
    let hub = start().await;
    let (mut cara, _viewer) = live_room(&hub, Wire::Json, "show", "cara").await;
    hub.grant("cara", "acme", None, DAY).await;
    let mut operator = hub.agency(Wire::Json, "sam", "acme", "cara").await;
    ok_snapshot(operator.request(Command::Join { room: "show".into(), since: None }).await.unwrap());

    break_inserts(&hub, "notifications");
    let report = Command::ReportAgency { agency: "acme".into(), reason: None };
    assert_error(&cara.request(report.clone()).await.unwrap(), ErrorCode::Internal);
    let grants = items(&hub, "/api/v1/grants?creator_id=cara&live_only=true").await;
    assert_eq!(grants[0]["status"], "active");
    assert!(items(&hub, "/api/v1/audit?creator_id=cara").await.iter().all(|a| a["command"] != "report_agency"));
    // Still operating: the refused suspension closed no one.
    assert_ok(&operator.request(Command::Ping).await.unwrap());

    heal(&hub);
    assert_ok(&cara.request(report).await.unwrap());
}

#[tokio::test]
async fn invalid_partner_input_is_refused_as_the_contract_says() {
    let hub = start().await;
    let mut body = bundled("cara", "acme");
    body["agency_name"] = "".into();
    let (status, reply) = hub.api_post("/api/v1/access-requests", body).await;
    assert_eq!((status, reply["error"]["code"].as_str()), (400, Some("invalid")), "{reply}");

    let mut body = bundled("cara", "acme");
    body["scopes"] = serde_json::json!([]);
    let (status, reply) = hub.api_post("/api/v1/access-requests", body).await;
    assert_eq!((status, reply["error"]["code"].as_str()), (400, Some("invalid")), "{reply}");

    for recipient in ["cara", "user:", "group:x", ""] {
        let (status, reply) = hub.api_get(&format!("/api/v1/notifications?recipient={recipient}")).await;
        assert_eq!((status, reply["error"]["code"].as_str()), (400, Some("invalid")), "{recipient}: {reply}");
        let ack = serde_json::json!({"recipient": recipient, "notification_ids": [1]});
        let (status, _) = hub.api_post("/api/v1/notifications/ack", ack).await;
        assert_eq!(status, 400, "{recipient}");
    }
    assert_eq!(hub.api_get("/api/v1/notifications?recipient=agency:acme").await.0, 200);

    // Over WebSocket too: an empty scope list is invalid, and nothing was requested.
    let mut console = hub.agency(Wire::Json, "sam", "acme", "cara").await;
    let empty = Command::AccessRequest { creator: "cara".into(), link: None, live_access: true, scopes: Some(vec![]) };
    assert_error(&console.request(empty).await.unwrap(), ErrorCode::Invalid);
    assert!(items(&hub, "/api/v1/access-requests?creator_id=cara").await.is_empty());
}

#[tokio::test]
async fn null_means_absent_for_optional_fields() {
    let hub = start().await;
    // HTTP: `live_access: null` is the default (`true`), `scopes: null` all of them.
    let mut body = bundled("cara", "acme");
    body["live_access"] = serde_json::Value::Null;
    body["scopes"] = serde_json::Value::Null;
    let (status, request) = hub.api_post("/api/v1/access-requests", body).await;
    assert_eq!(status, 201, "{request}");
    assert_eq!(request["kind"], "link_and_access");
    assert_eq!(request["scopes"].as_array().unwrap().len(), 6);

    // WebSocket, raw frames with nulls.
    let mut console = hub.agency(Wire::Json, "sam", "acme", "cara").await;
    let frame = r#"{"id":7,"type":"access_request","creator":"cara","link":null,"live_access":null,"scopes":null}"#;
    console.send_raw(tokio_tungstenite::tungstenite::Message::Text(frame.into())).await.unwrap();
    // Decoded (not `invalid`) as an access request, which needs an active link: the link is pending.
    assert_error(&console.reply_to(Some(7)).await.unwrap(), ErrorCode::NotFound);
    let frame = r#"{"id":8,"type":"list_notifications","unread_only":null,"before":null,"limit":null}"#;
    console.send_raw(tokio_tungstenite::tungstenite::Message::Text(frame.into())).await.unwrap();
    assert_ok(&console.reply_to(Some(8)).await.unwrap());
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_with_json_errors() {
    let hub = start().await;
    let send = |method: reqwest::Method, path: &str| {
        hub.http.request(method, format!("{}{path}", hub.http_url)).bearer_auth(API_KEY).send()
    };
    for (method, path, status, code) in [
        (reqwest::Method::GET, "/nope", 404, "not_found"),
        (reqwest::Method::GET, "/api/v1/nope", 404, "not_found"),
        (reqwest::Method::POST, "/healthz", 405, "invalid"),
        (reqwest::Method::DELETE, "/api/v1/grants", 405, "invalid"),
        (reqwest::Method::GET, "/api/v1/notifications/ack", 405, "invalid"),
    ] {
        let response = send(method.clone(), path).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        let body: serde_json::Value = response.json().await.expect("a JSON body");
        assert_eq!(body["error"]["code"], code, "{method} {path}: {body}");
        assert!(body["error"]["message"].is_string());
    }
}

#[tokio::test]
async fn the_running_hub_prunes_by_the_configured_retention() {
    // Before the hub starts: an audit record and a read notification long past their retention,
    // and an unread notification just as old, which is kept.
    let data = tempfile::tempdir().unwrap();
    {
        use stagehand::store::{NewAudit, Store};
        let store = stagehand::store::SqliteStore::open(data.path()).unwrap();
        let entry = NewAudit {
            creator_id: "cara".into(),
            agency_id: "acme".into(),
            staff_id: "sam".into(),
            staff_name: "Sam".into(),
            room: None,
            command: "join".into(),
            outcome: "ok".into(),
            detail: None,
        };
        store.append_audit(entry, 1_000).unwrap();
        let read = store.notify("user:cara", "staff_joined", serde_json::json!({}), 1_000).unwrap();
        store.ack("user:cara", &[read.notification_id]).unwrap();
        store.notify("user:cara", "staff_left", serde_json::json!({}), 1_000).unwrap();
    }
    let path = data.path().to_path_buf();
    let hub = start_with(|c| c.data_dir = path).await;
    // The first pruning pass runs at start; wait for it (bounded), without assuming how long it takes.
    let pruned = async {
        while !items(&hub, "/api/v1/audit?creator_id=cara").await.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), pruned).await.expect("the hub prunes at start");
    let left = items(&hub, "/api/v1/notifications?recipient=user:cara").await;
    assert_eq!(left.len(), 1);
    assert_eq!((left[0]["kind"].as_str(), left[0]["read"].as_bool()), (Some("staff_left"), Some(false)));
}
