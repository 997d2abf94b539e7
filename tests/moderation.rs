//! Comments and moderation end to end, over real connections: who may moderate, the comment
//! pipeline (keyword filter against Unicode disguises, links, repeats, floods, slow mode), held
//! comments (shadow-hidden from everyone but their author, reviewed by staff), mutes, blocks and
//! hidden users, what each audience receives, the snapshot and recovery, the audit trail, and the
//! moderation rate limits.

mod common;

use common::*;
use stagehand::client::Client;
use stagehand_protocol::client::Since;
use stagehand_protocol::server::{Event, EventBody, Reply, ReplyResult};
use stagehand_protocol::types::{
    AuditRecord, BlockedTerm, CommentSettings, HoldReason, ModeratedUser, ModerationAction, MuteDuration, Sanction,
};
use stagehand_protocol::{Command, ErrorCode, Wire};

const ROOM: &str = "mod-room";

/// A live room of `cara` with a viewer `vic` (the one moderated), a bystander viewer `bea`, and a
/// console of agency `acme` (staff `sam`) with the given scopes, joined.
struct Scene {
    hub: TestHub,
    cara: Client,
    vic: Client,
    bea: Client,
    sam: Client,
}

async fn scene_with(scopes: Option<Vec<&str>>, tweak: impl FnOnce(&mut stagehand::Config)) -> Scene {
    let hub = start_with(tweak).await;
    hub.grant("cara", "acme", scopes, DAY).await;
    let mut cara = hub.creator(Wire::Json, "cara").await;
    ok_snapshot(cara.request(Command::StartRoom { room: ROOM.into(), title: None, event_id: None }).await.unwrap());
    let mut sam = hub.agency(Wire::MsgPack, "sam", "acme", "cara").await;
    ok_snapshot(sam.request(Command::Join { room: ROOM.into(), since: None }).await.unwrap());
    // The creator sees staff arrive; drain it so tests start from a quiet room.
    assert_eq!(cara.next_non_count_event().await.unwrap().body.name(), "staff_joined");
    let mut vic = hub.viewer(Wire::MsgPack, "vic").await;
    ok_snapshot(vic.request(Command::Join { room: ROOM.into(), since: None }).await.unwrap());
    let mut bea = hub.viewer(Wire::Json, "bea").await;
    ok_snapshot(bea.request(Command::Join { room: ROOM.into(), since: None }).await.unwrap());
    Scene { hub, cara, vic, bea, sam }
}

async fn scene() -> Scene {
    scene_with(None, |_| {}).await
}

fn comment(text: &str) -> Command {
    Command::Comment { room: ROOM.into(), text: text.into() }
}

fn mute(user: &str, duration: MuteDuration, remove_comments: bool) -> Command {
    Command::Mute { room: ROOM.into(), user_id: user.into(), duration, remove_comments }
}

fn terms(list: &[&str]) -> Command {
    let terms = list.iter().map(|t| BlockedTerm { term: (*t).into(), expires_at: None }).collect();
    Command::AddBlockedTerms { room: ROOM.into(), terms }
}

fn comment_id(reply: &Reply) -> u64 {
    match reply.result {
        Some(ReplyResult::Comment { comment_id, .. }) => comment_id,
        _ => panic!("expected a comment reply, got {reply:?}"),
    }
}

async fn list(client: &mut Client) -> (Vec<BlockedTerm>, Vec<ModeratedUser>) {
    let reply = client.request(Command::ListModeration { room: ROOM.into() }).await.unwrap();
    match reply.result {
        Some(ReplyResult::Moderation { terms, users }) => (terms, users),
        _ => panic!("expected the moderation lists, got {reply:?}"),
    }
}

/// The next event that is not a viewer count.
async fn next(client: &mut Client) -> Event {
    client.next_non_count_event().await.unwrap()
}

/// Skip to the next event named `name`.
async fn next_of(client: &mut Client, name: &str) -> Event {
    loop {
        let event = next(client).await;
        if event.body.name() == name {
            return event;
        }
    }
}

/// Post a marker comment as the creator and return the bystander's next event: proof of what the
/// bystander did NOT receive before it (events arrive in order).
async fn bystander_next(s: &mut Scene) -> Event {
    assert_ok(&s.cara.request(comment("marker")).await.unwrap());
    next(&mut s.bea).await
}

async fn audit(hub: &TestHub) -> Vec<AuditRecord> {
    let (status, body) = hub.api_get("/api/v1/audit?creator_id=cara&limit=100").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body["items"].clone()).unwrap()
}

#[tokio::test]
async fn the_creator_and_agencies_with_moderation_may_moderate_others_are_forbidden() {
    let mut s = scene().await;
    let hub = &s.hub;
    let mut narrow = hub.agency(Wire::Json, "nia", "narrow", "cara").await;
    hub.grant("cara", "narrow", Some(vec!["billboards"]), DAY).await;
    let commands = [
        Command::SetCommentSettings { room: ROOM.into(), slow_mode_ms: Some(0), links_allowed: None },
        terms(&["spam"]),
        mute("zed", MuteDuration::Min1, false),
        Command::HideUser { room: ROOM.into(), user_id: "zed".into() },
        Command::Block { room: ROOM.into(), user_id: "zed".into() },
        Command::ListModeration { room: ROOM.into() },
    ];
    for command in commands {
        let name = command.name();
        assert_ok(&s.cara.request(command.clone()).await.unwrap());
        assert_ok(&s.sam.request(command.clone()).await.unwrap());
        let reply = narrow.request(command.clone()).await.unwrap();
        assert_error(&reply, ErrorCode::Forbidden);
        assert_error(&s.vic.request(command.clone()).await.unwrap(), ErrorCode::Forbidden);
        let _ = name;
    }
    // A viewer cannot have a comment reviewed either.
    let review = Command::ReviewComment { room: ROOM.into(), comment_id: 1, approve: true };
    assert_error(&s.vic.request(review.clone()).await.unwrap(), ErrorCode::Forbidden);
    assert_error(&narrow.request(review).await.unwrap(), ErrorCode::Forbidden);

    // Agency actions are audited once each, with the real staff member; refusals too.
    let rows = audit(hub).await;
    for command in ["set_comment_settings", "add_blocked_terms", "mute", "hide_user", "block"] {
        let ok: Vec<&AuditRecord> =
            rows.iter().filter(|r| r.command == command && r.outcome == "ok" && r.staff_id == "sam").collect();
        assert_eq!(ok.len(), 1, "{command}: {rows:?}");
        assert_eq!(ok[0].room.as_deref(), Some(ROOM));
        assert!(rows.iter().any(|r| r.command == command && r.outcome == "forbidden" && r.staff_id == "nia"));
    }
}

#[tokio::test]
async fn the_keyword_filter_holds_unicode_disguises_the_author_sees_them_sent_and_staff_review_them() {
    let mut s = scene_with(None, |c| c.comment_burst = 100).await;
    assert_ok(&s.sam.request(terms(&["free", "scam*"])).await.unwrap());
    // Staff (creator and agency) learn of the change; the agency's operator is named to them.
    let changed = next(&mut s.cara).await;
    match &changed.body {
        EventBody::Moderated { action: ModerationAction::TermsAdded, terms, operator: Some(op), .. } => {
            assert_eq!(terms, &vec!["free".to_string(), "scam*".to_string()]);
            assert_eq!(op.staff_id, "sam");
        }
        other => panic!("expected moderated, got {other:?}"),
    }
    assert!(changed.staff_seq.is_some(), "staff-only events are on the staff stream");

    let mut held = Vec::new();
    for text in ["ｆｒｅｅ phones", "Frée phones", "f\u{200b}ree phones", "frее phones", "total SCAMMERS"] {
        let reply = s.vic.request(comment(text)).await.unwrap();
        let id = comment_id(&reply);
        // The author sees its comment as sent…
        match next(&mut s.vic).await.body {
            EventBody::Comment { comment_id, text: got, author, .. } => {
                assert_eq!((comment_id, got.as_str(), author.id.as_str()), (id, text, "vic"));
            }
            other => panic!("the author should see its comment, got {other:?}"),
        }
        // …staff see it held, with the reason…
        match next_of(&mut s.sam, "comment_held").await.body {
            EventBody::CommentHeld { comment } => {
                assert_eq!((comment.comment_id, comment.reason), (id, HoldReason::Keyword));
                assert_eq!(comment.text, text);
            }
            other => panic!("staff should see the held comment, got {other:?}"),
        }
        held.push(id);
    }
    // …and the rest of the room saw none of them.
    let seen = bystander_next(&mut s).await;
    assert!(matches!(&seen.body, EventBody::Comment { text, .. } if text == "marker"), "{seen:?}");
    // A clean comment goes through.
    let id = comment_id(&s.vic.request(comment("lovely lamp")).await.unwrap());
    assert!(matches!(next(&mut s.bea).await.body, EventBody::Comment { comment_id, .. } if comment_id == id));

    // The review list is in the staff snapshot (not in a viewer's).
    let mut late = s.hub.agency(Wire::Json, "sam", "acme", "cara").await;
    let snap = ok_snapshot(late.request(Command::Join { room: ROOM.into(), since: None }).await.unwrap());
    let listed: Vec<u64> = snap.held.unwrap().iter().map(|c| c.comment_id).collect();
    assert_eq!(listed, held);
    let mut viewer = s.hub.viewer(Wire::Json, "vera").await;
    assert_eq!(ok_snapshot(viewer.request(Command::Join { room: ROOM.into(), since: None }).await.unwrap()).held, None);

    // Approve one: everyone gets it with the id its author saw. Reject another.
    let approve = Command::ReviewComment { room: ROOM.into(), comment_id: held[0], approve: true };
    assert_ok(&s.sam.request(approve).await.unwrap());
    let public = next(&mut s.bea).await;
    match &public.body {
        EventBody::Comment { comment_id, author, text, operator } => {
            assert_eq!((*comment_id, author.id.as_str(), text.as_str()), (held[0], "vic", "ｆｒｅｅ phones"));
            assert_eq!(*operator, None);
        }
        other => panic!("the approved comment should be broadcast, got {other:?}"),
    }
    let reject = Command::ReviewComment { room: ROOM.into(), comment_id: held[1], approve: false };
    assert_ok(&s.cara.request(reject.clone()).await.unwrap());
    assert_error(&s.cara.request(reject).await.unwrap(), ErrorCode::NotFound);
    let mut later = s.hub.creator(Wire::MsgPack, "cara").await;
    let snap = ok_snapshot(later.request(Command::Join { room: ROOM.into(), since: None }).await.unwrap());
    let listed: Vec<u64> = snap.held.unwrap().iter().map(|c| c.comment_id).collect();
    assert_eq!(listed, held[2..].to_vec());

    // Removing the term lets the text through again.
    let remove = Command::RemoveBlockedTerms { room: ROOM.into(), terms: vec!["free".into()] };
    assert_ok(&s.cara.request(remove).await.unwrap());
    let (terms, _) = list(&mut s.cara).await;
    assert_eq!(terms.iter().map(|t| t.term.as_str()).collect::<Vec<_>>(), vec!["scam*"]);
    let reply = s.vic.request(comment("free delivery?")).await.unwrap();
    let id = comment_id(&reply);
    assert!(matches!(next(&mut s.bea).await.body, EventBody::Comment { comment_id, .. } if comment_id == id));
}

#[tokio::test]
async fn links_repeats_and_floods_are_held_and_the_creator_is_exempt() {
    let mut s = scene_with(None, |c| {
        c.flood_comments = 4;
        c.comment_burst = 100;
        c.comment_rate = 1000.0;
    })
    .await;
    let held_reason = |e: Event| match e.body {
        EventBody::CommentHeld { comment } => comment.reason,
        other => panic!("expected comment_held, got {other:?}"),
    };
    // (`next_of` skips the staff console's other events.)
    // Links are not allowed by default.
    assert_ok(&s.vic.request(comment("deals at www.example.com")).await.unwrap());
    assert_eq!(held_reason(next_of(&mut s.sam, "comment_held").await), HoldReason::Link);
    // The creator's are not screened.
    assert_ok(&s.cara.request(comment("my shop: shop.example.com")).await.unwrap());
    assert!(matches!(next(&mut s.bea).await.body, EventBody::Comment { .. }));
    // Allowed in this room, a link goes through.
    let allow = Command::SetCommentSettings { room: ROOM.into(), slow_mode_ms: None, links_allowed: Some(true) };
    assert_ok(&s.cara.request(allow).await.unwrap());
    match next(&mut s.bea).await.body {
        EventBody::CommentSettings { settings, by, operator } => {
            assert_eq!(settings, CommentSettings { slow_mode_ms: 0, links_allowed: true });
            assert_eq!((by.id.as_str(), operator), ("cara", None));
        }
        other => panic!("expected comment_settings, got {other:?}"),
    }
    assert_ok(&s.vic.request(comment("see www.example.com")).await.unwrap());
    assert!(matches!(next(&mut s.bea).await.body, EventBody::Comment { .. }));

    // The same text again soon is held.
    assert_ok(&s.vic.request(comment("hello!")).await.unwrap());
    assert!(matches!(next(&mut s.bea).await.body, EventBody::Comment { .. }));
    assert_ok(&s.vic.request(comment("HELLO!")).await.unwrap());
    assert_eq!(held_reason(next_of(&mut s.sam, "comment_held").await), HoldReason::Repeated);
    // Floods: more than `flood_comments` in the window, and one character at length.
    let reply = s.vic.request(comment(&"!".repeat(30))).await.unwrap();
    assert_ok(&reply);
    assert_eq!(held_reason(next_of(&mut s.sam, "comment_held").await), HoldReason::Flood);
    let reply = s.vic.request(comment("one more")).await.unwrap();
    assert_ok(&reply);
    assert_eq!(
        held_reason(next_of(&mut s.sam, "comment_held").await),
        HoldReason::Flood,
        "the sixth comment in the window"
    );
}

#[tokio::test]
async fn slow_mode_spaces_viewers_comments_but_not_staff() {
    let mut s = scene().await;
    let slow = Command::SetCommentSettings { room: ROOM.into(), slow_mode_ms: Some(60_000), links_allowed: None };
    assert_ok(&s.sam.request(slow).await.unwrap());
    // Viewers see the setting as the creator's; staff see who did it.
    match next(&mut s.bea).await.body {
        EventBody::CommentSettings { settings, by, operator } => {
            assert_eq!((settings.slow_mode_ms, by.id.as_str(), operator), (60_000, "cara", None));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(next(&mut s.cara).await.body, EventBody::CommentSettings { operator: Some(_), .. }));
    assert_ok(&s.vic.request(comment("first")).await.unwrap());
    let reply = s.vic.request(comment("second")).await.unwrap();
    assert_error(&reply, ErrorCode::RateLimited);
    let wait = reply.error.unwrap().retry_after_ms.unwrap();
    assert!(wait > 0 && wait <= 60_000, "{wait}");
    // The creator and staff are exempt.
    for _ in 0..2 {
        assert_ok(&s.cara.request(comment("from cara")).await.unwrap());
        assert_ok(&s.sam.request(comment("from staff")).await.unwrap());
    }
    // A joiner learns the setting from the snapshot.
    let mut viewer = s.hub.viewer(Wire::Json, "vera").await;
    let snap = ok_snapshot(viewer.request(Command::Join { room: ROOM.into(), since: None }).await.unwrap());
    assert_eq!(snap.comment_settings, Some(CommentSettings { slow_mode_ms: 60_000, links_allowed: false }));
    let invalid = Command::SetCommentSettings { room: ROOM.into(), slow_mode_ms: Some(600_001), links_allowed: None };
    assert_error(&s.cara.request(invalid).await.unwrap(), ErrorCode::Invalid);
}

#[tokio::test]
async fn a_mute_refuses_comments_with_retry_after_and_can_remove_recent_ones_as_the_creator() {
    // Vic comments six times, on two connections sharing one budget.
    let mut s = scene_with(None, |c| c.comment_burst = 10).await;
    let first = comment_id(&s.vic.request(comment("one")).await.unwrap());
    let second = comment_id(&s.vic.request(comment("two")).await.unwrap());
    for _ in 0..2 {
        next(&mut s.bea).await;
    }
    assert_ok(&s.sam.request(mute("vic", MuteDuration::Min1, true)).await.unwrap());
    // Each removal is an ordered event, shown as the creator's to viewers.
    let mut removed = Vec::new();
    for _ in 0..2 {
        match next(&mut s.bea).await.body {
            EventBody::CommentDeleted { comment_id, by, operator } => {
                assert_eq!((by.id.as_str(), operator), ("cara", None));
                removed.push(comment_id);
            }
            other => panic!("expected comment_deleted, got {other:?}"),
        }
    }
    assert_eq!(removed, vec![first, second]);
    let reply = s.vic.request(comment("three")).await.unwrap();
    assert_error(&reply, ErrorCode::Muted);
    let wait = reply.error.unwrap().retry_after_ms.unwrap();
    assert!(wait > 0 && wait <= 60_000, "{wait}");
    let (_, users) = list(&mut s.cara).await;
    assert_eq!(users.len(), 1);
    assert_eq!((users[0].user_id.as_str(), users[0].sanction), ("vic", Sanction::Muted));
    // The creator cannot be muted; unknown pardons are not found.
    assert_error(&s.sam.request(mute("cara", MuteDuration::Min1, false)).await.unwrap(), ErrorCode::Invalid);
    let unhide = Command::UnhideUser { room: ROOM.into(), user_id: "vic".into() };
    assert_error(&s.sam.request(unhide).await.unwrap(), ErrorCode::NotFound);

    assert_ok(&s.cara.request(Command::Unmute { room: ROOM.into(), user_id: "vic".into() }).await.unwrap());
    assert_ok(&s.vic.request(comment("back")).await.unwrap());
    assert!(list(&mut s.cara).await.1.is_empty());

    // For the rest of the LIVE: no end time, and it ends with the LIVE.
    assert_ok(&s.cara.request(mute("vic", MuteDuration::RestOfLive, false)).await.unwrap());
    let reply = s.vic.request(comment("again")).await.unwrap();
    assert_error(&reply, ErrorCode::Muted);
    assert_eq!(reply.error.unwrap().retry_after_ms, None);
    assert_ok(&s.cara.request(Command::EndRoom { room: ROOM.into() }).await.unwrap());
    ok_snapshot(
        s.cara.request(Command::StartRoom { room: "next-show".into(), title: None, event_id: None }).await.unwrap(),
    );
    let mut vic = s.hub.viewer(Wire::Json, "vic").await;
    ok_snapshot(vic.request(Command::Join { room: "next-show".into(), since: None }).await.unwrap());
    assert_ok(&vic.request(Command::Comment { room: "next-show".into(), text: "hi again".into() }).await.unwrap());

    let rows = audit(&s.hub).await;
    let mutes: Vec<&AuditRecord> = rows.iter().filter(|r| r.command == "mute" && r.outcome == "ok").collect();
    assert_eq!(mutes.len(), 1, "one row per agency mute: {rows:?}");
    assert_eq!(mutes[0].staff_id, "sam");
}

#[tokio::test]
async fn a_blocked_account_is_removed_at_once_and_refused_at_every_join_until_unblocked() {
    let mut s = scene().await;
    ok_snapshot(
        s.cara.request(Command::StartRoom { room: "second".into(), title: None, event_id: None }).await.unwrap(),
    );
    ok_snapshot(s.vic.request(Command::Join { room: "second".into(), since: None }).await.unwrap());
    assert_ok(&s.sam.request(Command::Block { room: ROOM.into(), user_id: "vic".into() }).await.unwrap());
    // Removed from both of cara's rooms, told so in each.
    let mut rooms = Vec::new();
    for _ in 0..2 {
        let event = next(&mut s.vic).await;
        assert_eq!(event.body, EventBody::Removed { reason: "blocked".into() });
        rooms.push(event.room);
    }
    rooms.sort();
    assert_eq!(rooms, vec![ROOM.to_string(), "second".to_string()]);
    assert_error(&s.vic.request(comment("let me in")).await.unwrap(), ErrorCode::Forbidden);
    for room in [ROOM, "second"] {
        let reply = s.vic.request(Command::Join { room: room.into(), since: None }).await.unwrap();
        assert_error(&reply, ErrorCode::Forbidden);
    }
    // Another creator's rooms are not affected.
    let mut bob = s.hub.creator(Wire::Json, "bob").await;
    ok_snapshot(bob.request(Command::StartRoom { room: "bobs".into(), title: None, event_id: None }).await.unwrap());
    ok_snapshot(s.vic.request(Command::Join { room: "bobs".into(), since: None }).await.unwrap());
    // Staff see the block (with its operator); viewers do not.
    loop {
        if let EventBody::Moderated { action, user_id, operator, .. } = next(&mut s.cara).await.body {
            assert_eq!((action, user_id.as_deref()), (ModerationAction::Blocked, Some("vic")));
            assert_eq!(operator.unwrap().staff_id, "sam");
            break;
        }
    }
    assert!(matches!(bystander_next(&mut s).await.body, EventBody::Comment { .. }));
    let (_, users) = list(&mut s.sam).await;
    assert_eq!((users[0].user_id.as_str(), users[0].sanction), ("vic", Sanction::Blocked));

    assert_ok(&s.cara.request(Command::Unblock { room: ROOM.into(), user_id: "vic".into() }).await.unwrap());
    ok_snapshot(s.vic.request(Command::Join { room: ROOM.into(), since: None }).await.unwrap());
}

#[tokio::test]
async fn a_hidden_users_comments_are_seen_only_by_itself_and_staff() {
    let mut s = scene().await;
    assert_ok(&s.sam.request(Command::HideUser { room: ROOM.into(), user_id: "vic".into() }).await.unwrap());
    let reply = s.vic.request(comment("nobody hears me")).await.unwrap();
    let id = comment_id(&reply);
    assert!(matches!(next(&mut s.vic).await.body, EventBody::Comment { comment_id, .. } if comment_id == id));
    loop {
        if let EventBody::CommentHeld { comment } = next(&mut s.cara).await.body {
            assert_eq!((comment.comment_id, comment.reason), (id, HoldReason::HiddenUser));
            break;
        }
    }
    assert!(matches!(bystander_next(&mut s).await.body, EventBody::Comment { text, .. } if text == "marker"));
    assert_ok(&s.sam.request(Command::UnhideUser { room: ROOM.into(), user_id: "vic".into() }).await.unwrap());
    let id = comment_id(&s.vic.request(comment("heard now")).await.unwrap());
    assert!(matches!(next(&mut s.bea).await.body, EventBody::Comment { comment_id, .. } if comment_id == id));
}

#[tokio::test]
async fn moderation_is_rate_limited_per_staff_connection_and_per_room_with_nothing_half_applied() {
    let mut s = scene_with(None, |c| {
        c.ops_rate = 0.001;
        c.ops_burst = 4;
        c.room_ops_rate = 0.001;
        c.room_ops_burst = 5;
    })
    .await;
    // The staff member's own budget (4): the fifth is refused.
    for user in ["u1", "u2", "u3", "u4"] {
        assert_ok(&s.sam.request(mute(user, MuteDuration::Min5, false)).await.unwrap());
    }
    let reply = s.sam.request(mute("u5", MuteDuration::Min5, false)).await.unwrap();
    assert_error(&reply, ErrorCode::RateLimited);
    assert!(reply.error.unwrap().retry_after_ms.unwrap() > 0);
    // The room's budget (5): one left for the creator, whose own budget is not spent.
    assert_ok(&s.cara.request(mute("u6", MuteDuration::Min5, false)).await.unwrap());
    let reply = s.cara.request(mute("u7", MuteDuration::Min5, false)).await.unwrap();
    assert_error(&reply, ErrorCode::RateLimited);
    assert!(reply.error.as_ref().unwrap().message.contains("room"), "{reply:?}");
    let (_, users) = list(&mut s.cara).await;
    let muted: Vec<&str> = users.iter().map(|u| u.user_id.as_str()).collect();
    assert_eq!(muted, vec!["u1", "u2", "u3", "u4", "u6"], "nothing refused was applied");
}

#[tokio::test]
async fn staff_recover_held_comments_and_moderation_events_after_a_rejoin() {
    let mut s = scene().await;
    // Where a staff console stands now (a re-join answers with the snapshot).
    let snap = ok_snapshot(s.sam.request(Command::Join { room: ROOM.into(), since: None }).await.unwrap());
    let position = Since { seq: snap.seq, epoch: snap.epoch.clone(), staff_seq: snap.staff_seq };
    assert_ok(&s.cara.request(Command::HideUser { room: ROOM.into(), user_id: "vic".into() }).await.unwrap());
    let id = comment_id(&s.vic.request(comment("psst")).await.unwrap());
    let slow = Command::SetCommentSettings { room: ROOM.into(), slow_mode_ms: Some(5_000), links_allowed: None };
    assert_ok(&s.cara.request(slow).await.unwrap());

    // A second console of sam's (the first stays, so no `staff_left` comes between) recovers.
    let mut sam = s.hub.agency(Wire::MsgPack, "sam", "acme", "cara").await;
    let snap = ok_snapshot(sam.request(Command::Join { room: ROOM.into(), since: Some(position) }).await.unwrap());
    assert_eq!(snap.recovered, Some(true));
    assert_eq!(snap.held.as_ref().map(|h| h[0].comment_id), Some(id));
    let missed: Vec<&str> = events(&mut sam, 3).await.iter().map(|e| e.body.name()).collect();
    assert_eq!(missed, vec!["moderated", "comment_held", "comment_settings"]);
}

/// Mutes end on the hub's clock: paused tokio time here (`Clock::tokio`), moved by the test.
#[tokio::test(start_paused = true)]
async fn a_mute_ends_by_itself_on_the_hubs_clock() {
    use stagehand::client::{Auth, Options};
    let clock = stagehand::clock::Clock::tokio(stagehand::clock::now_ms());
    let hub = start_with(|c| {
        c.clock = clock;
        c.heartbeat_ms = 3_600_000;
    })
    .await;
    // Clients wait as long as it takes: a wait limit would fire as soon as paused time jumps.
    let connect = |token: String| {
        Client::connect_with(&hub.ws_url, Wire::Json, Options { wait: None, ..Options::new(Auth::Header(token)) })
    };
    let mut cara = connect(hub.token("cara", stagehand_protocol::types::Role::Creator)).await.unwrap();
    ok_snapshot(cara.request(Command::StartRoom { room: ROOM.into(), title: None, event_id: None }).await.unwrap());
    let mut vic = connect(hub.token("vic", stagehand_protocol::types::Role::Viewer)).await.unwrap();
    ok_snapshot(vic.request(Command::Join { room: ROOM.into(), since: None }).await.unwrap());
    // Paused time jumps ahead whenever the runtime idles (also while the store's thread writes),
    // so the mute is long enough to outlast those jumps; the test then sleeps exactly what the
    // reply says is left.
    assert_ok(&cara.request(mute("vic", MuteDuration::Min5, false)).await.unwrap());
    let reply = vic.request(comment("hello?")).await.unwrap();
    assert_error(&reply, ErrorCode::Muted);
    let wait = reply.error.unwrap().retry_after_ms.unwrap();
    assert!(wait > 0 && wait <= 300_000, "{wait}");
    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
    assert_ok(&vic.request(comment("hello!")).await.unwrap());
    assert!(list(&mut cara).await.1.is_empty(), "an ended mute is no longer listed");
}

#[tokio::test]
async fn a_staff_members_connections_share_one_moderation_budget_and_a_refusal_applies_nothing() {
    let mut s = scene_with(None, |c| {
        c.ops_rate = 0.001;
        c.ops_burst = 10;
        c.staff_moderation_rate = 0.001;
        c.staff_moderation_burst = 3;
    })
    .await;
    // A second console of the same staff member: its own connection budget is untouched, but the
    // person's is shared.
    let mut sam2 = s.hub.agency(Wire::Json, "sam", "acme", "cara").await;
    ok_snapshot(sam2.request(Command::Join { room: ROOM.into(), since: None }).await.unwrap());
    assert_ok(&s.sam.request(mute("u1", MuteDuration::Min5, false)).await.unwrap());
    assert_ok(&sam2.request(mute("u2", MuteDuration::Min5, false)).await.unwrap());
    assert_ok(&s.sam.request(Command::Block { room: ROOM.into(), user_id: "u3".into() }).await.unwrap());
    for console in [&mut sam2, &mut s.sam] {
        let reply = console.request(mute("u4", MuteDuration::Min5, false)).await.unwrap();
        assert_error(&reply, ErrorCode::RateLimited);
        let error = reply.error.unwrap();
        assert!(error.retry_after_ms.unwrap() > 0 && error.message.contains("staff member"), "{error:?}");
    }
    let deleted = Command::DeleteComment { room: ROOM.into(), comment_id: 1 };
    assert_error(&sam2.request(deleted).await.unwrap(), ErrorCode::RateLimited);
    // Another staff member of the same agency, and the creator, have their own budgets.
    let mut sue = s.hub.agency(Wire::Json, "sue", "acme", "cara").await;
    ok_snapshot(sue.request(Command::Join { room: ROOM.into(), since: None }).await.unwrap());
    assert_ok(&sue.request(mute("u5", MuteDuration::Min5, false)).await.unwrap());
    assert_ok(&s.cara.request(mute("u6", MuteDuration::Min5, false)).await.unwrap());
    // Non-moderation operations are not charged to it.
    assert_ok(&s.sam.request(Command::Dashboard { room: ROOM.into() }).await.unwrap());
    let (_, users) = list(&mut s.cara).await;
    let mut sanctioned: Vec<&str> = users.iter().map(|u| u.user_id.as_str()).collect();
    sanctioned.sort();
    assert_eq!(sanctioned, vec!["u1", "u2", "u3", "u5", "u6"], "nothing refused was applied");
}
