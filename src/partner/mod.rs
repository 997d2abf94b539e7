//! Creator Partner Access in the hub: link and access requests, the creator's decisions, grants,
//! notifications and the audit trail — the rules of the source document — on top of the durable
//! [`crate::store`].
//!
//! - `store_handle.rs`: the store's writer and reader threads, behind bounded queues;
//! - `grants.rs`: live grants in memory, checked before every agency command;
//! - `inboxes.rs`: open connections per inbox, for live notifications;
//! - `engagement.rs`: who sees the dashboard and the full feed, LIVE summaries, giveaway audits.
//!
//! Every operation here is shared by the WebSocket commands and the HTTP API, and is one store
//! transaction: the state change, the notifications that report it and its audit row commit together
//! or not at all. The order inside an operation is always: commit → push the notifications (on the
//! writer thread, in commit order) → update memory → close connections that lost access → reply. So
//! a reply is sent only after the commit (an acknowledged change survives `kill -9`), an error reply
//! means nothing changed, and a staff console receives the notification before its close frame.

pub mod engagement;
pub mod grants;
pub mod inboxes;
pub mod store_handle;

use crate::clock::Clock;
use crate::error::{HubError, HubResult};
use crate::rooms::Rooms;
use crate::store::{Decision, NewAudit, NewRequest, Party, Pruned, Retention, Tx, Unlinked};
use grants::{Access, GrantCache};
use inboxes::{agency_inbox, user_inbox, Inboxes};
use serde_json::json;
use stagehand_protocol::types::{AccessRequestInfo, GrantInfo, Millis, NotificationInfo, RequestKind};
use stagehand_protocol::CloseCode;
use std::sync::Arc;
pub use store_handle::StoreHandle;

/// Most notification ids one `ack` may name.
pub const MAX_ACK: usize = 500;

pub struct Partner {
    pub store: StoreHandle,
    pub grants: GrantCache,
    pub inboxes: Arc<Inboxes>,
    rooms: Arc<Rooms>,
    clock: Clock,
}

/// Who performed an audited action.
pub struct Actor<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

/// The audit row of an action `by` took on the pair's relationship, written in the action's
/// transaction.
fn audit_row(creator_id: &str, agency_id: &str, by: &Actor<'_>, command: &str, detail: Option<String>) -> NewAudit {
    NewAudit {
        creator_id: creator_id.to_string(),
        agency_id: agency_id.to_string(),
        staff_id: by.id.to_string(),
        staff_name: by.name.to_string(),
        room: None,
        command: command.to_string(),
        outcome: "ok".to_string(),
        detail,
    }
}

/// An owned [`Actor`], to move into a store job.
fn owned(by: Option<Actor<'_>>) -> Option<(String, String)> {
    by.map(|a| (a.id.to_string(), a.name.to_string()))
}

/// Write `entry` in `tx` when the action is audited.
fn audit_in(
    tx: &Tx<'_>,
    by: &Option<(String, String)>,
    now: Millis,
    entry: impl FnOnce(&Actor<'_>) -> NewAudit,
) -> Result<(), crate::store::StoreError> {
    if let Some((id, name)) = by {
        tx.append_audit(entry(&Actor { id, name }), now)?;
    }
    Ok(())
}

impl Partner {
    pub fn new(store: StoreHandle, grants: GrantCache, inboxes: Arc<Inboxes>, rooms: Arc<Rooms>, clock: Clock) -> Self {
        Partner { store, grants, inboxes, rooms, clock }
    }

    /// An agency asks a creator for a link and/or LIVE Manager access; the creator is notified.
    /// `by` (agency staff over WebSocket) is audited with the request; the platform's HTTP requests
    /// are not.
    pub async fn request(&self, new: NewRequest, by: Option<Actor<'_>>) -> HubResult<AccessRequestInfo> {
        let now = self.clock.now_ms();
        let by = owned(by);
        self.store
            .write(move |tx| {
                let request = tx.create_request(new, now)?;
                tx.notify(&user_inbox(&request.creator_id), "access_requested", json!({ "request": &request }), now)?;
                audit_in(tx, &by, now, |by| {
                    audit_row(&request.creator_id, &request.agency_id, by, "access_request", None)
                })?;
                Ok(request)
            })
            .await
    }

    /// The creator accepts or declines; the agency is notified. Declining a bundled request
    /// cancels the link too (the store applies the rule); declining plain access keeps the link.
    pub async fn decide(&self, request_id: String, creator_id: String, accept: bool) -> HubResult<Decision> {
        let now = self.clock.now_ms();
        let decision = self
            .store
            .write(move |tx| {
                let decision = tx.decide_request(&request_id, &creator_id, accept, now)?;
                let kind = match (accept, decision.request.kind) {
                    (true, RequestKind::Link) => "link_accepted",
                    (true, _) => "access_granted",
                    (false, RequestKind::Access) => "access_declined",
                    (false, _) => "link_declined",
                };
                let data = json!({ "request": &decision.request, "link": &decision.link, "grant": &decision.grant });
                tx.notify(&agency_inbox(&decision.request.agency_id), kind, data, now)?;
                Ok(decision)
            })
            .await?;
        if let Some(grant) = &decision.grant {
            self.grants.put(grant.clone());
        }
        Ok(decision)
    }

    /// End a link; any access that came with it is revoked at once and the agency's staff are
    /// closed out of the creator's rooms — after the notification is pushed to them. The other side
    /// is notified (both, after an admin unlink). `by` (agency staff) is audited with it.
    pub async fn unlink(&self, link_id: String, party: Party, by: Option<Actor<'_>>) -> HubResult<Unlinked> {
        let now = self.clock.now_ms();
        let by = owned(by);
        let unlinked = self
            .store
            .write(move |tx| {
                let unlinked = tx.unlink(&link_id, &party, now)?;
                let link = &unlinked.link;
                let data = json!({ "link": link, "revoked": &unlinked.revoked });
                let kind = if unlinked.revoked.is_some() { "access_revoked" } else { "unlinked" };
                if !matches!(party, Party::Agency(_)) {
                    tx.notify(&agency_inbox(&link.agency_id), kind, data.clone(), now)?;
                }
                if !matches!(party, Party::Creator(_)) {
                    tx.notify(&user_inbox(&link.creator_id), kind, data, now)?;
                }
                audit_in(tx, &by, now, |by| audit_row(&link.creator_id, &link.agency_id, by, "unlink", None))?;
                Ok(unlinked)
            })
            .await?;
        let link = &unlinked.link;
        self.grants.remove(&link.creator_id, &link.agency_id);
        self.expel(&link.creator_id, &link.agency_id, CloseCode::ACCESS_REVOKED, "the link was ended");
        Ok(unlinked)
    }

    /// The creator reports suspicious activity (suspend) or lifts the suspension (resume).
    /// Both are audited and notified in the same transaction; a suspension then closes the agency's
    /// connections at once (after the notification is pushed to them).
    pub async fn set_suspended(
        &self,
        creator_id: String,
        agency_id: String,
        suspended: bool,
        by: Actor<'_>,
        reason: Option<String>,
    ) -> HubResult<GrantInfo> {
        let now = self.clock.now_ms();
        let by = owned(Some(by));
        let (c, a) = (creator_id.clone(), agency_id.clone());
        let grant = self
            .store
            .write(move |tx| {
                let grant = tx.set_suspended(&c, &a, suspended, now)?;
                let (command, kind) =
                    if suspended { ("report_agency", "access_suspended") } else { ("resume_agency", "access_resumed") };
                audit_in(tx, &by, now, |by| audit_row(&c, &a, by, command, reason.clone()))?;
                let data = json!({ "creator_id": &c, "grant": &grant, "reason": reason });
                tx.notify(&agency_inbox(&a), kind, data, now)?;
                Ok(grant)
            })
            .await?;
        self.grants.put(grant.clone());
        if suspended {
            self.expel(&creator_id, &agency_id, CloseCode::ACCESS_SUSPENDED, "reported by the creator");
        }
        Ok(grant)
    }

    /// Store a notification; it is pushed to the recipient's open connections once committed.
    pub async fn notify(&self, inbox: &str, kind: &str, data: serde_json::Value) -> HubResult<NotificationInfo> {
        let (to, what) = (inbox.to_string(), kind.to_string());
        let now = self.clock.now_ms();
        self.store.write(move |tx| tx.notify(&to, &what, data, now)).await
    }

    /// Notify without waiting (from code that cannot await, e.g. a closing connection). The
    /// store write still happens; only the caller does not wait for it.
    pub fn notify_later(self: &Arc<Self>, inbox: String, kind: &'static str, data: serde_json::Value) {
        let partner = self.clone();
        tokio::spawn(async move {
            if let Err(error) = partner.notify(&inbox, kind, data).await {
                tracing::error!(?error, inbox, kind, "could not store a notification");
            }
        });
    }

    /// Mark notifications of `inbox` read; returns how many changed.
    pub async fn ack(&self, inbox: String, ids: Vec<u64>) -> HubResult<u64> {
        if ids.len() > MAX_ACK {
            return Err(HubError::invalid(format!("ack at most {MAX_ACK} notifications at once")));
        }
        self.store.write(move |tx| tx.ack(&inbox, &ids)).await
    }

    /// Append one audit record (an agency command that changed no stored state, or was refused).
    pub async fn audit(&self, entry: NewAudit) -> HubResult<()> {
        let now = self.clock.now_ms();
        self.store.write(move |tx| tx.append_audit(entry, now)).await.map(|_| ())
    }

    /// Remove the audit rows and read notifications `retention` no longer keeps.
    pub async fn prune(&self, retention: Retention) -> HubResult<Pruned> {
        let now = self.clock.now_ms();
        self.store.write(move |tx| tx.prune(&retention, now)).await
    }

    /// What `agency_id` may do in `creator_id`'s rooms now.
    pub fn access(&self, creator_id: &str, agency_id: &str) -> Access {
        self.grants.access(creator_id, agency_id, self.clock.now_ms())
    }

    /// Close the agency's staff connections in the creator's rooms.
    pub fn expel(&self, creator_id: &str, agency_id: &str, code: CloseCode, detail: &str) {
        for room in self.rooms.all().into_iter().filter(|r| r.creator.id == creator_id) {
            room.expel_agency(agency_id, code, detail);
        }
    }

    /// Once a second: close staff connections whose grant is no longer live (expiry at the
    /// agreement's end, or a change made by another path), within a second of the change.
    pub fn enforce(&self) {
        for room in self.rooms.all() {
            for agency_id in room.staff_agencies() {
                if let Some(code) = self.access(&room.creator.id, &agency_id).close_code() {
                    room.expel_agency(&agency_id, code, "LIVE Manager access ended");
                }
            }
        }
        // A day after expiry no connection can still be relying on a grant.
        self.grants.forget_expired(self.clock.now_ms().saturating_sub(24 * 3600 * 1000));
    }
}

/// Refusal for an agency command when access is not live, with the reason.
pub fn access_error(access: &Access) -> HubError {
    match access {
        Access::Suspended => HubError::forbidden("LIVE Manager access is suspended by the creator"),
        Access::Expired => HubError::forbidden("LIVE Manager access ended with the linking agreement"),
        _ => HubError::forbidden("no LIVE Manager access from this creator"),
    }
}
