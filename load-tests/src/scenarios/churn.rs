//! `churn` (Stagehand only): while N steady viewers watch a room that receives R events/s, other
//! viewers join at J/s, stay `--dwell` seconds and leave. Measures join latency (connect →
//! snapshot), failed joins, and whether the steady viewers lose anything or slow down.

use super::{short_error, shut_down, wait_until, watch_deliveries, Run};
use crate::cli::CommonArgs;
use crate::client::{self, PumpCtx};
use crate::metrics::{Latency, Tally};
use crate::publisher::Publisher;
use crate::report::{ChurnFigures, Report};
use crate::target::TargetKind;
use anyhow::{bail, Result};
use clap::Args;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Args, Serialize)]
pub struct ChurnArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: CommonArgs,
    /// Steady viewers, connected for the whole run.
    #[arg(long, default_value_t = 500)]
    pub viewers: usize,
    /// Churning viewers joining per second.
    #[arg(long, default_value_t = 50.0)]
    pub join_rate: f64,
    /// Seconds each churning viewer stays before leaving.
    #[arg(long, default_value_t = 2.0)]
    pub dwell: f64,
    /// Events per second published to the room meanwhile.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Seconds of churn (and publishing).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Size of each event as a viewer receives it, bytes.
    #[arg(long, default_value_t = 128)]
    pub event_bytes: usize,
}

/// What the churning viewers count.
#[derive(Default)]
struct ChurnCounters {
    attempted: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    left: AtomicU64,
    join_latency: Latency,
    errors: Mutex<BTreeMap<String, u64>>,
}

pub async fn run(args: ChurnArgs) -> Result<Report> {
    if args.common.target.target != TargetKind::Stagehand {
        bail!("the churn scenario needs --target stagehand");
    }
    let churners = (args.join_rate * args.duration).ceil() as usize;
    let run = Arc::new(Run::new(&args.common, args.viewers + churners, 1)?);
    let mut report = run.report("churn", &args);
    let stop = CancellationToken::new();
    let creator = run.start_rooms(&stop).await?;

    let steady = Arc::new(Tally::new(1));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let mut tasks = run.spawn_viewers(0..args.viewers, &steady, &stop, &ready_tx);
    tasks.extend(creator);
    let ramp = run.ramp_up(&mut report, &mut ready_rx, args.viewers, &stop, &mut tasks).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let publisher = Arc::new(Publisher::new(run.target.clone(), run.rooms.clone(), args.event_bytes)?);
    let duration = Duration::from_secs_f64(args.duration);
    let before = run.sample();
    let started = Instant::now();
    let bar = run.progress.bar((args.rate * args.duration).round() as u64, "churning");
    let watch = watch_deliveries(&bar, &steady);
    let publishing = {
        let (publisher, bar) = (publisher.clone(), bar.clone());
        tokio::spawn(async move { publisher.run_fixed(args.rate, duration, 256, &bar).await })
    };

    // The churn: one viewer joins every 1/J s, reads for --dwell seconds, closes cleanly.
    let counters = Arc::new(ChurnCounters::default());
    let churn_tally = Arc::new(Tally::new(1));
    let mut churn = JoinSet::new();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.join_rate.max(1e-3)));
    for j in 0..churners {
        ticker.tick().await;
        let (run, counters, tally, stop) = (run.clone(), counters.clone(), churn_tally.clone(), stop.clone());
        let dwell = Duration::from_secs_f64(args.dwell);
        churn.spawn(async move {
            let n = args.viewers + j;
            counters.attempted.fetch_add(1, Relaxed);
            let t = Instant::now();
            match run.connector.join(n, &run.rooms[0], &format!("churner-{j}")).await {
                Ok((mut ws, seq)) => {
                    counters.ok.fetch_add(1, Relaxed);
                    counters.join_latency.record(j, t.elapsed().as_micros() as u64);
                    let ctx = PumpCtx {
                        kind: run.target.kind,
                        wire: run.target.wire,
                        tally,
                        who: n,
                        room: 0,
                        replay_until: 0,
                    };
                    let _ = tokio::time::timeout(dwell, client::pump(&mut ws, &ctx, seq, &stop)).await;
                    if ws.close(None).await.is_ok() {
                        counters.left.fetch_add(1, Relaxed);
                    }
                }
                Err(e) => {
                    counters.failed.fetch_add(1, Relaxed);
                    let mut errors = counters.errors.lock().unwrap_or_else(|e| e.into_inner());
                    *errors.entry(short_error(&e)).or_default() += 1;
                }
            }
        });
        while churn.try_join_next().is_some() {}
    }
    let stats = publishing.await?;
    let publish_secs = started.elapsed().as_secs_f64();
    let in_window = steady.delivered_total();
    let expected = stats.accepted * ramp.connected;
    wait_until(Duration::from_secs_f64(args.common.drain), || steady.delivered_total() >= expected).await;
    let _ = tokio::time::timeout(Duration::from_secs_f64(args.dwell + 10.0), async {
        while churn.join_next().await.is_some() {}
    })
    .await;
    watch.abort();
    bar.finish_and_clear();
    let window_secs = started.elapsed().as_secs_f64();
    let after = run.sample();
    report.server_metrics = run.scrape().await;
    shut_down(&stop, tasks).await;

    let delivered = steady.delivered_total();
    report.delivery = Some(steady.delivery(expected, delivered, in_window, publish_secs));
    report.latency_ms = Some(steady.latency.summary());
    report.churn = Some(ChurnFigures {
        joins_attempted: counters.attempted.load(Relaxed),
        joins_ok: counters.ok.load(Relaxed),
        joins_failed: counters.failed.load(Relaxed),
        leaves: counters.left.load(Relaxed),
        join_latency_ms: counters.join_latency.summary(),
        join_errors: counters.errors.lock().unwrap_or_else(|e| e.into_inner()).clone(),
    });
    let all_deliveries = delivered + churn_tally.delivered_total();
    report.server = run.server_figures(None, before, after, window_secs, Some(all_deliveries), None);
    report.publish = Some(stats);
    report.outcomes.extend(steady.outcomes());
    Ok(report)
}
