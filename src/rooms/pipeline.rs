//! A room's delivery pipeline: the jobs its events and joins leave for delivery, in order.
//!
//! Applying an event only queues a job holding the event and an O(1) snapshot of the members;
//! the O(members) loop runs afterwards in a pump task with no room lock held, so joins,
//! commands and other rooms never wait on a fan-out. Members are split into partitions by
//! connection (one per core); each partition has its own pipeline and pump, so one room's
//! fan-out runs on several cores at once, while every connection — always in the same
//! partition — still gets its frames in order.

use super::fanout::{Audience, Lookahead, MemberMap, Outgoing, Tally};
use crate::delivery::frame::Frame;
use crate::delivery::outbox::{ConnId, Outbox};
use stagehand_protocol::server::Event;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tokio::sync::Notify;

/// Jobs a partition may hold before publishers wait for it ([`Pipeline::settled`]).
pub const HIGH_WATER: usize = 64;

/// How many partitions a room's members are split into: one per core the hub may use.
pub fn partitions() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The partition of a connection.
pub fn partition_of(id: ConnId) -> usize {
    (id % partitions() as u64) as usize
}

/// Something to send.
pub enum Job {
    /// An event to the members of one partition as they were when it was applied.
    Broadcast { event: Arc<Event>, viewers: Option<MemberMap>, staff: MemberMap },
    /// Frames for one connection, in order: a join's reply and the events it missed.
    Direct { outbox: Outbox, frames: Vec<Frame> },
}

/// Most jobs a pump takes at once.
pub const BATCH: usize = 64;

/// Members a pump offers frames to between two yields: a fan-out to a big room lets the thread's
/// other tasks (publishers, joins, reads) run every so often, so the events published meanwhile
/// queue up and go out together in the next batch.
pub const CHUNK: usize = 256;

/// Run jobs taken together, in order. Consecutive broadcasts to the same members (no one joined
/// or left between them: the snapshots are the same maps) go out as one vectored write per member
/// — under load many events share one system call, at light load a batch is one job. Yields to
/// the thread's other tasks every [`CHUNK`] members.
pub async fn run_batch(jobs: Vec<Job>) -> Tally {
    let mut tally = Tally::default();
    let mut walked = 0usize;
    let mut jobs = jobs.into_iter().peekable();
    while let Some(job) = jobs.next() {
        let (event, viewers, staff) = match job {
            Job::Direct { outbox, frames } => {
                frames.iter().for_each(|frame| tally.count(outbox.id, outbox.offer(frame)));
                continue;
            }
            Job::Broadcast { event, viewers, staff } => (event, viewers, staff),
        };
        let mut events = Events::new(&event);
        while let Some(Job::Broadcast { event, viewers: v, staff: s }) = jobs.peek() {
            let same_viewers = match (&viewers, v) {
                (Some(a), Some(b)) => a.ptr_eq(b),
                (None, None) => true,
                _ => false,
            };
            if !(same_viewers && staff.ptr_eq(s)) {
                break;
            }
            events.push(event);
            jobs.next();
        }
        let audiences = [(Audience::Viewers, viewers.as_ref()), (Audience::Staff, Some(&staff))];
        for (audience, members) in audiences {
            for member in Lookahead::new(members.into_iter().flat_map(|m| m.values())) {
                if member.is_retired() {
                    continue;
                }
                events.offer(audience, &member.outbox, &mut tally);
                walked += 1;
                if walked % CHUNK == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }
    }
    tally
}

/// Consecutive events going to the same members, with their frames for each (audience, wire
/// format) built once.
struct Events {
    outgoing: Vec<Outgoing>,
    frames: [[Option<Vec<Frame>>; 2]; 2],
}

impl Events {
    fn new(event: &Event) -> Self {
        Events { outgoing: vec![Outgoing::new(event)], frames: Default::default() }
    }

    fn push(&mut self, event: &Event) {
        self.outgoing.push(Outgoing::new(event));
    }

    /// Offer every event to one member: one frame alone, several with one vectored write.
    fn offer(&mut self, audience: Audience, outbox: &Outbox, tally: &mut Tally) {
        if let [outgoing] = self.outgoing.as_mut_slice() {
            if let Some(frame) = outgoing.frame(audience, outbox.wire) {
                tally.count(outbox.id, outbox.offer(frame));
            }
            return;
        }
        let slot = &mut self.frames[audience as usize][outbox.wire.index()];
        let outgoing = &mut self.outgoing;
        let frames = slot.get_or_insert_with(|| {
            outgoing.iter_mut().filter_map(|o| o.frame(audience, outbox.wire).cloned()).collect()
        });
        outbox.offer_all(frames, |delivery| tally.count(outbox.id, delivery));
    }
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// A pump is working on this queue.
    pumping: bool,
}

/// One partition's queue of jobs.
#[derive(Default)]
pub struct Pipeline {
    queue: Mutex<Queue>,
    /// Woken whenever the queue shrinks.
    progress: Notify,
}

impl Pipeline {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queue a job. Returns whether the caller must start a pump (none is running).
    pub fn push(&self, job: Job) -> bool {
        let mut queue = self.lock();
        queue.jobs.push_back(job);
        !std::mem::replace(&mut queue.pumping, true)
    }

    /// The jobs waiting now, up to `max`, for the pump; none ends the pump (and the next push
    /// starts another).
    pub fn next_batch(&self, max: usize) -> Vec<Job> {
        let mut queue = self.lock();
        let n = queue.jobs.len().min(max);
        let jobs: Vec<Job> = queue.jobs.drain(..n).collect();
        if jobs.is_empty() {
            queue.pumping = false;
        }
        drop(queue);
        self.progress.notify_waiters();
        jobs
    }

    /// Wait until at most [`HIGH_WATER`] jobs wait: publishers call it after publishing, so a
    /// publisher faster than the fan-out is slowed down instead of growing the queue.
    pub async fn settled(&self) {
        self.wait_until(|queue| queue.jobs.len() <= HIGH_WATER).await
    }

    /// Wait until every job queued so far was run.
    pub async fn idle(&self) {
        self.wait_until(|queue| queue.jobs.is_empty() && !queue.pumping).await
    }

    async fn wait_until(&self, done: impl Fn(&Queue) -> bool) {
        loop {
            let notified = self.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if done(&self.lock()) {
                return;
            }
            notified.await;
        }
    }
}
