//! The backend publisher: HTTP POSTs of stamped, fixed-size events to one or more rooms, either at
//! a fixed rate (open loop) or as fast as the receivers keep up (closed loop, for saturation).
//!
//! Stagehand: `POST /api/v1/rooms/{room}/events` with `{"type":"activity","kind":"load","text":…}`,
//! the text padded so that the event a viewer receives is `event_bytes` long on the wire.
//! nchan: `POST /pub/{room}` with the padded text itself as the body, which nchan delivers as is.

use crate::metrics::Tally;
use crate::payload;
use crate::target::{Target, TargetKind};
use anyhow::{bail, Result};
use indicatif::ProgressBar;
use serde::Serialize;
use stagehand_protocol::codec::encode;
use stagehand_protocol::{Event, EventBody};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// In closed-loop mode, how long to wait for the receivers before publishing anyway (counted as
/// a stall: deliveries were lost or the receivers are stuck).
const STALL: Duration = Duration::from_secs(2);

/// What the publisher did.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct PublishStats {
    pub attempted: u64,
    pub accepted: u64,
    pub failed: u64,
    /// Fixed rate: ticks skipped because too many requests were in flight.
    pub skipped: u64,
    /// Closed loop: waits for receivers that timed out.
    pub stalls: u64,
    pub secs: f64,
    /// Accepted publishes per second.
    pub rate: f64,
    /// Failures by HTTP status or error kind.
    pub errors: BTreeMap<String, u64>,
    /// Accepted events per room.
    #[serde(skip)]
    pub accepted_per_room: Vec<u64>,
}

/// Publishes to a fixed set of rooms.
pub struct Publisher {
    client: reqwest::Client,
    target: Arc<Target>,
    rooms: Vec<String>,
    /// Length of the stamped text per room, so the delivered event is `event_bytes` long.
    text_len: Vec<usize>,
    accepted: Vec<AtomicU64>,
    failed: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Publisher {
    pub fn new(target: Arc<Target>, rooms: Vec<String>, event_bytes: usize) -> Result<Publisher> {
        let client = reqwest::Client::builder().pool_max_idle_per_host(512).tcp_nodelay(true).build()?;
        let text_len = rooms.iter().map(|room| text_len_for(&target, room, event_bytes)).collect();
        let accepted = rooms.iter().map(|_| AtomicU64::new(0)).collect();
        Ok(Publisher { client, target, rooms, text_len, accepted, failed: AtomicU64::new(0), errors: Mutex::default() })
    }

    /// Publish event `index` to room number `room` now; true if the server accepted it.
    pub async fn publish_one(&self, room: usize, index: u64) -> bool {
        match self.try_publish(room, index).await {
            Ok(()) => {
                self.accepted[room].fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
                *errors.entry(e.to_string()).or_default() += 1;
                false
            }
        }
    }

    async fn try_publish(&self, room: usize, index: u64) -> Result<()> {
        let text = payload::make(payload::PUBLISHED, index, payload::now_nanos(), self.text_len[room]);
        let mut request = self.client.post(self.target.publish_url(&self.rooms[room]));
        if let Some(auth) = self.target.publish_auth() {
            request = request.header("authorization", auth);
        }
        request = match self.target.kind {
            TargetKind::Stagehand => {
                request.json(&serde_json::json!({"type": "activity", "kind": "load", "text": text}))
            }
            TargetKind::Nchan => request.body(text),
        };
        let response = request.send().await.map_err(|e| anyhow::anyhow!("request: {}", without_url(&e)))?;
        let status = response.status();
        // Read the body so the connection goes back to the pool.
        let body = response.bytes().await.unwrap_or_default();
        if !status.is_success() {
            bail!("HTTP {}: {}", status.as_u16(), String::from_utf8_lossy(&body[..body.len().min(120)]));
        }
        Ok(())
    }

    /// Publish `rate` events per second to every room for `duration` (event k goes to all rooms
    /// at tick k), never more than `max_in_flight` requests at once.
    pub async fn run_fixed(
        self: &Arc<Self>,
        rate: f64,
        duration: Duration,
        max_in_flight: usize,
        bar: &ProgressBar,
    ) -> PublishStats {
        let started = Instant::now();
        let total = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let in_flight = Arc::new(Semaphore::new(max_in_flight.max(1)));
        let mut tasks = JoinSet::new();
        let mut skipped = 0;
        for index in 0..total {
            ticker.tick().await;
            for room in 0..self.rooms.len() {
                let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                    skipped += 1;
                    continue;
                };
                let me = self.clone();
                tasks.spawn(async move {
                    me.publish_one(room, index).await;
                    drop(permit);
                });
            }
            bar.inc(1);
            // Reap finished requests as we go so the set stays small.
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
        self.stats(started, skipped, 0)
    }

    /// Closed loop, for saturation: each room publishes its next event as soon as the receivers
    /// in it have received all but `window` of the previous ones (or after a stall), for `duration`,
    /// with up to `pipeline` publish requests per room in flight at once. One request at a time
    /// would bound the events the server sees per round trip to one, and a round trip on a busy
    /// load generator waits behind thousands of receivers: the publisher, not the server, would
    /// set the rate.
    pub async fn run_closed(
        self: &Arc<Self>,
        duration: Duration,
        window: u64,
        pipeline: usize,
        viewers_per_room: &[u64],
        tally: &Arc<Tally>,
        bar: &ProgressBar,
    ) -> PublishStats {
        let started = Instant::now();
        let stalls = Arc::new(AtomicU64::new(0));
        let mut tasks = JoinSet::new();
        for (room, &viewers) in viewers_per_room.iter().enumerate() {
            let base = tally.delivered_in(room);
            let next = Arc::new(AtomicU64::new(0));
            for lane in 0..pipeline.max(1) {
                let (me, tally, stalls, bar, next) =
                    (self.clone(), tally.clone(), stalls.clone(), bar.clone(), next.clone());
                tasks.spawn(async move {
                    while started.elapsed() < duration {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let need = index.saturating_sub(window) * viewers;
                        let waiting = Instant::now();
                        while tally.delivered_in(room) - base < need && started.elapsed() < duration {
                            if waiting.elapsed() > STALL {
                                stalls.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                            tokio::time::sleep(Duration::from_micros(500)).await;
                        }
                        // A refused publish is retried (after a pause, not in a spin), so that
                        // every index is published once and the window never waits for a hole.
                        while !me.publish_one(room, index).await && started.elapsed() < duration {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        if room == 0 && lane == 0 {
                            bar.set_position(started.elapsed().as_secs());
                        }
                    }
                });
            }
        }
        while tasks.join_next().await.is_some() {}
        self.stats(started, 0, stalls.load(Ordering::Relaxed))
    }

    fn stats(&self, started: Instant, skipped: u64, stalls: u64) -> PublishStats {
        let secs = started.elapsed().as_secs_f64();
        let accepted_per_room: Vec<u64> = self.accepted.iter().map(|a| a.load(Ordering::Relaxed)).collect();
        let accepted: u64 = accepted_per_room.iter().sum();
        let failed = self.failed.load(Ordering::Relaxed);
        PublishStats {
            attempted: accepted + failed,
            accepted,
            failed,
            skipped,
            stalls,
            secs,
            rate: accepted as f64 / secs.max(1e-9),
            errors: self.errors.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            accepted_per_room,
        }
    }
}

/// The text length that makes the delivered event `event_bytes` long on the wire.
fn text_len_for(target: &Target, room: &str, event_bytes: usize) -> usize {
    if target.kind == TargetKind::Nchan {
        return event_bytes;
    }
    // A representative event: seq and ts take their usual encoded sizes for a run of thousands.
    let size = |len: usize| {
        let event = Event {
            room: room.to_owned(),
            seq: 10_000,
            staff_seq: None,
            ts: (payload::now_nanos() / 1_000_000).max(1),
            body: EventBody::Activity { kind: "load".into(), text: ".".repeat(len) },
        };
        encode(target.wire, &event).map(|b| b.len()).unwrap_or(len)
    };
    let mut len = event_bytes.saturating_sub(size(0));
    // String headers grow with the length (MessagePack: 1 byte up to 31, then 2): settle it.
    for _ in 0..3 {
        let got = size(len);
        if got == event_bytes {
            break;
        }
        len = (len + event_bytes).saturating_sub(got);
    }
    len
}

/// reqwest's error text without the URL (it is the same for every failure).
fn without_url(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "connect".into()
    } else if e.is_timeout() {
        "timeout".into()
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{TargetArgs, WireArg};
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        target: TargetArgs,
    }

    #[test]
    fn pads_stagehand_events_to_the_wire_size() {
        for wire in [WireArg::Msgpack, WireArg::Json] {
            let mut args = Wrap::parse_from(["x"]).target;
            args.wire = wire;
            let target = Target::new(&args).unwrap();
            let len = text_len_for(&target, "load-1-0", 128);
            let event = Event {
                room: "load-1-0".into(),
                seq: 10_000,
                staff_seq: None,
                ts: payload::now_nanos() / 1_000_000,
                body: EventBody::Activity { kind: "load".into(), text: ".".repeat(len) },
            };
            assert_eq!(encode(target.wire, &event).unwrap().len(), 128, "{wire:?}");
        }
    }
}
