//! Smoke tests of the harness itself: tiny runs of every scenario against the real `stagehand`
//! binary (and of `fanout` and `idle` against nginx + nchan, installed on first use), checking
//! that the harness connects, counts and reports. The figures are not asserted.
//!
//! The hub binary: `$STAGEHAND_BIN` if set, else `stagehand` next to this test's profile
//! directory (`<target>/<profile>/stagehand`). `cargo test --workspace` builds it before any test
//! runs (it is a bin target of a workspace member), so it is always fresh there; with
//! `cargo test -p stagehand-load` alone, run `cargo build -p stagehand` first. Building it from
//! inside the test (escargot) would rebuild the hub under a lock cargo already holds, and would
//! be slow on CI's two cores.

use stagehand_load::{Cli, Report};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "smoke-secret";
const API_KEY: &str = "smoke-key";

/// A server process that is killed when the test ends.
struct Server {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    /// SIGTERM first: nginx's master then stops its workers (SIGKILL would orphan them).
    fn drop(&mut self) {
        // SAFETY: signalling our own child by pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn stagehand_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("STAGEHAND_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("test binary path");
    // <target>/<profile>/deps/smoke-<hash> → <target>/<profile>/stagehand
    let bin = exe.parent().and_then(Path::parent).map(|p| p.join("stagehand")).expect("profile dir");
    assert!(
        bin.exists(),
        "{} not found: run `cargo test --workspace`, or `cargo build -p stagehand` first, or set STAGEHAND_BIN",
        bin.display()
    );
    bin
}

/// Wait until `addr` answers `GET path` with 200, for at most `timeout`.
async fn wait_healthy(addr: &str, path: &str, child: &mut Child, timeout: Duration) -> Result<(), String> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < timeout {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the server exited early: {status}"));
        }
        if let Ok(r) = client.get(format!("http://{addr}{path}")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("no answer on {addr} within {timeout:?}"))
}

async fn start_hub() -> Server {
    start_hub_with(&[]).await
}

/// The hub with `extra` command-line flags.
async fn start_hub_with(extra: &[&str]) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(stagehand_bin())
        .args(["serve", "--listen", &addr, "--jwt-secret", SECRET, "--api-key", API_KEY])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--comment-rate", "100", "--comment-burst", "100"])
        // Every load client connects from 127.0.0.1.
        .args(["--connection-rate", "1000000", "--connection-burst", "1000000"])
        .args(extra)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start stagehand");
    wait_healthy(&addr, "/healthz", &mut child, Duration::from_secs(20)).await.expect("the hub starts");
    Server { child, addr, _dir: dir }
}

/// nginx + nchan through `nchan/run-nchan.sh`, which installs `nginx-light` and
/// `libnginx-mod-nchan` with apt-get first when they are missing (Debian, as root: what CI runs
/// on), so the peer half of the comparison is exercised wherever the tests run.
async fn start_nchan() -> Server {
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("nchan/run-nchan.sh");
    let log = tempfile::NamedTempFile::new().expect("temp file");
    let mut child = Command::new(script)
        .arg(port.to_string())
        .arg("0")
        .stdout(Stdio::null())
        .stderr(log.reopen().expect("log file"))
        .spawn()
        .expect("start run-nchan.sh");
    let addr = format!("127.0.0.1:{port}");
    // An install from the package mirror can take a minute or two on a fresh machine.
    if let Err(why) = wait_healthy(&addr, "/healthz", &mut child, Duration::from_secs(300)).await {
        let _ = child.kill();
        panic!("nginx + nchan did not start: {why}\n{}", std::fs::read_to_string(log.path()).unwrap_or_default());
    }
    Server { child, addr, _dir: tempfile::tempdir().expect("temp dir") }
}

/// Run the harness with `args` (plus target flags and `--json`), returning the report and the
/// JSON it wrote.
async fn harness(server: &Server, target: &str, args: &[&str]) -> (Report, serde_json::Value) {
    let json = tempfile::NamedTempFile::new().expect("temp file");
    let pid = server.child.id().to_string();
    let json_path = json.path().to_str().expect("utf-8 path").to_owned();
    let mut argv = vec!["stagehand-load"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--target", target, "--addr", &server.addr, "--server-pid", &pid, "-q"]);
    argv.extend_from_slice(&["--jwt-secret", SECRET, "--api-key", API_KEY, "--json", &json_path]);
    let cli = <Cli as clap::Parser>::try_parse_from(argv).expect("valid command line");
    stagehand_load::cli::main_with(cli).await.expect("harness run");
    let text = std::fs::read_to_string(json.path()).expect("JSON report written");
    let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let report: Report = serde_json::from_value(value.clone()).expect("a report");
    (report, value)
}

fn assert_fanout(report: &Report, json: &serde_json::Value, viewers: u64, events: u64) {
    assert_eq!(report.connections.connected, viewers, "{}", report.summary());
    let publish = report.publish.as_ref().expect("publish section");
    assert_eq!(publish.accepted, events, "{}", report.summary());
    let delivery = report.delivery.as_ref().expect("delivery section");
    assert_eq!(delivery.expected, viewers * events);
    assert_eq!(delivery.delivered, viewers * events, "{}", report.summary());
    assert_eq!(delivery.lost, 0);
    assert_eq!(report.latency_ms.as_ref().expect("latency").count, viewers * events);
    let server = report.server.as_ref().expect("server section");
    assert!(server.cpu_us_per_delivery.is_some());
    for key in ["scenario", "target", "params", "connections", "publish", "delivery", "latency_ms", "server"] {
        assert!(json.get(key).is_some(), "JSON report lacks {key}");
    }
    for key in ["p50", "p90", "p99", "p999", "max"] {
        assert!(json["latency_ms"].get(key).is_some(), "JSON latency lacks {key}");
    }
}

fn assert_idle(report: &Report, json: &serde_json::Value, viewers: u64) {
    assert_eq!(report.connections.connected, viewers, "{}", report.summary());
    let server = report.server.as_ref().expect("server section");
    assert!(server.rss_per_connection_kib.is_some());
    assert!(server.rss_kib > 0);
    assert!(json["server"].get("rss_per_connection_kib").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_and_idle_against_the_hub() {
    let hub = start_hub().await;
    let (report, json) =
        harness(&hub, "stagehand", &["fanout", "--viewers", "20", "--rate", "20", "--duration", "1"]).await;
    assert_fanout(&report, &json, 20, 20);
    assert_eq!(report.delivery.as_ref().map(|d| d.seq_gaps), Some(0));

    let (report, json) =
        harness(&hub, "stagehand", &["idle", "--viewers", "10", "--settle", "0.2", "--hold", "0.3"]).await;
    assert_idle(&report, &json, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturation_two_rooms_and_json_wire_against_the_hub() {
    let hub = start_hub().await;
    let args = ["fanout", "--viewers", "10", "--rooms", "2", "--rate", "0", "--duration", "0.5", "--wire", "json"];
    let (report, _) = harness(&hub, "stagehand", &args).await;
    let delivery = report.delivery.as_ref().expect("delivery section");
    assert_eq!(report.connections.connected, 20);
    assert!(delivery.delivered > 0 && delivery.lost == 0, "{}", report.summary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_churn_and_reconnect_against_the_hub() {
    let hub = start_hub().await;
    let args = ["comments", "--viewers", "10", "--commenters", "2", "--rate", "10", "--duration", "1"];
    let (report, _) = harness(&hub, "stagehand", &args).await;
    let comments = report.comments.as_ref().expect("comments section");
    assert_eq!(comments.sent, 10, "{}", report.summary());
    assert_eq!(comments.accepted + comments.rate_limited + comments.refused.values().sum::<u64>(), 10);
    let delivery = report.delivery.as_ref().expect("delivery section");
    assert_eq!(delivery.delivered, comments.accepted * 10, "{}", report.summary());

    let args = ["churn", "--viewers", "10", "--join-rate", "10", "--dwell", "0.3", "--rate", "10", "--duration", "1"];
    let (report, _) = harness(&hub, "stagehand", &args).await;
    let churn = report.churn.as_ref().expect("churn section");
    assert_eq!((churn.joins_attempted, churn.joins_ok), (10, 10), "{}", report.summary());
    assert_eq!(report.delivery.as_ref().map(|d| d.lost), Some(0), "{}", report.summary());

    reconnect_storm_inside_the_history(&hub).await;
}

/// Every viewer drops for 0.5 s, well inside the room's history (1,000 events / 5 minutes; 20
/// events/s here), and rejoins with `since`: every join recovers and every missed event arrives,
/// once.
async fn reconnect_storm_inside_the_history(hub: &Server) {
    let args = [
        "reconnect-storm",
        "--viewers",
        "10",
        "--rate",
        "20",
        "--duration",
        "2",
        "--storm-at",
        "0.5",
        "--offline",
        "0.5",
    ];
    let (report, json) = harness(hub, "stagehand", &args).await;
    let r = report.recovery.as_ref().expect("recovery section");
    let summary = report.summary();
    assert_eq!((r.dropped, r.recovered, r.failed), (10, 10, 0), "{summary}");
    assert_eq!((r.recovered_joins, r.reset_joins), (10, 0), "{summary}");
    assert!(r.missed_in_history > 0, "the viewers were away while events were published: {summary}");
    assert_eq!((r.missed_out_of_history, r.missed_events), (0, r.missed_in_history), "{summary}");
    assert_eq!((r.replayed, r.missed_in_history_lost), (r.missed_in_history, 0), "{summary}");
    assert_eq!((r.gaps_after_recovery, r.duplicates), (0, 0), "{summary}");
    let delivery = report.delivery.as_ref().expect("delivery section");
    assert_eq!((delivery.delivered, delivery.lost), (delivery.expected, 0), "{summary}");
    for key in
        ["recovered_joins", "reset_joins", "missed_in_history", "missed_in_history_lost", "missed_out_of_history"]
    {
        assert!(json["recovery"].get(key).is_some(), "JSON recovery lacks {key}");
    }
}

/// A hub that keeps only 3 events of history, and viewers away for 1 s at 20 events/s: every
/// rejoin is a reset, and the events missed are reported as out of the history, not lost silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_storm_beyond_the_history_against_the_hub() {
    let hub = start_hub_with(&["--history-size", "3"]).await;
    let args = [
        "reconnect-storm",
        "--viewers",
        "10",
        "--rate",
        "20",
        "--duration",
        "2.5",
        "--storm-at",
        "0.5",
        "--offline",
        "1",
    ];
    let (report, _) = harness(&hub, "stagehand", &args).await;
    let r = report.recovery.as_ref().expect("recovery section");
    let summary = report.summary();
    assert_eq!((r.recovered, r.recovered_joins, r.reset_joins), (10, 0, 10), "{summary}");
    assert!(r.missed_out_of_history > 10 * 3, "{summary}");
    assert_eq!((r.missed_in_history, r.replayed, r.missed_events), (0, 0, r.missed_out_of_history), "{summary}");
    assert_eq!((r.gaps_after_recovery, r.duplicates), (0, 0), "{summary}");
    let delivery = report.delivery.as_ref().expect("delivery section");
    assert_eq!(delivery.delivered + r.missed_out_of_history, delivery.expected, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_and_idle_against_nchan() {
    let nchan = start_nchan().await;
    let (report, json) =
        harness(&nchan, "nchan", &["fanout", "--viewers", "20", "--rate", "20", "--duration", "1"]).await;
    assert_fanout(&report, &json, 20, 20);
    let (report, json) =
        harness(&nchan, "nchan", &["idle", "--viewers", "10", "--settle", "0.2", "--hold", "0.3"]).await;
    assert_idle(&report, &json, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floor_writes_once_per_delivery_and_reports_like_fanout() {
    let json = tempfile::NamedTempFile::new().expect("temp file");
    let json_path = json.path().to_str().expect("utf-8 path");
    let argv = [
        "stagehand-load",
        "floor",
        "--viewers",
        "20",
        "--rate",
        "20",
        "--duration",
        "1",
        "--server-cpu",
        "0",
        "--label",
        "cpu",
        "-q",
        "--json",
        json_path,
    ];
    let cli = <Cli as clap::Parser>::try_parse_from(argv).expect("valid command line");
    stagehand_load::cli::main_with(cli).await.expect("floor run");
    let report: Report =
        serde_json::from_str(&std::fs::read_to_string(json.path()).expect("report")).expect("a report");
    assert_eq!((report.scenario.as_str(), report.label.as_deref()), ("floor", Some("cpu")));
    assert_eq!(report.connections.connected, 20);
    let delivery = report.delivery.as_ref().expect("delivery section");
    assert_eq!((delivery.expected, delivery.delivered, delivery.undecodable), (400, 400, 0), "{}", report.summary());
    assert_eq!(report.latency_ms.as_ref().expect("latency").count, 400);
    let server = report.server.as_ref().expect("the writing thread's figures");
    assert!(server.cpu_us_per_delivery.is_some_and(|us| us > 0.0), "{}", report.summary());
}
