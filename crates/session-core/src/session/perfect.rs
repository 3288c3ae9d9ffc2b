//! Perfect negotiation (W3C): the session makes offers when negotiation is needed, answers
//! offers, resolves glare by politeness, ignores duplicates and stale descriptions, and resends
//! an unanswered offer so a lost message does not stall it.

use std::time::Instant;

use super::order::Verdict;
use super::{ClosedBy, OfferOptions, Session, MAX_RETRANSMIT};
use crate::error::SessionError;
use crate::sdp;
use crate::signal::{IceCandidateInit, SessionDescription, SignalMessage};
use crate::signaling::{transition, SdpType, Side, SignalingState};

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
        self.order.observe_session(parsed.session_id);
        let version = parsed.session_version;
        match desc.kind {
            SdpType::Offer => match self.order.classify_offer(
                version,
                &desc.sdp,
                self.signaling == SignalingState::HaveLocalOffer,
            ) {
                Verdict::Duplicate => {
                    // Our answer was probably lost: send it again. Also when we made an offer
                    // since: the peer, still waiting for this answer, ignores ours (glare).
                    if let Some((_, answer)) = self
                        .last_sent_answer
                        .clone()
                        .filter(|(answered, _)| *answered == version)
                    {
                        self.signal_out.push_back(SignalMessage::Description {
                            description: answer,
                        });
                        self.resend_local_candidates();
                    }
                    Ok(())
                }
                Verdict::Stale => {
                    tracing::debug!(version, "stale remote offer ignored");
                    Ok(())
                }
                Verdict::Hold => {
                    // A copy of an offer already held asks for nothing new: resending our offer
                    // for every copy would answer a duplicating channel (or a peer holding ours
                    // in turn) with a storm of offers.
                    if self.order.hold(version, desc, now) {
                        tracing::warn!(
                            version,
                            "remote offer held: its o= version skips one while our offer is \
                             unanswered, so the peer's answer is probably still in flight; \
                             asking for it again and waiting at most {:?}",
                            self.hold_wait()
                        );
                        // While our offer is unanswered, the missing description is most likely
                        // its answer (overtaken or lost): ask for it again now.
                        self.resend_pending_offer(now);
                    }
                    Ok(())
                }
                Verdict::Apply => {
                    self.perfect_offer(desc, &parsed, now)?;
                    self.release_held(now, false)
                }
            },
            _ => {
                let in_flight = matches!(
                    self.signaling,
                    SignalingState::HaveLocalOffer | SignalingState::HaveRemotePranswer
                );
                if !in_flight {
                    tracing::debug!(version, "answer that answers no offer in flight ignored");
                    return Ok(());
                }
                match self.order.classify_answer(version, &desc.sdp) {
                    Verdict::Apply => {}
                    verdict => {
                        tracing::info!(
                            version,
                            ?verdict,
                            "remote answer ignored: older than our offer, or a copy of the \
                             last answer"
                        );
                        return Ok(());
                    }
                }
                let text = desc.sdp.clone();
                let next = transition(self.signaling, Side::Remote, desc.kind)?;
                self.apply_remote_parsed(desc, parsed, next, now)?;
                self.order.answer_seen(version, text);
                self.release_held(now, false)
            }
        }
    }

    /// A remote offer in order: answer it, resolving glare by politeness.
    fn perfect_offer(
        &mut self,
        desc: SessionDescription,
        parsed: &crate::sdp::SessionDesc,
        now: Instant,
    ) -> Result<(), SessionError> {
        let version = parsed.session_version;
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
            // Counted as seen: the peer's later descriptions follow it, and a copy of it is a
            // duplicate, not a new offer.
            self.order.offer_seen(version, desc.sdp, false);
            return Ok(());
        }
        if collision {
            tracing::debug!("glare: polite peer rolls back its offer");
            self.rollback(crate::signaling::Side::Local)?;
        }
        let text = desc.sdp.clone();
        let next = transition(self.signaling, Side::Remote, SdpType::Offer)?;
        self.apply_remote_parsed(desc, parsed.clone(), next, now)?;
        self.order.offer_seen(version, text, true);
        let answer = self.create_answer(now)?;
        self.apply_local(answer.clone(), now)?;
        self.last_sent_answer = Some((version, answer.clone()));
        self.signal_out.push_back(SignalMessage::Description {
            description: answer,
        });
        Ok(())
    }

    /// Processes held offers whose gap has closed (all of them, in order, with `force`).
    fn release_held(&mut self, now: Instant, force: bool) -> Result<(), SessionError> {
        while let Some(desc) = self.order.next_held(force) {
            let Ok(parsed) = sdp::parse(&desc.sdp) else {
                continue;
            };
            let version = parsed.session_version;
            let pending = self.signaling == SignalingState::HaveLocalOffer;
            match self.order.classify_offer(version, &desc.sdp, pending) {
                Verdict::Apply | Verdict::Hold => self.perfect_offer(desc, &parsed, now)?,
                Verdict::Duplicate | Verdict::Stale => {}
            }
            if self.closed {
                break;
            }
        }
        Ok(())
    }

    /// When held offers stop waiting for the description before them: after twice the offer
    /// retransmission interval, or the longest retransmission interval while our own offer is
    /// unanswered (the missing description is then most likely the answer, which resending our
    /// offer fetches).
    pub(super) fn hold_deadline(&self) -> Option<Instant> {
        self.order.held_since().map(|t| t + self.hold_wait())
    }

    fn hold_wait(&self) -> std::time::Duration {
        if self.signaling == SignalingState::HaveLocalOffer {
            MAX_RETRANSMIT
        } else {
            self.cfg.offer_retransmit * 2
        }
    }

    /// Sends our unanswered offer again (with its candidates) and restarts the retransmission
    /// backoff.
    fn resend_pending_offer(&mut self, now: Instant) {
        if self.signaling != SignalingState::HaveLocalOffer {
            return;
        }
        let Some(offer) = self.pending_local.as_ref().map(|d| d.to_init()) else {
            return;
        };
        self.signal_out
            .push_back(SignalMessage::Description { description: offer });
        self.resend_local_candidates();
        let iv = self.cfg.offer_retransmit;
        self.retransmit = Some((now + iv, iv));
    }

    /// Timers of negotiation: the coalesced offer, and retransmission of an unanswered one.
    pub(super) fn on_negotiation_timeout(&mut self, now: Instant) {
        if !self.perfect() {
            return;
        }
        if self.hold_deadline().is_some_and(|t| now >= t) {
            tracing::debug!("gap before held remote offers did not fill: processing them");
            if let Err(e) = self.release_held(now, true) {
                tracing::debug!(error = %e, "held remote offer rejected");
            }
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
        self.order.our_offer_sent();
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
