//! Commerce rows: creators' product sets, flash sales and the claims against them.
//!
//! The flash-sale tables are the hub's stock authority. A claim runs on the store's one writer
//! thread in one `IMMEDIATE` transaction: it reads the sale's `sold` count and the buyer's claimed
//! units, and writes the claim and the new count together, so however many claims race, each sees
//! the one before it — stock never goes below zero nor a buyer past the limit (the schema's
//! `CHECK (sold <= quantity)` holds it too). Only granted claims are stored: they are bounded by the
//! sale's quantity, and a refusal is re-decided the same way on a retry (stock and a buyer's units
//! only ever grow).

use rusqlite::{params, Connection, OptionalExtension, Row};
use stagehand_protocol::types::{FlashSale, FlashSaleStatus, Millis, Product, ProductSet};

use super::rows::sql_ms;
use super::StoreError;

/// Public flash-sale ids: `fs_` and the row id.
const SALE_PREFIX: &str = "fs_";

/// A sale as stored, before the hub knows the room's view of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSale {
    pub room: String,
    pub creator_id: String,
    /// The sale with `remaining` from the stored count and `status` from `now`.
    pub sale: FlashSale,
    /// Set when the hub closed it early (the room could not show it).
    pub closed: bool,
}

/// A claim to store: `quantity` units for `buyer_id`, idempotent by `claim_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClaim {
    pub claim_id: String,
    pub buyer_id: String,
    pub quantity: u32,
}

/// A granted claim, as it was first answered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Claim {
    pub claim_id: String,
    pub sale_id: String,
    pub buyer_id: String,
    pub quantity: u32,
    /// Units left right after this claim.
    pub remaining: u32,
    pub claimed_at: Millis,
    /// `true` when this answer repeats an earlier one (a retry of the same `claim_id`).
    #[serde(skip)]
    pub replayed: bool,
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(table: &'static str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt(table, e.to_string()))
}

fn set_from_row(row: &Row<'_>) -> Result<Result<ProductSet, StoreError>, rusqlite::Error> {
    let products: String = row.get("products")?;
    let updated_at: i64 = row.get("updated_at")?;
    let set_id: String = row.get("set_id")?;
    let name: String = row.get("name")?;
    Ok(parse::<Vec<Product>>("product_sets", &products).map(|products| ProductSet {
        set_id,
        name,
        products,
        updated_at: updated_at.max(0) as Millis,
    }))
}

/// Create `creator_id`'s set `set.set_id` or replace it; a new set must fit under `max_sets`.
pub(super) fn save_product_set(
    conn: &Connection,
    creator_id: &str,
    set: ProductSet,
    max_sets: u32,
) -> Result<ProductSet, StoreError> {
    let exists: bool = conn
        .prepare_cached("SELECT 1 FROM product_sets WHERE creator_id = ?1 AND set_id = ?2")?
        .exists(params![creator_id, set.set_id])?;
    if !exists {
        let count: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM product_sets WHERE creator_id = ?1")?
            .query_row(params![creator_id], |row| row.get(0))?;
        if count >= i64::from(max_sets) {
            return Err(StoreError::Conflict(format!("a creator has at most {max_sets} product sets")));
        }
    }
    conn.prepare_cached(
        "INSERT INTO product_sets (creator_id, set_id, name, products, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (creator_id, set_id) DO UPDATE SET name = ?3, products = ?4, updated_at = ?5",
    )?
    .execute(params![creator_id, set.set_id, set.name, json(&set.products)?, sql_ms(set.updated_at, "now")?])?;
    Ok(set)
}

pub(super) fn delete_product_set(conn: &Connection, creator_id: &str, set_id: &str) -> Result<(), StoreError> {
    let deleted = conn
        .prepare_cached("DELETE FROM product_sets WHERE creator_id = ?1 AND set_id = ?2")?
        .execute(params![creator_id, set_id])?;
    match deleted {
        0 => Err(StoreError::NotFound(format!("no product set `{set_id}`"))),
        _ => Ok(()),
    }
}

/// `creator_id`'s sets, most recently changed first.
pub(super) fn product_sets(conn: &Connection, creator_id: &str) -> Result<Vec<ProductSet>, StoreError> {
    let mut statement =
        conn.prepare_cached("SELECT * FROM product_sets WHERE creator_id = ?1 ORDER BY updated_at DESC, set_id")?;
    let rows = statement.query_map(params![creator_id], set_from_row)?;
    rows.map(|row| row?).collect()
}

pub(super) fn product_set(conn: &Connection, creator_id: &str, set_id: &str) -> Result<ProductSet, StoreError> {
    conn.prepare_cached("SELECT * FROM product_sets WHERE creator_id = ?1 AND set_id = ?2")?
        .query_row(params![creator_id, set_id], set_from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no product set `{set_id}`")))?
}

/// Store a new sale of `room`; `sale.sale_id` is ignored and the stored one returned.
pub(super) fn create_flash_sale(
    conn: &Connection,
    room: &str,
    creator_id: &str,
    sale: &FlashSale,
    now: Millis,
) -> Result<FlashSale, StoreError> {
    conn.prepare_cached(
        "INSERT INTO flash_sales (room, creator_id, product, sale_price, quantity, per_buyer_limit, opens_at,
                                  ends_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        room,
        creator_id,
        json(&sale.product)?,
        sql_ms(sale.sale_price, "sale_price")?,
        sale.quantity,
        sale.per_buyer_limit,
        sql_ms(sale.opens_at, "opens_at")?,
        sql_ms(sale.ends_at, "ends_at")?,
        sql_ms(now, "now")?,
    ])?;
    Ok(FlashSale { sale_id: format!("{SALE_PREFIX}{}", conn.last_insert_rowid()), ..sale.clone() })
}

/// Close a sale early: no claim is granted after this.
pub(super) fn close_flash_sale(conn: &Connection, sale_id: &str) -> Result<(), StoreError> {
    let id = sale_rowid(sale_id)?;
    conn.prepare_cached("UPDATE flash_sales SET closed = 1 WHERE id = ?1")?.execute(params![id])?;
    Ok(())
}

fn sale_rowid(sale_id: &str) -> Result<i64, StoreError> {
    sale_id
        .strip_prefix(SALE_PREFIX)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| StoreError::NotFound(format!("no flash sale `{sale_id}`")))
}

/// The sale `sale_id` of `room`, as of `now`.
pub(super) fn flash_sale(conn: &Connection, room: &str, sale_id: &str, now: Millis) -> Result<StoredSale, StoreError> {
    let id = sale_rowid(sale_id)?;
    let found = conn
        .prepare_cached("SELECT * FROM flash_sales WHERE id = ?1 AND room = ?2")?
        .query_row(params![id, room], |row| {
            let product: String = row.get("product")?;
            let int = |name: &str| row.get::<_, i64>(name).map(|v| v.max(0) as u64);
            let (quantity, sold) = (int("quantity")? as u32, int("sold")? as u32);
            let (opens_at, ends_at) = (int("opens_at")?, int("ends_at")?);
            let closed = row.get::<_, i64>("closed")? != 0;
            let remaining = quantity.saturating_sub(sold);
            let status = match () {
                _ if closed || now >= ends_at => FlashSaleStatus::Ended,
                _ if remaining == 0 => FlashSaleStatus::SoldOut,
                _ if now < opens_at => FlashSaleStatus::Countdown,
                _ => FlashSaleStatus::Open,
            };
            Ok(parse::<Product>("flash_sales", &product).map(|product| StoredSale {
                room: row.get("room").unwrap_or_default(),
                creator_id: row.get("creator_id").unwrap_or_default(),
                closed,
                sale: FlashSale {
                    sale_id: sale_id.to_string(),
                    product,
                    sale_price: int("sale_price").unwrap_or(0),
                    quantity,
                    per_buyer_limit: int("per_buyer_limit").unwrap_or(0) as u32,
                    opens_at,
                    ends_at,
                    status,
                    remaining,
                },
            }))
        })
        .optional()?;
    found.ok_or_else(|| StoreError::NotFound(format!("no flash sale `{sale_id}` in room `{room}`")))?
}

/// Claim units of `sale_id`. A `claim_id` already granted is answered as it was the first time
/// (`replayed`), even when the sale is over; naming it with another buyer or quantity is a
/// `Conflict`. A new claim needs `accepting` (the room shows the sale) and the sale open at `now`.
pub(super) fn claim(
    conn: &Connection,
    room: &str,
    sale_id: &str,
    claim: NewClaim,
    accepting: bool,
    now: Millis,
) -> Result<Claim, StoreError> {
    let stored = flash_sale(conn, room, sale_id, now)?;
    let id = sale_rowid(sale_id)?;
    let earlier = conn
        .prepare_cached(
            "SELECT buyer_id, quantity, remaining, claimed_at FROM flash_claims WHERE sale_id = ?1 AND claim_id = ?2",
        )?
        .query_row(params![id, claim.claim_id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, u32>(1)?, row.get::<_, u32>(2)?, row.get::<_, i64>(3)?))
        })
        .optional()?;
    if let Some((buyer_id, quantity, remaining, claimed_at)) = earlier {
        if buyer_id != claim.buyer_id || quantity != claim.quantity {
            return Err(StoreError::Conflict(format!(
                "claim `{}` was made for another buyer or quantity",
                claim.claim_id
            )));
        }
        return Ok(Claim {
            claim_id: claim.claim_id,
            sale_id: sale_id.to_string(),
            buyer_id,
            quantity,
            remaining,
            claimed_at: claimed_at.max(0) as Millis,
            replayed: true,
        });
    }
    let sale = &stored.sale;
    match sale.status {
        FlashSaleStatus::Countdown => {
            return Err(StoreError::Conflict(format!("the sale opens at {}", sale.opens_at)));
        }
        FlashSaleStatus::Ended => return Err(StoreError::Conflict("the sale has ended".into())),
        _ if !accepting => return Err(StoreError::Conflict("the sale is not running in this room".into())),
        _ => {}
    }
    if claim.quantity > sale.remaining {
        let message = match sale.remaining {
            0 => "the sale is sold out".to_string(),
            left => format!("only {left} units are left"),
        };
        return Err(StoreError::SoldOut { message, remaining: sale.remaining });
    }
    let bought: i64 = conn
        .prepare_cached("SELECT COALESCE(SUM(quantity), 0) FROM flash_claims WHERE sale_id = ?1 AND buyer_id = ?2")?
        .query_row(params![id, claim.buyer_id], |row| row.get(0))?;
    if bought + i64::from(claim.quantity) > i64::from(sale.per_buyer_limit) {
        return Err(StoreError::LimitReached(format!(
            "a buyer may claim at most {} units; {} already claimed",
            sale.per_buyer_limit, bought
        )));
    }
    let remaining = sale.remaining - claim.quantity;
    conn.prepare_cached("UPDATE flash_sales SET sold = sold + ?2 WHERE id = ?1")?
        .execute(params![id, claim.quantity])?;
    conn.prepare_cached(
        "INSERT INTO flash_claims (sale_id, claim_id, buyer_id, quantity, remaining, claimed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![id, claim.claim_id, claim.buyer_id, claim.quantity, remaining, sql_ms(now, "now")?])?;
    Ok(Claim {
        claim_id: claim.claim_id,
        sale_id: sale_id.to_string(),
        buyer_id: claim.buyer_id,
        quantity: claim.quantity,
        remaining,
        claimed_at: now,
        replayed: false,
    })
}
