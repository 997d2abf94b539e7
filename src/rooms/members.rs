//! A room's members on this node, split into delivery partitions (see `pipeline.rs`).

use super::fanout::{Audience, Member, MemberMap};
use super::pipeline::{partition_of, partitions};
use crate::delivery::outbox::ConnId;
use std::sync::Arc;

/// The members of one partition.
#[derive(Default)]
pub struct Part {
    pub viewers: MemberMap,
    pub staff: MemberMap,
}

pub struct Members {
    parts: Vec<Part>,
    viewers: usize,
}

impl Default for Members {
    fn default() -> Self {
        Members { parts: (0..partitions()).map(|_| Part::default()).collect(), viewers: 0 }
    }
}

impl Members {
    pub fn parts(&self) -> impl Iterator<Item = (usize, &Part)> {
        self.parts.iter().enumerate()
    }

    /// Add or replace a member. Returns whether it was not a member yet.
    pub fn insert(&mut self, id: ConnId, member: Member, audience: Audience) -> bool {
        let was = self.remove(id).is_some();
        let part = &mut self.parts[partition_of(id)];
        match audience {
            Audience::Viewers => {
                part.viewers.insert(id, Arc::new(member));
                self.viewers += 1;
            }
            Audience::Staff => {
                part.staff.insert(id, Arc::new(member));
            }
        }
        !was
    }

    /// Remove a member, saying how it was one. Fan-outs already queued pass it by
    /// ([`Member::retire`]).
    pub fn remove(&mut self, id: ConnId) -> Option<(Audience, Arc<Member>)> {
        let part = &mut self.parts[partition_of(id)];
        let removed = match part.viewers.remove(&id) {
            Some(member) => {
                self.viewers -= 1;
                Some((Audience::Viewers, member))
            }
            None => part.staff.remove(&id).map(|member| (Audience::Staff, member)),
        };
        if let Some((_, member)) = &removed {
            member.retire();
        }
        removed
    }

    pub fn contains(&self, id: ConnId) -> bool {
        let part = &self.parts[partition_of(id)];
        part.viewers.contains_key(&id) || part.staff.contains_key(&id)
    }

    pub fn viewer_count(&self) -> usize {
        self.viewers
    }

    /// The creator's and agency staff's connections.
    pub fn staff(&self) -> impl Iterator<Item = (&ConnId, &Arc<Member>)> {
        self.parts.iter().flat_map(|part| part.staff.iter())
    }

    /// Forget every member (the room ended). Unlike [`Members::remove`], the fan-outs already
    /// queued — the end of the room among them — still reach them.
    pub fn clear(&mut self) {
        self.parts.iter_mut().for_each(|part| *part = Part::default());
        self.viewers = 0;
    }
}
