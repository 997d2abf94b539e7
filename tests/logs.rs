//! Tokens and API keys never appear in the hub's logs, at any log level: the real binary logs at
//! `trace` while tokens arrive in the header, in `connect` and `refresh` frames and in the URL
//! query (never read), good and bad, and wrong and right API keys reach the HTTP API. Nor do a
//! refused token's claim values: the refusal is logged with a stable reason code.

mod common;

use common::{claims, now_secs, API_KEY, SECRET};
use stagehand::auth::TokenKeys;
use stagehand::client::{Auth, Client};
use stagehand_protocol::types::Role;
use stagehand_protocol::{Command, Wire};
use std::io::{BufRead, BufReader};
use std::process::{Command as Process, Stdio};
use std::sync::{Arc, Mutex};

/// The real binary, logging JSON at `level` (`None`: the default), and everything it logs after
/// its address.
fn start_hub(level: Option<&str>) -> (std::process::Child, String, Arc<Mutex<String>>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = Process::new(env!("CARGO_BIN_EXE_stagehand"));
    hub.args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .arg("--data-dir")
        .arg(dir.path())
        .env("STAGEHAND_JWT_SECRET", SECRET)
        .env("STAGEHAND_API_KEY", API_KEY)
        .env_remove("STAGEHAND_LOG")
        .stdout(Stdio::piped());
    if let Some(level) = level {
        hub.env("STAGEHAND_LOG", level);
    }
    let mut child = hub.spawn().expect("the stagehand binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the hub logs its address").unwrap();
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if let Some(addr) = entry["fields"]["addr"].as_str() {
            break addr.to_string();
        }
    };
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    (child, addr, log, dir)
}

/// At the default level (`info`) nothing below it is logged, the WebSocket library's per-frame
/// messages included.
#[tokio::test]
async fn the_default_level_logs_nothing_below_info() {
    let (mut child, addr, log, _dir) = start_hub(None);
    let token = TokenKeys::new(SECRET, 0).sign(&claims("quiet", Role::Viewer, now_secs() + 3600)).unwrap();
    let client = Client::connect(&format!("ws://{addr}/ws"), Wire::Json, Auth::Header(token)).await.unwrap();
    client.close().await;
    unsafe_sigterm(child.id());
    child.wait().unwrap();
    let log = log.lock().unwrap();
    for line in log.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).expect("JSON lines");
        let level = entry["level"].as_str().unwrap_or_default();
        assert!(["INFO", "WARN", "ERROR"].contains(&level), "logged below info: {line}");
    }
}

#[tokio::test]
async fn no_token_or_api_key_is_ever_logged() {
    let (mut child, addr, log, _dir) = start_hub(Some("trace"));
    let keys = TokenKeys::new(SECRET, 0);
    let good = keys.sign(&claims("logged", Role::Viewer, now_secs() + 3600)).unwrap();
    let renewed = keys.sign(&claims("logged", Role::Viewer, now_secs() + 7200)).unwrap();
    let forged = TokenKeys::new("not-the-secret", 0).sign(&claims("logged", Role::Viewer, now_secs() + 3600)).unwrap();
    let expired = keys.sign(&claims("logged", Role::Viewer, now_secs() - 3600)).unwrap();
    // Claims of the wrong type, signed with the right key: the JWT library's error text quotes
    // them; the hub logs a reason code instead.
    let sign_raw = |claims: serde_json::Value| {
        let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
    };
    let exp = now_secs() + 3600;
    let odd_role = sign_raw(serde_json::json!({"sub": "logged", "name": "n", "role": "LEAKY-ROLE-VALUE", "exp": exp}));
    let odd_exp =
        sign_raw(serde_json::json!({"sub": "logged", "name": "n", "role": "viewer", "exp": "LEAKY-EXP-VALUE"}));
    let odd_sub = sign_raw(serde_json::json!({"sub": ["LEAKY-SUB-VALUE"], "name": "n", "role": "viewer", "exp": exp}));
    let ws = format!("ws://{addr}/ws");
    let mut by_header = Client::connect(&ws, Wire::Json, Auth::Header(good.clone())).await.unwrap();
    by_header.request(Command::Refresh { token: renewed.clone() }).await.unwrap();
    by_header.request(Command::Refresh { token: forged.clone() }).await.unwrap();
    Client::connect(&ws, Wire::MsgPack, Auth::Frame(good.clone())).await.unwrap();
    for bad in [&forged, &expired, &odd_role, &odd_exp, &odd_sub] {
        assert!(Client::connect(&ws, Wire::Json, Auth::Frame(bad.clone())).await.is_err());
        assert!(Client::connect(&ws, Wire::Json, Auth::Header(bad.clone())).await.is_err());
    }
    let query = format!("{ws}?token={good}");
    let _in_query = Client::connect(&query, Wire::Json, Auth::None).await.unwrap();
    let http = reqwest::Client::new();
    for key in ["wrong-key-1234567890", API_KEY] {
        http.get(format!("http://{addr}/api/v1/grants")).bearer_auth(key).send().await.unwrap();
    }

    // Every line the hub wrote about all that is in the log before it stops.
    unsafe_sigterm(child.id());
    child.wait().unwrap();
    let log = log.lock().unwrap();
    assert!(log.contains("token refused"), "the refusals were logged:\n{log}");
    assert!(!log.contains("LEAKY"), "a claim value is in the log:\n{log}");
    assert!(log.contains("bad_claims") && log.contains("bad_signature"), "reason codes are logged:\n{log}");
    for secret in [&good, &renewed, &forged, &expired, &odd_role, &odd_exp, &odd_sub] {
        let signature = secret.rsplit('.').next().unwrap();
        assert!(!log.contains(signature), "a token is in the log");
        let payload = secret.split('.').nth(1).unwrap();
        let line = log.lines().find(|l| l.contains(payload));
        assert!(line.is_none(), "a token's claims are in the log: {line:?}");
    }
    assert!(!log.contains("wrong-key-1234567890") && !log.contains(API_KEY), "an API key is in the log");
}

/// SIGTERM through `kill`, so the hub shuts down gracefully and flushes its log.
fn unsafe_sigterm(pid: u32) {
    let status = Process::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(status.success());
}
