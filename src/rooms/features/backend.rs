//! The activity feed: orders, subscriptions, follows, likes, gifts and shares the platform
//! backend publishes into a live room over HTTP (`POST /api/v1/rooms/{room}/events`).
//!
//! Each publish reaches three audiences differently:
//! - everyone gets a light, ordered event (`order`, or `activity` with a line of text): a display
//!   name and what happened, no account ids. Likes are a counter instead (`like_count`, coalesced);
//! - the creator and agency staff with `analytics` (whom the caller names) get the full entry
//!   (`feed_item`: account ids, amounts), and can page the room's recent entries with
//!   `activity_feed`;
//! - the dashboard counts it ([`super::dashboard`]).
//!
//! A publish carrying an `event_id` already seen in the room within `feed_dedupe_window_ms` is
//! acknowledged as a duplicate and changes nothing; the room remembers at most
//! `feed_dedupe_max` ids (the oldest are forgotten first).

use super::lifecycle::require_live;
use super::Outcome;
use crate::error::{HubError, HubResult};
use crate::rooms::Room;
use serde::Deserialize;
use stagehand_protocol::server::{EventBody, ReplyResult};
use stagehand_protocol::types::{ActivityKind, FeedEntry, Millis, Operator};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;

/// Longest text field of a backend event.
pub const MAX_FIELD_CHARS: usize = 1024;
/// Longest `event_id`.
pub const MAX_EVENT_ID_CHARS: usize = 128;
/// Most likes or gifts one publish may count.
pub const MAX_COUNT: u32 = 1_000_000;
/// Default and largest page of `activity_feed`.
pub const FEED_PAGE: u32 = 100;
pub const MAX_FEED_PAGE: u32 = 500;

/// A backend publish, tagged by `type`. `event_id` is required except on the original `order`
/// and `activity` shapes, where it is optional (without it a retry is not recognised).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Publish {
    Order {
        #[serde(default)]
        event_id: Option<String>,
        order_id: String,
        /// The buyer's display name: the only buyer detail viewers see.
        buyer: String,
        #[serde(default)]
        buyer_id: Option<String>,
        product_id: String,
        product_name: String,
        quantity: u32,
        amount: u64,
        currency: String,
    },
    Subscription {
        event_id: String,
        user_id: String,
        user_name: String,
    },
    Follow {
        event_id: String,
        user_id: String,
        user_name: String,
    },
    Like {
        event_id: String,
        user_id: String,
        user_name: String,
        #[serde(default = "one")]
        count: u32,
    },
    Gift {
        event_id: String,
        user_id: String,
        user_name: String,
        gift: String,
        #[serde(default = "one")]
        count: u32,
    },
    Share {
        event_id: String,
        user_id: String,
        user_name: String,
    },
    /// Free-form activity shown to everyone; not counted on the dashboard.
    Activity {
        #[serde(default)]
        event_id: Option<String>,
        kind: String,
        text: String,
    },
}

fn one() -> u32 {
    1
}

impl Publish {
    /// The wire `type` (for metrics).
    pub fn name(&self) -> &'static str {
        match self {
            Publish::Order { .. } => "order",
            Publish::Subscription { .. } => "subscription",
            Publish::Follow { .. } => "follow",
            Publish::Like { .. } => "like",
            Publish::Gift { .. } => "gift",
            Publish::Share { .. } => "share",
            Publish::Activity { .. } => "activity",
        }
    }

    fn event_id(&self) -> Option<&String> {
        match self {
            Publish::Order { event_id, .. } | Publish::Activity { event_id, .. } => event_id.as_ref(),
            Publish::Subscription { event_id, .. }
            | Publish::Follow { event_id, .. }
            | Publish::Like { event_id, .. }
            | Publish::Gift { event_id, .. }
            | Publish::Share { event_id, .. } => Some(event_id),
        }
    }

    fn check(&self) -> HubResult<()> {
        let fields: Vec<&String> = match self {
            Publish::Order { order_id, buyer, buyer_id, product_id, product_name, currency, .. } => {
                [order_id, buyer, product_id, product_name, currency].into_iter().chain(buyer_id).collect()
            }
            Publish::Subscription { user_id, user_name, .. }
            | Publish::Follow { user_id, user_name, .. }
            | Publish::Like { user_id, user_name, .. }
            | Publish::Share { user_id, user_name, .. } => vec![user_id, user_name],
            Publish::Gift { user_id, user_name, gift, .. } => vec![user_id, user_name, gift],
            Publish::Activity { kind, text, .. } => vec![kind, text],
        };
        if fields.iter().any(|f| f.chars().count() > MAX_FIELD_CHARS) {
            return Err(HubError::invalid(format!("event fields are at most {MAX_FIELD_CHARS} characters")));
        }
        if let Some(id) = self.event_id() {
            if id.is_empty() || id.chars().count() > MAX_EVENT_ID_CHARS {
                return Err(HubError::invalid(format!("event_id is 1–{MAX_EVENT_ID_CHARS} characters")));
            }
        }
        match self {
            Publish::Like { count, .. } | Publish::Gift { count, .. } if !(1..=MAX_COUNT).contains(count) => {
                Err(HubError::invalid(format!("count is 1–{MAX_COUNT}")))
            }
            Publish::Order { quantity: 0, .. } => Err(HubError::invalid("quantity is at least 1")),
            _ => Ok(()),
        }
    }

    /// The full entry (without its place in the feed), and the light event viewers get, if any.
    fn split(self, ts: Millis) -> (FeedEntry, Option<EventBody>) {
        let mut entry = FeedEntry {
            feed_id: 0,
            kind: ActivityKind::Order,
            ts,
            event_id: self.event_id().cloned(),
            seq: None,
            user_id: None,
            user_name: String::new(),
            order_id: None,
            product_id: None,
            product_name: None,
            quantity: None,
            amount: None,
            currency: None,
            gift: None,
            count: None,
        };
        let light = |kind: ActivityKind, text: String| EventBody::Activity { kind: kind.as_str().into(), text };
        let (kind, body) = match self {
            Publish::Order {
                order_id, buyer, buyer_id, product_id, product_name, quantity, amount, currency, ..
            } => {
                entry.user_id = buyer_id;
                entry.user_name = buyer.clone();
                entry.order_id = Some(order_id.clone());
                entry.product_id = Some(product_id.clone());
                entry.product_name = Some(product_name.clone());
                entry.quantity = Some(quantity);
                entry.amount = Some(amount);
                entry.currency = Some(currency.clone());
                let body = EventBody::Order { order_id, buyer, product_id, product_name, quantity, amount, currency };
                (ActivityKind::Order, Some(body))
            }
            Publish::Subscription { user_id, user_name, .. } => {
                (entry.user_id, entry.user_name) = (Some(user_id), user_name.clone());
                (ActivityKind::Subscription, Some(light(ActivityKind::Subscription, format!("{user_name} subscribed"))))
            }
            Publish::Follow { user_id, user_name, .. } => {
                (entry.user_id, entry.user_name) = (Some(user_id), user_name.clone());
                (ActivityKind::Follow, Some(light(ActivityKind::Follow, format!("{user_name} followed"))))
            }
            Publish::Share { user_id, user_name, .. } => {
                (entry.user_id, entry.user_name) = (Some(user_id), user_name.clone());
                (ActivityKind::Share, Some(light(ActivityKind::Share, format!("{user_name} shared the LIVE"))))
            }
            Publish::Gift { user_id, user_name, gift, count, .. } => {
                (entry.user_id, entry.user_name) = (Some(user_id), user_name.clone());
                (entry.gift, entry.count) = (Some(gift.clone()), Some(count));
                (ActivityKind::Gift, Some(light(ActivityKind::Gift, format!("{user_name} sent {gift} ×{count}"))))
            }
            Publish::Like { user_id, user_name, count, .. } => {
                (entry.user_id, entry.user_name, entry.count) = (Some(user_id), user_name, Some(count));
                (ActivityKind::Like, None)
            }
            Publish::Activity { kind, text, .. } => {
                // Not part of the counted feed: published as given.
                return (entry, Some(EventBody::Activity { kind, text }));
            }
        };
        entry.kind = kind;
        (entry, body)
    }
}

/// The feed's limits, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub dedupe_window_ms: u64,
    pub dedupe_max: usize,
    pub history: usize,
    pub tracked: usize,
}

impl Limits {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Limits {
            dedupe_window_ms: config.feed_dedupe_window_ms,
            dedupe_max: config.feed_dedupe_max,
            history: config.feed_history,
            tracked: config.dashboard_max_tracked,
        }
    }
}

/// The room's full feed and the `event_id`s it saw recently.
#[derive(Default)]
pub struct Feed {
    /// The newest full entries (at most `feed_history`).
    entries: VecDeque<FeedEntry>,
    next_id: u64,
    /// event_id → the seq its light event took (if any).
    seen: HashMap<String, Option<u64>>,
    /// event_ids in the order they were seen, with when, for expiry and the bound.
    seen_order: VecDeque<(Millis, String)>,
}

impl Feed {
    /// Forget ids older than the window; then the seq a duplicate of `event_id` got, if it is one.
    fn duplicate(&mut self, event_id: &str, now: Millis, limits: Limits) -> Option<Option<u64>> {
        while let Some((at, id)) = self.seen_order.front() {
            if now.saturating_sub(*at) < limits.dedupe_window_ms {
                break;
            }
            self.seen.remove(id);
            self.seen_order.pop_front();
        }
        self.seen.get(event_id).copied()
    }

    fn remember(&mut self, event_id: String, seq: Option<u64>, now: Millis, limits: Limits) {
        while self.seen_order.len() >= limits.dedupe_max {
            if let Some((_, id)) = self.seen_order.pop_front() {
                self.seen.remove(&id);
            }
        }
        self.seen.insert(event_id.clone(), seq);
        self.seen_order.push_back((now, event_id));
    }

    fn push(&mut self, mut entry: FeedEntry, limits: Limits) -> FeedEntry {
        self.next_id += 1;
        entry.feed_id = self.next_id;
        if self.entries.len() >= limits.history {
            self.entries.pop_front();
        }
        self.entries.push_back(entry.clone());
        entry
    }
}

/// What a publish did.
#[derive(Debug)]
pub struct Published {
    /// The seq of the light event everyone got (none for likes).
    pub seq: Option<u64>,
    /// A retry of an event already published: nothing was counted or delivered.
    pub duplicate: bool,
    /// The full entry sent to the creator and `analytics` staff (`None` for a duplicate and for
    /// free-form `activity`).
    pub entry: Option<FeedEntry>,
    /// The room's like total after a like.
    pub likes: Option<u64>,
}

/// Publish a backend event into a live room: dedupe, the light event, the full entry (as
/// `feed_item`, right after the light event, to the staff members `analysts` accepts), the
/// dashboard's counters.
pub fn publish(
    room: &Room,
    publish: Publish,
    limits: Limits,
    now: Millis,
    analysts: impl FnMut(Option<&Operator>) -> bool,
) -> HubResult<Published> {
    publish.check()?;
    let op = room.op();
    op.read(require_live)?;
    // Under the room's operation lock: a concurrent retry waits here and then sees this one.
    let event_id = publish.event_id().cloned();
    if let Some(id) = &event_id {
        if let Some(seq) = room.side.feed.lock().unwrap_or_else(|p| p.into_inner()).duplicate(id, now, limits) {
            return Ok(Published { seq, duplicate: true, entry: None, likes: None });
        }
    }
    let counted = !matches!(publish, Publish::Activity { .. });
    let (mut entry, light) = publish.split(now);
    let seq = light.map(|body| op.publish(body).seq);
    let likes = (entry.kind == ActivityKind::Like && counted).then(|| {
        let count = u64::from(entry.count.unwrap_or(1));
        room.side.likes.fetch_add(count, Ordering::Relaxed) + count
    });
    entry.seq = seq;
    let entry = counted.then(|| {
        super::dashboard::count_activity(room, &entry, now, limits.tracked);
        room.side.feed.lock().unwrap_or_else(|p| p.into_inner()).push(entry, limits)
    });
    if let Some(id) = event_id {
        room.side.feed.lock().unwrap_or_else(|p| p.into_inner()).remember(id, seq, now, limits);
    }
    // Still under the operation lock: the full entry follows its light event, before any other.
    if let Some(entry) = &entry {
        room.announce_to(EventBody::FeedItem { entry: entry.clone() }, analysts);
    }
    if let Some(likes) = likes {
        room.announce(EventBody::LikeCount { likes });
    }
    Ok(Published { seq, duplicate: false, entry, likes })
}

/// `activity_feed`: the room's full entries after `after`, oldest first.
pub fn feed(room: &Room, after: Option<u64>, limit: Option<u32>) -> HubResult<Outcome> {
    let limit = limit.unwrap_or(FEED_PAGE).clamp(1, MAX_FEED_PAGE) as usize;
    let after = after.unwrap_or(0);
    let feed = room.side.feed.lock().unwrap_or_else(|p| p.into_inner());
    let items = feed.entries.iter().filter(|e| e.feed_id > after).take(limit).cloned().collect();
    Ok(Outcome::reply(ReplyResult::Feed { items }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { dedupe_window_ms: 1_000, dedupe_max: 3, history: 2, tracked: 10 };

    #[test]
    fn an_event_id_is_a_duplicate_within_the_window_and_forgotten_after_it() {
        let mut feed = Feed::default();
        assert_eq!(feed.duplicate("e1", 0, LIMITS), None);
        feed.remember("e1".into(), Some(7), 0, LIMITS);
        assert_eq!(feed.duplicate("e1", 999, LIMITS), Some(Some(7)));
        assert_eq!(feed.duplicate("e1", 1_000, LIMITS), None, "the window is over");
        assert!(feed.seen.is_empty() && feed.seen_order.is_empty());
    }

    #[test]
    fn the_dedupe_set_and_the_feed_are_bounded() {
        let mut feed = Feed::default();
        for (i, id) in ["a", "b", "c", "d"].into_iter().enumerate() {
            feed.remember(id.into(), Some(i as u64), 0, LIMITS);
        }
        assert_eq!((feed.seen.len(), feed.seen_order.len()), (3, 3));
        assert_eq!(feed.duplicate("a", 1, LIMITS), None, "the oldest went first");
        assert_eq!(feed.duplicate("d", 1, LIMITS), Some(Some(3)));
        let entry = |kind| Publish::Follow { event_id: kind, user_id: "u".into(), user_name: "U".into() }.split(5).0;
        for id in ["x", "y", "z"] {
            feed.push(entry(id.into()), LIMITS);
        }
        let ids: Vec<u64> = feed.entries.iter().map(|e| e.feed_id).collect();
        assert_eq!(ids, [2, 3]);
    }

    #[test]
    fn publishes_are_strict() {
        let parse = |json: &str| serde_json::from_str::<Publish>(json);
        assert!(parse(r#"{"type":"follow","event_id":"e","user_id":"u","user_name":"U"}"#).is_ok());
        assert!(parse(r#"{"type":"follow","user_id":"u","user_name":"U"}"#).is_err(), "event_id is required");
        assert!(parse(r#"{"type":"follow","event_id":"e","user_id":"u","user_name":"U","x":1}"#).is_err());
        assert!(parse(r#"{"type":"order_refund","event_id":"e"}"#).is_err());
        let like = parse(r#"{"type":"like","event_id":"e","user_id":"u","user_name":"U","count":0}"#).unwrap();
        assert!(like.check().is_err(), "a count of 0");
    }
}
