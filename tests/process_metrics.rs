//! `/metrics` about the hub process itself. A file of its own: it counts the process's open
//! descriptors, and other tests running in the same process would open and close theirs meanwhile.

mod common;

use common::*;
use stagehand_protocol::Wire;

/// The value of an unlabelled series in `/metrics` text.
fn series(metrics: &str, name: &str) -> i64 {
    let line =
        metrics.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name} in {metrics}"));
    line[name.len()..].trim().parse().unwrap_or_else(|_| panic!("a number in {line}"))
}

#[tokio::test]
async fn metrics_show_the_process_memory_and_descriptors() {
    let hub = start().await;
    let before = hub.metrics().await;
    assert!(series(&before, "stagehand_process_resident_memory_bytes") > 1 << 20, "{before}");
    assert!(series(&before, "stagehand_process_max_fds") > 0, "{before}");
    let mut viewers = Vec::new();
    for i in 0..20 {
        viewers.push(hub.viewer(Wire::MsgPack, &format!("v{i}")).await);
    }
    let after = hub.metrics().await;
    // Each connection is at least one descriptor (here two: the hub and the client share the process).
    let grown = series(&after, "stagehand_process_open_fds") - series(&before, "stagehand_process_open_fds");
    assert!(grown >= 20, "{grown} more descriptors for 20 connections");
}
