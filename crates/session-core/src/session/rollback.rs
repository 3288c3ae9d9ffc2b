//! Rollback (W3C): cancelling the offer in progress, and releasing what an offer that was never
//! applied had reserved.

use super::transports::GenerationStatus;
use super::Session;
use crate::error::SessionError;
use crate::signaling::{transition, SdpType, Side, SignalingState};
use crate::transceiver::Transceiver;

impl Session {
    /// Cancels the offer in progress (W3C rollback). Generations started for it are retired,
    /// the restart intent is kept.
    pub(super) fn rollback(&mut self, side: Side) -> Result<(), SessionError> {
        let next = transition(self.signaling, side, SdpType::Rollback)?;
        match self.signaling {
            SignalingState::HaveLocalOffer => {
                let pending = self.negotiating_generations();
                for (t, g) in pending {
                    let local = self.transport(t).gen(g).map(|x| x.local.clone());
                    self.transport_mut(t).restart.rolled_back_local(local);
                    self.retire_generation(t, g);
                }
                self.pending_local = None;
            }
            SignalingState::HaveRemoteOffer => {
                if let Some(d) = self.pending_remote.take() {
                    for m in &d.parsed.media {
                        if let Some(ice) = &m.ice {
                            let live = self.transports.iter().any(|t| {
                                t.gens.iter().any(|g| {
                                    g.status != GenerationStatus::Retired
                                        && g.remote.as_ref().is_some_and(|r| r.ufrag == ice.ufrag)
                                })
                            });
                            if !live {
                                self.retired_remote_ufrags.insert(ice.ufrag.clone());
                            }
                        }
                    }
                }
                for t in &mut self.transports {
                    t.restart.rolled_back_remote();
                }
                self.drop_transceivers_of_rolled_back_offer();
            }
            _ => {}
        }
        for t in &mut self.transports {
            t.restart.discard_proposal();
        }
        self.last_offer = None;
        self.last_answer = None;
        self.forget_unnegotiated_mids();
        self.set_signaling(next);
        Ok(())
    }

    /// W3C rollback of a remote offer: transceivers that applying it created (and that no
    /// `add_track` claimed since) are removed. Handles are indices, so only trailing ones can
    /// be removed; any other is stopped, which keeps it out of negotiation just the same.
    pub(super) fn drop_transceivers_of_rolled_back_offer(&mut self) {
        let created = |t: &Transceiver, s: &Session| {
            t.from_remote
                && t.mid.as_deref().is_some_and(|mid| {
                    s.current_local
                        .as_ref()
                        .is_none_or(|d| d.parsed.media_by_mid(mid).is_none())
                })
        };
        while self.transceivers.last().is_some_and(|t| created(t, self)) {
            self.transceivers.pop();
        }
        for i in 0..self.transceivers.len() {
            if created(&self.transceivers[i], self) {
                self.transceivers[i].stopped = true;
            }
        }
    }

    /// A remote offer replaces an offer that `create_offer` made and that was never applied:
    /// its mids and ICE credentials were only proposals (W3C assigns mids when a description
    /// is applied), so they must neither clash with the remote offer's mids nor end up in our
    /// answer (fresh credentials there would be an unrequested restart).
    pub(super) fn discard_created_offer(&mut self) {
        if self.last_offer.take().is_none() {
            return;
        }
        for t in &mut self.transports {
            t.restart.discard_proposal();
        }
        for i in 0..self.transceivers.len() {
            if let Some(mid) = self.transceivers[i].mid.clone() {
                if !self.mid_applied(&mid) {
                    self.transceivers[i].mid = None;
                }
            }
        }
        if let Some(mid) = self.data_mid.clone() {
            if !self.mid_applied(&mid) {
                self.data_mid = None;
            }
        }
    }

    /// Is `mid` in a description that was applied (not merely created)?
    pub(super) fn mid_applied(&self, mid: &str) -> bool {
        [
            &self.current_local,
            &self.pending_local,
            &self.current_remote,
            &self.pending_remote,
        ]
        .into_iter()
        .flatten()
        .any(|d| d.parsed.media_by_mid(mid).is_some())
    }

    /// Mids assigned by an offer that was rolled back are released.
    pub(super) fn forget_unnegotiated_mids(&mut self) {
        let negotiated = |mid: &str, s: &Session| {
            s.current_local
                .as_ref()
                .is_some_and(|d| d.parsed.media_by_mid(mid).is_some())
        };
        for i in 0..self.transceivers.len() {
            if let Some(mid) = self.transceivers[i].mid.clone() {
                if !negotiated(&mid, self) {
                    self.transceivers[i].mid = None;
                    self.transceivers[i].track_fired = false;
                }
            }
        }
        if let Some(mid) = self.data_mid.clone() {
            if !negotiated(&mid, self) {
                self.data_mid = None;
            }
        }
    }
}
