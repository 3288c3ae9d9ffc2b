//! rtc 0.21 (webrtc-rs's sans-IO crate, ring crypto), driven by a minimal blocking UDP loop per
//! peer: one thread and one `std::net::UdpSocket` on 127.0.0.1 each; offer and answer (with
//! the host candidate) are handed over through a channel.
//!
//! The loop is the one the crate asks for, as `webrtc` 0.21's own driver runs it: every input
//! (`handle_read`, `handle_timeout`) is followed by draining every output (`poll_write`,
//! `poll_event`, `poll_read`, then `poll_timeout`). It waits with `ppoll(2)` for a datagram or
//! the exact deadline (a socket read timeout is rounded up to the kernel's 4 ms ticks, which
//! inflated this stack's setup to ~37 ms), then reads every queued datagram, then hands in the
//! time (see [`Peer::wait`]).

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc::data_channel::RTCDataChannelId;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::event::{RTCDataChannelEvent, RTCPeerConnectionEvent};
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::{CandidateConfig, CandidateHostConfig, RTCIceCandidate};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};

use crate::common::{
    bind_udp, err, payload, process_cpu, wait_readable, BoxError, Outcome, Params, Tracker,
    HIGH_WATER, SETUP_LIMIT, STALL,
};

/// The longest a loop waits, so signaling is looked at regularly.
const POLL: Duration = Duration::from_millis(5);
/// Datagrams read per wake-up before the loop looks at sending and signaling again.
const BURST: usize = 64;
/// Next wake-up when the connection asks for none.
const IDLE: Duration = Duration::from_secs(1);

struct Peer {
    pc: RTCPeerConnection,
    socket: UdpSocket,
    local: SocketAddr,
    buf: Vec<u8>,
    channel: Option<RTCDataChannelId>,
    opened: Option<Instant>,
    /// The connection's next deadline, as of the last [`Peer::drain`].
    deadline: Instant,
}

impl Peer {
    fn new(p: &Params) -> Result<Self, BoxError> {
        let socket = bind_udp(p)?;
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let mut pc = RTCPeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .build(Instant::now())?;
        let candidate = CandidateHostConfig {
            base_config: CandidateConfig {
                network: "udp".to_owned(),
                address: local.ip().to_string(),
                port: local.port(),
                component: 1,
                ..Default::default()
            },
            ..Default::default()
        }
        .new_candidate_host()?;
        pc.add_local_candidate(RTCIceCandidate::from(&candidate).to_json()?)?;
        Ok(Self {
            pc,
            socket,
            local,
            buf: vec![0; 2048],
            channel: None,
            opened: None,
            deadline: Instant::now(),
        })
    }

    /// Sends what is queued, records channel events and messages; notes the next deadline.
    fn drain(&mut self, mut tracker: Option<&mut Tracker>) {
        while let Some(msg) = self.pc.poll_write() {
            // A full socket buffer drops the datagram, as the network would.
            let _ = self.socket.send_to(&msg.message, msg.transport.peer_addr);
        }
        while let Some(event) = self.pc.poll_event() {
            if let RTCPeerConnectionEvent::OnDataChannel(RTCDataChannelEvent::OnOpen(id)) = event {
                self.channel = Some(id);
                self.opened.get_or_insert_with(Instant::now);
            }
        }
        while let Some(TaggedRTCMessage { message, .. }) = self.pc.poll_read() {
            if let (RTCMessage::DataChannelMessage(_, msg), Some(t)) =
                (message, tracker.as_deref_mut())
            {
                t.on_message(&msg.data, Instant::now());
            }
        }
        self.deadline = self
            .pc
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + IDLE);
    }

    /// Waits for a datagram or the deadline (at most [`POLL`]), feeds in every queued datagram
    /// (up to [`BURST`]), then the time, draining after each input.
    fn wait(&mut self, mut tracker: Option<&mut Tracker>) -> Result<(), BoxError> {
        let now = Instant::now();
        if self.deadline > now {
            wait_readable(&self.socket, (self.deadline - now).min(POLL))?;
        }
        for _ in 0..BURST {
            match self.socket.recv_from(&mut self.buf) {
                Ok((n, peer_addr)) => {
                    // A datagram the connection refuses is dropped, as the network would.
                    let _ = self.pc.handle_read(TaggedBytesMut {
                        now: Instant::now(),
                        transport: TransportContext {
                            local_addr: self.local,
                            peer_addr,
                            ecn: None,
                            transport_protocol: TransportProtocol::UDP,
                        },
                        message: BytesMut::from(&self.buf[..n]),
                    });
                    self.drain(tracker.as_deref_mut());
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // The peer's socket is gone (ICMP port unreachable at the end of a run).
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e.into()),
            }
        }
        // The time goes in after every wake-up, not only at the deadline: rtc's ICE agent
        // decides that a pair succeeded on its next tick, and `poll_timeout` puts that tick up
        // to 200 ms out (a loop that waits for it takes ~200 ms to connect on loopback).
        self.pc.handle_timeout(Instant::now())?;
        self.drain(tracker);
        Ok(())
    }

    /// Creates an offer, sets it locally and returns it.
    fn offer(&mut self) -> Result<RTCSessionDescription, BoxError> {
        let offer = self.pc.create_offer(None)?;
        self.pc
            .set_local_description(Instant::now(), offer.clone())?;
        Ok(offer)
    }

    /// Applies an offer and returns the answer (set locally).
    fn answer(&mut self, offer: RTCSessionDescription) -> Result<RTCSessionDescription, BoxError> {
        self.pc.set_remote_description(Instant::now(), offer)?;
        let answer = self.pc.create_answer(None)?;
        self.pc
            .set_local_description(Instant::now(), answer.clone())?;
        Ok(answer)
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
    to_b: mpsc::Sender<RTCSessionDescription>,
    from_b: mpsc::Receiver<RTCSessionDescription>,
    finished: Arc<AtomicBool>,
) -> Result<SenderReport, BoxError> {
    let mut peer = Peer::new(&p)?;
    let start = Instant::now();
    let cid = peer.pc.create_data_channel("bench", None)?.id();
    to_b.send(peer.offer()?)?;
    let answer = from_b.recv_timeout(SETUP_LIMIT)?;
    peer.pc.set_remote_description(Instant::now(), answer)?;

    let mut restarted = false;
    let mut seq = 0u64;
    let mut first_send = None;
    let mut last_progress = Instant::now();
    let mut first_send_cpu = Duration::ZERO;
    loop {
        peer.drain(None);
        if let Ok(answer) = from_b.try_recv() {
            peer.pc.set_remote_description(Instant::now(), answer)?;
            peer.drain(None);
        }
        if peer.channel == Some(cid) {
            while seq < p.count {
                if Some(seq) == p.restart_at && !restarted {
                    restarted = true;
                    peer.pc.restart_ice();
                    to_b.send(peer.offer()?)?;
                    peer.drain(None);
                }
                let Some(mut dc) = peer.pc.data_channel(cid) else {
                    break;
                };
                if dc.outstanding_bytes() > HIGH_WATER {
                    break;
                }
                if first_send.is_none() {
                    first_send = Some(Instant::now());
                    first_send_cpu = process_cpu();
                }
                dc.send(Instant::now(), BytesMut::from(&payload(seq, p.size)[..]))?;
                seq += 1;
                last_progress = Instant::now();
                peer.drain(None);
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
    to_a: mpsc::Sender<RTCSessionDescription>,
    from_a: mpsc::Receiver<RTCSessionDescription>,
    finished: Arc<AtomicBool>,
) -> Result<(Tracker, Option<Instant>), BoxError> {
    let mut peer = Peer::new(&p)?;
    let offer = from_a.recv_timeout(SETUP_LIMIT)?;
    to_a.send(peer.answer(offer)?)?;
    let mut tracker = Tracker::default();
    let mut last_count = 0;
    let mut last_progress = Instant::now();
    loop {
        peer.drain(Some(&mut tracker));
        if tracker.done(p.count) {
            break;
        }
        if let Ok(offer) = from_a.try_recv() {
            to_a.send(peer.answer(offer)?)?;
            peer.drain(Some(&mut tracker));
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
    peer.drain(None);
    Ok((tracker, peer.opened))
}

/// One transfer (see [`Params`]).
pub fn run(p: Params) -> Result<Outcome, BoxError> {
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
        first_send_cpu: sender.first_send_cpu,
        tracker,
        sent: sender.sent,
        restart_switch: None,
    })
}
