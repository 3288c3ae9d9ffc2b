//! The order of the peer's descriptions, from their SDP `o=` versions: perfect negotiation
//! over a channel that may lose, duplicate or reorder messages.
//!
//! RFC 3264 §8 only promises that a peer's `o=` version grows when its description changes
//! (Tether and browsers add one each time; other peers start anywhere, use timestamps, or keep
//! one version for identical descriptions). So the rules are strict only where that promise
//! is:
//! - a description older than one already processed is stale; an exact copy of the last offer
//!   is a duplicate (its answer is sent again);
//! - the first description of a session is taken whatever its version;
//! - an answer with the version of a description seen before our offer is taken unless it is
//!   an exact copy of the last answer (a peer that does not bump its version sends a new text
//!   under the same `o=` line);
//! - one guess is made: while our offer is unanswered, a peer offer whose version skips one
//!   (or a first offer with a small version above 2, see [`LIKELY_SECOND_VERSIONS`]) most
//!   likely overtook the peer's answer to our offer (perfect negotiation sends every
//!   description). That offer is held, with a warning, until the gap fills or for at most the
//!   hold deadline, instead of being taken for glare. No other description is ever held.

use std::time::Instant;

use crate::signal::SessionDescription;

/// What to do with a remote description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Process it.
    Apply,
    /// An exact copy of the last offer processed (or ignored).
    Duplicate,
    /// Older than what was processed since: drop it.
    Stale,
    /// An offer after a gap in the versions: keep it until the gap fills.
    Hold,
}

/// Offers kept while a gap is open, at most.
const MAX_HELD: usize = 8;

/// First versions of a peer that, while our offer is unanswered, most likely follow a
/// description of the peer that we have not seen (its answer to our offer): Tether, Chromium
/// and Firefox start at 0 to 2 and add one. A first offer in this range is held like an offer
/// after a gap; any other first version (a timestamp, a random start) is taken at once.
const LIKELY_SECOND_VERSIONS: std::ops::RangeInclusive<u64> = 3..=64;

#[derive(Debug, Default)]
pub(super) struct RemoteOrder {
    session_id: Option<u64>,
    /// Highest version of any remote description processed or deliberately ignored.
    max: Option<u64>,
    /// The last remote offer processed or ignored: version, text, and whether it was answered.
    last_offer: Option<(u64, String, bool)>,
    /// Answers below this version cannot answer our pending offer; at this version, only one
    /// that is not a copy of `last_answer`.
    answer_floor: Option<u64>,
    /// The last remote answer processed: version and text.
    last_answer: Option<(u64, String)>,
    /// Offers that arrived after a gap, lowest version first.
    held: Vec<(u64, SessionDescription)>,
    held_since: Option<Instant>,
}

impl RemoteOrder {
    /// A description of another SDP session (the peer started over) resets what is known.
    pub(super) fn observe_session(&mut self, session_id: u64) {
        if self.session_id != Some(session_id) {
            *self = Self {
                session_id: Some(session_id),
                ..Self::default()
            };
        }
    }

    /// Where a remote offer stands; `our_offer_pending`: our own offer is unanswered.
    pub(super) fn classify_offer(
        &self,
        version: u64,
        text: &str,
        our_offer_pending: bool,
    ) -> Verdict {
        if let Some((v, t, answered)) = &self.last_offer {
            if *v == version && t == text {
                // A copy of an offer we ignored (glare) is looked at again: the peer still
                // waits for an answer, and we may be stable by now.
                return if *answered {
                    Verdict::Duplicate
                } else if self.max == Some(version) {
                    Verdict::Apply
                } else {
                    // The peer sent something newer since: it gave this offer up.
                    Verdict::Stale
                };
            }
        }
        match self.max {
            Some(max) if version <= max => Verdict::Stale,
            Some(max) if our_offer_pending && version > max.saturating_add(1) => Verdict::Hold,
            None if our_offer_pending && LIKELY_SECOND_VERSIONS.contains(&version) => Verdict::Hold,
            _ => Verdict::Apply,
        }
    }

    /// Where a remote answer to our pending offer stands.
    pub(super) fn classify_answer(&self, version: u64, text: &str) -> Verdict {
        match self.answer_floor {
            Some(floor) if version < floor => Verdict::Stale,
            Some(floor) if version == floor => match &self.last_answer {
                Some((v, t)) if *v == version && t == text => Verdict::Duplicate,
                _ => Verdict::Apply,
            },
            _ => Verdict::Apply,
        }
    }

    /// A remote answer was processed.
    pub(super) fn answer_seen(&mut self, version: u64, text: String) {
        self.seen(version);
        self.last_answer = Some((version, text));
    }

    /// A remote description of this version was processed (or deliberately ignored).
    pub(super) fn seen(&mut self, version: u64) {
        self.max = Some(self.max.map_or(version, |m| m.max(version)));
    }

    /// A remote offer was answered (`answered`) or ignored.
    pub(super) fn offer_seen(&mut self, version: u64, text: String, answered: bool) {
        self.seen(version);
        self.last_offer = Some((version, text, answered));
    }

    /// We sent an offer: only a remote description newer than everything seen so far can
    /// answer it.
    pub(super) fn our_offer_sent(&mut self) {
        self.answer_floor = self.max;
    }

    /// Keeps an offer that arrived after a gap; returns false when it was not kept (a version
    /// already held, or `MAX_HELD` reached).
    pub(super) fn hold(&mut self, version: u64, desc: SessionDescription, now: Instant) -> bool {
        if self.held.iter().any(|(v, _)| *v == version) || self.held.len() >= MAX_HELD {
            return false;
        }
        self.held.push((version, desc));
        self.held.sort_by_key(|(v, _)| *v);
        self.held_since.get_or_insert(now);
        true
    }

    /// The next held offer to process: the lowest one if the gap before it is closed (or if
    /// `force`). Held offers that became stale are dropped.
    pub(super) fn next_held(&mut self, force: bool) -> Option<SessionDescription> {
        while let Some((v, _)) = self.held.first() {
            let v = *v;
            if self.max.is_some_and(|max| v <= max) {
                self.held.remove(0);
                continue;
            }
            let ready = self.max.is_none_or(|max| v <= max.saturating_add(1));
            if !(ready || force) {
                return None;
            }
            let (_, desc) = self.held.remove(0);
            if self.held.is_empty() {
                self.held_since = None;
            }
            return Some(desc);
        }
        self.held_since = None;
        None
    }

    /// When held offers stop waiting for their gap.
    pub(super) fn held_since(&self) -> Option<Instant> {
        self.held_since
    }

    pub(super) fn clear(&mut self) {
        self.held.clear();
        self.held_since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signaling::SdpType;

    fn offer(v: u64) -> SessionDescription {
        SessionDescription {
            kind: SdpType::Offer,
            sdp: format!("v{v}"),
        }
    }

    #[test]
    fn gaps_hold_offers_until_filled_only_while_our_offer_is_pending() {
        let mut o = RemoteOrder::default();
        o.observe_session(1);
        assert_eq!(o.classify_offer(2, "v2", false), Verdict::Apply);
        o.offer_seen(2, "v2".into(), true);
        assert_eq!(o.classify_offer(2, "v2", false), Verdict::Duplicate);
        assert_eq!(o.classify_offer(4, "v4", true), Verdict::Hold);
        // With no offer of ours in flight nothing can be missing: a skip is the peer's way.
        assert_eq!(o.classify_offer(4, "v4", false), Verdict::Apply);
        o.hold(4, offer(4), crate::test_clock::t0());
        assert!(o.next_held(false).is_none(), "version 3 is missing");
        o.seen(3);
        assert_eq!(o.next_held(false), Some(offer(4)));
        assert_eq!(o.classify_offer(3, "v3", false), Verdict::Stale);
    }

    #[test]
    fn answers_must_be_newer_than_what_was_seen_when_we_offered() {
        let mut o = RemoteOrder::default();
        o.observe_session(1);
        o.offer_seen(5, "v5".into(), true);
        o.our_offer_sent();
        assert_eq!(o.classify_answer(4, "a4"), Verdict::Stale);
        assert_eq!(o.classify_answer(6, "a6"), Verdict::Apply);
        // A newer offer seen meanwhile does not make our answer stale.
        o.offer_seen(7, "v7".into(), true);
        assert_eq!(o.classify_answer(6, "a6"), Verdict::Apply);
    }

    /// A peer that keeps one `o=` version: a new answer under the same `o=` line is taken,
    /// an exact copy of the last answer is a duplicate.
    #[test]
    fn answers_under_an_unchanged_version_are_taken_unless_copies() {
        let mut o = RemoteOrder::default();
        o.observe_session(1);
        o.our_offer_sent();
        assert_eq!(o.classify_answer(7, "first"), Verdict::Apply);
        o.answer_seen(7, "first".into());
        o.our_offer_sent();
        assert_eq!(o.classify_answer(7, "first"), Verdict::Duplicate);
        assert_eq!(o.classify_answer(7, "second"), Verdict::Apply);
        assert_eq!(o.classify_answer(6, "older"), Verdict::Stale);
    }

    #[test]
    fn a_copy_of_an_ignored_offer_is_looked_at_again() {
        let mut o = RemoteOrder::default();
        o.observe_session(1);
        o.offer_seen(2, "v2".into(), false);
        assert_eq!(o.classify_offer(2, "v2", false), Verdict::Apply);
        o.seen(3);
        assert_eq!(
            o.classify_offer(2, "v2", false),
            Verdict::Stale,
            "given up by the peer"
        );
        o.offer_seen(4, "v4".into(), true);
        assert_eq!(o.classify_offer(4, "v4", false), Verdict::Duplicate);
    }

    /// Whatever version a peer starts at (Firefox 0, a timestamp), its first offer is taken at
    /// once, and so are later ones that skip versions while nothing of ours is in flight.
    #[test]
    fn a_first_offer_is_taken_whatever_its_version() {
        for first in [0, 1, 2, 3, 1_733_500_000_123] {
            let mut o = RemoteOrder::default();
            o.observe_session(1);
            assert_eq!(o.classify_offer(first, "x", false), Verdict::Apply);
            let pending = if LIKELY_SECOND_VERSIONS.contains(&first) {
                Verdict::Hold
            } else {
                Verdict::Apply
            };
            assert_eq!(o.classify_offer(first, "x", true), pending);
            o.offer_seen(first, "x".into(), true);
            assert_eq!(o.classify_offer(first + 1000, "y", false), Verdict::Apply);
        }
    }

    #[test]
    fn a_new_session_id_starts_over() {
        let mut o = RemoteOrder::default();
        o.observe_session(1);
        o.offer_seen(9, "v9".into(), true);
        o.observe_session(2);
        assert_eq!(o.classify_offer(2, "x", true), Verdict::Apply);
    }
}
