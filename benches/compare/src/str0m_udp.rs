//! str0m 0.25 (sans-IO, aws-lc-rs crypto), driven by a minimal blocking UDP loop per peer:
//! one thread and one `std::net::UdpSocket` on 127.0.0.1 each; SDP (with the host candidate)
//! is handed over through a channel. Every input (a datagram, a timeout, an SDP change, a
//! write) is followed by draining `poll_output` until `Timeout`, as str0m requires. The loop
//! waits with `ppoll(2)` for a datagram or the exact deadline (a socket read timeout is rounded
//! up to the kernel's 4 ms ticks), then reads every queued datagram.
//!
//! Two windows: [`Window::Ours`] lets str0m buffer our `HIGH_WATER` (1 MiB) before `write`
//! refuses, like every other sender here; [`Window::Default`] keeps str0m's own default,
//! 128 KiB (`RtcConfig::set_sctp_max_buffered_amount`), which also caps the data in flight.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

use crate::common::{
    bind_udp, err, payload, process_cpu, wait_readable, BoxError, Outcome, Params, Tracker,
    HIGH_WATER, SETUP_LIMIT, STALL,
};

/// The longest a loop waits, so signaling is looked at regularly.
const POLL: Duration = Duration::from_millis(5);
/// Datagrams read per wake-up before the loop looks at sending and signaling again.
const BURST: usize = 64;

/// How much str0m may buffer for sending (its data channels' send window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Our `HIGH_WATER`, 1 MiB (stack `str0m`).
    Ours,
    /// str0m's default, 128 KiB (stack `str0m-default`).
    Default,
}

enum Sig {
    Offer(SdpOffer),
    Answer(SdpAnswer),
}

struct Peer {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    buf: Vec<u8>,
    channel: Option<ChannelId>,
    opened: Option<Instant>,
    /// str0m's next deadline, as of the last [`Peer::drain`].
    deadline: Instant,
}

impl Peer {
    fn new(p: &Params, window: Window) -> Result<Self, BoxError> {
        let socket = bind_udp(p)?;
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let mut config = Rtc::builder();
        if window == Window::Ours {
            config = config.set_sctp_max_buffered_amount(HIGH_WATER);
        }
        let mut rtc = config.build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp")?);
        Ok(Self {
            rtc,
            socket,
            local,
            buf: vec![0; 2048],
            channel: None,
            opened: None,
            deadline: Instant::now(),
        })
    }

    /// Drains `poll_output` until `Timeout`: sends datagrams, records channel events, notes
    /// the deadline.
    fn drain(&mut self, mut tracker: Option<&mut Tracker>) -> Result<(), BoxError> {
        loop {
            match self.rtc.poll_output()? {
                Output::Timeout(t) => {
                    self.deadline = t;
                    return Ok(());
                }
                Output::Transmit(t) => {
                    // A full socket buffer drops the datagram, as the network would.
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Output::Event(Event::ChannelOpen(id, _)) => {
                    self.channel = Some(id);
                    self.opened.get_or_insert_with(Instant::now);
                }
                Output::Event(Event::ChannelData(d)) => {
                    if let Some(t) = tracker.as_deref_mut() {
                        t.on_message(&d.data, Instant::now());
                    }
                }
                Output::Event(_) => {}
            }
        }
    }

    /// Waits for a datagram or the deadline (at most [`POLL`]), feeds in every queued datagram
    /// (up to [`BURST`]) and the timeout when it is due, draining after each input.
    fn wait(&mut self, mut tracker: Option<&mut Tracker>) -> Result<(), BoxError> {
        let now = Instant::now();
        if self.deadline > now {
            wait_readable(&self.socket, (self.deadline - now).min(POLL))?;
        }
        for _ in 0..BURST {
            match self.socket.recv_from(&mut self.buf) {
                Ok((n, source)) => {
                    let Ok(contents) = (&self.buf[..n]).try_into() else {
                        continue; // not a datagram str0m reads: dropped
                    };
                    let input = Input::Receive(
                        Instant::now(),
                        Receive {
                            proto: Protocol::Udp,
                            source,
                            destination: self.local,
                            contents,
                        },
                    );
                    self.rtc.handle_input(input)?;
                    self.drain(tracker.as_deref_mut())?;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // The peer's socket is gone (ICMP port unreachable at the end of a run).
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e.into()),
            }
        }
        let now = Instant::now();
        if self.deadline <= now {
            self.rtc.handle_input(Input::Timeout(now))?;
            self.drain(tracker)?;
        }
        Ok(())
    }
}

struct SenderReport {
    start: Instant,
    opened: Option<Instant>,
    first_send: Instant,
    first_send_cpu: Duration,
    sent: u64,
}

fn offerer(
    p: Params,
    window: Window,
    to_b: mpsc::Sender<Sig>,
    from_b: mpsc::Receiver<Sig>,
    finished: Arc<AtomicBool>,
) -> Result<SenderReport, BoxError> {
    let mut peer = Peer::new(&p, window)?;
    let start = Instant::now();
    let mut change = peer.rtc.sdp_api();
    let cid = change.add_channel("bench".into());
    let (offer, pending) = change.apply().ok_or_else(|| err("no offer"))?;
    to_b.send(Sig::Offer(offer))?;
    let Sig::Answer(answer) = from_b.recv_timeout(SETUP_LIMIT)? else {
        return Err(err("expected an answer"));
    };
    peer.rtc.sdp_api().accept_answer(pending, answer)?;

    let mut pending_restart: Option<SdpPendingOffer> = None;
    let mut restarted = false;
    let mut seq = 0u64;
    let mut first_send = None;
    let mut last_progress = Instant::now();
    let mut first_send_cpu = Duration::ZERO;
    loop {
        peer.drain(None)?;
        if let Ok(Sig::Answer(answer)) = from_b.try_recv() {
            if let Some(pending) = pending_restart.take() {
                peer.rtc.sdp_api().accept_answer(pending, answer)?;
                peer.drain(None)?;
            }
        }
        if peer.channel == Some(cid) {
            while seq < p.count {
                if Some(seq) == p.restart_at && !restarted {
                    restarted = true;
                    let mut change = peer.rtc.sdp_api();
                    change.ice_restart(true);
                    let (offer, pending) = change.apply().ok_or_else(|| err("no offer"))?;
                    to_b.send(Sig::Offer(offer))?;
                    pending_restart = Some(pending);
                    peer.drain(None)?;
                }
                let Some(mut ch) = peer.rtc.channel(cid) else {
                    break;
                };
                if first_send.is_none() {
                    first_send = Some(Instant::now());
                    first_send_cpu = process_cpu();
                }
                if !ch.write(true, &payload(seq, p.size))? {
                    break; // send buffer full (the window)
                }
                seq += 1;
                last_progress = Instant::now();
                peer.drain(None)?;
            }
        } else if start.elapsed() > SETUP_LIMIT {
            return Err(err("setup timed out"));
        }
        if finished.load(Ordering::Acquire) || last_progress.elapsed() > STALL {
            break;
        }
        peer.wait(None)?;
    }
    Ok(SenderReport {
        start,
        opened: peer.opened,
        first_send: first_send.unwrap_or(start),
        first_send_cpu,
        sent: seq,
    })
}

fn answerer(
    p: Params,
    window: Window,
    to_a: mpsc::Sender<Sig>,
    from_a: mpsc::Receiver<Sig>,
    finished: Arc<AtomicBool>,
) -> Result<(Tracker, Option<Instant>), BoxError> {
    let mut peer = Peer::new(&p, window)?;
    let Sig::Offer(offer) = from_a.recv_timeout(SETUP_LIMIT)? else {
        return Err(err("expected an offer"));
    };
    let answer = peer.rtc.sdp_api().accept_offer(offer)?;
    to_a.send(Sig::Answer(answer))?;
    let mut tracker = Tracker::default();
    let mut last_count = 0;
    let mut last_progress = Instant::now();
    loop {
        peer.drain(Some(&mut tracker))?;
        if tracker.done(p.count) {
            break;
        }
        if let Ok(Sig::Offer(offer)) = from_a.try_recv() {
            let answer = peer.rtc.sdp_api().accept_offer(offer)?;
            to_a.send(Sig::Answer(answer))?;
            peer.drain(Some(&mut tracker))?;
        }
        if tracker.received != last_count {
            last_count = tracker.received;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > STALL {
            break;
        }
        peer.wait(Some(&mut tracker))?;
    }
    finished.store(true, Ordering::Release);
    // Let the last acknowledgements out.
    let _ = peer.drain(None);
    Ok((tracker, peer.opened))
}

/// One transfer (see [`Params`]) with str0m's send buffer set to `window`.
pub fn run(p: Params, window: Window) -> Result<Outcome, BoxError> {
    str0m::crypto::from_feature_flags().install_process_default();
    let (to_b, from_a) = mpsc::channel();
    let (to_a, from_b) = mpsc::channel();
    let finished = Arc::new(AtomicBool::new(false));
    let f = Arc::clone(&finished);
    let b = thread::spawn(move || answerer(p, window, to_a, from_a, f).map_err(|e| e.to_string()));
    let a = thread::spawn(move || {
        offerer(p, window, to_b, from_b, finished).map_err(|e| e.to_string())
    });
    let sender = a
        .join()
        .map_err(|_| err("offerer panicked"))?
        .map_err(err)?;
    let (tracker, b_opened) = b
        .join()
        .map_err(|_| err("answerer panicked"))?
        .map_err(err)?;
    let opened = sender
        .opened
        .zip(b_opened)
        .map(|(x, y)| x.max(y))
        .ok_or_else(|| err("the channel never opened on both sides"))?;
    Ok(Outcome {
        setup: opened - sender.start,
        first_send: sender.first_send,
        first_send_cpu: sender.first_send_cpu,
        tracker,
        sent: sender.sent,
        restart_switch: None,
    })
}
