//! The checks behind the fuzz targets, shared with `tests/fuzz_corpus.rs`, which replays the
//! committed corpus (and every crash turned regression in `fuzz/regressions/`) through them in
//! the normal test run, on stable, without a fuzzer.
//!
//! - [`decode_frame`]: the frame decoder, both formats, every message kind. The first byte picks
//!   the format (even: MessagePack, odd: JSON); the rest is the frame. No input panics; a request
//!   that decodes re-encodes to one that decodes to the same request; an over-limit frame is
//!   refused as `too_large` unread; server messages (what clients decode) decode or fail without
//!   panicking, and round-trip when they decode.
//! - [`command_path`]: decode → the command layer (rate limits, policy, membership, validation)
//!   → a room's handlers and reducer, without a network, on one hub (SQLite store in a temporary
//!   directory) that lives for the whole run, so state builds up across inputs. The first byte
//!   picks who sends (bits 0–6: a room's creator, another creator, a viewer, a granted and an
//!   ungranted agency) and the format (bit 7: JSON); the rest is the frame. No input panics, and
//!   a reply carries the request's id.

// Each fuzz target uses one of the two checks.
#![allow(dead_code)]

use stagehand::auth::{AgencyClaim, Identity};
use stagehand::commands::{self, Caller};
use stagehand::delivery::outbox::Outbox;
use stagehand::limits::Limiters;
use stagehand::{Config, Hub};
use stagehand_protocol::codec::{decode, decode_request, encode, CodecError};
use stagehand_protocol::server::ServerMessage;
use stagehand_protocol::types::{Actor, Role};
use stagehand_protocol::{ClientMessage, Wire};
use std::sync::{Arc, Mutex, OnceLock};

/// The hub's default `max_frame_bytes`.
const LIMIT: usize = 16 * 1024;

pub fn decode_frame(data: &[u8]) {
    let Some((&selector, frame)) = data.split_first() else { return };
    let wire = if selector % 2 == 0 { Wire::MsgPack } else { Wire::Json };
    match decode_request(wire, frame, LIMIT) {
        Ok(request) => {
            let bytes = encode(wire, &request).expect("a decoded request encodes");
            let again: ClientMessage = decode(wire, &bytes).expect("a re-encoded request decodes");
            assert_eq!(again, request);
        }
        Err(error) => {
            let body = error.body();
            assert!(!body.message.is_empty());
            if frame.len() > LIMIT {
                assert!(matches!(error.error, CodecError::TooLarge { .. }));
                assert_eq!(error.id, None);
            }
        }
    }
    if let Ok(message) = decode::<ServerMessage>(wire, frame) {
        let bytes = encode(wire, &message).expect("a decoded server message encodes");
        let _: ServerMessage = decode(wire, &bytes).expect("a re-encoded server message decodes");
    }
}

struct World {
    runtime: tokio::runtime::Runtime,
    hub: Arc<Hub>,
    callers: Mutex<Vec<(Caller, Outbox)>>,
    _dir: tempfile::TempDir,
}

fn identity(index: usize) -> Identity {
    let user = |id: &str| Actor { id: id.into(), name: id.to_uppercase() };
    let agency = |agency: &str| {
        Some(AgencyClaim { agency_id: agency.into(), agency_name: agency.into(), creator_id: "cara".into() })
    };
    let (user, role, agency) = match index {
        0 => (user("cara"), Role::Creator, None),
        1 => (user("bob"), Role::Creator, None),
        2 => (user("vic"), Role::Viewer, None),
        3 => (user("sam"), Role::Agency, agency("acme")),
        _ => (user("eve"), Role::Agency, agency("evil")),
    };
    Identity { user, role, agency, valid_until: u64::MAX }
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            // Rate limits would refuse almost everything after the first second of fuzzing.
            comment_rate: 1e9,
            comment_burst: u32::MAX,
            ops_rate: 1e9,
            ops_burst: u32::MAX,
            join_rate: 1e9,
            join_burst: u32::MAX,
            room_comment_rate: 1e9,
            room_comment_burst: u32::MAX,
            room_ops_rate: 1e9,
            room_ops_burst: u32::MAX,
            ..Config::default()
        };
        let hub = runtime.block_on(async { Hub::new(config).unwrap() });
        let callers = (0..5)
            .map(|i| {
                let outbox = Outbox::socketless(i as u64 + 1, Wire::MsgPack, 1 << 20);
                (Caller::new(identity(i), outbox.clone(), Arc::new(Limiters::per_user(&hub.config))), outbox)
            })
            .collect();
        World { runtime, hub, callers: Mutex::new(callers), _dir: dir }
    })
}

pub fn command_path(data: &[u8]) {
    let Some((&selector, frame)) = data.split_first() else { return };
    let wire = if selector & 0x80 == 0 { Wire::MsgPack } else { Wire::Json };
    let world = world();
    let Ok(message) = decode_request(wire, frame, world.hub.config.max_frame_bytes) else { return };
    let mut callers = world.callers.lock().unwrap();
    let caller = &mut callers[usize::from(selector & 0x7f) % 5].0;
    let id = message.id;
    let reply = world.runtime.block_on(commands::dispatch(&world.hub.services, caller, id, message.command));
    if let Some(reply) = reply {
        assert_eq!(reply.id, Some(id), "{reply:?}");
    }
    // Whatever was queued to any connection is read, so no queue fills up over a run.
    for (_, outbox) in callers.iter() {
        drop(outbox.take_frames());
    }
}
