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

use crate::conn::outbox::{ConnId, Frame, Outbox};
use crate::rooms::fanout::encode_frame;
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
                        *slot = encode_frame(member.outbox.wire, &message);
                    }
                    if let Some(frame) = slot {
                        member.outbox.offer(frame, false);
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
        let send = |message: ServerMessage| {
            if let Some(frame) = encode_frame(outbox.wire, &message) {
                outbox.offer(&frame, false);
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
