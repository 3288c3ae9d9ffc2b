//! A [`Signaling`] wrapper that writes what a peer connection signals to the timeline.
//!
//! With perfect negotiation the peer connection sends its descriptions and trickled
//! candidates through its signaling channel by itself; this tap sees each message on its way
//! (in both directions), notes the candidate-gathering steps in the timeline and passes the
//! message on unchanged.

use std::sync::Arc;

use async_trait::async_trait;
use session_core::candidate::Candidate;
use session_core::signal::{IceCandidateInit, SignalMessage};
use transport_tokio::{Signaling, SignalingError};

use crate::timeline::Timeline;

/// `inner`, with every candidate, end-of-candidates and description it carries noted in the
/// timeline under `who`.
#[derive(Debug)]
pub(crate) struct SignalTap<S> {
    inner: S,
    who: &'static str,
    timeline: Arc<Timeline>,
}

impl<S> SignalTap<S> {
    pub(crate) fn new(inner: S, who: &'static str, timeline: Arc<Timeline>) -> Self {
        Self {
            inner,
            who,
            timeline,
        }
    }
}

/// `host udp 127.0.0.1:50123 (ufrag abcd)`; the raw line when it does not parse.
fn candidate_text(c: &IceCandidateInit) -> String {
    let ufrag = c
        .username_fragment
        .as_deref()
        .map(|u| format!(" (ufrag {u})"))
        .unwrap_or_default();
    match c.candidate.parse::<Candidate>() {
        Ok(p) => format!(
            "{} {} {}:{}{ufrag}",
            p.typ.as_str(),
            p.protocol.as_str(),
            p.address,
            p.port
        ),
        Err(_) => format!("{:?}{ufrag}", c.candidate),
    }
}

/// The timeline line of a signal message; `sent` tells the direction.
pub(crate) fn describe_signal(msg: &SignalMessage, sent: bool) -> Option<String> {
    let (side, verb) = if sent {
        ("local", "sent")
    } else {
        ("remote", "received")
    };
    Some(match msg {
        SignalMessage::Candidate { candidate } if candidate.candidate.is_empty() => {
            format!("{side} candidates complete")
        }
        SignalMessage::Candidate { candidate } => {
            format!("{side} candidate {}", candidate_text(candidate))
        }
        SignalMessage::EndOfCandidates {
            username_fragment, ..
        } => match username_fragment {
            Some(u) => format!("{side} candidates complete (ufrag {u})"),
            None => format!("{side} candidates complete"),
        },
        SignalMessage::Description { description } => {
            format!(
                "{verb} {:?} ({} bytes of SDP)",
                description.kind,
                description.sdp.len()
            )
        }
        SignalMessage::Bye { .. } => format!("{verb} bye"),
        _ => return None,
    })
}

#[async_trait]
impl<S: Signaling> Signaling for SignalTap<S> {
    async fn send(&mut self, msg: SignalMessage) -> Result<(), SignalingError> {
        let line = describe_signal(&msg, true);
        self.inner.send(msg).await?;
        if let Some(line) = line {
            self.timeline.note(self.who, line);
        }
        Ok(())
    }

    async fn recv(&mut self) -> Result<Option<SignalMessage>, SignalingError> {
        let msg = self.inner.recv().await?;
        if let Some(line) = msg.as_ref().and_then(|m| describe_signal(m, false)) {
            self.timeline.note(self.who, line);
        }
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_read_as_type_protocol_and_address() {
        let msg = SignalMessage::Candidate {
            candidate: IceCandidateInit {
                candidate: "candidate:1 1 udp 2130706431 127.0.0.1 50123 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
                username_fragment: Some("abcd".into()),
            },
        };
        assert_eq!(
            describe_signal(&msg, true).as_deref(),
            Some("local candidate host udp 127.0.0.1:50123 (ufrag abcd)")
        );
        let end = SignalMessage::EndOfCandidates {
            username_fragment: Some("abcd".into()),
            sdp_mid: None,
        };
        assert_eq!(
            describe_signal(&end, false).as_deref(),
            Some("remote candidates complete (ufrag abcd)")
        );
    }
}
