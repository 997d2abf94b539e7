//! Encode once, deliver to many: the broadcast hot path.
//!
//! An event is encoded at most once per (audience, wire format): viewers get the public form
//! (agency staff hidden behind the creator), staff members get the real operator. Every recipient
//! receives the same [`Frame`] (a shared pointer to the encoded message): a reference-count bump. The
//! delivery loop is a plain synchronous `try_send` per member; it never waits.

use crate::delivery::frame::encode_frame;
use crate::delivery::outbox::{ConnId, Delivery, Frame, Outbox};
use stagehand_protocol::server::{Event, ServerMessage};
use stagehand_protocol::Wire;

/// Who receives which form of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Viewers: the public form.
    Viewers,
    /// The creator and agency staff: the real operator is shown.
    Staff,
}

/// One event on its way out, with its frames encoded on first use.
pub struct Outgoing {
    staff_form: ServerMessage,
    public_form: Option<ServerMessage>,
    droppable: bool,
    frames: [[Option<Frame>; 2]; 2],
}

impl Outgoing {
    pub fn new(event: &Event) -> Self {
        let droppable = event.body.droppable();
        // Only events that name an operator need a separate public form.
        let public_form = event
            .body
            .has_operator()
            .then(|| ServerMessage::Event(Event { body: event.body.for_viewers(), ..event.clone() }));
        Outgoing { staff_form: ServerMessage::Event(event.clone()), public_form, droppable, frames: Default::default() }
    }

    /// The same, for replaying missed events to a recovering joiner: none may be dropped.
    pub fn replay(event: &Event) -> Self {
        Outgoing { droppable: false, ..Outgoing::new(event) }
    }

    fn frame(&mut self, audience: Audience, wire: Wire) -> Option<&Frame> {
        let form = match (audience, &self.public_form) {
            (Audience::Viewers, Some(public)) => (0, public),
            _ => (1, &self.staff_form),
        };
        let slot = &mut self.frames[form.0][wire.index()];
        if slot.is_none() {
            *slot = encode_frame(wire, form.1);
        }
        slot.as_ref()
    }

    /// Offer the event to every member of one audience, adding the outcome to `tally`.
    pub fn deliver<'a>(&mut self, audience: Audience, members: impl Iterator<Item = &'a Outbox>, tally: &mut Tally) {
        let droppable = self.droppable;
        for outbox in members {
            let Some(frame) = self.frame(audience, outbox.wire) else { return };
            match outbox.offer(frame, droppable) {
                Delivery::Queued => tally.queued += 1,
                Delivery::Dropped => tally.dropped += 1,
                Delivery::SlowConsumer => tally.slow.push(outbox.id),
                Delivery::Gone => tally.gone.push(outbox.id),
            }
        }
    }
}

/// What one broadcast did.
#[derive(Debug, Default)]
pub struct Tally {
    pub queued: u64,
    pub dropped: u64,
    /// Members closed as slow consumers: remove them from the room.
    pub slow: Vec<ConnId>,
    /// Members whose connection already ended: remove them too.
    pub gone: Vec<ConnId>,
}
