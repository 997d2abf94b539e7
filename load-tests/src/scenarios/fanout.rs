//! `fanout`: N viewers in each of M rooms, the backend publishing R events/s to every room (or,
//! with `--rate 0`, as fast as the viewers keep up). Measures delivered events/s, loss,
//! publish → receive latency, and the server's CPU per delivery over the publish window.

use super::{shut_down, wait_until, watch_deliveries, Run};
use crate::cli::CommonArgs;
use crate::metrics::Tally;
use crate::publisher::Publisher;
use crate::report::Report;
use anyhow::Result;
use clap::Args;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Args, Serialize)]
pub struct FanoutArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: CommonArgs,
    /// Viewers per room.
    #[arg(long, default_value_t = 1000)]
    pub viewers: usize,
    /// Rooms (each with --viewers viewers).
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// Events per second published to each room; 0 = closed loop: publish as fast as the
    /// viewers receive (saturation).
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Closed loop: events per room that may be on their way at once (below the hub's
    /// per-connection queue, 256 by default, so that nothing is dropped as slow).
    #[arg(long, default_value_t = 64)]
    pub window: u64,
    /// Closed loop: publish requests per room in flight at once.
    #[arg(long, default_value_t = 8)]
    pub pipeline: usize,
    /// Length of the publish window, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Size of each event as a viewer receives it, bytes.
    #[arg(long, default_value_t = 128)]
    pub event_bytes: usize,
    /// Publish requests in flight at once (fixed rate).
    #[arg(long, default_value_t = 256)]
    pub max_in_flight: usize,
    /// Seconds to wait between the last join and the first publish.
    #[arg(long, default_value_t = 1.0)]
    pub settle: f64,
}

pub async fn run(args: FanoutArgs) -> Result<Report> {
    let total = args.viewers * args.rooms;
    let run = Arc::new(Run::new(&args.common, total, args.rooms)?);
    let mut report = run.report("fanout", &args);
    let stop = CancellationToken::new();
    let creator = run.start_rooms(&stop).await?;

    let tally = Arc::new(Tally::new(args.rooms));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let mut tasks = run.spawn_viewers(0..total, &tally, &stop, &ready_tx);
    tasks.extend(creator);
    let ramp = run.ramp_up(&mut report, &mut ready_rx, total, &stop, &mut tasks).await?;
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;

    let publisher = Arc::new(Publisher::new(run.target.clone(), run.rooms.clone(), args.event_bytes)?);
    let duration = Duration::from_secs_f64(args.duration);
    let before = run.sample();
    let started = Instant::now();
    let stats = if args.rate > 0.0 {
        let bar = run.progress.bar((args.rate * args.duration).round() as u64, "publishing");
        let watch = watch_deliveries(&bar, &tally);
        let stats = publisher.run_fixed(args.rate, duration, args.max_in_flight, &bar).await;
        watch.abort();
        bar.finish_and_clear();
        stats
    } else {
        let bar = run.progress.bar(args.duration.ceil() as u64, "saturating");
        let watch = watch_deliveries(&bar, &tally);
        let stats = publisher.run_closed(duration, args.window, args.pipeline, &ramp.per_room, &tally, &bar).await;
        watch.abort();
        bar.finish_and_clear();
        stats
    };
    let publish_secs = started.elapsed().as_secs_f64();
    let in_window = tally.delivered_total();
    let expected: u64 = stats.accepted_per_room.iter().zip(&ramp.per_room).map(|(a, v)| a * v).sum();
    wait_until(Duration::from_secs_f64(args.common.drain), || tally.delivered_total() >= expected).await;
    let window_secs = started.elapsed().as_secs_f64();
    let after = run.sample();
    let delivered = tally.delivered_total();
    report.server_metrics = run.scrape().await;
    shut_down(&stop, tasks).await;

    report.delivery = Some(tally.delivery(expected, delivered, in_window, publish_secs));
    report.latency_ms = Some(tally.latency.summary());
    report.server = run.server_figures(None, before, after, window_secs, Some(delivered), None);
    report.publish = Some(stats);
    report.outcomes.extend(tally.outcomes());
    Ok(report)
}
