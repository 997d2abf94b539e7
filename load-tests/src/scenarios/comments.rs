//! `comments` (Stagehand only): K viewers post comments at C comments/s in total through the
//! hub's moderation pipeline while N other viewers watch. Measures accepted, rate-limited and
//! refused comments, and comment → watcher latency and loss.

use super::{short_error, shut_down, wait_until, watch_deliveries, Ready, Run};
use crate::cli::CommonArgs;
use crate::client::{self, PumpCtx, PumpEnd};
use crate::metrics::Tally;
use crate::payload;
use crate::report::{CommentFigures, Report};
use crate::target::TargetKind;
use anyhow::{anyhow, bail, Result};
use clap::Args;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use stagehand_protocol::codec::encode;
use stagehand_protocol::{ClientMessage, Command};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Args, Serialize)]
pub struct CommentsArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: CommonArgs,
    /// Watching viewers.
    #[arg(long, default_value_t = 1000)]
    pub viewers: usize,
    /// Commenting viewers (also members of the room).
    #[arg(long, default_value_t = 10)]
    pub commenters: usize,
    /// Comments per second, all commenters together.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Seconds of commenting.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
}

pub async fn run(args: CommentsArgs) -> Result<Report> {
    if args.common.target.target != TargetKind::Stagehand {
        bail!("the comments scenario needs --target stagehand");
    }
    let total = args.viewers + args.commenters;
    let run = Arc::new(Run::new(&args.common, total, 1)?);
    let mut report = run.report("comments", &args);
    let stop = CancellationToken::new();
    let go = CancellationToken::new();
    let creator = run.start_rooms(&stop).await?;

    let watchers = Arc::new(Tally::new(1));
    let commenters = Arc::new(Tally::new(1));
    let sent = Arc::new(AtomicU64::new(0));
    let joined = Arc::new(AtomicU64::new(0));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let mut tasks = run.spawn_viewers(0..args.viewers, &watchers, &stop, &ready_tx);
    tasks.extend(creator);
    let per_commenter = args.rate / args.commenters.max(1) as f64;
    for k in 0..args.commenters {
        let plan = Plan { k, of: args.commenters, rate: per_commenter, duration: args.duration };
        let counters = Counters { sent: sent.clone(), joined: joined.clone() };
        tasks.push(spawn_commenter(&run, plan, commenters.clone(), counters, &go, &stop, &ready_tx));
    }
    let ramp = run.ramp_up(&mut report, &mut ready_rx, total, &stop, &mut tasks).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let before = run.sample();
    let started = Instant::now();
    go.cancel();
    let bar = run.progress.bar(args.duration.ceil() as u64, "commenting");
    let watch = watch_deliveries(&bar, &watchers);
    while started.elapsed().as_secs_f64() < args.duration {
        tokio::time::sleep(Duration::from_millis(250)).await;
        bar.set_position(started.elapsed().as_secs());
    }
    let comment_secs = started.elapsed().as_secs_f64();
    // Replies to the last comments are on their way: wait for them, then for the deliveries.
    wait_until(Duration::from_secs(2), || {
        commenters.replies_ok.load(Relaxed) + commenters.outcomes().values().sum::<u64>() >= sent.load(Relaxed)
    })
    .await;
    let watching = ramp.connected - joined.load(Relaxed);
    let in_window = watchers.delivered_total();
    let expected = || commenters.replies_ok.load(Relaxed) * watching;
    wait_until(Duration::from_secs_f64(args.common.drain), || watchers.delivered_total() >= expected()).await;
    watch.abort();
    bar.finish_and_clear();
    let window_secs = started.elapsed().as_secs_f64();
    let after = run.sample();
    report.server_metrics = run.scrape().await;
    shut_down(&stop, tasks).await;

    let delivered = watchers.delivered_total();
    report.delivery = Some(watchers.delivery(expected(), delivered, in_window, comment_secs));
    report.latency_ms = Some(watchers.latency.summary());
    let mut refused = commenters.outcomes();
    let rate_limited = refused.remove("rate_limited").unwrap_or(0);
    let sent = sent.load(Relaxed);
    report.comments = Some(CommentFigures {
        commenters: args.commenters as u64,
        sent,
        accepted: commenters.replies_ok.load(Relaxed),
        rate_limited,
        refused,
        sent_per_sec: sent as f64 / comment_secs,
    });
    report.server = run.server_figures(None, before, after, window_secs, Some(delivered), None);
    report.outcomes.extend(watchers.outcomes());
    Ok(report)
}

/// Commenter `k` of `of` posts `rate` comments/s for `duration` seconds.
struct Plan {
    k: usize,
    of: usize,
    rate: f64,
    duration: f64,
}

/// What commenters count together.
struct Counters {
    sent: Arc<AtomicU64>,
    joined: Arc<AtomicU64>,
}

/// A commenter: joins, reads in a task of its own (replies go to `tally`), and once `go` is
/// cancelled posts stamped comments at its rate, offset so that commenters do not post in step.
fn spawn_commenter(
    run: &Arc<Run>,
    plan: Plan,
    tally: Arc<Tally>,
    counters: Counters,
    go: &CancellationToken,
    stop: &CancellationToken,
    ready: &mpsc::UnboundedSender<Ready>,
) -> JoinHandle<PumpEnd> {
    let (run, go, stop, ready) = (run.clone(), go.clone(), stop.clone(), ready.clone());
    tokio::spawn(async move {
        let n = 1_000_000 + plan.k;
        let room = run.rooms[0].clone();
        let (ws, seq) = match run.connector.join(n, &room, &format!("commenter-{}", plan.k)).await {
            Ok(joined) => joined,
            Err(e) => {
                let _ = ready.send(Ready { room: 0, result: Err(short_error(&e)) });
                return PumpEnd { last_seq: 0, ended_by: Some("connect_failed".into()) };
            }
        };
        counters.joined.fetch_add(1, Relaxed);
        let _ = ready.send(Ready { room: 0, result: Ok(()) });
        let (mut sink, mut stream) = ws.split();
        let ctx = PumpCtx { kind: run.target.kind, wire: run.target.wire, tally, who: n, room: 0, replay_until: 0 };
        let reader_stop = stop.clone();
        let reader = tokio::spawn(async move { client::pump(&mut stream, &ctx, seq, &reader_stop).await });
        tokio::select! {
            _ = go.cancelled() => {}
            _ = stop.cancelled() => {}
        }
        let period = Duration::from_secs_f64(1.0 / plan.rate.max(1e-3));
        tokio::time::sleep(period.mul_f64(plan.k as f64 / plan.of.max(1) as f64)).await;
        let mut ticker = tokio::time::interval(period);
        let count = (plan.rate * plan.duration).round() as u64;
        for i in 0..count {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.cancelled() => break,
            }
            let text = format!("{} great stream #{i}", payload::make(payload::COMMENT, i, payload::now_nanos(), 0));
            let message = ClientMessage::new(i + 100, Command::Comment { room: room.clone(), text });
            let sent_ok = match encode(run.target.wire, &message) {
                Ok(bytes) => sink.send(client::frame(run.target.wire, bytes)).await.map_err(|e| anyhow!(e)),
                Err(e) => Err(anyhow!(e)),
            };
            if sent_ok.is_err() {
                break;
            }
            counters.sent.fetch_add(1, Relaxed);
        }
        stop.cancelled().await;
        reader.await.unwrap_or_default()
    })
}
