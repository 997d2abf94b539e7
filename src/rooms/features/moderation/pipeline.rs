//! The comment pipeline: what a comment passes before it is fanned out.
//!
//! [`STEPS`] runs in order on every comment (after the command layer's per-connection and
//! per-room rate limits). Each step either lets the comment go on, refuses it with an error
//! (nothing is published, the sender is told why), or holds it for review (it is published
//! only to staff, and its author sees it as sent). The first step that refuses or holds decides;
//! later steps do not run. The creator and agency staff are exempt from every step but the length
//! limit (`Submission::staff`).
//!
//! A new check is one function with the [`Step`] signature and one line in [`STEPS`], at the place
//! in the order where it belongs. Something that must happen to a comment once it is published
//! (a giveaway entry, a counter) goes after the publication in `comments::post`, not here: steps
//! run before anything is decided.

use super::Moderation;
use crate::error::{HubError, HubResult};
use stagehand_protocol::types::{Actor, CommentSettings, HoldReason, Millis};

/// A character repeated this many times in a row makes a comment a flood.
pub const FLOOD_CHAR_RUN: usize = 20;

/// One comment on its way in.
pub struct Submission<'a> {
    pub room: &'a str,
    pub creator_id: &'a str,
    pub author: &'a Actor,
    /// The creator or agency staff: exempt from everything but the length limit.
    pub staff: bool,
    /// Trimmed.
    pub text: &'a str,
    pub settings: CommentSettings,
    /// The comment is the open giveaway's keyword: an entry, exempt from the repeat rule.
    pub giveaway_entry: bool,
    pub now: Millis,
}

/// What the pipeline decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Publish,
    Hold(HoldReason),
}

/// What a step says: go on (`None`), hold for this reason, or (`Err`) refuse.
pub type Step = fn(&Moderation, &Submission<'_>, &mut Screening) -> HubResult<Option<HoldReason>>;

/// The steps, in order.
pub const STEPS: &[(&str, Step)] = &[
    ("length", length),
    ("muted", muted),
    ("slow_mode", slow_mode),
    ("hidden_user", hidden_user),
    ("keyword", keyword),
    ("link", link),
    ("repeated", repeated),
    ("flood", flood),
];

/// What the steps work out once and share: the normalized text.
#[derive(Default)]
pub struct Screening {
    normalized: Option<String>,
}

impl Screening {
    fn normalized(&mut self, text: &str) -> &str {
        self.normalized.get_or_insert_with(|| super::filter::normalize(text))
    }
}

/// Run the pipeline; a comment that is published or held is remembered for the spam checks.
pub fn screen(moderation: &Moderation, submission: &Submission<'_>) -> HubResult<Verdict> {
    let mut screening = Screening::default();
    let mut verdict = Verdict::Publish;
    for (_, step) in STEPS {
        if let Some(reason) = step(moderation, submission, &mut screening)? {
            verdict = Verdict::Hold(reason);
            break;
        }
    }
    if !submission.staff {
        let normalized = screening.normalized(submission.text).to_string();
        moderation.traffic(submission.room, |t| t.record(&submission.author.id, &normalized, submission.now));
    }
    Ok(verdict)
}

fn length(m: &Moderation, s: &Submission<'_>, _: &mut Screening) -> HubResult<Option<HoldReason>> {
    let max = m.limits.max_comment_chars;
    if s.text.is_empty() {
        return Err(HubError::invalid(format!("comments are 1–{max} characters")));
    }
    if s.text.chars().count() > max {
        m.rooms.metrics().tripped(crate::metrics::Tripped::CommentLength);
        return Err(HubError::invalid(format!("comments are 1–{max} characters")));
    }
    Ok(None)
}

fn muted(m: &Moderation, s: &Submission<'_>, _: &mut Screening) -> HubResult<Option<HoldReason>> {
    if s.staff {
        return Ok(None);
    }
    match m.mute_of(s.creator_id, &s.author.id, s.now) {
        Some(until) => Err(HubError::muted(until.map(|until| until - s.now))),
        None => Ok(None),
    }
}

fn slow_mode(m: &Moderation, s: &Submission<'_>, _: &mut Screening) -> HubResult<Option<HoldReason>> {
    let interval = s.settings.slow_mode_ms;
    if s.staff || interval == 0 {
        return Ok(None);
    }
    let last = m.traffic(s.room, |t| t.last_comment(&s.author.id));
    match last {
        Some(last) if s.now < last + interval => Err(HubError::rate_limited("slow mode", last + interval - s.now)),
        _ => Ok(None),
    }
}

fn hidden_user(m: &Moderation, s: &Submission<'_>, _: &mut Screening) -> HubResult<Option<HoldReason>> {
    Ok((!s.staff && m.is_hidden(s.creator_id, &s.author.id)).then_some(HoldReason::HiddenUser))
}

fn keyword(m: &Moderation, s: &Submission<'_>, screening: &mut Screening) -> HubResult<Option<HoldReason>> {
    if s.staff {
        return Ok(None);
    }
    let normalized = screening.normalized(s.text);
    Ok(m.hits_terms(s.creator_id, normalized, s.now).then_some(HoldReason::Keyword))
}

fn link(_: &Moderation, s: &Submission<'_>, screening: &mut Screening) -> HubResult<Option<HoldReason>> {
    if s.staff || s.settings.links_allowed {
        return Ok(None);
    }
    Ok((has_link(s.text) || has_link(screening.normalized(s.text))).then_some(HoldReason::Link))
}

fn repeated(m: &Moderation, s: &Submission<'_>, screening: &mut Screening) -> HubResult<Option<HoldReason>> {
    if s.staff || s.giveaway_entry {
        return Ok(None);
    }
    let normalized = screening.normalized(s.text).to_string();
    let window = m.limits.repeat_window_ms;
    Ok(m.traffic(s.room, |t| t.repeats(&s.author.id, &normalized, s.now, window)).then_some(HoldReason::Repeated))
}

fn flood(m: &Moderation, s: &Submission<'_>, _: &mut Screening) -> HubResult<Option<HoldReason>> {
    if s.staff {
        return Ok(None);
    }
    let (most, window) = (m.limits.flood_comments, m.limits.flood_window_ms);
    let burst = m.traffic(s.room, |t| t.recent_count(&s.author.id, s.now, window)) >= most;
    Ok((burst || longest_run(s.text) >= FLOOD_CHAR_RUN).then_some(HoldReason::Flood))
}

/// The longest run of one non-space character.
fn longest_run(text: &str) -> usize {
    let (mut best, mut run, mut last) = (0, 0, None);
    for c in text.chars() {
        run = if Some(c) == last && !c.is_whitespace() { run + 1 } else { 1 };
        last = Some(c);
        best = best.max(run);
    }
    best
}

/// Top-level domains a link in a comment commonly ends with when it has no scheme.
const TLDS: &[&str] = &[
    "com", "net", "org", "io", "co", "shop", "store", "ly", "me", "xyz", "info", "biz", "app", "link", "gg", "tv",
    "live", "site", "online", "top", "ru", "cn", "uk", "de", "fr", "us",
];

/// Whether `text` contains something a browser would open: a scheme, `www.`, or a dotted name
/// ending in a common top-level domain.
pub fn has_link(text: &str) -> bool {
    let lower = text.to_lowercase();
    if lower.contains("://") || lower.contains("www.") {
        return true;
    }
    lower.split(|c: char| c.is_whitespace()).any(|token| {
        let host = token.split(['/', '?', '#']).next().unwrap_or("");
        let mut labels = host.split('.');
        let first = labels.next().unwrap_or("");
        let rest: Vec<&str> = labels.collect();
        !first.is_empty()
            && first.chars().all(|c| c.is_alphanumeric() || c == '-')
            && rest.last().is_some_and(|tld| TLDS.contains(&tld.trim_end_matches(|c: char| !c.is_alphanumeric())))
            && rest.iter().all(|l| !l.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::super::Traffic;
    use super::*;

    #[test]
    fn links_are_found() {
        for text in ["see https://x.y", "www.example", "go to shop.example.com/deal", "cheap.xyz!", "bit.ly/abc"] {
            assert!(has_link(text), "{text:?}");
        }
        for text in ["hello there.", "3.50 euros", "nice. com", "e.g. this"] {
            assert!(!has_link(text), "{text:?}");
        }
    }

    #[test]
    fn long_runs_are_floods() {
        assert_eq!(longest_run("heyyyy"), 4);
        assert_eq!(longest_run(&"!".repeat(25)), 25);
    }

    #[test]
    fn traffic_remembers_repeats_and_counts() {
        let mut t = Traffic::default();
        t.record("u", "hi", 1_000);
        assert!(t.repeats("u", "hi", 2_000, 30_000));
        assert!(!t.repeats("u", "hi", 40_000, 30_000));
        assert!(!t.repeats("v", "hi", 2_000, 30_000));
        assert_eq!(t.recent_count("u", 2_000, 10_000), 1);
        assert_eq!(t.last_comment("u"), Some(1_000));
    }
}
