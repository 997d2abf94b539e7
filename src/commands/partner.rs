//! Creator Partner Access commands: requests and decisions, links, grants, reports, the inbox and
//! the audit trail. The rules themselves live in [`crate::partner`] and the store; these handlers
//! only say who is asking.

use super::Services;
use crate::auth::Identity;
use crate::error::{HubError, HubResult};
use crate::partner::inboxes::inbox_of;
use crate::partner::Actor;
use crate::store::{GrantFilter, LinkFilter, NewRequest, Party, RequestFilter};
use stagehand_protocol::server::ReplyResult;
use stagehand_protocol::types::{Role, Scope};
use stagehand_protocol::Command;

pub async fn handle(services: &Services, identity: &Identity, command: &Command) -> HubResult<ReplyResult> {
    let partner = &services.partner;
    let me = identity.user.id.clone();
    let agency_id = identity.agency.as_ref().map(|a| a.agency_id.clone());
    let now = services.config.clock.now_ms();
    match command {
        Command::AccessRequest { creator, link, live_access, scopes } => {
            let agency = identity.agency.as_ref().ok_or_else(|| HubError::forbidden("agency staff only"))?;
            if *creator != agency.creator_id {
                return Err(HubError::forbidden("this agency token is for another creator"));
            }
            let request = partner
                .request(NewRequest {
                    creator_id: creator.clone(),
                    agency_id: agency.agency_id.clone(),
                    agency_name: agency.agency_name.clone(),
                    requested_by: me,
                    link: link.clone(),
                    live_access: *live_access,
                    scopes: scopes.clone().unwrap_or_else(|| Scope::ALL.to_vec()),
                })
                .await?;
            Ok(ReplyResult::Request { request })
        }
        Command::ListAccessRequests { status } => {
            let filter = RequestFilter { status: *status, ..party_filter(identity) };
            let items = partner.store.call(move |s| s.requests(&filter, now)).await?;
            Ok(ReplyResult::Requests { items })
        }
        Command::AccessAccept { request_id } | Command::AccessDecline { request_id } => {
            let accept = matches!(command, Command::AccessAccept { .. });
            let decision = partner.decide(request_id.clone(), me, accept).await?;
            Ok(ReplyResult::Decision { request: decision.request, link: decision.link, grant: decision.grant })
        }
        Command::Unlink { link_id } => {
            let party = match agency_id {
                Some(agency) => Party::Agency(agency),
                None => Party::Creator(me),
            };
            let unlinked = partner.unlink(link_id.clone(), party).await?;
            Ok(ReplyResult::Unlinked { link: unlinked.link, revoked: unlinked.revoked })
        }
        Command::ListLinks => {
            let RequestFilter { creator_id, agency_id, .. } = party_filter(identity);
            let filter = LinkFilter { creator_id, agency_id };
            let items = partner.store.call(move |s| s.links(&filter, now)).await?;
            Ok(ReplyResult::Links { items })
        }
        Command::ListGrants => {
            let RequestFilter { creator_id, agency_id, .. } = party_filter(identity);
            let filter = GrantFilter { creator_id, agency_id, live_only: false };
            let items = partner.store.call(move |s| s.grants(&filter, now)).await?;
            Ok(ReplyResult::Grants { items })
        }
        Command::ReportAgency { agency, reason } => {
            let by = Actor { id: &identity.user.id, name: &identity.user.name };
            let grant = partner.set_suspended(me, agency.clone(), true, by, reason.clone()).await?;
            Ok(ReplyResult::Grant { grant })
        }
        Command::ResumeAgency { agency } => {
            let by = Actor { id: &identity.user.id, name: &identity.user.name };
            let grant = partner.set_suspended(me, agency.clone(), false, by, None).await?;
            Ok(ReplyResult::Grant { grant })
        }
        Command::ListNotifications { unread_only, before, limit } => {
            let (inbox, unread_only, before) = (inbox_of(identity), *unread_only, *before);
            let limit = limit.unwrap_or(50);
            let items = partner.store.call(move |s| s.notifications(&inbox, unread_only, before, limit)).await?;
            Ok(ReplyResult::Notifications { items })
        }
        Command::Ack { notification_ids } => {
            let updated = partner.ack(inbox_of(identity), notification_ids.clone()).await?;
            Ok(ReplyResult::Acked { updated })
        }
        Command::ListAudit { agency, before, limit } => {
            let (agency, before, limit) = (agency.clone(), *before, limit.unwrap_or(100));
            let page = partner.store.call(move |s| s.audit_page(&me, agency.as_deref(), before, limit)).await?;
            Ok(ReplyResult::Audit { items: page.items, next_before: page.next_before })
        }
        other => Err(HubError::internal(format!("`{}` is not a partner command", other.name()))),
    }
}

/// The caller's side of a relationship: a creator sees its own, an agency its agency's.
fn party_filter(identity: &Identity) -> RequestFilter {
    match (&identity.agency, identity.role) {
        (Some(agency), Role::Agency) => {
            RequestFilter { agency_id: Some(agency.agency_id.clone()), ..RequestFilter::default() }
        }
        _ => RequestFilter { creator_id: Some(identity.user.id.clone()), ..RequestFilter::default() },
    }
}
