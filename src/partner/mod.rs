//! Creator Partner Access in the hub: link and access requests, the creator's decisions, grants,
//! notifications and the audit trail — the rules of the source document — on top of the durable
//! [`crate::store`].
//!
//! - `store_handle.rs`: the store, called off the async workers;
//! - `grants.rs`: live grants in memory, checked before every agency command;
//! - `inboxes.rs`: open connections per inbox, for live notifications.
//!
//! Every operation here is shared by the WebSocket commands and the HTTP API. The order inside an
//! operation is always: commit to the store → update memory → close connections that lost access →
//! notify. A reply is sent only after the commit, so an acknowledged change survives `kill -9`.

pub mod grants;
pub mod inboxes;
pub mod store_handle;

use crate::clock::Clock;
use crate::error::{HubError, HubResult};
use crate::rooms::Rooms;
use crate::store::{Decision, NewAudit, NewRequest, Party, Unlinked};
use grants::{Access, GrantCache};
use inboxes::{agency_inbox, user_inbox, Inboxes};
use serde_json::json;
use stagehand_protocol::types::{AccessRequestInfo, GrantInfo, NotificationInfo, RequestKind};
use stagehand_protocol::CloseCode;
use std::sync::Arc;
pub use store_handle::StoreHandle;

/// Most notification ids one `ack` may name.
pub const MAX_ACK: usize = 500;

pub struct Partner {
    pub store: StoreHandle,
    pub grants: GrantCache,
    pub inboxes: Inboxes,
    rooms: Arc<Rooms>,
    clock: Clock,
}

/// Who performed an audited action.
pub struct Actor<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

impl Partner {
    pub fn new(store: StoreHandle, grants: GrantCache, rooms: Arc<Rooms>, clock: Clock) -> Self {
        Partner { store, grants, inboxes: Inboxes::default(), rooms, clock }
    }

    /// An agency asks a creator for a link and/or LIVE Manager access; the creator is notified.
    pub async fn request(&self, new: NewRequest) -> HubResult<AccessRequestInfo> {
        let now = self.clock.now_ms();
        let request = self.store.call(move |s| s.create_request(new, now)).await?;
        let data = json!({ "request": &request });
        self.notify(&user_inbox(&request.creator_id), "access_requested", data).await?;
        Ok(request)
    }

    /// The creator accepts or declines; the agency is notified. Declining a bundled request
    /// cancels the link too (the store applies the rule); declining plain access keeps the link.
    pub async fn decide(&self, request_id: String, creator_id: String, accept: bool) -> HubResult<Decision> {
        let now = self.clock.now_ms();
        let decision = self.store.call(move |s| s.decide_request(&request_id, &creator_id, accept, now)).await?;
        if let Some(grant) = &decision.grant {
            self.grants.put(grant.clone());
        }
        let kind = match (accept, decision.request.kind) {
            (true, RequestKind::Link) => "link_accepted",
            (true, _) => "access_granted",
            (false, RequestKind::Access) => "access_declined",
            (false, _) => "link_declined",
        };
        let data = json!({ "request": &decision.request, "link": &decision.link, "grant": &decision.grant });
        self.notify(&agency_inbox(&decision.request.agency_id), kind, data).await?;
        Ok(decision)
    }

    /// End a link; any access that came with it is revoked at once and the agency's staff are
    /// closed out of the creator's rooms. The other side is notified.
    pub async fn unlink(&self, link_id: String, party: Party) -> HubResult<Unlinked> {
        let by = party.clone();
        let now = self.clock.now_ms();
        let unlinked = self.store.call(move |s| s.unlink(&link_id, &party, now)).await?;
        let link = &unlinked.link;
        self.grants.remove(&link.creator_id, &link.agency_id);
        self.expel(&link.creator_id, &link.agency_id, CloseCode::ACCESS_REVOKED, "the link was ended");
        let data = json!({ "link": link, "revoked": &unlinked.revoked });
        let kind = if unlinked.revoked.is_some() { "access_revoked" } else { "unlinked" };
        if !matches!(by, Party::Agency(_)) {
            self.notify(&agency_inbox(&link.agency_id), kind, data.clone()).await?;
        }
        if !matches!(by, Party::Creator(_)) {
            self.notify(&user_inbox(&link.creator_id), kind, data).await?;
        }
        Ok(unlinked)
    }

    /// The creator reports suspicious activity (suspend) or lifts the suspension (resume).
    /// Suspension closes the agency's connections at once; both are audited and notified.
    pub async fn set_suspended(
        &self,
        creator_id: String,
        agency_id: String,
        suspended: bool,
        by: Actor<'_>,
        reason: Option<String>,
    ) -> HubResult<GrantInfo> {
        let (c, a) = (creator_id.clone(), agency_id.clone());
        let now = self.clock.now_ms();
        let grant = self.store.call(move |s| s.set_suspended(&c, &a, suspended, now)).await?;
        self.grants.put(grant.clone());
        let (command, kind) = if suspended {
            self.expel(&creator_id, &agency_id, CloseCode::ACCESS_SUSPENDED, "reported by the creator");
            ("report_agency", "access_suspended")
        } else {
            ("resume_agency", "access_resumed")
        };
        self.audit(NewAudit {
            creator_id: creator_id.clone(),
            agency_id: agency_id.clone(),
            staff_id: by.id.to_string(),
            staff_name: by.name.to_string(),
            room: None,
            command: command.to_string(),
            outcome: "ok".to_string(),
            detail: reason.clone(),
        })
        .await?;
        let data = json!({ "creator_id": creator_id, "grant": &grant, "reason": reason });
        self.notify(&agency_inbox(&agency_id), kind, data).await?;
        Ok(grant)
    }

    /// Store a notification, then push it to the recipient's open connections.
    pub async fn notify(&self, inbox: &str, kind: &str, data: serde_json::Value) -> HubResult<NotificationInfo> {
        let (to, what) = (inbox.to_string(), kind.to_string());
        let now = self.clock.now_ms();
        let notification = self.store.call(move |s| s.notify(&to, &what, data, now)).await?;
        self.inboxes.deliver(inbox, &notification);
        Ok(notification)
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
        self.store.call(move |s| s.ack(&inbox, &ids)).await
    }

    pub async fn audit(&self, entry: NewAudit) -> HubResult<()> {
        let now = self.clock.now_ms();
        self.store.call(move |s| s.append_audit(entry, now)).await.map(|_| ())
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
