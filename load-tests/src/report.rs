//! The result of a run: one [`Report`] per scenario run, printed as a plain summary and written as
//! JSON (`--json`) for tracking figures over time; and the side-by-side table of two runs
//! (`compare`).

use crate::metrics::LatencySummary;
use crate::publisher::PublishStats;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Everything one scenario run measured. Sections a scenario does not use are absent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub target: String,
    /// Free text from `--label` (e.g. `saturate`), used by `compare` to pair runs.
    #[serde(default)]
    pub label: Option<String>,
    /// Unix seconds when the run started.
    pub started_at: u64,
    pub machine: Machine,
    /// The scenario's parameters as given.
    pub params: serde_json::Value,
    pub connections: Connections,
    #[serde(default)]
    pub publish: Option<PublishStats>,
    #[serde(default)]
    pub delivery: Option<Delivery>,
    /// Publish (or comment) → receive latency in milliseconds.
    #[serde(default)]
    pub latency_ms: Option<LatencySummary>,
    #[serde(default)]
    pub server: Option<ServerFigures>,
    #[serde(default)]
    pub comments: Option<CommentFigures>,
    #[serde(default)]
    pub churn: Option<ChurnFigures>,
    #[serde(default)]
    pub recovery: Option<RecoveryFigures>,
    /// Counted outcomes: error codes of failed replies, close codes, connection errors.
    #[serde(default)]
    pub outcomes: BTreeMap<String, u64>,
    /// Selected series of the hub's `/metrics` at the end of the run (Stagehand only).
    #[serde(default)]
    pub server_metrics: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    pub cpus_online: usize,
    /// CPUs the load generator may run on (after `taskset`).
    pub loadgen_cpus: usize,
    pub kernel: String,
}

impl Machine {
    pub fn probe() -> Machine {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned();
        // SAFETY: sysconf has no preconditions.
        let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
        let loadgen = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Machine { cpus_online: online, loadgen_cpus: loadgen, kernel }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Connections {
    pub attempted: u64,
    pub connected: u64,
    pub failed: u64,
    /// Time from the first connect to the last join.
    pub ramp_secs: f64,
    /// 127.0.0.x source addresses used (1 = the kernel's choice).
    pub source_addrs: u8,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Delivery {
    /// Accepted events × viewers in their room.
    pub expected: u64,
    pub delivered: u64,
    pub lost: u64,
    pub loss_ratio: f64,
    /// Deliveries during the publish window divided by its length.
    pub events_per_sec: f64,
    /// Events missing between consecutive seqs a connection saw (Stagehand).
    pub seq_gaps: u64,
    /// Frames that could not be read.
    pub undecodable: u64,
}

impl Delivery {
    pub fn new(expected: u64, delivered: u64, in_window: u64, window_secs: f64) -> Delivery {
        let lost = expected.saturating_sub(delivered);
        Delivery {
            expected,
            delivered,
            lost,
            loss_ratio: if expected == 0 { 0.0 } else { lost as f64 / expected as f64 },
            events_per_sec: in_window as f64 / window_secs.max(1e-9),
            seq_gaps: 0,
            undecodable: 0,
        }
    }
}

/// The server's own cost, from `/proc/<pid>` (summed over its process tree).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerFigures {
    pub pid: u32,
    /// CPU time (user + system) used during the measured window.
    pub cpu_secs: f64,
    /// The system (kernel) part of `cpu_secs`.
    #[serde(default)]
    pub cpu_sys_secs: f64,
    /// Length of the measured window.
    pub window_secs: f64,
    /// cpu_secs / window_secs (1.0 = one core busy).
    pub cpu_utilization: f64,
    /// cpu_secs / deliveries, in microseconds.
    #[serde(default)]
    pub cpu_us_per_delivery: Option<f64>,
    /// VmRSS before any measured connection was opened.
    pub rss_baseline_kib: u64,
    /// VmRSS at the end of the measured window.
    pub rss_kib: u64,
    /// (rss − baseline) / connections.
    #[serde(default)]
    pub rss_per_connection_kib: Option<f64>,
    /// The load generator's own CPU use over the same window (1.0 = one core busy): near the
    /// number of cores it was given means the figures above may be bound by it, not the server.
    #[serde(default)]
    pub loadgen_cpu_utilization: Option<f64>,
    /// CPU used by every other process on the machine over the window (cores). Above ~0.05 the
    /// run shared the machine (a build, another test) and its rates and latencies are suspect.
    #[serde(default)]
    pub other_processes_cpu_utilization: Option<f64>,
    /// irq + softirq time over the window (cores): kernel network work charged to no process.
    #[serde(default)]
    pub interrupts_cpu_utilization: Option<f64>,
}

/// Other processes' CPU (cores) above which a run is flagged as disturbed.
pub const DISTURBED: f64 = 0.05;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CommentFigures {
    pub commenters: u64,
    pub sent: u64,
    pub accepted: u64,
    pub rate_limited: u64,
    /// Other refusals, by error code.
    pub refused: BTreeMap<String, u64>,
    pub sent_per_sec: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChurnFigures {
    pub joins_attempted: u64,
    pub joins_ok: u64,
    pub joins_failed: u64,
    pub leaves: u64,
    /// Connect → snapshot, milliseconds.
    pub join_latency_ms: LatencySummary,
    pub join_errors: BTreeMap<String, u64>,
}

/// What a reconnect storm cost, and whether rejoining with `since` got every missed event back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RecoveryFigures {
    pub dropped: u64,
    /// Viewers that rejoined (with a snapshot), recovered or not.
    pub recovered: u64,
    pub failed: u64,
    /// From the drop until the last viewer had its snapshot.
    pub all_recovered_secs: f64,
    /// Drop → snapshot per viewer, milliseconds (includes `--offline`).
    pub recovery_ms: LatencySummary,
    /// Rejoins answered `recovered: true`: the gap was inside the room's history.
    pub recovered_joins: u64,
    /// Rejoins answered `recovered: false` (or without `recovered`): the gap fell out of it.
    pub reset_joins: u64,
    /// Σ (snapshot.seq − last seq seen before the drop) over every rejoin: the events missed
    /// while disconnected.
    pub missed_events: u64,
    /// The part of `missed_events` owed by recovered joins: the hub must replay all of them.
    pub missed_in_history: u64,
    /// Of `missed_in_history`, events that arrived after the snapshot (each counted once).
    pub replayed: u64,
    /// `missed_in_history − replayed`: missed events inside the history whose seq never arrived.
    /// Must be 0.
    pub missed_in_history_lost: u64,
    /// The part of `missed_events` behind reset joins: out of the history, never delivered; the
    /// client starts again from the snapshot.
    pub missed_out_of_history: u64,
    /// Seq gaps seen after recovery (should be 0).
    pub gaps_after_recovery: u64,
    /// Events received again after recovery (seq not past the last one seen; should be 0).
    pub duplicates: u64,
}

impl Report {
    /// The JSON form.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Write JSON to `path`, or to stdout when it is `-`.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let json = self.to_json()?;
        if path.as_os_str() == "-" {
            println!("{json}");
            Ok(())
        } else {
            std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))
        }
    }

    /// A plain, human summary.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let label = self.label.as_deref().map(|l| format!(" [{l}]")).unwrap_or_default();
        let _ = writeln!(out, "== {} against {}{label}", self.scenario, self.target);
        let c = &self.connections;
        let _ = writeln!(
            out,
            "connections   {}/{} connected, {} failed, ramp {:.1}s, {} source addr(s)",
            c.connected, c.attempted, c.failed, c.ramp_secs, c.source_addrs
        );
        if let Some(p) = &self.publish {
            let _ = writeln!(
                out,
                "publish       {} accepted, {} failed, {} skipped, {} stalls in {:.1}s ({:.1}/s)",
                p.accepted, p.failed, p.skipped, p.stalls, p.secs, p.rate
            );
        }
        if let Some(d) = &self.delivery {
            let _ = writeln!(
                out,
                "delivery      {}/{} delivered, lost {} ({:.4}%), {:.0} events/s, seq gaps {}",
                d.delivered,
                d.expected,
                d.lost,
                d.loss_ratio * 100.0,
                d.events_per_sec,
                d.seq_gaps
            );
        }
        if let Some(l) = &self.latency_ms {
            let _ = writeln!(
                out,
                "latency ms    p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  (n={})",
                l.p50, l.p90, l.p99, l.p999, l.max, l.count
            );
        }
        if let Some(s) = &self.server {
            let per_delivery = s.cpu_us_per_delivery.map(|v| format!(", {v:.2} µs/delivery")).unwrap_or_default();
            let per_conn = s.rss_per_connection_kib.map(|v| format!(", {v:.2} KiB/connection")).unwrap_or_default();
            let _ = writeln!(
                out,
                "server        pid {}: cpu {:.2}s ({:.2}s sys) in {:.1}s ({:.0}% of a core){per_delivery}; rss {} KiB (baseline {}){per_conn}",
                s.pid,
                s.cpu_secs,
                s.cpu_sys_secs,
                s.window_secs,
                s.cpu_utilization * 100.0,
                s.rss_kib,
                s.rss_baseline_kib
            );
        }
        if let Some(s) = &self.server {
            let pct = |v: Option<f64>| v.map(|v| format!("{:.0}%", v * 100.0)).unwrap_or_else(|| "?".into());
            let _ = writeln!(
                out,
                "machine       load generator {} of a core ({} core(s) available); irq+softirq {}; other processes {}",
                pct(s.loadgen_cpu_utilization),
                self.machine.loadgen_cpus,
                pct(s.interrupts_cpu_utilization),
                pct(s.other_processes_cpu_utilization),
            );
            if s.other_processes_cpu_utilization.is_some_and(|o| o > DISTURBED) {
                let _ = writeln!(
                    out,
                    "WARNING       other processes used CPU during the run: rates and latencies are suspect"
                );
            }
        }
        if let Some(k) = &self.comments {
            let _ = writeln!(
                out,
                "comments      {} commenters sent {} ({:.1}/s): {} accepted, {} rate-limited, refused {:?}",
                k.commenters, k.sent, k.sent_per_sec, k.accepted, k.rate_limited, k.refused
            );
        }
        if let Some(k) = &self.churn {
            let l = &k.join_latency_ms;
            let _ = writeln!(
                out,
                "churn         {} joins ({} ok, {} failed), {} leaves; join ms p50 {:.2} p99 {:.2} max {:.2}",
                k.joins_attempted, k.joins_ok, k.joins_failed, k.leaves, l.p50, l.p99, l.max
            );
        }
        if let Some(r) = &self.recovery {
            let l = &r.recovery_ms;
            let _ = writeln!(
                out,
                "recovery      {}/{} rejoined ({} failed) in {:.2}s; per viewer ms p50 {:.1} p99 {:.1}",
                r.recovered, r.dropped, r.failed, r.all_recovered_secs, l.p50, l.p99
            );
            let _ = writeln!(
                out,
                "  recovered   {} joins: {} missed events in history, {} replayed, {} never arrived",
                r.recovered_joins, r.missed_in_history, r.replayed, r.missed_in_history_lost
            );
            let _ = writeln!(
                out,
                "  reset       {} joins: {} missed events out of history; gaps after {}, duplicates {}",
                r.reset_joins, r.missed_out_of_history, r.gaps_after_recovery, r.duplicates
            );
        }
        if !self.outcomes.is_empty() {
            let _ = writeln!(out, "outcomes      {:?}", self.outcomes);
        }
        if !self.server_metrics.is_empty() {
            let _ = writeln!(out, "hub metrics   {:?}", self.server_metrics);
        }
        out
    }
}

/// One row of the side-by-side table: a figure of both runs and their ratio, oriented so that a
/// ratio above 1 always means Stagehand is better; and, for the costs a server cannot go below,
/// the `floor` run's figure.
struct Row {
    name: String,
    hub: Option<f64>,
    peer: Option<f64>,
    floor: Option<f64>,
    /// `Some(true)`: a cost; `Some(false)`: a rate; `None`: context, no ratio.
    lower_is_better: Option<bool>,
}

/// The side-by-side table of Stagehand and nchan runs, paired by scenario and label, with the
/// `floor` runs of the same label beside the `fanout` rows they bound. A scenario run several
/// times (`compare.sh` runs the light-load ones in rounds) shows each figure's median over its
/// runs: on a noisy machine one run of a few per cent is not a measurement.
pub fn compare<'a>(hub: &'a [Report], peer: &'a [Report], floor: &'a [Report]) -> String {
    let mut rows = Vec::new();
    let mut keys: Vec<(&str, Option<&str>)> = Vec::new();
    for h in hub {
        let key = (h.scenario.as_str(), h.label.as_deref());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut repeated = 1;
    for (scenario, label) in keys {
        let of = |reports: &'a [Report], wanted: &str| -> Vec<&'a Report> {
            reports.iter().filter(|r| r.scenario == wanted && r.label.as_deref() == label).collect()
        };
        let (hs, ps) = (of(hub, scenario), of(peer, scenario));
        if ps.is_empty() {
            continue;
        }
        let fs = if scenario == "fanout" { of(floor, "floor") } else { Vec::new() };
        repeated = repeated.max(hs.len()).max(ps.len()).max(fs.len());
        let tag = format!("{scenario}{}", label.map(|l| format!("/{l}")).unwrap_or_default());
        let mut row =
            |what: &str, get: &dyn Fn(&Report) -> Option<f64>, lower_is_better: Option<bool>, bounded: bool| {
                let floor = if bounded { median(&fs, get) } else { None };
                rows.push(Row {
                    name: format!("{tag}: {what}"),
                    hub: median(&hs, get),
                    peer: median(&ps, get),
                    floor,
                    lower_is_better,
                });
            };
        if scenario == "fanout" {
            row("server CPU µs/delivery", &|r| r.server.as_ref()?.cpu_us_per_delivery, Some(true), true);
            row("delivered events/s", &|r| r.delivery.as_ref().map(|d| d.events_per_sec), Some(false), false);
            row("server CPU utilization", &|r| r.server.as_ref().map(|s| s.cpu_utilization), None, true);
            row("load generator CPU utilization", &|r| r.server.as_ref()?.loadgen_cpu_utilization, None, true);
            row(
                "other processes' CPU (should be ~0)",
                &|r| r.server.as_ref()?.other_processes_cpu_utilization,
                None,
                true,
            );
            row("loss ratio", &|r| r.delivery.as_ref().map(|d| d.loss_ratio), Some(true), false);
            row("latency p50 ms", &|r| r.latency_ms.as_ref().map(|l| l.p50), Some(true), true);
            row("latency p99 ms", &|r| r.latency_ms.as_ref().map(|l| l.p99), Some(true), true);
            row("latency max ms", &|r| r.latency_ms.as_ref().map(|l| l.max), Some(true), true);
        }
        if scenario == "idle" {
            row("KiB per idle connection", &|r| r.server.as_ref()?.rss_per_connection_kib, Some(true), false);
            row("server CPU utilization", &|r| r.server.as_ref().map(|s| s.cpu_utilization), Some(true), false);
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<56} {:>11} {:>11} {:>7} {:>11} {:>9}",
        "figure", "stagehand", "nchan", "ratio*", "floor", "÷floor**"
    );
    let fmt = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
    for row in &rows {
        let ratio = match (row.hub, row.peer) {
            (Some(h), Some(p)) if h > 0.0 && p > 0.0 => match row.lower_is_better {
                Some(true) => format!("{:.2}×", p / h),
                Some(false) => format!("{:.2}×", h / p),
                None => "".into(),
            },
            _ => "-".into(),
        };
        let over_floor = match (row.hub, row.floor, row.lower_is_better) {
            (Some(h), Some(f), Some(true)) if f > 0.0 => format!("{:.2}×", h / f),
            _ => "".into(),
        };
        let floor = if row.floor.is_some() { fmt(row.floor) } else { "".into() };
        let _ = writeln!(
            out,
            "{:<56} {:>11} {:>11} {:>7} {:>11} {:>9}",
            row.name,
            fmt(row.hub),
            fmt(row.peer),
            ratio,
            floor,
            over_floor
        );
    }
    let _ =
        writeln!(out, "* ratio > 1 means Stagehand is better (nchan/stagehand for costs, stagehand/nchan for rates)");
    if !floor.is_empty() {
        let _ = writeln!(
            out,
            "** Stagehand's cost over the floor run (one plain write per delivery, no server); 1.00× is the kernel's cost"
        );
    }
    if repeated > 1 {
        let _ = writeln!(
            out,
            "*** figures of a scenario run more than once (up to {repeated} times) are medians over its runs"
        );
    }
    out
}

/// The median of a figure over the runs that have it (the mean of the middle two for an even
/// count).
fn median(reports: &[&Report], get: &dyn Fn(&Report) -> Option<f64>) -> Option<f64> {
    let mut values: Vec<f64> = reports.iter().filter_map(|r| get(r)).collect();
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[mid]),
        _ => Some((values[mid - 1] + values[mid]) / 2.0),
    }
}

/// Read reports written with `--json`.
pub fn load(paths: &[std::path::PathBuf]) -> Result<Vec<Report>> {
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fanout(target: &str, us: f64, rate: f64) -> Report {
        Report {
            scenario: "fanout".into(),
            target: target.into(),
            server: Some(ServerFigures { cpu_us_per_delivery: Some(us), ..Default::default() }),
            delivery: Some(Delivery::new(100, 100, 100, 1.0 / rate * 100.0)),
            ..Default::default()
        }
    }

    #[test]
    fn ratios_favour_stagehand_above_one() {
        let table = compare(&[fanout("stagehand", 4.0, 300.0)], &[fanout("nchan", 16.0, 100.0)], &[]);
        assert!(table.contains("4.00×"), "{table}");
        assert!(table.contains("3.00×"), "{table}");
        assert!(!table.contains("floor run"), "{table}");
    }

    #[test]
    fn floor_runs_sit_beside_the_fanout_run_of_their_label() {
        let labelled = |mut r: Report, scenario: &str, label: &str| {
            r.scenario = scenario.into();
            r.label = Some(label.into());
            r
        };
        let hub = [labelled(fanout("stagehand", 10.0, 300.0), "fanout", "cpu")];
        let peer = [labelled(fanout("nchan", 12.0, 100.0), "fanout", "cpu")];
        let floor = [
            labelled(fanout("kernel", 8.0, 100.0), "floor", "cpu"),
            labelled(fanout("kernel", 1.0, 1.0), "floor", "other"),
        ];
        let table = compare(&hub, &peer, &floor);
        let cpu_row = table.lines().find(|l| l.contains("µs/delivery")).expect("a CPU row");
        assert!(cpu_row.contains("8.000") && cpu_row.contains("1.25×"), "{table}");
        let rate_row = table.lines().find(|l| l.contains("delivered events/s")).expect("a rate row");
        assert!(!rate_row.contains("8.000"), "{table}");
    }

    #[test]
    fn a_scenario_run_in_rounds_shows_the_median_of_each_figure() {
        let cpu = |mut r: Report| {
            r.label = Some("cpu".into());
            r
        };
        let hub = [12.0, 30.0, 11.0].map(|us| cpu(fanout("stagehand", us, 100.0)));
        let peer = [14.0, 15.0].map(|us| cpu(fanout("nchan", us, 100.0)));
        let table = compare(&hub, &peer, &[]);
        let row = table.lines().find(|l| l.contains("µs/delivery")).expect("a CPU row");
        // Stagehand: median of 11, 12, 30; nchan: mean of the middle two, 14.5.
        assert!(row.contains("12.000") && row.contains("14.500"), "{table}");
        assert!(table.contains("up to 3 times"), "{table}");
        assert_eq!(table.lines().filter(|l| l.contains("µs/delivery")).count(), 1, "{table}");
    }

    #[test]
    fn json_round_trips() {
        let r = fanout("nchan", 1.0, 1.0);
        let back: Report = serde_json::from_str(&r.to_json().unwrap()).unwrap();
        assert_eq!(back.scenario, "fanout");
        assert!(r.summary().contains("fanout against nchan"));
    }
}
