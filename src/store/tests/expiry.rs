//! Expiry by the clock: the caller's `now` passing `agreement_ends_at`, with no sweep and no sleeping.

use super::*;

#[test]
fn access_ends_with_the_agreement() {
    let (_dir, store) = open();
    let ends = T0 + DAY;
    let grant = linked_with_access(&store, "c1", "a1", ends).grant.unwrap();

    assert_eq!(live_grants(&store, "c1", ends - 1), vec![grant.clone()]);
    assert!(live_grants(&store, "c1", ends).is_empty(), "expires_at is exclusive");
    // The stored grant keeps its status; callers compare expires_at with their clock.
    let history = all_grants(&store, "c1");
    assert_eq!((history[0].status, history[0].expires_at), (GrantStatus::Active, ends));

    assert_eq!(links_of(&store, "c1", ends - 1)[0].status, LinkStatus::Active);
    assert_eq!(links_of(&store, "c1", ends)[0].status, LinkStatus::Ended);
    assert_eq!(requests_of(&store, "c1", ends)[0].status, RequestStatus::Accepted, "decided requests stay decided");

    // Nothing is live any more, so there is nothing to suspend, unlink or ask access on.
    assert_not_found(store.set_suspended("c1", "a1", true, ends));
    assert_conflict(store.unlink(&grant.link_id, &Party::Creator("c1".into()), ends));
    assert_not_found(store.create_request(access_request("c1", "a1"), ends));
}

#[test]
fn a_new_link_can_be_requested_once_the_agreement_ended() {
    let (_dir, store) = open();
    let ends = T0 + DAY;
    let old = linked_with_access(&store, "c1", "a1", ends);
    assert_conflict(store.create_request(link_request("c1", "a1", ends + DAY, true), ends - 1));

    let req = store.create_request(link_request("c1", "a1", ends + DAY, true), ends).unwrap();
    let decision = store.decide_request(&req.request_id, "c1", true, ends).unwrap();
    let grant = decision.grant.unwrap();
    assert_eq!(grant.expires_at, ends + DAY);
    assert_eq!(live_grants(&store, "c1", ends), vec![grant]);

    let links = links_of(&store, "c1", ends);
    assert_eq!(links.len(), 2);
    assert_eq!((links[0].status, links[1].status), (LinkStatus::Active, LinkStatus::Ended));
    // Even read "as of" before its end, the old link is now stored as ended: a second open link for the
    // pair would otherwise exist.
    let old_link = links_of(&store, "c1", T0).into_iter().find(|l| l.link_id == old.link.link_id).unwrap();
    assert_eq!(old_link.status, LinkStatus::Ended);
}

#[test]
fn accepting_after_the_agreement_ended_is_a_conflict() {
    let (_dir, store) = open();
    let ends = T0 + DAY;
    let req = store.create_request(link_request("c1", "a1", ends, true), T0).unwrap();
    assert_conflict(store.decide_request(&req.request_id, "c1", true, ends));
    assert_conflict(store.decide_request(&req.request_id, "c1", true, ends + DAY));
    assert!(all_grants(&store, "c1").is_empty());

    // An access request on a link whose agreement ends before the creator answers.
    linked(&store, "c2", "a1", ends);
    let access = store.create_request(access_request("c2", "a1"), T0).unwrap();
    assert_conflict(store.decide_request(&access.request_id, "c2", true, ends));
    assert!(all_grants(&store, "c2").is_empty());
}

#[test]
fn a_pending_request_lapses_into_cancelled() {
    let (_dir, store) = open();
    let ends = T0 + DAY;
    let req = store.create_request(link_request("c1", "a1", ends, false), T0).unwrap();

    let pending_only = RequestFilter { status: Some(RequestStatus::Pending), ..RequestFilter::default() };
    let cancelled_only = RequestFilter { status: Some(RequestStatus::Cancelled), ..RequestFilter::default() };
    assert_eq!(store.requests(&pending_only, ends - 1).unwrap().len(), 1);
    assert!(store.requests(&pending_only, ends).unwrap().is_empty());
    let lapsed = store.requests(&cancelled_only, ends).unwrap();
    assert_eq!(lapsed.len(), 1);
    assert_eq!((lapsed[0].status, lapsed[0].decided_at), (RequestStatus::Cancelled, Some(ends)));
    assert_eq!(links_of(&store, "c1", ends)[0].status, LinkStatus::Ended);
    assert_conflict(store.decide_request(&req.request_id, "c1", false, ends));

    // A new link request writes the lapse down; the old request reads the same as before.
    store.create_request(link_request("c1", "a1", ends + DAY, false), ends + HOUR).unwrap();
    let old = store.requests(&cancelled_only, T0).unwrap();
    assert_eq!(old, lapsed, "stored cancellation matches the one reported on read");
}
