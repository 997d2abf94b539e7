//! A creator that starts its room, comments a few times, and ends the LIVE.
//!
//! ```sh
//! cargo run --example creator -- ws://127.0.0.1:8080/ws show-1 "$(stagehand token --user cara --role creator)"
//! ```

use stagehand::client::{Auth, Client};
use stagehand_protocol::server::{Control, ServerMessage};
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
    let mut client = Client::connect(&url, Wire::Json, Auth::Frame(token)).await?;
    let reply =
        client.request(Command::StartRoom { room: room.clone(), title: Some("Spring collection".into()) }).await?;
    anyhow::ensure!(reply.ok, "start refused: {:?}", reply.error);
    println!("{room} is live for {live_for} s");
    let billboard = Billboard {
        billboard_id: "spring".into(),
        title: "20% off everything".into(),
        text: Some("today only".into()),
        image_url: None,
        link_url: None,
    };
    let reply = client.request(Command::DeployBillboard { room: room.clone(), billboard }).await?;
    anyhow::ensure!(reply.ok, "billboard refused: {:?}", reply.error);
    for i in 1..=live_for {
        if i % 3 == 1 {
            let reply =
                client.request(Command::Comment { room: room.clone(), text: format!("Welcome! ({i})") }).await?;
            if !reply.ok {
                println!("comment refused: {:?}", reply.error);
            }
        }
        // Print what arrived meanwhile (staff joining, notifications…), without blocking long.
        while let Ok(Ok(message)) = tokio::time::timeout(Duration::from_millis(1000), client.next()).await {
            match message {
                ServerMessage::Event(e) => println!("[{}] {}", e.seq, e.body.name()),
                ServerMessage::Control(Control::Notification(n)) => println!("notification: {} {}", n.kind, n.data),
                ServerMessage::Control(_) => {}
            }
        }
    }
    let reply = client.request(Command::EndRoom { room: room.clone() }).await?;
    anyhow::ensure!(reply.ok, "end refused: {:?}", reply.error);
    println!("{room} ended");
    Ok(())
}
