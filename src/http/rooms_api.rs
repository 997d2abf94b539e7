//! Backend API for rooms: schedule a room, read its public snapshot, publish the activity feed
//! (orders, subscriptions, follows, likes, gifts, shares), read a LIVE's summary.

use super::{json_body, ApiResult};
use crate::error::HubError;
use crate::hub::Hub;
use crate::rooms::features::{backend, lifecycle};
use crate::rooms::Audience;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use stagehand_protocol::types::{Actor, LiveSummary, Millis, Snapshot};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Hub>> {
    Router::new()
        .route("/rooms/{room}", get(get_room).put(put_room))
        .route("/rooms/{room}/events", post(publish))
        .route("/rooms/{room}/summary", get(summary))
}

#[derive(Deserialize)]
struct RoomSpec {
    creator_id: String,
    creator_name: String,
    title: String,
    #[serde(default)]
    starts_at: Option<Millis>,
}

/// Create (or update the schedule of) a room so viewers can join before it goes live.
async fn put_room(
    State(hub): State<Arc<Hub>>,
    Path(room): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Snapshot>> {
    let spec: RoomSpec = json_body(body)?;
    let max_title = hub.config.max_title_chars;
    if spec.creator_id.is_empty() || spec.title.trim().is_empty() || spec.title.chars().count() > max_title {
        return Err(
            HubError::invalid(format!("creator_id and a title of 1–{max_title} characters are required")).into()
        );
    }
    let creator = Actor { id: spec.creator_id, name: spec.creator_name };
    let room = hub.rooms.get_or_create(&room, &creator, Some(&spec.title))?;
    if let Some(starts_at) = spec.starts_at {
        lifecycle::schedule_room(&room, &spec.title, starts_at)?;
    }
    Ok(Json(room.snapshot(Audience::Viewers)))
}

async fn get_room(State(hub): State<Arc<Hub>>, Path(room): Path<String>) -> ApiResult<Json<Snapshot>> {
    Ok(Json(hub.rooms.get(&room)?.snapshot(Audience::Viewers)))
}

/// Publish one backend event. `202` with the light event's `seq` (none for likes); a retry of an
/// `event_id` seen within the dedupe window is `200` with `duplicate: true` and changes nothing.
async fn publish(
    State(hub): State<Arc<Hub>>,
    Path(room): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let event: backend::Publish = json_body(body)?;
    let target = hub.rooms.get(&room)?;
    hub.metrics.event_in(event.name());
    let limits = backend::Limits::from_config(&hub.config);
    let now = hub.config.clock.now_ms();
    let published = backend::publish(&target, event, limits, now, hub.partner.analysts(&target))?;
    // A backend publishing faster than the room's fan-out waits for it, instead of queueing.
    target.settled().await;
    let mut answer = serde_json::json!({ "room": room, "duplicate": published.duplicate });
    if let Some(seq) = published.seq {
        answer["seq"] = seq.into();
    }
    if let Some(likes) = published.likes {
        answer["likes"] = likes.into();
    }
    let status = if published.duplicate { StatusCode::OK } else { StatusCode::ACCEPTED };
    Ok((status, Json(answer)))
}

/// The summary of the room's latest LIVE that ended.
async fn summary(State(hub): State<Arc<Hub>>, Path(room): Path<String>) -> ApiResult<Json<LiveSummary>> {
    Ok(Json(hub.partner.summary(room, None).await?))
}
