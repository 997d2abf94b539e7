//! [`Tx`]: one write transaction. Every change to the store goes through one, so a transition, the
//! notifications that report it and its audit row commit together or not at all.
//!
//! [`SqliteStore::write`](super::SqliteStore::write) opens it (`IMMEDIATE`: SQLite's write lock is
//! taken before anything is read), hands it to the caller's closure, and commits only if the closure
//! returns `Ok`. The notifications written through it are handed back with the committed value
//! ([`Written`]), so the caller can push them to open connections — after the commit, never before.

use std::cell::RefCell;

use rusqlite::Transaction;
use stagehand_protocol::types::{AccessRequestInfo, AuditRecord, GrantInfo, Millis, NotificationInfo};

use super::retention::{self, Pruned, Retention};
use super::{commerce, cpa, inbox, Decision, NewAudit, NewRequest, Party, StoreError, Unlinked};

/// One open write transaction. See the [`Store`](super::Store) methods of the same names for the
/// rules of each call; here they all share one commit.
pub struct Tx<'a> {
    tx: &'a Transaction<'a>,
    notified: RefCell<Vec<Notified>>,
}

/// A notification written in a transaction, with its inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Notified {
    /// The inbox key (`user:<id>`, `agency:<id>`).
    pub recipient: String,
    pub notification: NotificationInfo,
}

/// What a committed transaction returned, and the notifications it wrote (in id order).
#[derive(Debug)]
pub struct Written<T> {
    pub value: T,
    pub notified: Vec<Notified>,
}

impl<'a> Tx<'a> {
    pub(super) fn new(tx: &'a Transaction<'a>) -> Self {
        Tx { tx, notified: RefCell::new(Vec::new()) }
    }

    /// The notifications written so far.
    pub(super) fn into_notified(self) -> Vec<Notified> {
        self.notified.into_inner()
    }

    /// See [`Store::create_request`](super::Store::create_request).
    pub fn create_request(&self, req: NewRequest, now: Millis) -> Result<AccessRequestInfo, StoreError> {
        cpa::create_request(self.tx, req, now)
    }

    /// See [`Store::decide_request`](super::Store::decide_request).
    pub fn decide_request(
        &self,
        request_id: &str,
        creator_id: &str,
        accept: bool,
        now: Millis,
    ) -> Result<Decision, StoreError> {
        cpa::decide_request(self.tx, request_id, creator_id, accept, now)
    }

    /// See [`Store::unlink`](super::Store::unlink).
    pub fn unlink(&self, link_id: &str, party: &Party, now: Millis) -> Result<Unlinked, StoreError> {
        cpa::unlink(self.tx, link_id, party, now)
    }

    /// See [`Store::set_suspended`](super::Store::set_suspended).
    pub fn set_suspended(
        &self,
        creator_id: &str,
        agency_id: &str,
        suspended: bool,
        now: Millis,
    ) -> Result<GrantInfo, StoreError> {
        cpa::set_suspended(self.tx, creator_id, agency_id, suspended, now)
    }

    /// See [`Store::notify`](super::Store::notify). The notification is also recorded for
    /// [`Written::notified`].
    pub fn notify(
        &self,
        recipient: &str,
        kind: &str,
        data: serde_json::Value,
        now: Millis,
    ) -> Result<NotificationInfo, StoreError> {
        let notification = inbox::notify(self.tx, recipient, kind, data, now)?;
        self.notified
            .borrow_mut()
            .push(Notified { recipient: recipient.to_owned(), notification: notification.clone() });
        Ok(notification)
    }

    /// See [`Store::append_audit`](super::Store::append_audit).
    pub fn append_audit(&self, entry: NewAudit, now: Millis) -> Result<AuditRecord, StoreError> {
        inbox::append_audit(self.tx, entry, now)
    }

    /// See [`Store::ack`](super::Store::ack).
    pub fn ack(&self, recipient: &str, ids: &[u64]) -> Result<u64, StoreError> {
        inbox::ack(self.tx, recipient, ids)
    }

    // ---- commerce (see `commerce`) --------------------------------------------------------

    /// Create or replace one of `creator_id`'s product sets (a new one only under `max_sets`).
    pub fn save_product_set(
        &self,
        creator_id: &str,
        set: stagehand_protocol::types::ProductSet,
        max_sets: u32,
    ) -> Result<stagehand_protocol::types::ProductSet, StoreError> {
        commerce::save_product_set(self.tx, creator_id, set, max_sets)
    }

    /// Delete one of `creator_id`'s product sets (`NotFound` if it has none of that id).
    pub fn delete_product_set(&self, creator_id: &str, set_id: &str) -> Result<(), StoreError> {
        commerce::delete_product_set(self.tx, creator_id, set_id)
    }

    /// Store a new flash sale of `room`, returning it with its `sale_id`.
    pub fn create_flash_sale(
        &self,
        room: &str,
        creator_id: &str,
        sale: &stagehand_protocol::types::FlashSale,
        now: Millis,
    ) -> Result<stagehand_protocol::types::FlashSale, StoreError> {
        commerce::create_flash_sale(self.tx, room, creator_id, sale, now)
    }

    /// Close a flash sale early: no claim is granted after this.
    pub fn close_flash_sale(&self, sale_id: &str) -> Result<(), StoreError> {
        commerce::close_flash_sale(self.tx, sale_id)
    }

    /// Claim units of a flash sale; idempotent by `claim_id` (see `commerce::claim`).
    pub fn claim(
        &self,
        room: &str,
        sale_id: &str,
        claim: commerce::NewClaim,
        accepting: bool,
        now: Millis,
    ) -> Result<commerce::Claim, StoreError> {
        commerce::claim(self.tx, room, sale_id, claim, accepting, now)
    }

    /// Stores a LIVE's summary (once per room and start time; a second write changes nothing).
    pub fn save_summary(&self, summary: &stagehand_protocol::types::LiveSummary) -> Result<(), StoreError> {
        super::summaries::save(self.tx, summary)
    }

    /// Adds or replaces `creator_id`'s blocked terms.
    pub fn put_blocked_terms(
        &self,
        creator_id: &str,
        terms: &[stagehand_protocol::types::BlockedTerm],
        now: Millis,
    ) -> Result<(), StoreError> {
        super::moderation::put_terms(self.tx, creator_id, terms, now)
    }

    /// Removes blocked terms; returns how many were there.
    pub fn remove_blocked_terms(&self, creator_id: &str, terms: &[String]) -> Result<usize, StoreError> {
        super::moderation::remove_terms(self.tx, creator_id, terms)
    }

    /// Adds or replaces a sanction of `creator_id` on an account.
    pub fn put_sanction(
        &self,
        creator_id: &str,
        user: &stagehand_protocol::types::ModeratedUser,
    ) -> Result<(), StoreError> {
        super::moderation::put_sanction(self.tx, creator_id, user)
    }

    /// Lifts a sanction; returns whether it was there.
    pub fn remove_sanction(
        &self,
        creator_id: &str,
        user_id: &str,
        sanction: stagehand_protocol::types::Sanction,
    ) -> Result<bool, StoreError> {
        super::moderation::remove_sanction(self.tx, creator_id, user_id, sanction)
    }

    /// Plans a LIVE event (`lev_<n>`).
    pub fn create_live_event(
        &self,
        new: super::NewLiveEvent,
        now: Millis,
    ) -> Result<stagehand_protocol::types::LiveEventInfo, StoreError> {
        super::scheduling::create(self.tx, new, now)
    }

    /// One of `creator_id`'s events (`NotFound`).
    pub fn live_event(
        &self,
        event_id: &str,
        creator_id: &str,
    ) -> Result<stagehand_protocol::types::LiveEventInfo, StoreError> {
        super::scheduling::get(self.tx, event_id, creator_id)
    }

    /// Changes `creator_id`'s scheduled event (`NotFound`; `Conflict` once cancelled).
    pub fn update_live_event(
        &self,
        event_id: &str,
        creator_id: &str,
        change: super::LiveEventChange,
        now: Millis,
    ) -> Result<stagehand_protocol::types::LiveEventInfo, StoreError> {
        super::scheduling::update(self.tx, event_id, creator_id, change, now)
    }

    /// Cancels `creator_id`'s scheduled event (`NotFound`; `Conflict` if already cancelled).
    pub fn cancel_live_event(
        &self,
        event_id: &str,
        creator_id: &str,
        now: Millis,
    ) -> Result<stagehand_protocol::types::LiveEventInfo, StoreError> {
        super::scheduling::cancel(self.tx, event_id, creator_id, now)
    }

    /// `creator_id`'s events, soonest first.
    pub fn live_events(
        &self,
        creator_id: &str,
        include_cancelled: bool,
        limit: u32,
    ) -> Result<Vec<stagehand_protocol::types::LiveEventInfo>, StoreError> {
        super::scheduling::list(self.tx, creator_id, include_cancelled, limit)
    }

    /// How many scheduled events `creator_id` has.
    pub fn scheduled_live_events(&self, creator_id: &str) -> Result<u64, StoreError> {
        super::scheduling::count_scheduled(self.tx, creator_id)
    }

    /// Scheduled events starting by `until` whose reminder is still due, now marked reminded.
    pub fn take_due_live_events(
        &self,
        until: Millis,
        limit: u32,
    ) -> Result<Vec<stagehand_protocol::types::LiveEventInfo>, StoreError> {
        super::scheduling::take_due(self.tx, until, limit)
    }

    /// The rooms and campaigns whose window is open at `now`.
    pub fn open_campaigns(
        &self,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<(String, stagehand_protocol::types::Campaign)>, StoreError> {
        super::scheduling::open_campaigns(self.tx, now, limit)
    }

    /// Removes the audit rows and read notifications `retention` no longer keeps as of `now`.
    pub fn prune(&self, retention: &Retention, now: Millis) -> Result<Pruned, StoreError> {
        retention::prune(self.tx, retention, now)
    }

    /// Adds to `creator_id`'s account-health counts.
    pub fn add_health_counts(
        &self,
        creator_id: &str,
        delta: &stagehand_protocol::types::HealthCounts,
    ) -> Result<(), StoreError> {
        super::health::add(self.tx, creator_id, delta)
    }

    /// `creator_id`'s account-health counts as stored.
    pub fn health_counts(&self, creator_id: &str) -> Result<stagehand_protocol::types::HealthCounts, StoreError> {
        super::health::counts(self.tx, creator_id)
    }
}
