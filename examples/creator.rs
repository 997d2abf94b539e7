//! A creator that starts its room, comments a few times, and ends the LIVE. If the connection
//! drops meanwhile, it reconnects after a jittered back-off and rejoins its room with `since`.
//!
//! ```sh
//! cargo run --example creator -- ws://127.0.0.1:8080/ws show-1 "$(stagehand token --user cara --role creator)"
//! ```

mod common;

use stagehand::client::{Auth, Client};
use stagehand_protocol::server::{Control, ReplyResult, ServerMessage};
use stagehand_protocol::types::Billboard;
use stagehand_protocol::{Command, Wire};
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(room), Some(token)) = (args.next(), args.next(), args.next()) else {
        anyhow::bail!("usage: creator <ws-url> <room> <token> [seconds-live]");
    };
    let live_for: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let mut room = common::Room::new(room);
    let (mut started, mut second) = (false, 0);
    common::reconnecting(async |backoff| {
        let mut client = Client::connect(&url, Wire::Json, Auth::Frame(token.clone())).await?;
        if started {
            room.join(&mut client).await?;
        } else {
            let start =
                Command::StartRoom { room: room.name.clone(), title: Some("Spring collection".into()), event_id: None };
            let reply = client.request(start).await?;
            let Some(ReplyResult::Snapshot(snapshot)) = reply.result else {
                anyhow::bail!("start refused: {:?}", reply.error);
            };
            room.started(&snapshot);
            started = true;
            println!("{} is live for {live_for} s", room.name);
            let billboard = Billboard {
                billboard_id: "spring".into(),
                title: "20% off everything".into(),
                text: Some("today only".into()),
                image_url: None,
                link_url: None,
                duration_ms: None,
                expires_at: None,
            };
            let reply = client.request(Command::DeployBillboard { room: room.name.clone(), billboard }).await?;
            anyhow::ensure!(reply.ok, "billboard refused: {:?}", reply.error);
        }
        backoff.reset();
        while second < live_for {
            second += 1;
            if second % 3 == 1 {
                let comment = Command::Comment { room: room.name.clone(), text: format!("Welcome! ({second})") };
                let reply = client.request(comment).await?;
                if !reply.ok {
                    println!("comment refused: {:?}", reply.error);
                }
            }
            // Print what arrives for a second (staff joining, notifications…).
            while let Ok(message) = tokio::time::timeout(Duration::from_secs(1), client.next()).await {
                match message? {
                    ServerMessage::Event(e) if room.observe(&e) => println!("[{}] {}", e.seq, e.body.name()),
                    ServerMessage::Control(Control::Notification(n)) => println!("notification: {} {}", n.kind, n.data),
                    _ => {}
                }
            }
        }
        let reply = client.request(Command::EndRoom { room: room.name.clone() }).await?;
        anyhow::ensure!(reply.ok, "end refused: {:?}", reply.error);
        println!("{} ended", room.name);
        Ok(())
    })
    .await
}
