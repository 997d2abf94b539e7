//! Rate limits (governor): one limiter per user and one per room for each limited class of
//! command. A user's limiters are shared by that user's connections and live as long as one is
//! open (see `conn::admission`); a room's live inside the room. No keyed map grows with clients.

use crate::config::Config;
use crate::error::HubError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};
use std::num::NonZeroU32;
use std::sync::LazyLock;
use std::time::Duration;

/// One clock for every limiter. Each `DefaultClock::default()` probes the CPU for a usable
/// counter (CPUID, which traps to the hypervisor on a VM), and a connection makes two limiters:
/// that probe was ~3% of the hub's CPU per connection set up.
static CLOCK: LazyLock<DefaultClock> = LazyLock::new(DefaultClock::default);

/// The classes of rate-limited command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitClass {
    Comment,
    /// Moderation and room operations (and attempts at them, which are audited).
    Operation,
    /// Joining and leaving rooms: per user only, so one client's churn never spends a room's
    /// budget.
    Presence,
}

impl LimitClass {
    pub const ALL: [LimitClass; 3] = [LimitClass::Comment, LimitClass::Operation, LimitClass::Presence];

    pub fn label(self) -> &'static str {
        match self {
            LimitClass::Comment => "comment",
            LimitClass::Operation => "operation",
            LimitClass::Presence => "presence",
        }
    }
}

/// One limiter per class (`None`: that class is not limited at this level).
pub struct Limiters {
    comment: DefaultDirectRateLimiter,
    operation: DefaultDirectRateLimiter,
    presence: Option<DefaultDirectRateLimiter>,
}

impl Limiters {
    pub fn per_user(config: &Config) -> Self {
        Limiters {
            comment: limiter(config.comment_rate, config.comment_burst),
            operation: limiter(config.ops_rate, config.ops_burst),
            presence: Some(limiter(config.join_rate, config.join_burst)),
        }
    }

    pub fn per_room(config: &Config) -> Self {
        Limiters {
            comment: limiter(config.room_comment_rate, config.room_comment_burst),
            operation: limiter(config.room_ops_rate, config.room_ops_burst),
            presence: None,
        }
    }

    /// Take one cell of `class`, or say how long until one is free.
    pub fn check(&self, class: LimitClass, scope: &str) -> Result<(), HubError> {
        let limiter = match class {
            LimitClass::Comment => &self.comment,
            LimitClass::Operation => &self.operation,
            LimitClass::Presence => match &self.presence {
                Some(limiter) => limiter,
                None => return Ok(()),
            },
        };
        limiter.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(CLOCK.now());
            HubError::rate_limited(&format!("{scope} {}", class.label()), wait.as_millis() as u64)
        })
    }
}

/// One budget per person (a user id), shared by all of that person's connections: moderation
/// commands are limited per staff member, so opening more consoles buys no more. Keys are added
/// only for callers the policy table already allowed; the map forgets keys whose budget is full
/// again once it holds more than `max_keys`, and past that refuses new keys (`rate_limited`)
/// rather than growing.
pub struct PerPerson {
    limiter: governor::DefaultKeyedRateLimiter<String>,
    max_keys: usize,
}

impl PerPerson {
    pub fn new(per_second: f64, burst: u32, max_keys: usize) -> Self {
        let state = governor::state::keyed::DefaultKeyedStateStore::default();
        PerPerson {
            limiter: governor::RateLimiter::new(quota(per_second, burst), state, CLOCK.clone()),
            max_keys: max_keys.max(1),
        }
    }

    /// Take one cell of `person`'s budget, or say how long until one is free.
    pub fn check(&self, person: &str, what: &str) -> Result<(), HubError> {
        let key = person.to_string();
        if self.limiter.len() >= self.max_keys {
            self.limiter.retain_recent();
            if self.limiter.len() >= self.max_keys {
                return Err(HubError::rate_limited(what, 1_000));
            }
        }
        self.limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(CLOCK.now());
            HubError::rate_limited(what, wait.as_millis() as u64)
        })
    }
}

fn limiter(per_second: f64, burst: u32) -> DefaultDirectRateLimiter {
    DefaultDirectRateLimiter::direct_with_clock(quota(per_second, burst), CLOCK.clone())
}

fn quota(per_second: f64, burst: u32) -> Quota {
    // Config validation guarantees a positive, finite rate.
    let period = Duration::from_secs_f64(1.0 / per_second).max(Duration::from_nanos(1));
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN)).allow_burst(burst)
}
