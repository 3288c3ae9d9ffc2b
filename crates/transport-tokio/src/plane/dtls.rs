//! One transport's DTLS association on the sans-IO `rtc-dtls` endpoint: the handshake in the
//! negotiated role with the peer's certificate checked against its SDP fingerprints, application
//! data (SCTP) in and out, the SRTP keying material, `close_notify`.
//!
//! No I/O and no clock: datagrams come in through [`DtlsSession::handle_datagram`], go out
//! through [`DtlsSession::poll_transmit`], and time comes in as `now`.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc_dtls::config::{ClientAuthType, ConfigBuilder, ExtendedMasterSecretType};
use rtc_dtls::endpoint::{Endpoint, EndpointEvent};
use rtc_dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use rtc_shared::error::Error as RtcError;
use rtc_shared::TransportProtocol;
use session_core::sdp::Fingerprint;
use session_core::transport::DtlsRole;

use crate::dtls::DtlsIdentity;
use crate::error::TransportError;
use crate::srtp::SrtpMaterial;

/// How long a DTLS handshake may take before the transport is failed.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The endpoint multiplexes associations by address; ours has one peer, whatever path carries
/// it (the switchable connection chooses the path), so both ends use fixed placeholders.
const LOCAL: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1));
const PEER: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 2));

/// The RFC 5764 exporter label of the SRTP keys.
const SRTP_EXPORTER_LABEL: &str = "EXTRACTOR-dtls_srtp";

/// What the session reports.
#[derive(Debug)]
pub(crate) enum DtlsEvent {
    /// The handshake finished and the peer's certificate matched its fingerprint.
    Connected,
    /// The handshake failed (or a fatal alert ended the association).
    Failed(TransportError),
    /// The peer sent `close_notify`.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshaking {
        deadline: Instant,
    },
    Connected,
    /// Failed or closed: nothing goes in or out any more.
    Done,
}

/// One DTLS association.
pub(crate) struct DtlsSession {
    endpoint: Endpoint,
    role: DtlsRole,
    phase: Phase,
    /// Set by the certificate check when the peer's certificate matched no fingerprint.
    mismatch: Arc<AtomicBool>,
    events: VecDeque<DtlsEvent>,
    /// Application data (SCTP packets) received, in order.
    app_in: VecDeque<BytesMut>,
    /// Records that failed to decrypt or parse, dropped (counted, never fatal once connected).
    pub(crate) bad_records: u64,
}

impl std::fmt::Debug for DtlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsSession")
            .field("role", &self.role)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl DtlsSession {
    /// Starts the association in `role`: a client sends its first flight at once.
    pub(crate) fn new(
        identity: &DtlsIdentity,
        role: DtlsRole,
        fingerprints: Vec<Fingerprint>,
        now: Instant,
    ) -> Result<Self, TransportError> {
        let mismatch = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&mismatch);
        let is_client = role == DtlsRole::Client;
        let provider = rtc_crypto::default_provider().map_err(|e| dtls_error(e.to_string()))?;
        let certificate = identity.certificate();
        let config = ConfigBuilder::default()
            .with_crypto_provider(provider)
            .with_certificates(vec![certificate])
            .with_srtp_protection_profiles(vec![
                SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
                SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
            ])
            // WebRTC authenticates by fingerprint, not by a CA: skip chain verification,
            // require the client's certificate, and check the leaf against the SDP here.
            .with_client_auth(ClientAuthType::RequireAnyClientCert)
            .with_insecure_skip_verify(true)
            .with_extended_master_secret(ExtendedMasterSecretType::Require)
            .with_server_name("tether".to_owned())
            .with_verify_peer_certificate(Some(Arc::new(
                move |certs: &[Vec<u8>], _chains: &[_]| {
                    if crate::dtls::matches(certs, &fingerprints) {
                        Ok(())
                    } else {
                        flag.store(true, Ordering::SeqCst);
                        Err(RtcError::ErrNoMatchingCertificateFingerprint)
                    }
                },
            )))
            .build(is_client, None)
            .map_err(|e| dtls_error(e.to_string()))?;
        let config = Arc::new(config);
        let mut endpoint = Endpoint::new(
            LOCAL,
            TransportProtocol::UDP,
            (!is_client).then(|| Arc::clone(&config)),
        );
        if is_client {
            endpoint
                .connect(now, PEER, config, None)
                .map_err(|e| dtls_error(e.to_string()))?;
        }
        Ok(Self {
            endpoint,
            role,
            phase: Phase::Handshaking {
                deadline: now + HANDSHAKE_TIMEOUT,
            },
            mismatch,
            events: VecDeque::new(),
            app_in: VecDeque::new(),
            bad_records: 0,
        })
    }

    pub(crate) fn role(&self) -> DtlsRole {
        self.role
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.phase == Phase::Connected
    }

    /// One datagram of DTLS records from the peer.
    pub(crate) fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        if self.phase == Phase::Done {
            return;
        }
        match self
            .endpoint
            .read(now, PEER, None, BytesMut::from(datagram))
        {
            Ok(events) => {
                for event in events {
                    match event {
                        EndpointEvent::HandshakeComplete => self.connected(),
                        EndpointEvent::ApplicationData(data) => self.app_in.push_back(data),
                        EndpointEvent::PeerClosed => {
                            self.phase = Phase::Done;
                            self.events.push_back(DtlsEvent::Closed);
                        }
                        _ => {}
                    }
                }
            }
            Err(e) => self.read_failed(e),
        }
    }

    fn connected(&mut self) {
        if matches!(self.phase, Phase::Handshaking { .. }) {
            self.phase = Phase::Connected;
            self.events.push_back(DtlsEvent::Connected);
        }
    }

    fn read_failed(&mut self, e: RtcError) {
        if self.mismatch.load(Ordering::SeqCst) {
            return self.fail(TransportError::FingerprintMismatch);
        }
        match e {
            // A fatal alert from the peer (or one we sent): the association is over.
            RtcError::ErrAlertFatalOrClose => {
                self.fail(dtls_error("fatal alert".to_owned()));
            }
            // Anything else is one bad record (garbage, a replay, a stray retransmission): it
            // is dropped and counted; the handshake's own timers decide failure.
            e => {
                self.bad_records += 1;
                tracing::debug!(error = %e, "DTLS record dropped");
            }
        }
    }

    fn fail(&mut self, e: TransportError) {
        if self.phase != Phase::Done {
            self.phase = Phase::Done;
            self.events.push_back(DtlsEvent::Failed(e));
        }
    }

    /// Encrypts `data` (one SCTP packet) for the peer.
    pub(crate) fn write(&mut self, now: Instant, data: &[u8]) -> Result<(), TransportError> {
        if self.phase != Phase::Connected {
            return Err(dtls_error("not connected".to_owned()));
        }
        self.endpoint
            .write(now, PEER, data)
            .map_err(|e| dtls_error(e.to_string()))
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if let Phase::Handshaking { deadline } = self.phase {
            if now >= deadline {
                return self.fail(dtls_error("handshake timed out".to_owned()));
            }
        }
        if self.phase == Phase::Done {
            return;
        }
        if let Err(e) = self.endpoint.handle_timeout(PEER, now) {
            if matches!(self.phase, Phase::Handshaking { .. }) {
                self.fail(dtls_error(format!("handshake: {e}")));
            }
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let retransmit = self.endpoint.poll_timeout(&PEER);
        match self.phase {
            Phase::Handshaking { deadline } => {
                Some(retransmit.map_or(deadline, |r| r.min(deadline)))
            }
            Phase::Connected => retransmit,
            Phase::Done => None,
        }
    }

    /// The next datagram to send.
    pub(crate) fn poll_transmit(&mut self) -> Option<BytesMut> {
        self.endpoint.poll_transmit().map(|t| t.message)
    }

    pub(crate) fn poll_event(&mut self) -> Option<DtlsEvent> {
        self.events.pop_front()
    }

    /// The next application payload (an SCTP packet) received.
    pub(crate) fn poll_app_data(&mut self) -> Option<BytesMut> {
        self.app_in.pop_front()
    }

    /// The SRTP profile and keying material; `Ok(None)` when no SRTP profile was negotiated
    /// (data channels only) or the handshake has not finished.
    pub(crate) fn srtp_material(&self) -> Result<Option<SrtpMaterial>, TransportError> {
        if self.phase != Phase::Connected {
            return Ok(None);
        }
        let Some(state) = self.endpoint.get_connection_state(PEER) else {
            return Ok(None);
        };
        let profile = state.srtp_protection_profile();
        let Some(len) = crate::srtp::material_len(profile) else {
            return Ok(None);
        };
        let material = state
            .export_keying_material(SRTP_EXPORTER_LABEL, &[], len)
            .map_err(|e| TransportError::Srtp(e.to_string()))?;
        Ok(Some(SrtpMaterial {
            profile,
            material: material.as_ref().to_vec(),
            is_client: self.role == DtlsRole::Client,
        }))
    }

    /// Sends `close_notify` (queued for [`poll_transmit`](Self::poll_transmit)); the
    /// association is finished.
    pub(crate) fn close(&mut self, now: Instant) {
        if self.phase == Phase::Connected {
            let _ = self.endpoint.stop(now, PEER);
        }
        self.phase = Phase::Done;
    }
}

fn dtls_error(reason: String) -> TransportError {
    TransportError::Dtls(reason)
}
