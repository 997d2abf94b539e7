//! What a client needs to come back after losing its connection: when to retry
//! ([`should_retry`]), how long to wait first ([`Backoff`]: exponential with full jitter), and
//! where it stood in each room ([`RoomPosition`]), so that its next `join` carries `since` and the
//! hub can send only what was missed.
//!
//! The examples and the load harness's `reconnect-storm` use it with [`Client`]:
//!
//! ```no_run
//! # async fn demo(url: &str, token: String) -> Result<(), stagehand::reconnect::JoinError> {
//! use stagehand::client::{Auth, Client};
//! use stagehand::reconnect::{self, Backoff, Rejoin};
//! let mut position = None;
//! let mut backoff = Backoff::default();
//! let mut client = Client::connect(url, stagehand_protocol::Wire::Json, Auth::Frame(token)).await?;
//! let joined = reconnect::join(&mut client, "show-1", &mut position).await?;
//! // … read events, feeding each to `position.observe(&event)` …
//! // On an error for which `reconnect::should_retry` holds: sleep `backoff.next_delay()`,
//! // connect again, `reconnect::join` again (now with `since`), and `backoff.reset()`.
//! # Ok(()) }
//! ```
//!
//! Recovery, as the hub answers a `join` with `since` (protocol/SPEC.md): the reply's snapshot
//! says `recovered: true` and every missed event follows it, in order, each once (seq
//! `since.seq + 1 ..= snapshot.seq`, already reflected in the snapshot's state), then live
//! events; or `recovered: false` (absent from a hub without recovery) and the client starts again
//! from the snapshot.

use crate::client::{Client, ClientError};
use backon::BackoffBuilder;
use stagehand_protocol::client::Since;
use stagehand_protocol::close::CloseCode;
use stagehand_protocol::error::ErrorBody;
use stagehand_protocol::server::{Event, ReplyResult};
use stagehand_protocol::types::Snapshot;
use stagehand_protocol::Command;
use std::time::Duration;

/// RFC 6455's code for a connection that ended without a close frame (a network loss, a killed
/// hub). Never sent on the wire; a client reports it to itself.
pub const ABNORMAL_CLOSURE: CloseCode = CloseCode(1006);

/// The close code behind a client error: the hub's close frame, or [`ABNORMAL_CLOSURE`] when the
/// connection broke without one (reset, refused, end of stream, the hub silent for
/// [`crate::client::WAIT`]). `None` for errors that are not about the connection (a frame that
/// did not decode, an unexpected answer).
pub fn close_code(error: &ClientError) -> Option<CloseCode> {
    match error {
        ClientError::Closed(Some((code, _))) => Some(CloseCode(*code)),
        ClientError::Closed(None) | ClientError::Timeout => Some(ABNORMAL_CLOSURE),
        ClientError::Ws(ws) => transport_failure(ws).then_some(ABNORMAL_CLOSURE),
        ClientError::Codec(_) | ClientError::Unexpected(_) => None,
    }
}

/// Whether a client should reconnect on its own after `error`: the hub closed with a code whose
/// [`CloseCode::should_reconnect`] holds (going away, heartbeat timeout, slow consumer,
/// overloaded), or the connection dropped without a close ([`ABNORMAL_CLOSURE`]). Token and
/// access closes (4001–4003, 4010–4012) and protocol abuse are not retried: the same client would
/// be refused again.
pub fn should_retry(error: &ClientError) -> bool {
    close_code(error).is_some_and(|code| code == ABNORMAL_CLOSURE || code.should_reconnect())
}

/// Transport failures: I/O errors (refused, reset), a stream that ended, or the upgrade answered
/// with a server-side HTTP error (5xx, or 429). A 4xx refusal of the upgrade is not one.
fn transport_failure(error: &tokio_tungstenite::tungstenite::Error) -> bool {
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    use tokio_tungstenite::tungstenite::Error;
    match error {
        Error::Io(_) | Error::ConnectionClosed | Error::AlreadyClosed => true,
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => true,
        Error::Http(response) => response.status().is_server_error() || response.status().as_u16() == 429,
        _ => false,
    }
}

/// The shape of a [`Backoff`]: the wait before retry `n` (from 0) is uniformly random in
/// `[0, min(cap, base × factorⁿ))` ("full jitter"), so that clients dropped together do not come
/// back together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// The ceiling of the first wait.
    pub base: Duration,
    /// How much the ceiling grows per retry.
    pub factor: f32,
    /// The largest ceiling.
    pub cap: Duration,
}

impl Default for BackoffPolicy {
    /// 250 ms, ×2 per retry, at most 30 s: the ceiling reaches the cap at the 8th retry.
    fn default() -> Self {
        BackoffPolicy { base: Duration::from_millis(250), factor: 2.0, cap: Duration::from_secs(30) }
    }
}

/// Waits between reconnection attempts. The ceilings come from `backon`'s exponential schedule;
/// each wait is a uniform draw below its ceiling. [`Backoff::reset`] once a connection works.
#[derive(Debug)]
pub struct Backoff {
    schedule: backon::ExponentialBuilder,
    ceilings: backon::ExponentialBackoff,
    rng: fastrand::Rng,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(BackoffPolicy::default())
    }
}

impl Backoff {
    /// A back-off with `policy`, its jitter seeded from the system.
    pub fn new(policy: BackoffPolicy) -> Self {
        Backoff::with_rng(policy, fastrand::Rng::new())
    }

    /// The same, with a fixed jitter seed (for tests that must repeat).
    pub fn with_seed(policy: BackoffPolicy, seed: u64) -> Self {
        Backoff::with_rng(policy, fastrand::Rng::with_seed(seed))
    }

    fn with_rng(policy: BackoffPolicy, rng: fastrand::Rng) -> Self {
        let schedule = backon::ExponentialBuilder::new()
            .with_min_delay(policy.base)
            .with_factor(policy.factor)
            .with_max_delay(policy.cap)
            .without_max_times();
        Backoff { schedule, ceilings: schedule.build(), rng }
    }

    /// How long to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        // Without max_times the schedule never ends; the cap is only a fallback.
        let ceiling = self.ceilings.next().unwrap_or(Duration::MAX);
        ceiling.mul_f64(self.rng.f64())
    }

    /// Start again from the first ceiling: the last attempt succeeded.
    pub fn reset(&mut self) {
        self.ceilings = self.schedule.build();
    }
}

/// Where a client stands in one room: the `seq` (and, for creator and agency members, the
/// `staff_seq`) of the last event it received, in the room's `epoch`. Made from a join's snapshot,
/// moved on by each event ([`RoomPosition::observe`]), sent back as `join.since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPosition {
    pub seq: u64,
    pub epoch: String,
    pub staff_seq: Option<u64>,
    /// After a recovered join: the snapshot's `seq` and `staff_seq`. Events up to them are the
    /// replayed missed ones.
    replay_until: (u64, u64),
}

/// What a join with `since` did to a [`RoomPosition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejoin {
    /// `recovered: true`: the `missed` events the client did not have (room and staff-only)
    /// follow the snapshot.
    Recovered { missed: u64 },
    /// `recovered: false` (or absent): the client starts again from the snapshot. `missed` counts
    /// the events it never received, when the epoch is the same (else they cannot be counted).
    Reset { missed: Option<u64> },
}

/// What one event meant for a [`RoomPosition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The next event of its stream, live.
    Next,
    /// A missed event, replayed after a recovered join (its effect is already in the snapshot).
    Replayed,
    /// The event came after `missed` events the client never received.
    Gap { missed: u64 },
    /// Already received (its seq is not past the position): to be ignored.
    Old,
    /// An ephemeral event (`viewer_count`): it takes no place in the sequence.
    Ephemeral,
}

impl RoomPosition {
    /// The position a join's snapshot gives.
    pub fn from_snapshot(snapshot: &Snapshot) -> Self {
        RoomPosition {
            seq: snapshot.seq,
            epoch: snapshot.epoch.clone(),
            staff_seq: snapshot.staff_seq,
            replay_until: (snapshot.seq, snapshot.staff_seq.unwrap_or(0)),
        }
    }

    /// `join.since` for this position.
    pub fn since(&self) -> Since {
        Since { seq: self.seq, epoch: self.epoch.clone(), staff_seq: self.staff_seq }
    }

    /// Missed events still to come after a recovered join (room and staff-only).
    pub fn replay_pending(&self) -> u64 {
        let (seq, staff_seq) = self.replay_until;
        seq.saturating_sub(self.seq) + staff_seq.saturating_sub(self.staff_seq.unwrap_or(0))
    }

    /// Take in the reply to a join sent with [`RoomPosition::since`]. A recovered join keeps the
    /// position where it was, since the missed events follow and move it on; any other answer
    /// starts again from the snapshot.
    pub fn rejoined(&mut self, snapshot: &Snapshot) -> Rejoin {
        let same_epoch = snapshot.epoch == self.epoch;
        let staff = (self.staff_seq.unwrap_or(0), snapshot.staff_seq.unwrap_or(0));
        if snapshot.recovered == Some(true) && same_epoch && snapshot.seq >= self.seq && staff.1 >= staff.0 {
            self.replay_until = (snapshot.seq, staff.1);
            return Rejoin::Recovered { missed: self.replay_pending() };
        }
        let missed = same_epoch.then(|| snapshot.seq.saturating_sub(self.seq));
        *self = RoomPosition::from_snapshot(snapshot);
        Rejoin::Reset { missed }
    }

    /// Move on by one received event of this room. Staff-only events move `staff_seq` (they repeat
    /// the room's seq); every other non-ephemeral event moves `seq`.
    pub fn observe(&mut self, event: &Event) -> Seen {
        if event.body.ephemeral() {
            return Seen::Ephemeral;
        }
        match event.staff_seq {
            Some(staff_seq) => {
                let at = self.staff_seq.unwrap_or(0);
                self.staff_seq = Some(at.max(staff_seq));
                step(at, staff_seq, self.replay_until.1)
            }
            None => {
                let seen = step(self.seq, event.seq, self.replay_until.0);
                self.seq = self.seq.max(event.seq);
                seen
            }
        }
    }
}

/// One step of a stream from `at` to `seq`; seqs up to `replay_until` are replayed ones.
fn step(at: u64, seq: u64, replay_until: u64) -> Seen {
    if seq <= at {
        Seen::Old
    } else if seq > at + 1 {
        Seen::Gap { missed: seq - at - 1 }
    } else if seq <= replay_until {
        Seen::Replayed
    } else {
        Seen::Next
    }
}

/// A `join` that did not give a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The hub answered with an error (no access, no such room…): retrying will not help.
    #[error("join refused: {}", refusal(.0))]
    Refused(Option<ErrorBody>),
}

fn refusal(error: &Option<ErrorBody>) -> String {
    error.as_ref().map_or("no reason given".into(), |e| format!("{} ({})", e.code.as_str(), e.message))
}

impl JoinError {
    /// Whether to reconnect and try again ([`should_retry`] on the connection's error).
    pub fn should_retry(&self) -> bool {
        match self {
            JoinError::Client(error) => should_retry(error),
            JoinError::Refused(_) => false,
        }
    }
}

/// A successful join.
#[derive(Debug, Clone)]
pub struct Joined {
    pub snapshot: Snapshot,
    /// How a join with `since` went; `None` for a first join.
    pub rejoin: Option<Rejoin>,
}

/// Join `room`, with `since` when `position` holds one (from an earlier membership), and leave
/// `position` where the reply puts it.
pub async fn join(client: &mut Client, room: &str, position: &mut Option<RoomPosition>) -> Result<Joined, JoinError> {
    let since = position.as_ref().map(RoomPosition::since);
    let reply = client.request(Command::Join { room: room.to_owned(), since }).await?;
    let snapshot = match reply.result {
        Some(ReplyResult::Snapshot(snapshot)) if reply.ok => snapshot,
        _ => return Err(JoinError::Refused(reply.error)),
    };
    let rejoin = match position {
        Some(position) => Some(position.rejoined(&snapshot)),
        None => {
            *position = Some(RoomPosition::from_snapshot(&snapshot));
            None
        }
    };
    Ok(Joined { snapshot, rejoin })
}

#[cfg(test)]
mod tests {
    use super::*;
    use stagehand_protocol::server::EventBody;
    use stagehand_protocol::types::{Actor, Operator, RoomState};

    /// The ceilings of the default policy: 250 ms doubling to the 30 s cap.
    fn ceiling(retry: u32) -> Duration {
        Duration::from_millis(250 * 2u64.pow(retry.min(20))).min(Duration::from_secs(30))
    }

    #[test]
    fn every_wait_is_below_its_exponential_ceiling() {
        for seed in 0..200 {
            let mut backoff = Backoff::with_seed(BackoffPolicy::default(), seed);
            for retry in 0..12 {
                let wait = backoff.next_delay();
                assert!(wait < ceiling(retry), "seed {seed}, retry {retry}: {wait:?} ≥ {:?}", ceiling(retry));
            }
        }
    }

    #[test]
    fn waits_spread_over_the_whole_range_and_grow() {
        // Full jitter: across clients, the first wait covers [0, 250 ms); the 9th, [0, 30 s).
        let firsts: Vec<Duration> =
            (0..1000).map(|seed| Backoff::with_seed(BackoffPolicy::default(), seed).next_delay()).collect();
        assert!(firsts.iter().min().unwrap() < &Duration::from_millis(10));
        assert!(firsts.iter().max().unwrap() > &Duration::from_millis(240));
        let ninths: Vec<Duration> = (0..1000)
            .map(|seed| {
                let mut backoff = Backoff::with_seed(BackoffPolicy::default(), seed);
                (0..9).map(|_| backoff.next_delay()).last().unwrap()
            })
            .collect();
        assert!(ninths.iter().max().unwrap() > &Duration::from_secs(28));
        let mean = ninths.iter().sum::<Duration>() / 1000;
        assert!(mean > Duration::from_secs(12) && mean < Duration::from_secs(18), "mean {mean:?}");
    }

    #[test]
    fn reset_starts_again_from_the_first_ceiling() {
        let mut backoff = Backoff::with_seed(BackoffPolicy::default(), 7);
        for _ in 0..10 {
            backoff.next_delay();
        }
        backoff.reset();
        for _ in 0..50 {
            // The first ceiling only: fresh draws below 250 ms after each reset.
            assert!(backoff.next_delay() < Duration::from_millis(250));
            backoff.reset();
        }
    }

    #[test]
    fn retried_closes_are_the_reconnect_codes_and_drops() {
        let closed = |code: u16| ClientError::Closed(Some((code, String::new())));
        for code in [1001, 4004, 4008, 4013] {
            assert!(should_retry(&closed(code)), "{code}");
        }
        for code in [1000, 1009, 4001, 4002, 4003, 4005, 4010, 4011, 4012] {
            assert!(!should_retry(&closed(code)), "{code}");
        }
        assert!(should_retry(&ClientError::Closed(None)));
        assert_eq!(close_code(&ClientError::Closed(None)), Some(ABNORMAL_CLOSURE));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(should_retry(&ClientError::Ws(refused.into())));
        assert!(!should_retry(&ClientError::Unexpected("connect refused".into())));
        assert!(!JoinError::Refused(None).should_retry());
        assert!(JoinError::Client(closed(1001)).should_retry());
    }

    fn snapshot(seq: u64, epoch: &str, recovered: Option<bool>, staff_seq: Option<u64>) -> Snapshot {
        Snapshot {
            room: "r".into(),
            state: RoomState::Live,
            title: String::new(),
            creator: Actor { id: "c".into(), name: "c".into() },
            starts_at: None,
            billboard: None,
            viewer_count: 0,
            seq,
            epoch: epoch.into(),
            recovered,
            staff_seq,
            staff: None,
            bag: None,
            flash_sale: None,
            giveaway: None,
            likes: 0,
            comment_settings: None,
            held: None,
            campaign: None,
        }
    }

    fn event(seq: u64, body: EventBody) -> Event {
        Event { room: "r".into(), seq, staff_seq: None, ts: 0, body }
    }

    fn order(seq: u64) -> Event {
        let body = EventBody::Activity { kind: "follow".into(), text: format!("{seq}") };
        event(seq, body)
    }

    #[test]
    fn a_position_follows_events_and_gives_since() {
        let mut at = RoomPosition::from_snapshot(&snapshot(4, "e1", None, None));
        assert_eq!(at.observe(&order(5)), Seen::Next);
        assert_eq!(at.observe(&event(5, EventBody::ViewerCount { count: 3 })), Seen::Ephemeral);
        assert_eq!(at.observe(&order(5)), Seen::Old);
        assert_eq!(at.observe(&order(8)), Seen::Gap { missed: 2 });
        assert_eq!(at.since(), Since { seq: 8, epoch: "e1".into(), staff_seq: None });
    }

    #[test]
    fn staff_events_move_only_the_staff_stream() {
        let mut at = RoomPosition::from_snapshot(&snapshot(4, "e1", None, Some(2)));
        let staff = Operator { agency_id: "a".into(), staff_id: "s".into(), staff_name: "S".into() };
        let joined = Event { staff_seq: Some(3), ..event(4, EventBody::StaffJoined { staff: staff.clone() }) };
        assert_eq!(at.observe(&joined), Seen::Next);
        let left = Event { staff_seq: Some(5), ..event(4, EventBody::StaffLeft { staff }) };
        assert_eq!(at.observe(&left), Seen::Gap { missed: 1 });
        assert_eq!((at.seq, at.staff_seq), (4, Some(5)));
        assert_eq!(at.since().staff_seq, Some(5));
    }

    #[test]
    fn a_recovered_join_keeps_the_position_and_the_missed_events_move_it() {
        let mut at = RoomPosition::from_snapshot(&snapshot(10, "e1", None, None));
        assert_eq!(at.rejoined(&snapshot(13, "e1", Some(true), None)), Rejoin::Recovered { missed: 3 });
        assert_eq!((at.seq, at.replay_pending()), (10, 3));
        assert_eq!(at.observe(&order(11)), Seen::Replayed);
        assert_eq!(at.observe(&order(12)), Seen::Replayed);
        // Dropped again mid-replay: `since` is the last event received, not the snapshot.
        assert_eq!(at.since().seq, 12);
        assert_eq!(at.observe(&order(13)), Seen::Replayed);
        assert_eq!(at.replay_pending(), 0);
        assert_eq!(at.observe(&order(14)), Seen::Next);
    }

    #[test]
    fn a_recovered_staff_join_replays_both_streams() {
        let mut at = RoomPosition::from_snapshot(&snapshot(10, "e1", None, Some(1)));
        assert_eq!(at.rejoined(&snapshot(11, "e1", Some(true), Some(2))), Rejoin::Recovered { missed: 2 });
        assert_eq!(at.since(), Since { seq: 10, epoch: "e1".into(), staff_seq: Some(1) });
        let staff = Operator { agency_id: "a".into(), staff_id: "s".into(), staff_name: "S".into() };
        let joined = Event { staff_seq: Some(2), ..event(10, EventBody::StaffJoined { staff }) };
        assert_eq!(at.observe(&joined), Seen::Replayed);
        assert_eq!(at.replay_pending(), 1);
        assert_eq!(at.observe(&order(11)), Seen::Replayed);
        assert_eq!(at.replay_pending(), 0);
    }

    #[test]
    fn an_unrecovered_join_starts_again_from_the_snapshot() {
        let mut at = RoomPosition::from_snapshot(&snapshot(10, "e1", None, None));
        assert_eq!(at.rejoined(&snapshot(2000, "e1", Some(false), None)), Rejoin::Reset { missed: Some(1990) });
        assert_eq!((at.seq, at.replay_pending()), (2000, 0));
        assert_eq!(at.observe(&order(2001)), Seen::Next);
        // A hub without recovery says nothing: that is a reset too.
        assert_eq!(at.rejoined(&snapshot(2005, "e1", None, None)), Rejoin::Reset { missed: Some(4) });
        // A new epoch (the room's history restarted): seqs cannot be compared.
        assert_eq!(at.rejoined(&snapshot(3, "e2", Some(true), None)), Rejoin::Reset { missed: None });
        assert_eq!(at.since(), Since { seq: 3, epoch: "e2".into(), staff_seq: None });
    }
}
