//! The sending end of one connection: what rooms, inboxes and the session hold to reach it.
//!
//! A frame offered to a connection whose backlog is empty is written to the socket at once, on
//! the offering thread, with one non-blocking write of the shared frame bytes — no queue, no
//! task wake-up. Only what the socket would not take waits in the connection's [`Backlog`]
//! (bounded in bytes), and only then does a flush task exist, woken when the socket is writable.
//! Offering never waits: a full backlog sheds droppable frames or closes the connection as a
//! slow consumer, so one slow client never holds up a broadcast.
//!
//! Every write to a connection happens under its write lock, so frames never interleave and
//! arrive in the order they were offered.

use super::backlog::{Admit, Backlog};
use super::frame::{Class, Frame};
use super::prefetch::prefetch;
use futures::task::AtomicWaker;
use stagehand_protocol::{CloseCode, Wire};
use std::future::poll_fn;
use std::io::{ErrorKind, IoSlice};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::Poll;
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::Notify;

/// A connection's id, unique for the life of the hub process.
pub type ConnId = u64;

/// Most slices gathered into one vectored write when flushing a backlog.
const MAX_SLICES: usize = 64;

/// What happened to one frame offered to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Written to the socket, or queued behind what is already waiting; `shed` droppable frames
    /// were removed from the backlog to make room.
    Queued { shed: usize },
    /// It replaced an older queued frame of the same counter.
    Coalesced,
    /// The backlog was full and the frame was droppable.
    Dropped,
    /// The backlog was full and the frame was not droppable: the connection is being closed.
    SlowConsumer,
    /// The connection is already gone (or closing).
    Gone,
}

/// Where a connection's bytes go.
enum Sink {
    Socket(TcpStream),
    /// No socket: frames stay in the backlog until [`Outbox::take_frames`] (in-process tests and
    /// benchmarks of the engine).
    Memory,
}

struct WriteState {
    backlog: Backlog,
    /// A flush task is waiting for the socket.
    flushing: bool,
    /// The close frame is queued: nothing more is accepted.
    closing: bool,
    /// The socket failed or the connection was torn down: nothing more is written.
    dead: bool,
}

struct Conn {
    sink: Sink,
    /// Bytes the backlog may hold (`queue_max_bytes`).
    limit: usize,
    state: Mutex<WriteState>,
    runtime: Option<Handle>,
    /// Set once the connection should end; the reader waits for it.
    killed: AtomicBool,
    reader: AtomicWaker,
    /// How the connection ends, set once by whoever closes first: the close frame to send, or
    /// `None` when no close frame can or need be sent.
    reason: OnceLock<Option<(CloseCode, String)>>,
    /// Woken whenever the backlog shrinks or the connection dies.
    progress: Notify,
    /// Heartbeat checks since anything last arrived from the client.
    silent_checks: AtomicU32,
}

/// The explanation sent with 1001: what a client should do about it.
pub const GOING_AWAY_TEXT: &str = "hub restarting; reconnect with jittered exponential back-off, rejoin with since";

/// A cheap handle (one reference count) to send frames to one connection.
#[derive(Clone)]
pub struct Outbox {
    pub id: ConnId,
    pub wire: Wire,
    conn: Arc<Conn>,
}

impl Outbox {
    /// A connection writing to `socket`, its backlog bounded by `limit` bytes. Must be called
    /// within the tokio runtime that will flush it.
    pub fn new(id: ConnId, wire: Wire, socket: TcpStream, limit: usize) -> Self {
        Self::with_sink(id, wire, Sink::Socket(socket), limit)
    }

    /// A connection without a socket: frames wait until [`Outbox::take_frames`].
    pub fn socketless(id: ConnId, wire: Wire, limit: usize) -> Self {
        Self::with_sink(id, wire, Sink::Memory, limit)
    }

    fn with_sink(id: ConnId, wire: Wire, sink: Sink, limit: usize) -> Self {
        let conn = Conn {
            sink,
            limit,
            state: Mutex::new(WriteState { backlog: Backlog::default(), flushing: false, closing: false, dead: false }),
            runtime: Handle::try_current().ok(),
            killed: AtomicBool::new(false),
            reader: AtomicWaker::new(),
            reason: OnceLock::new(),
            progress: Notify::new(),
            silent_checks: AtomicU32::new(0),
        };
        Outbox { id, wire, conn: Arc::new(conn) }
    }

    fn state(&self) -> MutexGuard<'_, WriteState> {
        self.conn.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The socket, for the connection's reader.
    pub fn socket(&self) -> Option<&TcpStream> {
        match &self.conn.sink {
            Sink::Socket(socket) => Some(socket),
            Sink::Memory => None,
        }
    }

    /// Start fetching the state [`Outbox::offer`] reads first (its lock and the socket), so that
    /// a fan-out offering to many connections in turn does not wait for each one's cache miss.
    pub fn prefetch(&self) {
        prefetch(&self.conn.state);
        prefetch(&self.conn.sink);
    }

    /// Send `frame` without waiting: write it now if nothing is waiting before it, else queue it
    /// within the byte bound.
    pub fn offer(&self, frame: &Frame) -> Delivery {
        let mut state = self.state();
        if state.closing || state.dead {
            return Delivery::Gone;
        }
        self.enqueue(&mut state, frame, true)
    }

    /// Queue `frame`, writing it at once when `write_now` and nothing waits before it.
    fn enqueue(&self, state: &mut WriteState, frame: &Frame, write_now: bool) -> Delivery {
        let mut written = 0;
        let idle = write_now && state.backlog.is_empty() && !state.flushing;
        if let (Sink::Socket(socket), true) = (&self.conn.sink, idle) {
            match send_now(socket, &[IoSlice::new(&frame.bytes)]) {
                Ok(n) if n == frame.len() => return Delivery::Queued { shed: 0 },
                Ok(0) => {}
                Ok(n) => written = n,
                Err(error) if error.kind() == ErrorKind::WouldBlock => {}
                Err(_) => {
                    self.fail(state);
                    return Delivery::Gone;
                }
            }
        }
        if written > 0 {
            self.queue_rest(state, frame, written);
            return Delivery::Queued { shed: 0 };
        }
        let delivery = match state.backlog.push(frame.clone(), self.conn.limit) {
            Admit::Queued { shed } => Delivery::Queued { shed },
            Admit::Coalesced => Delivery::Coalesced,
            Admit::Dropped => Delivery::Dropped,
            Admit::Full => {
                drop_state_and_close(self, state, CloseCode::SLOW_CONSUMER, "outgoing backlog full");
                return Delivery::SlowConsumer;
            }
        };
        self.ensure_flushing(state);
        delivery
    }

    /// Queue what is left of a frame whose first `written` bytes went out: it must finish,
    /// whatever the bound says, or the next frame would land inside it. The backlog is empty
    /// (only then is a frame written directly), so it is the front.
    fn queue_rest(&self, state: &mut WriteState, frame: &Frame, written: usize) {
        state.backlog.push(frame.with_class(Class::Reply), usize::MAX);
        state.backlog.advance(written);
        self.ensure_flushing(state);
    }

    /// Send several frames, in order, with one vectored write when nothing waits before them —
    /// the frames of events that queued up while the room's fan-out was busy. `each` is told what
    /// became of every frame, in order.
    pub fn offer_all(&self, frames: &[Frame], mut each: impl FnMut(Delivery)) {
        let mut state = self.state();
        if state.closing || state.dead {
            return frames.iter().for_each(|_| each(Delivery::Gone));
        }
        let mut written = 0;
        if let (Sink::Socket(socket), true) = (&self.conn.sink, state.backlog.is_empty() && !state.flushing) {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let n = frames.len().min(MAX_SLICES);
            for (slice, frame) in slices.iter_mut().zip(frames) {
                *slice = IoSlice::new(&frame.bytes);
            }
            match send_now(socket, &slices[..n]) {
                Ok(n) => written = n,
                Err(error) if error.kind() == ErrorKind::WouldBlock => {}
                Err(_) => {
                    self.fail(&mut state);
                    return frames.iter().for_each(|_| each(Delivery::Gone));
                }
            }
        }
        let mut rest = frames.iter();
        for frame in rest.by_ref() {
            if written >= frame.len() {
                written -= frame.len();
                each(Delivery::Queued { shed: 0 });
                continue;
            }
            let delivery = if written > 0 {
                self.queue_rest(&mut state, frame, written);
                written = 0;
                Delivery::Queued { shed: 0 }
            } else {
                self.enqueue(&mut state, frame, false)
            };
            each(delivery);
            if matches!(delivery, Delivery::SlowConsumer | Delivery::Gone) {
                break;
            }
        }
        rest.for_each(|_| each(Delivery::Gone));
        self.ensure_flushing(&mut state);
    }

    /// Queue the connection's own reply or control frame: never dropped, never a reason to close.
    pub fn reply(&self, frame: &Frame) -> bool {
        debug_assert_eq!(frame.class, Class::Reply);
        !matches!(self.offer(frame), Delivery::Gone)
    }

    fn ensure_flushing(&self, state: &mut WriteState) {
        if state.flushing || state.backlog.is_empty() {
            return;
        }
        let (Sink::Socket(_), Some(runtime)) = (&self.conn.sink, &self.conn.runtime) else { return };
        state.flushing = true;
        runtime.spawn(flush(self.clone()));
    }

    /// Ask the connection to close with `code`: its close frame follows what is queued (a slow
    /// consumer's unstarted backlog is discarded first, so the close frame follows only what is
    /// already on its way). The first reason given wins.
    pub fn close(&self, code: CloseCode, detail: impl Into<String>) {
        let detail = detail.into();
        if self.conn.reason.set(Some((code, detail.clone()))).is_err() {
            return self.kill();
        }
        let mut state = self.state();
        drop_state_and_close(self, &mut state, code, &detail);
    }

    /// End the connection without a close frame of ours: the socket failed, or the client's
    /// own close was already answered.
    pub fn abort(&self) {
        let _ = self.conn.reason.set(None);
        self.kill();
    }

    /// The socket failed: nothing more can be written.
    fn fail(&self, state: &mut WriteState) {
        state.dead = true;
        state.backlog.take();
        let _ = self.conn.reason.set(None);
        self.kill();
        self.conn.progress.notify_waiters();
    }

    /// End the connection; its close frame says "going away" unless a reason was given.
    pub fn kill(&self) {
        self.conn.killed.store(true, Ordering::Release);
        self.conn.reader.wake();
    }

    pub fn is_closed(&self) -> bool {
        self.conn.killed.load(Ordering::Acquire)
    }

    /// Resolves once the connection is killed (the reader stops reading then).
    pub async fn killed(&self) {
        poll_fn(|cx| {
            if self.is_closed() {
                return Poll::Ready(());
            }
            self.conn.reader.register(cx.waker());
            // Checked again after registering, so a kill in between is not missed.
            if self.is_closed() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// The close frame to send (`None`: send none). "Going away" when nobody gave a reason.
    pub fn close_reason(&self) -> Option<(CloseCode, String)> {
        match self.conn.reason.get() {
            Some(reason) => reason.clone(),
            None => Some((CloseCode::GOING_AWAY, GOING_AWAY_TEXT.into())),
        }
    }

    /// Queue the close frame the connection's reason calls for, if none is queued yet.
    pub fn finish(&self) {
        if let Some((code, detail)) = self.close_reason() {
            let _ = self.conn.reason.set(Some((code, detail.clone())));
            let mut state = self.state();
            drop_state_and_close(self, &mut state, code, &detail);
        }
    }

    /// Bytes the backlog holds now.
    pub fn queued_bytes(&self) -> usize {
        self.state().backlog.charged()
    }

    /// Most bytes of missed events a recovering joiner is sent at once: twice the bound, as a
    /// connection closed as slow missed about a bound's worth, and more was published since. They
    /// are queued like replies (not counted against the bound, and the reader waits for them).
    pub fn replay_cap(&self) -> usize {
        self.conn.limit.saturating_mul(2)
    }

    /// Wait until the backlog is at most half the bound (or the connection is dead): the reader
    /// waits here before reading the next request, so a client that sends faster than it reads
    /// its replies is slowed down, not closed.
    pub async fn wait_for_room(&self) {
        let low_water = self.conn.limit / 2;
        // Replies and replays count here: they are what a reader that stops reading holds back.
        self.wait_until(|state| state.dead || state.backlog.charged() <= low_water).await
    }

    /// Wait until everything queued, the close frame included, was written (or the socket died).
    pub async fn drained(&self) {
        self.wait_until(|state| state.dead || (state.backlog.is_empty() && !state.flushing)).await
    }

    async fn wait_until(&self, done: impl Fn(&WriteState) -> bool) {
        loop {
            let notified = self.conn.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if done(&self.state()) {
                return;
            }
            notified.await;
        }
    }

    /// Everything waiting, for a connection without a socket.
    pub fn take_frames(&self) -> Vec<Frame> {
        let frames = self.state().backlog.take();
        self.conn.progress.notify_waiters();
        frames
    }

    /// Something arrived from the client: it is alive.
    pub fn touch(&self) {
        self.conn.silent_checks.store(0, Ordering::Relaxed);
    }

    /// Count one more heartbeat check with nothing from the client since its last frame; returns
    /// how many there have been.
    pub fn silent_check(&self) -> u32 {
        self.conn.silent_checks.fetch_add(1, Ordering::Relaxed).saturating_add(1)
    }

    /// Drop the socket's traffic at once (after the close handshake, or when it timed out).
    pub fn tear_down(&self) {
        let mut state = self.state();
        state.dead = true;
        state.backlog.take();
        drop(state);
        if let Sink::Socket(socket) = &self.conn.sink {
            let _ = socket2::SockRef::from(socket).shutdown(std::net::Shutdown::Both);
        }
        self.kill();
        self.conn.progress.notify_waiters();
    }
}

/// One non-blocking write straight to the socket (tokio made it non-blocking), without asking
/// tokio's readiness first: that check costs a cache miss per delivery, and the answer is the
/// system call's anyway. When the socket would block, the flush task's first try tells tokio
/// (which then clears its readiness and waits for the socket), so nothing is missed.
fn send_now(socket: &TcpStream, slices: &[IoSlice<'_>]) -> std::io::Result<usize> {
    let socket = socket2::SockRef::from(socket);
    match slices {
        [one] => socket.send(one),
        _ => socket.send_vectored(slices),
    }
}

/// Queue the close frame once, after discarding a slow consumer's unstarted backlog.
fn drop_state_and_close(outbox: &Outbox, state: &mut WriteState, code: CloseCode, detail: &str) {
    outbox.kill();
    if state.closing || state.dead {
        return;
    }
    if code == CloseCode::SLOW_CONSUMER {
        state.backlog.discard_unstarted();
    }
    // Closing may be decided under a room's lock: the flush task writes the close frame.
    let frame = Frame::close(code, detail);
    let _ = outbox.enqueue(state, &frame, false);
    state.closing = true;
    outbox.conn.progress.notify_waiters();
}

/// Write the backlog whenever the socket can take more, until it is empty.
async fn flush(outbox: Outbox) {
    let Sink::Socket(socket) = &outbox.conn.sink else { return };
    loop {
        if socket.writable().await.is_err() {
            let mut state = outbox.state();
            state.flushing = false;
            return outbox.fail(&mut state);
        }
        let mut state = outbox.state();
        loop {
            if state.dead || state.backlog.is_empty() {
                state.flushing = false;
                drop(state);
                outbox.conn.progress.notify_waiters();
                return;
            }
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let n = state.backlog.slices(&mut slices);
            match socket.try_write_vectored(&slices[..n]) {
                Ok(0) => {
                    state.flushing = false;
                    return outbox.fail(&mut state);
                }
                Ok(written) => {
                    state.backlog.advance(written);
                    outbox.conn.progress.notify_waiters();
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    state.flushing = false;
                    return outbox.fail(&mut state);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::frame::Opcode;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// A frame the socket takes only part of is finished later whatever its class, even with a
    /// bound it does not fit in: refusing the rest would leave a torn frame on the wire, and the
    /// client could read nothing after it.
    #[tokio::test]
    async fn a_frame_partly_written_is_always_finished() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        socket2::SockRef::from(&server).set_send_buffer_size(4096).unwrap();
        // A bound smaller than one frame: once the socket is full, every droppable frame is refused.
        let outbox = Outbox::new(1, Wire::MsgPack, server, 64);
        let frame = |n: u32| Frame::new(Opcode::Binary, &[n as u8; 1000], Class::Droppable);
        let mut queued = 0;
        loop {
            match outbox.offer(&frame(queued)) {
                Delivery::Queued { shed: 0 } => queued += 1,
                Delivery::Dropped => break,
                other => panic!("frame {queued}: {other:?}"),
            }
            assert!(queued < 100_000, "the socket never filled");
        }
        assert!(outbox.state().backlog.charged() > 0, "the socket took only part of the last frame");

        // Read everything the hub wrote, then the end of the stream.
        let reader = tokio::spawn(async move {
            let mut wire = Vec::new();
            client.read_to_end(&mut wire).await.unwrap();
            wire
        });
        outbox.drained().await;
        outbox.tear_down();
        let wire = reader.await.unwrap();

        // Whole frames, in order, and nothing else: each `0x82 126 <u16 length> <payload>`.
        let mut rest = wire.as_slice();
        for n in 0..queued {
            let (header, tail) = rest.split_at(4);
            assert_eq!(header, [0x82, 126, 0x03, 0xe8], "frame {n} of {queued}");
            let (payload, tail) = tail.split_at(1000);
            assert!(payload.iter().all(|&b| b == n as u8), "frame {n} of {queued}");
            rest = tail;
        }
        assert!(rest.is_empty(), "{} bytes after the last whole frame", rest.len());
    }
}
