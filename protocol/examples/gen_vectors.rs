//! Writes the wire test vectors in `protocol/vectors/`: for every message kind, `NAME.msgpack` (the
//! exact bytes the hub sends or accepts in binary frames) and `NAME.json` (the exact text of the
//! same message in a text frame).
//!
//! Run from the workspace root after changing a message type:
//!
//! ```text
//! cargo run -p stagehand-protocol --example gen_vectors
//! ```
//!
//! The vectors are built from real Rust values and encoded with [`codec::encode`], so they are
//! correct by construction. Files in the directory that this catalogue no longer names are deleted.
//! `tests/vectors.rs` checks every pair with the strict decoder, checks that every command and event
//! kind has a vector, and checks that the files are what this generator writes today.
//!
//! Naming: the prefix says which type a file decodes into. `client_*` is a [`ClientMessage`];
//! `reply_*`, `control_*` and `event_*` are [`ServerMessage`]s.

use stagehand_protocol::client::{NewLink, Since};
use stagehand_protocol::codec::{self, Wire};
use stagehand_protocol::server::{EndReason, NotificationsRemaining, Welcome};
use stagehand_protocol::types::*;
use stagehand_protocol::{
    ClientMessage, Command, Control, ErrorBody, ErrorCode, Event, EventBody, Reply, ReplyResult, ServerMessage,
};
use std::path::{Path, PathBuf};

/// One vector: a request or something the hub sends.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // built once per vector file, in a test
pub enum Vector {
    Client(ClientMessage),
    Server(ServerMessage),
}

impl Vector {
    /// The `(msgpack, json)` bytes of this vector, exactly as they travel in frames.
    pub fn encode(&self) -> (Vec<u8>, Vec<u8>) {
        let pair = |wire| match self {
            Vector::Client(message) => codec::encode(wire, message),
            Vector::Server(message) => codec::encode(wire, message),
        };
        (pair(Wire::MsgPack).expect("msgpack encodes").to_vec(), pair(Wire::Json).expect("json encodes").to_vec())
    }
}

/// Where the vectors live.
pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

// ---- sample nouns ------------------------------------------------------------------------------

const ROOM: &str = "spring-sale";
/// 2025-10-14T00:00:00Z, in milliseconds: when the vectors' events happen.
const T0: Millis = 1_760_400_000_000;
/// 2100-01-01T00:00:00Z: the end of the linking agreement. Timestamps a client sends must be in
/// the future for a hub to accept them as-is, so they are far in the future.
const AGREEMENT_ENDS_AT: Millis = 4_102_444_800_000;
/// 2100-01-01T01:00:00Z: the LIVE's planned start (sent in `schedule_room`, so in the future too).
const STARTS_AT: Millis = 4_102_448_400_000;
/// A sample token: the right shape, not a valid signature.
const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1LXZpZXdlci03IiwibmFtZSI6IlNhbSIsInJvbGUiOiJ2aWV3ZXIiLCJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJlLW5vdC12YWxpZA";

fn creator() -> Actor {
    Actor { id: "u-creator-1".into(), name: "Mia".into() }
}

fn viewer() -> Actor {
    Actor { id: "u-viewer-7".into(), name: "Sam".into() }
}

fn operator() -> Operator {
    Operator { agency_id: "ag-42".into(), staff_id: "u-staff-3".into(), staff_name: "Priya".into() }
}

fn billboard() -> Billboard {
    Billboard {
        billboard_id: "bb-1".into(),
        title: "Flash sale: 30% off".into(),
        text: Some("Next 10 minutes only".into()),
        image_url: Some("https://cdn.example.com/bb-1.png".into()),
        link_url: Some("https://shop.example.com/p/sku-9".into()),
    }
}

fn request_info() -> AccessRequestInfo {
    AccessRequestInfo {
        request_id: "req-9001".into(),
        kind: RequestKind::LinkAndAccess,
        status: RequestStatus::Pending,
        creator_id: "u-creator-1".into(),
        agency_id: "ag-42".into(),
        agency_name: "Zorilla Marketing".into(),
        requested_by: "u-staff-3".into(),
        scopes: Scope::ALL.to_vec(),
        link_id: "lnk-77".into(),
        agreement_ends_at: AGREEMENT_ENDS_AT,
        created_at: T0,
        decided_at: None,
    }
}

fn link_info() -> LinkInfo {
    LinkInfo {
        link_id: "lnk-77".into(),
        creator_id: "u-creator-1".into(),
        agency_id: "ag-42".into(),
        agency_name: "Zorilla Marketing".into(),
        status: LinkStatus::Active,
        agreement_ends_at: AGREEMENT_ENDS_AT,
        created_at: T0,
    }
}

fn grant_info() -> GrantInfo {
    GrantInfo {
        grant_id: "gr-5".into(),
        creator_id: "u-creator-1".into(),
        agency_id: "ag-42".into(),
        agency_name: "Zorilla Marketing".into(),
        link_id: "lnk-77".into(),
        scopes: vec![Scope::Moderation, Scope::Billboards, Scope::Scheduling],
        status: GrantStatus::Active,
        granted_at: T0 + 3_600_000,
        expires_at: AGREEMENT_ENDS_AT,
    }
}

fn notification_requested() -> NotificationInfo {
    NotificationInfo {
        notification_id: 121,
        kind: "access_requested".into(),
        created_at: T0,
        read: false,
        data: serde_json::json!({ "request": request_info() }),
    }
}

fn notification_staff_joined() -> NotificationInfo {
    NotificationInfo {
        notification_id: 122,
        kind: "staff_joined".into(),
        created_at: T0 + 7_070_000,
        read: true,
        data: serde_json::json!({
            "room": ROOM,
            "agency_id": "ag-42",
            "agency_name": "Zorilla Marketing",
            "staff_id": "u-staff-3",
            "staff_name": "Priya",
        }),
    }
}

fn snapshot_public() -> Snapshot {
    Snapshot {
        room: ROOM.into(),
        state: RoomState::Live,
        title: "Spring sale".into(),
        creator: creator(),
        starts_at: Some(STARTS_AT),
        billboard: Some(billboard()),
        viewer_count: 1_204,
        seq: 57,
        epoch: "e-7f3a91c2".into(),
        recovered: None,
        staff_seq: None,
        staff: None,
    }
}

// ---- message helpers ---------------------------------------------------------------------------

fn client(id: u64, command: Command) -> Vector {
    Vector::Client(ClientMessage::new(id, command))
}

fn reply(reply: Reply) -> Vector {
    Vector::Server(ServerMessage::Control(Control::Reply(reply)))
}

fn ok(id: u64, result: ReplyResult) -> Vector {
    reply(Reply::ok(id, Some(result)))
}

fn event(seq: u64, ts_offset: Millis, body: EventBody) -> Vector {
    Vector::Server(ServerMessage::Event(Event { room: ROOM.into(), seq, staff_seq: None, ts: T0 + ts_offset, body }))
}

fn staff_event(seq: u64, staff_seq: u64, ts_offset: Millis, body: EventBody) -> Vector {
    Vector::Server(ServerMessage::Event(Event {
        room: ROOM.into(),
        seq,
        staff_seq: Some(staff_seq),
        ts: T0 + ts_offset,
        body,
    }))
}

// ---- the catalogue -----------------------------------------------------------------------------

/// Every vector, by file stem. Add one here for every new message kind (the test insists).
pub fn vectors() -> Vec<(&'static str, Vector)> {
    let room = || ROOM.to_string();
    let agency_comment = EventBody::Comment {
        comment_id: 59,
        author: creator(),
        text: "Use code SPRING30 at checkout!".into(),
        operator: Some(operator()),
    };
    let agency_billboard = EventBody::Billboard {
        action: BillboardAction::Deployed,
        billboard: billboard(),
        by: creator(),
        operator: Some(operator()),
    };
    let accepted_access = AccessRequestInfo {
        request_id: "req-9002".into(),
        kind: RequestKind::Access,
        status: RequestStatus::Accepted,
        scopes: vec![Scope::Moderation, Scope::Billboards, Scope::Scheduling],
        created_at: T0 + 60_000,
        decided_at: Some(T0 + 3_600_000),
        ..request_info()
    };

    vec![
        // ---- requests ------------------------------------------------------------------------
        ("client_connect", client(1, Command::Connect { token: TOKEN.into() })),
        ("client_ping", client(2, Command::Ping)),
        ("client_refresh", client(40, Command::Refresh { token: TOKEN.into() })),
        ("client_join", client(3, Command::Join { room: room(), since: None })),
        (
            "client_join_since",
            client(
                3,
                Command::Join {
                    room: room(),
                    since: Some(Since { seq: 57, epoch: "e-7f3a91c2".into(), staff_seq: Some(4) }),
                },
            ),
        ),
        (
            "client_join_since_viewer",
            client(
                3,
                Command::Join {
                    room: room(),
                    since: Some(Since { seq: 57, epoch: "e-7f3a91c2".into(), staff_seq: None }),
                },
            ),
        ),
        ("client_leave", client(4, Command::Leave { room: room() })),
        ("client_comment", client(5, Command::Comment { room: room(), text: "Is the blue one in stock?".into() })),
        ("client_start_room", client(6, Command::StartRoom { room: room(), title: Some("Spring sale".into()) })),
        ("client_start_room_no_title", client(7, Command::StartRoom { room: room(), title: None })),
        ("client_end_room", client(8, Command::EndRoom { room: room() })),
        (
            "client_schedule_room",
            client(9, Command::ScheduleRoom { room: room(), title: "Spring sale".into(), starts_at: STARTS_AT }),
        ),
        ("client_deploy_billboard", client(10, Command::DeployBillboard { room: room(), billboard: billboard() })),
        (
            "client_deploy_billboard_title_only",
            client(
                11,
                Command::DeployBillboard {
                    room: room(),
                    billboard: Billboard {
                        billboard_id: "bb-2".into(),
                        title: "Free shipping today".into(),
                        text: None,
                        image_url: None,
                        link_url: None,
                    },
                },
            ),
        ),
        ("client_remove_billboard", client(12, Command::RemoveBillboard { room: room() })),
        ("client_delete_comment", client(13, Command::DeleteComment { room: room(), comment_id: 58 })),
        (
            "client_access_request",
            client(
                14,
                Command::AccessRequest {
                    creator: "u-creator-1".into(),
                    link: None,
                    live_access: true,
                    scopes: Some(vec![Scope::Moderation, Scope::Billboards, Scope::Scheduling]),
                },
            ),
        ),
        (
            "client_access_request_link_and_access",
            client(
                15,
                Command::AccessRequest {
                    creator: "u-creator-1".into(),
                    link: Some(NewLink { agreement_ends_at: AGREEMENT_ENDS_AT }),
                    live_access: true,
                    scopes: None,
                },
            ),
        ),
        (
            "client_access_request_link_only",
            client(
                16,
                Command::AccessRequest {
                    creator: "u-creator-1".into(),
                    link: Some(NewLink { agreement_ends_at: AGREEMENT_ENDS_AT }),
                    live_access: false,
                    scopes: None,
                },
            ),
        ),
        (
            "client_list_access_requests",
            client(17, Command::ListAccessRequests { status: Some(RequestStatus::Pending) }),
        ),
        ("client_list_access_requests_all", client(18, Command::ListAccessRequests { status: None })),
        ("client_access_accept", client(19, Command::AccessAccept { request_id: "req-9001".into() })),
        ("client_access_decline", client(20, Command::AccessDecline { request_id: "req-9001".into() })),
        ("client_unlink", client(21, Command::Unlink { link_id: "lnk-77".into() })),
        ("client_list_links", client(22, Command::ListLinks)),
        ("client_list_grants", client(23, Command::ListGrants)),
        (
            "client_report_agency",
            client(
                24,
                Command::ReportAgency {
                    agency: "ag-42".into(),
                    reason: Some("Deleted comments I did not ask to".into()),
                },
            ),
        ),
        ("client_report_agency_no_reason", client(25, Command::ReportAgency { agency: "ag-42".into(), reason: None })),
        ("client_resume_agency", client(26, Command::ResumeAgency { agency: "ag-42".into() })),
        (
            "client_list_notifications",
            client(27, Command::ListNotifications { unread_only: true, before: Some(130), limit: Some(20) }),
        ),
        (
            "client_list_notifications_defaults",
            client(28, Command::ListNotifications { unread_only: false, before: None, limit: None }),
        ),
        ("client_ack", client(29, Command::Ack { notification_ids: vec![121, 122] })),
        (
            "client_list_audit",
            client(30, Command::ListAudit { agency: Some("ag-42".into()), before: Some(9_000), limit: Some(50) }),
        ),
        ("client_list_audit_defaults", client(31, Command::ListAudit { agency: None, before: None, limit: None })),
        // ---- replies -------------------------------------------------------------------------
        ("reply_ok_no_result", reply(Reply::ok(1, None))),
        ("reply_snapshot", ok(3, ReplyResult::Snapshot(snapshot_public()))),
        (
            "reply_snapshot_staff",
            ok(
                3,
                ReplyResult::Snapshot(Snapshot {
                    staff_seq: Some(4),
                    staff: Some(vec![operator()]),
                    ..snapshot_public()
                }),
            ),
        ),
        (
            "reply_snapshot_recovered",
            ok(3, ReplyResult::Snapshot(Snapshot { seq: 59, recovered: Some(true), ..snapshot_public() })),
        ),
        (
            "reply_snapshot_not_recovered",
            ok(3, ReplyResult::Snapshot(Snapshot { seq: 59, recovered: Some(false), ..snapshot_public() })),
        ),
        (
            "reply_snapshot_scheduled",
            ok(
                9,
                ReplyResult::Snapshot(Snapshot {
                    state: RoomState::Scheduled,
                    billboard: None,
                    viewer_count: 0,
                    // `schedule_room` published `room_scheduled`, the room's first event.
                    seq: 1,
                    staff_seq: Some(0),
                    staff: Some(vec![]),
                    ..snapshot_public()
                }),
            ),
        ),
        ("reply_comment", ok(5, ReplyResult::Comment { comment_id: 58, seq: 58 })),
        ("reply_published", ok(10, ReplyResult::Published { seq: 63 })),
        ("reply_pong", ok(2, ReplyResult::Pong { server_time: T0 + 1_234 })),
        ("reply_request", ok(15, ReplyResult::Request { request: request_info() })),
        (
            "reply_decision",
            ok(16, ReplyResult::Decision { request: request_info(), link: link_info(), grant: Some(grant_info()) }),
        ),
        (
            "reply_decision_declined",
            ok(17, ReplyResult::Decision { request: request_info(), link: link_info(), grant: None }),
        ),
        ("reply_unlinked", ok(19, ReplyResult::Unlinked { link: link_info(), revoked: Some(grant_info()) })),
        ("reply_grant", ok(20, ReplyResult::Grant { grant: grant_info() })),
        ("reply_requests", ok(18, ReplyResult::Requests { items: vec![request_info(), accepted_access] })),
        ("reply_links", ok(22, ReplyResult::Links { items: vec![link_info()] })),
        ("reply_grants", ok(23, ReplyResult::Grants { items: vec![grant_info()] })),
        (
            "reply_notifications",
            ok(27, ReplyResult::Notifications { items: vec![notification_requested(), notification_staff_joined()] }),
        ),
        (
            "reply_audit",
            ok(
                30,
                ReplyResult::Audit {
                    items: vec![
                        AuditRecord {
                            audit_id: 8_999,
                            ts: T0 + 7_300_000,
                            creator_id: "u-creator-1".into(),
                            agency_id: "ag-42".into(),
                            staff_id: "u-staff-3".into(),
                            staff_name: "Priya".into(),
                            room: Some(ROOM.into()),
                            command: "end_room".into(),
                            outcome: "forbidden".into(),
                            detail: Some("only the creator can start or end a LIVE".into()),
                        },
                        AuditRecord {
                            audit_id: 8_998,
                            ts: T0 + 7_250_000,
                            creator_id: "u-creator-1".into(),
                            agency_id: "ag-42".into(),
                            staff_id: "u-staff-3".into(),
                            staff_name: "Priya".into(),
                            room: Some(ROOM.into()),
                            command: "deploy_billboard".into(),
                            outcome: "ok".into(),
                            detail: None,
                        },
                    ],
                    next_before: Some(8_998),
                },
            ),
        ),
        ("reply_audit_last_page", ok(31, ReplyResult::Audit { items: vec![], next_before: None })),
        ("reply_acked", ok(29, ReplyResult::Acked { updated: 2 })),
        (
            "reply_error_rate_limited",
            reply(Reply::err(
                Some(5),
                ErrorBody {
                    code: ErrorCode::RateLimited,
                    message: "over the connection comment rate limit".into(),
                    retry_after_ms: Some(500),
                },
            )),
        ),
        (
            "reply_error_forbidden",
            reply(Reply::err(
                Some(8),
                ErrorBody::new(ErrorCode::Forbidden, "only the creator can start or end a LIVE"),
            )),
        ),
        (
            "reply_error_no_id",
            reply(Reply::err(None, ErrorBody::new(ErrorCode::Invalid, "expected a map with `type` and `id`"))),
        ),
        // ---- other control messages ----------------------------------------------------------
        (
            "control_welcome",
            Vector::Server(ServerMessage::Control(Control::Welcome(Welcome {
                protocol_version: stagehand_protocol::PROTOCOL_VERSION,
                session: 4_711,
                user: viewer(),
                role: Role::Viewer,
                server_time: T0 + 1_000,
                heartbeat_ms: 20_000,
                max_frame_bytes: 16_384,
            }))),
        ),
        (
            "control_notification",
            Vector::Server(ServerMessage::Control(Control::Notification(notification_requested()))),
        ),
        (
            "control_notifications_remaining",
            Vector::Server(ServerMessage::Control(Control::NotificationsRemaining(NotificationsRemaining {
                before: Some(121),
            }))),
        ),
        // ---- room events ---------------------------------------------------------------------
        (
            "event_room_scheduled",
            event(1, 60_000, EventBody::RoomScheduled { title: "Spring sale".into(), starts_at: STARTS_AT }),
        ),
        ("event_room_started", event(2, 3_600_000, EventBody::RoomStarted { title: "Spring sale".into() })),
        ("event_room_ended", event(65, 10_800_000, EventBody::RoomEnded { reason: EndReason::Creator })),
        ("event_room_ended_shutdown", event(65, 10_800_000, EventBody::RoomEnded { reason: EndReason::Shutdown })),
        ("event_room_ended_reclaimed", event(65, 10_800_000, EventBody::RoomEnded { reason: EndReason::Reclaimed })),
        (
            "event_comment",
            event(
                58,
                7_000_000,
                EventBody::Comment {
                    comment_id: 58,
                    author: viewer(),
                    text: "Is the blue one in stock?".into(),
                    operator: None,
                },
            ),
        ),
        ("event_comment_staff", event(59, 7_010_000, agency_comment.clone())),
        ("event_comment_public", event(59, 7_010_000, agency_comment.for_viewers())),
        (
            "event_comment_deleted",
            event(60, 7_020_000, EventBody::CommentDeleted { comment_id: 58, by: creator(), operator: None }),
        ),
        (
            "event_comment_deleted_staff",
            event(
                60,
                7_020_000,
                EventBody::CommentDeleted { comment_id: 58, by: creator(), operator: Some(operator()) },
            ),
        ),
        (
            "event_order",
            event(
                61,
                7_030_000,
                EventBody::Order {
                    order_id: "ord-5521".into(),
                    buyer: "Sam".into(),
                    product_id: "sku-9".into(),
                    product_name: "Blue linen shirt".into(),
                    quantity: 2,
                    amount: 5_980,
                    currency: "USD".into(),
                },
            ),
        ),
        (
            "event_activity",
            event(62, 7_040_000, EventBody::Activity { kind: "follow".into(), text: "Sam followed Mia".into() }),
        ),
        ("event_billboard_staff", event(63, 7_050_000, agency_billboard.clone())),
        ("event_billboard_public", event(63, 7_050_000, agency_billboard.for_viewers())),
        (
            "event_billboard_removed",
            event(
                64,
                7_060_000,
                EventBody::Billboard {
                    action: BillboardAction::Removed,
                    billboard: billboard(),
                    by: creator(),
                    operator: None,
                },
            ),
        ),
        ("event_viewer_count", event(64, 7_065_000, EventBody::ViewerCount { count: 1_311 })),
        ("event_staff_joined", staff_event(64, 5, 7_070_000, EventBody::StaffJoined { staff: operator() })),
        ("event_staff_left", staff_event(64, 6, 7_080_000, EventBody::StaffLeft { staff: operator() })),
    ]
}

/// Writes every vector and deletes `.msgpack`/`.json` files the catalogue no longer names.
fn main() -> std::io::Result<()> {
    let dir = vectors_dir();
    std::fs::create_dir_all(&dir)?;
    let catalogue = vectors();
    let mut names = std::collections::BTreeSet::new();
    for (name, vector) in &catalogue {
        assert!(names.insert(*name), "duplicate vector name {name}");
        let (msgpack, json) = vector.encode();
        std::fs::write(dir.join(format!("{name}.msgpack")), msgpack)?;
        std::fs::write(dir.join(format!("{name}.json")), json)?;
    }
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let known = path.file_stem().and_then(|s| s.to_str()).is_some_and(|stem| names.contains(stem));
        let ours = matches!(path.extension().and_then(|e| e.to_str()), Some("msgpack" | "json"));
        if ours && !known {
            std::fs::remove_file(&path)?;
            println!("removed stale {}", path.display());
        }
    }
    println!("wrote {} vector pairs to {}", catalogue.len(), dir.display());
    Ok(())
}
