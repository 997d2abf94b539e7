//! The live dashboard ("Data Compass") and the LIVE's summary.
//!
//! A room's [`Meter`] counts as things happen — viewers joining ([`on_join`]), comments
//! ([`on_comment`]), the activity feed ([`count_activity`]), moderation ([`count_moderation`], for
//! the moderation pipeline) — and housekeeping calls [`tick`] once a second: it samples the viewer
//! count (peak, viewer time), closes finished minutes into the per-minute series (at most
//! `dashboard_max_minutes`), and returns the figures, which go to the creator and agency staff with
//! `analytics` only (`dashboard` events). [`finish`] makes the summary persisted when the LIVE
//! ends.
//!
//! Distinct viewers, buyers and products are told apart up to `dashboard_max_tracked` each; past
//! it new ones still count as events, and distinct viewers are counted approximately.

use super::{Ctx, Outcome};
use crate::delivery::outbox::ConnId;
use crate::error::HubResult;
use crate::rooms::Room;
use stagehand_protocol::server::ReplyResult;
use stagehand_protocol::types::{
    ActivityKind, DashboardData, FeedEntry, LiveSummary, Millis, MinutePoint, Money, ProductStat, RoomState as Phase,
};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::MutexGuard;

const MINUTE_MS: u64 = 60_000;
/// Products shown on the dashboard.
const TOP_PRODUCTS: usize = 5;

/// What the moderation pipeline reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moderation {
    /// A comment the filters caught.
    Filtered,
    /// A comment held for review.
    Held,
    /// A moderation action (a deletion, a mute, a block…).
    Moderated,
}

/// A room's dashboard counters.
#[derive(Default)]
pub struct Meter {
    started_at: Option<Millis>,
    last_tick: Option<Millis>,
    last_viewers: u64,
    peak: u64,
    viewer_ms: u64,
    unique: HashSet<String>,
    /// Joins of new accounts past the tracking bound (counted as distinct).
    unique_untracked: u64,
    /// Viewer connections that joined, with their account (for presence at a giveaway's draw).
    viewer_conns: HashMap<ConnId, String>,
    comments: u64,
    /// Comments per second over the last minute: (second, count).
    recent: VecDeque<(u64, u64)>,
    likes: u64,
    follows: u64,
    subscriptions: u64,
    shares: u64,
    gifts: u64,
    orders: u64,
    units: u64,
    gmv: BTreeMap<String, u64>,
    buyers: HashSet<String>,
    buyers_untracked: u64,
    products: HashMap<String, ProductStat>,
    filtered: u64,
    held: u64,
    moderated: u64,
    minute: MinutePoint,
    minute_gmv: BTreeMap<String, u64>,
    minutes: VecDeque<MinutePoint>,
    /// The summary, once taken at the end (the same one is handed out again until it is stored).
    summary: Option<LiveSummary>,
    /// The summary is in the store.
    summarized: bool,
}

fn meter(room: &Room) -> MutexGuard<'_, Meter> {
    room.side.meter.lock().unwrap_or_else(|p| p.into_inner())
}

/// A viewer's connection joined the room.
pub fn on_join(room: &Room, conn: ConnId, account: &str, tracked: usize) {
    let mut m = meter(room);
    if !m.unique.contains(account) {
        if m.unique.len() < tracked {
            m.unique.insert(account.to_string());
        } else {
            m.unique_untracked += 1;
        }
    }
    if m.viewer_conns.len() < tracked {
        m.viewer_conns.insert(conn, account.to_string());
    }
}

/// A comment was published.
pub fn on_comment(room: &Room, now: Millis) {
    let mut m = meter(room);
    m.comments += 1;
    m.minute.comments += 1;
    let second = now / 1000;
    match m.recent.back_mut() {
        Some((at, count)) if *at == second => *count += 1,
        _ => m.recent.push_back((second, 1)),
    }
    while m.recent.front().is_some_and(|(at, _)| *at + 60 <= second) {
        m.recent.pop_front();
    }
}

/// The moderation pipeline's place to count what it did.
pub fn count_moderation(room: &Room, what: Moderation) {
    let mut m = meter(room);
    match what {
        Moderation::Filtered => m.filtered += 1,
        Moderation::Held => m.held += 1,
        Moderation::Moderated => m.moderated += 1,
    }
}

/// A feed entry was published.
pub fn count_activity(room: &Room, entry: &FeedEntry, _now: Millis, tracked: usize) {
    let mut m = meter(room);
    let count = u64::from(entry.count.unwrap_or(1));
    match entry.kind {
        ActivityKind::Like => {
            m.likes += count;
            m.minute.likes += count;
        }
        ActivityKind::Follow => m.follows += 1,
        ActivityKind::Subscription => m.subscriptions += 1,
        ActivityKind::Share => m.shares += 1,
        ActivityKind::Gift => m.gifts += count,
        ActivityKind::Order => {
            let units = u64::from(entry.quantity.unwrap_or(1));
            let amount = entry.amount.unwrap_or(0);
            let currency = entry.currency.clone().unwrap_or_default();
            m.orders += 1;
            m.units += units;
            m.minute.orders += 1;
            m.minute.units += units;
            *m.gmv.entry(currency.clone()).or_default() += amount;
            *m.minute_gmv.entry(currency.clone()).or_default() += amount;
            let buyer = entry.user_id.clone().unwrap_or_else(|| entry.user_name.clone());
            if !m.buyers.contains(&buyer) {
                if m.buyers.len() < tracked {
                    m.buyers.insert(buyer);
                } else {
                    m.buyers_untracked += 1;
                }
            }
            let product_id = entry.product_id.clone().unwrap_or_default();
            let full = m.products.len() >= tracked;
            if let Some(stat) = m.products.get_mut(&product_id) {
                stat.orders += 1;
                stat.units += units;
                stat.gmv.amount += amount;
            } else if !full {
                let stat = ProductStat {
                    product_id: product_id.clone(),
                    product_name: entry.product_name.clone().unwrap_or_default(),
                    orders: 1,
                    units,
                    gmv: Money { currency, amount },
                };
                m.products.insert(product_id, stat);
            }
        }
    }
}

/// Accounts with a viewer connection in the room now.
pub fn present_viewers(room: &Room) -> HashSet<String> {
    let conns: Vec<(ConnId, String)> = meter(room).viewer_conns.iter().map(|(c, a)| (*c, a.clone())).collect();
    conns.into_iter().filter(|(conn, _)| room.is_member(*conn)).map(|(_, account)| account).collect()
}

/// Once a second while the room is live: sample, roll minutes, and return the figures.
pub fn tick(room: &Room, now: Millis, max_minutes: usize) -> Option<DashboardData> {
    let lifecycle = room.lifecycle();
    if lifecycle.phase != Phase::Live {
        return None;
    }
    let viewers = room.viewer_count() as u64;
    let stale = {
        let mut m = meter(room);
        m.begin(lifecycle.started_at.unwrap_or(now));
        m.sample(now, viewers, max_minutes);
        // Forget connections that left, now and then (the map holds about the members).
        (m.viewer_conns.len() as u64 > 2 * viewers + 64).then(|| m.viewer_conns.keys().copied().collect::<Vec<_>>())
    };
    if let Some(conns) = stale {
        let gone: Vec<ConnId> = conns.into_iter().filter(|c| !room.is_member(*c)).collect();
        let mut m = meter(room);
        gone.iter().for_each(|c| drop(m.viewer_conns.remove(c)));
    }
    Some(meter(room).figures(now, viewers))
}

impl Meter {
    /// Minutes count from when the LIVE started.
    fn begin(&mut self, started_at: Millis) {
        if self.started_at.is_none() {
            self.started_at = Some(started_at);
            self.minute.start = started_at;
        }
    }

    fn sample(&mut self, now: Millis, viewers: u64, max_minutes: usize) {
        if let Some(last) = self.last_tick {
            self.viewer_ms += self.last_viewers * now.saturating_sub(last);
        }
        self.last_tick = Some(now);
        self.last_viewers = viewers;
        self.peak = self.peak.max(viewers);
        while now >= self.minute.start + MINUTE_MS {
            let start = self.minute.start + MINUTE_MS;
            self.close_minute(start, max_minutes);
            self.minute.viewers = viewers;
        }
        self.minute.viewers = self.minute.viewers.max(viewers);
    }

    /// Close the minute in progress into the series and start the next at `next_start`.
    fn close_minute(&mut self, next_start: Millis, max_minutes: usize) {
        let mut done = std::mem::take(&mut self.minute);
        done.gmv = money(&std::mem::take(&mut self.minute_gmv));
        if self.minutes.len() >= max_minutes {
            self.minutes.pop_front();
        }
        self.minutes.push_back(done);
        self.minute.start = next_start;
    }

    fn figures(&self, now: Millis, viewers: u64) -> DashboardData {
        let unique = self.unique.len() as u64 + self.unique_untracked;
        let buyers = self.buyers.len() as u64 + self.buyers_untracked;
        // The top few in one pass: the product map may hold up to `dashboard_max_tracked` entries.
        let rank = |a: &&ProductStat, b: &&ProductStat| {
            b.units.cmp(&a.units).then(b.gmv.amount.cmp(&a.gmv.amount)).then(a.product_id.cmp(&b.product_id))
        };
        let mut top: Vec<&ProductStat> = Vec::with_capacity(TOP_PRODUCTS + 1);
        for stat in self.products.values() {
            let at = top.partition_point(|t| rank(t, &stat).is_le());
            if at < TOP_PRODUCTS {
                top.insert(at, stat);
                top.truncate(TOP_PRODUCTS);
            }
        }
        let second = now / 1000;
        DashboardData {
            started_at: self.started_at.unwrap_or(now),
            at: now,
            viewers,
            peak_viewers: self.peak.max(viewers),
            unique_viewers: unique,
            avg_watch_ms: self.viewer_ms.checked_div(unique).unwrap_or(0),
            comments: self.comments,
            comments_per_minute: self.recent.iter().filter(|(at, _)| at + 60 > second).map(|(_, n)| n).sum(),
            likes: self.likes,
            follows: self.follows,
            subscriptions: self.subscriptions,
            shares: self.shares,
            gifts: self.gifts,
            orders: self.orders,
            units: self.units,
            gmv: money(&self.gmv),
            buyers,
            conversion_bp: (buyers * 10_000).checked_div(unique).unwrap_or(0),
            top_products: top.into_iter().cloned().collect(),
            filtered: self.filtered,
            held: self.held,
            moderated: self.moderated,
            minute: MinutePoint { gmv: money(&self.minute_gmv), ..self.minute.clone() },
        }
    }
}

fn money(amounts: &BTreeMap<String, u64>) -> Vec<Money> {
    amounts.iter().map(|(currency, amount)| Money { currency: currency.clone(), amount: *amount }).collect()
}

/// `dashboard`: the figures now and the completed minutes.
pub fn read(ctx: &mut Ctx<'_>, room: &Room) -> HubResult<Outcome> {
    let now = ctx.rooms.now_ms();
    let viewers = room.viewer_count() as u64;
    let m = meter(room);
    let dashboard = m.figures(now, viewers);
    let minutes = m.minutes.iter().cloned().collect();
    Ok(Outcome::reply(ReplyResult::Dashboard { dashboard, minutes }))
}

/// The LIVE's summary: the final figures and the whole series (the last minute included), taken
/// once. `None` if the room has not ended after going live, or its summary is already stored.
pub fn finish(room: &Room, max_minutes: usize) -> Option<LiveSummary> {
    let lifecycle = room.lifecycle();
    let (started_at, ended_at) = (lifecycle.started_at?, lifecycle.ended_at?);
    let mut m = meter(room);
    if m.summarized {
        return None;
    }
    if let Some(summary) = &m.summary {
        return Some(summary.clone());
    }
    m.begin(started_at);
    if let Some(last) = m.last_tick {
        m.viewer_ms += m.last_viewers * ended_at.saturating_sub(last);
        m.last_tick = Some(ended_at);
    }
    let totals = m.figures(ended_at, 0);
    let next = m.minute.start + MINUTE_MS;
    m.close_minute(next, max_minutes);
    let summary = LiveSummary {
        room: room.id.clone(),
        creator_id: room.creator.id.clone(),
        title: lifecycle.title,
        started_at: totals.started_at,
        ended_at,
        totals,
        minutes: m.minutes.iter().cloned().collect(),
    };
    m.summary = Some(summary.clone());
    Some(summary)
}

/// The summary is in the store: housekeeping no longer needs to store it.
pub fn summary_stored(room: &Room) {
    let mut m = meter(room);
    m.summarized = true;
    m.summary = None;
}

/// Whether the room's summary is still to be taken (it ended after going live).
pub fn pending_summary(room: &Room) -> bool {
    let lifecycle = room.lifecycle();
    lifecycle.phase == Phase::Ended && lifecycle.started_at.is_some() && !meter(room).summarized
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_roll_on_the_clock_and_the_series_is_bounded() {
        let mut m = Meter::default();
        m.begin(1_000);
        m.sample(1_000, 3, 2);
        m.comments += 1;
        m.minute.comments += 1;
        m.sample(61_000, 5, 2);
        assert_eq!(m.minutes.len(), 1);
        assert_eq!((m.minutes[0].start, m.minutes[0].viewers, m.minutes[0].comments), (1_000, 3, 1));
        // Three more minutes pass at once: only the newest two are kept.
        m.sample(241_000, 4, 2);
        assert_eq!(m.minutes.len(), 2);
        assert_eq!(m.minute.start, 241_000);
        // Viewer time: 3 viewers for 60 s, then 5 for 180 s.
        assert_eq!(m.viewer_ms, 3 * 60_000 + 5 * 180_000);
        assert_eq!(m.peak, 5);
    }

    #[test]
    fn conversion_is_buyers_over_unique_viewers_in_basis_points() {
        let mut m = Meter::default();
        m.unique.extend(["a", "b", "c", "d"].map(String::from));
        m.buyers.insert("a".into());
        let figures = m.figures(0, 0);
        assert_eq!((figures.unique_viewers, figures.buyers, figures.conversion_bp), (4, 1, 2_500));
        assert_eq!(Meter::default().figures(0, 0).conversion_bp, 0, "no viewers, no division by zero");
    }

    #[test]
    fn the_top_products_are_the_five_with_most_units() {
        let mut m = Meter::default();
        for (i, units) in [3u64, 9, 1, 7, 7, 2, 8].into_iter().enumerate() {
            let id = format!("p{i}");
            let gmv = Money { currency: "EUR".into(), amount: units * 10 };
            m.products
                .insert(id.clone(), ProductStat { product_id: id, product_name: String::new(), orders: 1, units, gmv });
        }
        let top: Vec<String> = m.figures(0, 0).top_products.into_iter().map(|p| p.product_id).collect();
        assert_eq!(top, ["p1", "p6", "p3", "p4", "p0"]);
    }
}
