//! Property tests of the codec, in both wire formats: requests round-trip exactly; any bytes at
//! all decode to a message or a stable error without panicking; anything over the limit is
//! `too_large` before it is looked at; trailing bytes after a message are refused; room events
//! round-trip too. (Coverage-guided fuzzing of the same decoder: `fuzz/`, run by `.ci/fuzz`.)

use proptest::prelude::*;
use stagehand_protocol::client::Since;
use stagehand_protocol::codec::decode;
use stagehand_protocol::codec::{decode_request, encode, CodecError};
use stagehand_protocol::server::{Event, EventBody, ServerMessage};
use stagehand_protocol::types::Actor;
use stagehand_protocol::types::Billboard;
use stagehand_protocol::{ClientMessage, Command, ErrorCode, Wire};

fn wire() -> impl Strategy<Value = Wire> {
    prop_oneof![Just(Wire::MsgPack), Just(Wire::Json)]
}

fn text() -> impl Strategy<Value = String> {
    // Any Unicode, including control characters, quotes and escapes.
    any::<String>()
}

fn command() -> impl Strategy<Value = Command> {
    let since = (any::<u64>(), text(), proptest::option::of(any::<u64>())).prop_map(|(seq, epoch, staff_seq)| Since {
        seq,
        epoch,
        staff_seq,
    });
    let billboard = (text(), text(), proptest::option::of(text())).prop_map(|(billboard_id, title, text)| Billboard {
        billboard_id,
        title,
        text,
        image_url: None,
        link_url: None,
        duration_ms: None,
        expires_at: None,
    });
    prop_oneof![
        text().prop_map(|token| Command::Connect { token }),
        Just(Command::Ping),
        text().prop_map(|token| Command::Refresh { token }),
        (text(), proptest::option::of(since)).prop_map(|(room, since)| Command::Join { room, since }),
        text().prop_map(|room| Command::Leave { room }),
        (text(), text()).prop_map(|(room, text)| Command::Comment { room, text }),
        (text(), proptest::option::of(text())).prop_map(|(room, title)| Command::StartRoom {
            room,
            title,
            event_id: None
        }),
        (text(), text(), any::<u64>()).prop_map(|(room, title, starts_at)| Command::ScheduleRoom {
            room,
            title,
            starts_at
        }),
        (text(), billboard).prop_map(|(room, billboard)| Command::DeployBillboard { room, billboard }),
        (text(), any::<u64>()).prop_map(|(room, comment_id)| Command::DeleteComment { room, comment_id }),
        prop::collection::vec(any::<u64>(), 0..20).prop_map(|notification_ids| Command::Ack { notification_ids }),
        (proptest::option::of(text()), proptest::option::of(any::<u64>()), proptest::option::of(any::<u32>()))
            .prop_map(|(agency, before, limit)| Command::ListAudit { agency, before, limit }),
    ]
}

/// Room events with any text in them (what every client decodes).
fn event() -> impl Strategy<Value = ServerMessage> {
    let actor = (text(), text()).prop_map(|(id, name)| Actor { id, name });
    let body = prop_oneof![
        (any::<u64>(), actor, text()).prop_map(|(comment_id, author, text)| EventBody::Comment {
            comment_id,
            author,
            text,
            operator: None
        }),
        (text(), text(), any::<u32>(), any::<u64>()).prop_map(|(order_id, buyer, quantity, amount)| EventBody::Order {
            order_id,
            buyer,
            product_id: "p".into(),
            product_name: "P".into(),
            quantity,
            amount,
            currency: "EUR".into(),
        }),
        (text(), text()).prop_map(|(kind, text)| EventBody::Activity { kind, text }),
        text().prop_map(|title| EventBody::RoomStarted { title }),
    ];
    (text(), any::<u64>(), any::<u64>(), body)
        .prop_map(|(room, seq, ts, body)| ServerMessage::Event(Event { room, seq, staff_seq: None, ts, body }))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn events_round_trip_in_both_formats(wire in wire(), message in event()) {
        let bytes = encode(wire, &message).unwrap();
        let decoded: ServerMessage = decode(wire, &bytes).unwrap();
        prop_assert_eq!(decoded, message);
    }

    #[test]
    fn requests_round_trip_in_both_formats(wire in wire(), id in any::<u64>(), command in command()) {
        let message = ClientMessage::new(id, command);
        let bytes = encode(wire, &message).unwrap();
        let decoded = decode_request(wire, &bytes, usize::MAX).unwrap();
        prop_assert_eq!(decoded, message);
    }

    #[test]
    fn any_bytes_decode_or_fail_with_a_stable_code(wire in wire(), bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Err(error) = decode_request(wire, &bytes, 16 * 1024) {
            prop_assert!(matches!(error.body().code, ErrorCode::Invalid | ErrorCode::TooLarge));
        }
    }

    #[test]
    fn frames_over_the_limit_are_too_large_whatever_they_hold(
        wire in wire(),
        bytes in prop::collection::vec(any::<u8>(), 1..2048),
        limit in 0usize..1024,
    ) {
        prop_assume!(bytes.len() > limit);
        let error = decode_request(wire, &bytes, limit).unwrap_err();
        prop_assert_eq!(error.body().code, ErrorCode::TooLarge);
        let too_large = matches!(error.error, CodecError::TooLarge { .. });
        prop_assert!(too_large, "{:?}", error.error);
        prop_assert_eq!(error.id, None);
    }

    #[test]
    fn trailing_bytes_after_a_request_are_refused_keeping_its_id(
        wire in wire(),
        id in any::<u64>(),
        command in command(),
        junk in prop::collection::vec(any::<u8>(), 1..16),
    ) {
        let mut bytes = encode(wire, &ClientMessage::new(id, command)).unwrap().to_vec();
        // JSON allows trailing whitespace; anything else after the message is refused.
        prop_assume!(wire == Wire::MsgPack || junk.iter().any(|b| !b.is_ascii_whitespace()));
        bytes.extend_from_slice(&junk);
        let error = decode_request(wire, &bytes, usize::MAX).unwrap_err();
        prop_assert_eq!(error.body().code, ErrorCode::Invalid);
        prop_assert_eq!(error.id, Some(id));
    }
}
