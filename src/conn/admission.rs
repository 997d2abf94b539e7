//! Who may open a WebSocket connection, decided at the upgrade (before any socket is handed
//! over) and once more when a connection authenticates:
//!
//! - **Origin** (`allowed_origins`): a browser names the page that opens a WebSocket in `Origin`;
//!   without a check, any site's page could open a connection with the visitor's cookies or
//!   token (cross-site WebSocket hijacking). Allowed: no `Origin` (not a browser), the hub's own
//!   origin (`Origin`'s host and port equal `Host`'s), and the origins listed — compared whole
//!   (scheme, host and port), so `null` and look-alike hosts (`https://shop.example.evil`) are
//!   refused with 403. `*` in the list allows any origin.
//! - **Per-address connection rate** (`connection_rate`, `connection_burst`; governor, keyed by
//!   the client's address): one address opening connections in a loop gets 429 with
//!   `Retry-After`. The address is the TCP peer's, or — when the peer is one of
//!   `trusted_proxies` — the right-most address in `X-Forwarded-For` that is not a trusted proxy
//!   (the left part of that header is whatever the client wrote, so it is never believed).
//! - **Per-user concurrent connections** (`max_connections_per_user`): a user at the cap gets 429
//!   at the upgrade when its token is in the `Authorization` header, and a connection that
//!   authenticates with a `connect` frame is closed with 4014 `too_many_connections`. The count is
//!   held by a [`UserSlot`] for the connection's life.
//! - **`max_connections` against the descriptor limit** ([`clamp_max_connections`], at start):
//!   each connection is a descriptor, so a limit above `RLIMIT_NOFILE` would fail at accept
//!   (EMFILE) instead of answering 503; it is lowered, with a warning, to what fits.
//!
//! The keyed maps are bounded: the rate limiter forgets idle addresses and never tracks more than
//! `max_tracked_addresses` (a new address beyond that is refused as if limited); the per-user map
//! has one entry per user with an open connection.

use crate::config::Config;
use crate::limits::Limiters;
use crate::metrics::{Metrics, Tripped};
use axum::http::{header, HeaderMap};
use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// Descriptors kept for everything that is not a client connection: the listener, the store's
/// SQLite files and threads, logs, the HTTP API's own connections.
pub const RESERVED_FDS: u64 = 256;

/// Why an upgrade (or an HTTP request) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 403: an `Origin` that is not allowed.
    Origin(String),
    /// 429: over a per-address or per-user limit; `Retry-After` is this many seconds.
    Limited { limit: &'static str, retry_after_secs: u64 },
}

/// The admission state the hub shares.
pub struct Admission {
    allowed_origins: Vec<Origin>,
    any_origin: bool,
    trusted_proxies: Vec<IpAddr>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    max_tracked_addresses: usize,
    per_user: Arc<DashMap<String, User>>,
    max_per_user: usize,
}

/// A user with connections open: how many, and the command budgets they share.
struct User {
    open: usize,
    limits: Arc<Limiters>,
}

impl Admission {
    pub fn new(config: &Config) -> Self {
        Admission {
            allowed_origins: config.allowed_origins.iter().filter_map(|o| Origin::parse(o)).collect(),
            any_origin: config.allowed_origins.iter().any(|o| o.trim() == "*"),
            trusted_proxies: config.trusted_proxies.clone(),
            per_address: keyed_limiter(config.connection_rate, config.connection_burst),
            max_tracked_addresses: config.max_tracked_addresses.max(1),
            per_user: Arc::new(DashMap::new()),
            max_per_user: config.max_connections_per_user,
        }
    }

    /// The checks made before anything else at the upgrade: the origin, then the address's rate.
    pub fn at_upgrade(&self, metrics: &Metrics, peer: SocketAddr, headers: &HeaderMap) -> Result<(), Refusal> {
        if let Err(refusal) = self.check_origin(headers) {
            metrics.tripped(Tripped::Origin);
            return Err(refusal);
        }
        let address = self.client_ip(peer, headers);
        if let Err(refusal) = self.check_rate(address) {
            metrics.tripped(Tripped::ConnectionRate);
            return Err(refusal);
        }
        Ok(())
    }

    /// The client's address: the peer's, or, behind a trusted proxy, the right-most
    /// `X-Forwarded-For` entry that is not a trusted proxy.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer.ip());
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in forwarded.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.trusted_proxies.contains(&canonical(ip)) => continue,
                Ok(ip) => return canonical(ip),
                // A hop the proxy chain did not write: stop at the last address we can trust.
                Err(_) => break,
            }
        }
        peer
    }

    fn check_origin(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let Some(value) = headers.get(header::ORIGIN) else { return Ok(()) };
        if self.any_origin {
            return Ok(());
        }
        let text = value.to_str().unwrap_or("");
        let refused = || Refusal::Origin(format!("origin {text:?} is not allowed"));
        let origin = Origin::parse(text).ok_or_else(refused)?;
        // A `Host` without a port is on the default port of the origin's scheme.
        let default_port = Origin::default_port(&origin.scheme).unwrap_or(0);
        let host =
            headers.get(header::HOST).and_then(|h| h.to_str().ok()).and_then(|h| Origin::host_port(h, default_port));
        if host.is_some_and(|(host, port)| host == origin.host && port == origin.port) {
            return Ok(());
        }
        if self.allowed_origins.contains(&origin) {
            return Ok(());
        }
        Err(refused())
    }

    fn check_rate(&self, address: IpAddr) -> Result<(), Refusal> {
        if self.per_address.len() >= self.max_tracked_addresses {
            self.per_address.retain_recent();
            if self.per_address.len() >= self.max_tracked_addresses {
                return Err(Refusal::Limited { limit: "connection_rate", retry_after_secs: 1 });
            }
        }
        self.per_address.check_key(&address).map_err(|not_until| Refusal::Limited {
            limit: "connection_rate",
            retry_after_secs: retry_after_secs(not_until.wait_time_from(DefaultClock::default().now())),
        })
    }

    /// At the upgrade, with the token from the header: 429 if its user is at the cap (the slot
    /// itself is taken when the connection authenticates).
    pub fn user_refusal(&self, metrics: &Metrics, identity: &crate::auth::Identity) -> Option<Refusal> {
        if self.user_has_room(&identity.user.id) {
            return None;
        }
        metrics.tripped(Tripped::ConnectionsPerUser);
        Some(Refusal::Limited { limit: "connections_per_user", retry_after_secs: 1 })
    }

    /// Whether `user` may open one more connection.
    pub fn user_has_room(&self, user: &str) -> bool {
        self.per_user.get(user).is_none_or(|u| u.open < self.max_per_user)
    }

    /// Count one more connection of `user`, or `None` at `max_connections_per_user`. The user's
    /// connections share one set of command budgets (`comment_rate`, `ops_rate`, `join_rate`),
    /// made with the first and forgotten with the last.
    pub fn user_slot(&self, user: &str, config: &Config) -> Option<UserSlot> {
        let mut entry = self
            .per_user
            .entry(user.to_string())
            .or_insert_with(|| User { open: 0, limits: Arc::new(Limiters::per_user(config)) });
        if entry.open >= self.max_per_user {
            return None;
        }
        entry.open += 1;
        Some(UserSlot { map: self.per_user.clone(), user: user.to_string(), limits: entry.limits.clone() })
    }
}

/// One open connection of a user, counted until dropped.
pub struct UserSlot {
    map: Arc<DashMap<String, User>>,
    user: String,
    limits: Arc<Limiters>,
}

impl UserSlot {
    /// The budgets this user's connections share.
    pub fn limits(&self) -> Arc<Limiters> {
        self.limits.clone()
    }
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        self.map.remove_if_mut(&self.user, |_, user| {
            user.open = user.open.saturating_sub(1);
            user.open == 0
        });
    }
}

/// `Retry-After` in whole seconds, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

/// A keyed limiter allowing `burst` at once, then `per_second`.
pub fn keyed_limiter(per_second: f64, burst: u32) -> DefaultKeyedRateLimiter<IpAddr> {
    let period = Duration::from_secs_f64(1.0 / per_second).max(Duration::from_nanos(1));
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN)).allow_burst(burst);
    DefaultKeyedRateLimiter::keyed(quota)
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A web origin: scheme, lower-case host, port (the scheme's default when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// `scheme://host[:port]` with nothing after it; `None` for anything else (`null` included).
    fn parse(text: &str) -> Option<Origin> {
        let text = text.trim();
        let (scheme, rest) = text.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = Origin::default_port(&scheme)?;
        let (host, port) = Origin::host_port(rest, default_port)?;
        Some(Origin { scheme, host, port })
    }

    fn default_port(scheme: &str) -> Option<u16> {
        match scheme {
            "http" | "ws" => Some(80),
            "https" | "wss" => Some(443),
            _ => None,
        }
    }

    /// `host[:port]` (IPv6 in brackets), lower-cased, with `default_port` when none is given.
    fn host_port(text: &str, default_port: u16) -> Option<(String, u16)> {
        if text.is_empty() || text.contains(['/', '?', '#', '@', ' ']) {
            return None;
        }
        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => (host, port.parse().ok()?),
            _ => (text, default_port),
        };
        if host.is_empty() {
            return None;
        }
        Some((host.to_ascii_lowercase(), port))
    }
}

/// Lower `max_connections` to what the process's descriptor limit (`RLIMIT_NOFILE`, soft) can
/// hold beside [`RESERVED_FDS`], with a warning. Where the limit cannot be read, nothing changes.
pub fn clamp_max_connections(config: &mut Config) {
    let Some(limit) = descriptor_limit() else { return };
    let fits = usize::try_from(limit.saturating_sub(RESERVED_FDS).max(1)).unwrap_or(usize::MAX);
    if config.max_connections > fits {
        tracing::warn!(
            max_connections = config.max_connections,
            descriptor_limit = limit,
            clamped_to = fits,
            "max_connections is above what the descriptor limit can hold; lowered (raise `ulimit -n` to keep it)"
        );
        config.max_connections = fits;
    }
}

/// The soft `RLIMIT_NOFILE`, from `/proc/self/limits` (Linux); `None` when unlimited or unknown.
pub fn descriptor_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(origins: &[&str], proxies: &[&str]) -> Admission {
        let config = Config {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            trusted_proxies: proxies.iter().map(|s| s.parse().unwrap()).collect(),
            ..Config::default()
        };
        Admission::new(&config)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn same_origin_listed_origins_and_no_origin_pass_everything_else_is_refused() {
        let a = admission(&["https://shop.example.com"], &[]);
        let ok = |h: &[(&'static str, &str)]| a.check_origin(&headers(h)).is_ok();
        assert!(ok(&[("host", "hub.example.com")]));
        assert!(!ok(&[("host", "hub.example.com"), ("origin", "https://hub.example.com:80")]));
        assert!(ok(&[("host", "hub.example.com"), ("origin", "http://hub.example.com")]));
        assert!(ok(&[("host", "hub.example.com:8080"), ("origin", "http://HUB.example.com:8080")]));
        assert!(ok(&[("host", "hub.example.com"), ("origin", "https://shop.example.com")]));
        assert!(ok(&[("host", "hub.example.com"), ("origin", "https://shop.example.com:443")]));
        for bad in [
            "null",
            "https://shop.example.com.evil.net",
            "https://evilshop.example.com",
            "http://shop.example.com",
            "https://shop.example.com:8443",
            "https://shop.example.com/path",
            "https://user@shop.example.com",
            "file://",
            "",
        ] {
            assert!(!ok(&[("host", "hub.example.com"), ("origin", bad)]), "{bad:?} was allowed");
        }
        assert!(admission(&["*"], &[]).check_origin(&headers(&[("origin", "null")])).is_ok());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies_and_only_its_right_end() {
        let a = admission(&[], &["10.0.0.1", "10.0.0.2"]);
        let peer = |ip: &str| SocketAddr::new(ip.parse().unwrap(), 1);
        let xff = |v: &str| headers(&[("x-forwarded-for", v)]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(a.client_ip(peer("198.51.100.7"), &xff("203.0.113.1")), ip("198.51.100.7"));
        assert_eq!(a.client_ip(peer("10.0.0.1"), &xff("203.0.113.1")), ip("203.0.113.1"));
        assert_eq!(a.client_ip(peer("10.0.0.1"), &xff("1.1.1.1, 203.0.113.1, 10.0.0.2")), ip("203.0.113.1"));
        assert_eq!(a.client_ip(peer("10.0.0.1"), &xff("garbage, 10.0.0.2")), ip("10.0.0.1"));
        assert_eq!(a.client_ip(peer("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
        assert_eq!(a.client_ip(peer("::ffff:10.0.0.1"), &xff("203.0.113.1")), ip("203.0.113.1"));
    }

    #[test]
    fn user_slots_count_open_connections_and_forget_users_with_none() {
        let a = Admission::new(&Config { max_connections_per_user: 2, ..Config::default() });
        let config = Config::default();
        let one = a.user_slot("u", &config).unwrap();
        let two = a.user_slot("u", &config).unwrap();
        assert!(Arc::ptr_eq(&one.limits(), &two.limits()), "one user, one set of budgets");
        assert!(a.user_slot("u", &config).is_none() && !a.user_has_room("u"));
        assert!(a.user_slot("other", &config).is_some());
        drop(one);
        assert!(a.user_has_room("u"));
        drop(two);
        assert!(a.per_user.is_empty());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2_001)), 3);
    }
}
