//! The signal messages peers exchange through any signaling channel, as JSON.
//!
//! A [`SignalMessage`] is what one peer's session emits and the other peer's session consumes;
//! the signaling channel in between (WebSocket server, HTTP, copy and paste) carries it as an
//! opaque string. The shapes follow the W3C dictionaries a browser already uses
//! (`RTCSessionDescriptionInit`, `RTCIceCandidateInit`), so a browser peer can pass the inner
//! objects straight to `setRemoteDescription` and `addIceCandidate`. See
//! `docs/signal-message.md` for the format as a user sees it.
//!
//! Forward compatibility: unknown fields are ignored, optional fields may be absent or `null`;
//! an unknown `type` is an error.

use serde::{Deserialize, Serialize};

use crate::signaling::SdpType;

/// A session description (W3C `RTCSessionDescriptionInit`).
///
/// JSON: `{"type":"offer","sdp":"v=0\r\n..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDescription {
    /// `offer`, `pranswer`, `answer` or `rollback`.
    #[serde(rename = "type")]
    pub kind: SdpType,
    /// The SDP text (empty for a rollback).
    #[serde(default)]
    pub sdp: String,
}

/// A trickled ICE candidate (W3C `RTCIceCandidateInit`).
///
/// JSON: `{"candidate":"candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host","sdpMid":"0",
/// "sdpMLineIndex":0,"usernameFragment":"abcd"}`. An empty `candidate` means the end of
/// candidates for that `usernameFragment` (and `sdpMid`), as in the W3C API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct IceCandidateInit {
    /// The `a=candidate` attribute value as a browser gives it
    /// (`candidate:<foundation> <component> <transport> ...`); empty for end-of-candidates.
    pub candidate: String,
    /// The `a=mid` of the m-section the candidate belongs to.
    #[serde(rename = "sdpMid", skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    /// The index of that m-section in the SDP.
    #[serde(rename = "sdpMLineIndex", skip_serializing_if = "Option::is_none")]
    pub sdp_m_line_index: Option<u16>,
    /// The ICE ufrag of the generation that gathered the candidate.
    #[serde(rename = "usernameFragment", skip_serializing_if = "Option::is_none")]
    pub username_fragment: Option<String>,
}

/// One message between two peers, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SignalMessage {
    /// An offer, answer, provisional answer or rollback: `{"type":"description",
    /// "description":{"type":"offer","sdp":"..."}}`.
    Description {
        /// The description.
        description: SessionDescription,
    },
    /// A trickled candidate: `{"type":"candidate","candidate":{...}}`.
    Candidate {
        /// The candidate.
        candidate: IceCandidateInit,
    },
    /// No more candidates will come for this ICE generation (and m-section, if given):
    /// `{"type":"end-of-candidates","usernameFragment":"abcd","sdpMid":"0"}`.
    EndOfCandidates {
        /// The ufrag of the generation whose gathering is complete; absent: the current one.
        #[serde(
            rename = "usernameFragment",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        username_fragment: Option<String>,
        /// The m-section whose gathering is complete; absent: all of them.
        #[serde(rename = "sdpMid", default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
    },
    /// The sender hung up; the session ends: `{"type":"bye","reason":"..."}`.
    Bye {
        /// Free text for logs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// Largest signal message accepted, in bytes of JSON text (512 KiB).
pub const MAX_SIGNAL_LEN: usize = 512 * 1024;

/// Longest error text kept from the JSON parser, in characters.
const MAX_ERROR_CHARS: usize = 200;

/// Why a signal message could not be read.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalParseError {
    /// The text is longer than [`MAX_SIGNAL_LEN`] (the length given).
    #[error("signal message of {0} bytes exceeds the limit of {MAX_SIGNAL_LEN}")]
    TooLarge(usize),
    /// Not valid JSON, or not a known message (the parser's message, at most 200 characters).
    #[error("invalid signal message: {0}")]
    Json(String),
}

impl SignalMessage {
    /// The message as compact JSON. Absent optional fields are left out.
    pub fn to_json(&self) -> String {
        // Only strings, integers and string-keyed maps: serialization cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a message from JSON text. Unknown fields are ignored; an unknown `type`, a
    /// missing required field or text longer than [`MAX_SIGNAL_LEN`] is an error.
    pub fn from_json(text: &str) -> Result<Self, SignalParseError> {
        if text.len() > MAX_SIGNAL_LEN {
            return Err(SignalParseError::TooLarge(text.len()));
        }
        serde_json::from_str(text).map_err(|e| {
            SignalParseError::Json(e.to_string().chars().take(MAX_ERROR_CHARS).collect())
        })
    }
}

/// Fuzz entry point: parses `data` (as lossy UTF-8) and, when it parses, checks that the
/// message survives a round trip through [`SignalMessage::to_json`].
#[cfg(feature = "fuzzing")]
pub fn fuzz_signal(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(msg) = SignalMessage::from_json(&text) {
        let json = msg.to_json();
        // Defaults filled in by parsing may make the text slightly longer than the limit, so
        // the round trip bypasses the size check.
        let again: SignalMessage =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("round trip of {json}: {e}"));
        assert_eq!(again, msg, "round trip of {json}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(msg: &SignalMessage, json: &str) {
        assert_eq!(msg.to_json(), json);
        assert_eq!(&SignalMessage::from_json(json).unwrap(), msg);
    }

    #[test]
    fn description_shape() {
        let msg = SignalMessage::Description {
            description: SessionDescription {
                kind: SdpType::Offer,
                sdp: "v=0...".into(),
            },
        };
        round_trip(
            &msg,
            r#"{"type":"description","description":{"type":"offer","sdp":"v=0..."}}"#,
        );
        for (kind, name) in [
            (SdpType::Offer, "offer"),
            (SdpType::Pranswer, "pranswer"),
            (SdpType::Answer, "answer"),
            (SdpType::Rollback, "rollback"),
        ] {
            let msg = SignalMessage::Description {
                description: SessionDescription {
                    kind,
                    sdp: String::new(),
                },
            };
            round_trip(
                &msg,
                &format!(r#"{{"type":"description","description":{{"type":"{name}","sdp":""}}}}"#),
            );
        }
    }

    #[test]
    fn rollback_without_sdp() {
        let msg =
            SignalMessage::from_json(r#"{"type":"description","description":{"type":"rollback"}}"#)
                .unwrap();
        assert_eq!(
            msg,
            SignalMessage::Description {
                description: SessionDescription {
                    kind: SdpType::Rollback,
                    sdp: String::new()
                }
            }
        );
    }

    #[test]
    fn candidate_shape() {
        let msg = SignalMessage::Candidate {
            candidate: IceCandidateInit {
                candidate: "candidate:1 1 udp 1 1.2.3.4 5 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
                username_fragment: Some("abcd".into()),
            },
        };
        round_trip(
            &msg,
            r#"{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}}"#,
        );
        let bare = SignalMessage::Candidate {
            candidate: IceCandidateInit {
                candidate: "candidate:x".into(),
                ..IceCandidateInit::default()
            },
        };
        round_trip(
            &bare,
            r#"{"type":"candidate","candidate":{"candidate":"candidate:x"}}"#,
        );
    }

    #[test]
    fn end_of_candidates_shape() {
        let msg = SignalMessage::EndOfCandidates {
            username_fragment: Some("abcd".into()),
            sdp_mid: Some("0".into()),
        };
        round_trip(
            &msg,
            r#"{"type":"end-of-candidates","usernameFragment":"abcd","sdpMid":"0"}"#,
        );
        let msg = SignalMessage::EndOfCandidates {
            username_fragment: None,
            sdp_mid: None,
        };
        round_trip(&msg, r#"{"type":"end-of-candidates"}"#);
    }

    #[test]
    fn bye_shape() {
        round_trip(
            &SignalMessage::Bye {
                reason: Some("done".into()),
            },
            r#"{"type":"bye","reason":"done"}"#,
        );
        round_trip(&SignalMessage::Bye { reason: None }, r#"{"type":"bye"}"#);
    }

    #[test]
    fn null_optionals_are_accepted() {
        let msg = SignalMessage::from_json(
            r#"{"type":"candidate","candidate":{"candidate":"","sdpMid":null,"sdpMLineIndex":null,"usernameFragment":null}}"#,
        )
        .unwrap();
        assert_eq!(
            msg,
            SignalMessage::Candidate {
                candidate: IceCandidateInit::default()
            }
        );
        assert_eq!(
            SignalMessage::from_json(r#"{"type":"bye","reason":null}"#).unwrap(),
            SignalMessage::Bye { reason: None }
        );
        assert_eq!(
            SignalMessage::from_json(
                r#"{"type":"end-of-candidates","usernameFragment":null,"sdpMid":null}"#
            )
            .unwrap(),
            SignalMessage::EndOfCandidates {
                username_fragment: None,
                sdp_mid: None
            }
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let msg = SignalMessage::from_json(
            r#"{"type":"bye","reason":"x","from":"peer-7","v":2,"extra":{"nested":[1,2]}}"#,
        )
        .unwrap();
        assert_eq!(
            msg,
            SignalMessage::Bye {
                reason: Some("x".into())
            }
        );
        let msg = SignalMessage::from_json(
            r#"{"seq":4,"type":"candidate","candidate":{"candidate":"c","relayProtocol":"udp"}}"#,
        )
        .unwrap();
        assert!(matches!(msg, SignalMessage::Candidate { .. }));
    }

    #[test]
    fn errors() {
        for bad in [
            "",
            "null",
            "[]",
            "{}",
            "not json",
            r#"{"type":"hello"}"#,
            r#"{"type":"Bye"}"#,
            r#"{"type":"description"}"#,
            r#"{"type":"description","description":{"type":"unknown","sdp":""}}"#,
            r#"{"type":"description","description":{"sdp":""}}"#,
            r#"{"type":"candidate"}"#,
            r#"{"type":"candidate","candidate":{"sdpMLineIndex":70000}}"#,
            r#"{"type":"candidate","candidate":{"sdpMLineIndex":-1}}"#,
            r#"{"type":"bye","reason":5}"#,
            r#"{"type":"bye""#,
            "\u{0}",
        ] {
            match SignalMessage::from_json(bad) {
                Err(SignalParseError::Json(m)) => assert!(m.chars().count() <= 200, "{m}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn too_large() {
        let sdp = "a".repeat(MAX_SIGNAL_LEN);
        let text =
            format!(r#"{{"type":"description","description":{{"type":"offer","sdp":"{sdp}"}}}}"#);
        assert_eq!(
            SignalMessage::from_json(&text),
            Err(SignalParseError::TooLarge(text.len()))
        );
        // Just under the limit is fine.
        let overhead = text.len() - sdp.len();
        let sdp = "a".repeat(MAX_SIGNAL_LEN - overhead);
        let text =
            format!(r#"{{"type":"description","description":{{"type":"offer","sdp":"{sdp}"}}}}"#);
        assert_eq!(text.len(), MAX_SIGNAL_LEN);
        assert!(SignalMessage::from_json(&text).is_ok());
    }

    #[test]
    fn deeply_nested_is_an_error() {
        let depth = 100_000;
        let text = format!(
            r#"{{"type":"bye","extra":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        assert!(matches!(
            SignalMessage::from_json(&text),
            Err(SignalParseError::Json(_))
        ));
        let text = format!("{}{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        assert!(SignalMessage::from_json(&text).is_err());
    }

    #[test]
    fn long_error_messages_are_truncated() {
        let name = "x".repeat(1000);
        let err = SignalMessage::from_json(&format!(r#"{{"type":"{name}"}}"#)).unwrap_err();
        match err {
            SignalParseError::Json(m) => assert_eq!(m.chars().count(), 200),
            other => panic!("{other:?}"),
        }
    }

    fn opt_string() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(any::<String>())
    }

    fn message() -> impl Strategy<Value = SignalMessage> {
        let kind = prop_oneof![
            Just(SdpType::Offer),
            Just(SdpType::Pranswer),
            Just(SdpType::Answer),
            Just(SdpType::Rollback),
        ];
        prop_oneof![
            (kind, any::<String>()).prop_map(|(kind, sdp)| SignalMessage::Description {
                description: SessionDescription { kind, sdp }
            }),
            (
                any::<String>(),
                opt_string(),
                proptest::option::of(any::<u16>()),
                opt_string()
            )
                .prop_map(
                    |(candidate, sdp_mid, sdp_m_line_index, username_fragment)| {
                        SignalMessage::Candidate {
                            candidate: IceCandidateInit {
                                candidate,
                                sdp_mid,
                                sdp_m_line_index,
                                username_fragment,
                            },
                        }
                    }
                ),
            (opt_string(), opt_string()).prop_map(|(username_fragment, sdp_mid)| {
                SignalMessage::EndOfCandidates {
                    username_fragment,
                    sdp_mid,
                }
            }),
            opt_string().prop_map(|reason| SignalMessage::Bye { reason }),
        ]
    }

    proptest! {
        #[test]
        fn any_message_round_trips(msg in message()) {
            let json = msg.to_json();
            prop_assert_eq!(SignalMessage::from_json(&json), Ok(msg));
        }

        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            if let Ok(msg) = SignalMessage::from_json(&text) {
                prop_assert_eq!(SignalMessage::from_json(&msg.to_json()), Ok(msg));
            }
        }

        #[test]
        fn json_like_text_never_panics(text in r#"[{}\[\]":,0-9a-z\- ]{0,200}"#) {
            let prefixed = format!(r#"{{"type":"candidate","candidate":{text}"#);
            for t in [text.as_str(), prefixed.as_str()] {
                if let Ok(msg) = SignalMessage::from_json(t) {
                    prop_assert_eq!(SignalMessage::from_json(&msg.to_json()), Ok(msg));
                }
            }
        }
    }
}
