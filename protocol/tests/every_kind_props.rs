//! Property tests over every message kind: each test vector (`protocol/vectors/`, which must
//! cover every command, reply, control message and event — `tests/vectors.rs` checks that) is the
//! skeleton, and proptest fills its text and number fields with arbitrary values. Whatever it
//! holds, a message round-trips exactly in both wire formats; a request over the frame limit is
//! `too_large` whatever its kind; and damaged bytes of any kind of message decode to a message or
//! a stable error, never a panic. (`codec_props.rs` covers a handful of kinds with fully random
//! values; `fuzz/` runs coverage-guided over the same decoder.)

#[allow(dead_code)]
#[path = "../examples/gen_vectors.rs"]
mod gen_vectors;

use gen_vectors::{vectors, Vector};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::Value;
use stagehand_protocol::codec::{decode, decode_request, encode};
use stagehand_protocol::{ClientMessage, ErrorCode, ServerMessage, Wire};
use std::sync::LazyLock;

/// Every vector, as (name, the message, its JSON value).
static VECTORS: LazyLock<Vec<(&'static str, Vector, Value)>> = LazyLock::new(|| {
    vectors()
        .into_iter()
        .map(|(name, vector)| {
            let value = match &vector {
                Vector::Client(message) => serde_json::to_value(message).unwrap(),
                Vector::Server(message) => serde_json::to_value(message).unwrap(),
            };
            (name, vector, value)
        })
        .collect()
});

/// Arbitrary values for a vector's leaves, used in order (and again from the start when a
/// message has more leaves than values).
#[derive(Debug, Clone)]
struct Fill {
    texts: Vec<String>,
    numbers: Vec<u64>,
    /// Which leaves to replace (a leaf keeps its value where this is false).
    replace: Vec<bool>,
}

fn fill() -> impl Strategy<Value = Fill> {
    (
        prop::collection::vec(any::<String>(), 1..8),
        prop::collection::vec(prop_oneof![any::<u64>(), 0u64..1000, Just(0), Just(u32::MAX as u64)], 1..8),
        prop::collection::vec(any::<bool>(), 1..16),
    )
        .prop_map(|(texts, numbers, replace)| Fill { texts, numbers, replace })
}

/// Replace `value`'s string and unsigned leaves from `fill`, one at a time, keeping each
/// replacement only if the whole still decodes as `T` (a tag, an enum value or a narrower
/// integer keeps its vector value). Returns the decoded message.
fn mutate<T: DeserializeOwned>(value: &mut Value, fill: &Fill) -> T {
    let mut paths = Vec::new();
    leaves(value, &mut Vec::new(), &mut paths);
    for (i, path) in paths.iter().enumerate() {
        if !fill.replace[i % fill.replace.len()] {
            continue;
        }
        let leaf = at(value, path);
        let replacement = match leaf {
            Value::String(_) => Value::String(fill.texts[i % fill.texts.len()].clone()),
            Value::Number(n) if n.is_u64() => Value::from(fill.numbers[i % fill.numbers.len()]),
            _ => continue,
        };
        let old = std::mem::replace(at(value, path), replacement);
        if serde_json::from_value::<T>(value.clone()).is_err() {
            *at(value, path) = old;
        }
    }
    serde_json::from_value(value.clone()).expect("the vector decodes")
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn leaves(value: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                path.push(Step::Key(key.clone()));
                leaves(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                path.push(Step::Index(i));
                leaves(child, path, out);
                path.pop();
            }
        }
        Value::String(_) | Value::Number(_) => out.push(path.clone()),
        _ => {}
    }
}

fn at<'a>(value: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(value, |v, step| match step {
        Step::Key(key) => &mut v[key.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

fn wire() -> impl Strategy<Value = Wire> {
    prop_oneof![Just(Wire::MsgPack), Just(Wire::Json)]
}

fn vector() -> impl Strategy<Value = usize> {
    0..VECTORS.len()
}

/// The request vectors only.
fn request_vector() -> impl Strategy<Value = usize> {
    let requests: Vec<usize> = (0..VECTORS.len()).filter(|&i| matches!(VECTORS[i].1, Vector::Client(_))).collect();
    prop::sample::select(requests)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// Every kind round-trips exactly in both formats, whatever text and numbers it carries.
    #[test]
    fn every_kind_round_trips_in_both_formats_with_any_values(index in vector(), fill in fill(), wire in wire()) {
        let (name, vector, value) = &VECTORS[index];
        let mut value = value.clone();
        match vector {
            Vector::Client(_) => {
                let message: ClientMessage = mutate(&mut value, &fill);
                let bytes = encode(wire, &message).unwrap();
                let decoded = decode_request(wire, &bytes, usize::MAX);
                prop_assert_eq!(decoded.as_ref().ok(), Some(&message), "{}: {:?}", name, decoded);
            }
            Vector::Server(_) => {
                let message: ServerMessage = mutate(&mut value, &fill);
                let bytes = encode(wire, &message).unwrap();
                let decoded: Result<ServerMessage, _> = decode(wire, &bytes);
                prop_assert_eq!(decoded.as_ref().ok(), Some(&message), "{}: {:?}", name, decoded);
            }
        }
    }

    /// A request of any kind over the frame limit is `too_large`, without its id (it is not read).
    #[test]
    fn every_request_kind_over_the_limit_is_too_large(index in request_vector(), fill in fill(), wire in wire(), short in 1usize..64) {
        let (_, _, value) = &VECTORS[index];
        let message: ClientMessage = mutate(&mut value.clone(), &fill);
        let bytes = encode(wire, &message).unwrap();
        let limit = bytes.len().saturating_sub(short);
        let error = decode_request(wire, &bytes, limit).unwrap_err();
        prop_assert_eq!(error.body().code, ErrorCode::TooLarge);
        prop_assert_eq!(error.id, None);
        // At the limit exactly it is read.
        prop_assert!(decode_request(wire, &bytes, bytes.len()).is_ok());
    }

    /// Damaged messages of every kind — bytes changed, cut short, or spliced — decode to a
    /// message or a stable error; nothing panics.
    #[test]
    fn damaged_messages_of_every_kind_never_panic_the_decoder(
        index in vector(),
        wire in wire(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
        splice in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let (_, vector, _) = &VECTORS[index];
        let (msgpack, json) = vector.encode();
        let mut bytes = if wire == Wire::MsgPack { msgpack } else { json };
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let cut = cut.index(bytes.len() + 1);
        bytes.splice(cut..cut, splice);
        if let Err(error) = decode_request(wire, &bytes, 16 * 1024) {
            prop_assert!(matches!(error.body().code, ErrorCode::Invalid | ErrorCode::TooLarge));
        }
        let _ = decode::<ServerMessage>(wire, &bytes);
        bytes.truncate(cut);
        let _ = decode_request(wire, &bytes, 16 * 1024);
        let _ = decode::<ServerMessage>(wire, &bytes);
    }
}

/// The properties above are only as strong as the filling: it must reach nearly every kind (a
/// kind without any free text or number field, like `ping`, stays as it is).
#[test]
fn the_fill_changes_nearly_every_kind() {
    let fill = Fill { texts: vec!["ünï \"quoted\" \u{0}".into()], numbers: vec![7_777_777], replace: vec![true] };
    let mut changed = 0;
    for (_, vector, value) in VECTORS.iter() {
        let mut mutated = value.clone();
        match vector {
            Vector::Client(_) => drop(mutate::<ClientMessage>(&mut mutated, &fill)),
            Vector::Server(_) => drop(mutate::<ServerMessage>(&mut mutated, &fill)),
        }
        changed += usize::from(mutated != *value);
    }
    assert!(changed * 10 >= VECTORS.len() * 9, "{changed} of {} kinds changed", VECTORS.len());
}
