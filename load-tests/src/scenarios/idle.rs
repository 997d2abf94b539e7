//! `idle`: N viewers connect (and, on Stagehand, join a room) and then do nothing. Measures the
//! server's resident memory per connection: VmRSS after the ramp and a hold, minus VmRSS before
//! the first viewer connected, divided by the connections; and the CPU idle connections cost.

use super::{shut_down, Run};
use crate::cli::CommonArgs;
use crate::metrics::Tally;
use crate::report::Report;
use anyhow::{bail, Result};
use clap::Args;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Args, Serialize)]
pub struct IdleArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: CommonArgs,
    /// Idle viewers (in total).
    #[arg(long, default_value_t = 1000)]
    pub viewers: usize,
    /// Rooms the viewers are spread over.
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// Seconds between the last join and the measurement (lets allocators settle).
    #[arg(long, default_value_t = 3.0)]
    pub settle: f64,
    /// Seconds the connections are then held idle while the server's CPU is measured.
    #[arg(long, default_value_t = 5.0)]
    pub hold: f64,
}

pub async fn run(args: IdleArgs) -> Result<Report> {
    let run = Arc::new(Run::new(&args.common, args.viewers, args.rooms)?);
    if run.server.is_none() {
        bail!(
            "idle measures the server's memory: give --server-pid (no process found listening on {})",
            run.target.addr
        );
    }
    let mut report = run.report("idle", &args);
    let stop = CancellationToken::new();
    let creator = run.start_rooms(&stop).await?;
    // The baseline includes the rooms and their creator: only viewers are measured.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = run.sample();

    let tally = Arc::new(Tally::new(args.rooms));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let mut tasks = run.spawn_viewers(0..args.viewers, &tally, &stop, &ready_tx);
    tasks.extend(creator);
    let ramp = run.ramp_up(&mut report, &mut ready_rx, args.viewers, &stop, &mut tasks).await?;
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;

    let before = run.sample();
    let started = Instant::now();
    let bar = run.progress.bar(args.hold.ceil() as u64, "holding");
    while started.elapsed().as_secs_f64() < args.hold {
        tokio::time::sleep(Duration::from_millis(250)).await;
        bar.set_position(started.elapsed().as_secs());
    }
    bar.finish_and_clear();
    let after = run.sample();
    report.server_metrics = run.scrape().await;
    shut_down(&stop, tasks).await;

    let window = started.elapsed().as_secs_f64();
    report.server = run.server_figures(baseline, before, after, window, None, Some(ramp.connected));
    report.outcomes.extend(tally.outcomes());
    Ok(report)
}
