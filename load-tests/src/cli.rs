//! The command line: one subcommand per scenario plus `compare`, and [`run`], which the binary
//! and the tests both call.

use crate::report::{self, Report};
use crate::scenarios::{churn, comments, fanout, floor, idle, reconnect};
use crate::target::TargetArgs;
use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::path::PathBuf;

/// Load harness for Stagehand, and nchan side by side. Every run stops by itself and only talks
/// to loopback addresses.
#[derive(Debug, Parser)]
#[command(name = "stagehand-load", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Scenario,
}

#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// N viewers per room in M rooms, the backend publishing at R events/s per room.
    Fanout(fanout::FanoutArgs),
    /// K viewers commenting at C comments/s in total while N others watch (Stagehand only).
    Comments(comments::CommentsArgs),
    /// Viewers joining and leaving at J/s while the room broadcasts (Stagehand only).
    Churn(churn::ChurnArgs),
    /// All viewers drop at once and reconnect, rejoin and catch up (Stagehand only).
    ReconnectStorm(reconnect::ReconnectArgs),
    /// N idle viewers: the server's resident memory per connection.
    Idle(idle::IdleArgs),
    /// No server: one plain write per connection per event, the kernel's cost that any server
    /// pays at the same size and rate (the lower bound for `fanout`).
    Floor(floor::FloorArgs),
    /// Print Stagehand and nchan reports (from `--json`) side by side with their ratios.
    Compare(CompareArgs),
}

/// Flags every scenario takes.
#[derive(Debug, Clone, Args, Serialize)]
pub struct CommonArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub target: TargetArgs,
    /// Pid of the server process; its descendants count too (nginx's workers). Without it, the
    /// process listening on --addr's port is looked up in /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// WebSocket handshakes in flight at once (keeps the server's listen backlog from overflowing).
    #[arg(long, default_value_t = 100)]
    pub handshake_concurrency: usize,
    /// Spread client source addresses over 127.0.0.1..=127.0.0.N. 0 = one per 8,000 connections.
    #[arg(long, default_value_t = 0)]
    pub source_addrs: u8,
    /// Give up on connections not joined after this many seconds.
    #[arg(long, default_value_t = 120.0)]
    pub connect_timeout: f64,
    /// After publishing stops, wait at most this long for deliveries still on their way.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
    /// Write the report as JSON to this file (`-` = stdout, instead of the summary).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// A name for this run, kept in the report (`compare` pairs runs by scenario and label).
    #[arg(long)]
    pub label: Option<String>,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Stagehand reports.
    #[arg(long, num_args = 1.., required = true)]
    pub stagehand: Vec<PathBuf>,
    /// nchan reports.
    #[arg(long, num_args = 1.., required = true)]
    pub nchan: Vec<PathBuf>,
    /// `floor` reports, shown beside the `fanout` runs of the same label.
    #[arg(long, num_args = 1..)]
    pub floor: Vec<PathBuf>,
}

impl Scenario {
    /// Where `--json` asked the report to go.
    fn json(&self) -> Option<&PathBuf> {
        match self {
            Scenario::Fanout(a) => a.common.json.as_ref(),
            Scenario::Comments(a) => a.common.json.as_ref(),
            Scenario::Churn(a) => a.common.json.as_ref(),
            Scenario::ReconnectStorm(a) => a.common.json.as_ref(),
            Scenario::Idle(a) => a.common.json.as_ref(),
            Scenario::Floor(a) => a.json.as_ref(),
            Scenario::Compare(_) => None,
        }
    }
}

/// Run the command and return its report (`None` for `compare`, which prints a table).
pub async fn run(cli: Cli) -> Result<Option<Report>> {
    let report = match cli.command {
        Scenario::Fanout(args) => fanout::run(args).await?,
        Scenario::Comments(args) => comments::run(args).await?,
        Scenario::Churn(args) => churn::run(args).await?,
        Scenario::ReconnectStorm(args) => reconnect::run(args).await?,
        Scenario::Idle(args) => idle::run(args).await?,
        Scenario::Floor(args) => floor::run(args).await?,
        Scenario::Compare(args) => {
            let hub = report::load(&args.stagehand)?;
            let peer = report::load(&args.nchan)?;
            let floor = report::load(&args.floor)?;
            print!("{}", report::compare(&hub, &peer, &floor));
            return Ok(None);
        }
    };
    Ok(Some(report))
}

/// Parse, run, print the summary and write `--json`; the binary's whole job.
pub async fn main_with(cli: Cli) -> Result<()> {
    let json = cli.command.json().cloned();
    let Some(report) = run(cli).await? else { return Ok(()) };
    match &json {
        Some(path) if path.as_os_str() == "-" => {}
        _ => print!("{}", report.summary()),
    }
    if let Some(path) = json {
        report.write_json(&path)?;
    }
    Ok(())
}

/// Raise `RLIMIT_NOFILE` as far as allowed: every connection is a file descriptor. The hard
/// limit goes up to `fs.nr_open` only with CAP_SYS_RESOURCE (root outside a container); otherwise
/// the soft limit goes up to the hard one. Returns the new soft limit.
pub fn raise_nofile_limit() -> u64 {
    let wanted: libc::rlim_t =
        std::fs::read_to_string("/proc/sys/fs/nr_open").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(1 << 20);
    let raise_to = |limit: libc::rlim_t| {
        let raised = libc::rlimit { rlim_cur: limit, rlim_max: limit };
        // SAFETY: setting this process's limit through a valid pointer.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 }
    };
    if !raise_to(wanted) {
        raise_to(hard_nofile_limit());
    }
    nofile_limit()
}

/// The soft `RLIMIT_NOFILE`.
pub fn nofile_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: reading this process's limit into a valid pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    limit.rlim_cur
}

fn hard_nofile_limit() -> libc::rlim_t {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: reading this process's limit into a valid pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    limit.rlim_max
}
