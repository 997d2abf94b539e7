//! The operations side seen from outside: `/metrics` families, `/readyz`, and shutdown's drain.

mod common;

use common::*;

/// Prometheus users expect every family, with each known label value, before its first
/// increment: a fresh hub shows them all at 0.
#[tokio::test]
async fn a_fresh_hub_shows_every_metric_family_at_zero() {
    let hub = start().await;
    let metrics = hub.metrics().await;
    let mut expected: Vec<String> = ["creator", "viewer", "agency"]
        .iter()
        .map(|role| format!("stagehand_connections{{role=\"{role}\"}} 0"))
        .collect();
    for code in stagehand_protocol::ErrorCode::ALL {
        expected.push(format!("stagehand_errors_total{{code=\"{}\"}} 0", code.as_str()));
    }
    for limit in ["comment", "operation"] {
        expected.push(format!("stagehand_rate_limited_total{{limit=\"{limit}\"}} 0"));
    }
    // Every request type (one test vector each) and the two backend event types.
    let vectors = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol/vectors");
    let mut types: Vec<String> = vec!["order".into(), "activity".into()];
    for entry in std::fs::read_dir(vectors).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("client_") && name.ends_with(".json") {
            let request: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            types.push(request["type"].as_str().unwrap().to_string());
        }
    }
    assert!(types.len() > 20, "{types:?}");
    for kind in types {
        expected.push(format!("stagehand_events_in_total{{type=\"{kind}\"}} 0"));
    }
    for series in ["stagehand_slow_consumer_closes_total 0", "stagehand_invalid_frames_total 0"] {
        expected.push(series.into());
    }
    let missing: Vec<&String> = expected.iter().filter(|line| !metrics.lines().any(|l| l == line.as_str())).collect();
    assert!(missing.is_empty(), "missing {missing:?} in\n{metrics}");
}
