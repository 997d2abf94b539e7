//! [`Moderation`]: each creator's moderation rules in memory — the keyword filter and the sanctioned
//! accounts, loaded from the store at start and changed only after the store committed — and each
//! room's recent comment traffic for the spam checks (memory only: it matters for seconds).

use super::filter::{words, Terms};
use crate::config::Config;
use crate::partner::inboxes::Inboxes;
use crate::partner::StoreHandle;
use crate::rooms::Rooms;
use crate::store::ModerationRows;
use dashmap::DashMap;
use stagehand_protocol::types::{BlockedTerm, Millis, ModeratedUser, RoomState as Phase, Sanction};
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The bounds and thresholds moderation works with (from [`Config`]).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_terms: usize,
    pub max_sanctions: usize,
    pub tracked_users: usize,
    pub flood_comments: usize,
    pub flood_window_ms: u64,
    pub repeat_window_ms: u64,
    /// The hub's room limit: the traffic of more rooms than this means some are gone.
    pub max_rooms: usize,
    pub staff_rate: f64,
    pub staff_burst: u32,
    /// People whose moderation budget is tracked at once (the hub's connection limit).
    pub staff_tracked: usize,
    /// Longest comment, characters (`max_comment_chars`).
    pub max_comment_chars: usize,
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        Limits {
            max_terms: config.max_blocked_terms,
            max_sanctions: config.max_sanctions,
            tracked_users: config.moderation_tracked_users.max(1),
            flood_comments: config.flood_comments.max(1),
            flood_window_ms: config.flood_window_ms,
            repeat_window_ms: config.repeat_window_ms,
            max_rooms: config.max_rooms,
            staff_rate: config.staff_moderation_rate,
            staff_burst: config.staff_moderation_burst,
            staff_tracked: config.max_connections,
            max_comment_chars: config.max_comment_chars,
        }
    }
}

/// One creator's rules.
#[derive(Debug, Default)]
struct CreatorRules {
    terms: Terms,
    /// Sanctions by account (at most one of each kind per account).
    sanctions: HashMap<String, Vec<ModeratedUser>>,
}

pub struct Moderation {
    pub limits: Limits,
    creators: DashMap<String, CreatorRules>,
    traffic: DashMap<String, Traffic>,
    pub(super) store: StoreHandle,
    pub(super) inboxes: Arc<Inboxes>,
    pub(super) rooms: Arc<Rooms>,
    /// Account-health counts not yet stored (filtered comments, refused agency operations).
    pub tally: crate::health::Tally,
    /// Each staff member's moderation budget, across their connections.
    pub staff_limits: crate::limits::PerPerson,
}

impl Moderation {
    pub fn new(
        limits: Limits,
        rows: ModerationRows,
        store: StoreHandle,
        inboxes: Arc<Inboxes>,
        rooms: Arc<Rooms>,
    ) -> Self {
        let mut terms: HashMap<String, Vec<BlockedTerm>> = HashMap::new();
        for (creator, term) in rows.terms {
            terms.entry(creator).or_default().push(term);
        }
        let creators: DashMap<String, CreatorRules> = DashMap::new();
        for (creator, listed) in terms {
            creators.entry(creator).or_default().terms = Terms::new(listed);
        }
        for (creator, user) in rows.sanctions {
            creators.entry(creator).or_default().sanctions.entry(user.user_id.clone()).or_default().push(user);
        }
        let staff_limits = crate::limits::PerPerson::new(limits.staff_rate, limits.staff_burst, limits.staff_tracked);
        Moderation {
            limits,
            creators,
            traffic: DashMap::new(),
            store,
            inboxes,
            rooms,
            tally: Default::default(),
            staff_limits,
        }
    }

    /// Whether `sanction` on `user` is in force at `now`: mutes end at `until`, or with the LIVE
    /// of their room.
    fn in_force(&self, sanction: &ModeratedUser, now: Millis) -> bool {
        match (sanction.sanction, sanction.until, &sanction.room) {
            (Sanction::Muted, Some(until), _) => now < until,
            (Sanction::Muted, None, Some(room)) => self.rooms.find(room).is_some_and(|r| r.phase() != Phase::Ended),
            (Sanction::Muted, None, None) => false,
            _ => true,
        }
    }

    fn sanction(&self, creator_id: &str, user_id: &str, kind: Sanction, now: Millis) -> Option<ModeratedUser> {
        let rules = self.creators.get(creator_id)?;
        let found = rules.sanctions.get(user_id)?.iter().find(|s| s.sanction == kind)?.clone();
        drop(rules);
        self.in_force(&found, now).then_some(found)
    }

    /// `Some(until)` when `user_id` is muted in `creator_id`'s rooms (`until: None`: for the rest
    /// of a LIVE).
    pub fn mute_of(&self, creator_id: &str, user_id: &str, now: Millis) -> Option<Option<Millis>> {
        self.sanction(creator_id, user_id, Sanction::Muted, now).map(|m| m.until)
    }

    pub fn is_blocked(&self, creator_id: &str, user_id: &str) -> bool {
        self.sanction(creator_id, user_id, Sanction::Blocked, 0).is_some()
    }

    pub fn is_hidden(&self, creator_id: &str, user_id: &str) -> bool {
        self.sanction(creator_id, user_id, Sanction::Hidden, 0).is_some()
    }

    /// Whether a normalized comment hits one of the creator's terms in force at `now`.
    pub fn hits_terms(&self, creator_id: &str, normalized: &str, now: Millis) -> bool {
        let Some(rules) = self.creators.get(creator_id) else { return false };
        !rules.terms.is_empty() && rules.terms.hits(&words(normalized), now)
    }

    /// The creator's terms in force at `now`.
    pub fn terms(&self, creator_id: &str, now: Millis) -> Vec<BlockedTerm> {
        let Some(rules) = self.creators.get(creator_id) else { return Vec::new() };
        rules.terms.listed.iter().filter(|t| t.expires_at.is_none_or(|at| now < at)).cloned().collect()
    }

    /// Every term listed, expired ones too (for merging a change).
    pub(super) fn all_terms(&self, creator_id: &str) -> Vec<BlockedTerm> {
        self.creators.get(creator_id).map(|r| r.terms.listed.clone()).unwrap_or_default()
    }

    pub(super) fn set_terms(&self, creator_id: &str, listed: Vec<BlockedTerm>) {
        self.creators.entry(creator_id.to_string()).or_default().terms = Terms::new(listed);
    }

    /// The creator's sanctions in force at `now`, by account.
    pub fn sanctions(&self, creator_id: &str, now: Millis) -> Vec<ModeratedUser> {
        let all: Vec<ModeratedUser> = match self.creators.get(creator_id) {
            Some(rules) => rules.sanctions.values().flatten().cloned().collect(),
            None => return Vec::new(),
        };
        let mut live: Vec<ModeratedUser> = all.into_iter().filter(|s| self.in_force(s, now)).collect();
        live.sort_by(|a, b| (&a.user_id, a.sanction as u8).cmp(&(&b.user_id, b.sanction as u8)));
        live
    }

    pub(super) fn put_sanction(&self, creator_id: &str, sanction: ModeratedUser) {
        let mut rules = self.creators.entry(creator_id.to_string()).or_default();
        let list = rules.sanctions.entry(sanction.user_id.clone()).or_default();
        list.retain(|s| s.sanction != sanction.sanction);
        list.push(sanction);
    }

    pub(super) fn remove_sanction(&self, creator_id: &str, user_id: &str, kind: Sanction) {
        let Some(mut rules) = self.creators.get_mut(creator_id) else { return };
        if let Some(list) = rules.sanctions.get_mut(user_id) {
            list.retain(|s| s.sanction != kind);
            if list.is_empty() {
                rules.sanctions.remove(user_id);
            }
        }
    }

    /// Drop sanctions no longer in force from memory (their rows go at the next start).
    pub(super) fn forget_lapsed(&self, creator_id: &str, now: Millis) {
        let lapsed: Vec<(String, Sanction)> = match self.creators.get(creator_id) {
            Some(rules) => rules
                .sanctions
                .values()
                .flatten()
                .filter(|s| !self.in_force(s, now))
                .map(|s| (s.user_id.clone(), s.sanction))
                .collect(),
            None => return,
        };
        for (user, kind) in lapsed {
            self.remove_sanction(creator_id, &user, kind);
        }
    }

    /// Run `f` on `room`'s comment traffic. Bounded: once more rooms have traffic than the hub
    /// may have rooms, the traffic of rooms it no longer has is forgotten.
    pub fn traffic<T>(&self, room: &str, f: impl FnOnce(&mut Traffic) -> T) -> T {
        let limits = self.limits;
        if self.traffic.len() > limits.max_rooms && !self.traffic.contains_key(room) {
            self.forget_rooms();
        }
        let mut traffic = self
            .traffic
            .entry(room.to_string())
            .or_insert_with(|| Traffic::new(limits.tracked_users, limits.flood_comments + 1));
        f(&mut traffic)
    }

    /// Forget the traffic of rooms the hub no longer has.
    pub fn forget_rooms(&self) {
        self.traffic.retain(|room, _| self.rooms.find(room).is_some());
    }
}

/// A room's recent comments per account, for slow mode and the spam checks. Bounded: at most
/// `cap` accounts (the least recently active is forgotten first) and `keep` comments each.
#[derive(Debug)]
pub struct Traffic {
    users: HashMap<String, VecDeque<(u64, Millis)>>,
    cap: usize,
    keep: usize,
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic::new(10_000, 16)
    }
}

fn text_hash(normalized: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    normalized.hash(&mut hasher);
    hasher.finish()
}

impl Traffic {
    pub fn new(cap: usize, keep: usize) -> Self {
        Traffic { users: HashMap::new(), cap: cap.max(1), keep: keep.max(1) }
    }

    /// Remember a comment `user` sent (published or held).
    pub fn record(&mut self, user: &str, normalized: &str, now: Millis) {
        if !self.users.contains_key(user) && self.users.len() >= self.cap {
            let oldest =
                self.users.iter().min_by_key(|(_, c)| c.back().map_or(0, |(_, at)| *at)).map(|(u, _)| u.clone());
            if let Some(oldest) = oldest {
                self.users.remove(&oldest);
            }
        }
        let comments = self.users.entry(user.to_string()).or_default();
        if comments.len() == self.keep {
            comments.pop_front();
        }
        comments.push_back((text_hash(normalized), now));
    }

    pub fn last_comment(&self, user: &str) -> Option<Millis> {
        self.users.get(user)?.back().map(|(_, at)| *at)
    }

    /// Whether `user` sent the same text within `window` ms before `now`.
    pub fn repeats(&self, user: &str, normalized: &str, now: Millis, window: u64) -> bool {
        let hash = text_hash(normalized);
        self.users.get(user).is_some_and(|c| c.iter().any(|(h, at)| *h == hash && now.saturating_sub(*at) < window))
    }

    /// How many comments `user` sent within `window` ms before `now`.
    pub fn recent_count(&self, user: &str, now: Millis, window: u64) -> usize {
        self.users.get(user).map_or(0, |c| c.iter().filter(|(_, at)| now.saturating_sub(*at) < window).count())
    }
}
