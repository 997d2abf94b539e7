//! The shopping bag of a live room: an ordered list of products, at most one pinned, edited by
//! the creator and agency staff with `shopping_bag`.
//!
//! Every change is one `bag` event carrying the whole new bag and its version (the previous one
//! plus one), so what a member shows is always a bag the hub had. A command names the version it
//! was made against and is refused with `conflict` (and the current version) when the bag moved
//! on meanwhile: a creator and an agency editing at once never overwrite each other unseen.
//! Bounded by `max_bag_items`.

use super::lifecycle::require_live;
use super::{Ctx, Outcome};
use crate::catalog::check_product;
use crate::error::{HubError, HubResult};
use crate::rooms::room::Op;
use crate::rooms::Room;
use stagehand_protocol::server::{Event, EventBody, ReplyResult};
use stagehand_protocol::types::{Actor, Bag, BagAction, BagItem, Operator, Product, ProductSet, RoomState as Phase};
use stagehand_protocol::Command;
use std::sync::Arc;

/// The bag slice: the bag as the last `bag` event left it.
pub type State = Bag;

pub fn apply(state: &mut State, body: &EventBody) {
    if let EventBody::Bag { bag, .. } = body {
        *state = bag.clone();
    }
}

/// The bag commands but `bag_add` with a `set_id` (which reads the store first: [`add`]).
pub fn handle(ctx: &mut Ctx<'_>, room: &Room, command: &Command) -> HubResult<Outcome> {
    let max = ctx.rooms.config().max_bag_items;
    let (by, operator) = ctx.acting_as(room);
    let (version, action, product_id): (u64, BagAction, Option<&String>) = match command {
        Command::BagAdd { version, product: Some(product), set_id: None, .. } => {
            return add(room, *version, std::slice::from_ref(product), true, max, (by, operator));
        }
        Command::BagAdd { .. } => {
            return Err(HubError::invalid("`bag_add` takes exactly one of `product` and `set_id`"))
        }
        Command::BagRemove { version, product_id, .. } => (*version, BagAction::Removed, Some(product_id)),
        Command::BagMove { version, product_id, .. } => (*version, BagAction::Moved, Some(product_id)),
        Command::BagPin { version, product_id, .. } => (*version, BagAction::Pinned, Some(product_id)),
        Command::BagUnpin { version, .. } => (*version, BagAction::Unpinned, None),
        Command::BagSoldOut { version, product_id, .. } => (*version, BagAction::SoldOut, Some(product_id)),
        other => return Err(HubError::internal(format!("`{}` is not a bag command", other.name()))),
    };
    change(room, version, action, product_id.cloned(), (by, operator), |bag| {
        let index = |id: &String| {
            bag.items
                .iter()
                .position(|item| &item.product.product_id == id)
                .ok_or_else(|| HubError::not_found(format!("product `{id}` is not in the bag")))
        };
        match command {
            Command::BagRemove { product_id, .. } => {
                let at = index(product_id)?;
                bag.items.remove(at);
                if bag.pinned.as_ref() == Some(product_id) {
                    bag.pinned = None;
                }
            }
            Command::BagMove { product_id, position, .. } => {
                let at = index(product_id)?;
                let to = *position as usize;
                if to >= bag.items.len() {
                    return Err(HubError::invalid(format!("positions are 0–{}", bag.items.len() - 1)));
                }
                let item = bag.items.remove(at);
                bag.items.insert(to, item);
            }
            Command::BagPin { product_id, .. } => {
                index(product_id)?;
                bag.pinned = Some(product_id.clone());
            }
            Command::BagUnpin { .. } => {
                bag.pinned.take().ok_or_else(|| HubError::conflict("no product is pinned"))?;
            }
            Command::BagSoldOut { product_id, .. } => {
                let at = index(product_id)?;
                if bag.items[at].sold_out {
                    return Err(HubError::conflict(format!("product `{product_id}` is already sold out")));
                }
                bag.items[at].sold_out = true;
            }
            _ => {}
        }
        Ok(())
    })
}

/// `bag_add`: append `products` not in the bag yet. A single product already there is a
/// `conflict`; from a set (`single: false`) those already there are skipped.
pub fn add(
    room: &Room,
    version: u64,
    products: &[Product],
    single: bool,
    max_items: usize,
    acting: (Actor, Option<Operator>),
) -> HubResult<Outcome> {
    for product in products {
        check_product(product)?;
    }
    let product_id = single.then(|| products[0].product_id.clone());
    change(room, version, BagAction::Added, product_id, acting, |bag| {
        let mut added = 0;
        for product in products {
            if bag.items.iter().any(|item| item.product.product_id == product.product_id) {
                if single {
                    return Err(HubError::conflict(format!("product `{}` is already in the bag", product.product_id)));
                }
                continue;
            }
            if bag.items.len() >= max_items {
                return Err(HubError::unavailable(format!("the bag holds at most {max_items} products")));
            }
            bag.items.push(BagItem { product: product.clone(), sold_out: !product.in_stock });
            added += 1;
        }
        match added {
            0 => Err(HubError::conflict("every product of the set is already in the bag")),
            _ => Ok(()),
        }
    })
}

/// Check the version and that the room is live, apply `edit` to a copy of the bag, and publish
/// the result as the next version — all under the room's operation lock.
fn change(
    room: &Room,
    version: u64,
    action: BagAction,
    product_id: Option<String>,
    (by, operator): (Actor, Option<Operator>),
    edit: impl FnOnce(&mut Bag) -> HubResult<()>,
) -> HubResult<Outcome> {
    let op = room.op();
    let mut bag = op.read(|state| {
        require_live(state)?;
        match state.bag.version == version {
            true => Ok(state.bag.clone()),
            false => Err(HubError::stale_version(state.bag.version)),
        }
    })?;
    edit(&mut bag)?;
    bag.version += 1;
    let event = op.publish(EventBody::Bag { action, product_id, bag: bag.clone(), by, operator });
    Ok(Outcome::reply(ReplyResult::Bag { seq: event.seq, bag }))
}

/// Replace the bag's contents with `set`'s products (the first `max_items`), unpinned, as the
/// creator's change (`loaded`), whatever its version. The room must not have ended.
pub fn load(room: &Room, set: &ProductSet, max_items: usize) -> HubResult<Arc<Event>> {
    load_in(&room.op(), room, set, max_items)
}

/// [`load`] under an operation the caller already holds (starting a LIVE from a scheduled event
/// loads its set before anything else can happen in the room).
pub fn load_in(op: &Op<'_>, room: &Room, set: &ProductSet, max_items: usize) -> HubResult<Arc<Event>> {
    let mut bag = op.read(|state| match state.lifecycle.phase {
        Phase::Ended => Err(HubError::not_live("the room has ended")),
        _ => Ok(state.bag.clone()),
    })?;
    bag.items = set
        .products
        .iter()
        .take(max_items)
        .map(|product| BagItem { product: product.clone(), sold_out: !product.in_stock })
        .collect();
    bag.pinned = None;
    bag.version += 1;
    let by = room.creator.clone();
    Ok(op.publish(EventBody::Bag { action: BagAction::Loaded, product_id: None, bag, by, operator: None }))
}
