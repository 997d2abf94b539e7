//! An agency console: asks the creator for LIVE Manager access (bundled with a link), waits for
//! the decision, then joins the room and operates it — a billboard; a product set saved and loaded
//! into the shopping bag (retrying once with the bag's current version when its own is stale), its
//! first product pinned and put on a flash sale; the live dashboard and the creator's account
//! health read; and an attempt to end the LIVE that the hub refuses (only the creator may) — and
//! watches it until it ends. A dropped
//! connection is retried after a jittered back-off and the room rejoined with `since`; a revoked
//! or suspended access (close 4010–4012) ends the console.
//!
//! ```sh
//! cargo run --example agency_console -- ws://127.0.0.1:8080/ws show-1 \
//!     "$(stagehand token --user sam --role agency --agency acme --creator cara)" cara
//! ```

mod common;

use stagehand::client::{Auth, Client, ClientError};
use stagehand::reconnect::JoinError;
use stagehand_protocol::client::NewLink;
use stagehand_protocol::server::{Control, EventBody, ReplyResult, ServerMessage};
use stagehand_protocol::types::{Billboard, NewFlashSale, Product};
use stagehand_protocol::{Command, ErrorCode, Wire};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(room), Some(token), Some(creator)) = (args.next(), args.next(), args.next(), args.next())
    else {
        anyhow::bail!("usage: agency_console <ws-url> <room> <token> <creator-id>");
    };
    let mut room = common::Room::new(room);
    let (mut asked, mut operated) = (false, false);
    common::reconnecting(async |backoff| {
        let mut console = Client::connect(&url, Wire::MsgPack, Auth::Header(token.clone())).await?;
        match room.join(&mut console).await {
            Err(e) if !asked && matches!(e.downcast_ref::<JoinError>(), Some(JoinError::Refused(_))) => {
                println!("no access yet ({e}); asking {creator}");
                ask_for_access(&mut console, &creator).await?;
                asked = true;
                room.join(&mut console).await?;
            }
            joined => _ = joined?,
        }
        backoff.reset();
        if !operated {
            operate(&mut console, &room.name).await?;
            operated = true;
        }
        loop {
            match console.next().await {
                Ok(ServerMessage::Event(event)) if room.observe(&event) => {
                    println!("[{}] {}", event.seq, event.body.name());
                    if let EventBody::RoomEnded { .. } = event.body {
                        return Ok(());
                    }
                }
                Ok(ServerMessage::Control(Control::Notification(n))) => println!("notification: {}", n.kind),
                Ok(_) | Err(ClientError::Timeout) => {}
                Err(error) => return Err(error.into()),
            }
        }
    })
    .await
}

/// Request a link with LIVE Manager access and wait for the creator's decision.
async fn ask_for_access(console: &mut Client, creator: &str) -> anyhow::Result<()> {
    let week = 7 * 24 * 3600 * 1000;
    let link = Some(NewLink { agreement_ends_at: stagehand::clock::now_ms() + week });
    let ask = Command::AccessRequest { creator: creator.into(), link, live_access: true, scopes: None };
    let reply = console.request(ask).await?;
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
                    "access_granted" => return Ok(()),
                    "access_declined" | "link_declined" => anyhow::bail!("the creator declined"),
                    _ => {}
                }
            }
            Ok(_) | Err(ClientError::Timeout) => {}
            Err(error) => return Err(error.into()),
        }
    }
}

/// Deploy a billboard, and try to end the LIVE (refused: only the creator ends it).
async fn operate(console: &mut Client, room: &str) -> anyhow::Result<()> {
    println!("operating {room} as support staff");
    let billboard = Billboard {
        billboard_id: "agency-1".into(),
        title: "Free shipping tonight".into(),
        text: None,
        image_url: None,
        link_url: None,
        duration_ms: None,
        expires_at: None,
    };
    let reply = console.request(Command::DeployBillboard { room: room.into(), billboard }).await?;
    println!("deploy_billboard → ok={} {:?}", reply.ok, reply.error.map(|e| e.code));
    commerce(console, room).await?;
    let reply = console.request(Command::Dashboard { room: room.into() }).await?;
    if let Some(ReplyResult::Dashboard { dashboard, .. }) = reply.result {
        println!(
            "dashboard: {} viewers, {} comments, {} orders",
            dashboard.viewers, dashboard.comments, dashboard.orders
        );
    }
    let reply = console.request(Command::GetAccountHealth).await?;
    if let Some(ReplyResult::AccountHealth { health }) = reply.result {
        println!("account health: {:?}", health.counts);
        for finding in health.findings {
            println!("  {:?}: {}", finding.kind, finding.detail);
        }
    }
    let reply = console.request(Command::EndRoom { room: room.into() }).await?;
    println!("end_room → ok={} {:?} (only the creator ends a LIVE)", reply.ok, reply.error.map(|e| e.code));
    Ok(())
}

/// A product set into the bag, its first product pinned and on a flash sale.
async fn commerce(console: &mut Client, room: &str) -> anyhow::Result<()> {
    let product = |id: &str, title: &str| Product {
        product_id: id.into(),
        title: title.into(),
        price: 2_990,
        currency: "EUR".into(),
        image_url: None,
        in_stock: true,
    };
    let products = vec![product("lamp-1", "Desk lamp"), product("shirt-2", "Linen shirt")];
    let save = Command::SaveProductSet { set_id: "tonight".into(), name: "Tonight".into(), products };
    let reply = console.request(save).await?;
    println!("save_product_set → ok={}", reply.ok);
    // A bag command names the version it was made against; a stale one is refused with the current.
    let add = |version| Command::BagAdd { room: room.into(), version, product: None, set_id: Some("tonight".into()) };
    let mut reply = console.request(add(0)).await?;
    if let Some(error) = reply.error.as_ref().filter(|e| e.code == ErrorCode::Conflict) {
        reply = console.request(add(error.version.unwrap_or(0))).await?;
    }
    let Some(ReplyResult::Bag { bag, .. }) = reply.result else {
        println!("bag_add → {:?}", reply.error.map(|e| e.code));
        return Ok(());
    };
    println!("bag_add → {} items, version {}", bag.items.len(), bag.version);
    let pin = Command::BagPin { room: room.into(), version: bag.version, product_id: "lamp-1".into() };
    println!("bag_pin → ok={}", console.request(pin).await?.ok);
    let sale = NewFlashSale {
        product: product("lamp-1", "Desk lamp"),
        sale_price: 1_990,
        quantity: 20,
        per_buyer_limit: 2,
        countdown_ms: 30_000,
        duration_ms: 300_000,
    };
    let reply = console.request(Command::StartFlashSale { room: room.into(), sale }).await?;
    match reply.result {
        Some(ReplyResult::FlashSale { sale, .. }) => println!("flash sale {} opens at {}", sale.sale_id, sale.opens_at),
        _ => println!("start_flash_sale → {:?}", reply.error.map(|e| e.code)),
    }
    Ok(())
}
