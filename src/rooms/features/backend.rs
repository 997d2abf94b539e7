//! Orders and activity: events the platform backend publishes into a live room over HTTP. They
//! change no room state; viewers and staff see them in the feed.

use super::lifecycle::require_live;
use crate::error::{HubError, HubResult};
use crate::rooms::Room;
use stagehand_protocol::server::{Event, EventBody};
use std::sync::Arc;

/// Longest text field of a backend event.
pub const MAX_FIELD_CHARS: usize = 1024;

/// Publish a backend event (`order` or `activity`) into a live room.
pub fn publish(room: &Room, event: EventBody) -> HubResult<Arc<Event>> {
    let fields: Vec<&String> = match &event {
        EventBody::Order { order_id, buyer, product_id, product_name, currency, .. } => {
            vec![order_id, buyer, product_id, product_name, currency]
        }
        EventBody::Activity { kind, text } => vec![kind, text],
        _ => return Err(HubError::invalid("backends publish `order` and `activity` events")),
    };
    if fields.iter().any(|f| f.chars().count() > MAX_FIELD_CHARS) {
        return Err(HubError::invalid(format!("event fields are at most {MAX_FIELD_CHARS} characters")));
    }
    let op = room.op();
    op.read(require_live)?;
    Ok(op.publish(event))
}
