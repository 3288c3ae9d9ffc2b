//! Building our offers and answers ([`SessionDesc`]s) from the session's state.

use super::Session;
use crate::config::BundlePolicy;
use crate::error::SessionError;
use crate::ice::IceCredentials;
use crate::sdp::codecs::{answer_codecs, answer_extmaps, local_codecs, local_extmaps};
use crate::sdp::{Direction, MediaDesc, MediaKind, Msid, SessionDesc, Setup, SsrcGroup};
use crate::transceiver::{answer_direction, sends, Transceiver};
use crate::transport::{DtlsRole, TransportId};

/// SCTP port we use (RFC 8841 default).
pub(super) const SCTP_PORT: u16 = 5000;
const RTP_PROTOCOL: &str = "UDP/TLS/RTP/SAVPF";
const SCTP_PROTOCOL: &str = "UDP/DTLS/SCTP";

/// What an m-line of our next offer carries.
#[derive(Debug, Clone)]
enum Slot {
    Transceiver(usize),
    Data(String),
    /// A negotiated m-section with nothing left behind it (kept rejected, port 0).
    Dead(Box<MediaDesc>),
}

impl Session {
    /// A mid not used by any m-section, transceiver or the data section.
    fn fresh_mid(&mut self) -> String {
        loop {
            let mid = self.next_mid.to_string();
            self.next_mid += 1;
            let used = self
                .transceivers
                .iter()
                .any(|t| t.mid.as_deref() == Some(&mid))
                || self.data_mid.as_deref() == Some(&mid)
                || self.mid_transport.contains_key(&mid);
            if !used {
                return mid;
            }
        }
    }

    fn cname(&self) -> String {
        format!("tether-{:016x}", self.sdp_session_id)
    }

    /// Credentials for transport `t` in an offer: the pending generation's during an exchange,
    /// fresh ones for a new or restarting transport, else the negotiated ones.
    fn offer_credentials(&mut self, t: TransportId) -> IceCredentials {
        let (negotiating, negotiated) = self.generation_credentials(t);
        let rng = &mut self.rng;
        let tr = &mut self.transports[t.0 as usize];
        tr.restart
            .offer_credentials(negotiating.as_ref(), negotiated.as_ref(), || {
                rng.ice_credentials()
            })
    }

    /// The local credentials of transport `t`'s generation being negotiated and of its
    /// negotiated one.
    fn generation_credentials(
        &self,
        t: TransportId,
    ) -> (Option<IceCredentials>, Option<IceCredentials>) {
        let tr = self.transport(t);
        (
            tr.negotiating_generation().map(|g| g.local.clone()),
            tr.negotiated_generation().map(|g| g.local.clone()),
        )
    }

    /// Credentials for transport `t` in an answer: new ones when the remote restarted it or
    /// it is new, else the negotiated ones.
    fn answer_credentials(&mut self, t: TransportId) -> IceCredentials {
        let (negotiating, negotiated) = self.generation_credentials(t);
        let rng = &mut self.rng;
        let tr = &mut self.transports[t.0 as usize];
        tr.restart
            .answer_credentials(negotiating.as_ref(), negotiated.as_ref(), || {
                rng.ice_credentials()
            })
    }

    fn bundling(&self) -> bool {
        self.cfg.bundle_policy != BundlePolicy::MaxCompat
    }

    /// The m-lines of our next offer, in order: the negotiated ones first, then new ones.
    fn offer_slots(&mut self) -> Vec<Slot> {
        let mut slots = Vec::new();
        let negotiated: Vec<MediaDesc> = self
            .current_local
            .as_ref()
            .map(|d| d.parsed.media.clone())
            .unwrap_or_default();
        for m in negotiated {
            if let Some(i) = self
                .transceivers
                .iter()
                .position(|t| t.mid.as_deref() == Some(&m.mid))
            {
                slots.push(Slot::Transceiver(i));
            } else if self.data_mid.as_deref() == Some(&m.mid) {
                slots.push(Slot::Data(m.mid.clone()));
            } else {
                slots.push(Slot::Dead(Box::new(m)));
            }
        }
        for i in 0..self.transceivers.len() {
            let t = &self.transceivers[i];
            if t.mid.is_none() && !t.stopped {
                let mid = self.fresh_mid();
                self.transceivers[i].mid = Some(mid);
                slots.push(Slot::Transceiver(i));
            }
        }
        if !self.channels.is_empty() && self.data_mid.is_none() {
            let mid = self.fresh_mid();
            self.data_mid = Some(mid.clone());
            slots.push(Slot::Data(mid));
        }
        slots
    }

    /// Builds our next offer.
    pub(super) fn build_offer(&mut self) -> SessionDesc {
        // Once the DTLS role is established, offers state it (RFC 4145 allows active/passive
        // in an offer): a peer that lost track of an exchange then answers with the matching
        // role instead of choosing one afresh.
        let setup = match self.dtls_role {
            Some(DtlsRole::Client) => Setup::Active,
            Some(DtlsRole::Server) => Setup::Passive,
            None => Setup::ActPass,
        };
        let slots = self.offer_slots();
        let live_mids: Vec<String> = slots
            .iter()
            .filter_map(|s| match s {
                Slot::Transceiver(i) if !self.transceivers[*i].stopped => {
                    self.transceivers[*i].mid.clone()
                }
                Slot::Data(mid) => Some(mid.clone()),
                _ => None,
            })
            .collect();
        let bundle_tag = live_mids.first().cloned().filter(|_| self.bundling());
        let mut media = Vec::with_capacity(slots.len());
        for slot in slots {
            let m = match slot {
                Slot::Dead(m) => {
                    let mut m = *m;
                    m.port = 0;
                    m.candidates.clear();
                    m
                }
                Slot::Transceiver(i) if self.transceivers[i].stopped => {
                    rejected(&self.transceivers[i])
                }
                Slot::Transceiver(i) => {
                    let mid = self.transceivers[i].mid.clone().unwrap_or_default();
                    let t = self.transport_for(bundle_tag.as_deref().unwrap_or(&mid));
                    self.mid_transport.insert(mid, t);
                    let ice = self.offer_credentials(t);
                    let tr = &self.transceivers[i];
                    let mut m = self.rtp_section(tr, tr.direction, ice, setup);
                    if !tr.codecs.is_empty() {
                        m.codecs = tr.codecs.clone();
                    }
                    m
                }
                Slot::Data(mid) => {
                    let t = self.transport_for(bundle_tag.as_deref().unwrap_or(&mid));
                    self.mid_transport.insert(mid.clone(), t);
                    let ice = self.offer_credentials(t);
                    self.data_section(mid, ice, setup)
                }
            };
            media.push(m);
        }
        self.sdp_version += 1;
        SessionDesc {
            session_id: self.sdp_session_id,
            session_version: self.sdp_version,
            bundle_groups: if self.bundling() && !live_mids.is_empty() {
                vec![live_mids]
            } else {
                Vec::new()
            },
            ice_lite: false,
            extmap_allow_mixed: true,
            media,
        }
    }

    /// Builds the answer to the pending remote offer.
    pub(super) fn build_answer(&mut self) -> Result<SessionDesc, SessionError> {
        let Some(remote) = self.pending_remote.as_ref().map(|d| d.parsed.clone()) else {
            return Err(SessionError::InvalidModification(
                "no remote offer to answer",
            ));
        };
        let role = self.answer_dtls_role(
            remote
                .media
                .iter()
                .find(|m| m.port != 0)
                .and_then(|m| m.setup),
        );
        let setup = match role {
            DtlsRole::Client => Setup::Active,
            DtlsRole::Server => Setup::Passive,
        };
        let mut media = Vec::with_capacity(remote.media.len());
        for rm in &remote.media {
            if rm.port == 0 {
                media.push(rejected_like(rm));
                continue;
            }
            let Some(&t) = self.mid_transport.get(&rm.mid) else {
                media.push(rejected_like(rm));
                continue;
            };
            let ice = self.answer_credentials(t);
            let m = match rm.kind {
                MediaKind::Application => {
                    if rm.protocol.to_ascii_uppercase().contains("SCTP") {
                        self.data_section(rm.mid.clone(), ice, setup)
                    } else {
                        rejected_like(rm)
                    }
                }
                kind => {
                    let Some(tr) = self
                        .transceivers
                        .iter()
                        .find(|x| x.mid.as_deref() == Some(rm.mid.as_str()))
                    else {
                        media.push(rejected_like(rm));
                        continue;
                    };
                    let codecs = answer_codecs(kind, &rm.codecs);
                    if codecs.is_empty() || tr.stopped {
                        rejected_like(rm)
                    } else {
                        let direction = answer_direction(tr.direction, rm.direction);
                        let mut m = self.rtp_section(tr, direction, ice, setup);
                        m.codecs = codecs;
                        m.extmaps = answer_extmaps(kind, &rm.extmaps);
                        m
                    }
                }
            };
            media.push(m);
        }
        let accepted: Vec<&str> = media
            .iter()
            .filter(|m| m.port != 0)
            .map(|m| m.mid.as_str())
            .collect();
        let bundle_groups = remote
            .bundle_groups
            .iter()
            .map(|g| {
                g.iter()
                    .filter(|mid| accepted.contains(&mid.as_str()))
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .filter(|g| !g.is_empty())
            .collect();
        self.sdp_version += 1;
        Ok(SessionDesc {
            session_id: self.sdp_session_id,
            session_version: self.sdp_version,
            bundle_groups,
            ice_lite: false,
            extmap_allow_mixed: remote.extmap_allow_mixed,
            media,
        })
    }

    fn rtp_section(
        &self,
        tr: &Transceiver,
        direction: Direction,
        ice: IceCredentials,
        setup: Setup,
    ) -> MediaDesc {
        let sending = sends(direction);
        let mut ssrcs = Vec::new();
        let mut ssrc_groups = Vec::new();
        if sending {
            ssrcs.push(tr.ssrc);
            if let Some(rtx) = tr.rtx_ssrc {
                ssrcs.push(rtx);
                ssrc_groups.push(SsrcGroup {
                    semantics: "FID".into(),
                    ssrcs: vec![tr.ssrc, rtx],
                });
            }
        }
        MediaDesc {
            kind: tr.kind,
            mid: tr.mid.clone().unwrap_or_default(),
            port: 9,
            protocol: RTP_PROTOCOL.into(),
            ice: Some(ice),
            trickle: true,
            fingerprints: self.cfg.certificate_fingerprints.clone(),
            setup: Some(setup),
            direction,
            rtcp_mux: true,
            rtcp_rsize: true,
            codecs: local_codecs(tr.kind),
            extmaps: local_extmaps(tr.kind),
            msid: sending.then(|| Msid {
                stream: tr.stream_id.clone(),
                track: Some(tr.track_id.clone()),
            }),
            ssrcs,
            ssrc_groups,
            cname: sending.then(|| self.cname()),
            sctp_port: None,
            max_message_size: None,
            candidates: Vec::new(),
            end_of_candidates: false,
        }
    }

    fn data_section(&self, mid: String, ice: IceCredentials, setup: Setup) -> MediaDesc {
        MediaDesc {
            kind: MediaKind::Application,
            mid,
            port: 9,
            protocol: SCTP_PROTOCOL.into(),
            ice: Some(ice),
            trickle: true,
            fingerprints: self.cfg.certificate_fingerprints.clone(),
            setup: Some(setup),
            direction: Direction::SendRecv,
            rtcp_mux: false,
            rtcp_rsize: false,
            codecs: Vec::new(),
            extmaps: Vec::new(),
            msid: None,
            ssrcs: Vec::new(),
            ssrc_groups: Vec::new(),
            cname: None,
            sctp_port: Some(SCTP_PORT),
            max_message_size: Some(self.cfg.max_message_size),
            candidates: Vec::new(),
            end_of_candidates: false,
        }
    }
}

/// A rejected (port 0) m-section for a stopped transceiver.
fn rejected(tr: &Transceiver) -> MediaDesc {
    MediaDesc {
        kind: tr.kind,
        mid: tr.mid.clone().unwrap_or_default(),
        port: 0,
        protocol: RTP_PROTOCOL.into(),
        ice: None,
        trickle: false,
        fingerprints: Vec::new(),
        setup: None,
        direction: Direction::Inactive,
        rtcp_mux: false,
        rtcp_rsize: false,
        codecs: local_codecs(tr.kind).into_iter().take(1).collect(),
        extmaps: Vec::new(),
        msid: None,
        ssrcs: Vec::new(),
        ssrc_groups: Vec::new(),
        cname: None,
        sctp_port: None,
        max_message_size: None,
        candidates: Vec::new(),
        end_of_candidates: false,
    }
}

/// A rejected (port 0) answer to a remote m-section.
fn rejected_like(rm: &MediaDesc) -> MediaDesc {
    MediaDesc {
        kind: rm.kind,
        mid: rm.mid.clone(),
        port: 0,
        protocol: rm.protocol.clone(),
        ice: None,
        trickle: false,
        fingerprints: Vec::new(),
        setup: None,
        direction: Direction::Inactive,
        rtcp_mux: false,
        rtcp_rsize: false,
        codecs: rm.codecs.iter().take(1).cloned().collect(),
        extmaps: Vec::new(),
        msid: None,
        ssrcs: Vec::new(),
        ssrc_groups: Vec::new(),
        cname: None,
        sctp_port: rm.sctp_port,
        max_message_size: None,
        candidates: Vec::new(),
        end_of_candidates: false,
    }
}
