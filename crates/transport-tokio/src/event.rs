//! What a peer connection tells the application: [`PeerEvent`] and its stream.

use session_core::session::Event;
use session_core::signal::{IceCandidateInit, SignalMessage};
use tokio::sync::mpsc;

use crate::channel::DataChannel;
use crate::error::TransportError;
use crate::track::RtpReceiver;
#[cfg(doc)]
use crate::PeerConnection;

/// Events queued for the application in the channel (more wait inside the driver, see
/// [`PeerEvents`]).
pub(crate) const EVENT_QUEUE: usize = 256;

/// What a peer connection tells the application.
#[derive(Debug)]
#[non_exhaustive]
pub enum PeerEvent {
    /// An event of the session (states, ICE generations, data channel open/close, closed).
    Session(Event),
    /// The peer opened a data channel (W3C `datachannel`).
    DataChannel(DataChannel),
    /// The transport failed below the session (fingerprint mismatch, DTLS, SCTP, ...).
    TransportError(TransportError),
    /// The application read events too slowly: this many were dropped (see [`PeerEvents`]).
    Lagged {
        /// Events dropped.
        dropped: u64,
    },
    /// The remote started sending on a transceiver (W3C `track`): its receiver, delivered once
    /// the offer/answer exchange completed; its queue already holds what arrived meanwhile.
    Track(RtpReceiver),
    /// Manual negotiation ([`PeerConnection::new_manual`]): a local ICE candidate (W3C
    /// `icecandidate`) to send to the peer, which gives it to its
    /// [`add_ice_candidate`](PeerConnection::add_ice_candidate). Candidates of an ICE restart
    /// carry the new generation's `username_fragment`.
    LocalCandidate(IceCandidateInit),
    /// Manual negotiation: this ICE generation gathered all its candidates (W3C
    /// `icecandidate` with a null candidate). The peer learns it by an
    /// [`add_ice_candidate`](PeerConnection::add_ice_candidate) with an empty `candidate` and
    /// these fields.
    LocalEndOfCandidates {
        /// The generation's ufrag.
        username_fragment: Option<String>,
        /// The m-section, when not bundled.
        sdp_mid: Option<String>,
    },
}

/// The stream of a peer connection's events.
///
/// Overflow policy: up to 256 events wait in the channel and up to 4096 more inside the
/// driver, which never blocks on the application; beyond that, new events are dropped and
/// a [`PeerEvent::Lagged`] with their count is delivered once there is room again. Data channel
/// messages do not go through this stream (see [`DataChannel::recv`]).
#[derive(Debug)]
pub struct PeerEvents {
    pub(crate) rx: mpsc::Receiver<PeerEvent>,
}

impl PeerEvents {
    /// The next event; `None` once the peer connection has stopped and every event was read.
    pub async fn recv(&mut self) -> Option<PeerEvent> {
        self.rx.recv().await
    }
}

/// What a signal message the session emits in manual mode becomes for the application:
/// candidates and end-of-candidates are events; `bye` and descriptions are not (the
/// application sends the descriptions it created itself, and learns of a close by its own
/// signaling).
pub(crate) fn local_signal_event(msg: SignalMessage) -> Option<PeerEvent> {
    match msg {
        SignalMessage::Candidate { candidate } => Some(PeerEvent::LocalCandidate(candidate)),
        SignalMessage::EndOfCandidates {
            username_fragment,
            sdp_mid,
        } => Some(PeerEvent::LocalEndOfCandidates {
            username_fragment,
            sdp_mid,
        }),
        _ => None,
    }
}
