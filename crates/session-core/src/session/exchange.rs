//! What completes an offer/answer exchange (generations go live, SCTP starts, channels open),
//! and when another exchange is needed.

use std::time::Instant;

use super::apply::{tag_section, tags};
use super::transports::GenerationStatus;
use super::{Desc, Event, Session};
use crate::sdp::SessionDesc;
use crate::signaling::{SdpType, SignalingState};
use crate::transceiver::reverse;
use crate::transport::{TransportCommand, TransportId};

impl Session {
    /// An offer/answer exchange completed (signaling state back to stable).
    pub(super) fn finish_exchange(&mut self, now: Instant) {
        self.retransmit = None;
        self.negotiation_needed_fired = false;
        self.last_offer = None;
        self.last_answer = None;
        // Mids an offer that was created but never applied had reserved are free again (W3C
        // assigns mids when a description is applied).
        self.forget_unnegotiated_mids();
        for t in &mut self.transports {
            t.restart.forget_rollback();
        }
        let (Some(local), Some(remote)) = (
            self.current_local.as_ref().map(|d| d.parsed.clone()),
            self.current_remote.as_ref().map(|d| d.parsed.clone()),
        ) else {
            return;
        };
        // An m-section counts only if both sides accepted it: an answer may reject (port 0)
        // what our offer accepted.
        let accepted = |mid: &str| remote.media_by_mid(mid).is_some_and(|m| m.port != 0);
        // Generations whose credentials both sides now use become live; a restart requested
        // for their transport is complete.
        for (mid, tag) in tags(&local).into_iter().filter(|(mid, _)| accepted(mid)) {
            let Some(&t) = self.mid_transport.get(&mid) else {
                continue;
            };
            let Some(ice) = tag_section(&local, &tag).and_then(|m| m.ice.clone()) else {
                continue;
            };
            let Some(g) = self.transport(t).gen_by_local(&ice).map(|g| g.generation) else {
                continue;
            };
            let was_live = self
                .transport(t)
                .gen(g)
                .is_some_and(|x| x.status == GenerationStatus::Live);
            let tr = self.transport_mut(t);
            if let Some(gen) = tr.gen_mut(g) {
                gen.status = GenerationStatus::Live;
            }
            tr.restart.exchange_complete(!was_live);
            if !was_live {
                self.retire_superseded(t, g);
            }
        }
        // With the exchange complete nothing is still being negotiated: a generation started
        // for it that did not become live (its m-sections were rejected, or the answer tagged
        // another transport) is stale.
        let stale = self.negotiating_generations();
        for (t, g) in stale {
            self.retire_generation(t, g);
        }
        // Transports no m-section uses any more are closed, and a restart asked of one ends:
        // no exchange can carry it (e.g. the m-section of a rolled-back offer: its restart
        // would otherwise keep asking for a negotiation that never includes it).
        let used: Vec<TransportId> = tags(&local)
            .iter()
            .filter(|(mid, _)| accepted(mid))
            .filter_map(|(mid, _)| self.mid_transport.get(mid).copied())
            .collect();
        for i in 0..self.transports.len() {
            let t = TransportId(i as u32);
            if !used.contains(&t) {
                self.transports[i].restart.end();
            }
            if !used.contains(&t)
                && !self.transports[i].closed
                && self.transports[i].has_generation()
            {
                // Newest first: attempts in progress end before the path carrying traffic.
                let gens: Vec<_> = self.transports[i]
                    .gens
                    .iter()
                    .rev()
                    .map(|g| g.generation)
                    .collect();
                for g in gens {
                    self.retire_generation(t, g);
                }
                self.transports[i].closed = true;
                self.transports[i].restart.end();
            }
        }
        // Transceivers: negotiated directions and codecs.
        for m in &local.media {
            if let Some(i) = self
                .transceivers
                .iter()
                .position(|t| t.mid.as_deref() == Some(&m.mid))
            {
                let tr = &mut self.transceivers[i];
                if m.port == 0 || !accepted(&m.mid) {
                    tr.current_direction = None;
                    tr.stopped = true;
                } else {
                    tr.current_direction = Some(match local_is_offer(&self.current_local) {
                        true => reverse(
                            remote
                                .media_by_mid(&m.mid)
                                .map(|r| r.direction)
                                .unwrap_or_default(),
                        ),
                        false => m.direction,
                    });
                    if tr.codecs.is_empty() {
                        tr.codecs = m.codecs.clone();
                    }
                }
            }
        }
        self.start_sctp_if_ready(&local, &remote);
        self.update_states(now);
    }

    pub(super) fn start_sctp_if_ready(&mut self, local: &SessionDesc, remote: &SessionDesc) {
        if self.sctp_started {
            return;
        }
        let Some(mid) = self.data_mid.clone() else {
            return;
        };
        let (Some(l), Some(r)) = (local.media_by_mid(&mid), remote.media_by_mid(&mid)) else {
            return;
        };
        if l.port == 0 || r.port == 0 {
            return;
        }
        let Some(&t) = self.mid_transport.get(&mid) else {
            return;
        };
        self.sctp_started = true;
        self.transport_out.push_back(TransportCommand::StartSctp {
            transport: t,
            local_port: l.sctp_port.unwrap_or(super::describe::SCTP_PORT),
            remote_port: r.sctp_port.unwrap_or(super::describe::SCTP_PORT),
            max_message_size: r.max_message_size.unwrap_or(65_536),
        });
        self.open_pending_channels();
    }

    /// Gives the transport every channel that has a stream id and was not opened yet.
    pub(super) fn open_pending_channels(&mut self) {
        let Some(role) = self.dtls_role else { return };
        if !self.sctp_started || self.closed {
            return;
        }
        let _ = self.channels.assign_stream_ids(role);
        let todo: Vec<_> = self
            .channels
            .iter()
            .filter(|c| {
                c.state == crate::channel::DataChannelState::Connecting
                    && c.stream_id.is_some()
                    && !self.opened_channels.contains(&c.id)
            })
            .map(|c| {
                (
                    c.id,
                    c.stream_id.unwrap_or_default(),
                    c.label.clone(),
                    c.init.clone(),
                )
            })
            .collect();
        for (channel, stream_id, label, init) in todo {
            self.opened_channels.insert(channel);
            self.transport_out
                .push_back(TransportCommand::OpenDataChannel {
                    channel,
                    stream_id,
                    label,
                    init,
                });
        }
    }

    /// Decides whether another negotiation is needed once the signaling state is stable.
    pub(super) fn check_negotiation_needed(&mut self) {
        if self.closed || self.signaling != SignalingState::Stable {
            return;
        }
        let negotiated = |mid: &str| {
            self.current_local
                .as_ref()
                .and_then(|d| d.parsed.media_by_mid(mid))
        };
        let we_offered = local_is_offer(&self.current_local);
        let transceivers = self.transceivers.iter().any(|t| match &t.mid {
            None => !t.stopped,
            Some(mid) => match negotiated(mid) {
                None => !t.stopped,
                Some(m) if t.stopped => m.port != 0,
                Some(m) if we_offered => m.port != 0 && m.direction != t.direction,
                // W3C: an answer's direction must equal what the preferred direction allows
                // against the offered one, or a new offer is needed (e.g. `add_track` on a
                // transceiver that answered recvonly).
                Some(m) => {
                    let offered = self
                        .current_remote
                        .as_ref()
                        .and_then(|d| d.parsed.media_by_mid(mid))
                        .map(|r| r.direction)
                        .unwrap_or_default();
                    m.port != 0
                        && m.direction != crate::transceiver::answer_direction(t.direction, offered)
                }
            },
        });
        let data = !self.channels.is_empty()
            && self
                .data_mid
                .as_deref()
                .and_then(negotiated)
                .is_none_or(|m| m.port == 0);
        let needed = transceivers || data || self.restart_pending();
        if !needed {
            self.offer_due = false;
            return;
        }
        if self.perfect() {
            self.offer_due = true;
        } else if !self.negotiation_needed_fired {
            self.negotiation_needed_fired = true;
            self.events_out.push_back(Event::NegotiationNeeded);
        }
    }
}

fn local_is_offer(d: &Option<Desc>) -> bool {
    d.as_ref().is_some_and(|d| d.kind == SdpType::Offer)
}
