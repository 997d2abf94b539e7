//! Giveaways: a prize for viewers who comment a keyword, drawn by the hub when the giveaway ends,
//! verifiably.
//!
//! - `start_giveaway` (creator, agency staff with `promotions`) draws a 32-byte seed from the OS
//!   CSPRNG, keeps it secret ([`Secret`]) and publishes `giveaway_started` with the seed's SHA-256
//!   as a commitment: the hub cannot pick the seed after seeing who entered.
//! - Entries are the room's own comment events: a viewer's comment whose trimmed, lower-cased text
//!   is the keyword enters them once (the reducer folds them, so entry order is comment order and
//!   anyone watching the room sees the same list). [`on_comment`] announces the count.
//! - At `ends_at` housekeeping calls [`draw_due`]: the seed, the entrants the draw ran over — as
//!   pseudonymous [`entry`] hashes with their salt, so viewers never see who entered — and the
//!   winners (by display name) go out in `giveaway_drawn`, and [`draw`] — specified in SPEC.md —
//!   lets anyone recompute the winners from them.

use super::lifecycle::require_live;
use super::{Ctx, Outcome};
use crate::error::{HubError, HubResult};
use crate::rooms::room::Op;
use crate::rooms::Room;
use sha2::{Digest, Sha256};
use stagehand_protocol::server::{Event, EventBody, ReplyResult};
use stagehand_protocol::types::{Actor, GiveawayInfo, GiveawayWinner, Millis, Operator};
use std::collections::HashSet;

pub const MAX_PRIZE_CHARS: usize = 200;
pub const MAX_KEYWORD_CHARS: usize = 50;
pub const MIN_DURATION_MS: u64 = 10_000;
pub const MAX_DURATION_MS: u64 = 3_600_000;
pub const MAX_WINNERS: u32 = 100;

/// The giveaway slice of the room's state: the open giveaway and its entrants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub open: Option<Open>,
}

/// An open giveaway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// As the room shows it; `entries` counts the entrants.
    pub info: GiveawayInfo,
    /// Who appeared to start it: the room's creator (whose own comments never enter).
    pub by: Actor,
    /// The agency staff member who really started it, if it was one (for the draw's audit).
    pub operator: Option<Operator>,
    /// Entrants in entry order.
    pub entrants: Vec<Actor>,
    entered: HashSet<String>,
    keyword: String,
}

/// The fold: `giveaway_started` opens, matching comments enter, `giveaway_drawn` (or the end of
/// the LIVE, which leaves it undrawn) closes.
pub fn apply(state: &mut State, event: &Event) {
    match &event.body {
        EventBody::GiveawayStarted { giveaway, by, operator } => {
            state.open = Some(Open {
                info: GiveawayInfo { entries: 0, ..giveaway.clone() },
                by: by.clone(),
                operator: operator.clone(),
                entrants: Vec::new(),
                entered: HashSet::new(),
                keyword: fold(&giveaway.keyword),
            });
        }
        EventBody::Comment { author, text, .. } => {
            let Some(open) = state.open.as_mut() else { return };
            let enters = event.ts < open.info.ends_at
                && author.id != open.by.id
                && open.entrants.len() < open.info.max_entrants as usize
                && fold(text) == open.keyword
                && open.entered.insert(author.id.clone());
            if enters {
                open.entrants.push(author.clone());
                open.info.entries += 1;
            }
        }
        EventBody::GiveawayDrawn { giveaway_id, .. }
            if state.open.as_ref().is_some_and(|open| open.info.giveaway_id == *giveaway_id) =>
        {
            state.open = None
        }
        EventBody::RoomEnded { .. } => state.open = None,
        _ => {}
    }
}

/// Whether `text` is an entry to the room's open giveaway (its keyword, while entries are open):
/// repeating it is not spam (entering is idempotent).
pub fn is_entry(state: &State, text: &str, now: Millis) -> bool {
    state.open.as_ref().is_some_and(|open| now < open.info.ends_at && fold(text) == open.keyword)
}

/// How a comment is compared with the keyword.
fn fold(text: &str) -> String {
    text.trim().to_lowercase()
}

/// What the room keeps beside its state: the open giveaway's seed until the draw reveals it, and
/// the entry count last announced.
#[derive(Default)]
pub struct Secret {
    seed: Option<(String, [u8; 32])>,
    /// Salts the pseudonymous entries `giveaway_drawn` reveals (revealed with the seed).
    salt: [u8; SALT_BYTES],
    announced: u64,
}

/// What `start_giveaway` asks for.
pub struct Spec<'a> {
    pub prize: &'a str,
    pub keyword: &'a str,
    pub duration_ms: u64,
    pub winners: u32,
    pub must_be_present: bool,
}

/// `start_giveaway`: open a giveaway in a live room that has none open.
pub fn start(ctx: &mut Ctx<'_>, room: &Room, spec: Spec<'_>) -> HubResult<Outcome> {
    check(&spec)?;
    let config = ctx.rooms.config();
    let (by, operator) = ctx.acting_as(room);
    let op = room.op();
    op.read(|state| {
        require_live(state)?;
        match &state.giveaway.open {
            Some(open) => {
                Err(HubError::conflict(format!("giveaway `{}` is still open; one at a time", open.info.giveaway_id)))
            }
            None => Ok(()),
        }
    })?;
    let (mut seed, mut salt) = ([0u8; 32], [0u8; SALT_BYTES]);
    getrandom::fill(&mut seed).map_err(|e| HubError::internal(format!("no randomness for the draw: {e}")))?;
    getrandom::fill(&mut salt).map_err(|e| HubError::internal(format!("no randomness for the draw: {e}")))?;
    let now = ctx.rooms.now_ms();
    // Named after the seq its event takes (the operation lock keeps that exact).
    let giveaway_id = format!("gw_{}", op.position().seq + 1);
    let giveaway = GiveawayInfo {
        giveaway_id: giveaway_id.clone(),
        prize: spec.prize.trim().to_string(),
        keyword: spec.keyword.trim().to_string(),
        winners: spec.winners,
        must_be_present: spec.must_be_present,
        max_entrants: config.max_giveaway_entrants,
        started_at: now,
        ends_at: now + spec.duration_ms,
        commitment: commitment(&seed),
        entries: 0,
    };
    *room.side.giveaway.lock().unwrap_or_else(|p| p.into_inner()) =
        Secret { seed: Some((giveaway_id, seed)), salt, announced: 0 };
    let event = op.publish(EventBody::GiveawayStarted { giveaway, by, operator });
    Ok(Outcome::reply(ReplyResult::Published { seq: event.seq }))
}

fn check(spec: &Spec<'_>) -> HubResult<()> {
    let (prize, keyword) = (spec.prize.trim(), spec.keyword.trim());
    if prize.is_empty() || prize.chars().count() > MAX_PRIZE_CHARS {
        return Err(HubError::invalid(format!("a prize is 1–{MAX_PRIZE_CHARS} characters")));
    }
    if keyword.is_empty() || keyword.chars().count() > MAX_KEYWORD_CHARS {
        return Err(HubError::invalid(format!("a keyword is 1–{MAX_KEYWORD_CHARS} characters")));
    }
    if !(MIN_DURATION_MS..=MAX_DURATION_MS).contains(&spec.duration_ms) {
        return Err(HubError::invalid(format!("duration_ms is {MIN_DURATION_MS}–{MAX_DURATION_MS}")));
    }
    if !(1..=MAX_WINNERS).contains(&spec.winners) {
        return Err(HubError::invalid(format!("winners is 1–{MAX_WINNERS}")));
    }
    Ok(())
}

/// Called by the comment path right after a comment is published (under the room's operation
/// lock): announce the open giveaway's entry count if the comment changed it.
pub fn on_comment(room: &Room, op: &Op<'_>) {
    let Some((giveaway_id, entries)) =
        op.read(|state| state.giveaway.open.as_ref().map(|open| (open.info.giveaway_id.clone(), open.info.entries)))
    else {
        return;
    };
    {
        let mut secret = room.side.giveaway.lock().unwrap_or_else(|p| p.into_inner());
        if secret.announced == entries {
            return;
        }
        secret.announced = entries;
    }
    room.announce(EventBody::GiveawayEntries { giveaway_id, entries });
}

/// A draw that happened, for the creator's audit trail (winners with their account ids).
#[derive(Debug)]
pub struct Drawn {
    pub giveaway_id: String,
    pub prize: String,
    pub by: Actor,
    pub operator: Option<Operator>,
    pub winners: Vec<Actor>,
    pub entrants: usize,
}

/// Draw the room's giveaway if its entries closed by `now`. `present` gives the accounts with a
/// connection in the room now (asked only for `must_be_present` giveaways).
pub fn draw_due(room: &Room, now: Millis, present: impl FnOnce() -> HashSet<String>) -> Option<Drawn> {
    let op = room.op();
    let open = op.read(|state| match (&state.giveaway.open, require_live(state)) {
        (Some(open), Ok(())) if open.info.ends_at <= now => Some(open.clone()),
        _ => None,
    })?;
    let (seed, salt) = {
        let mut secret = room.side.giveaway.lock().unwrap_or_else(|p| p.into_inner());
        match secret.seed.take() {
            Some((id, seed)) if id == open.info.giveaway_id => (seed, secret.salt),
            _ => {
                tracing::error!(room = %room.id, giveaway = %open.info.giveaway_id, "giveaway seed missing");
                return None;
            }
        }
    };
    let present = open.info.must_be_present.then(present);
    let eligible: Vec<&Actor> =
        open.entrants.iter().filter(|entrant| present.as_ref().is_none_or(|p| p.contains(&entrant.id))).collect();
    let absent = (open.entrants.len() - eligible.len()) as u64;
    let k = (open.info.winners as usize).min(eligible.len());
    let picked = draw(&seed, eligible.len(), k);
    let winners: Vec<GiveawayWinner> =
        picked.iter().map(|&i| GiveawayWinner { index: i as u32, name: eligible[i].name.clone() }).collect();
    op.publish(EventBody::GiveawayDrawn {
        giveaway_id: open.info.giveaway_id.clone(),
        seed: hex(&seed),
        salt: hex(&salt),
        entrants: eligible.iter().map(|e| entry(&open.info.giveaway_id, &e.id, &salt)).collect(),
        winners,
        absent,
    });
    Some(Drawn {
        giveaway_id: open.info.giveaway_id,
        prize: open.info.prize,
        by: open.by,
        operator: open.operator,
        winners: picked.iter().map(|&i| eligible[i].clone()).collect(),
        entrants: eligible.len(),
    })
}

/// Bytes of a giveaway's entry salt.
pub const SALT_BYTES: usize = 16;
/// Bytes of SHA-256 kept in an entry.
pub const ENTRY_BYTES: usize = 16;

/// An entrant's pseudonymous entry, as SPEC.md specifies it: the first [`ENTRY_BYTES`] of
/// SHA-256(giveaway_id ‖ 0x00 ‖ user_id ‖ 0x00 ‖ salt), in lowercase hex. Viewers see entries, not
/// names; each can recompute their own from their account id once the salt is revealed.
pub fn entry(giveaway_id: &str, user_id: &str, salt: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(giveaway_id.as_bytes());
    hasher.update([0]);
    hasher.update(user_id.as_bytes());
    hasher.update([0]);
    hasher.update(salt);
    hex(&hasher.finalize()[..ENTRY_BYTES])
}

/// Lowercase hex of SHA-256(seed): what `giveaway_started` commits to.
pub fn commitment(seed: &[u8]) -> String {
    hex(&Sha256::digest(seed))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The draw, as SPEC.md specifies it: a partial Fisher–Yates shuffle of `0..n` whose `i`th swap
/// takes a uniform `r` in `0..n-i` from SHA-256(seed ‖ u32be(i) ‖ u32be(attempt)) — the digest's
/// first 8 bytes as a big-endian u64 `x`, accepted when `x < 2^64 - (2^64 mod m)` (else the next
/// attempt), `r = x mod m`. Returns the first `k` positions of the shuffled list: the winners'
/// indexes into the entrant list, in winning order.
pub fn draw(seed: &[u8; 32], n: usize, k: usize) -> Vec<usize> {
    let mut pool: Vec<usize> = (0..n).collect();
    for i in 0..k.min(n) {
        let m = (n - i) as u64;
        let r = uniform(seed, i as u32, m);
        pool.swap(i, i + r as usize);
    }
    pool.truncate(k.min(n));
    pool
}

/// A uniform draw in `0..m` for swap `i`, by rejection sampling (no modulo bias).
fn uniform(seed: &[u8; 32], i: u32, m: u64) -> u64 {
    // The largest multiple of m that fits in 2^64, computed without overflowing.
    let zone = u64::MAX - (u64::MAX % m + 1) % m;
    (0u32..)
        .map(|attempt| {
            let mut hasher = Sha256::new();
            hasher.update(seed);
            hasher.update(i.to_be_bytes());
            hasher.update(attempt.to_be_bytes());
            let digest = hasher.finalize();
            u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
        })
        .find(|x| *x <= zone)
        .map(|x| x % m)
        .expect("an attempt is accepted with probability above 1/2")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_draw_is_a_permutation_prefix_and_deterministic() {
        let seed = [7u8; 32];
        let winners = draw(&seed, 10, 3);
        assert_eq!(winners, draw(&seed, 10, 3));
        assert_eq!(winners.len(), 3);
        let distinct: HashSet<_> = winners.iter().collect();
        assert_eq!(distinct.len(), 3);
        assert!(winners.iter().all(|&w| w < 10));
        assert_eq!(draw(&seed, 2, 5).len(), 2, "never more winners than entrants");
        assert!(draw(&seed, 0, 1).is_empty());
        let mut all = draw(&seed, 6, 6);
        all.sort();
        assert_eq!(all, (0..6).collect::<Vec<_>>());
    }

    #[test]
    fn the_draw_matches_the_specs_worked_example() {
        // protocol/vectors/event_giveaway_drawn: seed 00 01 … 1f, five entrants, two winners.
        let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
        assert_eq!(draw(&seed, 5, 2), vec![1, 3]);
        assert_eq!(commitment(&seed), "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd");
    }

    #[test]
    fn entries_match_the_specs_worked_example() {
        let salt: [u8; 16] = std::array::from_fn(|i| 0xa0 + i as u8);
        assert_eq!(entry("gw_70", "u-sam", &salt), "b54a380eae4e065e8955037c95f52203");
        assert_eq!(entry("gw_70", "u-ola", &salt), "ce10af31e4bc8bbc9dbdb5f8ada58784");
        assert_ne!(entry("gw_71", "u-sam", &salt), entry("gw_70", "u-sam", &salt), "per giveaway");
    }

    #[test]
    fn the_acceptance_zone_has_no_modulo_bias() {
        // For m a power of two every x is accepted; for m = 3 the zone ends at a multiple of 3.
        let m = 3u64;
        let zone = u64::MAX - (u64::MAX % m + 1) % m;
        assert_eq!((zone + 1) % m, 0);
        let m = 1u64 << 20;
        assert_eq!(u64::MAX - (u64::MAX % m + 1) % m, u64::MAX);
    }

    #[test]
    fn the_commitment_is_the_seed_digest_in_hex() {
        assert_eq!(commitment(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
