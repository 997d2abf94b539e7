//! Creator Partner Access end to end: requests (plain and bundled), decisions, operating under a
//! grant, unlinking, relinking without access, expiry, suspension, notifications and the audit
//! trail — with real connections and a real SQLite database on disk.

mod common;

use common::*;
use stagehand::client::Client;
use stagehand_protocol::client::NewLink;
use stagehand_protocol::server::{Control, ReplyResult, ServerMessage};
use stagehand_protocol::types::{AccessRequestInfo, Billboard, LinkStatus, RequestKind, RequestStatus, Scope};
use stagehand_protocol::{CloseCode, Command, ErrorCode, Wire};

fn billboard() -> Billboard {
    Billboard {
        billboard_id: "b".into(),
        title: "Sale".into(),
        text: None,
        image_url: None,
        link_url: None,
        ..Default::default()
    }
}

fn ends_in(ms: u64) -> Option<NewLink> {
    Some(NewLink { agreement_ends_at: stagehand::clock::now_ms() + ms })
}

/// Send an access request from an agency console; returns the request.
async fn ask(
    agency: &mut Client,
    link: Option<NewLink>,
    live_access: bool,
    scopes: Option<Vec<Scope>>,
) -> AccessRequestInfo {
    let reply =
        agency.request(Command::AccessRequest { creator: "cara".into(), link, live_access, scopes }).await.unwrap();
    match reply.result {
        Some(ReplyResult::Request { request }) => request,
        other => panic!("expected a request, got {other:?} ({:?})", reply.error),
    }
}

async fn decide(creator: &mut Client, request_id: &str, accept: bool) -> ReplyResult {
    let command = if accept {
        Command::AccessAccept { request_id: request_id.into() }
    } else {
        Command::AccessDecline { request_id: request_id.into() }
    };
    let reply = creator.request(command).await.unwrap();
    assert_ok(&reply);
    reply.result.unwrap()
}

/// The kinds of the notifications a connection receives until the hub closes it, and the close code.
async fn notifications_until_closed(client: &mut Client) -> (Vec<String>, u16) {
    let mut kinds = Vec::new();
    loop {
        match client.next().await {
            Ok(ServerMessage::Control(Control::Notification(n))) => kinds.push(n.kind),
            Ok(_) => {}
            Err(stagehand::client::ClientError::Closed(Some((code, _)))) => return (kinds, code),
            Err(other) => panic!("expected a close frame, got {other:?}"),
        }
    }
}

async fn link_status(creator: &mut Client) -> Vec<LinkStatus> {
    match creator.request(Command::ListLinks).await.unwrap().result {
        Some(ReplyResult::Links { items }) => items.into_iter().map(|l| l.status).collect(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn link_then_access_declined_keeps_the_link_then_accepted_lets_the_agency_operate() {
    for wire in Wire::BOTH {
        let hub = start().await;
        let (mut cara, _viewer) = live_room(&hub, wire, "show", "cara").await;
        let mut console = hub.agency(wire, "sam", "acme", "cara").await;

        // A link without LIVE Manager access: accepted, but no operating.
        let link_only = ask(&mut console, ends_in(DAY), false, None).await;
        assert_eq!(link_only.kind, RequestKind::Link);
        let pushed = notification(&mut cara).await;
        assert_eq!((pushed.kind.as_str(), pushed.read), ("access_requested", false));
        decide(&mut cara, &link_only.request_id, true).await;
        assert_eq!(notification(&mut console).await.kind, "link_accepted");
        assert_eq!(link_status(&mut cara).await, [LinkStatus::Active]);
        assert_error(
            &console.request(Command::Join { room: "show".into(), since: None }).await.unwrap(),
            ErrorCode::Forbidden,
        );

        // Access for the existing link, declined: only the access is rejected, the link stays.
        let access = ask(&mut console, None, true, None).await;
        assert_eq!(access.kind, RequestKind::Access);
        decide(&mut cara, &access.request_id, false).await;
        assert_eq!(notification(&mut console).await.kind, "access_declined");
        assert_eq!(link_status(&mut cara).await, [LinkStatus::Active]);
        assert_error(
            &console.request(Command::Join { room: "show".into(), since: None }).await.unwrap(),
            ErrorCode::Forbidden,
        );

        // Asked again and accepted: access for the whole agreement; the agency operates.
        let access = ask(&mut console, None, true, None).await;
        let ReplyResult::Decision { grant: Some(grant), .. } = decide(&mut cara, &access.request_id, true).await else {
            panic!("accepting access makes a grant")
        };
        assert_eq!(grant.expires_at, link_only.agreement_ends_at);
        assert_eq!(notification(&mut console).await.kind, "access_granted");
        ok_snapshot(console.request(Command::Join { room: "show".into(), since: None }).await.unwrap());
        assert_ok(
            &console.request(Command::DeployBillboard { room: "show".into(), billboard: billboard() }).await.unwrap(),
        );
        // The creator is told staff joined, in its inbox too.
        let n = notification_of(&mut cara, "staff_joined").await;
        assert_eq!(n.data["staff_id"], "sam");
        // Agency staff still never start or end the LIVE.
        assert_error(&console.request(Command::EndRoom { room: "show".into() }).await.unwrap(), ErrorCode::Forbidden);
    }
}

#[tokio::test]
async fn declining_a_bundled_request_cancels_the_whole_link() {
    let hub = start().await;
    let mut cara = hub.creator(Wire::Json, "cara").await;
    let mut console = hub.agency(Wire::Json, "sam", "acme", "cara").await;
    let bundled = ask(&mut console, ends_in(DAY), true, None).await;
    assert_eq!(bundled.kind, RequestKind::LinkAndAccess);
    let pending = match cara
        .request(Command::ListAccessRequests { status: Some(RequestStatus::Pending) })
        .await
        .unwrap()
        .result
    {
        Some(ReplyResult::Requests { items }) => items,
        other => panic!("{other:?}"),
    };
    assert_eq!(pending.iter().map(|r| r.request_id.as_str()).collect::<Vec<_>>(), [bundled.request_id.as_str()]);
    decide(&mut cara, &bundled.request_id, false).await;
    assert_eq!(link_status(&mut cara).await, [LinkStatus::Declined]);
    assert_eq!(notification(&mut console).await.kind, "link_declined");
    // Deciding twice is a conflict; nothing to operate with.
    assert_error(
        &cara.request(Command::AccessAccept { request_id: bundled.request_id.clone() }).await.unwrap(),
        ErrorCode::Conflict,
    );
    let (status, grants) = hub.api_get("/api/v1/grants?creator_id=cara&live_only=true").await;
    assert_eq!((status, grants["items"].as_array().map(Vec::len)), (200, Some(0)));
}

#[tokio::test]
async fn unlinking_revokes_access_and_closes_the_agency_then_a_relink_without_access_operates_nothing() {
    let hub = start().await;
    let (mut cara, _viewer) = live_room(&hub, Wire::MsgPack, "show", "cara").await;
    let mut console = hub.agency(Wire::MsgPack, "sam", "acme", "cara").await;
    let bundled = ask(&mut console, ends_in(DAY), true, None).await;
    decide(&mut cara, &bundled.request_id, true).await;
    let mut operator = hub.agency(Wire::Json, "ola", "acme", "cara").await;
    // Caught up (the unread `access_granted` arrived): from now on notifications come live.
    notification_of(&mut operator, "access_granted").await;
    ok_snapshot(operator.request(Command::Join { room: "show".into(), since: None }).await.unwrap());

    let reply = cara.request(Command::Unlink { link_id: bundled.link_id.clone() }).await.unwrap();
    assert!(matches!(reply.result, Some(ReplyResult::Unlinked { revoked: Some(_), .. })), "{reply:?}");
    // The operator in the room is told first (the agency's inbox), then closed with access_revoked.
    let (kinds, code) = notifications_until_closed(&mut operator).await;
    assert_eq!(code, CloseCode::ACCESS_REVOKED.0);
    assert_eq!(kinds, ["access_revoked"]);
    notification_of(&mut console, "access_revoked").await;
    assert_error(
        &console.request(Command::Join { room: "show".into(), since: None }).await.unwrap(),
        ErrorCode::Forbidden,
    );

    // A new link request without LIVE Manager access: accepted, and still no operating.
    let relink = ask(&mut console, ends_in(DAY), false, None).await;
    decide(&mut cara, &relink.request_id, true).await;
    assert_error(
        &console.request(Command::Join { room: "show".into(), since: None }).await.unwrap(),
        ErrorCode::Forbidden,
    );
    assert_error(
        &console.request(Command::DeployBillboard { room: "show".into(), billboard: billboard() }).await.unwrap(),
        ErrorCode::Forbidden,
    );
}

#[tokio::test]
async fn access_ends_by_itself_when_the_agreement_ends() {
    let hub = start().await;
    let (_cara, _viewer) = live_room(&hub, Wire::Json, "show", "cara").await;
    hub.grant("cara", "acme", None, 1_500).await;
    let mut operator = hub.agency(Wire::Json, "sam", "acme", "cara").await;
    ok_snapshot(operator.request(Command::Join { room: "show".into(), since: None }).await.unwrap());
    assert_ok(
        &operator.request(Command::DeployBillboard { room: "show".into(), billboard: billboard() }).await.unwrap(),
    );
    // No restart, no call: the agreement's end closes the connection within a second.
    let (code, _) = operator.closed().await.unwrap();
    assert_eq!(code, CloseCode::ACCESS_EXPIRED.0);
    let mut again = hub.agency(Wire::Json, "sam", "acme", "cara").await;
    let reply = again.request(Command::Join { room: "show".into(), since: None }).await.unwrap();
    assert_error(&reply, ErrorCode::Forbidden);
    assert!(reply.error.unwrap().message.contains("ended"));
}

#[tokio::test]
async fn reporting_an_agency_suspends_it_at_once_until_the_creator_resumes() {
    let hub = start().await;
    let (mut cara, _viewer) = live_room(&hub, Wire::MsgPack, "show", "cara").await;
    hub.grant("cara", "acme", None, DAY).await;
    let mut console = hub.agency(Wire::MsgPack, "boss", "acme", "cara").await;
    let mut operator = hub.agency(Wire::MsgPack, "sam", "acme", "cara").await;
    notification_of(&mut operator, "access_granted").await;
    ok_snapshot(operator.request(Command::Join { room: "show".into(), since: None }).await.unwrap());

    let reply = cara
        .request(Command::ReportAgency { agency: "acme".into(), reason: Some("odd deletes".into()) })
        .await
        .unwrap();
    assert_ok(&reply);
    // The operator receives the notification, then the close frame.
    let (kinds, code) = notifications_until_closed(&mut operator).await;
    assert_eq!((kinds.as_slice(), code), (["access_suspended".to_string()].as_slice(), CloseCode::ACCESS_SUSPENDED.0));
    notification_of(&mut console, "access_suspended").await;
    // The creator's inbox says the expelled operator left the room.
    let left = notification_of(&mut cara, "staff_left").await;
    assert_eq!((left.data["staff_id"].as_str(), left.data["room"].as_str()), (Some("sam"), Some("show")));
    let reply = console.request(Command::Join { room: "show".into(), since: None }).await.unwrap();
    assert_error(&reply, ErrorCode::Forbidden);
    assert!(reply.error.unwrap().message.contains("suspended"));

    assert_ok(&cara.request(Command::ResumeAgency { agency: "acme".into() }).await.unwrap());
    notification_of(&mut console, "access_resumed").await;
    ok_snapshot(console.request(Command::Join { room: "show".into(), since: None }).await.unwrap());

    let audit = match cara.request(Command::ListAudit { agency: None, before: None, limit: None }).await.unwrap().result
    {
        Some(ReplyResult::Audit { items, .. }) => items,
        other => panic!("{other:?}"),
    };
    let commands: Vec<&str> = audit.iter().map(|a| a.command.as_str()).collect();
    assert!(commands.contains(&"report_agency") && commands.contains(&"resume_agency"), "{commands:?}");
}

#[tokio::test]
async fn scoped_grants_allow_only_what_was_granted() {
    let hub = start().await;
    let (_cara, mut viewer) = live_room(&hub, Wire::Json, "show", "cara").await;
    hub.grant("cara", "acme", Some(vec!["moderation"]), DAY).await;
    let mut moderator = hub.agency(Wire::Json, "sam", "acme", "cara").await;
    ok_snapshot(moderator.request(Command::Join { room: "show".into(), since: None }).await.unwrap());
    let reply = viewer.request(Command::Comment { room: "show".into(), text: "buy crypto".into() }).await.unwrap();
    let Some(ReplyResult::Comment { comment_id, .. }) = reply.result else { panic!("{reply:?}") };
    assert_ok(&moderator.request(Command::DeleteComment { room: "show".into(), comment_id }).await.unwrap());
    let reply =
        moderator.request(Command::DeployBillboard { room: "show".into(), billboard: billboard() }).await.unwrap();
    assert_error(&reply, ErrorCode::Forbidden);
    assert!(reply.error.unwrap().message.contains("billboards"));
}

#[tokio::test]
async fn notifications_wait_for_offline_creators_and_ack_marks_them_read() {
    let hub = start().await;
    let mut console = hub.agency(Wire::Json, "sam", "acme", "cara").await;
    ask(&mut console, ends_in(DAY), true, Some(vec![Scope::Moderation])).await;
    // The agency schedules nothing yet; the creator connects later and finds the request unread.
    let mut cara = hub.creator(Wire::MsgPack, "cara").await;
    let unread = notification(&mut cara).await;
    assert_eq!((unread.kind.as_str(), unread.read), ("access_requested", false));
    let reply = cara.request(Command::Ack { notification_ids: vec![unread.notification_id] }).await.unwrap();
    assert!(matches!(reply.result, Some(ReplyResult::Acked { updated: 1 })));
    cara.close().await;
    let mut cara = hub.creator(Wire::MsgPack, "cara").await;
    let reply =
        cara.request(Command::ListNotifications { unread_only: true, before: None, limit: None }).await.unwrap();
    assert!(matches!(reply.result, Some(ReplyResult::Notifications { ref items }) if items.is_empty()), "{reply:?}");
    let reply =
        cara.request(Command::ListNotifications { unread_only: false, before: None, limit: None }).await.unwrap();
    match reply.result {
        Some(ReplyResult::Notifications { items }) => assert!(items.len() == 1 && items[0].read),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_agency_scheduling_a_live_notifies_the_creator() {
    let hub = start().await;
    hub.grant("cara", "acme", None, DAY).await;
    let mut cara = hub.creator(Wire::Json, "cara").await;
    let mut planner = hub.agency(Wire::Json, "sam", "acme", "cara").await;
    let starts_at = stagehand::clock::now_ms() + 3_600_000;
    let reply = planner
        .request(Command::ScheduleRoom { room: "friday".into(), title: "Friday deals".into(), starts_at })
        .await
        .unwrap();
    ok_snapshot(reply);
    let n = notification_of(&mut cara, "live_scheduled").await;
    assert_eq!((n.data["room"].as_str(), n.data["staff_id"].as_str()), (Some("friday"), Some("sam")));
    // Viewers can wait in the scheduled room; only cara can start it.
    let mut viewer = hub.viewer(Wire::Json, "v").await;
    ok_snapshot(viewer.request(Command::Join { room: "friday".into(), since: None }).await.unwrap());
    assert_error(
        &planner.request(Command::StartRoom { room: "friday".into(), title: None, event_id: None }).await.unwrap(),
        ErrorCode::Forbidden,
    );
    ok_snapshot(cara.request(Command::StartRoom { room: "friday".into(), title: None, event_id: None }).await.unwrap());
    assert_eq!(viewer.next_non_count_event().await.unwrap().body.name(), "room_started");
}

#[tokio::test]
async fn the_audit_trail_shows_refused_attempts_with_the_real_staff_member_to_the_creator_only() {
    let hub = start().await;
    let (mut cara, mut viewer) = live_room(&hub, Wire::Json, "show", "cara").await;
    hub.grant("cara", "acme", None, DAY).await;
    let mut sam = hub.agency(Wire::Json, "sam", "acme", "cara").await;
    ok_snapshot(sam.request(Command::Join { room: "show".into(), since: None }).await.unwrap());
    assert_error(&sam.request(Command::EndRoom { room: "show".into() }).await.unwrap(), ErrorCode::Forbidden);
    assert_error(
        &sam.request(Command::StartRoom { room: "next".into(), title: None, event_id: None }).await.unwrap(),
        ErrorCode::Forbidden,
    );
    assert_ok(&sam.request(Command::DeployBillboard { room: "show".into(), billboard: billboard() }).await.unwrap());

    let page = |before| Command::ListAudit { agency: Some("acme".into()), before, limit: Some(2) };
    let (items, next) = match cara.request(page(None)).await.unwrap().result {
        Some(ReplyResult::Audit { items, next_before }) => (items, next_before),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        items.iter().map(|a| (a.command.as_str(), a.outcome.as_str())).collect::<Vec<_>>(),
        [("deploy_billboard", "ok"), ("start_room", "forbidden")]
    );
    assert!(items.iter().all(|a| a.staff_id == "sam" && a.agency_id == "acme"));
    let older = match cara.request(page(next)).await.unwrap().result {
        Some(ReplyResult::Audit { items, .. }) => items,
        other => panic!("{other:?}"),
    };
    assert_eq!(older.iter().map(|a| a.command.as_str()).collect::<Vec<_>>(), ["end_room", "join"]);

    // Only the creator reads it; admins read it over the API.
    assert_error(&viewer.request(page(None)).await.unwrap(), ErrorCode::Forbidden);
    assert_error(&sam.request(page(None)).await.unwrap(), ErrorCode::Forbidden);
    let (status, body) = hub.api_get("/api/v1/audit?creator_id=cara&limit=10").await;
    assert_eq!((status, body["items"].as_array().map(Vec::len)), (200, Some(4)));
}

#[tokio::test]
async fn a_large_unread_inbox_is_pushed_as_one_page_and_the_rest_is_announced_for_paging() {
    // 515 unread notifications are waiting before the hub starts.
    let data = tempfile::tempdir().unwrap();
    {
        use stagehand::store::Store;
        let store = stagehand::store::SqliteStore::open(data.path()).unwrap();
        for i in 0..515 {
            store.notify("user:cara", "staff_joined", serde_json::json!({ "i": i }), 1_000 + i).unwrap();
        }
    }
    let path = data.path().to_path_buf();
    let hub = start_with(|c| {
        c.data_dir = path;
        // Half of it is a page of 128 notifications at 1 KiB each.
        c.queue_max_bytes = 256 * 1024;
    })
    .await;
    let mut cara = hub.creator(Wire::Json, "cara").await;

    // The newest page that fits half the backlog (128 KiB at 1 KiB each), oldest first, then the
    // announcement.
    let mut pushed = Vec::new();
    let before = loop {
        match cara.next().await.unwrap() {
            ServerMessage::Control(Control::Notification(n)) => pushed.push(n.notification_id),
            ServerMessage::Control(Control::NotificationsRemaining(r)) => break r.before,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(pushed, (388..=515).collect::<Vec<u64>>());
    assert_eq!(before, Some(388));

    // Paging from there finds every other unread notification, once.
    let mut paged = Vec::new();
    let mut cursor = before;
    loop {
        let page = Command::ListNotifications { unread_only: true, before: cursor, limit: Some(500) };
        let Some(ReplyResult::Notifications { items }) = cara.request(page).await.unwrap().result else { panic!() };
        let Some(last) = items.last() else { break };
        cursor = Some(last.notification_id);
        paged.extend(items.iter().map(|n| n.notification_id));
    }
    paged.reverse();
    assert_eq!(paged, (1..388).collect::<Vec<u64>>());

    // The connection is live now: a new notification arrives, nothing was dropped or closed.
    let mut console = hub.agency(Wire::Json, "sam", "acme", "cara").await;
    ask(&mut console, ends_in(DAY), true, None).await;
    let n = notification(&mut cara).await;
    assert_eq!((n.kind.as_str(), n.notification_id), ("access_requested", 516));
}
