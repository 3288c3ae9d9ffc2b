//! Perfect negotiation (W3C): the session makes offers when negotiation is needed, answers
//! offers, resolves glare by politeness, ignores duplicates and stale descriptions, and resends
//! an unanswered offer so a lost message does not stall it.

use std::time::Instant;

use super::{ClosedBy, OfferOptions, Session, MAX_RETRANSMIT};
use crate::error::SessionError;
use crate::sdp;
use crate::signal::{IceCandidateInit, SessionDescription, SignalMessage};
use crate::signaling::{SdpType, SignalingState};

impl Session {
    pub(super) fn on_signal(
        &mut self,
        msg: SignalMessage,
        now: Instant,
    ) -> Result<(), SessionError> {
        match msg {
            SignalMessage::Description { description } => {
                if self.perfect() {
                    self.perfect_description(description, now)
                } else {
                    self.apply_remote(description, now)
                }
            }
            SignalMessage::Candidate { candidate } => {
                self.route_remote_candidate(candidate).map(|_| ())
            }
            SignalMessage::EndOfCandidates {
                username_fragment,
                sdp_mid,
            } => self
                .route_remote_candidate(IceCandidateInit {
                    candidate: String::new(),
                    sdp_mid,
                    sdp_m_line_index: None,
                    username_fragment,
                })
                .map(|_| ()),
            SignalMessage::Bye { .. } => {
                self.shutdown(ClosedBy::Remote);
                Ok(())
            }
            #[allow(unreachable_patterns)]
            _ => Ok(()),
        }
    }

    fn perfect_description(
        &mut self,
        desc: SessionDescription,
        now: Instant,
    ) -> Result<(), SessionError> {
        if desc.kind == SdpType::Rollback {
            return Ok(());
        }
        let parsed = sdp::parse(&desc.sdp)?;
        // Duplicates and stale descriptions (o= version not newer than the last applied one).
        if let Some((sid, ver, text)) = &self.last_remote_version {
            if *sid == parsed.session_id
                && (*ver > parsed.session_version
                    || (*ver == parsed.session_version && *text == desc.sdp))
            {
                if desc.kind == SdpType::Offer
                    && *ver == parsed.session_version
                    && self.signaling == SignalingState::Stable
                {
                    // Our answer was probably lost: send it again.
                    if let Some((_, answer)) = self
                        .last_sent_answer
                        .clone()
                        .filter(|(answered, _)| *answered == parsed.session_version)
                    {
                        self.signal_out.push_back(SignalMessage::Description {
                            description: answer,
                        });
                        self.resend_local_candidates();
                    }
                }
                tracing::debug!(kind = ?desc.kind, "duplicate or stale remote description ignored");
                return Ok(());
            }
        }
        match desc.kind {
            SdpType::Offer => {
                let collision = self.signaling != SignalingState::Stable;
                if collision && !self.polite() {
                    tracing::debug!("glare: impolite peer ignores the colliding offer");
                    for m in &parsed.media {
                        if let Some(ice) = &m.ice {
                            if !self.remote_ufrags_seen.contains(&ice.ufrag) {
                                self.ignored_ufrags.insert(ice.ufrag.clone());
                            }
                        }
                    }
                    // Not recorded in `last_remote_version`: the peer's answer to our offer
                    // may have been sent before this offer and arrive after it, and must not
                    // be taken for stale. A late copy of an offer the peer rolled back is
                    // older than that answer, so it is dropped as stale anyway, and one still
                    // pending at the peer must be applied once we are stable again.
                    return Ok(());
                }
                if collision {
                    tracing::debug!("glare: polite peer rolls back its offer");
                    self.rollback(crate::signaling::Side::Local)?;
                }
                let text = desc.sdp.clone();
                self.apply_remote(desc, now)?;
                self.last_remote_version = Some((parsed.session_id, parsed.session_version, text));
                let answer = self.create_answer(now)?;
                self.apply_local(answer.clone(), now)?;
                self.last_sent_answer = Some((parsed.session_version, answer.clone()));
                self.signal_out.push_back(SignalMessage::Description {
                    description: answer,
                });
                Ok(())
            }
            _ => {
                if !matches!(
                    self.signaling,
                    SignalingState::HaveLocalOffer | SignalingState::HaveRemotePranswer
                ) {
                    tracing::debug!("answer without an offer in flight ignored (stale)");
                    return Ok(());
                }
                let text = desc.sdp.clone();
                self.apply_remote(desc, now)?;
                self.last_remote_version = Some((parsed.session_id, parsed.session_version, text));
                Ok(())
            }
        }
    }

    /// Timers of negotiation: the coalesced offer, and retransmission of an unanswered one.
    pub(super) fn on_negotiation_timeout(&mut self, now: Instant) {
        if !self.perfect() {
            return;
        }
        if self.offer_due && self.signaling == SignalingState::Stable {
            self.offer_due = false;
            match self.make_and_send_offer(now) {
                Ok(()) => {
                    let iv = self.cfg.offer_retransmit;
                    self.retransmit = Some((now + iv, iv));
                }
                Err(e) => tracing::warn!(error = %e, "could not create an offer"),
            }
            return;
        }
        if let Some((at, iv)) = self.retransmit {
            if now < at {
                return;
            }
            match (&self.signaling, &self.pending_local) {
                (SignalingState::HaveLocalOffer, Some(offer)) => {
                    let description = offer.to_init();
                    tracing::debug!("resending unanswered offer");
                    self.signal_out
                        .push_back(SignalMessage::Description { description });
                    self.resend_local_candidates();
                    let next = (iv * 2).min(MAX_RETRANSMIT);
                    self.retransmit = Some((now + next, next));
                }
                _ => self.retransmit = None,
            }
        }
    }

    fn make_and_send_offer(&mut self, now: Instant) -> Result<(), SessionError> {
        let offer = self.create_offer(OfferOptions::default(), now)?;
        self.apply_local(offer.clone(), now)?;
        self.signal_out
            .push_back(SignalMessage::Description { description: offer });
        Ok(())
    }

    /// Sends again every local candidate of the generations not retired.
    fn resend_local_candidates(&mut self) {
        let mut out = Vec::new();
        for t in &self.transports {
            for g in &t.gens {
                if g.status == super::transports::GenerationStatus::Retired {
                    continue;
                }
                for c in &g.local_candidates {
                    out.push(self.candidate_message(t.id, c, &g.local.ufrag));
                }
                if g.gatherer == crate::state::IceGathererState::Complete {
                    out.push(SignalMessage::EndOfCandidates {
                        username_fragment: Some(g.local.ufrag.clone()),
                        sdp_mid: Some(t.tag.clone()),
                    });
                }
            }
        }
        self.signal_out.extend(out);
    }
}
