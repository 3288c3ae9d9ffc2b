//! The [`Signaling`] trait a peer connection sends and receives [`SignalMessage`]s through,
//! and [`memory_pair`], an in-memory pair for tests and same-process peers.

use std::collections::VecDeque;
use std::time::Duration;

use async_trait::async_trait;
use session_core::signal::SignalMessage;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Why a signaling channel failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignalingError {
    /// The channel is closed (the other end went away).
    #[error("the signaling channel is closed")]
    Closed,
    /// A received message could not be read (the parser's message).
    #[error("invalid signal message: {0}")]
    Invalid(String),
    /// Any other failure of the channel (its message).
    #[error("signaling failed: {0}")]
    Other(String),
}

/// A channel to the other peer that carries [`SignalMessage`]s (WebSocket, HTTP, in-memory, ...).
///
/// The peer connection's driver task owns it: it sends what the session emits
/// ([`Session::poll_signal`](session_core::session::Session::poll_signal)) and feeds what
/// arrives to the session.
#[async_trait]
pub trait Signaling: Send + 'static {
    /// Sends a message to the other peer. May wait while the channel is full.
    async fn send(&mut self, msg: SignalMessage) -> Result<(), SignalingError>;

    /// The next message from the other peer; `Ok(None)` when the channel ended.
    ///
    /// Must be cancel-safe: the driver polls it in a `select!`, and a message must not be lost
    /// when the future is dropped before it completes.
    async fn recv(&mut self) -> Result<Option<SignalMessage>, SignalingError>;

    /// The session has ended and its last message (`bye`) was sent: hand everything sent to
    /// the other side (a server, a queue) and let go of the channel. The driver calls it once,
    /// bounded in time, before [`PeerConnection::wait_closed`](crate::PeerConnection::wait_closed)
    /// returns, so a process that exits right after that loses no message. The default does
    /// nothing (nothing to flush).
    async fn close(&mut self) -> Result<(), SignalingError> {
        Ok(())
    }
}

/// Messages in flight in one direction of a [`memory_pair`]; the sender waits beyond that.
const MEMORY_QUEUE: usize = 1024;

/// One end of an in-memory signaling pair (see [`memory_pair`]).
///
/// Messages travel as JSON text ([`SignalMessage::to_json`]), as they would over a network, and
/// are delivered in order after the pair's delay.
#[derive(Debug)]
pub struct MemorySignaling {
    tx: mpsc::Sender<(Instant, String)>,
    rx: mpsc::Receiver<(Instant, String)>,
    delay: Duration,
    /// Received but not yet due (kept here so `recv` is cancel-safe).
    held: VecDeque<(Instant, String)>,
}

/// Two connected in-memory signaling ends; each message arrives `delay` after it was sent.
pub fn memory_pair(delay: Duration) -> (MemorySignaling, MemorySignaling) {
    let (a_tx, b_rx) = mpsc::channel(MEMORY_QUEUE);
    let (b_tx, a_rx) = mpsc::channel(MEMORY_QUEUE);
    let end = |tx, rx| MemorySignaling {
        tx,
        rx,
        delay,
        held: VecDeque::new(),
    };
    (end(a_tx, a_rx), end(b_tx, b_rx))
}

#[async_trait]
impl Signaling for MemorySignaling {
    async fn send(&mut self, msg: SignalMessage) -> Result<(), SignalingError> {
        let due = Instant::now() + self.delay;
        self.tx
            .send((due, msg.to_json()))
            .await
            .map_err(|_| SignalingError::Closed)
    }

    async fn recv(&mut self) -> Result<Option<SignalMessage>, SignalingError> {
        if self.held.is_empty() {
            match self.rx.recv().await {
                Some(m) => self.held.push_back(m),
                None => return Ok(None),
            }
        }
        let due = self.held.front().map(|(due, _)| *due);
        if let Some(due) = due {
            tokio::time::sleep_until(due).await;
        }
        match self.held.pop_front() {
            Some((_, json)) => SignalMessage::from_json(&json)
                .map(Some)
                .map_err(|e| SignalingError::Invalid(e.to_string())),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delivers_in_order_after_the_delay() {
        let (mut a, mut b) = memory_pair(Duration::from_millis(50));
        let start = Instant::now();
        for i in 0..3 {
            a.send(SignalMessage::Bye {
                reason: Some(i.to_string()),
            })
            .await
            .unwrap();
        }
        for i in 0..3 {
            let got = b.recv().await.unwrap().unwrap();
            assert_eq!(
                got,
                SignalMessage::Bye {
                    reason: Some(i.to_string())
                }
            );
        }
        assert!(start.elapsed() >= Duration::from_millis(50));
        drop(a);
        assert_eq!(b.recv().await.unwrap(), None);
    }

    #[tokio::test]
    async fn recv_is_cancel_safe() {
        let (mut a, mut b) = memory_pair(Duration::from_millis(100));
        a.send(SignalMessage::Bye { reason: None }).await.unwrap();
        // Cancel a recv that is waiting for the delay: the message must not be lost.
        let r = tokio::time::timeout(Duration::from_millis(20), b.recv()).await;
        assert!(r.is_err());
        assert_eq!(
            b.recv().await.unwrap(),
            Some(SignalMessage::Bye { reason: None })
        );
    }
}
