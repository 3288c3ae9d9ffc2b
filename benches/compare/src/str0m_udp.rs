//! str0m 0.25 (sans-IO, aws-lc-rs crypto), driven by a minimal blocking UDP loop per peer:
//! one thread and one `std::net::UdpSocket` on 127.0.0.1 each; SDP (with the host candidate)
//! is handed over through a channel. Every mutation is followed by draining `poll_output`
//! until `Timeout`, as str0m requires.

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
    bind_udp, err, payload, BoxError, Outcome, Params, Tracker, HIGH_WATER, SETUP_LIMIT, STALL,
};

/// The longest a loop blocks in `recv_from`, so signaling is looked at regularly.
const POLL: Duration = Duration::from_millis(5);

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
    read_timeout: Option<Duration>,
}

impl Peer {
    fn new(p: &Params) -> Result<Self, BoxError> {
        let socket = bind_udp(p)?;
        let local = socket.local_addr()?;
        let mut rtc = Rtc::builder()
            .set_sctp_max_buffered_amount(HIGH_WATER)
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp")?);
        Ok(Self {
            rtc,
            socket,
            local,
            buf: vec![0; 2048],
            channel: None,
            opened: None,
            read_timeout: None,
        })
    }

    /// Drains `poll_output` until `Timeout`: sends datagrams, records channel events.
    fn drain(&mut self, mut tracker: Option<&mut Tracker>) -> Result<Instant, BoxError> {
        loop {
            match self.rtc.poll_output()? {
                Output::Timeout(t) => return Ok(t),
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

    /// Waits for one datagram or `until` (at most [`POLL`]) and feeds it to str0m.
    fn wait(&mut self, until: Instant) -> Result<(), BoxError> {
        let now = Instant::now();
        if until <= now {
            self.rtc.handle_input(Input::Timeout(now))?;
            return Ok(());
        }
        let wait = (until - now).min(POLL).max(Duration::from_micros(100));
        if self.read_timeout != Some(wait) {
            self.socket.set_read_timeout(Some(wait))?;
            self.read_timeout = Some(wait);
        }
        match self.socket.recv_from(&mut self.buf) {
            Ok((n, source)) => {
                let Ok(contents) = (&self.buf[..n]).try_into() else {
                    return Ok(()); // not a datagram str0m reads: dropped
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
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                self.rtc.handle_input(Input::Timeout(Instant::now()))?;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

struct SenderReport {
    start: Instant,
    opened: Option<Instant>,
    first_send: Instant,
    sent: u64,
}

fn offerer(
    p: Params,
    to_b: mpsc::Sender<Sig>,
    from_b: mpsc::Receiver<Sig>,
    finished: Arc<AtomicBool>,
) -> Result<SenderReport, BoxError> {
    let mut peer = Peer::new(&p)?;
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
    loop {
        let mut timeout = peer.drain(None)?;
        if let Ok(Sig::Answer(answer)) = from_b.try_recv() {
            if let Some(pending) = pending_restart.take() {
                peer.rtc.sdp_api().accept_answer(pending, answer)?;
                timeout = peer.drain(None)?;
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
                    timeout = peer.drain(None)?;
                }
                let Some(mut ch) = peer.rtc.channel(cid) else {
                    break;
                };
                if !ch.write(true, &payload(seq, p.size))? {
                    break; // send buffer full (HIGH_WATER)
                }
                first_send.get_or_insert_with(Instant::now);
                seq += 1;
                last_progress = Instant::now();
                timeout = peer.drain(None)?;
            }
        } else if start.elapsed() > SETUP_LIMIT {
            return Err(err("setup timed out"));
        }
        if finished.load(Ordering::Acquire) || last_progress.elapsed() > STALL {
            break;
        }
        peer.wait(timeout)?;
    }
    Ok(SenderReport {
        start,
        opened: peer.opened,
        first_send: first_send.unwrap_or(start),
        sent: seq,
    })
}

fn answerer(
    p: Params,
    to_a: mpsc::Sender<Sig>,
    from_a: mpsc::Receiver<Sig>,
    finished: Arc<AtomicBool>,
) -> Result<(Tracker, Option<Instant>), BoxError> {
    let mut peer = Peer::new(&p)?;
    let Sig::Offer(offer) = from_a.recv_timeout(SETUP_LIMIT)? else {
        return Err(err("expected an offer"));
    };
    let answer = peer.rtc.sdp_api().accept_offer(offer)?;
    to_a.send(Sig::Answer(answer))?;
    let mut tracker = Tracker::default();
    let mut last_count = 0;
    let mut last_progress = Instant::now();
    loop {
        let mut timeout = peer.drain(Some(&mut tracker))?;
        if tracker.done(p.count) {
            break;
        }
        if let Ok(Sig::Offer(offer)) = from_a.try_recv() {
            let answer = peer.rtc.sdp_api().accept_offer(offer)?;
            to_a.send(Sig::Answer(answer))?;
            timeout = peer.drain(Some(&mut tracker))?;
        }
        if tracker.received != last_count {
            last_count = tracker.received;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > STALL {
            break;
        }
        peer.wait(timeout)?;
    }
    finished.store(true, Ordering::Release);
    // Let the last acknowledgements out.
    let _ = peer.drain(None);
    Ok((tracker, peer.opened))
}

/// One transfer (see [`Params`]).
pub fn run(p: Params) -> Result<Outcome, BoxError> {
    str0m::crypto::from_feature_flags().install_process_default();
    let (to_b, from_a) = mpsc::channel();
    let (to_a, from_b) = mpsc::channel();
    let finished = Arc::new(AtomicBool::new(false));
    let f = Arc::clone(&finished);
    let b = thread::spawn(move || answerer(p, to_a, from_a, f).map_err(|e| e.to_string()));
    let a = thread::spawn(move || offerer(p, to_b, from_b, finished).map_err(|e| e.to_string()));
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
        tracker,
        sent: sender.sent,
        restart_switch: None,
    })
}
