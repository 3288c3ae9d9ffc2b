//! The order of the peer's descriptions, from their SDP `o=` versions: perfect negotiation
//! over a channel that may lose, duplicate or reorder messages.
//!
//! Every description a peer creates gets the next `o=` version, and with perfect negotiation it
//! sends every one it creates. So an offer whose version skips one means a description of the
//! peer is still in flight (typically its answer to our offer, overtaken by its next offer): the
//! offer is held until the gap fills, instead of being taken for glare. Stale and duplicate
//! descriptions are recognised the same way.

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

/// The `o=` version of a peer's first description when nothing was seen yet: Tether's and
/// Chromium's first descriptions are version 2. A first offer with a higher version is held
/// like any offer after a gap (a peer that starts elsewhere only costs the hold timeout).
const ASSUMED_FIRST_VERSION: u64 = 2;

#[derive(Debug, Default)]
pub(super) struct RemoteOrder {
    session_id: Option<u64>,
    /// Highest version of any remote description processed or deliberately ignored.
    max: Option<u64>,
    /// The last remote offer processed or ignored: version, text, and whether it was answered.
    last_offer: Option<(u64, String, bool)>,
    /// Answers at or below this version cannot answer our pending offer.
    answer_floor: Option<u64>,
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

    pub(super) fn classify_offer(&self, version: u64, text: &str) -> Verdict {
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
            _ if version > self.expected() => Verdict::Hold,
            _ => Verdict::Apply,
        }
    }

    /// The version the peer's next description should have.
    fn expected(&self) -> u64 {
        self.max
            .map_or(ASSUMED_FIRST_VERSION, |max| max.saturating_add(1))
    }

    pub(super) fn classify_answer(&self, version: u64) -> Verdict {
        match self.answer_floor {
            Some(floor) if version <= floor => Verdict::Stale,
            _ => Verdict::Apply,
        }
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

    pub(super) fn hold(&mut self, version: u64, desc: SessionDescription, now: Instant) {
        if self.held.iter().any(|(v, _)| *v == version) || self.held.len() >= MAX_HELD {
            return;
        }
        self.held.push((version, desc));
        self.held.sort_by_key(|(v, _)| *v);
        self.held_since.get_or_insert(now);
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
            let ready = v <= self.expected();
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
    fn gaps_hold_offers_until_filled() {
        let mut o = RemoteOrder::default();
        o.observe_session(1);
        assert_eq!(o.classify_offer(2, "v2"), Verdict::Apply);
        o.offer_seen(2, "v2".into(), true);
        assert_eq!(o.classify_offer(2, "v2"), Verdict::Duplicate);
        assert_eq!(o.classify_offer(4, "v4"), Verdict::Hold);
        o.hold(4, offer(4), crate::test_clock::t0());
        assert!(o.next_held(false).is_none(), "version 3 is missing");
        o.seen(3);
        assert_eq!(o.next_held(false), Some(offer(4)));
        assert_eq!(o.classify_offer(3, "v3"), Verdict::Stale);
    }

    #[test]
    fn answers_must_be_newer_than_what_was_seen_when_we_offered() {
        let mut o = RemoteOrder::default();
        o.observe_session(1);
        o.offer_seen(5, "v5".into(), true);
        o.our_offer_sent();
        assert_eq!(o.classify_answer(5), Verdict::Stale);
        assert_eq!(o.classify_answer(6), Verdict::Apply);
        // A newer offer seen meanwhile does not make our answer stale.
        o.offer_seen(7, "v7".into(), true);
        assert_eq!(o.classify_answer(6), Verdict::Apply);
    }

    #[test]
    fn a_copy_of_an_ignored_offer_is_looked_at_again() {
        let mut o = RemoteOrder::default();
        o.observe_session(1);
        o.offer_seen(2, "v2".into(), false);
        assert_eq!(o.classify_offer(2, "v2"), Verdict::Apply);
        o.seen(3);
        assert_eq!(
            o.classify_offer(2, "v2"),
            Verdict::Stale,
            "given up by the peer"
        );
        o.offer_seen(4, "v4".into(), true);
        assert_eq!(o.classify_offer(4, "v4"), Verdict::Duplicate);
    }

    #[test]
    fn a_first_offer_after_the_assumed_first_version_is_held() {
        let mut o = RemoteOrder::default();
        o.observe_session(1);
        assert_eq!(o.classify_offer(0, "firefox"), Verdict::Apply);
        assert_eq!(o.classify_offer(2, "v2"), Verdict::Apply);
        assert_eq!(o.classify_offer(3, "v3"), Verdict::Hold);
    }

    #[test]
    fn a_new_session_id_starts_over() {
        let mut o = RemoteOrder::default();
        o.observe_session(1);
        o.offer_seen(9, "v9".into(), true);
        o.observe_session(2);
        assert_eq!(o.classify_offer(2, "x"), Verdict::Apply);
    }
}
