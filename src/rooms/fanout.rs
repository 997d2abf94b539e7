//! Encode once, deliver to many: the broadcast hot path.
//!
//! An event is encoded at most once per (audience, wire format): viewers get the public form
//! (agency staff hidden behind the creator), staff members get the real operator. Every recipient
//! is handed the same [`Frame`] (shared bytes of the whole WebSocket frame), which its connection
//! writes as it is. The delivery loop never waits.

use crate::delivery::frame::{encode_frame, Class, Frame};
use crate::delivery::outbox::{ConnId, Delivery, Outbox};
use crate::delivery::prefetch::prefetch;
use stagehand_protocol::server::{Event, ServerMessage};
use stagehand_protocol::types::Operator;
use stagehand_protocol::Wire;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Who receives which form of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Viewers: the public form.
    Viewers,
    /// The creator and agency staff: the real operator is shown.
    Staff,
}

/// A member of a room on this node.
pub struct Member {
    pub outbox: Outbox,
    /// Set for agency staff; `None` for the creator and viewers.
    pub operator: Option<Operator>,
    /// No longer a member in this form (it left, or joined again): the fan-outs still queued
    /// with it in their snapshot pass it by, so a rejoin's reply comes before anything it is sent
    /// afterwards.
    retired: AtomicBool,
}

impl Member {
    pub fn new(outbox: Outbox, operator: Option<Operator>) -> Self {
        Member { outbox, operator, retired: AtomicBool::new(false) }
    }

    pub fn retire(&self) {
        self.retired.store(true, Ordering::Relaxed);
    }

    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Relaxed)
    }
}

/// Walks members three ahead of their use, one step of fetching each: the entry three ahead
/// (where the map keeps it), the member two ahead, the connection state of the next one. Each
/// step reads only what the previous step fetched, so every line arrives while the system call
/// for an earlier member runs and the loop never waits on a chain of misses.
pub struct Lookahead<'a, I> {
    members: I,
    ahead: [Option<&'a Arc<Member>>; 3],
}

impl<'a, I: Iterator<Item = &'a Arc<Member>>> Lookahead<'a, I> {
    pub fn new(mut members: I) -> Self {
        let ahead = [members.next(), members.next(), members.next()];
        ahead.iter().flatten().for_each(|member| prefetch(Arc::as_ptr(member)));
        Lookahead { members, ahead }
    }
}

impl<'a, I: Iterator<Item = &'a Arc<Member>>> Iterator for Lookahead<'a, I> {
    type Item = &'a Arc<Member>;

    fn next(&mut self) -> Option<Self::Item> {
        let [now, next, later] = self.ahead;
        let last = self.members.next();
        if let Some(member) = last {
            prefetch(member);
        }
        if let Some(member) = later {
            prefetch(Arc::as_ptr(member));
        }
        if let Some(member) = next {
            member.outbox.prefetch();
        }
        self.ahead = [next, later, last];
        now
    }
}

/// Members by connection: a persistent map, so a fan-out takes a snapshot of it in O(1) under
/// the room's lock and walks it with no lock held while members join and leave.
pub type MemberMap = imbl::HashMap<ConnId, Arc<Member>>;

/// One event on its way out, with its frames encoded on first use.
pub struct Outgoing {
    staff_form: ServerMessage,
    public_form: Option<ServerMessage>,
    class: Class,
    frames: [[Option<Frame>; 2]; 2],
}

impl Outgoing {
    pub fn new(event: &Event) -> Self {
        let class = if event.body.coalesces() {
            // One counter per room and event type.
            let mut key = DefaultHasher::new();
            (&event.room, event.body.name()).hash(&mut key);
            Class::Coalesce(key.finish())
        } else if event.body.droppable() {
            Class::Droppable
        } else {
            Class::State
        };
        // Only events that name an operator need a separate public form.
        let public_form = event
            .body
            .has_operator()
            .then(|| ServerMessage::Event(Event { body: event.body.for_viewers(), ..event.clone() }));
        Outgoing { staff_form: ServerMessage::Event(event.clone()), public_form, class, frames: Default::default() }
    }

    /// The same, for replaying missed events to a recovering joiner: none may be dropped.
    pub fn replay(event: &Event) -> Self {
        Outgoing { class: Class::State, ..Outgoing::new(event) }
    }

    pub fn frame(&mut self, audience: Audience, wire: Wire) -> Option<&Frame> {
        let form = match (audience, &self.public_form) {
            (Audience::Viewers, Some(public)) => (0, public),
            _ => (1, &self.staff_form),
        };
        let slot = &mut self.frames[form.0][wire.index()];
        if slot.is_none() {
            *slot = encode_frame(wire, form.1, self.class);
        }
        slot.as_ref()
    }

    /// Offer the event to every member of one audience, adding the outcome to `tally`.
    pub fn deliver<'a>(&mut self, audience: Audience, members: impl Iterator<Item = &'a Outbox>, tally: &mut Tally) {
        for outbox in members {
            let Some(frame) = self.frame(audience, outbox.wire) else { return };
            tally.count(outbox.id, outbox.offer(frame));
        }
    }
}

/// What one broadcast did.
#[derive(Debug, Default)]
pub struct Tally {
    pub queued: u64,
    pub coalesced: u64,
    /// Frames refused or shed from a backlog to make room.
    pub dropped: u64,
    /// Members closed as slow consumers: remove them from the room.
    pub slow: Vec<ConnId>,
    /// Members whose connection already ended: remove them too.
    pub gone: Vec<ConnId>,
}

impl Tally {
    pub fn merge(&mut self, other: Tally) {
        self.queued += other.queued;
        self.coalesced += other.coalesced;
        self.dropped += other.dropped;
        self.slow.extend(other.slow);
        self.gone.extend(other.gone);
    }

    pub fn count(&mut self, id: ConnId, delivery: Delivery) {
        match delivery {
            Delivery::Queued { shed } => {
                self.queued += 1;
                self.dropped += shed as u64;
            }
            Delivery::Coalesced => self.coalesced += 1,
            Delivery::Dropped => self.dropped += 1,
            Delivery::SlowConsumer => self.slow.push(id),
            Delivery::Gone => self.gone.push(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Looking ahead changes what is fetched early, never what is walked: every member once, in
    /// the map's order, for maps shorter and longer than the lookahead.
    #[test]
    fn the_lookahead_walks_every_member_once_in_order() {
        for n in 0..8u64 {
            let members: MemberMap = (0..n)
                .map(|id| (id, Arc::new(Member::new(Outbox::socketless(id, Wire::MsgPack, 1024), None))))
                .collect();
            let plain: Vec<ConnId> = members.values().map(|m| m.outbox.id).collect();
            let ahead: Vec<ConnId> = Lookahead::new(members.values()).map(|m| m.outbox.id).collect();
            assert_eq!(ahead, plain, "{n} members");
            assert_eq!(ahead.len() as u64, n);
        }
    }
}
