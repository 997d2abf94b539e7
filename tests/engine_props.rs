//! Property tests of the room engine, in process (no sockets): any sequence of commands from any
//! roles on a room keeps the invariants —
//! - only the room's creator starts and ends it;
//! - `seq` and `staff_seq` have no gaps, and every member receives events in order;
//! - replaying the history from any position gives exactly the live stream after it;
//! - the state at position N with the events after N folded in equals the state now (a snapshot
//!   plus what follows it is exact).
//!
//! Commands go through the real command layer (`commands::dispatch`: rate limits, the policy
//! table, the handlers) on a real hub's services (SQLite store in a temporary directory).

mod common;

use common::drain;
use proptest::prelude::*;
use stagehand::auth::{AgencyClaim, Identity};
use stagehand::broker::Streams;
use stagehand::commands::{self, Caller};
use stagehand::delivery::outbox::Outbox;
use stagehand::limits::Limiters;
use stagehand::rooms::features::RoomState;
use stagehand::{Config, Hub};
use stagehand_protocol::client::Since;
use stagehand_protocol::server::{Control, Event, EventBody, ServerMessage};
use stagehand_protocol::types::{Actor, Billboard, GrantInfo, GrantStatus, Role, Scope};
use stagehand_protocol::{codec, Command, Wire};
use std::sync::Arc;

const ROOM: &str = "prop-room";

/// Who sends a command.
#[derive(Debug, Clone, Copy)]
enum Who {
    Creator,
    OtherCreator,
    Viewer,
    GrantedAgency,
    UngrantedAgency,
}

#[derive(Debug, Clone)]
enum Op {
    Start,
    End,
    Schedule,
    Join,
    Leave,
    Comment,
    DeleteComment(u64),
    Deploy,
    Remove,
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        Just(Who::Creator),
        Just(Who::OtherCreator),
        Just(Who::Viewer),
        Just(Who::GrantedAgency),
        Just(Who::UngrantedAgency)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::Start),
        1 => Just(Op::End),
        1 => Just(Op::Schedule),
        2 => Just(Op::Join),
        1 => Just(Op::Leave),
        4 => Just(Op::Comment),
        1 => (1u64..30).prop_map(Op::DeleteComment),
        2 => Just(Op::Deploy),
        1 => Just(Op::Remove),
    ]
}

fn command(op: &Op) -> Command {
    let room = ROOM.to_string();
    match op {
        Op::Start => Command::StartRoom { room, title: Some("Live".into()), event_id: None },
        Op::End => Command::EndRoom { room },
        Op::Schedule => Command::ScheduleRoom { room, title: "Soon".into(), starts_at: 4_102_444_800_000 },
        Op::Join => Command::Join { room, since: None },
        Op::Leave => Command::Leave { room },
        Op::Comment => Command::Comment { room, text: "hi".into() },
        Op::DeleteComment(id) => Command::DeleteComment { room, comment_id: *id },
        Op::Deploy => Command::DeployBillboard {
            room,
            billboard: Billboard {
                billboard_id: "b".into(),
                title: "t".into(),
                text: None,
                image_url: None,
                link_url: None,
                duration_ms: None,
                expires_at: None,
            },
        },
        Op::Remove => Command::RemoveBillboard { room },
    }
}

fn identity(who: Who) -> Identity {
    let user = |id: &str| Actor { id: id.into(), name: id.to_uppercase() };
    let agency = |agency: &str| {
        Some(AgencyClaim { agency_id: agency.into(), agency_name: agency.into(), creator_id: "cara".into() })
    };
    let (user, role, agency) = match who {
        Who::Creator => (user("cara"), Role::Creator, None),
        Who::OtherCreator => (user("bob"), Role::Creator, None),
        Who::Viewer => (user("vic"), Role::Viewer, None),
        Who::GrantedAgency => (user("sam"), Role::Agency, agency("acme")),
        Who::UngrantedAgency => (user("eve"), Role::Agency, agency("evil")),
    };
    Identity { user, role, agency, valid_until: u64::MAX }
}

/// A connection without a socket, with room for everything a case sends.
fn connection(id: u64) -> Outbox {
    common::socketless(id, 64 << 20)
}

fn events_of(messages: &[ServerMessage]) -> Vec<Event> {
    messages
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Event(e) if e.body.name() != "viewer_count" => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn config(dir: &tempfile::TempDir) -> Config {
    Config {
        data_dir: dir.path().to_path_buf(),
        // Rate limits are tested elsewhere; here every command should reach the policy table.
        ops_rate: 1e6,
        ops_burst: 1_000_000,
        room_ops_rate: 1e6,
        room_ops_burst: 1_000_000,
        comment_rate: 1e6,
        comment_burst: 1_000_000,
        join_rate: 1e6,
        join_burst: 1_000_000,
        history_size: 10_000,
        ..Config::default()
    }
}

fn run_case(script: Vec<(Who, Op)>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let hub = Hub::new(config(&dir)).unwrap();
        hub.partner.grants.put(GrantInfo {
            grant_id: "grt_1".into(),
            creator_id: "cara".into(),
            agency_id: "acme".into(),
            agency_name: "acme".into(),
            link_id: "lnk_1".into(),
            scopes: Scope::ALL.to_vec(),
            status: GrantStatus::Active,
            granted_at: 0,
            expires_at: u64::MAX,
        });
        let services = &hub.services;
        // The room exists from the start (scheduled, as the backend would create it); one
        // creator connection and one viewer watch everything.
        let cara = Actor { id: "cara".into(), name: "CARA".into() };
        let room = hub.rooms.get_or_create(ROOM, &cara, Some("Soon")).unwrap();
        let staff_watch = connection(1_000);
        let viewer_watch = connection(1_001);
        room.join(&staff_watch, stagehand::rooms::Audience::Staff, None, None, 0);
        room.join(&viewer_watch, stagehand::rooms::Audience::Viewers, None, None, 0);

        let mut callers: Vec<(Who, Caller)> = Vec::new();
        for (n, who) in [Who::Creator, Who::OtherCreator, Who::Viewer, Who::GrantedAgency, Who::UngrantedAgency]
            .into_iter()
            .enumerate()
        {
            callers.push((
                who,
                Caller::new(identity(who), connection(n as u64 + 1), Arc::new(Limiters::per_user(&hub.config))),
            ));
        }
        // States taken along the way, with the position they are at.
        let mut states: Vec<(u64, u64, RoomState)> = vec![(0, 0, room.state())];
        for (step, (who, op)) in script.iter().enumerate() {
            let caller = &mut callers
                .iter_mut()
                .find(|(w, _)| std::mem::discriminant(w) == std::mem::discriminant(who))
                .unwrap()
                .1;
            let reply = commands::dispatch(services, caller, step as u64, command(op)).await;
            let ok = reply.as_ref().is_none_or(|r| r.ok);
            if ok && matches!(op, Op::Start | Op::End) {
                prop_assert!(matches!(who, Who::Creator), "{who:?} managed to {op:?}");
            }
            let position = room.position();
            states.push((position.seq, position.staff_seq, room.state()));
        }

        // Gap-free, in order, for a member that was there throughout.
        let staff_events = events_of(&drain(&room, &staff_watch).await);
        let room_seqs: Vec<u64> = staff_events.iter().filter(|e| e.staff_seq.is_none()).map(|e| e.seq).collect();
        prop_assert_eq!(room_seqs.clone(), (1..=room_seqs.len() as u64).collect::<Vec<_>>());
        let staff_seqs: Vec<u64> = staff_events.iter().filter_map(|e| e.staff_seq).collect();
        prop_assert_eq!(staff_seqs.clone(), (1..=staff_seqs.len() as u64).collect::<Vec<_>>());
        let viewer_events = events_of(&drain(&room, &viewer_watch).await);
        prop_assert!(viewer_events.iter().all(|e| e.staff_seq.is_none()), "viewers never get staff events");
        let viewer_seqs: Vec<u64> = viewer_events.iter().map(|e| e.seq).collect();
        prop_assert_eq!(&viewer_seqs, &room_seqs);
        for event in &viewer_events {
            let json = String::from_utf8(codec::encode(Wire::Json, event).unwrap().to_vec()).unwrap();
            prop_assert!(!json.contains("\"operator\""), "a viewer saw the operator: {}", json);
        }
        let ended = staff_events.iter().any(|e| matches!(e.body, EventBody::RoomEnded { .. }));

        // Replay from history equals the live stream after any position, and the state at any
        // position plus the events after it equals the state now.
        let epoch = room.position().epoch.to_string();
        let now = room.state();
        for (seq, staff_seq, state) in &states {
            let since = Since { seq: *seq, epoch: epoch.clone(), staff_seq: Some(*staff_seq) };
            let replay = hub.rooms.broker().history(ROOM, &since, Streams::RoomAndStaff, 0).unwrap();
            let live: Vec<&Event> = staff_events
                .iter()
                .filter(|e| match e.staff_seq {
                    Some(s) => s > *staff_seq,
                    None => e.seq > *seq,
                })
                .collect();
            let replayed: Vec<&Event> = replay.iter().map(|e| e.as_ref()).collect();
            prop_assert_eq!(replayed, live.clone());
            let mut folded = state.clone();
            for event in live {
                folded.apply(event);
            }
            prop_assert_eq!(&folded, &now);
        }
        // The snapshot a late joiner gets shows the state now.
        if !ended {
            let late = connection(2_000);
            room.join(&late, stagehand::rooms::Audience::Staff, None, None, 7);
            let reply = drain(&room, &late).await.into_iter().find_map(|m| match m {
                ServerMessage::Control(Control::Reply(r)) => Some(r),
                _ => None,
            });
            let Some(stagehand_protocol::server::ReplyResult::Snapshot(snap)) = reply.and_then(|r| r.result) else {
                return Err(TestCaseError::fail("no snapshot"));
            };
            prop_assert_eq!(snap.state, now.lifecycle.phase);
            prop_assert_eq!(&snap.title, &now.lifecycle.title);
            prop_assert_eq!(&snap.billboard, &now.billboard);
            prop_assert_eq!(snap.staff.as_ref(), Some(&now.presence.staff));
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_command_sequence_keeps_the_room_invariants(script in prop::collection::vec((who(), op()), 1..40)) {
        run_case(script)?;
    }
}
