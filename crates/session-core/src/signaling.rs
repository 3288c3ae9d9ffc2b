//! The JSEP signaling state machine (W3C `RTCSignalingState`), as a pure transition function.

use serde::{Deserialize, Serialize};

/// W3C `RTCSignalingState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SignalingState {
    /// No offer/answer exchange in progress.
    #[default]
    Stable,
    /// A local offer was applied.
    HaveLocalOffer,
    /// A remote offer was applied.
    HaveRemoteOffer,
    /// A remote offer and a local provisional answer were applied.
    HaveLocalPranswer,
    /// A local offer and a remote provisional answer were applied.
    HaveRemotePranswer,
    /// The session is closed.
    Closed,
}

/// W3C `RTCSdpType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SdpType {
    /// An offer.
    Offer,
    /// A provisional answer.
    Pranswer,
    /// A final answer.
    Answer,
    /// Cancels the current offer.
    Rollback,
}

/// Which side a description was applied for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Side {
    /// `setLocalDescription`.
    Local,
    /// `setRemoteDescription`.
    Remote,
}

/// A description of type `kind` cannot be applied on `side` in `state`
/// (W3C `InvalidStateError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot apply a {side:?} {kind:?} in signaling state {state:?}")]
pub struct InvalidTransition {
    /// The state the session was in.
    pub state: SignalingState,
    /// Local or remote.
    pub side: Side,
    /// The description type.
    pub kind: SdpType,
}

/// The JSEP transition table: the state after applying a `kind` description on `side` in
/// `state`.
pub fn transition(
    state: SignalingState,
    side: Side,
    kind: SdpType,
) -> Result<SignalingState, InvalidTransition> {
    let _ = (state, side, kind);
    Err(InvalidTransition { state, side, kind }) // HELPER: implement
}
