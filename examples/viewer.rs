//! A viewer that joins a room and prints what happens in it.
//!
//! ```sh
//! cargo run --example viewer -- ws://127.0.0.1:8080/ws show-1 "$(stagehand token --user vic)"
//! ```

use stagehand::client::{Auth, Client};
use stagehand_protocol::server::{Control, EventBody, ReplyResult, ServerMessage};
use stagehand_protocol::{Command, Wire};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(room), Some(token)) = (args.next(), args.next(), args.next()) else {
        anyhow::bail!("usage: viewer <ws-url> <room> <token>");
    };
    let mut client = Client::connect(&url, Wire::MsgPack, Auth::Header(token)).await?;
    let reply = client.request(Command::Join { room: room.clone(), since: None }).await?;
    match reply.result {
        Some(ReplyResult::Snapshot(s)) => println!(
            "joined {} — {:?}, \"{}\" by {}, {} watching, seq {}",
            s.room, s.state, s.title, s.creator.name, s.viewer_count, s.seq
        ),
        _ => anyhow::bail!("join refused: {:?}", reply.error),
    }
    loop {
        let message = match client.next().await {
            Ok(message) => message,
            Err(stagehand::client::ClientError::Timeout) => continue,
            Err(error) => {
                println!("connection ended: {error}");
                return Ok(());
            }
        };
        match message {
            ServerMessage::Event(event) => {
                let line = match &event.body {
                    EventBody::Comment { author, text, .. } => format!("{}: {text}", author.name),
                    EventBody::Order { buyer, product_name, quantity, .. } => {
                        format!("🛒 {buyer} bought {quantity} × {product_name}")
                    }
                    EventBody::Billboard { action, billboard, .. } => {
                        format!("billboard {action:?}: {}", billboard.title)
                    }
                    EventBody::ViewerCount { count } => format!("{count} watching"),
                    EventBody::RoomEnded { .. } => {
                        println!("[{}] the LIVE ended", event.seq);
                        return Ok(());
                    }
                    other => format!("{other:?}"),
                };
                println!("[{}] {line}", event.seq);
            }
            ServerMessage::Control(Control::Notification(n)) => println!("notification: {} {}", n.kind, n.data),
            ServerMessage::Control(_) => {}
        }
    }
}
