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
        duration_ms: None,
        expires_at: None,
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
        comment_settings: None,
        held: None,
        campaign: None,
        staff_seq: None,
        staff: None,
        bag: None,
        flash_sale: None,
        giveaway: None,
        likes: 0,
    }
}

fn lamp() -> Product {
    Product {
        product_id: "sku-7".into(),
        title: "Brass desk lamp".into(),
        price: 4_900,
        currency: "USD".into(),
        image_url: Some("https://cdn.example.com/sku-7.jpg".into()),
        in_stock: true,
    }
}

fn shirt() -> Product {
    Product {
        product_id: "sku-9".into(),
        title: "Blue linen shirt".into(),
        price: 2_990,
        currency: "USD".into(),
        image_url: None,
        in_stock: true,
    }
}

fn product_set() -> ProductSet {
    ProductSet {
        set_id: "spring-picks".into(),
        name: "Spring picks".into(),
        products: vec![lamp(), shirt()],
        updated_at: T0,
    }
}

/// The bag after `sku-7` was pinned: version 3.
fn bag() -> Bag {
    Bag {
        version: 3,
        items: vec![BagItem { product: lamp(), sold_out: false }, BagItem { product: shirt(), sold_out: false }],
        pinned: Some("sku-7".into()),
    }
}

fn new_flash_sale() -> NewFlashSale {
    NewFlashSale {
        product: lamp(),
        sale_price: 2_900,
        quantity: 50,
        per_buyer_limit: 2,
        countdown_ms: 30_000,
        duration_ms: 300_000,
    }
}

fn flash_sale(status: FlashSaleStatus, remaining: u32) -> FlashSale {
    FlashSale {
        sale_id: "fs_12".into(),
        product: lamp(),
        sale_price: 2_900,
        quantity: 50,
        per_buyer_limit: 2,
        opens_at: T0 + 7_130_000,
        ends_at: T0 + 7_430_000,
        status,
        remaining,
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

    let mut all = vec![
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
        (
            "client_start_room",
            client(6, Command::StartRoom { room: room(), title: Some("Spring sale".into()), event_id: None }),
        ),
        ("client_start_room_no_title", client(7, Command::StartRoom { room: room(), title: None, event_id: None })),
        (
            "client_start_room_from_event",
            client(8, Command::StartRoom { room: room(), title: None, event_id: Some("lev_12".into()) }),
        ),
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
                        duration_ms: None,
                        expires_at: None,
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
                    retry_after_ms: Some(500),
                    ..ErrorBody::new(ErrorCode::RateLimited, "over the user comment rate limit")
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
        // ---- commerce ------------------------------------------------------------------------
        (
            "client_save_product_set",
            client(
                40,
                Command::SaveProductSet {
                    set_id: "spring-picks".into(),
                    name: "Spring picks".into(),
                    products: vec![lamp(), shirt()],
                },
            ),
        ),
        ("client_delete_product_set", client(41, Command::DeleteProductSet { set_id: "spring-picks".into() })),
        ("client_list_product_sets", client(42, Command::ListProductSets)),
        ("reply_product_set", ok(40, ReplyResult::ProductSet { set: product_set() })),
        ("reply_product_sets", ok(42, ReplyResult::ProductSets { items: vec![product_set()] })),
        ("reply_product_set_deleted", ok(41, ReplyResult::ProductSetDeleted { set_id: "spring-picks".into() })),
        (
            "client_bag_add_set",
            client(
                43,
                Command::BagAdd { room: room(), version: 0, product: None, set_id: Some("spring-picks".into()) },
            ),
        ),
        (
            "client_bag_add_product",
            client(44, Command::BagAdd { room: room(), version: 1, product: Some(shirt()), set_id: None }),
        ),
        ("client_bag_remove", client(45, Command::BagRemove { room: room(), version: 3, product_id: "sku-9".into() })),
        (
            "client_bag_move",
            client(46, Command::BagMove { room: room(), version: 2, product_id: "sku-9".into(), position: 0 }),
        ),
        ("client_bag_pin", client(47, Command::BagPin { room: room(), version: 2, product_id: "sku-7".into() })),
        ("client_bag_unpin", client(48, Command::BagUnpin { room: room(), version: 3 })),
        (
            "client_bag_sold_out",
            client(49, Command::BagSoldOut { room: room(), version: 3, product_id: "sku-7".into() }),
        ),
        ("reply_bag", ok(47, ReplyResult::Bag { seq: 66, bag: bag() })),
        (
            "reply_error_stale_bag_version",
            reply(Reply::err(
                Some(48),
                ErrorBody {
                    version: Some(4),
                    ..ErrorBody::new(
                        ErrorCode::Conflict,
                        "the bag changed: its version is 4; apply the latest bag and retry",
                    )
                },
            )),
        ),
        (
            "event_bag_staff",
            event(
                66,
                7_090_000,
                EventBody::Bag {
                    action: BagAction::Pinned,
                    product_id: Some("sku-7".into()),
                    bag: bag(),
                    by: creator(),
                    operator: Some(operator()),
                },
            ),
        ),
        (
            "event_bag_public",
            event(
                66,
                7_090_000,
                EventBody::Bag {
                    action: BagAction::Pinned,
                    product_id: Some("sku-7".into()),
                    bag: bag(),
                    by: creator(),
                    operator: None,
                },
            ),
        ),
        ("client_start_flash_sale", client(50, Command::StartFlashSale { room: room(), sale: new_flash_sale() })),
        (
            "reply_flash_sale",
            ok(50, ReplyResult::FlashSale { seq: 67, sale: flash_sale(FlashSaleStatus::Countdown, 50) }),
        ),
        (
            "event_flash_sale_countdown",
            event(
                67,
                7_100_000,
                EventBody::FlashSale {
                    sale: flash_sale(FlashSaleStatus::Countdown, 50),
                    by: Some(creator()),
                    operator: None,
                },
            ),
        ),
        (
            "event_flash_sale_open",
            event(
                68,
                7_130_000,
                EventBody::FlashSale { sale: flash_sale(FlashSaleStatus::Open, 50), by: None, operator: None },
            ),
        ),
        (
            "event_flash_sale_stock",
            event(68, 7_131_000, EventBody::FlashSaleStock { sale_id: "fs_12".into(), remaining: 17 }),
        ),
        (
            "event_flash_sale_sold_out",
            event(
                69,
                7_190_000,
                EventBody::FlashSale { sale: flash_sale(FlashSaleStatus::SoldOut, 0), by: None, operator: None },
            ),
        ),
        (
            "event_billboard_expired",
            event(
                70,
                7_200_000,
                EventBody::Billboard {
                    action: BillboardAction::Expired,
                    billboard: Billboard { duration_ms: Some(60_000), expires_at: Some(T0 + 7_200_000), ..billboard() },
                    by: creator(),
                    operator: None,
                },
            ),
        ),
        (
            "client_deploy_billboard_for_a_minute",
            client(
                51,
                Command::DeployBillboard {
                    room: room(),
                    billboard: Billboard { duration_ms: Some(60_000), ..billboard() },
                },
            ),
        ),
    ];
    all.extend(engagement_vectors());
    all.extend(account_health_vectors());
    all
}

// ---- engagement: giveaways, the activity feed, the live dashboard -----------------------------

/// The sample giveaway's seed: the bytes 0, 1, …, 31.
fn giveaway_seed() -> [u8; 32] {
    std::array::from_fn(|i| i as u8)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The sample giveaway's entry salt: the bytes 0xa0, 0xa1, …, 0xaf.
fn giveaway_salt() -> [u8; 16] {
    std::array::from_fn(|i| 0xa0 + i as u8)
}

/// A pseudonymous entry exactly as SPEC.md words it: the first 16 bytes of
/// SHA-256(giveaway_id ‖ 0x00 ‖ user_id ‖ 0x00 ‖ salt), lowercase hex.
pub fn spec_entry(giveaway_id: &str, user_id: &str, salt: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut input = giveaway_id.as_bytes().to_vec();
    input.push(0);
    input.extend_from_slice(user_id.as_bytes());
    input.push(0);
    input.extend_from_slice(salt);
    hex(&Sha256::digest(&input)[..16])
}

/// The draw exactly as SPEC.md words it (written from the spec, apart from the hub's code).
pub fn spec_draw(seed: &[u8; 32], n: usize, k: usize) -> Vec<usize> {
    use sha2::{Digest, Sha256};
    let mut pool: Vec<usize> = (0..n).collect();
    let k = k.min(n);
    for i in 0..k {
        let m = (n - i) as u128;
        let limit = (1u128 << 64) - ((1u128 << 64) % m);
        let mut attempt: u32 = 0;
        let r = loop {
            let mut input = seed.to_vec();
            input.extend_from_slice(&(i as u32).to_be_bytes());
            input.extend_from_slice(&attempt.to_be_bytes());
            let digest = Sha256::digest(&input);
            let x = u64::from_be_bytes(digest[..8].try_into().unwrap()) as u128;
            if x < limit {
                break (x % m) as usize;
            }
            attempt += 1;
        };
        pool.swap(i, i + r);
    }
    pool.truncate(k);
    pool
}

fn giveaway_info() -> GiveawayInfo {
    use sha2::{Digest, Sha256};
    GiveawayInfo {
        giveaway_id: "gw_70".into(),
        prize: "Blue linen shirt".into(),
        keyword: "shirt please".into(),
        winners: 2,
        must_be_present: true,
        max_entrants: 10_000,
        started_at: T0 + 7_100_000,
        ends_at: T0 + 7_400_000,
        commitment: hex(&Sha256::digest(giveaway_seed())),
        entries: 0,
    }
}

fn dashboard_data() -> DashboardData {
    let usd = |amount| Money { currency: "USD".into(), amount };
    DashboardData {
        started_at: T0 + 3_600_000,
        at: T0 + 7_200_000,
        viewers: 1_311,
        peak_viewers: 1_502,
        unique_viewers: 4_020,
        avg_watch_ms: 754_000,
        comments: 2_210,
        comments_per_minute: 48,
        likes: 18_400,
        follows: 96,
        subscriptions: 12,
        shares: 40,
        gifts: 7,
        orders: 121,
        units: 150,
        gmv: vec![usd(448_500)],
        buyers: 110,
        conversion_bp: 273,
        top_products: vec![ProductStat {
            product_id: "sku-9".into(),
            product_name: "Blue linen shirt".into(),
            orders: 60,
            units: 80,
            gmv: usd(239_200),
        }],
        filtered: 31,
        held: 4,
        moderated: 9,
        minute: MinutePoint {
            start: T0 + 7_200_000,
            viewers: 1_311,
            comments: 3,
            likes: 120,
            orders: 1,
            units: 2,
            gmv: vec![usd(5_980)],
        },
    }
}

fn minute(offset: Millis, viewers: u64) -> MinutePoint {
    MinutePoint {
        start: T0 + offset,
        viewers,
        comments: 40,
        likes: 300,
        orders: 2,
        units: 3,
        gmv: vec![Money { currency: "USD".into(), amount: 8_970 }],
    }
}

fn engagement_vectors() -> Vec<(&'static str, Vector)> {
    let room = || ROOM.to_string();
    let started = EventBody::GiveawayStarted { giveaway: giveaway_info(), by: creator(), operator: Some(operator()) };
    let names = ["Sam", "Ana", "Lee", "Kim", "Ola"];
    let entrants: Vec<String> = ["u-sam", "u-ana", "u-lee", "u-kim", "u-ola"]
        .iter()
        .map(|id| spec_entry("gw_70", id, &giveaway_salt()))
        .collect();
    let winners = spec_draw(&giveaway_seed(), entrants.len(), 2)
        .into_iter()
        .map(|i| GiveawayWinner { index: i as u32, name: names[i].to_string() })
        .collect();
    let order_entry = FeedEntry {
        feed_id: 17,
        kind: ActivityKind::Order,
        ts: T0 + 7_030_000,
        event_id: Some("evt-88123".into()),
        seq: Some(61),
        user_id: Some("u-viewer-7".into()),
        user_name: "Sam".into(),
        order_id: Some("ord-5521".into()),
        product_id: Some("sku-9".into()),
        product_name: Some("Blue linen shirt".into()),
        quantity: Some(2),
        amount: Some(5_980),
        currency: Some("USD".into()),
        gift: None,
        count: None,
    };
    let like_entry = FeedEntry {
        feed_id: 18,
        kind: ActivityKind::Like,
        ts: T0 + 7_031_000,
        event_id: Some("evt-88124".into()),
        seq: None,
        user_id: Some("u-viewer-8".into()),
        user_name: "Ana".into(),
        order_id: None,
        product_id: None,
        product_name: None,
        quantity: None,
        amount: None,
        currency: None,
        gift: None,
        count: Some(15),
    };
    let summary = LiveSummary {
        room: room(),
        creator_id: "u-creator-1".into(),
        title: "Spring sale".into(),
        started_at: T0 + 3_600_000,
        ended_at: T0 + 10_800_000,
        totals: DashboardData { at: T0 + 10_800_000, viewers: 0, ..dashboard_data() },
        minutes: vec![minute(3_600_000, 820), minute(3_660_000, 1_045)],
    };
    vec![
        (
            "client_start_giveaway",
            client(
                70,
                Command::StartGiveaway {
                    room: room(),
                    prize: "Blue linen shirt".into(),
                    keyword: "shirt please".into(),
                    duration_ms: 300_000,
                    winners: 2,
                    must_be_present: true,
                },
            ),
        ),
        ("client_activity_feed", client(71, Command::ActivityFeed { room: room(), after: Some(16), limit: Some(50) })),
        ("client_dashboard", client(72, Command::Dashboard { room: room() })),
        ("client_get_summary", client(73, Command::GetSummary { room: room() })),
        ("event_giveaway_started_staff", event(70, 7_100_000, started.clone())),
        ("event_giveaway_started_public", event(70, 7_100_000, started.for_viewers())),
        (
            "event_giveaway_entries",
            event(74, 7_200_000, EventBody::GiveawayEntries { giveaway_id: "gw_70".into(), entries: 5 }),
        ),
        (
            "event_giveaway_drawn",
            event(
                80,
                7_400_500,
                EventBody::GiveawayDrawn {
                    giveaway_id: "gw_70".into(),
                    seed: hex(&giveaway_seed()),
                    salt: hex(&giveaway_salt()),
                    entrants,
                    winners,
                    absent: 1,
                },
            ),
        ),
        ("event_like_count", event(61, 7_031_000, EventBody::LikeCount { likes: 18_400 })),
        ("event_feed_item", event(61, 7_030_000, EventBody::FeedItem { entry: order_entry.clone() })),
        ("event_feed_item_like", event(61, 7_031_000, EventBody::FeedItem { entry: like_entry.clone() })),
        ("event_dashboard", event(64, 7_200_000, EventBody::Dashboard { dashboard: dashboard_data() })),
        ("reply_feed", ok(71, ReplyResult::Feed { items: vec![order_entry, like_entry] })),
        (
            "reply_dashboard",
            ok(
                72,
                ReplyResult::Dashboard {
                    dashboard: dashboard_data(),
                    minutes: vec![minute(3_600_000, 820), minute(3_660_000, 1_045)],
                },
            ),
        ),
        ("reply_summary", ok(73, ReplyResult::Summary { summary })),
        (
            "reply_join_giveaway_open",
            ok(
                74,
                ReplyResult::Snapshot(Snapshot {
                    giveaway: Some(GiveawayInfo { entries: 4, ..giveaway_info() }),
                    likes: 18_400,
                    ..snapshot_public()
                }),
            ),
        ),
        // ---- moderation ----------------------------------------------------------------------
        (
            "client_set_comment_settings",
            client(
                40,
                Command::SetCommentSettings { room: room(), slow_mode_ms: Some(30_000), links_allowed: Some(false) },
            ),
        ),
        (
            "client_add_blocked_terms",
            client(
                41,
                Command::AddBlockedTerms {
                    room: room(),
                    terms: vec![
                        BlockedTerm { term: "free*".into(), expires_at: None },
                        BlockedTerm { term: "dm me".into(), expires_at: Some(STARTS_AT) },
                    ],
                },
            ),
        ),
        (
            "client_remove_blocked_terms",
            client(42, Command::RemoveBlockedTerms { room: room(), terms: vec!["free*".into()] }),
        ),
        ("client_review_comment", client(43, Command::ReviewComment { room: room(), comment_id: 66, approve: true })),
        (
            "client_mute",
            client(
                44,
                Command::Mute {
                    room: room(),
                    user_id: "u-viewer-9".into(),
                    duration: MuteDuration::Min5,
                    remove_comments: true,
                },
            ),
        ),
        (
            "client_mute_rest_of_live",
            client(
                45,
                Command::Mute {
                    room: room(),
                    user_id: "u-viewer-9".into(),
                    duration: MuteDuration::RestOfLive,
                    remove_comments: false,
                },
            ),
        ),
        ("client_unmute", client(46, Command::Unmute { room: room(), user_id: "u-viewer-9".into() })),
        ("client_block", client(47, Command::Block { room: room(), user_id: "u-viewer-9".into() })),
        ("client_unblock", client(48, Command::Unblock { room: room(), user_id: "u-viewer-9".into() })),
        ("client_hide_user", client(49, Command::HideUser { room: room(), user_id: "u-viewer-9".into() })),
        ("client_unhide_user", client(50, Command::UnhideUser { room: room(), user_id: "u-viewer-9".into() })),
        ("client_list_moderation", client(51, Command::ListModeration { room: room() })),
        (
            "reply_moderation",
            ok(
                51,
                ReplyResult::Moderation {
                    terms: vec![BlockedTerm { term: "dm me".into(), expires_at: Some(STARTS_AT) }],
                    users: vec![
                        ModeratedUser {
                            user_id: "u-viewer-9".into(),
                            sanction: Sanction::Muted,
                            until: Some(T0 + 7_400_000),
                            room: None,
                            since: T0 + 7_100_000,
                        },
                        ModeratedUser {
                            user_id: "u-viewer-13".into(),
                            sanction: Sanction::Blocked,
                            until: None,
                            room: None,
                            since: T0 + 7_000_000,
                        },
                    ],
                },
            ),
        ),
        (
            "reply_error_muted",
            reply(Reply::err(
                Some(5),
                ErrorBody {
                    retry_after_ms: Some(240_000),
                    ..ErrorBody::new(ErrorCode::Muted, "a moderator muted you for a while")
                },
            )),
        ),
        (
            "reply_error_slow_mode",
            reply(Reply::err(
                Some(5),
                ErrorBody {
                    retry_after_ms: Some(12_000),
                    ..ErrorBody::new(ErrorCode::RateLimited, "over the slow mode rate limit")
                },
            )),
        ),
        (
            "reply_snapshot_staff_moderation",
            ok(
                3,
                ReplyResult::Snapshot(Snapshot {
                    staff_seq: Some(7),
                    staff: Some(vec![operator()]),
                    comment_settings: Some(CommentSettings { slow_mode_ms: 30_000, links_allowed: false }),
                    held: Some(vec![held_comment()]),
                    ..snapshot_public()
                }),
            ),
        ),
        ("event_comment_held", staff_event(66, 7, 7_090_000, EventBody::CommentHeld { comment: held_comment() })),
        (
            "event_comment_reviewed",
            staff_event(
                66,
                8,
                7_100_000,
                EventBody::CommentReviewed {
                    comment_id: 66,
                    approved: true,
                    by: creator(),
                    operator: Some(operator()),
                },
            ),
        ),
        (
            "event_comment_approved",
            event(
                67,
                7_100_000,
                EventBody::Comment {
                    comment_id: 66,
                    author: Actor { id: "u-viewer-9".into(), name: "Lou".into() },
                    text: "ｆｒｅｅ phones here".into(),
                    operator: None,
                },
            ),
        ),
        ("event_comment_settings_staff", event(68, 7_110_000, comment_settings_event())),
        ("event_comment_settings_public", event(68, 7_110_000, comment_settings_event().for_viewers())),
        (
            "event_moderated",
            staff_event(
                68,
                9,
                7_120_000,
                EventBody::Moderated {
                    action: ModerationAction::Muted,
                    user_id: Some("u-viewer-9".into()),
                    until: Some(T0 + 7_420_000),
                    terms: vec![],
                    by: creator(),
                    operator: Some(operator()),
                },
            ),
        ),
        (
            "event_moderated_terms",
            staff_event(
                68,
                10,
                7_130_000,
                EventBody::Moderated {
                    action: ModerationAction::TermsAdded,
                    user_id: None,
                    until: None,
                    terms: vec!["free*".into(), "dm me".into()],
                    by: creator(),
                    operator: None,
                },
            ),
        ),
        ("event_removed", event(68, 7_140_000, EventBody::Removed { reason: "blocked".into() })),
        // ---- scheduling and campaigns --------------------------------------------------------
        (
            "client_create_live_event",
            client(
                60,
                Command::CreateLiveEvent {
                    room: room(),
                    title: "Spring sale".into(),
                    starts_at: STARTS_AT,
                    product_set_id: Some("set-3".into()),
                },
            ),
        ),
        (
            "client_set_campaign",
            client(64, Command::SetCampaign { event_id: "lev_12".into(), campaign: Some(campaign()) }),
        ),
        (
            "client_update_live_event",
            client(
                61,
                Command::UpdateLiveEvent {
                    event_id: "lev_12".into(),
                    title: None,
                    starts_at: Some(STARTS_AT + 3_600_000),
                    product_set_id: None,
                },
            ),
        ),
        ("client_cancel_live_event", client(62, Command::CancelLiveEvent { event_id: "lev_12".into() })),
        ("client_list_live_events", client(63, Command::ListLiveEvents { include_cancelled: false })),
        ("reply_live_event", ok(60, ReplyResult::LiveEvent { event: live_event() })),
        ("reply_live_events", ok(63, ReplyResult::LiveEvents { items: vec![live_event()] })),
        (
            "event_campaign_shown",
            event(69, 7_200_000, EventBody::Campaign { action: CampaignAction::Shown, campaign: campaign() }),
        ),
        (
            "event_campaign_hidden",
            event(70, 7_300_000, EventBody::Campaign { action: CampaignAction::Hidden, campaign: campaign() }),
        ),
    ]
}

fn campaign() -> Campaign {
    Campaign {
        title: "Spring campaign: 2 for 1".into(),
        link_url: Some("https://shop.example.com/spring".into()),
        starts_at: T0 + 7_200_000,
        ends_at: T0 + 7_300_000,
    }
}

fn live_event() -> LiveEventInfo {
    LiveEventInfo {
        event_id: "lev_12".into(),
        creator_id: "u-creator-1".into(),
        room: ROOM.into(),
        title: "Spring sale".into(),
        starts_at: STARTS_AT,
        product_set_id: Some("set-3".into()),
        campaign: Some(campaign()),
        status: LiveEventStatus::Scheduled,
        created_at: T0,
        updated_at: T0,
    }
}

fn comment_settings_event() -> EventBody {
    EventBody::CommentSettings {
        settings: CommentSettings { slow_mode_ms: 30_000, links_allowed: false },
        by: creator(),
        operator: Some(operator()),
    }
}

fn held_comment() -> HeldComment {
    HeldComment {
        comment_id: 66,
        author: Actor { id: "u-viewer-9".into(), name: "Lou".into() },
        text: "ｆｒｅｅ phones here".into(),
        reason: HoldReason::Keyword,
        held_at: T0 + 7_090_000,
    }
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

/// Account health: the command and its reply.
fn account_health_vectors() -> Vec<(&'static str, Vector)> {
    let mut pinned =
        HealthFinding::new(FindingKind::SoldOutPinned, "\"Lamp\" sold out in its flash sale and is still pinned");
    pinned.room = Some(ROOM.into());
    pinned.product_id = Some("p-lamp".into());
    pinned.sale_id = Some("fs_3".into());
    let mut grant = HealthFinding::new(FindingKind::GrantExpiring, "Acme Agency's access ends in 1440 minutes");
    grant.agency_id = Some("ag-42".into());
    grant.expires_at = Some(T0 + 86_400_000);
    let health = AccountHealth {
        creator_id: "u-creator-1".into(),
        counts: HealthCounts { filtered_comments: 42, mutes: 3, blocks: 1, refused_agency_operations: 2 },
        findings: vec![pinned, grant],
        truncated: false,
        checked_at: T0 + 7_200_000,
    };
    vec![
        ("client_get_account_health", client(90, Command::GetAccountHealth)),
        ("reply_account_health", ok(90, ReplyResult::AccountHealth { health })),
    ]
}
