//! Remote candidates: binding each to the transport and ICE generation its ufrag names,
//! queueing early ones, dropping stale ones with a typed reason.

use std::collections::BTreeSet;

use super::transports::GenerationStatus;
use super::{CandidateDropReason, CandidateOutcome, Event, Session, MAX_QUEUED_CANDIDATES};
use crate::candidate::Candidate;
use crate::error::SessionError;
use crate::sdp::SessionDesc;
use crate::signal::IceCandidateInit;
use crate::transport::TransportCommand;

/// Where a remote candidate goes.
enum Route {
    Apply(TransportCommand, CandidateOutcome),
    Queue,
    Drop(CandidateDropReason),
}

impl Session {
    /// Routes one remote candidate (or end-of-candidates, when the line is empty).
    pub(super) fn route_remote_candidate(
        &mut self,
        init: IceCandidateInit,
    ) -> Result<CandidateOutcome, SessionError> {
        let parsed = if init.candidate.trim().is_empty() {
            None
        } else {
            match init.candidate.parse::<Candidate>() {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::debug!(error = %e, "malformed remote candidate");
                    self.events_out.push_back(Event::CandidateDropped {
                        candidate: truncate(&init.candidate),
                        reason: CandidateDropReason::Malformed(e.clone()),
                    });
                    return Err(e.into());
                }
            }
        };
        Ok(self.route_parsed(init, parsed))
    }

    fn route_parsed(
        &mut self,
        init: IceCandidateInit,
        parsed: Option<Candidate>,
    ) -> CandidateOutcome {
        match self.decide(&init, parsed.as_ref()) {
            Route::Apply(cmd, outcome) => {
                self.transport_out.push_back(cmd);
                outcome
            }
            Route::Queue => {
                if self.queued_candidates.len() >= MAX_QUEUED_CANDIDATES {
                    if let Some(old) = self.queued_candidates.pop_front() {
                        self.events_out.push_back(Event::CandidateDropped {
                            candidate: truncate(&old.candidate),
                            reason: CandidateDropReason::UnknownGeneration,
                        });
                    }
                }
                self.queued_candidates.push_back(init);
                CandidateOutcome::Queued
            }
            Route::Drop(reason) => {
                tracing::debug!(?reason, "remote candidate dropped");
                self.events_out.push_back(Event::CandidateDropped {
                    candidate: truncate(&init.candidate),
                    reason: reason.clone(),
                });
                CandidateOutcome::Dropped(reason)
            }
        }
    }

    fn decide(&self, init: &IceCandidateInit, parsed: Option<&Candidate>) -> Route {
        let explicit_ufrag = init
            .username_fragment
            .clone()
            .or_else(|| parsed.and_then(|c| c.ufrag.clone()));
        if let Some(u) = &explicit_ufrag {
            // A ufrag of an ignored offer may also be that of a description applied since
            // (the peer's answer reuses its newest credentials).
            if self.ignored_ufrags.contains(u) && !self.remote_ufrags_seen.contains(u) {
                return Route::Drop(CandidateDropReason::IgnoredOffer);
            }
        }
        let Some(remote) = self
            .pending_remote
            .as_ref()
            .or(self.current_remote.as_ref())
        else {
            return Route::Queue;
        };
        // The m-section: sdpMid, else sdpMLineIndex, else the first one.
        let section = match (&init.sdp_mid, init.sdp_m_line_index) {
            (Some(mid), _) => remote.parsed.media_by_mid(mid),
            (None, Some(i)) => remote.parsed.media.get(usize::from(i)),
            (None, None) => remote.parsed.media.iter().find(|m| m.port != 0),
        };
        let Some(section) = section else {
            // Possibly a candidate of an offer that has not arrived yet.
            return match &explicit_ufrag {
                Some(u) if self.retired_remote_ufrags.contains(u) => {
                    Route::Drop(CandidateDropReason::RetiredGeneration)
                }
                Some(u) if !self.remote_ufrags_seen.contains(u) => Route::Queue,
                _ => Route::Drop(CandidateDropReason::UnknownMid),
            };
        };
        let Some(ufrag) = explicit_ufrag.or_else(|| section.ice.as_ref().map(|i| i.ufrag.clone()))
        else {
            return Route::Drop(CandidateDropReason::UnknownGeneration);
        };
        let Some(&t) = self.mid_transport.get(&section.mid) else {
            return Route::Queue;
        };
        let tr = self.transport(t);
        match tr.gen_by_remote_ufrag(&ufrag) {
            Some(g) if g.status == GenerationStatus::Retired => {
                Route::Drop(CandidateDropReason::RetiredGeneration)
            }
            Some(g) => {
                let cmd = match parsed {
                    Some(c) => {
                        let mut c = c.clone();
                        c.ufrag = Some(ufrag);
                        TransportCommand::AddRemoteCandidate {
                            transport: t,
                            generation: g.generation,
                            candidate: c,
                        }
                    }
                    None => TransportCommand::RemoteEndOfCandidates {
                        transport: t,
                        generation: g.generation,
                    },
                };
                Route::Apply(
                    cmd,
                    CandidateOutcome::Applied {
                        transport: t,
                        generation: g.generation,
                    },
                )
            }
            None if self.retired_remote_ufrags.contains(&ufrag) => {
                Route::Drop(CandidateDropReason::RetiredGeneration)
            }
            // Its description is applied but its generation not started yet (a remote
            // restart offer before our answer), or its description has not arrived yet.
            None => Route::Queue,
        }
    }

    /// Feeds the candidates an applied remote description carries in its `a=candidate` and
    /// `a=end-of-candidates` lines exactly like trickled ones: peers that do not trickle (simple
    /// clients, WHIP/WHEP, ICE-lite servers) send their candidates only there. A candidate
    /// repeated in several bundled sections is routed once per transport and generation.
    pub(super) fn route_description_candidates(&mut self, desc: &SessionDesc) {
        let mut routed = BTreeSet::new();
        for (index, m) in desc.media.iter().enumerate() {
            if m.port == 0 {
                continue;
            }
            let transport = self.mid_transport.get(&m.mid).copied();
            let ufrag = m.ice.as_ref().map(|i| i.ufrag.clone());
            let lines = m.candidates.iter().map(|c| (c.to_string(), Some(c)));
            let end = m.end_of_candidates.then(|| (String::new(), None));
            for (line, parsed) in lines.chain(end) {
                if !routed.insert((transport, ufrag.clone(), line.clone())) {
                    continue;
                }
                let init = IceCandidateInit {
                    candidate: line,
                    sdp_mid: Some(m.mid.clone()),
                    sdp_m_line_index: u16::try_from(index).ok(),
                    username_fragment: ufrag.clone(),
                };
                let _ = self.route_parsed(init, parsed.cloned());
            }
        }
    }

    /// Re-routes queued candidates after a description or credentials were applied.
    pub(super) fn flush_queued_candidates(&mut self) {
        if self.queued_candidates.is_empty() {
            return;
        }
        let queued = std::mem::take(&mut self.queued_candidates);
        for init in queued {
            let parsed = if init.candidate.trim().is_empty() {
                None
            } else {
                init.candidate.parse::<Candidate>().ok()
            };
            let _ = self.route_parsed(init, parsed);
        }
    }
}

fn truncate(s: &str) -> String {
    let mut end = s.len().min(256);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}
