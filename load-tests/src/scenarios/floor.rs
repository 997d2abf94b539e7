//! `floor`: what one write per delivery costs this machine's kernel, with no server at all.
//!
//! Any WebSocket server has to make at least one socket write per viewer per event when events
//! are further apart than a batching window (at 10 events/s, each viewer gets one event per
//! 100 ms, so there is nothing to batch). This scenario makes exactly those writes and nothing
//! else: a plain thread, pinned to `--server-cpu` (the core the server under test gets), holds N
//! loopback TCP connections and, R times a second, writes one stamped `--event-bytes` record to
//! each with a blocking `write`. No WebSocket framing, no HTTP, no queues, no runtime. Receivers
//! in the load generator read the records and record publish → receive latency exactly as
//! `fanout` does.
//!
//! The writing thread's CPU time per delivery (`getrusage(RUSAGE_THREAD)`, user + system) and the
//! latency are the lower bounds that `fanout` at the same size and rate is compared against:
//! `compare --floor` prints them next to Stagehand's and nchan's.

use crate::metrics::{MachineCpu, ServerProc, Tally};
use crate::payload::{self, PUBLISHED};
use crate::progress::Progress;
use crate::publisher::PublishStats;
use crate::report::{Connections, Machine, Report, ServerFigures};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde::Serialize;
use std::io::Write;
use std::net::TcpStream as StdStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

#[derive(Debug, Clone, Args, Serialize)]
pub struct FloorArgs {
    /// Connections written to (the viewers of `fanout`).
    #[arg(long, default_value_t = 1000)]
    pub viewers: usize,
    /// Events per second; each is written once to every connection.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Length of the publish window, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Bytes per write (the size of an event as a viewer receives it).
    #[arg(long, default_value_t = 128)]
    pub event_bytes: usize,
    /// Pin the writing thread to this CPU: the one the server under test is given.
    #[arg(long)]
    pub server_cpu: Option<usize>,
    /// After the last write, wait at most this long for records still on their way.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
    /// Write the report as JSON to this file (`-` = stdout, instead of the summary).
    #[arg(long)]
    #[serde(skip)]
    pub json: Option<PathBuf>,
    /// A name for this run (`compare --floor` pairs it with the `fanout` run of the same label).
    #[arg(long)]
    pub label: Option<String>,
    /// No progress bars.
    #[arg(long, short)]
    #[serde(skip)]
    pub quiet: bool,
}

/// What the writing thread did over the publish window.
struct Written {
    events: u64,
    /// Writes that returned an error (the receiver went away).
    failed: u64,
    /// User + system CPU of the writing thread, and the system part.
    cpu: Duration,
    sys: Duration,
    secs: f64,
    /// The sockets, handed back so they stay open until the receivers have drained.
    streams: Vec<StdStream>,
}

pub async fn run(args: FloorArgs) -> Result<Report> {
    if !args.rate.is_finite() || args.rate <= 0.0 || args.duration <= 0.0 {
        bail!("floor needs --rate and --duration above 0");
    }
    // Both ends of every connection live in this process.
    let fds = crate::cli::nofile_limit();
    if 2 * args.viewers as u64 + 64 > fds {
        bail!(
            "{} connections need {} file descriptors here, and RLIMIT_NOFILE is {fds}",
            args.viewers,
            2 * args.viewers
        );
    }
    let started_at = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut report = Report {
        scenario: "floor".into(),
        target: "kernel".into(),
        label: args.label.clone(),
        started_at,
        machine: Machine::probe(),
        params: serde_json::to_value(&args).unwrap_or_default(),
        connections: Connections { attempted: args.viewers as u64, source_addrs: 1, ..Default::default() },
        ..Default::default()
    };
    let progress = Progress::new(args.quiet);

    let ramp = Instant::now();
    let (servers, clients) = connect_pairs(args.viewers, &progress).await?;
    report.connections.connected = clients.len() as u64;
    report.connections.ramp_secs = ramp.elapsed().as_secs_f64();

    let tally = Arc::new(Tally::new(1));
    let receivers: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(who, client)| tokio::spawn(receive(client, args.event_bytes, tally.clone(), who)))
        .collect();

    let me = ServerProc { pid: std::process::id() };
    let (before, machine_before) = (me.sample().ok(), MachineCpu::sample());
    let bar = progress.bar((args.rate * args.duration).round() as u64, "writing");
    let (done_tx, done_rx) = oneshot::channel();
    let writer_args = args.clone();
    let writer_bar = bar.clone();
    std::thread::Builder::new()
        .name("floor-writer".into())
        .spawn(move || {
            let _ = done_tx.send(write_all(servers, &writer_args, &writer_bar));
        })
        .context("starting the writing thread")?;
    let written = done_rx.await.map_err(|_| anyhow!("the writing thread died"))?;
    bar.finish_and_clear();
    let in_window = tally.delivered_total();
    let expected = written.events * report.connections.connected;
    super::wait_until(Duration::from_secs_f64(args.drain), || tally.delivered_total() >= expected).await;
    let window_secs = written.secs;
    let (after, machine_after) = (me.sample().ok(), MachineCpu::sample());
    let delivered = tally.delivered_total();
    drop(written.streams);
    for receiver in receivers {
        let _ = receiver.await;
    }

    report.publish = Some(PublishStats {
        attempted: written.events,
        accepted: written.events,
        secs: written.secs,
        rate: written.events as f64 / written.secs.max(1e-9),
        ..Default::default()
    });
    report.delivery = Some(tally.delivery(expected, delivered, in_window, written.secs));
    report.latency_ms = Some(tally.latency.summary());
    let cpu_secs = written.cpu.as_secs_f64();
    let process_cpu = match (before, after) {
        (Some(b), Some(a)) => Some(a.cpu.saturating_sub(b.cpu).as_secs_f64()),
        _ => None,
    };
    let machine = machine_before.zip(machine_after).map(|(b, a)| a.since(&b));
    report.server = Some(ServerFigures {
        pid: std::process::id(),
        cpu_secs,
        cpu_sys_secs: written.sys.as_secs_f64(),
        window_secs,
        cpu_utilization: cpu_secs / window_secs.max(1e-9),
        cpu_us_per_delivery: (delivered > 0).then(|| cpu_secs * 1e6 / delivered as f64),
        // The receivers: the rest of this process.
        loadgen_cpu_utilization: process_cpu.map(|p| (p - cpu_secs).max(0.0) / window_secs.max(1e-9)),
        other_processes_cpu_utilization: machine
            .zip(process_cpu)
            .map(|((processes, _), own)| (processes - own).max(0.0) / window_secs.max(1e-9)),
        interrupts_cpu_utilization: machine.map(|(_, irq)| irq / window_secs.max(1e-9)),
        ..Default::default()
    });
    if written.failed > 0 {
        report.outcomes.insert("write_failed".into(), written.failed);
    }
    report.outcomes.extend(tally.outcomes());
    Ok(report)
}

/// `n` connected loopback pairs: the accepted ends (blocking std sockets with `TCP_NODELAY`, for
/// the writing thread) and the connecting ends (for the receivers).
async fn connect_pairs(n: usize, progress: &Progress) -> Result<(Vec<StdStream>, Vec<TcpStream>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let bar = progress.bar(n as u64, "connecting");
    let (mut servers, mut clients) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (server, _) = accepted?;
        server.set_nodelay(true)?;
        let server = server.into_std()?;
        server.set_nonblocking(false)?;
        servers.push(server);
        clients.push(client?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok((servers, clients))
}

/// Read fixed-size records until the writer closes the connection, recording each stamp.
async fn receive(mut client: TcpStream, record_bytes: usize, tally: Arc<Tally>, who: usize) {
    let mut record = vec![0u8; record_bytes.max(1)];
    while client.read_exact(&mut record).await.is_ok() {
        match std::str::from_utf8(&record).ok().and_then(payload::parse) {
            Some(stamp) => tally.delivered(who, 0, payload::now_nanos().saturating_sub(stamp.nanos) / 1000),
            None => {
                tally.undecodable.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

/// The writing thread: R times a second, stamp one record and write it to every socket.
fn write_all(mut streams: Vec<StdStream>, args: &FloorArgs, bar: &indicatif::ProgressBar) -> Written {
    if let Some(cpu) = args.server_cpu {
        pin_this_thread(cpu);
    }
    let events = (args.rate * args.duration).round().max(1.0) as u64;
    let period = Duration::from_secs_f64(1.0 / args.rate);
    let mut failed = 0;
    let cpu_before = thread_cpu();
    let started = Instant::now();
    for index in 0..events {
        let due = started + period.mul_f64(index as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let record = payload::make(PUBLISHED, index, payload::now_nanos(), args.event_bytes);
        for stream in &mut streams {
            if stream.write_all(record.as_bytes()).is_err() {
                failed += 1;
            }
        }
        bar.inc(1);
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu_after = thread_cpu();
    Written {
        events,
        failed,
        cpu: cpu_after.0.saturating_sub(cpu_before.0),
        sys: cpu_after.1.saturating_sub(cpu_before.1),
        secs,
        streams,
    }
}

/// (user + system, system) CPU time of the calling thread.
fn thread_cpu() -> (Duration, Duration) {
    // SAFETY: an all-zero rusage is a valid value, and getrusage writes one through a valid pointer.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_THREAD reports on the calling thread.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let sys = time(usage.ru_stime);
    (time(usage.ru_utime) + sys, sys)
}

/// Run the calling thread on `cpu` only (the load generator itself may be `taskset` elsewhere).
fn pin_this_thread(cpu: usize) {
    // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET and sched_setaffinity(0 = this
    // thread) get a valid pointer and its size. Failure leaves the thread where it was.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!("floor: could not pin the writing thread to cpu {cpu}; it runs unpinned");
        }
    }
}
