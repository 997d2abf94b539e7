//! Backend API for live operations: a creator's account health, and the moderation and
//! scheduling twins a platform backend needs.

use super::ApiResult;
use crate::hub::Hub;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use stagehand_protocol::types::AccountHealth;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Hub>> {
    Router::new().route("/creators/{creator_id}/health", get(health))
}

/// The creator's counts and what the check finds now.
async fn health(State(hub): State<Arc<Hub>>, Path(creator): Path<String>) -> ApiResult<Json<AccountHealth>> {
    crate::catalog::check_id("creator_id", &creator)?;
    let sources = crate::health::Sources {
        store: &hub.partner.store,
        rooms: &hub.rooms,
        moderation: &hub.services.moderation,
        config: &hub.config,
    };
    Ok(Json(crate::health::report(sources, &creator).await?))
}
