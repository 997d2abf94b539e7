//! What the harness counts and measures: a [`Tally`] that receivers update (deliveries per room,
//! latency in an HdrHistogram, seq gaps, replies and close codes), and [`ServerProc`], which reads
//! the server's CPU time and resident memory from `/proc` so that figures do not depend on how
//! fast the load generator is.

use anyhow::{anyhow, bail, Context, Result};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Highest latency the histograms hold, in microseconds (larger values are clamped to it).
const MAX_LATENCY_US: u64 = 300_000_000;
/// Receivers spread their latency samples over this many locks, so that one lock is rarely
/// contended even on a multi-threaded runtime.
const SHARDS: usize = 16;

/// A latency histogram in microseconds that many tasks record into.
pub struct Latency {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency { shards: (0..SHARDS).map(|_| Mutex::new(new_histogram())).collect() }
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("static histogram bounds are valid")
}

impl Latency {
    /// Record one sample for receiver `who` (any number; it picks the shard).
    pub fn record(&self, who: usize, micros: u64) {
        let mut shard = self.shards[who % SHARDS].lock().unwrap_or_else(|e| e.into_inner());
        shard.saturating_record(micros.max(1));
    }

    /// All shards merged.
    pub fn merged(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            // Same bounds on both sides, so adding cannot fail.
            let _ = all.add(&*shard);
        }
        all
    }

    pub fn summary(&self) -> LatencySummary {
        LatencySummary::of(&self.merged())
    }
}

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl LatencySummary {
    pub fn of(h: &Histogram<u64>) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        LatencySummary {
            count: h.len(),
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        }
    }
}

/// Shared counters for one group of receivers (e.g. all viewers of a run).
#[derive(Default)]
pub struct Tally {
    /// Stamped payloads received, per room index.
    delivered: Vec<AtomicU64>,
    /// Publish (or comment) → receive latency.
    pub latency: Latency,
    /// Events missing between two seqs one connection saw (Stagehand only).
    pub seq_gaps: AtomicU64,
    /// Events whose seq was not past the last one the connection saw (should be 0).
    pub duplicates: AtomicU64,
    /// Missed events replayed after a recovered rejoin (also counted as delivered).
    pub replayed: AtomicU64,
    /// Frames that were not understood.
    pub undecodable: AtomicU64,
    /// Replies with `ok: true`.
    pub replies_ok: AtomicU64,
    /// Failed replies by error code, and connection ends by close code / error kind.
    outcomes: Mutex<BTreeMap<String, u64>>,
}

impl Tally {
    pub fn new(rooms: usize) -> Tally {
        Tally { delivered: (0..rooms.max(1)).map(|_| AtomicU64::new(0)).collect(), ..Tally::default() }
    }

    /// One stamped payload arrived at receiver `who` in room `room`, `micros` after it was sent.
    pub fn delivered(&self, who: usize, room: usize, micros: u64) {
        self.delivered[room % self.delivered.len()].fetch_add(1, Ordering::Relaxed);
        self.latency.record(who, micros);
    }

    /// One missed event arrived after a recovered rejoin: delivered, but late by the outage, so
    /// it stays out of the latency histogram.
    pub fn replayed(&self, room: usize) {
        self.delivered[room % self.delivered.len()].fetch_add(1, Ordering::Relaxed);
        self.replayed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn delivered_in(&self, room: usize) -> u64 {
        self.delivered[room % self.delivered.len()].load(Ordering::Relaxed)
    }

    pub fn delivered_total(&self) -> u64 {
        self.delivered.iter().map(|d| d.load(Ordering::Relaxed)).sum()
    }

    /// The delivery figures of a run: `expected` against `delivered`, with this tally's seq gaps
    /// and undecodable frames; `in_window` deliveries over `window_secs` give the rate.
    pub fn delivery(&self, expected: u64, delivered: u64, in_window: u64, window_secs: f64) -> crate::report::Delivery {
        let mut delivery = crate::report::Delivery::new(expected, delivered, in_window, window_secs);
        delivery.seq_gaps = self.seq_gaps.load(Ordering::Relaxed);
        delivery.undecodable = self.undecodable.load(Ordering::Relaxed);
        delivery
    }

    /// Count one named outcome (`rate_limited`, `close_4008`, `reset`…).
    pub fn outcome(&self, name: &str) {
        let mut outcomes = self.outcomes.lock().unwrap_or_else(|e| e.into_inner());
        *outcomes.entry(name.to_owned()).or_default() += 1;
    }

    pub fn outcomes(&self) -> BTreeMap<String, u64> {
        self.outcomes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The server's process (and its descendants: nginx's workers), read from `/proc`.
#[derive(Debug, Clone)]
pub struct ServerProc {
    pub pid: u32,
}

/// CPU time and resident memory of the server at one instant.
#[derive(Debug, Clone, Copy)]
pub struct ProcSample {
    /// User + system.
    pub cpu: Duration,
    /// System (kernel) part of `cpu`: syscalls, and for loopback TCP most of the receive path too.
    pub sys: Duration,
    pub rss_kib: u64,
}

impl ServerProc {
    /// The process with `pid`, or the one listening on `port` on this machine.
    pub fn locate(pid: Option<u32>, port: u16) -> Option<ServerProc> {
        pid.or_else(|| find_listener_pid(port)).map(|pid| ServerProc { pid })
    }

    /// The pid and every descendant's.
    pub fn pids(&self) -> Vec<u32> {
        let mut all = vec![self.pid];
        let parents = parent_map();
        let mut i = 0;
        while i < all.len() {
            let parent = all[i];
            all.extend(parents.iter().filter(|(_, p)| *p == parent).map(|(c, _)| *c));
            i += 1;
        }
        all
    }

    /// Summed user + system CPU time and VmRSS over the process tree.
    pub fn sample(&self) -> Result<ProcSample> {
        let tick = clock_tick();
        let (mut ticks, mut sys_ticks) = (0, 0);
        let mut rss_kib = 0;
        for pid in self.pids() {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
            let status = std::fs::read_to_string(format!("/proc/{pid}/status"));
            match (stat, status) {
                (Ok(stat), Ok(status)) => {
                    let (user, sys) = cpu_ticks(&stat)?;
                    ticks += user + sys;
                    sys_ticks += sys;
                    rss_kib += vm_rss_kib(&status)?;
                }
                // A child that exited in between: it no longer costs anything.
                _ if pid != self.pid => {}
                (Err(e), _) | (_, Err(e)) => return Err(e).with_context(|| format!("reading /proc/{pid}")),
            }
        }
        let secs = |t: u64| Duration::from_secs_f64(t as f64 / tick);
        Ok(ProcSample { cpu: secs(ticks), sys: secs(sys_ticks), rss_kib })
    }
}

/// `(utime, stime)` in clock ticks from a `/proc/<pid>/stat` line.
fn cpu_ticks(stat: &str) -> Result<(u64, u64)> {
    // The command name (field 2) is in parentheses and may hold spaces; fields after it are plain.
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).ok_or_else(|| anyhow!("odd /proc stat line"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let field = |n: usize| -> Result<u64> {
        fields.get(n - 3).and_then(|v| v.parse().ok()).ok_or_else(|| anyhow!("no field {n} in /proc stat"))
    };
    Ok((field(14)?, field(15)?))
}

fn vm_rss_kib(status: &str) -> Result<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).ok_or_else(|| anyhow!("no VmRSS (a zombie?)"))?;
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).ok_or_else(|| anyhow!("odd VmRSS line: {line}"))
}

fn clock_tick() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if tick > 0 {
        tick as f64
    } else {
        100.0
    }
}

/// The whole machine's CPU time from the first line of `/proc/stat`, summed over all CPUs.
#[derive(Debug, Clone, Copy)]
pub struct MachineCpu {
    /// user + nice + system: time processes ran.
    pub processes: Duration,
    /// irq + softirq: kernel work not charged to any process (loopback TCP delivery is mostly
    /// softirq, so part of both servers' and the load generator's cost lands here).
    pub interrupts: Duration,
}

impl MachineCpu {
    pub fn sample() -> Option<MachineCpu> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().next()?.strip_prefix("cpu ")?;
        let f: Vec<u64> = line.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        let secs = |t: u64| Duration::from_secs_f64(t as f64 / clock_tick());
        // user nice system idle iowait irq softirq steal …
        Some(MachineCpu {
            processes: secs(f.first()? + f.get(1)? + f.get(2)?),
            interrupts: secs(f.get(5)? + f.get(6)?),
        })
    }

    /// (process seconds, interrupt seconds) from `before` to this sample.
    pub fn since(&self, before: &MachineCpu) -> (f64, f64) {
        (
            self.processes.saturating_sub(before.processes).as_secs_f64(),
            self.interrupts.saturating_sub(before.interrupts).as_secs_f64(),
        )
    }
}

/// pid → parent pid for every process.
fn parent_map() -> Vec<(u32, u32)> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
        Some((pid, ppid))
    })
    .collect()
}

/// The pid of the process with a socket listening on `port`, from `/proc/net/tcp{,6}` and the
/// processes' fd tables (needs the same user or root).
pub fn find_listener_pid(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port =
                f.get(1).and_then(|a| a.rsplit_once(':')).and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            // State 0A is LISTEN.
            if local_port == Some(port) && f.get(3) == Some(&"0A") {
                inodes.extend(f.get(9).map(|i| format!("socket:[{i}]")));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|pid: &u32| {
            let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
            fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                .any(|link| inodes.iter().any(|i| link.as_os_str() == i.as_str()))
        })
        .collect();
    // nginx's master and worker both hold the socket: the lowest pid is the master.
    pids.sort_unstable();
    pids.first().copied()
}

/// Selected gauges from a Prometheus text page: every sample whose name contains one of `wanted`,
/// keyed by the full series (name and labels).
pub fn parse_prometheus(text: &str, wanted: &[&str]) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let name = series.split('{').next()?;
            if name.ends_with("_bucket") || !wanted.iter().any(|w| name.contains(w)) {
                return None;
            }
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// Fetch `/metrics` and keep the series that say something about connections, memory, drops and
/// recovery (`recovered_joins`, `unrecovered_joins`).
pub async fn scrape(client: &reqwest::Client, url: &str) -> Result<BTreeMap<String, f64>> {
    let response = client.get(url).send().await.with_context(|| format!("GET {url}"))?;
    if !response.status().is_success() {
        bail!("GET {url}: {}", response.status());
    }
    let text = response.text().await?;
    Ok(parse_prometheus(
        &text,
        &["connections", "resident_memory", "dropped", "slow", "rooms", "members", "deliveries", "recovered_joins"],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_and_rss_of_this_process() {
        let me = ServerProc { pid: std::process::id() };
        let s = me.sample().unwrap();
        assert!(s.rss_kib > 100);
        assert!(cpu_ticks("1 (a b) S 0 0 0 0 0 0 0 0 0 0 7 5 0 0").unwrap() == (7, 5));
    }

    #[test]
    fn finds_the_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(find_listener_pid(port), Some(std::process::id()));
    }

    #[test]
    fn parses_prometheus_text() {
        let text = "# HELP x\nstagehand_connections{role=\"viewer\"} 12\nstagehand_x_bucket{le=\"1\"} 3\nother 1\n";
        let got = parse_prometheus(text, &["connections"]);
        assert_eq!(got.get("stagehand_connections{role=\"viewer\"}"), Some(&12.0));
        assert_eq!(got.len(), 1);
    }

    #[test]
    fn tally_counts_per_room_and_latency() {
        let t = Tally::new(2);
        t.delivered(0, 0, 1000);
        t.delivered(1, 1, 3000);
        t.delivered(2, 1, 2000);
        assert_eq!((t.delivered_in(0), t.delivered_in(1), t.delivered_total()), (1, 2, 3));
        let s = t.latency.summary();
        assert_eq!(s.count, 3);
        assert!((s.max - 3.0).abs() < 0.01);
    }
}
