//! Who is connected to each inbox (`user:<id>`, `agency:<id>`), so a notification reaches its
//! recipients' open connections the moment it is stored.

use crate::conn::outbox::{ConnId, Outbox};
use crate::delivery::frame::encode_frame;
use dashmap::DashMap;
use stagehand_protocol::server::{Control, ServerMessage};
use stagehand_protocol::types::NotificationInfo;
use stagehand_protocol::Wire;

#[derive(Default)]
pub struct Inboxes {
    open: DashMap<String, Vec<Outbox>>,
}

/// The inbox a connection of this identity reads: agency staff share their agency's.
pub fn inbox_of(identity: &crate::auth::Identity) -> String {
    match (&identity.agency, identity.role) {
        (Some(agency), stagehand_protocol::types::Role::Agency) => agency_inbox(&agency.agency_id),
        _ => user_inbox(&identity.user.id),
    }
}

/// The inbox of a user.
pub fn user_inbox(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// The inbox of an agency (all its staff connections).
pub fn agency_inbox(agency_id: &str) -> String {
    format!("agency:{agency_id}")
}

impl Inboxes {
    pub fn register(&self, inbox: &str, outbox: Outbox) {
        self.open.entry(inbox.to_string()).or_default().push(outbox);
    }

    pub fn unregister(&self, inbox: &str, id: ConnId) {
        if let dashmap::Entry::Occupied(mut entry) = self.open.entry(inbox.to_string()) {
            entry.get_mut().retain(|o| o.id != id);
            if entry.get().is_empty() {
                entry.remove();
            }
        }
    }

    /// Push a stored notification to every open connection of `inbox`. Notifications are kept in
    /// the store, so a full queue may drop the live copy: the client reads it on its next connect.
    pub fn deliver(&self, inbox: &str, notification: &NotificationInfo) {
        let Some(outboxes) = self.open.get(inbox).map(|o| o.clone()) else { return };
        let message = ServerMessage::Control(Control::Notification(notification.clone()));
        let mut frames: [Option<crate::conn::outbox::Frame>; 2] = Default::default();
        for outbox in outboxes {
            let slot = &mut frames[outbox.wire.index()];
            if slot.is_none() {
                *slot = encode_frame(outbox.wire, &message);
            }
            if let Some(frame) = slot {
                outbox.offer(frame, true);
            }
        }
    }

    /// Push to one connection only (unread notifications at connect).
    pub fn deliver_to(outbox: &Outbox, notification: NotificationInfo) {
        let wire: Wire = outbox.wire;
        if let Some(frame) = encode_frame(wire, &ServerMessage::Control(Control::Notification(notification))) {
            outbox.offer(&frame, true);
        }
    }
}
