//! What the application's handles ask of the driver: [`Command`] (and the manual-negotiation
//! calls, [`Jsep`]). A leaf of the crate's message types: the handles send these, the driver
//! runs them.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use session_core::channel::{ChannelId, DataChannelInit};
use session_core::config::ConfigUpdate;
use session_core::error::SessionError;
use session_core::session::{CandidateOutcome, OfferOptions, Session};
use session_core::signal::{IceCandidateInit, SessionDescription};
use session_core::signaling::SignalingState;
use tokio::sync::oneshot;

use crate::channel::link::{ChannelParts, ChannelShared};
use crate::error::PeerConnectionError;
use crate::stats::Stats;
use crate::track::RtpSender;

/// What the application asks of the driver.
#[derive(Debug)]
pub(crate) enum Command {
    CreateDataChannel {
        label: String,
        init: DataChannelInit,
        reply: oneshot::Sender<Result<ChannelParts, SessionError>>,
    },
    CloseChannel(ChannelId),
    /// A message for an open channel (its bytes already counted in the buffered amount).
    Send {
        channel: Arc<ChannelShared>,
        data: Bytes,
        is_string: bool,
    },
    /// The application read from a channel whose queue was full: read its stream again.
    ResumeRead(Arc<ChannelShared>),
    RestartIce,
    /// A partial restart: the transport of one unbundled mid.
    RestartIceTransport {
        mid: String,
        reply: oneshot::Sender<Result<(), PeerConnectionError>>,
    },
    Stats(oneshot::Sender<Stats>),
    Close,
    AddTrack {
        kind: session_core::sdp::MediaKind,
        stream_id: String,
        track_id: String,
        reply: oneshot::Sender<Result<RtpSender, PeerConnectionError>>,
    },
    SetConfiguration {
        update: ConfigUpdate,
        reply: oneshot::Sender<Result<(), SessionError>>,
    },
    NetworkChanged,
    /// A manual-negotiation call (or a description/state getter).
    Jsep(Jsep),
}

/// A JSEP call queued to the driver, with its reply.
#[derive(Debug)]
pub(crate) enum Jsep {
    CreateOffer(
        OfferOptions,
        oneshot::Sender<Result<SessionDescription, SessionError>>,
    ),
    CreateAnswer(oneshot::Sender<Result<SessionDescription, SessionError>>),
    SetLocal(
        SessionDescription,
        oneshot::Sender<Result<(), SessionError>>,
    ),
    SetRemote(
        SessionDescription,
        oneshot::Sender<Result<(), SessionError>>,
    ),
    AddCandidate(
        IceCandidateInit,
        oneshot::Sender<Result<CandidateOutcome, SessionError>>,
    ),
    LocalDescription(oneshot::Sender<Option<SessionDescription>>),
    RemoteDescription(oneshot::Sender<Option<SessionDescription>>),
    SignalingState(oneshot::Sender<SignalingState>),
}

impl Jsep {
    /// Runs the call on the driver's session and replies (a dropped caller is ignored).
    pub(crate) fn run(self, session: &mut Session, now: Instant) {
        match self {
            Jsep::CreateOffer(options, reply) => {
                let _ = reply.send(session.create_offer(options, now));
            }
            Jsep::CreateAnswer(reply) => {
                let _ = reply.send(session.create_answer(now));
            }
            Jsep::SetLocal(desc, reply) => {
                let _ = reply.send(session.set_local_description(desc, now));
            }
            Jsep::SetRemote(desc, reply) => {
                let _ = reply.send(session.set_remote_description(desc, now));
            }
            Jsep::AddCandidate(candidate, reply) => {
                let _ = reply.send(session.add_ice_candidate(candidate, now));
            }
            Jsep::LocalDescription(reply) => {
                let _ = reply.send(session.local_description());
            }
            Jsep::RemoteDescription(reply) => {
                let _ = reply.send(session.remote_description());
            }
            Jsep::SignalingState(reply) => {
                let _ = reply.send(session.signaling_state());
            }
        }
    }
}
