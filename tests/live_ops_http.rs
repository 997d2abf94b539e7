//! The platform backend's twins of moderation and scheduling over HTTP, against the real hub:
//! the keyword list (get, replace — it filters comments at once), blocked accounts (block takes
//! the account out of the creator's live rooms and refuses its joins; list; unblock), LIVE events
//! (create, update, get, list, cancel), the audit rows naming the platform, and the API's rules
//! (API key, JSON only, stable error codes).

mod common;

use common::*;
use stagehand_protocol::server::EventBody;
use stagehand_protocol::types::HoldReason;
use stagehand_protocol::{Command, ErrorCode, Wire};

const ROOM: &str = "twin-room";

async fn send(
    hub: &TestHub,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = hub.http.request(method, format!("{}{path}", hub.http_url)).bearer_auth(API_KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

async fn platform_audit(hub: &TestHub) -> Vec<(String, String)> {
    let (_, page) = hub.api_get("/api/v1/audit?creator_id=cara&limit=100").await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["staff_id"] == "platform")
        .map(|r| (r["command"].as_str().unwrap().to_string(), r["agency_id"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test]
async fn the_keyword_list_and_blocks_are_managed_over_http_and_apply_at_once() {
    let hub = start().await;
    let (mut cara, mut vic) = live_room(&hub, Wire::Json, ROOM, "cara").await;

    let (status, body) = hub
        .api_put(
            "/api/v1/creators/cara/blocked-terms",
            serde_json::json!({"terms": [{"term": "free*"}, {"term": "dm me"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 2);
    let (_, listed) = hub.api_get("/api/v1/creators/cara/blocked-terms").await;
    assert_eq!(listed["items"], body["items"]);
    // The room's staff heard of it, and the filter applies at once.
    let moderated = loop {
        let event = cara.next_non_count_event().await.unwrap();
        if event.body.name() == "moderated" {
            break event;
        }
    };
    assert!(matches!(moderated.body, EventBody::Moderated { operator: None, .. }));
    assert_ok(&vic.request(Command::Comment { room: ROOM.into(), text: "ＦＲＥＥ stuff".into() }).await.unwrap());
    let held = loop {
        if let EventBody::CommentHeld { comment } = cara.next_non_count_event().await.unwrap().body {
            break comment;
        }
    };
    assert_eq!(held.reason, HoldReason::Keyword);
    // Replacing drops what is not in the new list; bad terms are `invalid` and change nothing.
    let (status, body) =
        hub.api_put("/api/v1/creators/cara/blocked-terms", serde_json::json!({"terms": [{"term": "dm me"}]})).await;
    assert_eq!((status, body["items"].as_array().unwrap().len()), (200, 1), "{body}");
    let (status, body) =
        hub.api_put("/api/v1/creators/cara/blocked-terms", serde_json::json!({"terms": [{"term": ""}]})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid")), "{body}");
    let (_, listed) = hub.api_get("/api/v1/creators/cara/blocked-terms").await;
    assert_eq!(listed["items"][0]["term"], "dm me");

    // Blocking a viewer takes it out of the live room at once, and refuses its next join.
    let viewer_id = format!("{ROOM}-viewer");
    let (status, body) =
        send(&hub, reqwest::Method::PUT, &format!("/api/v1/creators/cara/blocks/{viewer_id}"), None).await;
    assert_eq!((status, body["sanction"].as_str()), (200, Some("blocked")), "{body}");
    loop {
        if let EventBody::Removed { reason } = vic.next_non_count_event().await.unwrap().body {
            assert_eq!(reason, "blocked");
            break;
        }
    }
    assert_error(&vic.request(Command::Join { room: ROOM.into(), since: None }).await.unwrap(), ErrorCode::Forbidden);
    let (_, blocks) = hub.api_get("/api/v1/creators/cara/blocks").await;
    assert_eq!(blocks["items"][0]["user_id"], viewer_id.as_str());
    let (status, _) = send(&hub, reqwest::Method::PUT, "/api/v1/creators/cara/blocks/cara", None).await;
    assert_eq!(status, 400, "the creator cannot block itself");
    let path = format!("/api/v1/creators/cara/blocks/{viewer_id}");
    assert_eq!(send(&hub, reqwest::Method::DELETE, &path, None).await.0, 204);
    let (status, body) = send(&hub, reqwest::Method::DELETE, &path, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    ok_snapshot(vic.request(Command::Join { room: ROOM.into(), since: None }).await.unwrap());

    // Each change is audited with the platform as the acting principal.
    let mut audited = platform_audit(&hub).await;
    audited.sort();
    let expect = |c: &str| (c.to_string(), String::new());
    assert_eq!(
        audited,
        vec![expect("block"), expect("put_blocked_terms"), expect("put_blocked_terms"), expect("unblock")]
    );
}

#[tokio::test]
async fn live_events_are_created_changed_listed_and_cancelled_over_http() {
    let hub = start().await;
    let soon = stagehand::clock::now_ms() + DAY;
    let new =
        serde_json::json!({"room": "show-1", "title": "Spring sale", "starts_at": soon, "product_set_id": "set-1"});
    let (status, event) = hub.api_post("/api/v1/creators/cara/live-events", new.clone()).await;
    assert_eq!(status, 201, "{event}");
    let id = event["event_id"].as_str().unwrap().to_string();
    assert_eq!((event["creator_id"].as_str(), event["status"].as_str()), (Some("cara"), Some("scheduled")));
    let path = format!("/api/v1/creators/cara/live-events/{id}");
    let (status, changed) =
        send(&hub, reqwest::Method::PATCH, &path, Some(serde_json::json!({"title": "Spring sale, day 2"}))).await;
    assert_eq!((status, changed["title"].as_str()), (200, Some("Spring sale, day 2")), "{changed}");
    assert_eq!(hub.api_get(&path).await.1["title"], "Spring sale, day 2");
    // The creator sees it in its calendar over WebSocket.
    let mut cara = hub.creator(Wire::Json, "cara").await;
    let reply = cara.request(Command::ListLiveEvents { include_cancelled: false }).await.unwrap();
    assert!(format!("{reply:?}").contains(&id));
    // Another creator's path does not reach it.
    let (status, _) = hub.api_get(&format!("/api/v1/creators/olga/live-events/{id}")).await;
    assert_eq!(status, 404);
    let past = serde_json::json!({"room": "show-1", "title": "Late", "starts_at": 1});
    let (status, body) = hub.api_post("/api/v1/creators/cara/live-events", past).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid")));

    let (status, cancelled) = send(&hub, reqwest::Method::DELETE, &path, None).await;
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("cancelled")));
    let (status, body) = send(&hub, reqwest::Method::DELETE, &path, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")));
    let (_, list) = hub.api_get("/api/v1/creators/cara/live-events").await;
    assert!(list["items"].as_array().unwrap().is_empty());
    let (_, list) = hub.api_get("/api/v1/creators/cara/live-events?include_cancelled=true").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let mut audited = platform_audit(&hub).await;
    audited.sort();
    let expect = |c: &str| (c.to_string(), String::new());
    assert_eq!(audited, vec![expect("cancel_live_event"), expect("create_live_event"), expect("update_live_event")]);
}

#[tokio::test]
async fn the_twins_need_the_api_key_and_json_bodies() {
    let hub = start().await;
    let endpoints = [
        (reqwest::Method::PUT, "/api/v1/creators/cara/blocked-terms", r#"{"terms":[{"term":"x"}]}"#),
        (
            reqwest::Method::POST,
            "/api/v1/creators/cara/live-events",
            r#"{"room":"r","title":"t","starts_at":4102444800000}"#,
        ),
    ];
    for (method, path, body) in endpoints {
        let url = format!("{}{path}", hub.http_url);
        let response = hub
            .http
            .request(method.clone(), &url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path}");
        let response = hub
            .http
            .request(method.clone(), &url)
            .bearer_auth(API_KEY)
            .header("content-type", "text/plain")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 415, "{path}");
    }
    let (_, terms) = hub.api_get("/api/v1/creators/cara/blocked-terms").await;
    assert!(terms["items"].as_array().unwrap().is_empty(), "nothing was applied");
    let (status, body) =
        hub.api_put("/api/v1/creators/cara/blocked-terms", serde_json::json!({"terms": [], "extra": 1})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid")));
}
