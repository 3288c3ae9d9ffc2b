//! [`WsSignaling`]: the transport's [`Signaling`] trait over a [`SignalingClient`].
//!
//! `signaling-ws` relays opaque JSON and knows nothing of the transport (DESIGN.md); this is
//! the adapter between the two. A peer joins a room; its signal messages
//! ([`SignalMessage::to_json`]) go as the relayed `data` to *the other peer*: the first other
//! peer in the roster when it joined, or, if it was alone, the first one that joins (or that
//! signals it first). Messages sent while alone wait in order until that peer appears.
//!
//! Roles: perfect negotiation needs exactly one polite peer. [`polite_by_ids`] is the rule
//! both ends can compute from the server-assigned peer ids, once each knows the other
//! ([`WsSignaling::wait_for_remote`]); the browser page (`tether-peer.js`) uses the same rule,
//! so a browser tab and `tether peer` agree without being told.
//!
//! Reconnecting and resuming after a network drop is the client's job; this layer only maps
//! what the client reports:
//! - the other peer leaves the room (`bye` or an expired grace window): a
//!   [`SignalMessage::Bye`] is delivered, so the session ends as if it had hung up;
//! - the client could only rejoin under a new peer id (the server restarted without a shared
//!   backend, or the resume grace ran out): the peer connection stays up (media and data do
//!   not need signaling), and the glue pairs again with the other peer of the room as it
//!   rejoins (or is there already), by the same rule as at first; what is sent meanwhile
//!   waits, so an exchange that was in flight completes;
//! - the client gave up reconnecting: an error, and the peer connection goes on without
//!   signaling (it cannot renegotiate any more);
//! - an unreadable message from the other peer is logged and skipped (an error would end
//!   signaling for good).

use std::collections::VecDeque;

use async_trait::async_trait;
use session_core::signal::SignalMessage;
use signaling_ws::{
    ClientConfig, ClientError, ClientEvent, PeerId, RawValue, Reconnector, SignalingClient,
};
use transport_tokio::{Signaling, SignalingError};

/// A [`Signaling`] channel to the other peer of a room, through a [`SignalingClient`].
#[derive(Debug)]
pub struct WsSignaling {
    client: SignalingClient,
    /// The peer we talk to, once known.
    remote: Option<PeerId>,
    /// JSON of messages sent before the other peer was known, oldest first.
    outbox: VecDeque<String>,
    /// Messages received by [`wait_for_remote`](Self::wait_for_remote), not yet read.
    inbox: VecDeque<SignalMessage>,
}

/// The role rule of Tether's peers: the peer whose id sorts first (byte-wise, as JavaScript's
/// `<` compares these ASCII ids) is polite. Both peers compute it from the same two ids, so
/// exactly one of them is polite.
pub fn polite_by_ids(local: &PeerId, remote: &PeerId) -> bool {
    local.as_str() < remote.as_str()
}

impl WsSignaling {
    /// Wraps a joined client.
    pub fn new(client: SignalingClient) -> Self {
        let mut glue = Self {
            client,
            remote: None,
            outbox: VecDeque::new(),
            inbox: VecDeque::new(),
        };
        glue.adopt_from_roster();
        glue
    }

    /// Connects to `url` (e.g. `ws://127.0.0.1:8080/ws`) and joins `room`, with a signed room
    /// token when the server requires one.
    pub async fn connect(url: &str, room: &str, token: Option<&str>) -> Result<Self, ClientError> {
        let mut config = ClientConfig::new(url, room);
        if let Some(token) = token {
            config = config.with_token(token);
        }
        Ok(Self::new(SignalingClient::connect(config).await?))
    }

    /// Our peer id in the room.
    pub fn peer_id(&self) -> PeerId {
        self.client.peer_id()
    }

    /// The other peer, once known.
    pub fn remote(&self) -> Option<&PeerId> {
        self.remote.as_ref()
    }

    /// A handle that makes the signaling client drop its connection and resume (as after a
    /// network drop), usable after this adapter was handed to a peer connection; it does not
    /// keep the client alive.
    pub fn reconnector(&self) -> Reconnector {
        self.client.reconnector()
    }

    /// How many other peers the room had, as the client knows it.
    pub fn room_size(&self) -> usize {
        self.client.peers().len()
    }

    /// Waits until the other peer is known (it was in the room, joins, or signals us) and
    /// returns it. Signal messages that arrive meanwhile are kept for [`Signaling::recv`].
    ///
    /// Fails when the signaling connection ends first.
    pub async fn wait_for_remote(&mut self) -> Result<PeerId, SignalingError> {
        loop {
            if let Some(remote) = &self.remote {
                return Ok(remote.clone());
            }
            // One client event at a time: a `peer-joined` ends the wait as well as a signal.
            match self.next_step().await? {
                Step::Signal(msg) => self.inbox.push_back(msg),
                Step::Other => {}
                Step::End => return Err(SignalingError::Closed),
            }
        }
    }

    fn adopt_from_roster(&mut self) {
        if self.remote.is_none() {
            if let Some(first) = self.client.peers().into_iter().next() {
                tracing::debug!(remote = %first.id, "talking to the first peer of the room");
                self.remote = Some(first.id);
            }
        }
    }

    /// Sends what waited for the other peer. Cancel-safe: a message leaves the outbox only
    /// once the client has taken it (a cancelled `send` of a bounded tokio channel sends
    /// nothing).
    async fn flush(&mut self) -> Result<(), SignalingError> {
        let Some(remote) = self.remote.clone() else {
            return Ok(());
        };
        while let Some(json) = self.outbox.front() {
            let raw = raw(json.clone())?;
            self.client.send(&remote, raw).await.map_err(client_error)?;
            self.outbox.pop_front();
        }
        Ok(())
    }
}

fn raw(json: String) -> Result<Box<RawValue>, SignalingError> {
    RawValue::from_string(json).map_err(|e| SignalingError::Other(e.to_string()))
}

fn client_error(e: ClientError) -> SignalingError {
    match e {
        ClientError::Closed => SignalingError::Closed,
        e => SignalingError::Other(e.to_string()),
    }
}

#[async_trait]
impl Signaling for WsSignaling {
    async fn send(&mut self, msg: SignalMessage) -> Result<(), SignalingError> {
        self.adopt_from_roster();
        self.outbox.push_back(msg.to_json());
        self.flush().await
    }

    /// Cancel-safe: the client's event queue is a tokio channel (its `recv` is cancel-safe),
    /// every event is handled without waiting once taken, and `flush` is
    /// cancel-safe.
    async fn recv(&mut self) -> Result<Option<SignalMessage>, SignalingError> {
        if let Some(msg) = self.inbox.pop_front() {
            return Ok(Some(msg));
        }
        self.next_signal().await
    }

    /// Sends what still waits for the other peer, then leaves the room: the server has the
    /// `bye` (the other peer sees it leave at once, not after the resume grace) before this
    /// returns.
    async fn close(&mut self) -> Result<(), SignalingError> {
        let flushed = self.flush().await;
        self.client.leave().await;
        flushed
    }
}

impl WsSignaling {
    /// The next signal message from the other peer, handling every client event on the way.
    async fn next_signal(&mut self) -> Result<Option<SignalMessage>, SignalingError> {
        loop {
            match self.next_step().await? {
                Step::Signal(msg) => return Ok(Some(msg)),
                Step::Other => {}
                Step::End => return Ok(None),
            }
        }
    }

    /// Flushes the outbox, then takes and handles one client event.
    async fn next_step(&mut self) -> Result<Step, SignalingError> {
        self.flush().await?;
        let Some(event) = self.client.recv().await else {
            return Ok(Step::End);
        };
        match event {
            ClientEvent::Signal { from, data } => {
                match &self.remote {
                    None => {
                        tracing::debug!(remote = %from, "the first peer to signal us");
                        self.remote = Some(from);
                    }
                    Some(remote) if *remote != from => {
                        tracing::debug!(%from, "ignoring a signal from a third peer");
                        return Ok(Step::Other);
                    }
                    Some(_) => {}
                }
                match SignalMessage::from_json(data.get()) {
                    Ok(msg) => return Ok(Step::Signal(msg)),
                    Err(e) => {
                        tracing::warn!(error = %e, "skipping an unreadable signal message");
                    }
                }
            }
            ClientEvent::PeerJoined(peer) if self.remote.is_none() => {
                tracing::debug!(remote = %peer, "the other peer joined");
                self.remote = Some(peer);
            }
            ClientEvent::PeerLeft(peer) if self.remote.as_ref() == Some(&peer) => {
                tracing::info!(remote = %peer, "the other peer left the room");
                self.remote = None;
                self.outbox.clear();
                return Ok(Step::Signal(SignalMessage::Bye {
                    reason: Some("the peer left the signaling room".into()),
                }));
            }
            ClientEvent::PeerSuspended(peer) => {
                tracing::info!(%peer, "peer's signaling connection dropped; it may resume");
            }
            ClientEvent::PeerResumed(peer) => tracing::info!(%peer, "peer resumed"),
            ClientEvent::Reconnecting => {
                tracing::info!("signaling connection lost; reconnecting")
            }
            ClientEvent::Resumed { replayed, .. } => {
                tracing::info!(replayed, "signaling resumed");
            }
            ClientEvent::Rejoined { peer_id, peers } => {
                // The server lost our signaling session (it restarted, or the resume grace
                // ran out). The peer connection does not need signaling to stay up: pair
                // again with the other peer of the room, which rejoins too (or is there).
                tracing::warn!(
                    new_id = %peer_id,
                    others = peers.len(),
                    "signaling could not resume and rejoined the room; the call goes on, and \
                     signaling pairs again with the other peer when it is back"
                );
                self.remote = None;
                self.adopt_from_roster();
            }
            ClientEvent::Error { code, message } => {
                tracing::warn!(%code, %message, "signaling server error");
            }
            ClientEvent::NotDelivered { messages } => {
                // Followed by `Rejoined` or `Closed`, which end the session.
                tracing::warn!(
                    count = messages.len(),
                    "signaling messages may not have reached the other peer"
                );
            }
            ClientEvent::Closed { reason } => return Err(SignalingError::Other(reason)),
            _ => {}
        }
        Ok(Step::Other)
    }
}

/// What one client event meant to [`WsSignaling`].
#[derive(Debug)]
enum Step {
    /// A signal message from the other peer (or the `bye` its leaving stands for).
    Signal(SignalMessage),
    /// Anything else, handled.
    Other,
    /// The client's event stream ended.
    End,
}
