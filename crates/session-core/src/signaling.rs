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
    use SdpType::{Answer, Offer, Pranswer, Rollback};
    use Side::{Local, Remote};
    use SignalingState::{
        Closed, HaveLocalOffer, HaveLocalPranswer, HaveRemoteOffer, HaveRemotePranswer, Stable,
    };
    let next = match (state, side, kind) {
        // Nothing leaves `closed`.
        (Closed, _, _) => None,
        (Stable | HaveLocalOffer, Local, Offer) => Some(HaveLocalOffer),
        (HaveRemoteOffer | HaveLocalPranswer, Local, Answer) => Some(Stable),
        (HaveRemoteOffer | HaveLocalPranswer, Local, Pranswer) => Some(HaveLocalPranswer),
        (Stable | HaveRemoteOffer, Remote, Offer) => Some(HaveRemoteOffer),
        (HaveLocalOffer | HaveRemotePranswer, Remote, Answer) => Some(Stable),
        (HaveLocalOffer | HaveRemotePranswer, Remote, Pranswer) => Some(HaveRemotePranswer),
        // W3C: rollback in stable or a pranswer state is an InvalidStateError.
        (HaveLocalOffer | HaveRemoteOffer, _, Rollback) => Some(Stable),
        _ => None,
    };
    next.ok_or(InvalidTransition { state, side, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATES: [SignalingState; 6] = [
        SignalingState::Stable,
        SignalingState::HaveLocalOffer,
        SignalingState::HaveRemoteOffer,
        SignalingState::HaveLocalPranswer,
        SignalingState::HaveRemotePranswer,
        SignalingState::Closed,
    ];
    const SIDES: [Side; 2] = [Side::Local, Side::Remote];
    const KINDS: [SdpType; 4] = [
        SdpType::Offer,
        SdpType::Pranswer,
        SdpType::Answer,
        SdpType::Rollback,
    ];

    /// The valid transitions, written out one per line from the W3C/JSEP tables. Anything not
    /// listed must be rejected.
    fn expected(state: &str, side: &str, kind: &str) -> Option<&'static str> {
        const TABLE: &[(&str, &str, &str, &str)] = &[
            ("stable", "local", "offer", "have-local-offer"),
            ("have-local-offer", "local", "offer", "have-local-offer"),
            ("have-remote-offer", "local", "answer", "stable"),
            ("have-local-pranswer", "local", "answer", "stable"),
            (
                "have-remote-offer",
                "local",
                "pranswer",
                "have-local-pranswer",
            ),
            (
                "have-local-pranswer",
                "local",
                "pranswer",
                "have-local-pranswer",
            ),
            ("stable", "remote", "offer", "have-remote-offer"),
            ("have-remote-offer", "remote", "offer", "have-remote-offer"),
            ("have-local-offer", "remote", "answer", "stable"),
            ("have-remote-pranswer", "remote", "answer", "stable"),
            (
                "have-local-offer",
                "remote",
                "pranswer",
                "have-remote-pranswer",
            ),
            (
                "have-remote-pranswer",
                "remote",
                "pranswer",
                "have-remote-pranswer",
            ),
            ("have-local-offer", "local", "rollback", "stable"),
            ("have-local-offer", "remote", "rollback", "stable"),
            ("have-remote-offer", "local", "rollback", "stable"),
            ("have-remote-offer", "remote", "rollback", "stable"),
        ];
        TABLE
            .iter()
            .find(|(s, d, k, _)| *s == state && *d == side && *k == kind)
            .map(|(_, _, _, next)| *next)
    }

    fn state_name(s: SignalingState) -> &'static str {
        match s {
            SignalingState::Stable => "stable",
            SignalingState::HaveLocalOffer => "have-local-offer",
            SignalingState::HaveRemoteOffer => "have-remote-offer",
            SignalingState::HaveLocalPranswer => "have-local-pranswer",
            SignalingState::HaveRemotePranswer => "have-remote-pranswer",
            SignalingState::Closed => "closed",
        }
    }

    fn side_name(s: Side) -> &'static str {
        match s {
            Side::Local => "local",
            Side::Remote => "remote",
        }
    }

    fn kind_name(k: SdpType) -> &'static str {
        match k {
            SdpType::Offer => "offer",
            SdpType::Pranswer => "pranswer",
            SdpType::Answer => "answer",
            SdpType::Rollback => "rollback",
        }
    }

    #[test]
    fn exhaustive_against_table() {
        let mut valid = 0;
        for state in STATES {
            for side in SIDES {
                for kind in KINDS {
                    let got = transition(state, side, kind);
                    match expected(state_name(state), side_name(side), kind_name(kind)) {
                        Some(next) => {
                            valid += 1;
                            let got = got.unwrap_or_else(|e| panic!("{e}"));
                            assert_eq!(state_name(got), next, "{state:?} {side:?} {kind:?}");
                        }
                        None => {
                            assert_eq!(
                                got,
                                Err(InvalidTransition { state, side, kind }),
                                "{state:?} {side:?} {kind:?} must be rejected"
                            );
                        }
                    }
                }
            }
        }
        assert_eq!(valid, 16);
    }

    #[test]
    fn closed_rejects_everything() {
        for side in SIDES {
            for kind in KINDS {
                assert!(transition(SignalingState::Closed, side, kind).is_err());
            }
        }
    }

    #[test]
    fn rollback_in_stable_and_pranswer_states_is_invalid() {
        for state in [
            SignalingState::Stable,
            SignalingState::HaveLocalPranswer,
            SignalingState::HaveRemotePranswer,
        ] {
            for side in SIDES {
                assert!(transition(state, side, SdpType::Rollback).is_err());
            }
        }
    }

    #[test]
    fn error_message_names_the_transition() {
        let err = transition(SignalingState::Stable, Side::Local, SdpType::Answer).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot apply a Local Answer in signaling state Stable"
        );
    }
}
