//! Backend API for commerce: creators' product sets, and flash sales — announcing one in a live
//! room, reading it, and claiming its units (the hub is the stock authority; see
//! `rooms::features::flash_sale`).

use super::{json_body, ApiResult};
use crate::catalog;
use crate::hub::Hub;
use crate::rooms::features::flash_sale;
use crate::store::commerce::{Claim, NewClaim};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use stagehand_protocol::types::{FlashSale, NewFlashSale, Product, ProductSet};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Hub>> {
    Router::new()
        .route("/creators/{creator_id}/product-sets", get(list_sets))
        .route("/creators/{creator_id}/product-sets/{set_id}", get(get_set).put(put_set).delete(delete_set))
        .route("/rooms/{room}/flash-sales", post(create_sale))
        .route("/rooms/{room}/flash-sales/{sale_id}", get(get_sale))
        .route("/rooms/{room}/flash-sales/{sale_id}/claims", post(claim))
}

type Body = Result<Bytes, BytesRejection>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetSpec {
    name: String,
    products: Vec<Product>,
}

async fn list_sets(State(hub): State<Arc<Hub>>, Path(creator): Path<String>) -> ApiResult<Json<serde_json::Value>> {
    let items = catalog::list(&hub.partner.store, &creator).await?;
    Ok(Json(serde_json::json!({ "items": items })))
}

async fn get_set(
    State(hub): State<Arc<Hub>>,
    Path((creator, set_id)): Path<(String, String)>,
) -> ApiResult<Json<ProductSet>> {
    Ok(Json(catalog::get(&hub.partner.store, &creator, &set_id).await?))
}

async fn put_set(
    State(hub): State<Arc<Hub>>,
    Path((creator, set_id)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<ProductSet>> {
    let spec: SetSpec = json_body(body)?;
    catalog::check_id("creator_id", &creator)?;
    let config = &hub.config;
    Ok(Json(catalog::save(&hub.partner.store, config, config.clock, &creator, set_id, spec.name, spec.products).await?))
}

async fn delete_set(
    State(hub): State<Arc<Hub>>,
    Path((creator, set_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    catalog::delete(&hub.partner.store, &creator, &set_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Announce a flash sale as the room's creator (the platform acts for it).
async fn create_sale(
    State(hub): State<Arc<Hub>>,
    Path(room): Path<String>,
    body: Body,
) -> ApiResult<(StatusCode, Json<FlashSale>)> {
    let new: NewFlashSale = json_body(body)?;
    let room = hub.rooms.get(&room)?;
    let by = room.creator.clone();
    let (_, sale) = flash_sale::start(&hub.partner.store, &hub.config, &room, new, (by, None)).await?;
    Ok((StatusCode::CREATED, Json(sale)))
}

/// The sale as the store has it: `remaining` and `status` are authoritative.
async fn get_sale(
    State(hub): State<Arc<Hub>>,
    Path((room, sale_id)): Path<(String, String)>,
) -> ApiResult<Json<FlashSale>> {
    let now = hub.config.clock.now_ms();
    let stored = hub.partner.store.call(move |s| s.flash_sale(&room, &sale_id, now)).await?;
    Ok(Json(stored.sale))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimSpec {
    claim_id: String,
    buyer_id: String,
    quantity: u32,
}

async fn claim(
    State(hub): State<Arc<Hub>>,
    Path((room_id, sale_id)): Path<(String, String)>,
    body: Body,
) -> ApiResult<(StatusCode, Json<Claim>)> {
    let spec: ClaimSpec = json_body(body)?;
    let room = hub.rooms.find(&room_id);
    let new = NewClaim { claim_id: spec.claim_id, buyer_id: spec.buyer_id, quantity: spec.quantity };
    let claimed = flash_sale::claim(&hub.partner.store, &hub.config, &room_id, room.as_deref(), &sale_id, new).await?;
    Ok((StatusCode::CREATED, Json(claimed)))
}
