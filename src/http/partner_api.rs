//! Backend API for Creator Partner Access: the same operations as the WebSocket commands, for the
//! platform's and agencies' backends (and admins reading the audit trail).

use super::{json_body, ApiResult};
use crate::error::HubError;
use crate::hub::Hub;
use crate::partner::Actor;
use crate::store::{GrantFilter, LinkFilter, NewRequest, Party, RequestFilter};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use stagehand_protocol::client::NewLink;
use stagehand_protocol::types::{AccessRequestInfo, RequestStatus, Scope};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Hub>> {
    Router::new()
        .route("/access-requests", post(create_request).get(list_requests))
        .route("/access-requests/{request_id}/accept", post(accept))
        .route("/access-requests/{request_id}/decline", post(decline))
        .route("/links", get(list_links))
        .route("/links/{link_id}/unlink", post(unlink))
        .route("/grants", get(list_grants))
        .route("/creators/{creator_id}/agencies/{agency_id}/suspend", post(suspend))
        .route("/creators/{creator_id}/agencies/{agency_id}/resume", post(resume))
        .route("/audit", get(audit))
        .route("/notifications", get(notifications))
        .route("/notifications/ack", post(ack))
}

type Body = Result<Bytes, BytesRejection>;

#[derive(Deserialize)]
struct CreateRequest {
    creator_id: String,
    agency_id: String,
    agency_name: String,
    requested_by: String,
    #[serde(default)]
    link: Option<NewLink>,
    #[serde(default = "yes", deserialize_with = "yes_if_null")]
    live_access: bool,
    #[serde(default)]
    scopes: Option<Vec<Scope>>,
}

fn yes() -> bool {
    true
}

/// `live_access: null` means absent, i.e. `true` (as for every optional field).
fn yes_if_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(true))
}

/// An inbox key as the notifications endpoints take it: `user:<id>` or `agency:<id>`.
fn recipient(value: Option<String>) -> Result<String, HubError> {
    let value = value.ok_or_else(|| HubError::invalid("recipient is required"))?;
    let valid = ["user:", "agency:"].iter().any(|prefix| value.strip_prefix(prefix).is_some_and(|id| !id.is_empty()));
    if !valid {
        return Err(HubError::invalid("recipient must be `user:<id>` or `agency:<id>`"));
    }
    Ok(value)
}

async fn create_request(State(hub): State<Arc<Hub>>, body: Body) -> ApiResult<(StatusCode, Json<AccessRequestInfo>)> {
    let r: CreateRequest = json_body(body)?;
    let request = hub
        .partner
        .request(
            NewRequest {
                creator_id: r.creator_id,
                agency_id: r.agency_id,
                agency_name: r.agency_name,
                requested_by: r.requested_by,
                link: r.link,
                live_access: r.live_access,
                scopes: r.scopes.unwrap_or_else(|| Scope::ALL.to_vec()),
            },
            None,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(request)))
}

#[derive(Deserialize, Default)]
struct PartyQuery {
    creator_id: Option<String>,
    agency_id: Option<String>,
    status: Option<RequestStatus>,
    #[serde(default)]
    live_only: bool,
}

async fn list_requests(State(hub): State<Arc<Hub>>, Query(q): Query<PartyQuery>) -> ApiResult<Json<Value>> {
    let filter = RequestFilter { creator_id: q.creator_id, agency_id: q.agency_id, status: q.status };
    let now = hub.config.clock.now_ms();
    let items = hub.partner.store.call(move |s| s.requests(&filter, now)).await?;
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize)]
struct Decide {
    creator_id: String,
}

async fn accept(state: State<Arc<Hub>>, id: Path<String>, body: Body) -> ApiResult<Json<Value>> {
    decide(state, id, body, true).await
}

async fn decline(state: State<Arc<Hub>>, id: Path<String>, body: Body) -> ApiResult<Json<Value>> {
    decide(state, id, body, false).await
}

async fn decide(
    State(hub): State<Arc<Hub>>,
    Path(id): Path<String>,
    body: Body,
    accept: bool,
) -> ApiResult<Json<Value>> {
    let Decide { creator_id } = json_body(body)?;
    let d = hub.partner.decide(id, creator_id, accept).await?;
    Ok(Json(json!({ "request": d.request, "link": d.link, "grant": d.grant })))
}

async fn list_links(State(hub): State<Arc<Hub>>, Query(q): Query<PartyQuery>) -> ApiResult<Json<Value>> {
    let filter = LinkFilter { creator_id: q.creator_id, agency_id: q.agency_id };
    let now = hub.config.clock.now_ms();
    let items = hub.partner.store.call(move |s| s.links(&filter, now)).await?;
    Ok(Json(json!({ "items": items })))
}

async fn unlink(State(hub): State<Arc<Hub>>, Path(link_id): Path<String>) -> ApiResult<Json<Value>> {
    let u = hub.partner.unlink(link_id, Party::Admin, None).await?;
    Ok(Json(json!({ "link": u.link, "revoked": u.revoked })))
}

async fn list_grants(State(hub): State<Arc<Hub>>, Query(q): Query<PartyQuery>) -> ApiResult<Json<Value>> {
    let filter = GrantFilter { creator_id: q.creator_id, agency_id: q.agency_id, live_only: q.live_only };
    let now = hub.config.clock.now_ms();
    let items = hub.partner.store.call(move |s| s.grants(&filter, now)).await?;
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize, Default)]
struct Reason {
    #[serde(default)]
    reason: Option<String>,
}

async fn suspend(hub: State<Arc<Hub>>, ids: Path<(String, String)>, body: Body) -> ApiResult<Json<Value>> {
    // An empty body is fine here: the reason is optional.
    let reason = match &body {
        Ok(bytes) if bytes.is_empty() => Reason::default(),
        _ => json_body(body)?,
    };
    set_suspended(hub, ids, true, reason.reason).await
}

async fn resume(hub: State<Arc<Hub>>, ids: Path<(String, String)>) -> ApiResult<Json<Value>> {
    set_suspended(hub, ids, false, None).await
}

async fn set_suspended(
    State(hub): State<Arc<Hub>>,
    Path((creator_id, agency_id)): Path<(String, String)>,
    suspend: bool,
    reason: Option<String>,
) -> ApiResult<Json<Value>> {
    let by = Actor { id: "platform", name: "Platform (API)" };
    let grant = hub.partner.set_suspended(creator_id, agency_id, suspend, by, reason).await?;
    Ok(Json(json!(grant)))
}

#[derive(Deserialize)]
struct PageQuery {
    creator_id: Option<String>,
    agency_id: Option<String>,
    recipient: Option<String>,
    #[serde(default)]
    unread_only: bool,
    before: Option<u64>,
    limit: Option<u32>,
}

async fn audit(State(hub): State<Arc<Hub>>, Query(q): Query<PageQuery>) -> ApiResult<Json<Value>> {
    let creator = q.creator_id.ok_or_else(|| HubError::invalid("creator_id is required"))?;
    let (agency, before, limit) = (q.agency_id, q.before, q.limit.unwrap_or(100));
    let page = hub.partner.store.call(move |s| s.audit_page(&creator, agency.as_deref(), before, limit)).await?;
    Ok(Json(json!({ "items": page.items, "next_before": page.next_before })))
}

async fn notifications(State(hub): State<Arc<Hub>>, Query(q): Query<PageQuery>) -> ApiResult<Json<Value>> {
    let recipient = recipient(q.recipient)?;
    let (unread, before, limit) = (q.unread_only, q.before, q.limit.unwrap_or(50));
    let items = hub.partner.store.call(move |s| s.notifications(&recipient, unread, before, limit)).await?;
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize)]
struct Ack {
    recipient: String,
    notification_ids: Vec<u64>,
}

async fn ack(State(hub): State<Arc<Hub>>, body: Body) -> ApiResult<Json<Value>> {
    let Ack { recipient: to, notification_ids } = json_body(body)?;
    let updated = hub.partner.ack(recipient(Some(to))?, notification_ids).await?;
    Ok(Json(json!({ "updated": updated })))
}
