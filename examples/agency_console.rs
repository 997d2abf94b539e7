//! An agency console: asks the creator for LIVE Manager access (bundled with a link), waits for
//! the decision, then joins the room and operates it — a billboard, and an attempt to end the LIVE
//! that the hub refuses (only the creator may).
//!
//! ```sh
//! cargo run --example agency_console -- ws://127.0.0.1:8080/ws show-1 \
//!     "$(stagehand token --user sam --role agency --agency acme --creator cara)" cara
//! ```

use stagehand::client::{Auth, Client, ClientError};
use stagehand_protocol::client::NewLink;
use stagehand_protocol::server::{Control, ReplyResult, ServerMessage};
use stagehand_protocol::types::Billboard;
use stagehand_protocol::{Command, Wire};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(room), Some(token), Some(creator)) = (args.next(), args.next(), args.next(), args.next())
    else {
        anyhow::bail!("usage: agency_console <ws-url> <room> <token> <creator-id>");
    };
    let mut console = Client::connect(&url, Wire::MsgPack, Auth::Header(token)).await?;

    let joined = console.request(Command::Join { room: room.clone(), since: None }).await?;
    if !joined.ok {
        println!("no access yet ({:?}); asking {creator}", joined.error.map(|e| e.message));
        let week = 7 * 24 * 3600 * 1000;
        let link = Some(NewLink { agreement_ends_at: stagehand::clock::now_ms() + week });
        let reply = console.request(Command::AccessRequest { creator, link, live_access: true, scopes: None }).await?;
        let Some(ReplyResult::Request { request }) = reply.result else {
            anyhow::bail!("request refused: {:?}", reply.error);
        };
        println!("sent {}; accept it as the creator, e.g.:", request.request_id);
        println!("  curl -X POST -H 'authorization: Bearer <api-key>' -H 'content-type: application/json' \\");
        println!(
            "    -d '{{\"creator_id\":\"{}\"}}' http://<hub>/api/v1/access-requests/{}/accept",
            request.creator_id, request.request_id
        );
        loop {
            match console.next().await {
                Ok(ServerMessage::Control(Control::Notification(n))) => {
                    println!("notification: {}", n.kind);
                    match n.kind.as_str() {
                        "access_granted" => break,
                        "access_declined" | "link_declined" => anyhow::bail!("the creator declined"),
                        _ => {}
                    }
                }
                Ok(_) | Err(ClientError::Timeout) => {}
                Err(error) => return Err(error.into()),
            }
        }
        let joined = console.request(Command::Join { room: room.clone(), since: None }).await?;
        anyhow::ensure!(joined.ok, "join refused: {:?}", joined.error);
    }
    println!("joined {room} as support staff");
    let billboard = Billboard {
        billboard_id: "agency-1".into(),
        title: "Free shipping tonight".into(),
        text: None,
        image_url: None,
        link_url: None,
    };
    let reply = console.request(Command::DeployBillboard { room: room.clone(), billboard }).await?;
    println!("deploy_billboard → ok={} {:?}", reply.ok, reply.error.map(|e| e.code));
    let reply = console.request(Command::EndRoom { room: room.clone() }).await?;
    println!("end_room → ok={} {:?} (only the creator ends a LIVE)", reply.ok, reply.error.map(|e| e.code));
    Ok(())
}
