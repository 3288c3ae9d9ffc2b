//! The data plane of one transport, sans-IO: its DTLS association ([`dtls`]) and, on the data
//! transport, the SCTP association with its data channels ([`sctp`], [`dcep`]), on webrtc-rs's
//! sans-IO `rtc-dtls` / `rtc-sctp` / `rtc-datachannel` state machines.
//!
//! The driver task owns one [`Plane`] per transport and feeds it every DTLS datagram the
//! switchable connection reads ([`Plane::handle_datagram`]), its timers
//! ([`Plane::handle_timeout`]) and the application's sends; after every batch of inputs it drains
//! [`Plane::poll_transmit`] (the datagrams to write to the promoted path) and
//! [`Plane::poll_event`]. No task per packet or per message, no lock: SCTP packets go into DTLS
//! records and DTLS records into SCTP within one call.

pub(crate) mod dcep;
pub(crate) mod dtls;
pub(crate) mod sctp;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use session_core::sdp::Fingerprint;
use session_core::transport::DtlsRole;

use crate::dtls::DtlsIdentity;
use crate::error::TransportError;
use dtls::{DtlsEvent, DtlsSession};
use sctp::{SctpEvent, SctpSession};

/// `StartSctp`'s parameters, kept until DTLS connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SctpParams {
    pub(crate) local_port: u16,
    pub(crate) remote_port: u16,
    /// The peer's `a=max-message-size`.
    pub(crate) max_message_size: u64,
}

/// What the plane reports.
#[derive(Debug)]
pub(crate) enum PlaneEvent {
    Dtls(DtlsEvent),
    Sctp(SctpEvent),
}

/// One transport's DTLS and SCTP.
#[derive(Debug, Default)]
pub(crate) struct Plane {
    dtls: Option<DtlsSession>,
    sctp_params: Option<SctpParams>,
    sctp: Option<SctpSession>,
    events: VecDeque<PlaneEvent>,
    /// SCTP packets waiting to go into DTLS records.
    packets: Vec<Bytes>,
    /// DTLS datagrams that arrived before DTLS started here (the peer's first flight often
    /// overtakes our `StartDtls` or our promotion): handed to DTLS when it starts, instead of
    /// waiting a second for the peer's retransmission.
    early: VecDeque<Bytes>,
    /// Early datagrams dropped beyond [`EARLY_DATAGRAMS`].
    pub(crate) early_dropped: u64,
}

/// DTLS datagrams kept before DTLS starts (a handshake flight is a few).
const EARLY_DATAGRAMS: usize = 32;

impl Plane {
    /// Starts DTLS in `role` (the client's first flight is queued at once).
    pub(crate) fn start_dtls(
        &mut self,
        identity: &DtlsIdentity,
        role: DtlsRole,
        fingerprints: Vec<Fingerprint>,
        now: Instant,
    ) -> Result<(), TransportError> {
        let mut dtls = DtlsSession::new(identity, role, fingerprints, now)?;
        for datagram in self.early.drain(..) {
            dtls.handle_datagram(now, &datagram);
        }
        self.dtls = Some(dtls);
        self.pump(now);
        Ok(())
    }

    pub(crate) fn dtls_started(&self) -> bool {
        self.dtls.is_some()
    }

    /// The DTLS session, once started.
    pub(crate) fn dtls(&self) -> Option<&DtlsSession> {
        self.dtls.as_ref()
    }

    /// Starts SCTP once DTLS is connected (now, if it is).
    pub(crate) fn start_sctp(&mut self, params: SctpParams, now: Instant) {
        self.sctp_params = Some(params);
        self.try_start_sctp(now);
        self.pump(now);
    }

    fn try_start_sctp(&mut self, now: Instant) {
        let Some(dtls) = &self.dtls else { return };
        if !dtls.is_connected() || self.sctp.is_some() {
            return;
        }
        let Some(params) = self.sctp_params.take() else {
            return;
        };
        // The DTLS client's side initiates (as webrtc-rs and the browsers do); the other
        // side answers.
        let client = dtls.role() == DtlsRole::Client;
        match SctpSession::new(client, params.local_port, params.max_message_size, now) {
            Ok(s) => self.sctp = Some(s),
            Err(e) => self.events.push_back(PlaneEvent::Sctp(SctpEvent::Lost(e))),
        }
    }

    /// The SCTP association, once started.
    pub(crate) fn sctp(&mut self) -> Option<&mut SctpSession> {
        self.sctp.as_mut()
    }

    /// One DTLS datagram from the peer.
    pub(crate) fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        match &mut self.dtls {
            Some(dtls) => dtls.handle_datagram(now, datagram),
            None if self.early.len() < EARLY_DATAGRAMS => {
                self.early.push_back(Bytes::copy_from_slice(datagram));
            }
            None => self.early_dropped += 1,
        }
        self.pump(now);
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if let Some(dtls) = &mut self.dtls {
            if dtls.poll_timeout().is_some_and(|t| t <= now) {
                dtls.handle_timeout(now);
            }
        }
        if let Some(sctp) = &mut self.sctp {
            if sctp.poll_timeout().is_some_and(|t| t <= now) {
                sctp.handle_timeout(now);
            }
        }
        self.pump(now);
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let dtls = self.dtls.as_ref().and_then(DtlsSession::poll_timeout);
        let sctp = self.sctp.as_ref().and_then(SctpSession::poll_timeout);
        match (dtls, sctp) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves what DTLS decrypted into SCTP and collects both layers' events.
    fn pump(&mut self, now: Instant) {
        while let Some(ev) = self.dtls.as_mut().and_then(DtlsSession::poll_event) {
            let connected = matches!(ev, DtlsEvent::Connected);
            self.events.push_back(PlaneEvent::Dtls(ev));
            if connected {
                self.try_start_sctp(now);
            }
        }
        let (Some(dtls), Some(sctp)) = (&mut self.dtls, &mut self.sctp) else {
            // SCTP packets before SCTP started (the peer's INIT may overtake our StartSctp)
            // stay in DTLS until it does.
            return;
        };
        while let Some(packet) = dtls.poll_app_data() {
            sctp.handle_packet(now, packet.freeze());
        }
        while let Some(ev) = sctp.poll_event() {
            self.events.push_back(PlaneEvent::Sctp(ev));
        }
    }

    pub(crate) fn poll_event(&mut self) -> Option<PlaneEvent> {
        if self.events.is_empty() {
            if let Some(sctp) = &mut self.sctp {
                while let Some(ev) = sctp.poll_event() {
                    self.events.push_back(PlaneEvent::Sctp(ev));
                }
            }
        }
        self.events.pop_front()
    }

    /// Every datagram to send now: SCTP's packets sealed into DTLS records, and DTLS's own
    /// (handshake flights, alerts).
    pub(crate) fn poll_transmit(&mut self, now: Instant, out: &mut Vec<Bytes>) {
        let Some(dtls) = &mut self.dtls else { return };
        if let Some(sctp) = &mut self.sctp {
            sctp.poll_transmit(now, &mut self.packets);
            for packet in self.packets.drain(..) {
                if let Err(e) = dtls.write(now, &packet) {
                    tracing::trace!(error = %e, "SCTP packet not sealed");
                }
            }
        }
        while let Some(datagram) = dtls.poll_transmit() {
            out.push(datagram.freeze());
        }
    }

    /// Closes gracefully and at once: an SCTP ABORT, then DTLS `close_notify`, both queued
    /// for [`poll_transmit`](Self::poll_transmit).
    pub(crate) fn close(&mut self, now: Instant, out: &mut Vec<Bytes>) {
        if let Some(sctp) = &mut self.sctp {
            sctp.abort();
        }
        self.poll_transmit(now, out);
        if let Some(dtls) = &mut self.dtls {
            dtls.close(now);
            while let Some(datagram) = dtls.poll_transmit() {
                out.push(datagram.freeze());
            }
        }
        self.sctp = None;
    }
}

#[cfg(test)]
mod tests;
