//! Product sets: a creator's named lists of products, prepared before a LIVE and kept in the
//! store. The creator and agency staff with `shopping_bag` edit them over WebSocket, the platform
//! over HTTP; a set is loaded into a live room's shopping bag with [`load_into_bag`] (or added to
//! it with `bag_add`).
//!
//! Bounds: `max_product_sets` sets a creator, `max_products_per_set` products a set, and the field
//! lengths below.

use crate::clock::Clock;
use crate::config::Config;
use crate::error::{HubError, HubResult};
use crate::partner::StoreHandle;
use crate::rooms::features::bag;
use crate::rooms::Room;
use stagehand_protocol::server::Event;
use stagehand_protocol::types::{Product, ProductSet};
use std::collections::HashSet;
use std::sync::Arc;

/// Longest id (`set_id`, `product_id`), in characters.
pub const MAX_ID_CHARS: usize = 64;
/// Longest name or title, in characters.
pub const MAX_TITLE_CHARS: usize = 256;
/// Longest image URL, in characters.
pub const MAX_URL_CHARS: usize = 1024;
/// Highest price, in minor units (ten billion in major units).
pub const MAX_PRICE: u64 = 1_000_000_000_000;

/// Ids are 1–64 characters of `[A-Za-z0-9-_.:]`.
pub fn check_id(what: &str, id: &str) -> HubResult<()> {
    let ok = !id.is_empty()
        && id.chars().count() <= MAX_ID_CHARS
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    match ok {
        true => Ok(()),
        false => Err(HubError::invalid(format!("{what} is 1–{MAX_ID_CHARS} characters of [A-Za-z0-9-_.:]"))),
    }
}

/// A product's fields are within bounds.
pub fn check_product(product: &Product) -> HubResult<()> {
    check_id("product_id", &product.product_id)?;
    if product.title.trim().is_empty() || product.title.chars().count() > MAX_TITLE_CHARS {
        return Err(HubError::invalid(format!("a product title is 1–{MAX_TITLE_CHARS} characters")));
    }
    if product.price > MAX_PRICE {
        return Err(HubError::invalid(format!("prices are at most {MAX_PRICE} minor units")));
    }
    check_currency(&product.currency)?;
    if product.image_url.as_ref().is_some_and(|url| url.chars().count() > MAX_URL_CHARS) {
        return Err(HubError::invalid(format!("image URLs are at most {MAX_URL_CHARS} characters")));
    }
    Ok(())
}

pub fn check_currency(currency: &str) -> HubResult<()> {
    match currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()) {
        true => Ok(()),
        false => Err(HubError::invalid("a currency is three upper-case letters (ISO 4217)")),
    }
}

/// Create or replace one of `creator_id`'s sets.
pub async fn save(
    store: &StoreHandle,
    config: &Config,
    clock: Clock,
    creator_id: &str,
    set_id: String,
    name: String,
    products: Vec<Product>,
) -> HubResult<ProductSet> {
    check_id("set_id", &set_id)?;
    if name.trim().is_empty() || name.chars().count() > MAX_TITLE_CHARS {
        return Err(HubError::invalid(format!("a set name is 1–{MAX_TITLE_CHARS} characters")));
    }
    if products.len() > config.max_products_per_set {
        return Err(HubError::invalid(format!("a set holds at most {} products", config.max_products_per_set)));
    }
    let mut seen = HashSet::new();
    for product in &products {
        check_product(product)?;
        if !seen.insert(product.product_id.as_str()) {
            return Err(HubError::invalid(format!("product `{}` is in the set twice", product.product_id)));
        }
    }
    let set = ProductSet { set_id, name, products, updated_at: clock.now_ms() };
    let (creator, max) = (creator_id.to_string(), config.max_product_sets);
    store.write(move |tx| tx.save_product_set(&creator, set, max)).await
}

pub async fn delete(store: &StoreHandle, creator_id: &str, set_id: &str) -> HubResult<()> {
    let (creator, set) = (creator_id.to_string(), set_id.to_string());
    store.write(move |tx| tx.delete_product_set(&creator, &set)).await
}

pub async fn list(store: &StoreHandle, creator_id: &str) -> HubResult<Vec<ProductSet>> {
    let creator = creator_id.to_string();
    store.call(move |s| s.product_sets(&creator)).await
}

pub async fn get(store: &StoreHandle, creator_id: &str, set_id: &str) -> HubResult<ProductSet> {
    let (creator, set) = (creator_id.to_string(), set_id.to_string());
    store.call(move |s| s.product_set(&creator, &set)).await
}

/// Load the room creator's product set `set_id` into `room`'s shopping bag, replacing what it
/// held (a `bag` event with action `loaded`, as the creator's). For starting a LIVE from a
/// scheduled event that names a product set.
pub async fn load_into_bag(store: &StoreHandle, config: &Config, room: &Room, set_id: &str) -> HubResult<Arc<Event>> {
    let set = get(store, &room.creator.id, set_id).await?;
    bag::load(room, &set, config.max_bag_items)
}
