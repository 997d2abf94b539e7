//! The scenarios, one module each, and the pieces they share: [`Run`] (the target, the connector,
//! the server's process, progress bars, room names), starting Stagehand rooms with a creator
//! connection, and ramping up viewers that pump into a [`Tally`].

pub mod churn;
pub mod comments;
pub mod fanout;
pub mod floor;
pub mod idle;
pub mod reconnect;

use crate::cli::CommonArgs;
use crate::client::{self, Connector, PumpCtx, PumpEnd, Ws};
use crate::metrics::{self, MachineCpu, ProcSample, ServerProc, Tally};
use crate::progress::Progress;
use crate::report::{Connections, Machine, Report, ServerFigures};
use crate::target::{Target, TargetKind};
use anyhow::{anyhow, bail, Result};
use serde::Serialize;
use stagehand_protocol::types::Role;
use stagehand_protocol::Command;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Shared state of one scenario run.
pub struct Run {
    pub target: Arc<Target>,
    pub connector: Arc<Connector>,
    /// The server's process, when it could be found (`--server-pid` or the listening port).
    pub server: Option<ServerProc>,
    pub progress: Progress,
    pub http: reqwest::Client,
    /// Room names, unique to this run so that no earlier run's buffered events get in.
    pub rooms: Vec<String>,
    pub common: CommonArgs,
    pub started_at: u64,
    pub source_addrs: u8,
}

/// The server's and the load generator's `/proc` figures at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Samples {
    pub server: ProcSample,
    pub loadgen: Option<ProcSample>,
    pub machine: Option<MachineCpu>,
    pub at: Instant,
}

/// A viewer finished connecting (or failed to) in room number `room`.
pub struct Ready {
    pub room: usize,
    pub result: Result<(), String>,
}

/// How a ramp-up went.
#[derive(Debug, Default)]
pub struct Ramp {
    pub connected: u64,
    pub failed: u64,
    pub per_room: Vec<u64>,
    pub errors: BTreeMap<String, u64>,
    pub secs: f64,
}

impl Run {
    /// `connections` sizes the source-address spread; `rooms` rooms are named for this run.
    pub fn new(common: &CommonArgs, connections: usize, rooms: usize) -> Result<Run> {
        let fds = crate::cli::nofile_limit();
        if connections as u64 + 64 > fds {
            bail!(
                "{connections} connections need as many file descriptors, and RLIMIT_NOFILE is {fds}: \
                 raise it (ulimit -n; the hard limit needs root) or split the load over several processes"
            );
        }
        let target = Arc::new(Target::new(&common.target)?);
        let source_addrs = Connector::auto_sources(common.source_addrs, connections);
        let connector = Arc::new(Connector::new(target.clone(), source_addrs, common.handshake_concurrency));
        let started_at = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let tag = format!("{started_at}-{}", std::process::id());
        Ok(Run {
            server: ServerProc::locate(common.server_pid, target.addr.port()),
            target,
            connector,
            progress: Progress::new(common.quiet),
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
            rooms: (0..rooms.max(1)).map(|r| format!("load-{tag}-{r}")).collect(),
            common: common.clone(),
            started_at,
            source_addrs,
        })
    }

    /// A report with the fields every scenario fills.
    pub fn report(&self, scenario: &str, params: &impl Serialize) -> Report {
        Report {
            scenario: scenario.into(),
            target: self.target.kind.as_str().into(),
            label: self.common.label.clone(),
            started_at: self.started_at,
            machine: Machine::probe(),
            params: serde_json::to_value(params).unwrap_or_default(),
            connections: Connections { source_addrs: self.source_addrs, ..Default::default() },
            ..Default::default()
        }
    }

    /// Stagehand: connect as the rooms' creator, `start_room` each room, and keep reading that
    /// connection until `stop`, then `end_room` them so that runs do not pile up live rooms in
    /// the hub. nchan: nothing (channels exist on first use).
    pub async fn start_rooms(&self, stop: &CancellationToken) -> Result<Option<JoinHandle<PumpEnd>>> {
        if self.target.kind != TargetKind::Stagehand {
            return Ok(None);
        }
        let token = self.target.token(Role::Creator, "load-creator")?;
        let mut ws = self.connector.open(0, "", Some(&token)).await.map_err(|e| anyhow!("creator connect: {e:#}"))?;
        let wire = self.target.wire;
        client::wait_welcome(&mut ws, wire).await?;
        for (i, room) in self.rooms.iter().enumerate() {
            let start =
                Command::StartRoom { room: room.clone(), title: Some(format!("load test {room}")), event_id: None };
            match client::request(&mut ws, wire, i as u64 + 1, start).await? {
                Ok(_) => {}
                Err(code) if code == "conflict" => {} // already live
                Err(code) => bail!("start_room {room} refused: {code}"),
            }
        }
        let ctx = PumpCtx {
            kind: self.target.kind,
            wire,
            tally: Arc::new(Tally::new(1)),
            who: usize::MAX,
            room: 0,
            replay_until: 0,
        };
        let (rooms, stop) = (self.rooms.clone(), stop.clone());
        Ok(Some(tokio::spawn(async move {
            let end = client::pump(&mut ws, &ctx, 0, &stop).await;
            let end_all = async {
                for (i, room) in rooms.into_iter().enumerate() {
                    let id = 1_000_000 + i as u64;
                    if !matches!(client::request(&mut ws, wire, id, Command::EndRoom { room }).await, Ok(Ok(_))) {
                        break;
                    }
                }
                let _ = ws.close(None).await;
            };
            let _ = tokio::time::timeout(Duration::from_secs(3), end_all).await;
            end
        })))
    }

    /// Keep reading `ws` in a task until `stop`.
    pub fn spawn_pump(
        &self,
        mut ws: Ws,
        tally: Arc<Tally>,
        who: usize,
        room: usize,
        start_seq: u64,
        stop: &CancellationToken,
    ) -> JoinHandle<PumpEnd> {
        let ctx = PumpCtx { kind: self.target.kind, wire: self.target.wire, tally, who, room, replay_until: 0 };
        let stop = stop.clone();
        tokio::spawn(async move { client::pump(&mut ws, &ctx, start_seq, &stop).await })
    }

    /// Spawn viewers `range` (viewer i goes to room i mod rooms): each joins, says so on `ready`,
    /// then pumps into `tally` until `stop`.
    pub fn spawn_viewers(
        self: &Arc<Self>,
        range: std::ops::Range<usize>,
        tally: &Arc<Tally>,
        stop: &CancellationToken,
        ready: &mpsc::UnboundedSender<Ready>,
    ) -> Vec<JoinHandle<PumpEnd>> {
        range
            .map(|i| {
                let (run, tally, stop, ready) = (self.clone(), tally.clone(), stop.clone(), ready.clone());
                tokio::spawn(async move {
                    let room = i % run.rooms.len();
                    let sub = format!("viewer-{i}");
                    let joined = tokio::select! {
                        joined = run.connector.join(i, &run.rooms[room], &sub) => joined,
                        _ = stop.cancelled() => Err(anyhow!("stopped before joining")),
                    };
                    match joined {
                        Ok((mut ws, seq)) => {
                            let _ = ready.send(Ready { room, result: Ok(()) });
                            let ctx = PumpCtx {
                                kind: run.target.kind,
                                wire: run.target.wire,
                                tally,
                                who: i,
                                room,
                                replay_until: 0,
                            };
                            client::pump(&mut ws, &ctx, seq, &stop).await
                        }
                        Err(e) => {
                            let _ = ready.send(Ready { room, result: Err(short_error(&e)) });
                            PumpEnd { last_seq: 0, ended_by: Some("connect_failed".into()) }
                        }
                    }
                })
            })
            .collect()
    }

    /// Wait for the first `count` viewers to join and record the ramp in `report`. When none
    /// could join, stop every task and give up: no scenario can measure anything then.
    pub async fn ramp_up(
        &self,
        report: &mut Report,
        rx: &mut mpsc::UnboundedReceiver<Ready>,
        count: usize,
        stop: &CancellationToken,
        tasks: &mut Vec<JoinHandle<PumpEnd>>,
    ) -> Result<Ramp> {
        let ramp = self.wait_ready(rx, count, "connecting").await;
        record_ramp(report, &ramp, count);
        if ramp.connected == 0 {
            shut_down(stop, std::mem::take(tasks)).await;
            bail!("no viewer could join: {:?}", ramp.errors);
        }
        Ok(ramp)
    }

    /// Wait until `count` viewers said they are ready (or failed), with a progress bar.
    pub async fn wait_ready(&self, rx: &mut mpsc::UnboundedReceiver<Ready>, count: usize, what: &str) -> Ramp {
        let started = Instant::now();
        let bar = self.progress.bar(count as u64, what);
        let deadline = tokio::time::sleep(Duration::from_secs_f64(self.common.connect_timeout));
        tokio::pin!(deadline);
        let mut ramp = Ramp { per_room: vec![0; self.rooms.len()], ..Ramp::default() };
        while (ramp.connected + ramp.failed) < count as u64 {
            let ready = tokio::select! {
                ready = rx.recv() => ready,
                _ = &mut deadline => None,
            };
            let Some(ready) = ready else {
                *ramp.errors.entry("timed out waiting to connect".into()).or_default() +=
                    count as u64 - ramp.connected - ramp.failed;
                ramp.failed = count as u64 - ramp.connected;
                break;
            };
            match ready.result {
                Ok(()) => {
                    ramp.connected += 1;
                    ramp.per_room[ready.room] += 1;
                }
                Err(e) => {
                    ramp.failed += 1;
                    *ramp.errors.entry(e).or_default() += 1;
                }
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        ramp.secs = started.elapsed().as_secs_f64();
        ramp
    }

    /// The server's CPU and RSS now, if its process is known, with the load generator's own.
    pub fn sample(&self) -> Option<Samples> {
        let server = self.server.as_ref()?.sample().ok()?;
        let me = ServerProc { pid: std::process::id() }.sample().ok();
        Some(Samples { server, loadgen: me, machine: MachineCpu::sample(), at: Instant::now() })
    }

    /// The hub's `/metrics` highlights (empty for nchan or if unavailable).
    pub async fn scrape(&self) -> BTreeMap<String, f64> {
        if self.target.kind != TargetKind::Stagehand {
            return BTreeMap::new();
        }
        metrics::scrape(&self.http, &self.target.metrics_url()).await.unwrap_or_default()
    }

    /// Server figures between two samples: CPU per delivery if `deliveries`, RSS per connection
    /// if `connections` (against `baseline`).
    pub fn server_figures(
        &self,
        baseline: Option<Samples>,
        before: Option<Samples>,
        after: Option<Samples>,
        window_secs: f64,
        deliveries: Option<u64>,
        connections: Option<u64>,
    ) -> Option<ServerFigures> {
        let (server, before, after) = (self.server.as_ref()?, before?, after?);
        let baseline = baseline.unwrap_or(before).server;
        let cpu_secs = after.server.cpu.saturating_sub(before.server.cpu).as_secs_f64();
        let loadgen_cpu = match (before.loadgen, after.loadgen) {
            (Some(b), Some(a)) => Some(a.cpu.saturating_sub(b.cpu).as_secs_f64()),
            _ => None,
        };
        let sampled_secs = after.at.duration_since(before.at).as_secs_f64().max(1e-9);
        let machine = match (before.machine, after.machine) {
            (Some(b), Some(a)) => Some(a.since(&b)),
            _ => None,
        };
        let others =
            machine.map(|(processes, _)| ((processes - cpu_secs - loadgen_cpu.unwrap_or(0.0)) / sampled_secs).max(0.0));
        let after = after.server;
        Some(ServerFigures {
            pid: server.pid,
            cpu_secs,
            cpu_sys_secs: after.sys.saturating_sub(before.server.sys).as_secs_f64(),
            loadgen_cpu_utilization: loadgen_cpu.map(|c| c / sampled_secs),
            other_processes_cpu_utilization: others,
            interrupts_cpu_utilization: machine.map(|(_, irq)| irq / sampled_secs),
            window_secs,
            cpu_utilization: cpu_secs / window_secs.max(1e-9),
            cpu_us_per_delivery: deliveries.filter(|d| *d > 0).map(|d| cpu_secs * 1e6 / d as f64),
            rss_baseline_kib: baseline.rss_kib,
            rss_kib: after.rss_kib,
            rss_per_connection_kib: connections
                .filter(|c| *c > 0)
                .map(|c| after.rss_kib.saturating_sub(baseline.rss_kib) as f64 / c as f64),
        })
    }
}

/// Fill the report's connection section and outcomes from a ramp.
pub fn record_ramp(report: &mut Report, ramp: &Ramp, attempted: usize) {
    report.connections.attempted = attempted as u64;
    report.connections.connected = ramp.connected;
    report.connections.failed = ramp.failed;
    report.connections.ramp_secs = ramp.secs;
    for (error, n) in &ramp.errors {
        *report.outcomes.entry(format!("connect: {error}")).or_default() += n;
    }
}

/// Stop every task and wait for them, up to a few seconds.
pub async fn shut_down(stop: &CancellationToken, tasks: Vec<JoinHandle<PumpEnd>>) -> Vec<PumpEnd> {
    stop.cancel();
    let all = futures::future::join_all(tasks);
    match tokio::time::timeout(Duration::from_secs(10), all).await {
        Ok(ends) => ends.into_iter().filter_map(|e| e.ok()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Wait until `done()` or `timeout`, polling every few milliseconds.
pub async fn wait_until(timeout: Duration, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() && started.elapsed() < timeout {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// An error's first line, short enough to group by.
pub fn short_error(e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    let mut line: String = text.lines().next().unwrap_or("error").chars().take(80).collect();
    if line.is_empty() {
        line = "error".into();
    }
    line
}

/// Show deliveries and their rate in `bar`'s message until aborted.
pub fn watch_deliveries(bar: &indicatif::ProgressBar, tally: &Arc<Tally>) -> JoinHandle<()> {
    let (bar, tally) = (bar.clone(), tally.clone());
    tokio::spawn(async move {
        let mut last = (Instant::now(), tally.delivered_total());
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = (Instant::now(), tally.delivered_total());
            let rate = (now.1 - last.1) as f64 / now.0.duration_since(last.0).as_secs_f64().max(1e-9);
            bar.set_message(format!("delivered {} ({rate:.0}/s)", now.1));
            last = now;
        }
    })
}
