//! The peer connection's [`Signaling`] on a task of its own, so the driver never waits on it:
//! outgoing signal messages are queued (in order, `bye` last, then the close), incoming ones and
//! failures come back on a queue the driver selects on.

use super::AbortOnDrop;
use crate::signaling::{Signaling, SignalingError};
use session_core::signal::SignalMessage;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Messages received (or the channel's end/failure) waiting for the driver; the task waits
/// beyond that, and the channel's own flow control applies.
const INBOUND: usize = 64;

enum Out {
    Send(SignalMessage),
    /// Flush and let go of the channel; the reply says how that went.
    Close(oneshot::Sender<Result<(), SignalingError>>),
}

/// The driver's end of the signaling task.
pub(super) struct SignalIo {
    /// Unbounded: the session emits a bounded number of small messages (descriptions,
    /// candidates, `bye`), and the driver must not wait to queue them.
    out: mpsc::UnboundedSender<Out>,
    pub(super) inbound: mpsc::Receiver<Result<Option<SignalMessage>, SignalingError>>,
    /// Aborted if the driver ends without [`close`](Self::close).
    task: AbortOnDrop,
}

impl SignalIo {
    pub(super) fn spawn<S: Signaling>(signaling: S) -> Self {
        let (out, out_rx) = mpsc::unbounded_channel();
        let (in_tx, inbound) = mpsc::channel(INBOUND);
        let task = AbortOnDrop(tokio::spawn(run(signaling, out_rx, in_tx)));
        Self { out, inbound, task }
    }

    /// Queues a message; `false` when the task has ended (the channel failed or closed).
    pub(super) fn send(&self, msg: SignalMessage) -> bool {
        self.out.send(Out::Send(msg)).is_ok()
    }

    /// Sends what is queued, then closes the channel; the result once that is done.
    pub(super) async fn close(mut self) -> Result<(), SignalingError> {
        let (reply, rx) = oneshot::channel();
        if self.out.send(Out::Close(reply)).is_err() {
            return Err(SignalingError::Closed);
        }
        let result = rx.await.unwrap_or(Err(SignalingError::Closed));
        let _ = (&mut self.task.0).await;
        result
    }
}

/// How long the task keeps receiving after a send failed, before it reports the failure: a
/// `bye` the peer sent just before its end of the channel went away is still in the channel
/// (an in-memory pair, a socket's receive buffer) and must reach the session first.
const DRAIN_AFTER_SEND_FAILURE: Duration = Duration::from_secs(1);

async fn run<S: Signaling>(
    mut signaling: S,
    mut out: mpsc::UnboundedReceiver<Out>,
    inbound: mpsc::Sender<Result<Option<SignalMessage>, SignalingError>>,
) {
    let mut receiving = true;
    // A failed send, reported once receiving ends (or after the drain time).
    let mut send_failed: Option<(SignalingError, Instant)> = None;
    loop {
        let drain_until = send_failed.as_ref().map(|(_, until)| *until);
        tokio::select! {
            // Sends first: a `bye` queued before the channel's end is not overtaken by it.
            biased;
            next = out.recv() => match next {
                Some(Out::Send(msg)) => {
                    // After a failed send or the channel's end, sends go nowhere (the driver
                    // hears of the failure once).
                    if send_failed.is_some() || !receiving {
                        continue;
                    }
                    if let Err(e) = signaling.send(msg).await {
                        tracing::debug!(error = %e, "signaling send failed; reading what is left");
                        send_failed = Some((e, Instant::now() + DRAIN_AFTER_SEND_FAILURE));
                    }
                }
                Some(Out::Close(reply)) => {
                    let _ = reply.send(signaling.close().await);
                    return;
                }
                None => return, // the driver is gone
            },
            // `recv` is cancel-safe (the trait requires it): a send in between loses nothing.
            msg = signaling.recv(), if receiving => {
                let end = !matches!(msg, Ok(Some(_)));
                if end {
                    // The channel ended or failed: keep taking sends until the driver
                    // closes (they go nowhere; the driver hears of the end once).
                    receiving = false;
                    let msg = match (msg, send_failed.take()) {
                        // A clean end after a failed send: the send's error says more.
                        (Ok(None), Some((e, _))) => Err(e),
                        (msg, _) => msg,
                    };
                    if inbound.send(msg).await.is_err() {
                        return;
                    }
                } else if inbound.send(msg).await.is_err() {
                    return;
                }
            }
            _ = sleep_until_opt(drain_until), if receiving => {
                // Nothing more arrived in time: report the send failure and stop receiving.
                receiving = false;
                if let Some((e, _)) = send_failed.take() {
                    if inbound.send(Err(e)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signaling::memory_pair;

    /// The leak test's one-in-fifteen failure: the peer sent `bye` and went away; our next send
    /// failed, and the task used to stop before reading the `bye` waiting in the channel (the
    /// session then restarted ICE towards a peer that had hung up).
    #[tokio::test]
    async fn a_bye_waiting_in_the_channel_is_delivered_before_a_failed_send_is_reported() {
        let (ours, mut theirs) = memory_pair(Duration::ZERO);
        theirs
            .send(SignalMessage::Bye { reason: None })
            .await
            .unwrap();
        drop(theirs);
        let mut io = SignalIo::spawn(ours);
        assert!(io.send(SignalMessage::Bye { reason: None }));
        let first = io.inbound.recv().await.unwrap();
        assert_eq!(first, Ok(Some(SignalMessage::Bye { reason: None })));
        let second = io.inbound.recv().await.unwrap();
        assert_eq!(second, Err(SignalingError::Closed));
    }
}
