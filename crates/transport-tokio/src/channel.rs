//! [`DataChannel`]: the application's handle on one data channel, and the tasks that connect it
//! to `webrtc-data`.
//!
//! Sending goes straight from the application's task to the SCTP stream (no hop through the
//! driver), with backpressure on the stream's buffered amount. Receiving goes through a bounded
//! queue filled by one reader task per channel; when the application does not read, the
//! reader waits and SCTP's receive window closes (flow control, nothing is dropped).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use session_core::channel::{ChannelId, DataChannelInit};
use tokio::sync::{mpsc, watch, Notify};
use webrtc_data::data_channel::{Config as RawConfig, DataChannel as RawChannel};
use webrtc_data::message::message_channel_open::ChannelType;

use crate::error::ChannelError;
use crate::peer::Command;

/// Messages queued for the application per channel; beyond that, SCTP flow control applies.
pub(crate) const INCOMING_QUEUE: usize = 256;
/// `send` waits while more than this many bytes are queued in the SCTP stream.
pub const HIGH_WATER: usize = 1024 * 1024;
/// A waiting `send` resumes when the queue falls below this many bytes.
pub const LOW_WATER: usize = 256 * 1024;
/// Largest message the reader accepts (our `a=max-message-size`).
pub(crate) const MAX_INCOMING_MESSAGE: usize = 262_144;

/// One message of a data channel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// A binary message (PPID 53, or 57 when empty).
    Binary(Bytes),
    /// A text message (PPID 51, or 56 when empty).
    Text(String),
}

impl Message {
    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Message::Binary(b) => b.len(),
            Message::Text(t) => t.len(),
        }
    }

    /// Is the payload empty?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Messages and payload bytes a channel carried (its [`ChannelStats`](crate::ChannelStats)).
#[derive(Debug, Default)]
pub(crate) struct ChannelCounters {
    pub(crate) messages_sent: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) messages_received: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
}

impl ChannelCounters {
    fn sent(&self, bytes: usize) {
        self.messages_sent.fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn received(&self, bytes: usize) {
        self.messages_received.fetch_add(1, Ordering::Relaxed);
        self.bytes_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// Where a channel's handle stands.
#[derive(Clone)]
pub(crate) enum Link {
    /// Waiting for SCTP and the stream.
    Connecting,
    /// Open over this stream; messages up to `max_message_size` bytes.
    Open {
        raw: Arc<RawChannel>,
        max_message_size: usize,
        low: Arc<Notify>,
        counters: Arc<ChannelCounters>,
    },
    /// Closed (terminal).
    Closed,
}

/// The application's handle on a data channel (W3C `RTCDataChannel`).
///
/// [`send`](Self::send) waits until the channel is open, and while more than [`HIGH_WATER`]
/// bytes are queued in SCTP. [`recv`](Self::recv) returns `None` once the channel is closed.
/// Dropping the handle does not close the channel; call [`close`](Self::close).
pub struct DataChannel {
    id: ChannelId,
    label: String,
    link: watch::Receiver<Link>,
    incoming: mpsc::Receiver<Message>,
    commands: mpsc::Sender<Command>,
}

impl std::fmt::Debug for DataChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &*self.link.borrow() {
            Link::Connecting => "connecting",
            Link::Open { .. } => "open",
            Link::Closed => "closed",
        };
        f.debug_struct("DataChannel")
            .field("id", &self.id)
            .field("label", &self.label)
            .field("state", &state)
            .finish()
    }
}

impl DataChannel {
    pub(crate) fn new(
        id: ChannelId,
        label: String,
        link: watch::Receiver<Link>,
        incoming: mpsc::Receiver<Message>,
        commands: mpsc::Sender<Command>,
    ) -> Self {
        Self {
            id,
            label,
            link,
            incoming,
            commands,
        }
    }

    /// The channel's identity in its session.
    pub fn id(&self) -> ChannelId {
        self.id
    }

    /// The label given at creation.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Is the channel open?
    pub fn is_open(&self) -> bool {
        matches!(&*self.link.borrow(), Link::Open { .. })
    }

    /// Waits until the channel is open; fails if it closes first.
    pub async fn wait_open(&self) -> Result<(), ChannelError> {
        self.open_link().await.map(|_| ())
    }

    async fn open_link(&self) -> Result<OpenParts, ChannelError> {
        let mut link = self.link.clone();
        let state = link
            .wait_for(|l| !matches!(l, Link::Connecting))
            .await
            .map_err(|_| ChannelError::Closed)?;
        match &*state {
            Link::Open {
                raw,
                max_message_size,
                low,
                counters,
            } => Ok((
                Arc::clone(raw),
                *max_message_size,
                Arc::clone(low),
                Arc::clone(counters),
            )),
            _ => Err(ChannelError::Closed),
        }
    }

    /// Bytes queued in SCTP and not yet acknowledged (W3C `bufferedAmount`); 0 before open.
    pub fn buffered_amount(&self) -> usize {
        match &*self.link.borrow() {
            Link::Open { raw, .. } => raw.buffered_amount(),
            _ => 0,
        }
    }

    /// Sends a binary message.
    ///
    /// Waits while the channel is not open yet and while more than [`HIGH_WATER`] bytes are
    /// buffered, then until SCTP took the message. Cancel-safe up to the point where SCTP takes
    /// the message: dropped while waiting for [`HIGH_WATER`], nothing is sent; dropped later
    /// (waiting for room in SCTP's queue), the message is still sent.
    pub async fn send(&self, data: impl Into<Bytes>) -> Result<(), ChannelError> {
        self.write(data.into(), false).await
    }

    /// Sends a text message (see [`send`](Self::send) for when it waits).
    pub async fn send_text(&self, text: impl Into<String>) -> Result<(), ChannelError> {
        self.write(Bytes::from(text.into()), true).await
    }

    async fn write(&self, data: Bytes, is_string: bool) -> Result<(), ChannelError> {
        let (raw, limit, low, counters) = self.open_link().await?;
        if data.len() > limit {
            return Err(ChannelError::TooLarge {
                size: data.len(),
                limit,
            });
        }
        while raw.buffered_amount() > HIGH_WATER {
            wait_low(&raw, &low, LOW_WATER).await;
            if !self.is_open() {
                return Err(ChannelError::Closed);
            }
        }
        // On its own task: `webrtc-sctp` 0.17's `write_sctp` counts the message in the stream's
        // buffered amount and then waits for room in its pending queue; dropped while it waits,
        // the message would be gone but its bytes buffered for good (and every later `send`
        // would wait for them). So a `send` dropped (e.g. by a timeout) from here on still
        // sends the message.
        let write = tokio::spawn(async move {
            raw.write_data_channel(&data, is_string).await?;
            counters.sent(data.len());
            Ok::<_, webrtc_data::Error>(())
        });
        match write.await {
            Ok(r) => r.map_err(|e| ChannelError::Send(e.to_string())),
            Err(_) => Err(ChannelError::Closed),
        }
    }

    /// Sets the low-water threshold (W3C `bufferedAmountLowThreshold`; [`LOW_WATER`] by
    /// default here, where W3C says 0): [`buffered_amount_low`](Self::buffered_amount_low)
    /// waits for the buffered amount to fall to it. Fails if the channel is not open (set it
    /// after [`wait_open`](Self::wait_open)).
    pub fn set_buffered_amount_low_threshold(&self, bytes: usize) -> Result<(), ChannelError> {
        match &*self.link.borrow() {
            Link::Open { raw, .. } => {
                raw.set_buffered_amount_low_threshold(bytes);
                Ok(())
            }
            _ => Err(ChannelError::Closed),
        }
    }

    /// Waits until at most the low-water threshold of bytes (see
    /// [`set_buffered_amount_low_threshold`](Self::set_buffered_amount_low_threshold)) is
    /// queued in SCTP: the W3C `bufferedamountlow` event as an awaitable. Returns at once if
    /// that is already so; waits for the channel to open first. For applications that pace
    /// themselves on [`buffered_amount`](Self::buffered_amount) instead of letting
    /// [`send`](Self::send) wait. Fails if the channel closes first.
    pub async fn buffered_amount_low(&self) -> Result<(), ChannelError> {
        let (raw, _, low, _) = self.open_link().await?;
        loop {
            let mark = raw.buffered_amount_low_threshold();
            if raw.buffered_amount() <= mark {
                return Ok(());
            }
            wait_low(&raw, &low, mark).await;
            if !self.is_open() {
                return Err(ChannelError::Closed);
            }
        }
    }

    /// The channel's options as negotiated (ordered, partial reliability, protocol), once
    /// open; `None` before. `negotiated` is not reported (always `None`).
    pub fn init(&self) -> Option<DataChannelInit> {
        match &*self.link.borrow() {
            Link::Open { raw, .. } => Some(init_of(&raw.config)),
            _ => None,
        }
    }

    /// The next message; `None` when the channel is closed and every message was read.
    pub async fn recv(&mut self) -> Option<Message> {
        self.incoming.recv().await
    }

    /// Closes the channel (resets its SCTP stream); the peer's handle closes too.
    pub async fn close(&self) -> Result<(), ChannelError> {
        self.commands
            .send(Command::CloseChannel(self.id))
            .await
            .map_err(|_| ChannelError::Closed)
    }
}

/// An open link's stream, message size limit, low-water wake-up and counters.
type OpenParts = (Arc<RawChannel>, usize, Arc<Notify>, Arc<ChannelCounters>);

/// Waits for the low-water wake-up, or until the buffered amount is at most `mark`, or a
/// bounded time (the caller re-checks the channel's state). Registering before checking means
/// a wake-up between the check and the wait is not lost.
async fn wait_low(raw: &RawChannel, low: &Notify, mark: usize) {
    let notified = low.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    if raw.buffered_amount() <= mark {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_millis(100), notified).await;
}

/// The `webrtc-data` configuration of a channel the core asked to open.
pub(crate) fn raw_config(label: &str, init: &DataChannelInit) -> RawConfig {
    let (channel_type, reliability_parameter) = match (
        init.ordered,
        init.max_retransmits,
        init.max_packet_life_time,
    ) {
        (true, Some(n), _) => (ChannelType::PartialReliableRexmit, u32::from(n)),
        (false, Some(n), _) => (ChannelType::PartialReliableRexmitUnordered, u32::from(n)),
        (true, None, Some(ms)) => (ChannelType::PartialReliableTimed, u32::from(ms)),
        (false, None, Some(ms)) => (ChannelType::PartialReliableTimedUnordered, u32::from(ms)),
        (true, None, None) => (ChannelType::Reliable, 0),
        (false, None, None) => (ChannelType::ReliableUnordered, 0),
    };
    RawConfig {
        channel_type,
        negotiated: init.negotiated.is_some(),
        priority: webrtc_data::message::message_channel_open::CHANNEL_PRIORITY_NORMAL,
        reliability_parameter,
        label: label.to_owned(),
        protocol: init.protocol.clone(),
        max_message_size: 0,
    }
}

/// The core's view of a channel the peer opened.
pub(crate) fn init_of(raw: &RawConfig) -> DataChannelInit {
    let param = u16::try_from(raw.reliability_parameter).unwrap_or(u16::MAX);
    let (ordered, max_retransmits, max_packet_life_time) = match raw.channel_type {
        ChannelType::Reliable => (true, None, None),
        ChannelType::ReliableUnordered => (false, None, None),
        ChannelType::PartialReliableRexmit => (true, Some(param), None),
        ChannelType::PartialReliableRexmitUnordered => (false, Some(param), None),
        ChannelType::PartialReliableTimed => (true, None, Some(param)),
        ChannelType::PartialReliableTimedUnordered => (false, None, Some(param)),
    };
    DataChannelInit {
        ordered,
        max_packet_life_time,
        max_retransmits,
        protocol: raw.protocol.clone(),
        negotiated: None,
    }
}

/// Makes an open [`Link`] for a raw channel, with the low-water wake-up wired.
pub(crate) fn open_link(raw: Arc<RawChannel>, max_message_size: usize) -> Link {
    let low = Arc::new(Notify::new());
    raw.set_buffered_amount_low_threshold(LOW_WATER);
    let wake = Arc::clone(&low);
    raw.on_buffered_amount_low(Box::new(move || {
        let wake = Arc::clone(&wake);
        // Every waiter (a blocked `send`, `buffered_amount_low`) re-checks.
        Box::pin(async move { wake.notify_waiters() })
    }));
    Link::Open {
        raw,
        max_message_size,
        low,
        counters: Arc::default(),
    }
}

impl Link {
    /// The counters of an open link.
    pub(crate) fn counters(&self) -> Option<Arc<ChannelCounters>> {
        match self {
            Link::Open { counters, .. } => Some(Arc::clone(counters)),
            _ => None,
        }
    }
}

/// Reads a channel until it closes, queueing messages for the handle; returns when the stream
/// was reset or failed.
pub(crate) async fn read_loop(
    raw: Arc<RawChannel>,
    tx: mpsc::Sender<Message>,
    counters: Arc<ChannelCounters>,
) {
    let mut buf = crate::readbuf::ReadBuf::take();
    loop {
        let before = raw.messages_received();
        let (n, is_string) = match raw.read_data_channel(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(stream_id = raw.stream_identifier(), error = %e, "data channel read ended");
                return;
            }
        };
        // `(0, false)` is both an empty binary message and a reset stream; only a message
        // counts as received.
        if n == 0 && !is_string && raw.messages_received() == before {
            return;
        }
        counters.received(n);
        let data = &buf[..n];
        let msg = if is_string {
            Message::Text(String::from_utf8_lossy(data).into_owned())
        } else {
            Message::Binary(Bytes::copy_from_slice(data))
        };
        if tx.send(msg).await.is_err() {
            // The handle is gone: keep draining so the peer is not blocked by flow control.
            continue;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reliability_round_trip() {
        let cases = [
            DataChannelInit::default(),
            DataChannelInit {
                ordered: false,
                ..Default::default()
            },
            DataChannelInit {
                max_retransmits: Some(3),
                ..Default::default()
            },
            DataChannelInit {
                ordered: false,
                max_packet_life_time: Some(500),
                protocol: "p".into(),
                ..Default::default()
            },
        ];
        for init in cases {
            assert_eq!(init_of(&raw_config("x", &init)), init);
        }
    }
}
