//! Applying descriptions: `set_local_description`, `set_remote_description`, rollback, and
//! what completes an offer/answer exchange.

use std::time::Instant;

use super::transports::GenerationStatus;
use super::{Desc, Event, Session};
use crate::error::{PeerError, SessionError};
use crate::ice::IceCredentials;
use crate::sdp::{self, MediaDesc, MediaKind, SessionDesc, Setup};
use crate::signal::SessionDescription;
use crate::signaling::{transition, SdpType, Side, SignalingState};
use crate::transceiver::sends;
use crate::transport::{DtlsRole, Generation, TransportId};

/// Line-ending-insensitive comparison of two SDP texts.
fn same_sdp(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> impl Iterator<Item = &str> {
        s.lines().map(str::trim_end).filter(|l| !l.is_empty())
    }
    norm(a).eq(norm(b))
}

/// The m-section that carries a transport's attributes: the first accepted one tagged `tag`.
pub(super) fn tag_section<'a>(desc: &'a SessionDesc, tag: &str) -> Option<&'a MediaDesc> {
    desc.media_by_mid(tag).filter(|m| m.port != 0)
}

/// The tag (transport key) of each accepted m-section of a description: the first accepted
/// mid of its BUNDLE group, or its own mid.
pub(super) fn tags(desc: &SessionDesc) -> Vec<(String, String)> {
    desc.media
        .iter()
        .filter(|m| m.port != 0)
        .map(|m| {
            let tag = desc
                .bundle_group_of(&m.mid)
                .and_then(|g| {
                    g.iter()
                        .find(|mid| desc.media_by_mid(mid).is_some_and(|x| x.port != 0))
                })
                .cloned()
                .unwrap_or_else(|| m.mid.clone());
            (m.mid.clone(), tag)
        })
        .collect()
}

impl Session {
    pub(super) fn apply_local(
        &mut self,
        desc: SessionDescription,
        now: Instant,
    ) -> Result<(), SessionError> {
        if desc.kind == SdpType::Rollback {
            return self.rollback(Side::Local);
        }
        let next = transition(self.signaling, Side::Local, desc.kind)?;
        let created = if desc.kind == SdpType::Offer {
            if self.last_offer.is_none() {
                self.last_offer = Some(self.build_offer());
            }
            self.last_offer.clone()
        } else {
            if self.last_answer.is_none() {
                self.last_answer = Some(self.build_answer()?);
            }
            self.last_answer.clone()
        };
        let parsed = created.ok_or(SessionError::InvalidModification("nothing was created"))?;
        let sdp = sdp::write(&parsed);
        // No munging: the description must be the one just created (or empty, meaning it).
        if !desc.sdp.trim().is_empty() && !same_sdp(&desc.sdp, &sdp) {
            return Err(SessionError::InvalidModification(
                "the description is not the last one created by create_offer/create_answer",
            ));
        }
        let applied = Desc {
            kind: desc.kind,
            sdp,
            parsed: parsed.clone(),
        };
        match desc.kind {
            SdpType::Offer => self.apply_local_offer(&parsed, now),
            _ => self.apply_local_answer(&parsed, now),
        }
        if desc.kind == SdpType::Answer {
            self.current_local = Some(applied);
            self.current_remote = self.pending_remote.take();
            self.pending_local = None;
            self.finish_exchange(now);
        } else {
            self.pending_local = Some(applied);
        }
        self.set_signaling(next);
        Ok(())
    }

    fn apply_local_offer(&mut self, offer: &SessionDesc, now: Instant) {
        let remote_lite = self
            .current_remote
            .as_ref()
            .is_some_and(|d| d.parsed.ice_lite);
        let mut offered: Vec<(TransportId, IceCredentials)> = Vec::new();
        for (mid, tag) in tags(offer) {
            let t = self.transport_for(&tag);
            self.mid_transport.insert(mid, t);
            if let Some(ice) = tag_section(offer, &tag).and_then(|m| m.ice.clone()) {
                if !offered.iter().any(|(x, _)| *x == t) {
                    offered.push((t, ice));
                }
            }
        }
        for (t, ice) in offered {
            // A new offer in have-local-offer may replace a generation started by the
            // previous one.
            let stale: Vec<_> = self
                .transport(t)
                .gens
                .iter()
                .filter(|g| g.status == GenerationStatus::Negotiating && g.local != ice)
                .map(|g| g.generation)
                .collect();
            for g in stale {
                self.retire_generation(t, g);
            }
            if self.transport(t).gen_by_local(&ice).is_none() {
                let role = self.ice_role_for_new_generation(true, remote_lite);
                self.start_generation(t, ice, role, now);
            }
        }
    }

    fn apply_local_answer(&mut self, answer: &SessionDesc, now: Instant) {
        let Some(remote) = self.pending_remote.as_ref().map(|d| d.parsed.clone()) else {
            return;
        };
        if let Some(setup) = answer
            .media
            .iter()
            .find(|m| m.port != 0)
            .and_then(|m| m.setup)
        {
            self.dtls_role = Some(match setup {
                Setup::Passive => DtlsRole::Server,
                _ => DtlsRole::Client,
            });
        }
        let role = self.ice_role_for_new_generation(false, remote.ice_lite);
        let mut done: Vec<TransportId> = Vec::new();
        for (mid, tag) in tags(answer) {
            let Some(&t) = self.mid_transport.get(&mid) else {
                continue;
            };
            if done.contains(&t) {
                continue;
            }
            done.push(t);
            let local = tag_section(answer, &tag).and_then(|m| m.ice.clone());
            let remote_sec = remote
                .media_by_mid(&tag)
                .or_else(|| remote.media_by_mid(&mid));
            let (Some(local), Some(rsec)) = (local, remote_sec) else {
                continue;
            };
            let Some(remote_ice) = rsec.ice.clone() else {
                continue;
            };
            let g = match self.transport(t).gen_by_local(&local) {
                Some(g) => g.generation,
                None => self.start_generation(t, local, role, now),
            };
            if self.transport(t).gen(g).and_then(|x| x.remote.as_ref()) != Some(&remote_ice) {
                self.set_remote_credentials(t, g, remote_ice);
            }
            self.transport_mut(t).remote_fingerprints = rsec.fingerprints.clone();
            self.maybe_start_dtls(t);
        }
        self.flush_queued_candidates();
    }

    pub(super) fn apply_remote(
        &mut self,
        desc: SessionDescription,
        now: Instant,
    ) -> Result<(), SessionError> {
        if desc.kind == SdpType::Rollback {
            return self.rollback(Side::Remote);
        }
        let next = transition(self.signaling, Side::Remote, desc.kind)?;
        let parsed = sdp::parse(&desc.sdp)?;
        self.apply_remote_parsed(desc, parsed, next, now)
    }

    /// [`apply_remote`](Self::apply_remote) of a description already parsed, whose transition
    /// to `next` was checked.
    pub(super) fn apply_remote_parsed(
        &mut self,
        desc: SessionDescription,
        parsed: SessionDesc,
        next: SignalingState,
        now: Instant,
    ) -> Result<(), SessionError> {
        match desc.kind {
            SdpType::Offer => self.apply_remote_offer(&parsed)?,
            _ => self.apply_remote_answer(&parsed)?,
        }
        let has_candidates = parsed
            .media
            .iter()
            .any(|m| !m.candidates.is_empty() || m.end_of_candidates);
        let applied = Desc {
            kind: desc.kind,
            sdp: desc.sdp,
            parsed,
        };
        if desc.kind == SdpType::Answer {
            self.current_remote = Some(applied);
            self.current_local = self.pending_local.take();
            self.pending_remote = None;
            self.finish_exchange(now);
        } else {
            self.pending_remote = Some(applied);
        }
        self.set_signaling(next);
        self.flush_queued_candidates();
        if has_candidates {
            let parsed = match desc.kind {
                SdpType::Answer => self.current_remote.as_ref(),
                _ => self.pending_remote.as_ref(),
            }
            .map(|d| d.parsed.clone());
            if let Some(parsed) = parsed {
                self.route_description_candidates(&parsed);
            }
        }
        Ok(())
    }

    /// Checks a remote offer against what was negotiated before; changes nothing.
    fn validate_remote_offer(&self, offer: &SessionDesc) -> Result<(), PeerError> {
        if let Some(cur) = self.current_remote.as_ref().or(self.current_local.as_ref()) {
            for (i, m) in cur.parsed.media.iter().enumerate() {
                match offer.media.get(i) {
                    Some(o) if o.mid == m.mid => {}
                    _ => return Err(PeerError::MLinesChanged),
                }
            }
        }
        for m in offer.media.iter().filter(|m| m.port != 0) {
            // Mids only proposed by an unapplied `create_offer` do not count.
            if !self.mid_applied(&m.mid) {
                continue;
            }
            if let Some(tr) = self
                .transceivers
                .iter()
                .find(|t| t.mid.as_deref() == Some(&m.mid))
            {
                if tr.kind != m.kind {
                    return Err(PeerError::MidKindChanged { mid: m.mid.clone() });
                }
            }
            if self.data_mid.as_deref() == Some(&m.mid) && m.kind != MediaKind::Application {
                return Err(PeerError::MidKindChanged { mid: m.mid.clone() });
            }
        }
        for (mid, tag) in tags(offer) {
            let Some(&t) = self.tag_transport.get(&tag) else {
                continue;
            };
            let tr = self.transport(t);
            let Some(sec) = offer.media_by_mid(&mid) else {
                continue;
            };
            if !tr.remote_fingerprints.is_empty()
                && !tr.closed
                && sec.fingerprints != tr.remote_fingerprints
            {
                return Err(PeerError::FingerprintChanged { mid });
            }
        }
        Ok(())
    }

    fn apply_remote_offer(&mut self, offer: &SessionDesc) -> Result<(), SessionError> {
        self.validate_remote_offer(offer)?;
        self.discard_created_offer();
        for (mid, tag) in tags(offer) {
            let t = self.transport_for(&tag);
            self.mid_transport.insert(mid, t);
        }
        let mut seen: Vec<TransportId> = Vec::new();
        for (mid, tag) in tags(offer) {
            let t = self.mid_transport[&mid];
            if seen.contains(&t) {
                continue;
            }
            seen.push(t);
            let Some(ice) = tag_section(offer, &tag).and_then(|m| m.ice.clone()) else {
                continue;
            };
            let restart = self
                .transport(t)
                .negotiated_generation()
                .and_then(|g| g.remote.as_ref())
                .is_some_and(|r| r != &ice);
            if restart {
                tracing::debug!(transport = %t, "remote ICE restart detected");
            }
            self.transport_mut(t).restart.remote_offer(restart);
            self.remote_ufrags_seen.insert(ice.ufrag);
        }
        // Associate m-sections with transceivers and the data channel section.
        for m in offer.media.iter() {
            match m.kind {
                MediaKind::Application => {
                    if m.port != 0 && self.data_mid.is_none() {
                        self.data_mid = Some(m.mid.clone());
                    }
                }
                kind => {
                    let i = self.associate_transceiver(kind, &m.mid, m.port != 0);
                    if let Some(i) = i {
                        self.transceivers[i].remote_ssrcs = m.ssrcs.clone();
                        self.maybe_fire_track(i, m.port != 0 && sends(m.direction));
                    }
                }
            }
        }
        self.last_answer = None;
        Ok(())
    }

    /// The transceiver for a remote m-section: the one with that mid, else an unassociated
    /// one of the same kind added by the application, else a new receive-only one.
    fn associate_transceiver(
        &mut self,
        kind: MediaKind,
        mid: &str,
        accepted: bool,
    ) -> Option<usize> {
        if let Some(i) = self
            .transceivers
            .iter()
            .position(|t| t.mid.as_deref() == Some(mid))
        {
            return Some(i);
        }
        if !accepted {
            return None;
        }
        if let Some(i) = self
            .transceivers
            .iter()
            .position(|t| t.mid.is_none() && !t.stopped && t.kind == kind)
        {
            self.transceivers[i].mid = Some(mid.to_owned());
            return Some(i);
        }
        let id = self.push_transceiver(
            kind,
            Some(mid.to_owned()),
            crate::sdp::Direction::RecvOnly,
            true,
        );
        Some(id.0 as usize)
    }

    fn maybe_fire_track(&mut self, i: usize, remote_sends: bool) {
        let t = &mut self.transceivers[i];
        if remote_sends && !t.track_fired {
            t.track_fired = true;
            let ev = Event::Track {
                transceiver: t.id,
                mid: t.mid.clone().unwrap_or_default(),
                kind: t.kind,
            };
            self.events_out.push_back(ev);
        } else if !remote_sends {
            t.track_fired = false;
        }
    }

    /// Checks a remote answer against our offer; changes nothing.
    fn validate_remote_answer(&self, answer: &SessionDesc) -> Result<(), PeerError> {
        let Some(offer) = self.pending_local.as_ref().map(|d| &d.parsed) else {
            return Err(PeerError::AnswerMismatch);
        };
        if offer.media.len() != answer.media.len()
            || offer
                .media
                .iter()
                .zip(&answer.media)
                .any(|(o, a)| o.mid != a.mid)
        {
            return Err(PeerError::AnswerMismatch);
        }
        let offered_bundle = offer.bundle_groups.iter().any(|g| g.len() > 1);
        let accepted = answer.media.iter().filter(|m| m.port != 0).count();
        if offered_bundle && accepted > 1 && answer.bundle_groups.is_empty() {
            return Err(PeerError::BundleRejected);
        }
        for g in &answer.bundle_groups {
            let ok = offer
                .bundle_groups
                .iter()
                .any(|og| g.iter().all(|mid| og.contains(mid)));
            if !ok {
                return Err(PeerError::BundleMismatch);
            }
        }
        for m in answer.media.iter().filter(|m| m.port != 0) {
            let role = match m.setup {
                Some(Setup::Active) => DtlsRole::Server,
                Some(Setup::Passive) => DtlsRole::Client,
                _ => return Err(PeerError::InvalidSetupInAnswer { mid: m.mid.clone() }),
            };
            if self.dtls_role.is_some_and(|r| r != role) {
                return Err(PeerError::DtlsRoleChanged { mid: m.mid.clone() });
            }
        }
        for (mid, tag) in tags(answer) {
            let Some(&t) = self.mid_transport.get(&mid) else {
                continue;
            };
            let tr = self.transport(t);
            let (Some(sec), Some(offered)) = (
                tag_section(answer, &tag),
                tag_section(offer, &tag).and_then(|m| m.ice.as_ref()),
            ) else {
                continue;
            };
            if !tr.remote_fingerprints.is_empty() && sec.fingerprints != tr.remote_fingerprints {
                return Err(PeerError::FingerprintChanged { mid });
            }
            // The generation our offer used: a new one (restart) or the negotiated one.
            if let (Some(g), Some(ice)) = (tr.gen_by_local(offered), sec.ice.as_ref()) {
                if g.status == GenerationStatus::Live && g.remote.as_ref().is_some_and(|r| r != ice)
                {
                    return Err(PeerError::UnexpectedIceRestartInAnswer { mid });
                }
            }
        }
        Ok(())
    }

    /// An answer to our restart offer (new generation `g` still negotiating) that keeps the
    /// credentials the peer uses on the working generation: the peer does not restart, so
    /// checks of `g` could never succeed. `g` is dropped, the restart request for `t` ends
    /// here (no loop of offers or of failed generations), and it is reported once.
    fn restart_declined(&mut self, t: TransportId, g: Generation, remote: &IceCredentials) -> bool {
        let tr = self.transport(t);
        let negotiating = tr
            .gen(g)
            .is_some_and(|x| x.status == GenerationStatus::Negotiating);
        // Only a generation that connected proves the peer uses those credentials. One that
        // never did may be ours alone: the peer may never have seen our answer that made it
        // (lost), rolled back the offer it answered and answered our restart with that offer's
        // credentials (`Transport::rolled_back`), on a new generation of its own: then the
        // answer's credentials are the restart's and the new generation must run.
        let Some(kept) = tr
            .negotiated_generation()
            .filter(|x| x.generation < g && x.ever_connected && x.remote.as_ref() == Some(remote))
            .map(|x| x.generation)
        else {
            return false;
        };
        if !negotiating {
            return false;
        }
        tracing::warn!(
            transport = %t,
            kept = %kept,
            "the peer answered our ICE restart with its old credentials (it does not support \
             ICE restart): staying on the working generation"
        );
        self.retire_generation(t, g);
        self.transport_mut(t).restart.end();
        self.events_out
            .push_back(Event::IceRestartDeclined { transport: t, kept });
        true
    }

    fn apply_remote_answer(&mut self, answer: &SessionDesc) -> Result<(), SessionError> {
        self.validate_remote_answer(answer)?;
        let offer = self
            .pending_local
            .as_ref()
            .map(|d| d.parsed.clone())
            .expect("validated");
        if let Some(setup) = answer
            .media
            .iter()
            .find(|m| m.port != 0)
            .and_then(|m| m.setup)
        {
            self.dtls_role = Some(if setup == Setup::Active {
                DtlsRole::Server
            } else {
                DtlsRole::Client
            });
        }
        let mut done: Vec<TransportId> = Vec::new();
        for (mid, tag) in tags(answer) {
            let Some(&t) = self.mid_transport.get(&mid) else {
                continue;
            };
            if done.contains(&t) {
                continue;
            }
            done.push(t);
            let (Some(sec), Some(offered)) = (
                tag_section(answer, &tag),
                tag_section(&offer, &tag).and_then(|m| m.ice.clone()),
            ) else {
                continue;
            };
            let Some(remote_ice) = sec.ice.clone() else {
                continue;
            };
            let Some(g) = self
                .transport(t)
                .gen_by_local(&offered)
                .map(|g| g.generation)
            else {
                continue;
            };
            if self.restart_declined(t, g, &remote_ice) {
                continue;
            }
            if self.transport(t).gen(g).and_then(|x| x.remote.as_ref()) != Some(&remote_ice) {
                self.set_remote_credentials(t, g, remote_ice);
            }
            self.transport_mut(t).remote_fingerprints = sec.fingerprints.clone();
            self.maybe_start_dtls(t);
        }
        for m in &answer.media {
            if m.kind == MediaKind::Application {
                continue;
            }
            if let Some(i) = self
                .transceivers
                .iter()
                .position(|t| t.mid.as_deref() == Some(&m.mid))
            {
                if m.port != 0 {
                    self.transceivers[i].codecs = m.codecs.clone();
                    self.transceivers[i].remote_ssrcs = m.ssrcs.clone();
                }
                self.maybe_fire_track(i, m.port != 0 && sends(m.direction));
            }
        }
        Ok(())
    }
}
