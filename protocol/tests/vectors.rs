//! Checks the wire test vectors in `protocol/vectors/` (written by `examples/gen_vectors.rs`).
//!
//! For every `NAME.msgpack` + `NAME.json` pair: the MessagePack decodes with the strict codec and
//! re-encodes to the same bytes; the JSON twin decodes to the same value, encodes back to the same
//! text, and encodes to the same MessagePack bytes. Every command and event kind must have a vector,
//! no file may lack its twin, and the files must be what the generator writes today.
//!
//! Regenerate with `cargo run -p stagehand-protocol --example gen_vectors`.

#[allow(dead_code)]
#[path = "../examples/gen_vectors.rs"]
mod gen_vectors;

use gen_vectors::{vectors, vectors_dir};
use serde::de::DeserializeOwned;
use serde::Serialize;
use stagehand_protocol::codec::{self, Wire};
use stagehand_protocol::{ClientMessage, Command, Control, EventBody, ReplyResult, ServerMessage};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

/// Vectors that the current types encode but cannot decode. Each is a defect in the Rust types,
/// pinned here so that fixing it fails this test: regenerate the vectors and remove the entry.
/// (Empty: the one such defect, a doubled `kind` in the `request` reply, is fixed.)
const KNOWN_UNDECODABLE: &[(&str, &str)] = &[];

/// What the file name says the vector decodes into.
enum Side {
    Client,
    Server,
}

fn side(stem: &str) -> Side {
    if stem.starts_with("client_") {
        Side::Client
    } else if ["reply_", "control_", "event_"].iter().any(|prefix| stem.starts_with(prefix)) {
        Side::Server
    } else {
        panic!("{stem}: name must start with client_, reply_, control_ or event_")
    }
}

/// The two files of one vector, as found on disk (either may be missing).
#[derive(Default)]
struct Pair {
    msgpack: Option<Vec<u8>>,
    json: Option<Vec<u8>>,
}

/// Every `.msgpack`/`.json` file in the directory, by stem.
fn pairs() -> BTreeMap<String, Pair> {
    let mut pairs: BTreeMap<String, Pair> = BTreeMap::new();
    for entry in std::fs::read_dir(vectors_dir()).expect("vectors directory exists") {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let bytes = || Some(std::fs::read(&path).unwrap());
        match path.extension().and_then(|e| e.to_str()) {
            Some("msgpack") => pairs.entry(stem).or_default().msgpack = bytes(),
            Some("json") => pairs.entry(stem).or_default().json = bytes(),
            _ => panic!("unexpected file in vectors/: {}", path.display()),
        }
    }
    assert!(!pairs.is_empty(), "no vectors in {}", vectors_dir().display());
    pairs
}

/// The strict round trip of one pair; returns the decoded value.
fn check_pair<T>(stem: &str, msgpack: &[u8], json: &[u8]) -> T
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let value: T = codec::decode(Wire::MsgPack, msgpack).unwrap_or_else(|e| panic!("{stem}.msgpack: {e}"));
    let again = codec::encode(Wire::MsgPack, &value).unwrap();
    assert_eq!(&again[..], msgpack, "{stem}.msgpack: re-encoding changed the bytes");

    let twin: T = codec::decode(Wire::Json, json).unwrap_or_else(|e| panic!("{stem}.json: {e}"));
    assert_eq!(twin, value, "{stem}: the JSON twin decodes to a different value");
    let twin_msgpack = codec::encode(Wire::MsgPack, &twin).unwrap();
    assert_eq!(&twin_msgpack[..], msgpack, "{stem}.json: encodes to different MessagePack");
    let twin_json = codec::encode(Wire::Json, &twin).unwrap();
    assert_eq!(&twin_json[..], json, "{stem}.json: re-encoding changed the text");
    value
}

/// Variant names an internally tagged enum accepts, read from serde's "unknown variant" error, so
/// a variant added to the Rust type shows up here without anyone updating a list.
fn variant_names<T: DeserializeOwned + Debug>(tag: &str) -> BTreeSet<String> {
    let probe = format!(r#"{{"{tag}":"__no_such_variant__"}}"#);
    let message = serde_json::from_str::<T>(&probe).expect_err("probe must not decode").to_string();
    let expected = message.split_once("expected").map(|(_, rest)| rest).unwrap_or_default();
    let names: BTreeSet<String> = expected.split('`').skip(1).step_by(2).map(str::to_owned).collect();
    assert!(names.len() > 1, "could not read the variant names from {message:?}");
    names
}

/// The message kinds the vectors cover.
#[derive(Default)]
struct Coverage {
    commands: BTreeSet<String>,
    events: BTreeSet<String>,
    controls: BTreeSet<String>,
    results: BTreeSet<String>,
    events_with_operator: BTreeSet<String>,
    events_without_operator: BTreeSet<String>,
}

impl Coverage {
    fn server(&mut self, message: &ServerMessage) {
        match message {
            ServerMessage::Event(event) => {
                let name = event.body.name().to_owned();
                if event.body.has_operator() {
                    self.events_with_operator.insert(name.clone());
                } else {
                    self.events_without_operator.insert(name.clone());
                }
                self.events.insert(name);
            }
            ServerMessage::Control(Control::Reply(reply)) => {
                self.controls.insert("reply".into());
                if let Some(result) = &reply.result {
                    self.results.insert(result_kind(result).into());
                }
            }
            ServerMessage::Control(Control::Welcome(_)) => {
                self.controls.insert("welcome".into());
            }
            ServerMessage::Control(Control::Notification(_)) => {
                self.controls.insert("notification".into());
            }
            ServerMessage::Control(Control::NotificationsRemaining(_)) => {
                self.controls.insert("notifications_remaining".into());
            }
        }
    }
}

/// The `kind` tag of a reply result. Exhaustive on purpose: a new variant fails to compile here.
fn result_kind(result: &ReplyResult) -> &'static str {
    match result {
        ReplyResult::Snapshot(_) => "snapshot",
        ReplyResult::Comment { .. } => "comment",
        ReplyResult::Published { .. } => "published",
        ReplyResult::Pong { .. } => "pong",
        ReplyResult::Request { .. } => "request",
        ReplyResult::Decision { .. } => "decision",
        ReplyResult::Unlinked { .. } => "unlinked",
        ReplyResult::Grant { .. } => "grant",
        ReplyResult::Requests { .. } => "requests",
        ReplyResult::Links { .. } => "links",
        ReplyResult::Grants { .. } => "grants",
        ReplyResult::Notifications { .. } => "notifications",
        ReplyResult::Audit { .. } => "audit",
        ReplyResult::Acked { .. } => "acked",
        ReplyResult::ProductSet { .. } => "product_set",
        ReplyResult::ProductSets { .. } => "product_sets",
        ReplyResult::ProductSetDeleted { .. } => "product_set_deleted",
        ReplyResult::Bag { .. } => "bag",
        ReplyResult::FlashSale { .. } => "flash_sale",
        ReplyResult::Feed { .. } => "feed",
        ReplyResult::Dashboard { .. } => "dashboard",
        ReplyResult::Summary { .. } => "summary",
        ReplyResult::Moderation { .. } => "moderation",
        ReplyResult::LiveEvent { .. } => "live_event",
        ReplyResult::LiveEvents { .. } => "live_events",
        ReplyResult::AccountHealth { .. } => "account_health",
    }
}

/// Checks every pair and returns what they cover.
fn check_all_pairs() -> Coverage {
    let known_undecodable: BTreeMap<&str, &str> = KNOWN_UNDECODABLE.iter().copied().collect();
    let mut coverage = Coverage::default();
    for (stem, Pair { msgpack, json }) in pairs() {
        let msgpack = msgpack.unwrap_or_else(|| panic!("{stem}.json has no {stem}.msgpack twin"));
        let json = json.unwrap_or_else(|| panic!("{stem}.msgpack has no {stem}.json twin"));
        if let Some(kind) = known_undecodable.get(stem.as_str()) {
            let decoded = codec::decode::<ServerMessage>(Wire::MsgPack, &msgpack);
            let twin = codec::decode::<ServerMessage>(Wire::Json, &json);
            assert!(
                decoded.is_err() && twin.is_err(),
                "{stem} decodes now: the type was fixed; regenerate the vectors and remove it from KNOWN_UNDECODABLE"
            );
            coverage.controls.insert("reply".into());
            coverage.results.insert((*kind).into());
            continue;
        }
        match side(&stem) {
            Side::Client => {
                let message: ClientMessage = check_pair(&stem, &msgpack, &json);
                coverage.commands.insert(message.command.name().into());
            }
            Side::Server => {
                let message: ServerMessage = check_pair(&stem, &msgpack, &json);
                assert_eq!(
                    stem.starts_with("event_"),
                    matches!(message, ServerMessage::Event(_)),
                    "{stem}: event_ vectors must be room events and only they"
                );
                coverage.server(&message);
            }
        }
    }
    coverage
}

#[test]
fn every_pair_round_trips_byte_for_byte() {
    check_all_pairs();
}

#[test]
fn every_message_kind_has_a_vector() {
    let coverage = check_all_pairs();
    let missing =
        |all: BTreeSet<String>, have: &BTreeSet<String>| -> Vec<String> { all.difference(have).cloned().collect() };
    let commands = variant_names::<Command>("type");
    assert_eq!(missing(commands, &coverage.commands), Vec::<String>::new(), "commands without a vector");
    let events = variant_names::<EventBody>("type");
    assert_eq!(missing(events, &coverage.events), Vec::<String>::new(), "events without a vector");
    let controls = variant_names::<Control>("type");
    assert_eq!(missing(controls, &coverage.controls), Vec::<String>::new(), "control messages without a vector");
    let results = variant_names::<ReplyResult>("kind");
    assert_eq!(missing(results, &coverage.results), Vec::<String>::new(), "reply results without a vector");

    // Events that can name an operator need both forms: as staff see them and as viewers do.
    for name in ["comment", "comment_deleted", "billboard", "giveaway_started", "comment_settings", "bag"] {
        assert!(coverage.events_with_operator.contains(name), "no {name} vector with an operator");
        assert!(coverage.events_without_operator.contains(name), "no {name} vector without an operator");
    }
}

#[test]
fn no_file_lacks_its_twin() {
    for (stem, Pair { msgpack, json }) in pairs() {
        assert!(msgpack.is_some(), "{stem}.json has no {stem}.msgpack twin");
        assert!(json.is_some(), "{stem}.msgpack has no {stem}.json twin");
    }
}

#[test]
fn files_are_what_the_generator_writes() {
    let on_disk = pairs();
    let mut generated = BTreeSet::new();
    for (name, vector) in vectors() {
        let (msgpack, json) = vector.encode();
        let file = on_disk.get(name).unwrap_or_else(|| panic!("{name}: not generated yet"));
        assert_eq!(file.msgpack.as_deref(), Some(&msgpack[..]), "{name}.msgpack is stale");
        assert_eq!(file.json.as_deref(), Some(&json[..]), "{name}.json is stale");
        generated.insert(name.to_owned());
    }
    let extra: Vec<&String> = on_disk.keys().filter(|stem| !generated.contains(*stem)).collect();
    assert!(extra.is_empty(), "vectors the generator no longer writes: {extra:?}");
}
