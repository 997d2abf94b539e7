//! Commerce commands that wait on the store: product sets (the creator's, or for agency staff the
//! creator their token names), `bag_add` from a set (read before the bag changes), and
//! `start_flash_sale` (stored before it is announced). The room-only bag commands are the bag
//! feature's (`rooms::features::bag`).

use super::Services;
use crate::auth::Identity;
use crate::catalog;
use crate::error::{HubError, HubResult};
use crate::rooms::features::{acting_as, bag, flash_sale, Answer, Outcome};
use crate::rooms::Room;
use stagehand_protocol::server::ReplyResult;
use stagehand_protocol::Command;

/// Whether the command layer runs `command` here rather than in a room feature.
pub fn handles(command: &Command) -> bool {
    matches!(
        command,
        Command::SaveProductSet { .. }
            | Command::DeleteProductSet { .. }
            | Command::ListProductSets
            | Command::BagAdd { set_id: Some(_), product: None, .. }
            | Command::StartFlashSale { .. }
    )
}

/// The creator whose product sets a caller works on.
fn creator_of(identity: &Identity) -> &str {
    match &identity.agency {
        Some(agency) => &agency.creator_id,
        None => &identity.user.id,
    }
}

pub async fn handle(
    services: &Services,
    identity: &Identity,
    room: Option<&Room>,
    command: &Command,
) -> HubResult<Answer> {
    let store = &services.partner.store;
    let config = &services.config;
    let existing = || room.ok_or_else(|| HubError::not_found("no such room"));
    let result = match command {
        Command::SaveProductSet { set_id, name, products } => {
            let creator = creator_of(identity);
            let set =
                catalog::save(store, config, config.clock, creator, set_id.clone(), name.clone(), products.clone())
                    .await?;
            ReplyResult::ProductSet { set }
        }
        Command::DeleteProductSet { set_id } => {
            catalog::delete(store, creator_of(identity), set_id).await?;
            ReplyResult::ProductSetDeleted { set_id: set_id.clone() }
        }
        Command::ListProductSets => {
            ReplyResult::ProductSets { items: catalog::list(store, creator_of(identity)).await? }
        }
        Command::BagAdd { version, set_id: Some(set_id), .. } => {
            let room = existing()?;
            let set = catalog::get(store, &room.creator.id, set_id).await?;
            let acting = acting_as(identity, room);
            let Outcome { answer, .. } = bag::add(room, *version, &set.products, false, config.max_bag_items, acting)?;
            return Ok(answer);
        }
        Command::StartFlashSale { sale, .. } => {
            let room = existing()?;
            let (event, sale) = flash_sale::start(store, config, room, sale.clone(), acting_as(identity, room)).await?;
            ReplyResult::FlashSale { seq: event.seq, sale }
        }
        other => return Err(HubError::internal(format!("`{}` is not a commerce command", other.name()))),
    };
    Ok(Answer::Reply(result))
}
