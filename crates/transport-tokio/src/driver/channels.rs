//! The driver's data channels over the SCTP association: opening ours (DCEP or negotiated),
//! accepting the peer's, handing a negotiated channel the stream the peer already wrote on,
//! closing.
//!
//! A negotiated channel (`DataChannelInit::negotiated: Some(id)`) has no DCEP exchange: each side
//! opens SCTP stream `id` by itself. When the peer writes before the application here created
//! its side, the peer's data creates the stream in our association first: it arrives through
//! the accept queue, its first message is read (`incoming.rs`) and the stream is kept,
//! *unclaimed*, with that message; the rest waits in SCTP (flow control, nothing is dropped).
//! Creating the negotiated channel with that id claims it: the first message, then the rest,
//! reach the new handle. An unclaimed stream is reset after [`UNCLAIMED_WAIT`], or at once
//! beyond [`MAX_UNCLAIMED`], and reported ([`TransportError::UnclaimedStream`]): the peer's
//! channel closes and what it carried is dropped, never silently.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use session_core::channel::{ChannelId, DataChannelInit};
use session_core::transport::TransportEvent;
use tokio::sync::mpsc;
use webrtc_data::data_channel::{Config as RawConfig, DataChannel as RawChannel};
use webrtc_sctp::association::Association;
use webrtc_sctp::chunk::chunk_payload_data::PayloadProtocolIdentifier as Ppi;
use webrtc_sctp::stream::Stream;

use super::{AbortOnDrop, Driver, Io, RemotePending};
use crate::channel::{self, Link, Message};
use crate::error::{TransportError, UnclaimedReason};
use crate::incoming::{self, Incoming, IncomingError};
use crate::peer::{ChannelStats, PeerEvent};
use crate::signaling::Signaling;

/// Streams the peer wrote on that no negotiated channel here claimed yet; a new one beyond
/// that is reset at once.
pub(crate) const MAX_UNCLAIMED: usize = 16;
/// How long such a stream waits for the application to create the negotiated channel before
/// it is reset.
pub(crate) const UNCLAIMED_WAIT: Duration = Duration::from_secs(10);

/// A stream the peer wrote on before a negotiated channel here claimed it.
pub(super) struct Unclaimed {
    stream: Arc<Stream>,
    first: Message,
    /// Reports [`Io::UnclaimedExpired`] after [`UNCLAIMED_WAIT`]; claiming drops it.
    _expiry: AbortOnDrop,
}

/// A negotiated channel whose stream the peer's data created first: it waits for that stream's
/// first message to be read.
pub(super) struct Awaiting {
    channel: ChannelId,
    config: RawConfig,
}

/// The result of opening a stream for one of our channels.
pub(crate) enum Dialed {
    /// Open (a DCEP `DATA_CHANNEL_OPEN` was sent, or none for a negotiated channel).
    Open(Arc<RawChannel>),
    /// Negotiated, and the peer's data already created the stream here: it comes through the
    /// accept queue.
    Taken(RawConfig),
}

/// Opens stream `id` for one of our channels.
async fn dial(assoc: &Association, id: u16, config: RawConfig) -> Result<Dialed, TransportError> {
    let failed = |e: String| TransportError::DataChannel {
        stream_id: id,
        reason: e,
    };
    match assoc.open_stream(id, Ppi::Binary).await {
        Ok(stream) => {
            if config.negotiated {
                incoming::commit_reliability(&stream, &config);
            }
            RawChannel::client(stream, config)
                .await
                .map(|raw| Dialed::Open(Arc::new(raw)))
                .map_err(|e| failed(e.to_string()))
        }
        Err(webrtc_sctp::Error::ErrStreamAlreadyExist) if config.negotiated => {
            Ok(Dialed::Taken(config))
        }
        Err(e) => Err(failed(e.to_string())),
    }
}

/// Accepts the streams the peer starts and classifies each by its first message, until the
/// association ends. Aborting it (dropping the handle) aborts the classifications too.
pub(super) fn spawn_accept(assoc: Arc<Association>, io_tx: mpsc::Sender<Io>) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                stream = assoc.accept_stream() => {
                    let Some(stream) = stream else { break };
                    let io_tx = io_tx.clone();
                    let stream_id = stream.stream_identifier();
                    tasks.spawn(async move {
                        let result = incoming::classify(stream).await;
                        let _ = io_tx.send(Io::Incoming { stream_id, result }).await;
                    });
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        tracing::debug!("no more incoming streams");
    }))
}

/// Resets a stream we do not use (the peer's channel on it closes).
fn reset(stream: Arc<Stream>) {
    tokio::spawn(async move {
        let _ = stream.shutdown(std::net::Shutdown::Both).await;
    });
}

impl<S: Signaling> Driver<S> {
    pub(super) fn open_channel(
        &mut self,
        channel: ChannelId,
        stream_id: u16,
        label: &str,
        init: &DataChannelInit,
    ) {
        let Some((assoc, _)) = &self.sctp else {
            return;
        };
        let assoc = Arc::clone(assoc);
        let config = channel::raw_config(label, init);
        // A negotiated channel's stream id is its negotiated id.
        if init.negotiated.is_some() {
            if let Some(u) = self.unclaimed.remove(&stream_id) {
                self.claim(channel, stream_id, config, u.stream, u.first);
                return;
            }
        }
        let io_tx = self.io_tx.clone();
        tokio::spawn(async move {
            let result = dial(&assoc, stream_id, config).await;
            let _ = io_tx
                .send(Io::Opened {
                    channel,
                    stream_id,
                    result,
                })
                .await;
        });
    }

    pub(super) fn on_opened(
        &mut self,
        channel: ChannelId,
        stream_id: u16,
        result: Result<Dialed, TransportError>,
    ) {
        match result {
            Ok(Dialed::Open(raw)) => self.channel_open(channel, stream_id, raw, None),
            Ok(Dialed::Taken(config)) => match self.unclaimed.remove(&stream_id) {
                Some(u) => self.claim(channel, stream_id, config, u.stream, u.first),
                None => {
                    self.awaiting
                        .insert(stream_id, Awaiting { channel, config });
                }
            },
            Err(e) => self.open_failed(stream_id, e),
        }
    }

    fn open_failed(&mut self, stream_id: u16, e: TransportError) {
        self.emit(PeerEvent::TransportError(e));
        self.feed(TransportEvent::DataChannelClosed { stream_id });
    }

    /// Our negotiated channel takes the stream the peer wrote on, with its first message.
    fn claim(
        &mut self,
        channel: ChannelId,
        stream_id: u16,
        config: RawConfig,
        stream: Arc<Stream>,
        first: Message,
    ) {
        tracing::debug!(
            stream_id,
            "negotiated channel claims the stream the peer wrote on"
        );
        incoming::commit_reliability(&stream, &config);
        let raw = Arc::new(RawChannel::new(stream, config));
        self.channel_open(channel, stream_id, raw, Some(first));
    }

    fn channel_open(
        &mut self,
        channel: ChannelId,
        stream_id: u16,
        raw: Arc<RawChannel>,
        first: Option<Message>,
    ) {
        let limit = self.sctp.as_ref().map(|(_, l)| *l).unwrap_or(0);
        let Some(slot) = self.channels.get_mut(&channel) else {
            // Closed meanwhile.
            tokio::spawn(async move {
                let _ = raw.close().await;
            });
            return;
        };
        let tx = slot.incoming.take();
        let link = channel::open_link(Arc::clone(&raw), limit);
        let counters = link.counters().unwrap_or_default();
        slot.link.send_replace(link);
        if let Some(tx) = tx {
            self.spawn_reader(raw, tx, counters, stream_id, first);
        }
        self.feed(TransportEvent::DataChannelOpen { stream_id });
    }

    /// A stream the peer started, classified by its first message.
    pub(super) fn on_incoming(&mut self, stream_id: u16, result: Result<Incoming, IncomingError>) {
        match result {
            Ok(Incoming::Dcep(raw)) => {
                if self.awaiting.remove(&stream_id).is_some() {
                    // Both sides used the id: ours negotiated, the peer's with DCEP.
                    self.open_failed(
                        stream_id,
                        TransportError::DataChannel {
                            stream_id,
                            reason: "the peer opened this stream with DCEP".to_owned(),
                        },
                    );
                }
                self.on_remote(raw);
            }
            Ok(Incoming::Data { stream, first }) => {
                if let Some(a) = self.awaiting.remove(&stream_id) {
                    self.claim(a.channel, stream_id, a.config, stream, first);
                } else if self.unclaimed.len() >= MAX_UNCLAIMED {
                    reset(stream);
                    self.emit(PeerEvent::TransportError(TransportError::UnclaimedStream {
                        stream_id,
                        reason: UnclaimedReason::TooMany,
                    }));
                } else {
                    let io_tx = self.io_tx.clone();
                    let expiry = AbortOnDrop(tokio::spawn(async move {
                        tokio::time::sleep(UNCLAIMED_WAIT).await;
                        let _ = io_tx.send(Io::UnclaimedExpired { stream_id }).await;
                    }));
                    tracing::debug!(stream_id, "data on a stream no channel claimed yet: kept");
                    if let Some(old) = self.unclaimed.insert(
                        stream_id,
                        Unclaimed {
                            stream,
                            first,
                            _expiry: expiry,
                        },
                    ) {
                        reset(old.stream);
                    }
                }
            }
            Err(e) => {
                tracing::debug!(stream_id, error = %e, "stream the peer started refused");
                if self.awaiting.remove(&stream_id).is_some() {
                    self.open_failed(
                        stream_id,
                        TransportError::DataChannel {
                            stream_id,
                            reason: e.to_string(),
                        },
                    );
                }
            }
        }
    }

    pub(super) fn on_unclaimed_expired(&mut self, stream_id: u16) {
        if let Some(u) = self.unclaimed.remove(&stream_id) {
            tracing::warn!(
                stream_id,
                "no negotiated channel claimed the peer's stream: reset"
            );
            reset(u.stream);
            self.emit(PeerEvent::TransportError(TransportError::UnclaimedStream {
                stream_id,
                reason: UnclaimedReason::Expired,
            }));
        }
    }

    fn on_remote(&mut self, raw: Arc<RawChannel>) {
        let stream_id = raw.stream_identifier();
        let limit = self.sctp.as_ref().map(|(_, l)| *l).unwrap_or(0);
        let (tx, rx) = mpsc::channel(channel::INCOMING_QUEUE);
        let link = channel::open_link(Arc::clone(&raw), limit);
        let counters = link.counters().unwrap_or_default();
        let label = raw.config.label.clone();
        let init = channel::init_of(&raw.config);
        self.spawn_reader(raw, tx, counters, stream_id, None);
        self.remote_pending
            .insert(stream_id, RemotePending { link, incoming: rx });
        self.feed(TransportEvent::RemoteDataChannel {
            stream_id,
            label,
            init,
        });
    }

    fn spawn_reader(
        &self,
        raw: Arc<RawChannel>,
        tx: mpsc::Sender<Message>,
        counters: Arc<channel::ChannelCounters>,
        stream_id: u16,
        first: Option<Message>,
    ) {
        let io_tx = self.io_tx.clone();
        tokio::spawn(async move {
            if let Some(m) = first {
                counters.received(m.len());
                // A handle already gone is handled by the loop (it keeps draining).
                let _ = tx.send(m).await;
            }
            channel::read_loop(raw, tx, counters).await;
            let _ = io_tx.send(Io::ChannelEnded { stream_id }).await;
        });
    }

    /// The stats of every channel the application has (or will get) a handle on.
    pub(super) fn channel_stats(&self) -> Vec<ChannelStats> {
        self.session
            .data_channels()
            .filter_map(|info| {
                let slot = self.channels.get(&info.id)?;
                let link = slot.link.borrow();
                let (counters, buffered) = match &*link {
                    Link::Open { raw, counters, .. } => {
                        (Some(Arc::clone(counters)), raw.buffered_amount())
                    }
                    _ => (None, 0),
                };
                let load = |f: fn(&channel::ChannelCounters) -> &AtomicU64| {
                    counters
                        .as_deref()
                        .map_or(0, |c| f(c).load(Ordering::Relaxed))
                };
                Some(ChannelStats {
                    id: info.id,
                    label: info.label.clone(),
                    stream_id: info.stream_id,
                    state: info.state,
                    messages_sent: load(|c| &c.messages_sent),
                    bytes_sent: load(|c| &c.bytes_sent),
                    messages_received: load(|c| &c.messages_received),
                    bytes_received: load(|c| &c.bytes_received),
                    buffered_amount: buffered as u64,
                })
            })
            .collect()
    }

    pub(super) fn close_channel(&mut self, channel: ChannelId, stream_id: u16) {
        self.pending_opens.retain(|(c, ..)| *c != channel);
        self.awaiting.retain(|_, a| a.channel != channel);
        let raw = self
            .channels
            .get(&channel)
            .and_then(|s| match &*s.link.borrow() {
                Link::Open { raw, .. } => Some(Arc::clone(raw)),
                _ => None,
            });
        match raw {
            // The reader sees the reset and reports the channel closed.
            Some(raw) => {
                tokio::spawn(async move {
                    let _ = raw.close().await;
                });
            }
            None => self.feed(TransportEvent::DataChannelClosed { stream_id }),
        }
    }
}
