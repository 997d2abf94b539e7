//! Backend API for live operations: a creator's account health, and the moderation and
//! scheduling twins a platform backend needs (keyword list, blocked accounts, LIVE events). The
//! changes are the WebSocket commands' own, audited with the platform as the acting principal.

use super::{json_body, ApiResult};
use crate::hub::Hub;
use crate::rooms::features::moderation::platform;
use crate::rooms::features::schedule::commands as schedule;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use stagehand_protocol::server::ReplyResult;
use stagehand_protocol::types::{AccountHealth, BlockedTerm, LiveEventInfo, Millis, ModeratedUser};
use stagehand_protocol::Command;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Hub>> {
    Router::new()
        .route("/creators/{creator_id}/health", get(health))
        .route("/creators/{creator_id}/blocked-terms", get(list_terms).put(put_terms))
        .route("/creators/{creator_id}/blocks", get(list_blocks))
        .route("/creators/{creator_id}/blocks/{user_id}", put(block).delete(unblock))
        .route("/creators/{creator_id}/live-events", get(list_events).post(create_event))
        .route("/creators/{creator_id}/live-events/{event_id}", get(get_event).patch(update_event).delete(cancel_event))
}

type Body = Result<Bytes, BytesRejection>;

fn creator(id: &str) -> ApiResult<()> {
    Ok(crate::catalog::check_id("creator_id", id)?)
}

/// The creator's counts and what the check finds now.
async fn health(State(hub): State<Arc<Hub>>, Path(creator_id): Path<String>) -> ApiResult<Json<AccountHealth>> {
    creator(&creator_id)?;
    let sources = crate::health::Sources {
        store: &hub.partner.store,
        rooms: &hub.rooms,
        moderation: &hub.services.moderation,
        config: &hub.config,
    };
    Ok(Json(crate::health::report(sources, &creator_id).await?))
}

// ---- moderation ----------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TermsSpec {
    terms: Vec<BlockedTerm>,
}

async fn list_terms(State(hub): State<Arc<Hub>>, Path(creator_id): Path<String>) -> ApiResult<Json<Value>> {
    let items = hub.services.moderation.terms(&creator_id, hub.config.clock.now_ms());
    Ok(Json(json!({ "items": items })))
}

/// Replace the creator's keyword list.
async fn put_terms(State(hub): State<Arc<Hub>>, Path(creator_id): Path<String>, body: Body) -> ApiResult<Json<Value>> {
    let spec: TermsSpec = json_body(body)?;
    creator(&creator_id)?;
    let items = platform::replace_terms(&hub.services.moderation, &creator_id, spec.terms).await?;
    Ok(Json(json!({ "items": items })))
}

async fn list_blocks(State(hub): State<Arc<Hub>>, Path(creator_id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "items": platform::blocked(&hub.services.moderation, &creator_id) })))
}

async fn block(
    State(hub): State<Arc<Hub>>,
    Path((creator_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<ModeratedUser>> {
    creator(&creator_id)?;
    Ok(Json(platform::block(&hub.services.moderation, &creator_id, &user_id).await?))
}

async fn unblock(
    State(hub): State<Arc<Hub>>,
    Path((creator_id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    platform::unblock(&hub.services.moderation, &creator_id, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- scheduling ----------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEvent {
    room: String,
    title: String,
    starts_at: Millis,
    #[serde(default)]
    product_set_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventChange {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    starts_at: Option<Millis>,
    #[serde(default)]
    product_set_id: Option<String>,
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    include_cancelled: bool,
}

async fn run(hub: &Hub, creator_id: &str, command: Command) -> ApiResult<ReplyResult> {
    creator(creator_id)?;
    let (store, now) = (&hub.partner.store, hub.config.clock.now_ms());
    let settings = crate::commands::schedule_settings(&hub.config);
    Ok(schedule::handle_for_platform(store, settings, now, creator_id, &command).await?)
}

fn event_of(result: ReplyResult) -> ApiResult<LiveEventInfo> {
    match result {
        ReplyResult::LiveEvent { event } => Ok(event),
        _ => Err(crate::error::HubError::internal("unexpected scheduling result").into()),
    }
}

async fn list_events(
    State(hub): State<Arc<Hub>>,
    Path(creator_id): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    match run(&hub, &creator_id, Command::ListLiveEvents { include_cancelled: q.include_cancelled }).await? {
        ReplyResult::LiveEvents { items } => Ok(Json(json!({ "items": items }))),
        _ => Err(crate::error::HubError::internal("unexpected scheduling result").into()),
    }
}

async fn get_event(
    State(hub): State<Arc<Hub>>,
    Path((creator_id, event_id)): Path<(String, String)>,
) -> ApiResult<Json<LiveEventInfo>> {
    let event = hub.partner.store.write(move |tx| tx.live_event(&event_id, &creator_id)).await?;
    Ok(Json(event))
}

async fn create_event(
    State(hub): State<Arc<Hub>>,
    Path(creator_id): Path<String>,
    body: Body,
) -> ApiResult<(StatusCode, Json<LiveEventInfo>)> {
    let spec: NewEvent = json_body(body)?;
    let command = Command::CreateLiveEvent {
        room: spec.room,
        title: spec.title,
        starts_at: spec.starts_at,
        product_set_id: spec.product_set_id,
    };
    Ok((StatusCode::CREATED, Json(event_of(run(&hub, &creator_id, command).await?)?)))
}

async fn update_event(
    State(hub): State<Arc<Hub>>,
    Path((creator_id, event_id)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<LiveEventInfo>> {
    let change: EventChange = json_body(body)?;
    let command = Command::UpdateLiveEvent {
        event_id,
        title: change.title,
        starts_at: change.starts_at,
        product_set_id: change.product_set_id,
    };
    Ok(Json(event_of(run(&hub, &creator_id, command).await?)?))
}

async fn cancel_event(
    State(hub): State<Arc<Hub>>,
    Path((creator_id, event_id)): Path<(String, String)>,
) -> ApiResult<Json<LiveEventInfo>> {
    Ok(Json(event_of(run(&hub, &creator_id, Command::CancelLiveEvent { event_id }).await?)?))
}
