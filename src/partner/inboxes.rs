//! Who is connected to each inbox (`user:<id>`, `agency:<id>`), so a notification reaches its
//! recipients' open connections once it is committed — and the catch-up of a new connection, so
//! that it gets its unread notifications and the live ones in id order, each once.
//!
//! A connection registers before its unread notifications are read. Until they are pushed
//! ([`Inboxes::caught_up`]) live notifications for it wait in a small backlog; then the unread page
//! is pushed, oldest first, then the backlog's notifications newer than that page. Both happen under
//! the inbox's map entry lock, the same lock live delivery takes, so nothing slips in between.
//!
//! Notifications are never dropped: they are queued as frames that must not be lost, so a
//! connection whose queue is full is closed as a slow consumer (and reads them on reconnect).

use crate::delivery::frame::{encode_frame, Class, Frame};
use crate::delivery::outbox::{ConnId, Outbox};
use crate::store::Notified;
use dashmap::DashMap;
use stagehand_protocol::server::{Control, NotificationsRemaining, ServerMessage};
use stagehand_protocol::types::NotificationInfo;
use stagehand_protocol::CloseCode;

/// Most live notifications held for one connection while its unread ones are being read.
pub const BACKLOG_LIMIT: usize = 64;

#[derive(Default)]
pub struct Inboxes {
    open: DashMap<String, Vec<Member>>,
}

/// One open connection of an inbox.
struct Member {
    outbox: Outbox,
    /// `Some` until the connection caught up: live notifications that arrived meanwhile.
    backlog: Option<Vec<NotificationInfo>>,
}

/// The unread notifications read for a connection that just opened.
#[derive(Debug)]
pub enum Unread {
    /// The newest unread page, newest first, and whether older unread ones remain.
    Page { items: Vec<NotificationInfo>, more: bool },
    /// The inbox could not be read (the store was busy or failing).
    Unknown,
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
    /// Open `outbox`'s membership of `inbox`; live notifications wait in its backlog until
    /// [`Inboxes::caught_up`].
    pub fn register(&self, inbox: &str, outbox: Outbox) {
        self.open.entry(inbox.to_string()).or_default().push(Member { outbox, backlog: Some(Vec::new()) });
    }

    pub fn unregister(&self, inbox: &str, id: ConnId) {
        if let dashmap::Entry::Occupied(mut entry) = self.open.entry(inbox.to_string()) {
            entry.get_mut().retain(|m| m.outbox.id != id);
            if entry.get().is_empty() {
                entry.remove();
            }
        }
    }

    /// The open connections of `inbox` (a user's: every connection that user has open).
    pub fn connections(&self, inbox: &str) -> Vec<Outbox> {
        self.open.get(inbox).map(|members| members.iter().map(|m| m.outbox.clone()).collect()).unwrap_or_default()
    }

    /// Push committed notifications to their inboxes' open connections, in the order given.
    pub fn deliver_all(&self, notified: &[Notified]) {
        for n in notified {
            self.deliver(&n.recipient, &n.notification);
        }
    }

    /// Push one committed notification to every open connection of `inbox`.
    pub fn deliver(&self, inbox: &str, notification: &NotificationInfo) {
        let Some(mut members) = self.open.get_mut(inbox) else { return };
        let message = ServerMessage::Control(Control::Notification(notification.clone()));
        let mut frames: [Option<Frame>; 2] = Default::default();
        for member in members.iter_mut() {
            match &mut member.backlog {
                Some(backlog) if backlog.len() < BACKLOG_LIMIT => backlog.push(notification.clone()),
                Some(_) => member.outbox.close(CloseCode::SLOW_CONSUMER, "notifications arrived faster than read"),
                None => {
                    let slot = &mut frames[member.outbox.wire.index()];
                    if slot.is_none() {
                        *slot = encode_frame(member.outbox.wire, &message, Class::State);
                    }
                    if let Some(frame) = slot {
                        member.outbox.offer(frame);
                    }
                }
            }
        }
    }

    /// Connection `id` of `inbox` has read its unread notifications: push them oldest first, say
    /// whether more remain, then push the backlog's newer ones and switch to live delivery.
    pub fn caught_up(&self, inbox: &str, id: ConnId, unread: Unread) {
        let Some(mut members) = self.open.get_mut(inbox) else { return };
        let Some(member) = members.iter_mut().find(|m| m.outbox.id == id) else { return };
        let backlog = member.backlog.take().unwrap_or_default();
        let outbox = &member.outbox;
        // The catch-up page is bounded, and like a reply it does not count against the backlog's
        // bound for events.
        let send = |message: ServerMessage| {
            if let Some(frame) = encode_frame(outbox.wire, &message, Class::Reply) {
                outbox.offer(&frame);
            }
        };
        let (newest, remaining) = match unread {
            Unread::Page { items, more } => {
                let newest = items.first().map_or(0, |n| n.notification_id);
                let oldest = items.last().map(|n| n.notification_id);
                items.into_iter().rev().for_each(|n| send(ServerMessage::Control(Control::Notification(n))));
                (newest, more.then_some(NotificationsRemaining { before: oldest }))
            }
            Unread::Unknown => (0, Some(NotificationsRemaining { before: None })),
        };
        if let Some(remaining) = remaining {
            send(ServerMessage::Control(Control::NotificationsRemaining(remaining)));
        }
        // The page was read after this connection registered, so a backlog entry it does not hold
        // is newer than all of it.
        for n in backlog.into_iter().filter(|n| n.notification_id > newest) {
            send(ServerMessage::Control(Control::Notification(n)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stagehand_protocol::codec;
    use stagehand_protocol::Wire;

    fn note(id: u64) -> NotificationInfo {
        NotificationInfo {
            notification_id: id,
            kind: "staff_joined".into(),
            created_at: id,
            read: false,
            data: serde_json::json!({}),
        }
    }

    /// What the connection was sent: notification ids, and `None` for a `notifications_remaining`.
    fn sent(outbox: &Outbox) -> Vec<Option<u64>> {
        let mut out = Vec::new();
        for frame in outbox.take_frames() {
            match codec::decode(Wire::Json, frame.payload()).unwrap() {
                ServerMessage::Control(Control::Notification(n)) => out.push(Some(n.notification_id)),
                ServerMessage::Control(Control::NotificationsRemaining(_)) => out.push(None),
                other => panic!("unexpected {other:?}"),
            }
        }
        out
    }

    fn connection() -> Outbox {
        Outbox::socketless(1, Wire::Json, 1 << 20)
    }

    #[test]
    fn live_notifications_during_catch_up_follow_the_unread_page_in_order_and_once() {
        let inboxes = Inboxes::default();
        let outbox = connection();
        inboxes.register("user:c", outbox.clone());
        // Committed while the unread page is being read: 5 is also in the page, 6 and 7 are not.
        for id in [5, 6, 7] {
            inboxes.deliver("user:c", &note(id));
        }
        assert!(sent(&outbox).is_empty(), "nothing goes out before the unread page");
        // The page, newest first as the store returns it.
        inboxes.caught_up("user:c", 1, Unread::Page { items: vec![note(5), note(4), note(3)], more: true });
        inboxes.deliver("user:c", &note(8));
        assert_eq!(sent(&outbox), [Some(3), Some(4), Some(5), None, Some(6), Some(7), Some(8)]);
    }

    #[test]
    fn an_unreadable_inbox_is_announced_and_live_delivery_still_starts() {
        let inboxes = Inboxes::default();
        let outbox = connection();
        inboxes.register("user:c", outbox.clone());
        inboxes.deliver("user:c", &note(9));
        inboxes.caught_up("user:c", 1, Unread::Unknown);
        assert_eq!(sent(&outbox), [None, Some(9)]);
    }

    #[test]
    fn a_backlog_past_its_limit_closes_the_connection_instead_of_dropping() {
        let inboxes = Inboxes::default();
        let outbox = connection();
        inboxes.register("user:c", outbox.clone());
        for id in 0..=BACKLOG_LIMIT as u64 {
            inboxes.deliver("user:c", &note(id + 1));
        }
        assert!(outbox.is_closed());
        assert_eq!(outbox.close_reason().map(|r| r.0), Some(CloseCode::SLOW_CONSUMER));
    }
}
