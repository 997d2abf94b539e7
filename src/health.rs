//! Account health: per creator, the moderation counts (filtered comments, mutes, blocks, refused
//! agency operations) and a check of the creator's setup that lists what needs acting on.
//!
//! Counts are running totals in the store (`health_counters`). Mutes and blocks are added in the
//! transaction that stores the sanction; filtered comments and refused agency operations happen on
//! paths that do not write the store (a comment is screened synchronously, a refusal changes
//! nothing), so [`Tally`] counts them in memory and [`run`] adds them to the store once a second
//! (and shutdown once more): a `kill -9` may lose the last second of these two counts. A report
//! adds what is pending in the transaction that reads the totals, so it never misses a count.
//!
//! The check ([`report`]) reads the creator's live rooms (billboard, bag, flash sale), its product
//! sets, its scheduled LIVE events and the agencies' live grants; each finding has a stable
//! [`FindingKind`] and the ids to act on. The list is bounded ([`MAX_HEALTH_FINDINGS`]).

use crate::config::Config;
use crate::error::HubResult;
use crate::partner::StoreHandle;
use crate::rooms::features::moderation::{filter, Moderation};
use crate::rooms::Rooms;
use crate::store::GrantFilter;
use stagehand_protocol::types::{
    AccountHealth, FindingKind, FlashSaleStatus, GrantStatus, HealthCounts, HealthFinding, Millis, RoomState as Phase,
    MAX_HEALTH_FINDINGS,
};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Most creators with counts waiting for the next flush; counts for more are dropped (and logged)
/// rather than letting the map grow.
pub const MAX_PENDING_CREATORS: usize = 10_000;

/// Counts not yet in the store, by creator.
#[derive(Debug, Default)]
pub struct Tally {
    pending: Mutex<HashMap<String, HealthCounts>>,
}

impl Tally {
    fn bump(&self, creator_id: &str, add: impl FnOnce(&mut HealthCounts)) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(counts) = pending.get_mut(creator_id) {
            add(counts);
            return;
        }
        if pending.len() >= MAX_PENDING_CREATORS {
            tracing::warn!(creator = creator_id, "too many creators with pending health counts; one dropped");
            return;
        }
        add(pending.entry(creator_id.to_string()).or_default());
    }

    /// A comment of `creator_id`'s rooms was held for review.
    pub fn filtered(&self, creator_id: &str) {
        self.bump(creator_id, |c| c.filtered_comments += 1);
    }

    /// An agency command on `creator_id` was refused as `forbidden`.
    pub fn refused(&self, creator_id: &str) {
        self.bump(creator_id, |c| c.refused_agency_operations += 1);
    }

    fn take(&self) -> HashMap<String, HealthCounts> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn take_one(&self, creator_id: &str) -> Option<HealthCounts> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(creator_id)
    }

    /// Put counts that could not be stored back, to retry at the next flush.
    fn restore(&self, creator_id: String, counts: HealthCounts) {
        self.bump(&creator_id, |c| {
            c.filtered_comments += counts.filtered_comments;
            c.mutes += counts.mutes;
            c.blocks += counts.blocks;
            c.refused_agency_operations += counts.refused_agency_operations;
        });
    }

    /// Add every pending count to the store in one transaction; on failure they stay pending.
    pub async fn flush(&self, store: &StoreHandle) {
        let pending = self.take();
        if pending.is_empty() {
            return;
        }
        let batch = pending.clone();
        let written = store
            .write(move |tx| {
                for (creator, delta) in &batch {
                    tx.add_health_counts(creator, delta)?;
                }
                Ok(())
            })
            .await;
        if let Err(error) = written {
            tracing::warn!(?error, "could not store health counts; retrying");
            for (creator, counts) in pending {
                self.restore(creator, counts);
            }
        }
    }
}

/// Flush the tally once a second until shutdown (which flushes once more, after the
/// connections closed).
pub async fn run(moderation: std::sync::Arc<Moderation>, store: StoreHandle, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => moderation.tally.flush(&store).await,
        }
    }
}

/// What a report reads.
pub struct Sources<'a> {
    pub store: &'a StoreHandle,
    pub rooms: &'a Rooms,
    pub moderation: &'a Moderation,
    pub config: &'a Config,
}

/// `creator_id`'s account health now.
pub async fn report(sources: Sources<'_>, creator_id: &str) -> HubResult<AccountHealth> {
    let now = sources.config.clock.now_ms();
    let pending = sources.moderation.tally.take_one(creator_id);
    let (creator, limit) = (creator_id.to_string(), sources.config.max_live_events.min(u64::from(u32::MAX)) as u32);
    let read = sources
        .store
        .write(move |tx| {
            if let Some(delta) = &pending {
                tx.add_health_counts(&creator, delta)?;
            }
            Ok((tx.health_counts(&creator)?, tx.live_events(&creator, false, limit)?))
        })
        .await;
    let (counts, events) = match read {
        Ok(read) => read,
        Err(error) => {
            if let Some(delta) = pending {
                sources.moderation.tally.restore(creator_id.to_string(), delta);
            }
            return Err(error);
        }
    };
    let creator = creator_id.to_string();
    let sets = sources.store.call(move |s| s.product_sets(&creator)).await?;
    let filter = GrantFilter { creator_id: Some(creator_id.to_string()), agency_id: None, live_only: true };
    let grants = sources.store.call(move |s| s.grants(&filter, now)).await?;

    let mut findings = Findings::default();
    let hits = |text: &str| sources.moderation.hits_terms(creator_id, &filter::normalize(text), now);
    for room in sources.rooms.all() {
        if room.creator.id != creator_id {
            continue;
        }
        let (phase, billboard, bag, sale) =
            room.op().read(|s| (s.lifecycle.phase, s.billboard.clone(), s.bag.clone(), s.flash_sale.clone()));
        if phase == Phase::Ended {
            continue;
        }
        if let Some(board) = billboard {
            if hits(&board.title) || board.text.as_deref().is_some_and(&hits) {
                let mut f = HealthFinding::new(
                    FindingKind::BillboardBlockedTerm,
                    format!("the billboard {:?} hits a blocked term", board.title),
                );
                f.room = Some(room.id.clone());
                f.billboard_id = Some(board.billboard_id);
                findings.push(f);
            }
        }
        for item in &bag.items {
            if hits(&item.product.title) {
                let mut f = HealthFinding::new(
                    FindingKind::BagBlockedTerm,
                    format!("the bag's product {:?} hits a blocked term", item.product.title),
                );
                f.room = Some(room.id.clone());
                f.product_id = Some(item.product.product_id.clone());
                findings.push(f);
            }
        }
        if let (Some(sale), Some(pinned)) = (sale, &bag.pinned) {
            if sale.status == FlashSaleStatus::SoldOut && &sale.product.product_id == pinned {
                let mut f = HealthFinding::new(
                    FindingKind::SoldOutPinned,
                    format!("{:?} sold out in its flash sale and is still pinned", sale.product.title),
                );
                f.room = Some(room.id.clone());
                f.product_id = Some(pinned.clone());
                f.sale_id = Some(sale.sale_id);
                findings.push(f);
            }
        }
    }
    for set in &sets {
        let mut offending: Vec<(Option<String>, String)> = Vec::new();
        if hits(&set.name) {
            offending.push((None, format!("the product set {:?}'s name hits a blocked term", set.name)));
        }
        for product in &set.products {
            if hits(&product.title) {
                let detail = format!("{:?} in the product set {:?} hits a blocked term", product.title, set.name);
                offending.push((Some(product.product_id.clone()), detail));
            }
        }
        for (product_id, detail) in offending {
            let mut f = HealthFinding::new(FindingKind::ProductSetBlockedTerm, detail);
            f.set_id = Some(set.set_id.clone());
            f.product_id = product_id;
            findings.push(f);
        }
    }
    for event in events.iter().filter(|e| e.starts_at >= now) {
        let finding = match &event.product_set_id {
            None => Some(HealthFinding::new(
                FindingKind::EventWithoutProductSet,
                format!("the LIVE {:?} has no product set", event.title),
            )),
            Some(set_id) if !sets.iter().any(|s| &s.set_id == set_id) => {
                let mut f = HealthFinding::new(
                    FindingKind::EventProductSetMissing,
                    format!("the LIVE {:?} names the product set {set_id:?}, which no longer exists", event.title),
                );
                f.set_id = Some(set_id.clone());
                Some(f)
            }
            Some(_) => None,
        };
        if let Some(mut f) = finding {
            f.room = Some(event.room.clone());
            f.event_id = Some(event.event_id.clone());
            findings.push(f);
        }
    }
    let window = sources.config.grant_expiry_warning_ms;
    for grant in grants.iter().filter(|g| g.status != GrantStatus::Revoked) {
        if grant.expires_at > now && grant.expires_at - now <= window {
            let mut f = HealthFinding::new(
                FindingKind::GrantExpiring,
                format!("{}'s access ends in {} minutes", grant.agency_name, (grant.expires_at - now) / 60_000),
            );
            f.agency_id = Some(grant.agency_id.clone());
            f.expires_at = Some(grant.expires_at);
            findings.push(f);
        }
    }
    Ok(findings.into_health(creator_id, counts, now))
}

/// The findings so far, bounded.
#[derive(Default)]
struct Findings {
    items: Vec<HealthFinding>,
    truncated: bool,
}

impl Findings {
    fn push(&mut self, finding: HealthFinding) {
        match self.items.len() < MAX_HEALTH_FINDINGS {
            true => self.items.push(finding),
            false => self.truncated = true,
        }
    }

    fn into_health(self, creator_id: &str, counts: HealthCounts, now: Millis) -> AccountHealth {
        AccountHealth {
            creator_id: creator_id.to_string(),
            counts,
            findings: self.items,
            truncated: self.truncated,
            checked_at: now,
        }
    }
}
