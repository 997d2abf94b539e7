//! The keyword filter: a creator's blocked terms, matched against comments after both are
//! brought to one normal form, so the usual disguises do not get a term through.
//!
//! [`normalize`] applies, in order: compatibility decomposition (NFKD: full-width and styled
//! letters become plain ones, accents come apart from their letters); removal of combining marks
//! (accents) and of invisible format characters (zero-width spaces and joiners, soft hyphens,
//! byte-order marks); then, per character, decancer's confusables table, which lowercases and folds
//! look-alike letters from other scripts (Cyrillic `а`, Greek `ο`, mathematical letters…) to their
//! Latin twins. So `ｆｒｅｅ`, `Frée`, `f\u{200b}ree` and `frее` (Cyrillic `е`s) all read `free`.
//!
//! A term is one or more words; `*` inside a word matches any run of letters and digits. A term
//! matches whole words of the comment: `free` hits "FREE stuff" but not "freedom"; `free*` hits
//! both.

use stagehand_protocol::types::Millis;
use std::collections::HashMap;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Longest term, in characters.
pub const MAX_TERM_CHARS: usize = 64;

/// The normal form used for matching (see the module docs).
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.nfkd().filter(|c| !is_combining_mark(*c) && !is_invisible(*c)) {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        match decancer::cure_char(c, decancer::Options::default()) {
            decancer::Translation::Character(cured) => out.extend(cured.to_lowercase()),
            decancer::Translation::String(cured) => out.push_str(&cured.to_lowercase()),
            decancer::Translation::None => {}
        }
    }
    out
}

/// Format characters that render as nothing and are used to split a word invisibly.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}'
        | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}' | '\u{ffa0}' | '\u{1bca0}'..='\u{1bca3}'
        | '\u{1d173}'..='\u{1d17a}' | '\u{e0000}'..='\u{e0fff}')
}

/// The words of a normalized text: runs of letters and digits.
pub fn words(normalized: &str) -> Vec<&str> {
    normalized.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect()
}

/// Check a term as a moderator typed it: `invalid` text when it cannot be a term.
pub fn check_term(term: &str) -> Result<(), String> {
    let chars = term.chars().count();
    if chars == 0 || chars > MAX_TERM_CHARS {
        return Err(format!("terms are 1–{MAX_TERM_CHARS} characters"));
    }
    let pattern = Pattern::new(term);
    if pattern.words.is_empty() || pattern.words.iter().all(|w| w.iter().all(|p| *p == Piece::Star)) {
        return Err(format!("the term {term:?} has no letters or digits"));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Char(char),
    Star,
}

/// A term compiled for matching: its normalized words, each a list of pieces.
#[derive(Debug, Clone)]
struct Pattern {
    words: Vec<Vec<Piece>>,
}

impl Pattern {
    fn new(term: &str) -> Self {
        let words = term
            .split(|c: char| c != '*' && !c.is_alphanumeric() && !is_combining_mark(c) && !is_invisible(c))
            .map(|raw| {
                let mut pieces = Vec::new();
                for (i, part) in raw.split('*').enumerate() {
                    if i > 0 && pieces.last() != Some(&Piece::Star) {
                        pieces.push(Piece::Star);
                    }
                    pieces.extend(normalize(part).chars().filter(|c| c.is_alphanumeric()).map(Piece::Char));
                }
                pieces
            })
            .filter(|w| !w.is_empty())
            .collect();
        Pattern { words }
    }

    /// A single word without wildcards: looked up in a set instead of scanned.
    fn plain_word(&self) -> Option<String> {
        match self.words.as_slice() {
            [word] if !word.contains(&Piece::Star) => Some(
                word.iter()
                    .map(|p| match p {
                        Piece::Char(c) => *c,
                        Piece::Star => '*',
                    })
                    .collect(),
            ),
            _ => None,
        }
    }

    fn matches(&self, words: &[&str]) -> bool {
        let n = self.words.len();
        words.windows(n).any(|window| window.iter().zip(&self.words).all(|(word, pattern)| glob(pattern, word)))
    }
}

/// Whether `word` matches `pattern` entirely (`*`: any run of characters).
fn glob(pattern: &[Piece], word: &str) -> bool {
    let text: Vec<char> = word.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Piece::Star) => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(Piece::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((star, at)) => {
                    p = star + 1;
                    t = at + 1;
                    backtrack = Some((star, at + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|piece| *piece == Piece::Star)
}

/// One creator's keyword filter, compiled.
#[derive(Debug, Clone, Default)]
pub struct Terms {
    /// As the moderators gave them, with their expiry.
    pub listed: Vec<stagehand_protocol::types::BlockedTerm>,
    /// Single words without wildcards, by word: the latest expiry among the terms that give it
    /// (`None`: never).
    plain: HashMap<String, Option<Millis>>,
    patterns: Vec<(Pattern, Option<Millis>)>,
}

impl Terms {
    pub fn new(listed: Vec<stagehand_protocol::types::BlockedTerm>) -> Self {
        let mut terms = Terms { listed, ..Terms::default() };
        for term in &terms.listed {
            let pattern = Pattern::new(&term.term);
            match pattern.plain_word() {
                Some(word) => {
                    let expiry = terms.plain.entry(word).or_insert(term.expires_at);
                    *expiry = match (*expiry, term.expires_at) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        _ => None,
                    };
                }
                None => terms.patterns.push((pattern, term.expires_at)),
            }
        }
        terms
    }

    pub fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }

    /// Whether the normalized `words` of a comment hit a term that has not expired at `now`.
    pub fn hits(&self, words: &[&str], now: Millis) -> bool {
        let live = |expires: &Option<Millis>| expires.is_none_or(|at| now < at);
        let plain = words.iter().any(|w| self.plain.get(*w).is_some_and(live));
        plain || self.patterns.iter().any(|(pattern, expires)| live(expires) && pattern.matches(words))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stagehand_protocol::types::BlockedTerm;

    fn hits(term: &str, text: &str) -> bool {
        let terms = Terms::new(vec![BlockedTerm { term: term.into(), expires_at: None }]);
        let normalized = normalize(text);
        terms.hits(&words(&normalized), 0)
    }

    #[test]
    fn the_unicode_disguises_all_hit() {
        for text in
            ["free", "FREE", "ｆｒｅｅ", "Frée", "f\u{200b}ree", "fr\u{00ad}ee", "frее", "𝐟𝐫𝐞𝐞", "get it ＦＲＥＥ!"]
        {
            assert!(hits("free", text), "{text:?} should hit");
        }
        assert!(hits("Frée", "free"), "the term is normalized too");
    }

    #[test]
    fn terms_match_whole_words_and_stars_match_runs() {
        assert!(!hits("free", "freedom"));
        assert!(hits("free*", "freedom"));
        assert!(hits("*dom", "Freedom"));
        assert!(hits("f*e", "fee"));
        assert!(hits("buy now", "please BUY   now!!"));
        assert!(!hits("buy now", "buy it now"));
        assert!(!hits("scam", "a fair deal"));
    }

    #[test]
    fn expired_terms_do_not_apply() {
        let terms = Terms::new(vec![BlockedTerm { term: "free".into(), expires_at: Some(100) }]);
        assert!(terms.hits(&["free"], 99));
        assert!(!terms.hits(&["free"], 100));
    }

    #[test]
    fn terms_need_a_letter() {
        assert!(check_term("*").is_err());
        assert!(check_term("").is_err());
        assert!(check_term(&"x".repeat(65)).is_err());
        assert!(check_term("fr*e").is_ok());
    }
}
