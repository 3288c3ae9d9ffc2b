//! What a data channel's handle and the driver share: the message type, the open link with
//! its buffered amount and counters, and the parts a new handle is made of. A leaf: the
//! driver and the handles both build on it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use session_core::channel::{ChannelId, DataChannelInit};
use tokio::sync::{mpsc, watch, Notify};

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
    pub(crate) fn sent(&self, bytes: usize) {
        self.messages_sent.fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn received(&self, bytes: usize) {
        self.messages_received.fetch_add(1, Ordering::Relaxed);
        self.bytes_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// What a channel's handle and the driver share once the channel is open.
#[derive(Debug)]
pub(crate) struct ChannelShared {
    pub(crate) stream_id: u16,
    /// The largest message that may be sent (the peer's `a=max-message-size`).
    pub(crate) max_message_size: usize,
    /// The options as negotiated.
    pub(crate) init: DataChannelInit,
    /// Bytes queued for the driver or in SCTP and not yet acknowledged (W3C `bufferedAmount`).
    pub(super) buffered: AtomicUsize,
    pub(super) low_threshold: AtomicUsize,
    /// Woken when the buffered amount falls to a waiter's mark.
    pub(super) low: Notify,
    pub(crate) counters: ChannelCounters,
    /// The driver stopped reading the stream because the handle's queue was full; the next
    /// [`DataChannel::recv`](super::DataChannel::recv) asks it to go on.
    pub(super) parked: AtomicBool,
}

impl ChannelShared {
    pub(crate) fn new(stream_id: u16, max_message_size: usize, init: DataChannelInit) -> Self {
        Self {
            stream_id,
            max_message_size,
            init,
            buffered: AtomicUsize::new(0),
            low_threshold: AtomicUsize::new(LOW_WATER),
            low: Notify::new(),
            counters: ChannelCounters::default(),
            parked: AtomicBool::new(false),
        }
    }

    pub(crate) fn buffered(&self) -> usize {
        self.buffered.load(Ordering::Acquire)
    }

    /// `bytes` left the send buffer (acknowledged, abandoned, or never sent).
    pub(crate) fn release(&self, bytes: usize) {
        let before = self
            .buffered
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
                Some(b.saturating_sub(bytes))
            })
            .unwrap_or(0);
        let now = before.saturating_sub(bytes);
        let mark = self.low_threshold.load(Ordering::Relaxed).max(LOW_WATER);
        if now <= mark {
            // Every waiter (a blocked `send`, `buffered_amount_low`) re-checks its own mark.
            self.low.notify_waiters();
        }
    }

    /// Nothing more will be sent: wakes every waiter.
    pub(crate) fn closed(&self) {
        self.buffered.store(0, Ordering::Release);
        self.low.notify_waiters();
    }

    /// The driver stopped reading: the handle's queue is full.
    pub(crate) fn park(&self) {
        self.parked.store(true, Ordering::Release);
    }
}

/// Where a channel's handle stands.
#[derive(Clone, Debug)]
pub(crate) enum Link {
    /// Waiting for SCTP and the stream.
    Connecting,
    /// Open over its stream.
    Open(Arc<ChannelShared>),
    /// Closed (terminal).
    Closed,
}

/// The bytes a message of `len` bytes occupies in SCTP's send buffer (an empty message
/// travels as one byte, RFC 8831 sec. 6.6).
pub(crate) fn wire_len(len: usize) -> usize {
    len.max(1)
}

/// What a new [`DataChannel`](super::DataChannel) handle is made of (the driver makes them,
/// the handle side adds the command queue).
#[derive(Debug)]
pub(crate) struct ChannelParts {
    pub(crate) id: ChannelId,
    pub(crate) label: String,
    pub(crate) link: watch::Receiver<Link>,
    pub(crate) incoming: mpsc::Receiver<Message>,
}
