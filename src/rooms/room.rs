//! One room on this node: its state (the fold of its events), its members, and the two ways in —
//! operations that publish events, and the broker's deliveries that apply them.
//!
//! Locks, always taken in this order and never held across `.await`:
//! 1. `ops`: held by a command from its validation to its publication, so what it checked still
//!    holds when its event takes a seq (every publisher of this room takes it);
//! 2. the broker's per-room lock, held while it sequences and delivers one event;
//! 3. `inner`: state and members, held while an event is applied and its delivery job queued,
//!    and while a member joins;
//! 4. a partition's pipeline lock, held to queue or take one job.
//!
//! None of them is held while frames are written: applying an event queues one job per
//! partition with an O(1) snapshot of that partition's members, and the partition's pump task
//! does the O(members) loop afterwards (`pipeline.rs`). A joiner's reply and missed events are a
//! job in the same pipeline, so every member receives events in `seq` order, and a joiner's
//! snapshot is exactly the state before its first event.

use super::fanout::{Audience, Member, MemberMap, Outgoing, Tally};
use super::features::RoomState;
use super::members::Members;
use super::pipeline::{self, partition_of, partitions, Job, Pipeline};
use crate::broker::{Broker, Gap, Position, Streams};
use crate::clock::Clock;
use crate::delivery::backlog::FRAME_OVERHEAD;
use crate::delivery::frame::{encode_frame, Class, Frame};
use crate::delivery::outbox::{ConnId, Outbox};
use crate::limits::Limiters;
use crate::metrics::Metrics;
use stagehand_protocol::client::Since;
use stagehand_protocol::server::{Control, Event, EventBody, Reply, ReplyResult, ServerMessage};
use stagehand_protocol::types::{Actor, Millis, Operator, RoomState as Phase, Snapshot};
use stagehand_protocol::CloseCode;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use tokio::runtime::Handle;

/// Most live events held for one joiner while its missed events are fetched; past it the joiner
/// gets `recovered: false` and the snapshot instead.
const RECOVERY_BUFFER: usize = 1024;

pub struct Room {
    pub id: String,
    /// The creator who owns the room; fixed at creation.
    pub creator: Actor,
    /// Per-room rate limits.
    pub limits: Limiters,
    /// When the room was created, on the hub's clock.
    pub created_at: Millis,
    /// What room features keep beside the state (secrets, meters; `features::Side`).
    pub side: super::features::Side,
    metrics: Arc<Metrics>,
    clock: Clock,
    broker: Arc<dyn Broker>,
    ops: Mutex<()>,
    inner: Mutex<Inner>,
    /// One delivery pipeline per partition of the members.
    pipelines: Box<[Pipeline]>,
    /// Where pump tasks run.
    runtime: Option<Handle>,
    me: Weak<Room>,
}

/// A joiner whose missed events are being fetched: out of the fan-out until they are sent, its
/// live events wait in `buffer`.
struct Recovering {
    member: Member,
    audience: Audience,
    buffer: Vec<Arc<Event>>,
    overflowed: bool,
}

struct Inner {
    state: RoomState,
    /// The position of the last event applied here.
    applied: Position,
    members: Members,
    recovering: HashMap<ConnId, Recovering>,
    /// Agency staff that left without a `staff_left` yet (dropped as slow, expelled): announced
    /// when their connection leaves the room. Bounded by the connections that were members.
    departed: HashMap<ConnId, Operator>,
    /// The viewer count last broadcast, so unchanged counts are not resent.
    announced_viewers: u64,
    /// Since when none of the creator's own connections is in the room.
    creator_gone_since: Option<Millis>,
}

/// Who left the room, for the `staff_left` announcement.
#[derive(Debug)]
pub enum Departure {
    Viewer,
    Creator,
    Staff(Operator),
}

impl Room {
    pub fn new(
        id: String,
        creator: Actor,
        title: String,
        limits: Limiters,
        metrics: Arc<Metrics>,
        clock: Clock,
        broker: Arc<dyn Broker>,
    ) -> Arc<Self> {
        let applied = broker.position(&id);
        let created_at = clock.now_ms();
        Arc::new_cyclic(|me| Room {
            id,
            creator,
            limits,
            created_at,
            side: Default::default(),
            metrics,
            clock,
            broker,
            ops: Mutex::new(()),
            inner: Mutex::new(Inner {
                state: RoomState::new(title),
                applied,
                members: Members::default(),
                recovering: HashMap::new(),
                departed: HashMap::new(),
                announced_viewers: 0,
                creator_gone_since: Some(created_at),
            }),
            pipelines: (0..partitions()).map(|_| Pipeline::default()).collect(),
            runtime: Handle::try_current().ok(),
            me: me.clone(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated in a way that matters
        // more than losing the room, so a poisoned lock is taken over rather than spread.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Begin an operation: hold the room's operation lock until the returned guard drops.
    pub fn op(&self) -> Op<'_> {
        Op { room: self, _guard: self.ops.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) }
    }

    /// A copy of the state now.
    pub fn state(&self) -> RoomState {
        self.lock().state.clone()
    }

    /// The lifecycle slice of the state now (cheaper than [`Room::state`]).
    pub fn lifecycle(&self) -> super::features::lifecycle::State {
        self.lock().state.lifecycle.clone()
    }

    pub fn phase(&self) -> Phase {
        self.lock().state.lifecycle.phase
    }

    pub fn ended_at(&self) -> Option<Millis> {
        self.lock().state.lifecycle.ended_at
    }

    /// The position of the last event applied here.
    pub fn position(&self) -> Position {
        self.lock().applied.clone()
    }

    pub fn viewer_count(&self) -> usize {
        self.lock().members.viewer_count()
    }

    /// Since when the creator has had no connection in the room (`None`: present now).
    pub fn creator_gone_since(&self) -> Option<Millis> {
        self.lock().creator_gone_since
    }

    /// Apply one published event and offer it to the members: the broker's local delivery.
    pub fn apply(&self, event: Arc<Event>) {
        let mut inner = self.lock();
        inner.state.apply(&event);
        inner.applied.seq = event.seq;
        if let Some(staff_seq) = event.staff_seq {
            inner.applied.staff_seq = staff_seq;
        }
        let staff_only = event.body.staff_only();
        for pending in inner.recovering.values_mut() {
            if staff_only && pending.audience == Audience::Viewers {
                continue;
            }
            if pending.buffer.len() < RECOVERY_BUFFER {
                pending.buffer.push(event.clone());
            } else {
                pending.overflowed = true;
            }
        }
        let ended = matches!(event.body, EventBody::RoomEnded { .. });
        self.fan_out(&inner, event);
        if ended {
            // The room has no members once it ended.
            inner.members.clear();
            inner.recovering.clear();
            inner.departed.clear();
        }
    }

    /// Queue `event` for every member who may see it now, one job per partition.
    fn fan_out(&self, inner: &Inner, event: Arc<Event>) {
        let staff_only = event.body.staff_only();
        for (p, part) in inner.members.parts() {
            if part.staff.is_empty() && (staff_only || part.viewers.is_empty()) {
                continue;
            }
            let viewers = (!staff_only).then(|| part.viewers.clone());
            self.queue_job(p, Job::Broadcast { event: event.clone(), viewers, staff: part.staff.clone() });
        }
    }

    fn queue_job(&self, partition: usize, job: Job) {
        if !self.pipelines[partition].push(job) {
            return;
        }
        let Some(room) = self.me.upgrade() else { return };
        match &self.runtime {
            Some(runtime) => drop(runtime.spawn(room.pump(partition))),
            // Outside a runtime (benchmarks): a thread, never the caller, which holds the lock.
            None => drop(std::thread::spawn(move || futures::executor::block_on(room.pump(partition)))),
        }
    }

    /// Run a partition's jobs until none is left. Members found gone or too slow leave.
    async fn pump(self: Arc<Self>, partition: usize) {
        loop {
            let jobs = self.pipelines[partition].next_batch(pipeline::BATCH);
            if jobs.is_empty() {
                return;
            }
            let tally = pipeline::run_batch(jobs).await;
            self.settle(tally);
            tokio::task::consume_budget().await;
        }
    }

    fn settle(&self, tally: Tally) {
        self.metrics.deliveries.inc_by(tally.queued);
        self.metrics.coalesced_events.inc_by(tally.coalesced);
        self.metrics.dropped_events.inc_by(tally.dropped);
        self.metrics.slow_consumer_closes.inc_by(tally.slow.len() as u64);
        if tally.slow.is_empty() && tally.gone.is_empty() {
            return;
        }
        let mut inner = self.lock();
        for id in tally.slow.iter().chain(&tally.gone) {
            if let Some((_, member)) = inner.members.remove(*id) {
                if let Some(staff) = &member.operator {
                    inner.departed.insert(*id, staff.clone());
                }
            }
        }
        // Only a member leaving can change whether the creator is present.
        Self::note_creator(&mut inner, self.clock.now_ms());
    }

    /// Wait until everything queued for delivery so far was sent (tests and benchmarks).
    pub async fn idle(&self) {
        for pipeline in self.pipelines.iter() {
            pipeline.idle().await;
        }
    }

    /// Wait until this room's deliveries are not far behind its publications: publishers call
    /// it after publishing, so one faster than the fan-out is slowed down, not queued without
    /// bound.
    pub async fn settled(&self) {
        for pipeline in self.pipelines.iter() {
            pipeline.settled().await;
        }
    }

    /// Join: add the member, queue the snapshot reply (`request_id`), and with `since` every event
    /// the client missed before any live one. Returns whether this connection was not a member
    /// yet.
    pub fn join(
        &self,
        outbox: &Outbox,
        audience: Audience,
        operator: Option<Operator>,
        since: Option<&Since>,
        request_id: u64,
    ) -> bool {
        let id = outbox.id;
        let member = Member::new(outbox.clone(), operator);
        let Some(since) = since else {
            let mut inner = self.lock();
            // Both under the lock: the reply is queued before any event the member is sent.
            let first = Self::insert(&mut inner, id, member, audience);
            let reply = self.reply_snapshot(&inner, outbox, audience, request_id, None);
            self.queue_job(
                partition_of(id),
                Job::Direct { outbox: outbox.clone(), frames: reply.into_iter().collect() },
            );
            Self::note_creator(&mut inner, self.clock.now_ms());
            return first;
        };
        // 1. Take the member out of the fan-out while its live events wait in a buffer, so none
        //    is missed, sent twice or sent before the reply…
        let first = {
            let mut inner = self.lock();
            let was_member = inner.members.remove(id).is_some();
            inner.departed.remove(&id);
            inner.recovering.insert(id, Recovering { member, audience, buffer: Vec::new(), overflowed: false });
            !was_member
        };
        // 2. …fetch what was missed without holding the room (the broker takes its own lock)…
        let streams = match audience {
            Audience::Staff => Streams::RoomAndStaff,
            Audience::Viewers => Streams::Room,
        };
        let history = self.broker.history(&self.id, since, streams, self.clock.now_ms());
        // 3. …then make it a member again and send the snapshot, the missed events, and what
        //    arrived meanwhile, in order, before any later event can reach it.
        let mut inner = self.lock();
        let (member, history) = match inner.recovering.remove(&id) {
            Some(p) if !p.overflowed => (p.member, history.map(|events| (events, p.buffer))),
            Some(p) => (p.member, Err(Gap::TooMany)),
            // The room ended meanwhile (which clears every member): nothing to recover into.
            None => (Member::new(outbox.clone(), None), Err(Gap::Evicted)),
        };
        Self::insert(&mut inner, id, member, audience);
        let replay = history.and_then(|(missed, buffered)| {
            let frames: Vec<Frame> = replay_order(&inner.applied, missed, buffered)
                .iter()
                .filter_map(|event| {
                    Outgoing::replay(event).frame(audience, outbox.wire).map(|f| f.with_class(Class::Reply))
                })
                .collect();
            // The replay is not droppable: all of it is queued with the reply, within its cap.
            let bytes: usize = frames.iter().map(|f| f.len() + FRAME_OVERHEAD).sum();
            match bytes <= outbox.replay_cap() {
                true => Ok(frames),
                false => Err(Gap::TooMany),
            }
        });
        let frames = match replay {
            Ok(replay) => {
                self.metrics.recovered_joins.inc();
                self.reply_snapshot(&inner, outbox, audience, request_id, Some(true))
                    .into_iter()
                    .chain(replay)
                    .collect()
            }
            Err(gap) => {
                tracing::debug!(room = %self.id, conn = id, %gap, "join could not recover");
                self.metrics.unrecovered_joins.inc();
                self.reply_snapshot(&inner, outbox, audience, request_id, Some(false)).into_iter().collect()
            }
        };
        self.queue_job(partition_of(id), Job::Direct { outbox: outbox.clone(), frames });
        Self::note_creator(&mut inner, self.clock.now_ms());
        first
    }

    fn insert(inner: &mut Inner, id: ConnId, member: Member, audience: Audience) -> bool {
        inner.departed.remove(&id);
        inner.members.insert(id, member, audience)
    }

    /// The reply to a join: the snapshot as `audience` sees it.
    fn reply_snapshot(
        &self,
        inner: &Inner,
        outbox: &Outbox,
        audience: Audience,
        id: u64,
        recovered: Option<bool>,
    ) -> Option<Frame> {
        let snapshot = Snapshot { recovered, ..self.snapshot_locked(inner, audience) };
        let reply = ServerMessage::Control(Control::Reply(Reply::ok(id, Some(ReplyResult::Snapshot(snapshot)))));
        encode_frame(outbox.wire, &reply, Class::Reply)
    }

    /// Remove a member. Returns who left, or `None` if it was not a member.
    pub fn leave(&self, id: ConnId) -> Option<Departure> {
        let mut inner = self.lock();
        inner.recovering.remove(&id);
        let departure = match inner.members.remove(id) {
            Some((Audience::Viewers, _)) => Some(Departure::Viewer),
            Some((Audience::Staff, member)) => {
                Some(member.operator.clone().map_or(Departure::Creator, Departure::Staff))
            }
            None => inner.departed.remove(&id).map(Departure::Staff),
        };
        Self::note_creator(&mut inner, self.clock.now_ms());
        departure
    }

    pub fn is_member(&self, id: ConnId) -> bool {
        self.lock().members.contains(id)
    }

    /// The agencies that have staff in the room now.
    pub fn staff_agencies(&self) -> Vec<String> {
        let inner = self.lock();
        let mut agencies: Vec<String> =
            inner.members.staff().filter_map(|(_, m)| m.operator.as_ref().map(|o| o.agency_id.clone())).collect();
        agencies.sort();
        agencies.dedup();
        agencies
    }

    /// Close every connection of `agency_id`'s staff in this room (their access ended). Each is
    /// announced as gone when its connection leaves the room.
    pub fn expel_agency(&self, agency_id: &str, code: CloseCode, detail: &str) {
        let mut inner = self.lock();
        let leaving: Vec<ConnId> = inner
            .members
            .staff()
            .filter(|(_, m)| m.operator.as_ref().is_some_and(|o| o.agency_id == agency_id))
            .map(|(id, _)| *id)
            .collect();
        for id in leaving {
            if let Some((_, member)) = inner.members.remove(id) {
                member.outbox.close(code, detail);
                if let Some(staff) = &member.operator {
                    inner.departed.insert(id, staff.clone());
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
        let state = &inner.state;
        Snapshot {
            room: self.id.clone(),
            state: state.lifecycle.phase,
            title: state.lifecycle.title.clone(),
            creator: self.creator.clone(),
            starts_at: state.lifecycle.starts_at,
            billboard: state.billboard.clone(),
            viewer_count: inner.members.viewer_count() as u64,
            seq: inner.applied.seq,
            epoch: inner.applied.epoch.to_string(),
            recovered: None,
            staff_seq: staff_view.then_some(inner.applied.staff_seq),
            staff: staff_view.then(|| state.presence.staff.clone()),
            bag: (state.bag.version > 0).then(|| state.bag.clone()),
            flash_sale: state.flash_sale.clone(),
            giveaway: state.giveaway.open.as_ref().map(|open| open.info.clone()),
            likes: self.side.likes(),
            comment_settings: (state.moderation.settings != Default::default()).then_some(state.moderation.settings),
            held: (staff_view && !state.moderation.held.is_empty())
                .then(|| state.moderation.held.iter().cloned().collect()),
            campaign: state.campaign.clone(),
        }
    }

    /// Broadcast the viewer count if it changed since the last broadcast.
    pub fn announce_viewer_count(&self) {
        let mut inner = self.lock();
        let count = inner.members.viewer_count() as u64;
        if inner.state.lifecycle.phase == Phase::Ended || count == inner.announced_viewers {
            return;
        }
        inner.announced_viewers = count;
        self.announce_locked(&mut inner, EventBody::ViewerCount { count });
    }

    /// Broadcast an ephemeral event (a counter, a tick): it takes no seq, is not kept in history
    /// and does not go through the broker; a slow connection may miss it, and a newer one of the
    /// same kind replaces one still queued (`EventBody::ephemeral`, `droppable`, `coalesces`).
    pub fn announce(&self, body: EventBody) {
        debug_assert!(body.ephemeral(), "`{}` is not an ephemeral event", body.name());
        let mut inner = self.lock();
        if inner.state.lifecycle.phase != Phase::Ended {
            self.announce_locked(&mut inner, body);
        }
    }

    /// Broadcast an ephemeral staff-only event to the creator's connections and to the agency staff
    /// `to` accepts (it is asked with each member's operator; `None` is the creator): the dashboard
    /// and the full activity feed go only to staff whose grant has `analytics`.
    pub fn announce_to(&self, body: EventBody, mut to: impl FnMut(Option<&Operator>) -> bool) {
        debug_assert!(body.ephemeral() && body.staff_only(), "`{}` is not an ephemeral staff event", body.name());
        let inner = self.lock();
        if inner.state.lifecycle.phase == Phase::Ended {
            return;
        }
        let event = Arc::new(Event {
            room: self.id.clone(),
            seq: inner.applied.seq,
            staff_seq: None,
            ts: self.clock.now_ms(),
            body,
        });
        for (p, part) in inner.members.parts() {
            let staff: MemberMap =
                part.staff.iter().filter(|(_, m)| to(m.operator.as_ref())).map(|(id, m)| (*id, m.clone())).collect();
            if !staff.is_empty() {
                self.queue_job(p, Job::Broadcast { event: event.clone(), viewers: None, staff });
            }
        }
    }

    fn announce_locked(&self, inner: &mut Inner, body: EventBody) {
        let event =
            Event { room: self.id.clone(), seq: inner.applied.seq, staff_seq: None, ts: self.clock.now_ms(), body };
        // A counter the state shows (a flash sale's stock) is folded in too, so joiners see it.
        inner.state.apply(&event);
        self.fan_out(inner, Arc::new(event));
    }

    /// Track whether the creator has a connection in the room, for reclaiming abandoned rooms.
    fn note_creator(inner: &mut Inner, now: Millis) {
        let present = inner.members.staff().any(|(_, m)| m.operator.is_none());
        match (present, inner.creator_gone_since) {
            (true, _) => inner.creator_gone_since = None,
            (false, None) => inner.creator_gone_since = Some(now),
            (false, Some(_)) => {}
        }
    }
}

/// The events a recovering joiner is sent, in publication order: the missed ones this node has
/// applied (a remote broker can be ahead of the node; those come live later), then the ones that
/// arrived while the history was fetched, none twice.
fn replay_order(applied: &Position, missed: Vec<Arc<Event>>, buffered: Vec<Arc<Event>>) -> Vec<Arc<Event>> {
    let is_applied = |e: &Event| match e.staff_seq {
        Some(staff_seq) => staff_seq <= applied.staff_seq,
        None => e.seq <= applied.seq,
    };
    let key = |e: &Event| (e.seq, e.staff_seq);
    let sent: HashSet<_> = missed.iter().map(|e| key(e)).collect();
    let late = buffered.into_iter().filter(|e| !sent.contains(&key(e)));
    missed.into_iter().filter(|e| is_applied(e)).chain(late).collect()
}

/// An operation in progress on a room: reads of its state and publications happen under the
/// room's operation lock, so a command's checks still hold when its event is sequenced.
pub struct Op<'r> {
    room: &'r Room,
    _guard: MutexGuard<'r, ()>,
}

impl Op<'_> {
    /// Read the room's state.
    pub fn read<T>(&self, f: impl FnOnce(&RoomState) -> T) -> T {
        f(&self.room.lock().state)
    }

    /// The position of the last event applied.
    pub fn position(&self) -> Position {
        self.room.position()
    }

    /// Publish an event through the broker; it comes back through [`Room::apply`] before this
    /// returns (memory broker) or shortly after (a remote one).
    pub fn publish(&self, body: EventBody) -> Arc<Event> {
        self.room.broker.publish(&self.room.id, body, self.room.clock.now_ms())
    }
}
