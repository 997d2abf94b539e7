//! The Creator Partner Access rules: requesting, deciding, unlinking, suspending.

use super::*;

#[test]
fn access_request_on_an_existing_link_is_granted_on_accept() {
    let (_dir, store) = open();
    let link = linked(&store, "c1", "a1", T0 + DAY).link;
    assert_eq!(link.status, LinkStatus::Active);
    assert!(live_grants(&store, "c1", T0).is_empty(), "a link alone gives no access");

    let req = store.create_request(access_request("c1", "a1"), T0 + HOUR).unwrap();
    assert_eq!(req.kind, RequestKind::Access);
    assert_eq!(req.status, RequestStatus::Pending);
    assert_eq!(req.link_id, link.link_id);
    assert_eq!(req.agreement_ends_at, T0 + DAY, "access lasts for the link's agreement");
    assert_eq!(req.scopes, Scope::ALL.to_vec(), "no scopes named means all of them");
    assert_eq!(req.decided_at, None);

    let decision = store.decide_request(&req.request_id, "c1", true, T0 + 2 * HOUR).unwrap();
    assert_eq!(decision.request.status, RequestStatus::Accepted);
    assert_eq!(decision.request.decided_at, Some(T0 + 2 * HOUR));
    assert_eq!(decision.link.status, LinkStatus::Active);
    let grant = decision.grant.unwrap();
    assert_eq!(grant.status, GrantStatus::Active);
    assert_eq!(grant.granted_at, T0 + 2 * HOUR);
    assert_eq!(grant.expires_at, T0 + DAY);
    assert_eq!((grant.creator_id.as_str(), grant.agency_id.as_str()), ("c1", "a1"));
    assert_eq!(grant.agency_name, "a1 Ltd");
    assert_eq!(grant.link_id, link.link_id);
    assert_eq!(live_grants(&store, "c1", T0 + 2 * HOUR), vec![grant]);
}

#[test]
fn bundled_request_accepted_activates_the_link_and_grants() {
    let (_dir, store) = open();
    let mut new = link_request("c1", "a1", T0 + DAY, true);
    new.scopes = vec![Scope::Billboards, Scope::Moderation, Scope::Billboards];
    let req = store.create_request(new, T0).unwrap();
    assert_eq!(req.kind, RequestKind::LinkAndAccess);
    assert_eq!(req.scopes, vec![Scope::Moderation, Scope::Billboards], "sorted and deduplicated");
    let pending = links_of(&store, "c1", T0);
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].status, pending[0].agency_name.as_str()), (LinkStatus::Pending, "a1 Ltd"));

    let decision = store.decide_request(&req.request_id, "c1", true, T0).unwrap();
    assert_eq!(decision.link.status, LinkStatus::Active);
    let grant = decision.grant.unwrap();
    assert_eq!(grant.scopes, vec![Scope::Moderation, Scope::Billboards]);
    assert_eq!(grant.expires_at, T0 + DAY);
    assert_eq!(live_grants(&store, "c1", T0).len(), 1);
}

#[test]
fn declining_access_keeps_the_existing_link() {
    let (_dir, store) = open();
    linked(&store, "c1", "a1", T0 + DAY);
    let req = store.create_request(access_request("c1", "a1"), T0).unwrap();
    let decision = store.decide_request(&req.request_id, "c1", false, T0).unwrap();
    assert_eq!(decision.request.status, RequestStatus::Declined);
    assert_eq!(decision.link.status, LinkStatus::Active);
    assert_eq!(decision.grant, None);
    assert_eq!(links_of(&store, "c1", T0)[0].status, LinkStatus::Active);
    assert!(all_grants(&store, "c1").is_empty());
    // The agency may ask again later.
    store.create_request(access_request("c1", "a1"), T0 + HOUR).unwrap();
}

#[test]
fn declining_a_bundled_request_declines_the_link() {
    let (_dir, store) = open();
    let req = store.create_request(link_request("c1", "a1", T0 + DAY, true), T0).unwrap();
    let decision = store.decide_request(&req.request_id, "c1", false, T0).unwrap();
    assert_eq!(decision.request.status, RequestStatus::Declined);
    assert_eq!(decision.link.status, LinkStatus::Declined);
    assert_eq!(decision.grant, None);
    assert!(all_grants(&store, "c1").is_empty());
    // No link remains, so access alone cannot be asked for; a new link request can.
    assert_not_found(store.create_request(access_request("c1", "a1"), T0));
    store.create_request(link_request("c1", "a1", T0 + DAY, true), T0).unwrap();
}

#[test]
fn link_only_request_links_without_access() {
    let (_dir, store) = open();
    let req = store.create_request(link_request("c1", "a1", T0 + DAY, false), T0).unwrap();
    assert_eq!(req.kind, RequestKind::Link);
    let decision = store.decide_request(&req.request_id, "c1", true, T0).unwrap();
    assert_eq!(decision.link.status, LinkStatus::Active);
    assert_eq!(decision.grant, None);
    assert!(all_grants(&store, "c1").is_empty());

    let req = store.create_request(link_request("c2", "a1", T0 + DAY, false), T0).unwrap();
    let decision = store.decide_request(&req.request_id, "c2", false, T0).unwrap();
    assert_eq!(decision.link.status, LinkStatus::Declined);
}

#[test]
fn unlink_revokes_the_grant() {
    let (_dir, store) = open();
    let decision = linked_with_access(&store, "c1", "a1", T0 + DAY);
    let unlinked = store.unlink(&decision.link.link_id, &Party::Creator("c1".into()), T0 + HOUR).unwrap();
    assert_eq!(unlinked.link.status, LinkStatus::Ended);
    let revoked = unlinked.revoked.unwrap();
    assert_eq!(revoked.grant_id, decision.grant.unwrap().grant_id);
    assert_eq!(revoked.status, GrantStatus::Revoked);
    assert!(unlinked.cancelled.is_empty());
    assert!(live_grants(&store, "c1", T0 + HOUR).is_empty());
    assert_eq!(all_grants(&store, "c1")[0].status, GrantStatus::Revoked, "history is kept");
}

#[test]
fn unlink_cancels_pending_requests_and_revokes_a_suspended_grant() {
    let (_dir, store) = open();
    let link = linked(&store, "c1", "a1", T0 + DAY).link;
    let pending = store.create_request(access_request("c1", "a1"), T0).unwrap();
    let unlinked = store.unlink(&link.link_id, &Party::Agency("a1".into()), T0 + HOUR).unwrap();
    assert_eq!(unlinked.revoked, None);
    assert_eq!(unlinked.cancelled.len(), 1);
    assert_eq!(unlinked.cancelled[0].request_id, pending.request_id);
    assert_eq!(unlinked.cancelled[0].status, RequestStatus::Cancelled);
    assert_eq!(unlinked.cancelled[0].decided_at, Some(T0 + HOUR));
    assert_conflict(store.decide_request(&pending.request_id, "c1", true, T0 + HOUR));

    let decision = linked_with_access(&store, "c2", "a1", T0 + DAY);
    store.set_suspended("c2", "a1", true, T0).unwrap();
    let unlinked = store.unlink(&decision.link.link_id, &Party::Admin, T0).unwrap();
    assert_eq!(unlinked.revoked.unwrap().status, GrantStatus::Revoked);
}

#[test]
fn relinking_without_access_after_unlink_gives_no_grant() {
    let (_dir, store) = open();
    let first = linked_with_access(&store, "c1", "a1", T0 + DAY);
    store.unlink(&first.link.link_id, &Party::Creator("c1".into()), T0 + HOUR).unwrap();

    let relink = store.create_request(link_request("c1", "a1", T0 + 2 * DAY, false), T0 + HOUR).unwrap();
    assert_eq!(relink.kind, RequestKind::Link);
    let decision = store.decide_request(&relink.request_id, "c1", true, T0 + HOUR).unwrap();
    assert_eq!(decision.link.status, LinkStatus::Active);
    assert_ne!(decision.link.link_id, first.link.link_id);
    assert_eq!(decision.grant, None);
    assert!(live_grants(&store, "c1", T0 + HOUR).is_empty());

    let links = links_of(&store, "c1", T0 + HOUR);
    let statuses: Vec<_> = links.iter().map(|l| l.status).collect();
    assert_eq!(statuses, vec![LinkStatus::Active, LinkStatus::Ended], "newest first");
}

#[test]
fn unlink_checks_party_and_state() {
    let (_dir, store) = open();
    let link = linked(&store, "c1", "a1", T0 + DAY).link;
    let id = link.link_id.as_str();
    let forbidden = |r: Result<Unlinked, StoreError>| assert!(matches!(r, Err(StoreError::Forbidden(_))), "{r:?}");
    forbidden(store.unlink(id, &Party::Creator("c2".into()), T0));
    forbidden(store.unlink(id, &Party::Agency("a2".into()), T0));
    // An agency id is not a creator id, even when the strings match.
    forbidden(store.unlink(id, &Party::Creator("a1".into()), T0));
    assert_not_found(store.unlink("lnk_99", &Party::Admin, T0));

    let pending = store.create_request(link_request("c2", "a1", T0 + DAY, true), T0).unwrap();
    assert_conflict(store.unlink(&pending.link_id, &Party::Agency("a1".into()), T0));

    store.unlink(id, &Party::Creator("c1".into()), T0).unwrap();
    assert_conflict(store.unlink(id, &Party::Creator("c1".into()), T0));
}

#[test]
fn conflicting_requests_are_refused() {
    let (_dir, store) = open();
    let bundled = store.create_request(link_request("c1", "a1", T0 + DAY, true), T0).unwrap();
    // A pending link blocks another link request, with or without access.
    assert_conflict(store.create_request(link_request("c1", "a1", T0 + DAY, true), T0));
    assert_conflict(store.create_request(link_request("c1", "a1", T0 + DAY, false), T0));
    // …and access needs an active link.
    assert_not_found(store.create_request(access_request("c1", "a1"), T0));
    // Other pairs are independent.
    store.create_request(link_request("c1", "a2", T0 + DAY, true), T0).unwrap();
    store.create_request(link_request("c2", "a1", T0 + DAY, true), T0).unwrap();

    store.decide_request(&bundled.request_id, "c1", true, T0).unwrap();
    assert_conflict(store.decide_request(&bundled.request_id, "c1", true, T0));
    assert_conflict(store.decide_request(&bundled.request_id, "c1", false, T0));
    // An active link blocks a new link; live access blocks an access request.
    assert_conflict(store.create_request(link_request("c1", "a1", T0 + 2 * DAY, false), T0));
    assert_conflict(store.create_request(access_request("c1", "a1"), T0));

    // A pending access request blocks a second one.
    linked(&store, "c3", "a1", T0 + DAY);
    store.create_request(access_request("c3", "a1"), T0).unwrap();
    assert_conflict(store.create_request(access_request("c3", "a1"), T0));
}

#[test]
fn requests_are_only_decided_by_their_creator() {
    let (_dir, store) = open();
    let req = store.create_request(link_request("c1", "a1", T0 + DAY, true), T0).unwrap();
    assert_not_found(store.decide_request(&req.request_id, "c2", true, T0));
    assert_not_found(store.decide_request("req_42", "c1", true, T0));
    assert_eq!(requests_of(&store, "c1", T0)[0].status, RequestStatus::Pending, "nothing changed");
}

#[test]
fn invalid_requests_are_refused() {
    let (_dir, store) = open();
    assert_invalid(store.create_request(link_request("c1", "a1", T0, true), T0));
    assert_invalid(store.create_request(link_request("c1", "a1", T0 - 1, false), T0));
    assert_invalid(store.create_request(link_request("c1", "a1", u64::MAX, true), T0));
    assert_invalid(store.create_request(link_request("", "a1", T0 + DAY, true), T0));
    linked(&store, "c1", "a1", T0 + DAY);
    let no_access = NewRequest { live_access: false, ..access_request("c1", "a1") };
    assert_invalid(store.create_request(no_access, T0));
    assert!(requests_of(&store, "c1", T0).iter().all(|r| r.kind == RequestKind::Link), "nothing was written");
}

#[test]
fn suspend_and_resume() {
    let (_dir, store) = open();
    assert_not_found(store.set_suspended("c1", "a1", true, T0));
    linked_with_access(&store, "c1", "a1", T0 + DAY);

    let grant = store.set_suspended("c1", "a1", true, T0 + HOUR).unwrap();
    assert_eq!(grant.status, GrantStatus::Suspended);
    assert_conflict(store.set_suspended("c1", "a1", true, T0 + HOUR));
    // Suspended access is still live: it blocks a new access request and shows in live lists.
    assert_eq!(live_grants(&store, "c1", T0 + HOUR)[0].status, GrantStatus::Suspended);
    assert_conflict(store.create_request(access_request("c1", "a1"), T0 + HOUR));

    let grant = store.set_suspended("c1", "a1", false, T0 + 2 * HOUR).unwrap();
    assert_eq!(grant.status, GrantStatus::Active);
    assert_conflict(store.set_suspended("c1", "a1", false, T0 + 2 * HOUR));
    assert_not_found(store.set_suspended("c1", "a2", true, T0));
}

#[test]
fn filters_select_by_party_and_status_newest_first() {
    let (_dir, store) = open();
    linked_with_access(&store, "c1", "a1", T0 + DAY);
    linked_with_access(&store, "c2", "a1", T0 + DAY);
    store.create_request(link_request("c1", "a2", T0 + DAY, true), T0).unwrap();

    let by_agency = |agency: &str| GrantFilter { agency_id: Some(agency.into()), ..GrantFilter::default() };
    let creators: Vec<_> = store.grants(&by_agency("a1"), T0).unwrap().into_iter().map(|g| g.creator_id).collect();
    assert_eq!(creators, vec!["c2", "c1"]);
    assert!(store.grants(&by_agency("a2"), T0).unwrap().is_empty());
    assert_eq!(store.grants(&GrantFilter::default(), T0).unwrap().len(), 2);

    let pending = RequestFilter { status: Some(RequestStatus::Pending), ..RequestFilter::default() };
    let pending = store.requests(&pending, T0).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].agency_id, "a2");
    let pair = RequestFilter { creator_id: Some("c1".into()), agency_id: Some("a1".into()), status: None };
    assert_eq!(store.requests(&pair, T0).unwrap().len(), 1);
    assert_eq!(requests_of(&store, "c1", T0).len(), 2);

    let links = store.links(&LinkFilter { creator_id: None, agency_id: Some("a1".into()) }, T0).unwrap();
    assert_eq!(links.iter().map(|l| l.creator_id.as_str()).collect::<Vec<_>>(), vec!["c2", "c1"]);
    assert_eq!(store.links(&LinkFilter::default(), T0).unwrap().len(), 3);
}
