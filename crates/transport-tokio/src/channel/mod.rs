//! [`DataChannel`]: the application's handle on one data channel.
//!
//! The driver task owns the SCTP association (`plane::sctp`); a handle talks to it over the
//! peer connection's command queue. Sending queues the message for the driver, with
//! backpressure on the channel's buffered amount (bytes handed to SCTP and not yet
//! acknowledged, kept in [`ChannelShared`] as the driver releases them). Receiving goes through
//! a bounded queue the driver fills; when the application does not read, the driver stops
//! reading the stream and SCTP's receive window closes (flow control, nothing is dropped) until
//! the application reads again.

pub(crate) mod link;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use session_core::channel::{ChannelId, DataChannelInit};
use tokio::sync::{mpsc, watch};

use crate::command::Command;
use crate::error::ChannelError;
pub(crate) use link::{ChannelCounters, ChannelParts, ChannelShared, Link, INCOMING_QUEUE};
pub use link::{Message, HIGH_WATER, LOW_WATER};

/// The application's handle on a data channel (W3C `RTCDataChannel`).
///
/// [`send`](Self::send) waits until the channel is open, and while more than [`HIGH_WATER`]
/// bytes are buffered. [`recv`](Self::recv) returns `None` once the channel is closed.
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
            Link::Open(_) => "open",
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
    pub(crate) fn new(parts: ChannelParts, commands: mpsc::Sender<Command>) -> Self {
        Self {
            id: parts.id,
            label: parts.label,
            link: parts.link,
            incoming: parts.incoming,
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
        matches!(&*self.link.borrow(), Link::Open(_))
    }

    /// Waits until the channel is open; fails if it closes first.
    pub async fn wait_open(&self) -> Result<(), ChannelError> {
        self.open_link().await.map(|_| ())
    }

    async fn open_link(&self) -> Result<Arc<ChannelShared>, ChannelError> {
        let mut link = self.link.clone();
        let state = link
            .wait_for(|l| !matches!(l, Link::Connecting))
            .await
            .map_err(|_| ChannelError::Closed)?;
        match &*state {
            Link::Open(shared) => Ok(Arc::clone(shared)),
            _ => Err(ChannelError::Closed),
        }
    }

    fn open_now(&self) -> Option<Arc<ChannelShared>> {
        match &*self.link.borrow() {
            Link::Open(shared) => Some(Arc::clone(shared)),
            _ => None,
        }
    }

    /// Bytes queued and not yet acknowledged by the peer (W3C `bufferedAmount`); 0 before open.
    pub fn buffered_amount(&self) -> usize {
        self.open_now().map_or(0, |s| s.buffered())
    }

    /// Sends a binary message.
    ///
    /// Waits while the channel is not open yet and while more than [`HIGH_WATER`] bytes are
    /// buffered, then until the driver's queue takes the message. Cancel-safe: dropped while
    /// waiting, nothing is sent; once it returns `Ok` the message is SCTP's to deliver (on a
    /// partially reliable channel, within its limits).
    pub async fn send(&self, data: impl Into<Bytes>) -> Result<(), ChannelError> {
        self.write(data.into(), false).await
    }

    /// Sends a text message (see [`send`](Self::send) for when it waits).
    pub async fn send_text(&self, text: impl Into<String>) -> Result<(), ChannelError> {
        self.write(Bytes::from(text.into()), true).await
    }

    async fn write(&self, data: Bytes, is_string: bool) -> Result<(), ChannelError> {
        let shared = self.open_link().await?;
        if data.len() > shared.max_message_size {
            return Err(ChannelError::TooLarge {
                size: data.len(),
                limit: shared.max_message_size,
            });
        }
        while shared.buffered() > HIGH_WATER {
            wait_low(&shared, LOW_WATER).await;
            if !self.is_open() {
                return Err(ChannelError::Closed);
            }
        }
        // A permit first: from here on nothing awaits, so the message and its bytes are
        // counted together or not at all.
        let permit = self
            .commands
            .reserve()
            .await
            .map_err(|_| ChannelError::Closed)?;
        if !self.is_open() {
            return Err(ChannelError::Closed);
        }
        let len = data.len();
        shared
            .buffered
            .fetch_add(link::wire_len(len), Ordering::AcqRel);
        shared.counters.sent(len);
        permit.send(Command::Send {
            channel: Arc::clone(&shared),
            data,
            is_string,
        });
        Ok(())
    }

    /// Sets the low-water threshold (W3C `bufferedAmountLowThreshold`; [`LOW_WATER`] by
    /// default here, where W3C says 0): [`buffered_amount_low`](Self::buffered_amount_low)
    /// waits for the buffered amount to fall to it. Fails if the channel is not open (set it
    /// after [`wait_open`](Self::wait_open)).
    pub fn set_buffered_amount_low_threshold(&self, bytes: usize) -> Result<(), ChannelError> {
        let shared = self.open_now().ok_or(ChannelError::Closed)?;
        shared.low_threshold.store(bytes, Ordering::Relaxed);
        Ok(())
    }

    /// Waits until at most the low-water threshold of bytes (see
    /// [`set_buffered_amount_low_threshold`](Self::set_buffered_amount_low_threshold)) is
    /// buffered: the W3C `bufferedamountlow` event as an awaitable. Returns at once if
    /// that is already so; waits for the channel to open first. For applications that pace
    /// themselves on [`buffered_amount`](Self::buffered_amount) instead of letting
    /// [`send`](Self::send) wait. Fails if the channel closes first.
    pub async fn buffered_amount_low(&self) -> Result<(), ChannelError> {
        let shared = self.open_link().await?;
        loop {
            let mark = shared.low_threshold.load(Ordering::Relaxed);
            if shared.buffered() <= mark {
                return Ok(());
            }
            wait_low(&shared, mark).await;
            if !self.is_open() {
                return Err(ChannelError::Closed);
            }
        }
    }

    /// The channel's options as negotiated (ordered, partial reliability, protocol), once
    /// open; `None` before. `negotiated` is not reported (always `None`).
    pub fn init(&self) -> Option<DataChannelInit> {
        self.open_now().map(|s| DataChannelInit {
            negotiated: None,
            ..s.init.clone()
        })
    }

    /// The next message; `None` when the channel is closed and every message was read.
    pub async fn recv(&mut self) -> Option<Message> {
        let message = self.incoming.recv().await;
        if message.is_some() {
            if let Some(shared) = self.open_now() {
                if shared.parked.swap(false, Ordering::AcqRel)
                    && self
                        .commands
                        .try_send(Command::ResumeRead(Arc::clone(&shared)))
                        .is_err()
                {
                    // The command queue is full: the next `recv` asks again.
                    shared.parked.store(true, Ordering::Release);
                }
            }
        }
        message
    }

    /// Closes the channel (resets its SCTP stream); the peer's handle closes too.
    pub async fn close(&self) -> Result<(), ChannelError> {
        self.commands
            .send(Command::CloseChannel(self.id))
            .await
            .map_err(|_| ChannelError::Closed)
    }
}

/// Waits for the low-water wake-up, or until the buffered amount is at most `mark`, or a
/// bounded time (the caller re-checks the channel's state). Registering before checking means
/// a wake-up between the check and the wait is not lost.
async fn wait_low(shared: &ChannelShared, mark: usize) {
    let notified = shared.low.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    if shared.buffered() <= mark {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_millis(100), notified).await;
}
