//! Manual negotiation (W3C JSEP calls): [`PeerConnection::new_manual`] and the
//! `create_offer` / `set_local_description` / `add_ice_candidate` / ... methods, for
//! applications that carry descriptions and candidates over their own signaling.
//!
//! The calls go through the driver's command queue like every other; the driver runs without
//! a [`Signaling`](crate::Signaling) and turns the session's outgoing candidate messages into
//! [`PeerEvent::LocalCandidate`](crate::PeerEvent::LocalCandidate) and
//! [`PeerEvent::LocalEndOfCandidates`](crate::PeerEvent::LocalEndOfCandidates).

use async_trait::async_trait;
use session_core::session::{CandidateOutcome, OfferOptions};
use session_core::signal::{IceCandidateInit, SessionDescription, SignalMessage};
use session_core::signaling::SignalingState;
use tokio::sync::oneshot;

use crate::command::{Command, Jsep};
use crate::error::{PeerConnectionError, SetupError};
use crate::event::PeerEvents;
use crate::peer::{PeerConfig, PeerConnection};
use crate::signaling::{Signaling, SignalingError};

/// The driver's signaling in manual mode: none. The driver never polls or sends on it (its
/// signaling is closed from the start).
pub(crate) struct NoSignaling;

#[async_trait]
impl Signaling for NoSignaling {
    async fn send(&mut self, _msg: SignalMessage) -> Result<(), SignalingError> {
        Err(SignalingError::Closed)
    }

    async fn recv(&mut self) -> Result<Option<SignalMessage>, SignalingError> {
        Ok(None)
    }
}

impl PeerConnection {
    /// Creates a peer connection whose application negotiates by hand (W3C JSEP calls) over
    /// its own signaling: [`create_offer`](Self::create_offer),
    /// [`set_local_description`](Self::set_local_description), ... Local candidates arrive as
    /// [`PeerEvent::LocalCandidate`](crate::PeerEvent::LocalCandidate) (then [`PeerEvent::LocalEndOfCandidates`](crate::PeerEvent::LocalEndOfCandidates)) for the
    /// application to send; the peer's go to [`add_ice_candidate`](Self::add_ice_candidate).
    /// `Event::NegotiationNeeded` (in [`PeerEvent::Session`](crate::PeerEvent::Session)) says when to create an offer
    /// (after the first data channel or track, [`restart_ice`](Self::restart_ice),
    /// [`restart_ice_transport`](Self::restart_ice_transport), `set_configuration`).
    /// [`PeerConfig::polite`] is ignored (there is no glare resolution: the application rolls
    /// back itself). Must be called within a tokio runtime.
    ///
    /// [`PeerEvent::LocalCandidate`]: crate::PeerEvent::LocalCandidate
    /// [`PeerEvent::LocalEndOfCandidates`]: crate::PeerEvent::LocalEndOfCandidates
    /// [`PeerEvent::Session`]: crate::PeerEvent::Session
    ///
    /// ```no_run
    /// use session_core::session::OfferOptions;
    /// use transport_tokio::{PeerConfig, PeerConnection, PeerEvent};
    ///
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let (a, mut a_events) = PeerConnection::new_manual(PeerConfig::new(false))?;
    /// let (b, _b_events) = PeerConnection::new_manual(PeerConfig::new(false))?;
    /// let _chat = a.create_data_channel("chat", Default::default()).await?;
    /// let offer = a.create_offer(OfferOptions::default()).await?;
    /// a.set_local_description(offer.clone()).await?;
    /// b.set_remote_description(offer).await?; // normally over the application's signaling
    /// let answer = b.create_answer().await?;
    /// b.set_local_description(answer.clone()).await?;
    /// a.set_remote_description(answer).await?;
    /// while let Some(event) = a_events.recv().await {
    ///     if let PeerEvent::LocalCandidate(candidate) = event {
    ///         b.add_ice_candidate(candidate).await?; // and B's to A, the same way
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn new_manual(config: PeerConfig) -> Result<(Self, PeerEvents), SetupError> {
        Self::build(config, true, NoSignaling)
    }

    /// Queues a JSEP call; refused unless this peer connection negotiates by hand.
    async fn jsep<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Jsep,
        manual_only: bool,
    ) -> Result<T, PeerConnectionError> {
        if manual_only && !self.manual {
            return Err(PeerConnectionError::PerfectNegotiation);
        }
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Jsep(make(reply)))
            .await
            .map_err(|_| PeerConnectionError::Closed)?;
        rx.await.map_err(|_| PeerConnectionError::Closed)
    }

    /// Creates an offer (W3C `createOffer`); `ice_restart` gives every transport fresh ICE
    /// credentials (an ICE restart, make-before-break as with [`restart_ice`](Self::restart_ice)).
    /// Manual mode only ([`PeerConnectionError::PerfectNegotiation`] otherwise).
    pub async fn create_offer(
        &self,
        options: OfferOptions,
    ) -> Result<SessionDescription, PeerConnectionError> {
        Ok(self.jsep(|r| Jsep::CreateOffer(options, r), true).await??)
    }

    /// Creates an answer to the applied remote offer (W3C `createAnswer`); refused with the
    /// session's `InvalidState` in any other signaling state. Manual mode only.
    pub async fn create_answer(&self) -> Result<SessionDescription, PeerConnectionError> {
        Ok(self.jsep(Jsep::CreateAnswer, true).await??)
    }

    /// Applies a local description (W3C `setLocalDescription`): one this peer connection
    /// created (no munging), an empty `sdp` for "the one just created", or a rollback
    /// (`SdpType::Rollback`). A refused call changes nothing. Manual mode only.
    pub async fn set_local_description(
        &self,
        desc: SessionDescription,
    ) -> Result<(), PeerConnectionError> {
        Ok(self.jsep(|r| Jsep::SetLocal(desc, r), true).await??)
    }

    /// Applies the peer's description (W3C `setRemoteDescription`): offer, answer, provisional
    /// answer or rollback. A call not allowed in the signaling state (an answer while
    /// `stable`, ...) is refused with the session's `InvalidState` and changes nothing.
    /// Manual mode only.
    pub async fn set_remote_description(
        &self,
        desc: SessionDescription,
    ) -> Result<(), PeerConnectionError> {
        Ok(self.jsep(|r| Jsep::SetRemote(desc, r), true).await??)
    }

    /// Adds a peer's candidate (W3C `addIceCandidate`); an empty `candidate` string is the
    /// peer's end-of-candidates. Candidates that arrive before their description are kept
    /// until it is applied ([`CandidateOutcome::Queued`]); a malformed one is refused with the
    /// session's `Candidate` error. Manual mode only.
    pub async fn add_ice_candidate(
        &self,
        candidate: IceCandidateInit,
    ) -> Result<CandidateOutcome, PeerConnectionError> {
        Ok(self
            .jsep(|r| Jsep::AddCandidate(candidate, r), true)
            .await??)
    }

    /// The pending local description if any, else the current one (W3C `localDescription`).
    /// Works in both modes.
    pub async fn local_description(
        &self,
    ) -> Result<Option<SessionDescription>, PeerConnectionError> {
        self.jsep(Jsep::LocalDescription, false).await
    }

    /// The pending remote description if any, else the current one (W3C
    /// `remoteDescription`). Works in both modes.
    pub async fn remote_description(
        &self,
    ) -> Result<Option<SessionDescription>, PeerConnectionError> {
        self.jsep(Jsep::RemoteDescription, false).await
    }

    /// The signaling state (W3C `signalingState`). Works in both modes.
    pub async fn signaling_state(&self) -> Result<SignalingState, PeerConnectionError> {
        self.jsep(Jsep::SignalingState, false).await
    }

    /// Whether this peer connection negotiates by hand ([`new_manual`](Self::new_manual)).
    pub fn is_manual(&self) -> bool {
        self.manual
    }
}
