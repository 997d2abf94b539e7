//! `reconnect-storm` (Stagehand only): N viewers watch a room receiving R events/s; at
//! `--storm-at` seconds every viewer drops its connection at once (no close frame, as a network
//! loss would), stays away `--offline` seconds, and reconnects (handshake, token, `join` with
//! `since`: the last seq it saw and the room's epoch), through the same handshake limit as the
//! first ramp, retrying failed attempts after a jittered back-off
//! ([`stagehand::reconnect::Backoff`]).
//!
//! Each rejoin is classified with [`stagehand::reconnect::RoomPosition`]: `recovered: true` (the
//! gap was inside the room's history: every missed event must follow the snapshot, and the pump
//! counts those that do as replayed) or not (the gap fell out of the history: the missed events
//! are reported, and the viewer starts again from the snapshot). Measures the time until every
//! viewer has rejoined, per-viewer recovery time, and the missed events of both kinds.

use super::{short_error, shut_down, wait_until, Ready, Run};
use crate::cli::CommonArgs;
use crate::client::{self, PumpCtx, PumpEnd, Ws};
use crate::metrics::{LatencySummary, Tally};
use crate::publisher::Publisher;
use crate::report::{Delivery, RecoveryFigures, Report};
use crate::target::TargetKind;
use anyhow::{anyhow, bail, Result};
use clap::Args;
use serde::Serialize;
use stagehand::reconnect::{Backoff, Rejoin, RoomPosition};
use stagehand_protocol::client::Since;
use stagehand_protocol::types::Snapshot;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Args, Serialize)]
pub struct ReconnectArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: CommonArgs,
    /// Viewers.
    #[arg(long, default_value_t = 1000)]
    pub viewers: usize,
    /// Events per second published to the room throughout.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Seconds of publishing in total.
    #[arg(long, default_value_t = 15.0)]
    pub duration: f64,
    /// Seconds into publishing when every viewer drops.
    #[arg(long, default_value_t = 5.0)]
    pub storm_at: f64,
    /// Seconds every viewer stays disconnected before reconnecting. At `--rate` R, more than
    /// (history length ÷ R) seconds pushes the gap out of the hub's history.
    #[arg(long, default_value_t = 0.0)]
    pub offline: f64,
    /// Give up on a viewer that has not rejoined this many seconds after it tried first.
    #[arg(long, default_value_t = 60.0)]
    pub recover_timeout: f64,
    /// Size of each event as a viewer receives it, bytes.
    #[arg(long, default_value_t = 128)]
    pub event_bytes: usize,
}

/// One viewer's way back: how long from the drop to the snapshot, and what the rejoin was.
struct Recovered {
    result: Result<(Duration, Rejoin), String>,
}

pub async fn run(args: ReconnectArgs) -> Result<Report> {
    if args.common.target.target != TargetKind::Stagehand {
        bail!("the reconnect-storm scenario needs --target stagehand");
    }
    let run = Arc::new(Run::new(&args.common, args.viewers, 1)?);
    let mut report = run.report("reconnect-storm", &args);
    let stop = CancellationToken::new();
    let storm = stop.child_token();
    let creator = run.start_rooms(&stop).await?;

    let before_tally = Arc::new(Tally::new(1));
    let after_tally = Arc::new(Tally::new(1));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let (back_tx, mut back_rx) = mpsc::unbounded_channel();
    let mut tasks: Vec<JoinHandle<PumpEnd>> = (0..args.viewers)
        .map(|i| {
            let tallies = (before_tally.clone(), after_tally.clone());
            let signals = (storm.clone(), stop.clone());
            let timeout = Duration::from_secs_f64(args.recover_timeout);
            let away = (Duration::from_secs_f64(args.offline), timeout);
            spawn_viewer(&run, i, tallies, signals, away, ready_tx.clone(), back_tx.clone())
        })
        .collect();
    tasks.extend(creator);
    let ramp = run.ramp_up(&mut report, &mut ready_rx, args.viewers, &stop, &mut tasks).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let publisher = Arc::new(Publisher::new(run.target.clone(), run.rooms.clone(), args.event_bytes)?);
    let before = run.sample();
    let started = Instant::now();
    let publishing = {
        let publisher = publisher.clone();
        let bar = run.progress.bar((args.rate * args.duration).round() as u64, "publishing");
        let duration = Duration::from_secs_f64(args.duration);
        tokio::spawn(async move {
            let stats = publisher.run_fixed(args.rate, duration, 256, &bar).await;
            bar.finish_and_clear();
            stats
        })
    };
    tokio::time::sleep(Duration::from_secs_f64(args.storm_at)).await;
    let storm_started = Instant::now();
    storm.cancel();

    let bar = run.progress.bar(ramp.connected, "recovering");
    let mut recovery = RecoveryFigures { dropped: ramp.connected, ..Default::default() };
    let recovery_ms = crate::metrics::Latency::default();
    let deadline = Duration::from_secs_f64(args.offline + args.recover_timeout + 5.0);
    while recovery.recovered + recovery.failed < ramp.connected {
        let Ok(Some(back)) = tokio::time::timeout(deadline, back_rx.recv()).await else { break };
        match back.result {
            Ok((took, rejoin)) => {
                recovery.recovered += 1;
                match rejoin {
                    Rejoin::Recovered { missed } => {
                        recovery.recovered_joins += 1;
                        recovery.missed_in_history += missed;
                    }
                    Rejoin::Reset { missed } => {
                        recovery.reset_joins += 1;
                        recovery.missed_out_of_history += missed.unwrap_or(0);
                        if missed.is_none() {
                            *report.outcomes.entry("reconnect: new epoch".into()).or_default() += 1;
                        }
                    }
                }
                recovery_ms.record(recovery.recovered as usize, took.as_micros() as u64);
                recovery.all_recovered_secs = storm_started.elapsed().as_secs_f64();
            }
            Err(e) => {
                recovery.failed += 1;
                *report.outcomes.entry(format!("reconnect: {e}")).or_default() += 1;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    recovery.recovery_ms = recovery_ms.summary();

    let stats = publishing.await?;
    let publish_secs = started.elapsed().as_secs_f64();
    let delivered = || before_tally.delivered_total() + after_tally.delivered_total();
    let in_window = delivered();
    let expected = stats.accepted * ramp.connected;
    recovery.missed_events = recovery.missed_in_history + recovery.missed_out_of_history;
    let reachable = expected.saturating_sub(recovery.missed_out_of_history);
    wait_until(Duration::from_secs_f64(args.common.drain), || delivered() >= reachable).await;
    let window_secs = started.elapsed().as_secs_f64();
    let after = run.sample();
    report.server_metrics = run.scrape().await;
    shut_down(&stop, tasks).await;

    recovery.gaps_after_recovery = after_tally.seq_gaps.load(Relaxed);
    recovery.duplicates = after_tally.duplicates.load(Relaxed);
    recovery.replayed = after_tally.replayed.load(Relaxed);
    recovery.missed_in_history_lost = recovery.missed_in_history.saturating_sub(recovery.replayed);
    let mut delivery = Delivery::new(expected, delivered(), in_window, publish_secs);
    delivery.seq_gaps = before_tally.seq_gaps.load(Relaxed) + recovery.gaps_after_recovery;
    delivery.undecodable = before_tally.undecodable.load(Relaxed) + after_tally.undecodable.load(Relaxed);
    report.delivery = Some(delivery);
    let mut latency = before_tally.latency.merged();
    let _ = latency.add(after_tally.latency.merged());
    report.latency_ms = Some(LatencySummary::of(&latency));
    report.recovery = Some(recovery);
    report.server = run.server_figures(None, before, after, window_secs, Some(delivered()), None);
    report.publish = Some(stats);
    report.outcomes.extend(after_tally.outcomes());
    Ok(report)
}

/// Viewer `i`: join, pump until the storm, drop the connection, stay `offline`, rejoin with
/// `since` (retrying after a jittered back-off until `timeout`), report how long that took and
/// how the rejoin went, then pump until `stop`.
fn spawn_viewer(
    run: &Arc<Run>,
    i: usize,
    (before, after): (Arc<Tally>, Arc<Tally>),
    (storm, stop): (CancellationToken, CancellationToken),
    (offline, timeout): (Duration, Duration),
    ready: mpsc::UnboundedSender<Ready>,
    back: mpsc::UnboundedSender<Recovered>,
) -> JoinHandle<PumpEnd> {
    let run = run.clone();
    tokio::spawn(async move {
        let sub = format!("viewer-{i}");
        let (mut ws, mut position) = match join(&run, i, &sub, None).await {
            Ok((ws, snapshot)) => (ws, RoomPosition::from_snapshot(&snapshot)),
            Err(e) => {
                let _ = ready.send(Ready { room: 0, result: Err(short_error(&e)) });
                return PumpEnd { last_seq: 0, ended_by: Some("connect_failed".into()) };
            }
        };
        let _ = ready.send(Ready { room: 0, result: Ok(()) });
        let ctx =
            PumpCtx { kind: run.target.kind, wire: run.target.wire, tally: before, who: i, room: 0, replay_until: 0 };
        let end = client::pump(&mut ws, &ctx, position.seq, &storm).await;
        if stop.is_cancelled() {
            return end;
        }
        // The storm: drop the connection without a close frame, as a network loss would.
        drop(ws);
        let dropped = Instant::now();
        position.seq = end.last_seq;
        tokio::time::sleep(offline).await;
        // Everyone comes back at once (the worst case for the hub); a failed attempt waits a
        // jittered back-off before the next.
        let mut backoff = Backoff::default();
        let rejoined = loop {
            match join(&run, i, &sub, Some(position.since())).await {
                Ok(joined) => break Ok(joined),
                Err(e) if dropped.elapsed() > offline + timeout || stop.is_cancelled() => break Err(e),
                Err(_) => tokio::time::sleep(backoff.next_delay()).await,
            }
        };
        match rejoined {
            Ok((mut ws, snapshot)) => {
                let rejoin = position.rejoined(&snapshot);
                let _ = back.send(Recovered { result: Ok((dropped.elapsed(), rejoin)) });
                let replay_until = match rejoin {
                    Rejoin::Recovered { .. } => snapshot.seq,
                    Rejoin::Reset { .. } => 0,
                };
                // From the last seq seen when recovered (the missed events follow), else from the
                // snapshot's: a gap in what follows is a missed event either way.
                let ctx = PumpCtx { tally: after, replay_until, ..ctx };
                client::pump(&mut ws, &ctx, position.seq, &stop).await
            }
            Err(e) => {
                let _ = back.send(Recovered { result: Err(short_error(&anyhow!(e))) });
                PumpEnd { last_seq: end.last_seq, ended_by: Some("reconnect_failed".into()) }
            }
        }
    })
}

/// Viewer `i` joins the room, with `since` when it was there before.
async fn join(run: &Run, i: usize, sub: &str, since: Option<Since>) -> Result<(Ws, Snapshot)> {
    let (ws, snapshot) = run.connector.join_since(i, &run.rooms[0], sub, since).await?;
    Ok((ws, snapshot.ok_or_else(|| anyhow!("a join without a snapshot"))?))
}
