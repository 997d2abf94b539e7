//! What the examples share: coming back after a dropped connection. [`reconnecting`] runs a
//! session again after each retryable failure, waiting a jittered back-off first; [`Room`] joins
//! with `since` once it has been a member, says whether the hub recovered what was missed, and
//! counts the missed events as they arrive.
#![allow(dead_code)] // each example uses its part

use stagehand::client::{Client, ClientError};
use stagehand::reconnect::{self, Backoff, JoinError, Rejoin, RoomPosition, Seen};
use stagehand_protocol::server::Event;
use stagehand_protocol::types::Snapshot;

/// Run `session` until it ends well or fails for good. After a retryable failure (a drop, or a
/// close whose code says to come back) wait the back-off's next jittered delay and run it again;
/// the session resets the back-off once it has joined.
pub async fn reconnecting(mut session: impl AsyncFnMut(&mut Backoff) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let mut backoff = Backoff::default();
    loop {
        let error = match session(&mut backoff).await {
            Ok(()) => return Ok(()),
            Err(error) if retryable(&error) => error,
            Err(error) => return Err(error),
        };
        let wait = backoff.next_delay();
        println!("connection lost ({error}); reconnecting in {} ms", wait.as_millis());
        tokio::time::sleep(wait).await;
    }
}

fn retryable(error: &anyhow::Error) -> bool {
    match (error.downcast_ref::<JoinError>(), error.downcast_ref::<ClientError>()) {
        (Some(join), _) => join.should_retry(),
        (None, Some(client)) => reconnect::should_retry(client),
        (None, None) => false,
    }
}

/// One room the example is in, and where it stands there.
pub struct Room {
    pub name: String,
    position: Option<RoomPosition>,
    /// Missed events received since the last recovered join.
    replayed: u64,
}

impl Room {
    pub fn new(name: String) -> Self {
        Room { name, position: None, replayed: 0 }
    }

    /// Take the position from a snapshot the example got another way (`start_room`).
    pub fn started(&mut self, snapshot: &Snapshot) {
        self.position = Some(RoomPosition::from_snapshot(snapshot));
    }

    /// Join, with `since` when the example was a member before, and say how it went.
    pub async fn join(&mut self, client: &mut Client) -> anyhow::Result<Snapshot> {
        let joined = reconnect::join(client, &self.name, &mut self.position).await?;
        self.replayed = 0;
        match joined.rejoin {
            None => println!("joined {} at seq {}", self.name, joined.snapshot.seq),
            Some(Rejoin::Recovered { missed }) => {
                println!("rejoined {}: recovered, {missed} missed events follow", self.name)
            }
            Some(Rejoin::Reset { missed }) => println!(
                "rejoined {}: not recovered ({} events missed); starting again from the snapshot",
                self.name,
                missed.map_or("uncountable: new epoch".into(), |n| n.to_string())
            ),
        }
        Ok(joined.snapshot)
    }

    /// Take in one event of this room. `false` for one already received, to be skipped.
    pub fn observe(&mut self, event: &Event) -> bool {
        let Some(position) = &mut self.position else { return true };
        match position.observe(event) {
            Seen::Replayed => {
                self.replayed += 1;
                if position.replay_pending() == 0 {
                    println!("caught up: {} missed events arrived", self.replayed);
                }
            }
            Seen::Gap { missed } => println!("{missed} events never arrived"),
            Seen::Old => return false,
            Seen::Next | Seen::Ephemeral => {}
        }
        true
    }
}
