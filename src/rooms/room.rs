//! One live room: its state, its members and its event sequence.
//!
//! Everything about a room sits behind one short `std::sync::Mutex`: assigning `seq` and offering
//! the event to members happen under it, so every member receives events in `seq` order and a
//! joiner's snapshot `seq` is exactly the event before its first one. Nothing under the lock
//! waits: encoding is a few hundred nanoseconds and delivery is `try_send`.

use super::fanout::{Audience, Outgoing, Tally};
use crate::clock::Clock;
use crate::conn::outbox::{ConnId, Outbox};
use crate::error::{HubError, HubResult};
use crate::limits::Limiters;
use crate::metrics::Metrics;
use stagehand_protocol::server::{EndReason, Event, EventBody};
use stagehand_protocol::types::{Actor, Billboard, BillboardAction, Millis, Operator, RoomState, Snapshot};
use stagehand_protocol::CloseCode;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// How many recent comment ids a room remembers so moderators can delete them.
const RECENT_COMMENTS: usize = 1024;

pub struct Room {
    pub id: String,
    /// The creator who owns the room; fixed at creation.
    pub creator: Actor,
    /// Per-room rate limits.
    pub limits: Limiters,
    metrics: Arc<Metrics>,
    clock: Clock,
    inner: Mutex<Inner>,
}

/// A member of the staff audience: the creator's own connections and agency staff.
struct StaffMember {
    outbox: Outbox,
    /// Set for agency staff; `None` for the creator.
    operator: Option<Operator>,
}

struct Inner {
    state: RoomState,
    title: String,
    starts_at: Option<Millis>,
    billboard: Option<Billboard>,
    seq: u64,
    staff_seq: u64,
    viewers: HashMap<ConnId, Outbox>,
    staff: HashMap<ConnId, StaffMember>,
    recent_comments: VecDeque<u64>,
    ended_at: Option<Millis>,
    /// The viewer count last broadcast, so unchanged counts are not resent.
    announced_viewers: u64,
}

/// What a room operation produced for the caller's reply.
pub type Seq = u64;

impl Room {
    pub fn new(
        id: String,
        creator: Actor,
        title: String,
        limits: Limiters,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> Self {
        Room {
            id,
            creator,
            limits,
            metrics,
            clock,
            inner: Mutex::new(Inner {
                state: RoomState::Scheduled,
                title,
                starts_at: None,
                billboard: None,
                seq: 0,
                staff_seq: 0,
                viewers: HashMap::new(),
                staff: HashMap::new(),
                recent_comments: VecDeque::new(),
                ended_at: None,
                announced_viewers: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated in a way that matters
        // more than losing the room, so a poisoned lock is taken over rather than spread.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn state(&self) -> RoomState {
        self.lock().state
    }

    pub fn ended_at(&self) -> Option<Millis> {
        self.lock().ended_at
    }

    pub fn viewer_count(&self) -> usize {
        self.lock().viewers.len()
    }

    /// Add a member and return the snapshot it starts from. Agency staff joining also announces
    /// `staff_joined` to the staff audience.
    pub fn join(&self, outbox: Outbox, audience: Audience, operator: Option<Operator>) -> Snapshot {
        let mut inner = self.lock();
        let id = outbox.id;
        match audience {
            Audience::Viewers => {
                inner.viewers.insert(id, outbox);
            }
            Audience::Staff => {
                let announce = operator.clone();
                let rejoin = inner.staff.insert(id, StaffMember { outbox, operator }).is_some();
                if let (Some(staff), false) = (announce, rejoin) {
                    self.publish_locked(&mut inner, EventBody::StaffJoined { staff });
                }
            }
        }
        self.snapshot_locked(&inner, audience)
    }

    /// Remove a member; announces `staff_left` for agency staff. Returns whether it was a member.
    pub fn leave(&self, id: ConnId) -> bool {
        let mut inner = self.lock();
        if inner.viewers.remove(&id).is_some() {
            return true;
        }
        match inner.staff.remove(&id) {
            Some(StaffMember { operator: Some(staff), .. }) => {
                if inner.state != RoomState::Ended {
                    self.publish_locked(&mut inner, EventBody::StaffLeft { staff });
                }
                true
            }
            Some(_) => true,
            None => false,
        }
    }

    pub fn is_member(&self, id: ConnId) -> bool {
        let inner = self.lock();
        inner.viewers.contains_key(&id) || inner.staff.contains_key(&id)
    }

    /// The agencies that have staff in the room now.
    pub fn staff_agencies(&self) -> Vec<String> {
        let inner = self.lock();
        let mut agencies: Vec<String> =
            inner.staff.values().filter_map(|m| m.operator.as_ref().map(|o| o.agency_id.clone())).collect();
        agencies.sort();
        agencies.dedup();
        agencies
    }

    /// Close every connection of `agency_id`'s staff in this room (their access ended) and
    /// announce that they left.
    pub fn expel_agency(&self, agency_id: &str, code: CloseCode, detail: &str) {
        let mut inner = self.lock();
        let leaving: Vec<ConnId> = inner
            .staff
            .iter()
            .filter(|(_, m)| m.operator.as_ref().is_some_and(|o| o.agency_id == agency_id))
            .map(|(id, _)| *id)
            .collect();
        for id in leaving {
            if let Some(StaffMember { outbox, operator: Some(staff) }) = inner.staff.remove(&id) {
                outbox.close(code, detail);
                if inner.state != RoomState::Ended {
                    self.publish_locked(&mut inner, EventBody::StaffLeft { staff });
                }
            }
        }
    }

    /// The snapshot as `audience` sees it.
    pub fn snapshot(&self, audience: Audience) -> Snapshot {
        self.snapshot_locked(&self.lock(), audience)
    }

    fn snapshot_locked(&self, inner: &Inner, audience: Audience) -> Snapshot {
        let staff_view = audience == Audience::Staff;
        Snapshot {
            room: self.id.clone(),
            state: inner.state,
            title: inner.title.clone(),
            creator: self.creator.clone(),
            starts_at: inner.starts_at,
            billboard: inner.billboard.clone(),
            viewer_count: inner.viewers.len() as u64,
            seq: inner.seq,
            epoch: String::new(),
            recovered: None,
            staff_seq: staff_view.then_some(inner.staff_seq),
            staff: staff_view.then(|| inner.staff.values().filter_map(|m| m.operator.clone()).collect()),
        }
    }

    /// Announce a scheduled LIVE: title and start time, before it goes live.
    pub fn schedule(&self, title: String, starts_at: Millis) -> HubResult<Snapshot> {
        let mut inner = self.lock();
        if inner.state != RoomState::Scheduled {
            return Err(HubError::conflict("only a room that has not started can be scheduled"));
        }
        inner.title = title;
        inner.starts_at = Some(starts_at);
        Ok(self.snapshot_locked(&inner, Audience::Staff))
    }

    pub fn start(&self, title: Option<String>) -> HubResult<Snapshot> {
        let mut inner = self.lock();
        match inner.state {
            RoomState::Live => return Err(HubError::conflict("the room is already live")),
            RoomState::Ended => return Err(HubError::conflict("the room has ended; start a new room")),
            RoomState::Scheduled => {}
        }
        if let Some(title) = title {
            inner.title = title;
        }
        inner.state = RoomState::Live;
        let title = inner.title.clone();
        self.publish_locked(&mut inner, EventBody::RoomStarted { title });
        Ok(self.snapshot_locked(&inner, Audience::Staff))
    }

    /// End the LIVE: everyone receives `room_ended`, then the room has no members.
    pub fn end(&self, reason: EndReason) -> HubResult<Seq> {
        let mut inner = self.lock();
        if inner.state == RoomState::Ended {
            return Err(HubError::conflict("the room has already ended"));
        }
        inner.state = RoomState::Ended;
        inner.ended_at = Some(self.clock.now_ms());
        let seq = self.publish_locked(&mut inner, EventBody::RoomEnded { reason });
        inner.viewers.clear();
        inner.staff.clear();
        Ok(seq)
    }

    /// Post a comment; returns its id (= its seq).
    pub fn comment(&self, author: Actor, text: String, operator: Option<Operator>) -> HubResult<Seq> {
        let mut inner = self.lock();
        require_live(&inner)?;
        let comment_id = inner.seq + 1;
        let seq = self.publish_locked(&mut inner, EventBody::Comment { comment_id, author, text, operator });
        if inner.recent_comments.len() == RECENT_COMMENTS {
            inner.recent_comments.pop_front();
        }
        inner.recent_comments.push_back(comment_id);
        Ok(seq)
    }

    pub fn delete_comment(&self, comment_id: u64, by: Actor, operator: Option<Operator>) -> HubResult<Seq> {
        let mut inner = self.lock();
        require_live(&inner)?;
        let Some(at) = inner.recent_comments.iter().position(|id| *id == comment_id) else {
            return Err(HubError::not_found(format!("no recent comment {comment_id}")));
        };
        inner.recent_comments.remove(at);
        Ok(self.publish_locked(&mut inner, EventBody::CommentDeleted { comment_id, by, operator }))
    }

    pub fn deploy_billboard(&self, billboard: Billboard, by: Actor, operator: Option<Operator>) -> HubResult<Seq> {
        let mut inner = self.lock();
        require_live(&inner)?;
        inner.billboard = Some(billboard.clone());
        let body = EventBody::Billboard { action: BillboardAction::Deployed, billboard, by, operator };
        Ok(self.publish_locked(&mut inner, body))
    }

    pub fn remove_billboard(&self, by: Actor, operator: Option<Operator>) -> HubResult<Seq> {
        let mut inner = self.lock();
        require_live(&inner)?;
        let Some(billboard) = inner.billboard.take() else {
            return Err(HubError::not_found("no billboard is deployed"));
        };
        let body = EventBody::Billboard { action: BillboardAction::Removed, billboard, by, operator };
        Ok(self.publish_locked(&mut inner, body))
    }

    /// Publish an event from the backend (orders, activity) into a live room.
    pub fn publish_backend(&self, body: EventBody) -> HubResult<Seq> {
        let mut inner = self.lock();
        require_live(&inner)?;
        Ok(self.publish_locked(&mut inner, body))
    }

    /// Broadcast the viewer count if it changed since the last broadcast.
    pub fn announce_viewer_count(&self) {
        let mut inner = self.lock();
        let count = inner.viewers.len() as u64;
        if inner.state == RoomState::Ended || count == inner.announced_viewers {
            return;
        }
        inner.announced_viewers = count;
        self.publish_locked(&mut inner, EventBody::ViewerCount { count });
    }

    /// Assign the event its place in the room's sequence and offer it to the members who may see it.
    fn publish_locked(&self, inner: &mut Inner, body: EventBody) -> Seq {
        let staff_only = body.staff_only();
        let staff_seq = if staff_only {
            inner.staff_seq += 1;
            Some(inner.staff_seq)
        } else {
            None
        };
        if !staff_only && !body.ephemeral() {
            inner.seq += 1;
        }
        let seq = inner.seq;
        let mut outgoing =
            Outgoing::new(Event { room: self.id.clone(), seq, staff_seq, ts: self.clock.now_ms(), body });
        let mut tally = Tally::default();
        if !staff_only {
            outgoing.deliver(Audience::Viewers, inner.viewers.values(), &mut tally);
        }
        outgoing.deliver(Audience::Staff, inner.staff.values().map(|m| &m.outbox), &mut tally);
        let mut departed = Vec::new();
        for id in tally.slow.iter().chain(&tally.gone) {
            inner.viewers.remove(id);
            if let Some(StaffMember { operator: Some(staff), .. }) = inner.staff.remove(id) {
                departed.push(staff);
            }
        }
        self.metrics.deliveries.inc_by(tally.queued);
        self.metrics.dropped_events.inc_by(tally.dropped);
        self.metrics.slow_consumer_closes.inc_by(tally.slow.len() as u64);
        // Staff dropped on the way out still leave visibly for the creator and the other staff.
        if inner.state != RoomState::Ended {
            for staff in departed {
                self.publish_locked(inner, EventBody::StaffLeft { staff });
            }
        }
        seq
    }
}

fn require_live(inner: &Inner) -> HubResult<()> {
    match inner.state {
        RoomState::Live => Ok(()),
        _ => Err(HubError::not_live("the room is not live")),
    }
}
