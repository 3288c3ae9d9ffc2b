//! The peer connection's [`Signaling`] on a task of its own, so the driver never waits on it:
//! outgoing signal messages are queued (in order, `bye` last, then the close), incoming ones and
//! failures come back on a queue the driver selects on.

use super::AbortOnDrop;
use crate::signaling::{Signaling, SignalingError};
use session_core::signal::SignalMessage;
use tokio::sync::{mpsc, oneshot};

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

async fn run<S: Signaling>(
    mut signaling: S,
    mut out: mpsc::UnboundedReceiver<Out>,
    inbound: mpsc::Sender<Result<Option<SignalMessage>, SignalingError>>,
) {
    let mut receiving = true;
    loop {
        tokio::select! {
            // Sends first: a `bye` queued before the channel's end is not overtaken by it.
            biased;
            next = out.recv() => match next {
                Some(Out::Send(msg)) => {
                    if let Err(e) = signaling.send(msg).await {
                        let _ = inbound.send(Err(e)).await;
                        return;
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
                if inbound.send(msg).await.is_err() {
                    return;
                }
                if end {
                    // The channel ended or failed: keep taking sends until the driver
                    // closes (they fail, which the driver hears once).
                    receiving = false;
                }
            }
        }
    }
}
