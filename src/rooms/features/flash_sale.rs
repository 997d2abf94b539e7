//! Flash sales: a product at a sale price, a total quantity and a per-buyer limit, announced with
//! a countdown, open for a while, one at a time a room. Announced by the creator or agency staff
//! with `promotions` (or the platform over HTTP).
//!
//! The store is the stock authority (`store::commerce`): a sale is stored before it is announced,
//! and each claim is decided and stored on the store's writer thread before it is answered, so
//! stock never goes below zero nor a buyer past the limit however claims race, and an answered
//! claim survives `kill -9`. The room shows the sale as state events (`flash_sale`: countdown →
//! open → sold_out / ended, on the hub's clock via [`tick`]) and the units left as an ephemeral,
//! coalesced `flash_sale_stock` counter.

use super::lifecycle::require_live;
use crate::config::Config;
use crate::error::{HubError, HubResult};
use crate::partner::StoreHandle;
use crate::rooms::Room;
use crate::store::commerce::{Claim, NewClaim};
use stagehand_protocol::server::{Event, EventBody};
use stagehand_protocol::types::{
    Actor, FlashSale, FlashSaleStatus, Millis, NewFlashSale, Operator, RoomState as Phase,
};
use std::sync::Arc;

/// The flash-sale slice: the room's latest sale (its status says whether it is over).
pub type State = Option<FlashSale>;

pub fn apply(state: &mut State, body: &EventBody) {
    match body {
        EventBody::FlashSale { sale, .. } => *state = Some(sale.clone()),
        EventBody::FlashSaleStock { sale_id, remaining } => {
            if let Some(sale) = state.as_mut().filter(|sale| &sale.sale_id == sale_id) {
                // Units only ever go: a count that arrives after a lower one is stale.
                sale.remaining = sale.remaining.min(*remaining);
            }
        }
        _ => {}
    }
}

fn running(sale: &FlashSale) -> bool {
    sale.status != FlashSaleStatus::Ended
}

/// Check a new sale against the configured bounds.
pub fn check(new: &NewFlashSale, config: &Config) -> HubResult<()> {
    crate::catalog::check_product(&new.product)?;
    let within = |value: u64, min: u64, max: u64, what: &str| match (min..=max).contains(&value) {
        true => Ok(()),
        false => Err(HubError::invalid(format!("{what} is {min}–{max} ms"))),
    };
    within(new.countdown_ms, config.flash_sale_min_countdown_ms, config.flash_sale_max_countdown_ms, "countdown_ms")?;
    within(new.duration_ms, config.flash_sale_min_duration_ms, config.flash_sale_max_duration_ms, "duration_ms")?;
    if new.quantity == 0 || new.quantity > config.flash_sale_max_quantity {
        return Err(HubError::invalid(format!("quantity is 1–{}", config.flash_sale_max_quantity)));
    }
    if new.per_buyer_limit == 0 || new.per_buyer_limit > new.quantity {
        return Err(HubError::invalid("per_buyer_limit is 1–quantity"));
    }
    if new.sale_price > crate::catalog::MAX_PRICE {
        return Err(HubError::invalid("sale_price is out of range"));
    }
    Ok(())
}

/// The room must be live with no sale running.
fn require_free(state: &super::RoomState) -> HubResult<()> {
    require_live(state)?;
    match &state.flash_sale {
        Some(sale) if running(sale) => {
            Err(HubError::conflict(format!("flash sale `{}` is still running; one at a time", sale.sale_id)))
        }
        _ => Ok(()),
    }
}

/// Announce a flash sale in `room` as `by` (the real `operator` for agency staff): stored first,
/// then published as a `flash_sale` event in `countdown` (or `open` with no countdown).
pub async fn start(
    store: &StoreHandle,
    config: &Config,
    room: &Room,
    new: NewFlashSale,
    (by, operator): (Actor, Option<Operator>),
) -> HubResult<(Arc<Event>, FlashSale)> {
    check(&new, config)?;
    room.op().read(require_free)?;
    let now = config.clock.now_ms();
    let opens_at = now + new.countdown_ms;
    let sale = FlashSale {
        sale_id: String::new(),
        status: if new.countdown_ms == 0 { FlashSaleStatus::Open } else { FlashSaleStatus::Countdown },
        remaining: new.quantity,
        opens_at,
        ends_at: opens_at + new.duration_ms,
        product: new.product,
        sale_price: new.sale_price,
        quantity: new.quantity,
        per_buyer_limit: new.per_buyer_limit,
    };
    let (room_id, creator_id) = (room.id.clone(), room.creator.id.clone());
    let sale = store.write(move |tx| tx.create_flash_sale(&room_id, &creator_id, &sale, now)).await?;
    // Checked again: another sale may have started, or the room ended, while the store wrote.
    let published = {
        let op = room.op();
        op.read(require_free).map(|()| op.publish(EventBody::FlashSale { sale: sale.clone(), by: Some(by), operator }))
    };
    match published {
        Ok(event) => Ok((event, sale)),
        Err(refused) => {
            let sale_id = sale.sale_id.clone();
            // The room never showed it: no claim may be granted against it.
            if let Err(error) = store.write(move |tx| tx.close_flash_sale(&sale_id)).await {
                tracing::error!(?error, "could not close a flash sale the room refused");
            }
            Err(refused)
        }
    }
}

/// Claim units of `sale_id` in room `room_id` (`room`: the room, if this node has it). A retried
/// `claim_id` gets its first answer; a new claim needs the room to show the sale running.
pub async fn claim(
    store: &StoreHandle,
    config: &Config,
    room_id: &str,
    room: Option<&Room>,
    sale_id: &str,
    claim: NewClaim,
) -> HubResult<Claim> {
    crate::catalog::check_id("claim_id", &claim.claim_id)?;
    crate::catalog::check_id("buyer_id", &claim.buyer_id)?;
    if claim.quantity == 0 {
        return Err(HubError::invalid("quantity is at least 1"));
    }
    let accepting = room.is_some_and(|room| {
        room.op().read(|state| {
            state.lifecycle.phase == Phase::Live
                && state.flash_sale.as_ref().is_some_and(|sale| sale.sale_id == sale_id && running(sale))
        })
    });
    let now = config.clock.now_ms();
    let (room_key, sale_key) = (room_id.to_string(), sale_id.to_string());
    let claimed = store.write(move |tx| tx.claim(&room_key, &sale_key, claim, accepting, now)).await?;
    if let Some(room) = room {
        stock(room, sale_id, claimed.remaining);
    }
    Ok(claimed)
}

/// Show `remaining` units of `sale_id` in the room: a `flash_sale` event when it reached zero,
/// else a `flash_sale_stock` counter. A count that is not lower than the one shown is stale (a
/// claim answered earlier, told later) and is not shown.
pub fn stock(room: &Room, sale_id: &str, remaining: u32) {
    let op = room.op();
    let shown = op.read(|state| {
        state.flash_sale.clone().filter(|sale| sale.sale_id == sale_id && running(sale) && remaining < sale.remaining)
    });
    let Some(sale) = shown else { return };
    if remaining == 0 {
        let sale = FlashSale { status: FlashSaleStatus::SoldOut, remaining: 0, ..sale };
        op.publish(EventBody::FlashSale { sale, by: None, operator: None });
    } else {
        room.announce(EventBody::FlashSaleStock { sale_id: sale_id.to_string(), remaining });
    }
}

/// Housekeeping, once a second: open a sale whose countdown ended, end one whose time is up.
pub fn tick(room: &Room, now: Millis) {
    let op = room.op();
    let Some(sale) = op.read(|state| state.flash_sale.clone().filter(|_| state.lifecycle.phase == Phase::Live)) else {
        return;
    };
    let status = match sale.status {
        FlashSaleStatus::Ended => return,
        _ if now >= sale.ends_at => FlashSaleStatus::Ended,
        FlashSaleStatus::Countdown if now >= sale.opens_at => FlashSaleStatus::Open,
        _ => return,
    };
    op.publish(EventBody::FlashSale { sale: FlashSale { status, ..sale }, by: None, operator: None });
}
