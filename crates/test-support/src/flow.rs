//! A checked one-way message flow over a data channel: the sender numbers its messages and
//! fills them with bytes derived from the number; the receiver checks every byte and the order
//! (no loss, duplicate or reordering) and measures the longest gap between two arrivals.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use transport_tokio::{DataChannel, Message};

use crate::payload;

/// What the receiving side of a flow saw.
#[derive(Debug)]
pub struct Received {
    /// Messages received (all checked).
    pub count: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Longest time between two consecutive arrivals.
    pub longest_gap: Duration,
    /// When that gap ended.
    pub longest_gap_end: Option<Instant>,
}

/// A running flow: a sender task and a checking receiver task.
#[derive(Debug)]
pub struct Flow {
    stop: watch::Sender<bool>,
    sender: JoinHandle<(u64, DataChannel)>,
    receiver: JoinHandle<(Received, DataChannel)>,
    /// Messages received so far (for progress checks while the flow runs).
    pub progress: watch::Receiver<u64>,
}

/// How long the receiver waits for the next message before it declares the flow stalled.
const STALL: Duration = Duration::from_secs(30);

/// Starts sending `len`-byte messages on `tx` (one every `pace`, or as fast as the channel
/// takes them) and checking them on `rx`.
pub fn start(tx: DataChannel, mut rx: DataChannel, len: usize, pace: Option<Duration>) -> Flow {
    let (stop, mut stop_rx) = watch::channel(false);
    let (count_tx, mut count_rx) = watch::channel(None::<u64>);
    let (progress_tx, progress) = watch::channel(0u64);
    let sender = tokio::spawn(async move {
        let mut seq = 0u64;
        let mut ticks = pace.map(tokio::time::interval);
        while !*stop_rx.borrow_and_update() {
            if let Some(t) = ticks.as_mut() {
                t.tick().await;
            }
            tx.send(payload(seq, len)).await.expect("send failed");
            seq += 1;
        }
        count_tx.send_replace(Some(seq));
        (seq, tx)
    });
    let receiver = tokio::spawn(async move {
        let mut r = Received {
            count: 0,
            bytes: 0,
            longest_gap: Duration::ZERO,
            longest_gap_end: None,
        };
        let mut last: Option<Instant> = None;
        loop {
            let expected = *count_rx.borrow_and_update();
            if expected.is_some_and(|e| r.count >= e) {
                break;
            }
            tokio::select! {
                _ = count_rx.changed(), if expected.is_none() => {}
                msg = tokio::time::timeout(STALL, rx.recv()) => {
                    let msg = msg
                        .unwrap_or_else(|_| panic!("flow stalled for {STALL:?} after {} messages", r.count))
                        .expect("channel closed early");
                    let now = Instant::now();
                    let Message::Binary(data) = msg else {
                        panic!("unexpected message {msg:?}");
                    };
                    let seq = u64::from_be_bytes(data[..8].try_into().expect("8-byte header"));
                    assert_eq!(seq, r.count, "lost, duplicated or reordered message");
                    assert_eq!(data, payload(seq, data.len()), "corrupted message {seq}");
                    if let Some(l) = last {
                        if now - l > r.longest_gap {
                            r.longest_gap = now - l;
                            r.longest_gap_end = Some(now);
                        }
                    }
                    last = Some(now);
                    r.bytes += data.len() as u64;
                    r.count += 1;
                    progress_tx.send_replace(r.count);
                }
            }
        }
        (r, rx)
    });
    Flow {
        stop,
        sender,
        receiver,
        progress,
    }
}

impl Flow {
    /// Waits until the receiver has checked `more` messages beyond what it had now.
    pub async fn advance(&mut self, more: u64, within: Duration) {
        let target = *self.progress.borrow() + more;
        tokio::time::timeout(within, self.progress.wait_for(|n| *n >= target))
            .await
            .unwrap_or_else(|_| panic!("flow did not advance by {more} messages in {within:?}"))
            .expect("receiver ended");
    }

    /// Stops sending and waits until every sent message was received and checked; returns the
    /// number sent, what was received and both channels.
    pub async fn finish(self) -> (u64, Received, DataChannel, DataChannel) {
        self.stop.send_replace(true);
        let (sent, tx) = self.sender.await.expect("sender panicked");
        let (r, rx) = self.receiver.await.expect("receiver panicked");
        assert_eq!(r.count, sent, "messages missing at the end");
        (sent, r, tx, rx)
    }
}
