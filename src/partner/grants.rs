//! The live grants, in memory, kept in step with the store: every check before an agency command
//! reads this map, never the disk.
//!
//! Expiry needs no sweep: a grant's `expires_at` is compared with the clock at every check, so
//! access ends at the agreement's end by itself.

use dashmap::DashMap;
use stagehand_protocol::types::{GrantInfo, GrantStatus, Millis, Scope};
use stagehand_protocol::CloseCode;

/// What an agency may do in a creator's rooms right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Live(Vec<Scope>),
    Suspended,
    Expired,
    /// Never granted, declined, or revoked.
    None,
}

impl Access {
    /// The close code for connections that lose access in this state.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Access::Live(_) => None,
            Access::Suspended => Some(CloseCode::ACCESS_SUSPENDED),
            Access::Expired => Some(CloseCode::ACCESS_EXPIRED),
            Access::None => Some(CloseCode::ACCESS_REVOKED),
        }
    }
}

/// (creator, agency) → the pair's current grant.
#[derive(Default)]
pub struct GrantCache {
    map: DashMap<(String, String), GrantInfo>,
}

impl GrantCache {
    pub fn load(grants: Vec<GrantInfo>) -> Self {
        let cache = GrantCache::default();
        for grant in grants {
            cache.put(grant);
        }
        cache
    }

    /// Record a grant's new state (revoked grants are forgotten).
    pub fn put(&self, grant: GrantInfo) {
        let key = (grant.creator_id.clone(), grant.agency_id.clone());
        if grant.status == GrantStatus::Revoked {
            self.map.remove(&key);
        } else {
            self.map.insert(key, grant);
        }
    }

    pub fn remove(&self, creator_id: &str, agency_id: &str) {
        self.map.remove(&(creator_id.to_string(), agency_id.to_string()));
    }

    pub fn access(&self, creator_id: &str, agency_id: &str, now: Millis) -> Access {
        let Some(grant) = self.map.get(&(creator_id.to_string(), agency_id.to_string())) else {
            return Access::None;
        };
        if now >= grant.expires_at {
            return Access::Expired;
        }
        match grant.status {
            GrantStatus::Active => Access::Live(grant.scopes.clone()),
            GrantStatus::Suspended => Access::Suspended,
            GrantStatus::Revoked => Access::None,
        }
    }

    /// Forget grants that expired long enough ago that no connection can still hold them.
    pub fn forget_expired(&self, before: Millis) {
        self.map.retain(|_, grant| grant.expires_at > before);
    }
}
