//! A viewer that joins a room and prints what happens in it. When the connection drops, or the
//! hub closes it with a code that says to come back, it waits a jittered back-off, reconnects and
//! rejoins with `since`, and says whether the hub recovered the events it missed.
//!
//! ```sh
//! cargo run --example viewer -- ws://127.0.0.1:8080/ws show-1 "$(stagehand token --user vic)"
//! ```

mod common;

use stagehand::client::{Auth, Client, ClientError};
use stagehand_protocol::server::{Control, EventBody, ServerMessage};
use stagehand_protocol::Wire;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(room), Some(token)) = (args.next(), args.next(), args.next()) else {
        anyhow::bail!("usage: viewer <ws-url> <room> <token>");
    };
    let mut room = common::Room::new(room);
    common::reconnecting(async |backoff| {
        let mut client = Client::connect(&url, Wire::MsgPack, Auth::Header(token.clone())).await?;
        let s = room.join(&mut client).await?;
        backoff.reset();
        println!("{:?}, \"{}\" by {}, {} watching, seq {}", s.state, s.title, s.creator.name, s.viewer_count, s.seq);
        loop {
            let message = match client.next().await {
                Ok(message) => message,
                Err(ClientError::Timeout) => continue, // a quiet room
                Err(error) => return Err(error.into()),
            };
            match message {
                ServerMessage::Event(event) if room.observe(&event) => {
                    let line = match &event.body {
                        EventBody::Comment { author, text, .. } => format!("{}: {text}", author.name),
                        EventBody::Order { buyer, product_name, quantity, .. } => {
                            format!("🛒 {buyer} bought {quantity} × {product_name}")
                        }
                        EventBody::Billboard { action, billboard, .. } => {
                            format!("billboard {action:?}: {}", billboard.title)
                        }
                        EventBody::ViewerCount { count } => format!("{count} watching"),
                        EventBody::Activity { text, .. } => text.clone(),
                        EventBody::LikeCount { likes } => format!("♥ {likes}"),
                        EventBody::GiveawayStarted { giveaway, .. } => format!(
                            "🎁 giveaway: {} — comment \"{}\" to enter (commitment {})",
                            giveaway.prize, giveaway.keyword, giveaway.commitment
                        ),
                        EventBody::GiveawayEntries { entries, .. } => format!("🎁 {entries} entered"),
                        EventBody::GiveawayDrawn { winners, seed, .. } => {
                            let names: Vec<&str> = winners.iter().map(|w| w.name.as_str()).collect();
                            format!("🎁 winners: {} (seed {seed})", names.join(", "))
                        }
                        EventBody::RoomEnded { .. } => {
                            println!("[{}] the LIVE ended", event.seq);
                            return Ok(());
                        }
                        other => format!("{other:?}"),
                    };
                    println!("[{}] {line}", event.seq);
                }
                ServerMessage::Control(Control::Notification(n)) => println!("notification: {} {}", n.kind, n.data),
                _ => {}
            }
        }
    })
    .await
}
