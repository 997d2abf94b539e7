//! A connection's backlog: the frames its socket could not take yet, bounded in bytes.
//!
//! The bound applies to room events. Under pressure they give way in this order: a counter
//! replaces its own queued predecessor (coalescing); droppable frames are refused, then shed from
//! the queue to make room for a state frame; a state frame that still does not fit is refused,
//! and the connection is closed as slow. The connection's own replies (and a recovering joiner's
//! replay, which is checked against its own cap before it is queued) are not counted against it:
//! they always fit, and the reader stops reading requests while they wait (see
//! [`super::outbox::Outbox::wait_for_room`]).

use super::frame::{Class, Frame};
use std::collections::VecDeque;
use std::io::IoSlice;

/// Bytes charged per queued frame on top of its length, for the queue slot and the shared
/// buffer's header: so a flood of tiny frames is bounded like a few large ones.
pub const FRAME_OVERHEAD: usize = 64;

/// What became of a frame offered to the backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Queued; `shed` droppable frames were removed to make room.
    Queued { shed: usize },
    /// It replaced a queued frame with the same coalescing key.
    Coalesced,
    /// No room, and it may be dropped.
    Dropped,
    /// No room for a frame that must not be lost.
    Full,
}

#[derive(Debug, Default)]
pub struct Backlog {
    frames: VecDeque<Frame>,
    /// Bytes of the front frame already written to the socket.
    written: usize,
    /// Bytes charged: unwritten frame bytes plus [`FRAME_OVERHEAD`] per frame.
    charged: usize,
    /// The part of `charged` that is room events (whole frames plus overhead): what the bound
    /// limits.
    events: usize,
}

fn cost(frame: &Frame) -> usize {
    frame.len() + FRAME_OVERHEAD
}

impl Backlog {
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Bytes waiting, replies included.
    pub fn charged(&self) -> usize {
        self.charged
    }

    /// Bytes of room events waiting: what the bound limits.
    pub fn events(&self) -> usize {
        self.events
    }

    fn add(&mut self, frame: &Frame) {
        self.charged += cost(frame);
        if frame.class != Class::Reply {
            self.events += cost(frame);
        }
    }

    /// Account for a whole frame leaving (`unwritten` of its bytes had not gone out).
    fn remove(&mut self, frame: &Frame, unwritten: usize) {
        self.charged -= unwritten + FRAME_OVERHEAD;
        if frame.class != Class::Reply {
            self.events -= cost(frame);
        }
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Queue `frame` within `limit` bytes.
    pub fn push(&mut self, frame: Frame, limit: usize) -> Admit {
        if let Class::Coalesce(key) = frame.class {
            if let Some(i) = self.unstarted().find(|&i| self.frames[i].class == Class::Coalesce(key)) {
                let new = frame.clone();
                let old = std::mem::replace(&mut self.frames[i], frame);
                self.remove(&old, old.len());
                self.add(&new);
                return Admit::Coalesced;
            }
        }
        let needed = self.events + cost(&frame);
        let mut shed = 0;
        if frame.class != Class::Reply && needed > limit {
            if frame.class.sheddable() {
                return Admit::Dropped;
            }
            shed = self.shed(needed - limit);
            if self.events + cost(&frame) > limit {
                return Admit::Full;
            }
        }
        self.add(&frame);
        self.frames.push_back(frame);
        Admit::Queued { shed }
    }

    /// Indexes of frames none of whose bytes went out yet.
    fn unstarted(&self) -> impl Iterator<Item = usize> {
        let first = usize::from(self.written > 0);
        first..self.frames.len()
    }

    /// Remove unstarted droppable frames, oldest first, until `needed` bytes are freed or none
    /// is left. Returns how many were removed.
    fn shed(&mut self, needed: usize) -> usize {
        let first = usize::from(self.written > 0);
        let (mut freed, mut shed, mut index) = (0, 0, 0);
        self.frames.retain(|frame| {
            let keep = index < first || freed >= needed || !frame.class.sheddable();
            index += 1;
            if !keep {
                freed += cost(frame);
                shed += 1;
            }
            keep
        });
        // Shed frames are all events.
        self.charged -= freed;
        self.events -= freed;
        shed
    }

    /// Up to `out.len()` slices of unwritten bytes, in order. Returns how many were filled.
    pub fn slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (i, frame) in self.frames.iter().take(out.len()).enumerate() {
            let start = if i == 0 { self.written } else { 0 };
            out[i] = IoSlice::new(&frame.bytes[start..]);
            n += 1;
        }
        n
    }

    /// `n` bytes went out from the front.
    pub fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.frames.front() else { break };
            let left = front.len() - self.written;
            if n < left {
                self.written += n;
                self.charged -= n;
                return;
            }
            n -= left;
            let front = self.frames.pop_front().expect("a front frame");
            self.remove(&front, left);
            self.written = 0;
        }
    }

    /// Drop everything not started (a slow consumer's backlog, before its close frame): the
    /// frame partly written must still be finished, or the close frame would land inside it.
    /// Returns how many frames were discarded.
    pub fn discard_unstarted(&mut self) -> usize {
        let keep = usize::from(self.written > 0);
        let discarded: Vec<Frame> = self.frames.drain(keep..).collect();
        for frame in &discarded {
            self.remove(frame, frame.len());
        }
        discarded.len()
    }

    /// Take every queued frame (a connection without a socket, read directly by in-process
    /// tests and benchmarks).
    pub fn take(&mut self) -> Vec<Frame> {
        self.charged = 0;
        self.events = 0;
        self.written = 0;
        self.frames.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::frame::Opcode;

    fn frame(class: Class, len: usize) -> Frame {
        Frame::new(Opcode::Binary, &vec![0; len], class)
    }

    #[test]
    fn a_newer_counter_replaces_the_queued_one() {
        let mut backlog = Backlog::default();
        backlog.push(frame(Class::State, 10), 10_000);
        backlog.push(frame(Class::Coalesce(1), 10), 10_000);
        backlog.push(frame(Class::Coalesce(2), 10), 10_000);
        assert_eq!(backlog.push(frame(Class::Coalesce(1), 20), 10_000), Admit::Coalesced);
        assert_eq!(backlog.len(), 3);
        assert_eq!(backlog.frames[1].payload().len(), 20);
    }

    #[test]
    fn droppable_frames_give_way_to_state_and_state_never_to_anything() {
        let limit = 4 * (100 + 2 + FRAME_OVERHEAD);
        let mut backlog = Backlog::default();
        assert_eq!(backlog.push(frame(Class::State, 100), limit), Admit::Queued { shed: 0 });
        assert_eq!(backlog.push(frame(Class::Droppable, 100), limit), Admit::Queued { shed: 0 });
        assert_eq!(backlog.push(frame(Class::Coalesce(9), 100), limit), Admit::Queued { shed: 0 });
        assert_eq!(backlog.push(frame(Class::State, 100), limit), Admit::Queued { shed: 0 });
        assert_eq!(backlog.push(frame(Class::Droppable, 100), limit), Admit::Dropped);
        // A state frame sheds the oldest droppable one…
        assert_eq!(backlog.push(frame(Class::State, 100), limit), Admit::Queued { shed: 1 });
        assert_eq!(backlog.push(frame(Class::State, 100), limit), Admit::Queued { shed: 1 });
        // …and once only state is left, it does not fit.
        assert_eq!(backlog.push(frame(Class::State, 100), limit), Admit::Full);
        assert!(backlog.frames.iter().all(|f| f.class == Class::State));
        // Replies always fit, and do not count against the bound.
        assert_eq!(backlog.push(frame(Class::Reply, 100), limit), Admit::Queued { shed: 0 });
        assert!(backlog.charged() > limit);
        assert!(backlog.events() <= limit);
        backlog.advance(backlog.charged() - backlog.len() * FRAME_OVERHEAD);
        assert_eq!((backlog.charged(), backlog.events()), (0, 0));
    }

    #[test]
    fn a_partly_written_frame_is_neither_shed_nor_coalesced_nor_discarded() {
        let mut backlog = Backlog::default();
        backlog.push(frame(Class::Coalesce(1), 100), 10_000);
        backlog.push(frame(Class::Droppable, 100), 10_000);
        backlog.advance(10);
        assert_eq!(backlog.push(frame(Class::Coalesce(1), 50), 10_000), Admit::Queued { shed: 0 });
        assert_eq!(backlog.discard_unstarted(), 2);
        assert_eq!(backlog.len(), 1);
        assert_eq!(backlog.charged(), 102 - 10 + FRAME_OVERHEAD);
        backlog.advance(92);
        assert!(backlog.is_empty());
        assert_eq!(backlog.charged(), 0);
    }

    #[test]
    fn slices_resume_mid_frame() {
        let mut backlog = Backlog::default();
        backlog.push(frame(Class::State, 3), 10_000);
        backlog.push(frame(Class::State, 3), 10_000);
        backlog.advance(2);
        let mut out = [IoSlice::new(&[]); 4];
        assert_eq!(backlog.slices(&mut out), 2);
        assert_eq!(out[0].len(), 3);
        assert_eq!(out[1].len(), 5);
    }
}
