//! The driver's data channels over the SCTP association (`plane::sctp`): opening ours (DCEP or
//! negotiated), accepting the peer's, handing a negotiated channel the stream the peer already
//! wrote on, delivering messages with flow control, sends, closing.
//!
//! A negotiated channel (`DataChannelInit::negotiated: Some(id)`) has no DCEP exchange: each side
//! opens SCTP stream `id` by itself. When the peer writes before the application here created
//! its side, the peer's data creates the stream in our association first: its first message is
//! kept and the stream stays *unclaimed*; the rest waits in SCTP (flow control, nothing is
//! dropped). Creating the negotiated channel with that id claims it: the first message, then the
//! rest, reach the new handle. An unclaimed stream is reset after [`UNCLAIMED_WAIT`], or at once
//! beyond [`MAX_UNCLAIMED`], and reported ([`TransportError::UnclaimedStream`]): the peer's
//! channel closes and what it carried is dropped, never silently.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use session_core::channel::{ChannelId, DataChannelInit};
use session_core::transport::{TransportEvent, TransportId};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::{AbortOnDrop, Driver, Io, RemotePending};
use crate::channel::{self, ChannelShared, Link, Message};
use crate::error::{TransportError, UnclaimedReason};
use crate::event::PeerEvent;
use crate::plane::dcep::{self, ChannelParams};
use crate::plane::sctp::{Opened, SctpEvent, SctpSession};
use crate::signaling::Signaling;
use crate::stats::ChannelStats;

/// Streams the peer wrote on that may wait for a negotiated channel at once.
pub(crate) const MAX_UNCLAIMED: usize = 16;
/// How long such a stream waits.
pub(crate) const UNCLAIMED_WAIT: Duration = Duration::from_secs(10);
/// Messages delivered from one stream per call before the others get their turn.
const DELIVER_BATCH: usize = 64;

/// A stream the peer wrote on that no negotiated channel claimed yet.
pub(super) struct Unclaimed {
    first: Message,
    _expiry: AbortOnDrop,
}

/// A negotiated channel whose stream the peer has not started yet.
pub(super) struct Awaiting {
    channel: ChannelId,
    params: ChannelParams,
    init: DataChannelInit,
}

/// Where an open stream's messages go.
pub(super) struct Reader {
    tx: mpsc::Sender<Message>,
    pub(super) shared: Arc<ChannelShared>,
}

impl<S: Signaling> Driver<S> {
    /// The SCTP association, if it is up.
    fn sctp(&mut self) -> Option<&mut SctpSession> {
        let t = self.sctp_transport?;
        self.transports.get_mut(&t)?.plane.sctp()
    }

    fn data_transport(&self) -> Option<TransportId> {
        self.sctp_transport
    }

    pub(super) fn sctp_connected(&mut self) -> bool {
        self.sctp().is_some_and(|s| s.is_connected())
    }

    pub(super) fn open_channel(
        &mut self,
        channel: ChannelId,
        stream_id: u16,
        label: &str,
        init: &DataChannelInit,
    ) {
        let params = ChannelParams::new(label, init);
        let negotiated = init.negotiated.is_some();
        // A negotiated channel's stream id is its negotiated id.
        if negotiated {
            if let Some(u) = self.unclaimed.remove(&stream_id) {
                return self.claim(channel, stream_id, &params, init, Some(u.first));
            }
        }
        let now = Instant::now();
        let Some(sctp) = self.sctp() else { return };
        match sctp.open(now, stream_id, &params, negotiated) {
            Ok(Opened::Open) => self.channel_open(channel, stream_id, init.clone(), None),
            Ok(Opened::Taken) => {
                self.awaiting.insert(
                    stream_id,
                    Awaiting {
                        channel,
                        params,
                        init: init.clone(),
                    },
                );
            }
            Err(e) => self.open_failed(stream_id, e),
        }
    }

    fn open_failed(&mut self, stream_id: u16, e: TransportError) {
        self.emit(PeerEvent::TransportError(e));
        self.feed(TransportEvent::DataChannelClosed { stream_id });
    }

    fn claim(
        &mut self,
        channel: ChannelId,
        stream_id: u16,
        params: &ChannelParams,
        init: &DataChannelInit,
        first: Option<Message>,
    ) {
        tracing::debug!(
            stream_id,
            "negotiated channel claims the stream the peer wrote on"
        );
        if let Some(sctp) = self.sctp() {
            sctp.claim(stream_id, params);
        }
        self.channel_open(channel, stream_id, init.clone(), first);
        self.deliver(stream_id);
    }

    /// Our channel's stream is open: its handle's link opens.
    fn channel_open(
        &mut self,
        channel: ChannelId,
        stream_id: u16,
        init: DataChannelInit,
        first: Option<Message>,
    ) {
        let limit = self.sctp().map_or(0, |s| s.send_limit());
        let Some(slot) = self.channels.get_mut(&channel) else {
            // Closed meanwhile.
            if let Some(sctp) = self.sctp() {
                sctp.reset(Instant::now(), stream_id);
            }
            return;
        };
        let shared = Arc::new(ChannelShared::new(stream_id, limit, init));
        if let Some(tx) = slot.incoming.take() {
            if let Some(m) = first {
                shared.counters.received(m.len());
                let _ = tx.try_send(m); // the queue is new: there is room
            }
            self.readers.insert(
                stream_id,
                Reader {
                    tx,
                    shared: Arc::clone(&shared),
                },
            );
        }
        slot.link.send_replace(Link::Open(shared));
        self.feed(TransportEvent::DataChannelOpen { stream_id });
    }

    /// What the SCTP association reports.
    pub(super) fn on_sctp_event(&mut self, transport: TransportId, ev: SctpEvent) {
        match ev {
            SctpEvent::Connected => {
                tracing::info!(%transport, "SCTP association established");
                for (channel, stream_id, label, init) in std::mem::take(&mut self.pending_opens) {
                    self.open_channel(channel, stream_id, &label, &init);
                }
            }
            SctpEvent::Closed => {
                tracing::info!(%transport, "SCTP association closed");
                for (_, stream_id, _, _) in std::mem::take(&mut self.pending_opens) {
                    self.feed(TransportEvent::DataChannelClosed { stream_id });
                }
            }
            SctpEvent::Lost(e) => {
                tracing::warn!(%transport, error = %e, "SCTP association ended");
                for (_, stream_id, _, _) in std::mem::take(&mut self.pending_opens) {
                    self.feed(TransportEvent::DataChannelClosed { stream_id });
                }
                if !self.session.is_closed() {
                    self.emit(PeerEvent::TransportError(e));
                }
            }
            SctpEvent::RemoteOpen { stream_id, params } => {
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
                self.on_remote(stream_id, params);
            }
            SctpEvent::RemoteData { stream_id, first } => self.on_remote_data(stream_id, first),
            SctpEvent::Refused { stream_id, reason } => {
                if self.awaiting.remove(&stream_id).is_some() {
                    self.open_failed(stream_id, TransportError::DataChannel { stream_id, reason });
                }
            }
            SctpEvent::Readable { stream_id } => self.deliver(stream_id),
            SctpEvent::Released { stream_id, bytes } => {
                if let Some(r) = self.readers.get(&stream_id) {
                    r.shared.release(bytes);
                } else if let Some(shared) = self.open_shared(stream_id) {
                    shared.release(bytes);
                }
            }
            SctpEvent::StreamClosed { stream_id } => self.on_stream_closed(stream_id),
        }
    }

    /// The open link of the channel on `stream_id`, if any.
    fn open_shared(&self, stream_id: u16) -> Option<Arc<ChannelShared>> {
        let slot = self
            .channels
            .values()
            .find(|s| s.stream_id == Some(stream_id))?;
        match &*slot.link.borrow() {
            Link::Open(shared) => Some(Arc::clone(shared)),
            _ => None,
        }
    }

    fn on_remote_data(&mut self, stream_id: u16, first: Message) {
        if let Some(a) = self.awaiting.remove(&stream_id) {
            return self.claim(a.channel, stream_id, &a.params, &a.init, Some(first));
        }
        if self.unclaimed.len() >= MAX_UNCLAIMED {
            if let Some(sctp) = self.sctp() {
                sctp.reset(Instant::now(), stream_id);
            }
            self.emit(PeerEvent::TransportError(TransportError::UnclaimedStream {
                stream_id,
                reason: UnclaimedReason::TooMany,
            }));
            return;
        }
        let io_tx = self.io_tx.clone();
        let expiry = AbortOnDrop(tokio::spawn(async move {
            tokio::time::sleep(UNCLAIMED_WAIT).await;
            let _ = io_tx.send(Io::UnclaimedExpired { stream_id }).await;
        }));
        tracing::debug!(stream_id, "data on a stream no channel claimed yet: kept");
        self.unclaimed.insert(
            stream_id,
            Unclaimed {
                first,
                _expiry: expiry,
            },
        );
    }

    pub(super) fn on_unclaimed_expired(&mut self, stream_id: u16) {
        if self.unclaimed.remove(&stream_id).is_some() {
            tracing::warn!(
                stream_id,
                "no negotiated channel claimed the peer's stream: reset"
            );
            if let Some(sctp) = self.sctp() {
                sctp.reset(Instant::now(), stream_id);
            }
            self.emit(PeerEvent::TransportError(TransportError::UnclaimedStream {
                stream_id,
                reason: UnclaimedReason::Expired,
            }));
        }
    }

    /// A channel the peer opened with DCEP: its messages queue (bounded) until the application
    /// takes the handle the session's `DataChannel` event makes.
    fn on_remote(&mut self, stream_id: u16, params: ChannelParams) {
        let limit = self.sctp().map_or(0, |s| s.send_limit());
        let init = params.init();
        let (tx, rx) = mpsc::channel(channel::INCOMING_QUEUE);
        let shared = Arc::new(ChannelShared::new(stream_id, limit, init.clone()));
        self.readers.insert(
            stream_id,
            Reader {
                tx,
                shared: Arc::clone(&shared),
            },
        );
        self.remote_pending.insert(
            stream_id,
            RemotePending {
                link: Link::Open(shared),
                incoming: rx,
            },
        );
        self.feed(TransportEvent::RemoteDataChannel {
            stream_id,
            label: params.label,
            init,
        });
        self.deliver(stream_id);
    }

    /// Moves the stream's queued messages to its handle while the handle's queue has room;
    /// beyond that the stream is parked (SCTP's window closes) until the handle reads.
    pub(super) fn deliver(&mut self, stream_id: u16) {
        let Some(t) = self.data_transport() else {
            return;
        };
        let Some(reader) = self.readers.get(&stream_id) else {
            return; // not claimed yet: waits in SCTP
        };
        let Some(sctp) = self.transports.get_mut(&t).and_then(|t| t.plane.sctp()) else {
            return;
        };
        let mut more = false;
        for _ in 0..DELIVER_BATCH {
            match reader.tx.try_reserve() {
                Ok(permit) => match sctp.read(stream_id) {
                    Some(m) => {
                        reader.shared.counters.received(m.len());
                        permit.send(m);
                    }
                    None => return,
                },
                Err(TrySendError::Full(())) => {
                    reader.shared.park();
                    return;
                }
                Err(TrySendError::Closed(())) => {
                    // The handle is gone: keep draining so the peer is not blocked.
                    if sctp.read(stream_id).is_none() {
                        return;
                    }
                }
            }
            more = true;
        }
        if more {
            // The batch ran out with messages left: go on after the other inputs.
            self.redeliver.push(stream_id);
        }
    }

    pub(super) fn on_send(&mut self, shared: &ChannelShared, data: Bytes, is_string: bool) {
        let len = dcep::wire_len(data.len());
        let stream_id = shared.stream_id;
        let now = Instant::now();
        let sent = match self.sctp() {
            Some(sctp) => sctp.send(now, stream_id, data, is_string),
            None => Err(TransportError::DataChannel {
                stream_id,
                reason: "no SCTP association".to_owned(),
            }),
        };
        if let Err(e) = sent {
            tracing::debug!(stream_id, error = %e, "message not sent");
            shared.release(len);
        }
    }

    pub(super) fn on_resume_read(&mut self, shared: &ChannelShared) {
        self.deliver(shared.stream_id);
    }

    /// The stream was reset (by either side) or the association ended.
    fn on_stream_closed(&mut self, stream_id: u16) {
        if let Some(r) = self.readers.remove(&stream_id) {
            r.shared.closed();
        }
        self.unclaimed.remove(&stream_id);
        let id = self
            .channels
            .iter()
            .find(|(_, s)| s.stream_id == Some(stream_id))
            .map(|(id, _)| *id);
        if let Some(slot) = id.and_then(|id| self.channels.remove(&id)) {
            if let Link::Open(shared) = &*slot.link.borrow() {
                shared.closed();
            }
            slot.link.send_replace(Link::Closed);
        }
        self.remote_pending.remove(&stream_id);
        self.feed(TransportEvent::DataChannelClosed { stream_id });
    }

    pub(super) fn channel_stats(&self) -> Vec<ChannelStats> {
        self.session
            .data_channels()
            .filter_map(|info| {
                let slot = self.channels.get(&info.id)?;
                let link = slot.link.borrow();
                let shared = match &*link {
                    Link::Open(shared) => Some(Arc::clone(shared)),
                    _ => None,
                };
                let load = |f: fn(&channel::ChannelCounters) -> &std::sync::atomic::AtomicU64| {
                    shared
                        .as_deref()
                        .map_or(0, |s| f(&s.counters).load(Ordering::Relaxed))
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
                    buffered_amount: shared.as_deref().map_or(0, |s| s.buffered() as u64),
                })
            })
            .collect()
    }

    pub(super) fn close_channel(&mut self, channel: ChannelId, stream_id: u16) {
        self.pending_opens.retain(|(c, ..)| *c != channel);
        self.awaiting.retain(|_, a| a.channel != channel);
        let open = self
            .channels
            .get(&channel)
            .is_some_and(|s| matches!(&*s.link.borrow(), Link::Open(_)));
        if open {
            // The reset's completion reports the channel closed.
            if let Some(sctp) = self.sctp() {
                sctp.reset(Instant::now(), stream_id);
                return;
            }
        }
        self.feed(TransportEvent::DataChannelClosed { stream_id });
    }
}
