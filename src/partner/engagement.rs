//! What the engagement features (giveaways, the activity feed, the dashboard) need from Creator
//! Partner Access and its store: who may see analytics, LIVE summaries in the store, and the
//! audit record of a giveaway's draw.

use super::grants::Access;
use super::Partner;
use crate::error::{HubError, HubResult};
use crate::rooms::features::{dashboard, giveaway};
use crate::rooms::Room;
use crate::store::NewAudit;
use serde_json::json;
use stagehand_protocol::types::{LiveSummary, Operator, Scope};
use std::sync::Arc;

impl Partner {
    /// Whether `agency_id`'s live grant for `creator_id` has `scope`.
    pub fn has_scope(&self, creator_id: &str, agency_id: &str, scope: Scope) -> bool {
        matches!(self.access(creator_id, agency_id), Access::Live(scopes) if scopes.contains(&scope))
    }

    /// Which of a room's staff members receive analytics (the dashboard, the full feed): the
    /// creator's own connections (no operator) and staff whose agency's grant has `analytics`.
    pub fn analysts<'a>(&'a self, room: &'a Room) -> impl FnMut(Option<&Operator>) -> bool + 'a {
        move |operator| operator.is_none_or(|o| self.has_scope(&room.creator.id, &o.agency_id, Scope::Analytics))
    }

    /// Store the summary of a room whose LIVE ended (once; see [`dashboard::finish`]).
    pub async fn store_summary(&self, room: &Room, max_minutes: usize) -> HubResult<()> {
        let Some(summary) = dashboard::finish(room, max_minutes) else { return Ok(()) };
        self.store.write(move |tx| tx.save_summary(&summary)).await?;
        dashboard::summary_stored(room);
        Ok(())
    }

    /// The summary of `room`'s latest LIVE, if `creator_id` owns it (`not_found` otherwise, so a
    /// summary's existence does not leak to other creators).
    pub async fn summary(&self, room: String, creator_id: Option<String>) -> HubResult<LiveSummary> {
        let what = room.clone();
        let found = self.store.call(move |s| s.live_summary(&room)).await?;
        match found {
            Some(summary) if creator_id.as_ref().is_none_or(|c| *c == summary.creator_id) => Ok(summary),
            _ => Err(HubError::not_found(format!("no summary for room `{what}`"))),
        }
    }

    /// Write the creator's audit record of a giveaway's draw (winners with their account ids),
    /// without waiting: by the staff member who started it, or by the creator.
    pub fn audit_draw(self: &Arc<Self>, room: &Room, drawn: giveaway::Drawn) {
        let (agency_id, staff_id, staff_name) = match &drawn.operator {
            Some(o) => (o.agency_id.clone(), o.staff_id.clone(), o.staff_name.clone()),
            None => (String::new(), drawn.by.id.clone(), drawn.by.name.clone()),
        };
        let winners: Vec<_> = drawn.winners.iter().map(|w| json!({"id": w.id, "name": w.name})).collect();
        let detail = json!({
            "giveaway_id": drawn.giveaway_id, "prize": drawn.prize, "entrants": drawn.entrants, "winners": winners,
        });
        let entry = NewAudit {
            creator_id: room.creator.id.clone(),
            agency_id,
            staff_id,
            staff_name,
            room: Some(room.id.clone()),
            command: "giveaway_draw".into(),
            outcome: "ok".into(),
            detail: Some(detail.to_string()),
        };
        let partner = self.clone();
        tokio::spawn(async move {
            if let Err(error) = partner.audit(entry).await {
                tracing::error!(?error, "could not audit a giveaway draw");
            }
        });
    }
}
