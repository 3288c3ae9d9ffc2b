//! The `sctp_plane` target: an SCTP association after a real handshake, driven by a peer and
//! by forged packets.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use session_core::channel::DataChannelInit;

use super::{check_open, t0, Input};
use crate::channel::link::{wire_len, Message};
use crate::plane::dcep::{self, ChannelParams, Received};
use crate::plane::sctp::{SctpEvent, SctpSession, MAX_INCOMING_MESSAGE};

/// The SCTP port both ends use (as browsers do).
const PORT: u16 = 5000;
/// The peer's `a=max-message-size` as we read it.
const MAX_MESSAGE: u64 = 262_144;
/// Steps per input (beyond: ignored), so that one input stays fast.
const MAX_STEPS: usize = 256;
/// Rounds of packet exchange after a step before the pair must be at rest.
const MAX_ROUNDS: usize = 10_000;
/// Largest forged packet body (SCTP over DTLS: about an MTU).
const MAX_FORGED: usize = 1200;

/// The operations an input encodes, one byte each then their arguments (see [`sctp_plane`]).
pub(crate) mod op {
    pub(crate) const FORGED: u8 = 0;
    pub(crate) const PEER_OPEN: u8 = 1;
    pub(crate) const PEER_RAW_DCEP: u8 = 2;
    pub(crate) const PEER_SEND: u8 = 3;
    pub(crate) const PEER_SEND_LARGE: u8 = 4;
    pub(crate) const PEER_RESET: u8 = 5;
    pub(crate) const OPEN: u8 = 6;
    pub(crate) const SEND: u8 = 7;
    pub(crate) const RESET: u8 = 8;
    pub(crate) const READ: u8 = 9;
    pub(crate) const ADVANCE: u8 = 10;
    pub(crate) const TIMERS: u8 = 11;
    pub(crate) const LOSE: u8 = 12;
    pub(crate) const ABORT: u8 = 13;
    pub(crate) const COUNT: u8 = 14;
}

/// Forged packet: the body as it is.
pub(crate) const FORGE_RAW: u8 = 0;
/// Forged packet: the u32 at body offset 4 (a DATA chunk's TSN, a FORWARD TSN's new cumulative
/// TSN) becomes the peer's last TSN plus a signed delta.
pub(crate) const FORGE_PEER_TSN: u8 = 1;
/// Forged packet: the u32 at body offset 4 (a SACK's cumulative TSN ack) becomes our last TSN
/// plus a signed delta.
pub(crate) const FORGE_OUR_TSN: u8 = 2;

/// An SCTP association after a real handshake with a peer association (both our
/// [`SctpSession`], on a simulated clock), then the operations of the input:
/// `[options] ([op] [arguments])*` (options bit 0: we are the DTLS client's side and send the
/// INIT). The peer opens channels with DCEP (any channel type, label and protocol), writes
/// raw DCEP messages and messages of any size (also above our `max-message-size`) on
/// negotiated streams, resets streams; we open, send, reset and read; time passes; packets are
/// lost; either side aborts; and forged packets arrive with the association's header
/// (ports, verification tag) and a valid checksum, their chunks the fuzzer's, with a TSN
/// relative to the peer's or ours where the chunk has one.
///
/// Invariants (besides no panic and no hang: after each step the pair comes to rest): a
/// `RemoteOpen` carries settings that passed DCEP parsing ([`dcep`](super::dcep)'s checks),
/// and, while every packet is the peer's, exactly the settings the peer's first DCEP message
/// on that stream gave; no stream the peer did not write on is reported; a stream the peer
/// opened with DCEP is never taken for a negotiated one (`RemoteData`); no message read is
/// larger than our `max-message-size`; bytes released never exceed bytes sent on a stream;
/// nothing is reported after the association closed; an honest peer never makes it fail; the
/// streams kept are bounded by the streams used.
pub fn sctp_plane(data: &[u8]) {
    let mut input = Input::new(data);
    let options = input.u8();
    let mut h = Harness::new(options & 1 != 0);
    h.connect();
    let mut steps = 0;
    while !input.is_empty() && steps < MAX_STEPS {
        h.step(&mut input);
        h.pump();
        steps += 1;
    }
    h.finish();
}

/// What the peer wrote first on a stream (since it last reset it).
#[derive(Debug, Clone)]
enum First {
    Open(ChannelParams),
    Dcep(Vec<u8>),
    Data,
}

#[derive(Debug, Default)]
struct PeerStream {
    first: Option<First>,
    /// The stream was reset (by either side) or aborted: what arrives next is a new story.
    reset: bool,
}

struct Harness {
    now: Instant,
    us: SctpSession,
    peer: SctpSession,
    /// The first 8 bytes (ports, verification tag) of the peer's packets.
    header: Option<[u8; 8]>,
    /// The last TSN of a DATA chunk (or the initial TSN - 1) each side sent.
    peer_tsn: u32,
    our_tsn: u32,
    /// No forged packet so far: every packet is one the peer's association sent.
    honest: bool,
    /// Packets to drop: peer to us, us to peer.
    drop: [u8; 2],
    /// Some packet was dropped.
    lossy: bool,
    /// Either side aborted.
    aborted: bool,
    /// Our association reported `Connected`.
    connected: bool,
    /// Our association reported `Closed` or `Lost`.
    ended: bool,
    peer_streams: BTreeMap<u16, PeerStream>,
    /// Streams we opened.
    ours: BTreeMap<u16, ()>,
    /// Streams reported to us by the association (opened, data, readable).
    reported: BTreeMap<u16, ()>,
    sent: HashMap<u16, usize>,
    released: HashMap<u16, usize>,
    /// Peer's streams with data to read.
    peer_readable: Vec<u16>,
}

impl Harness {
    fn new(us_client: bool) -> Self {
        let now = t0();
        let us = SctpSession::new(us_client, PORT, MAX_MESSAGE, now).expect("our SCTP");
        // The peer takes any size (`a=max-message-size:0`): it may send us more than we take.
        let peer = SctpSession::new(!us_client, PORT, 0, now).expect("peer SCTP");
        Self {
            now,
            us,
            peer,
            header: None,
            peer_tsn: 0,
            our_tsn: 0,
            honest: true,
            drop: [0; 2],
            lossy: false,
            aborted: false,
            connected: false,
            ended: false,
            peer_streams: BTreeMap::new(),
            ours: BTreeMap::new(),
            reported: BTreeMap::new(),
            sent: HashMap::new(),
            released: HashMap::new(),
            peer_readable: Vec::new(),
        }
    }

    fn connect(&mut self) {
        for _ in 0..64 {
            self.pump();
            if self.us.is_connected() && self.peer.is_connected() {
                return;
            }
            self.timers(1);
        }
        panic!("the SCTP handshake did not complete");
    }

    fn stream_id(input: &mut Input<'_>) -> u16 {
        let b = input.u8();
        if b & 0x80 != 0 {
            input.u16()
        } else {
            u16::from(b & 0x0f)
        }
    }

    fn params(input: &mut Input<'_>) -> ChannelParams {
        let kind = input.u8();
        let value = input.u16();
        let label_len = usize::from(input.u8() % 16);
        let label = String::from_utf8_lossy(input.bytes(label_len)).into_owned();
        let protocol_len = usize::from(input.u8() % 16);
        let protocol = String::from_utf8_lossy(input.bytes(protocol_len)).into_owned();
        let init = DataChannelInit {
            ordered: kind & 1 == 0,
            max_retransmits: (kind & 6 == 2).then_some(value),
            max_packet_life_time: (kind & 6 == 4).then_some(value),
            protocol,
            negotiated: None,
        };
        ChannelParams::new(&label, &init)
    }

    fn step(&mut self, input: &mut Input<'_>) {
        let now = self.now;
        let o = input.u8() % op::COUNT;
        match o {
            op::FORGED => {
                let how = input.u8();
                let delta = i32::from(input.u8() as i8);
                let body = input.field();
                self.forged(how, delta, &body[..body.len().min(MAX_FORGED)]);
            }
            op::PEER_OPEN => {
                let id = Self::stream_id(input);
                let params = Self::params(input);
                if self.peer.open(now, id, &params, false).is_ok() {
                    self.peer_wrote(id, First::Open(params));
                }
            }
            op::PEER_RAW_DCEP => {
                let id = Self::stream_id(input);
                let bytes = input.field();
                let _ = self.peer.open(now, id, &reliable(), true);
                self.peer
                    .send_raw_for_tests(now, id, Bytes::copy_from_slice(bytes));
                self.peer_wrote(id, First::Dcep(bytes.to_vec()));
            }
            op::PEER_SEND | op::PEER_SEND_LARGE => {
                let large = o == op::PEER_SEND_LARGE;
                let id = Self::stream_id(input);
                let is_string = input.u8() & 1 != 0;
                let data = if large {
                    let n = usize::from(input.u16()) * 8;
                    Bytes::from(vec![input.u8(); n])
                } else {
                    Bytes::copy_from_slice(input.field())
                };
                let _ = self.peer.open(now, id, &reliable(), true);
                if self.peer.send(now, id, data, is_string).is_ok() {
                    self.peer_wrote(id, First::Data);
                }
            }
            op::PEER_RESET => {
                let id = Self::stream_id(input);
                self.peer.reset(now, id);
                self.peer_streams.entry(id).or_default().reset = true;
            }
            op::OPEN => {
                let id = Self::stream_id(input);
                let negotiated = input.u8() & 1 != 0;
                let params = Self::params(input);
                if self.us.open(now, id, &params, negotiated).is_ok() {
                    self.ours.insert(id, ());
                }
            }
            op::SEND => {
                let id = Self::stream_id(input);
                let is_string = input.u8() & 1 != 0;
                let data = input.field();
                let len = wire_len(data.len());
                if self
                    .us
                    .send(now, id, Bytes::copy_from_slice(data), is_string)
                    .is_ok()
                {
                    *self.sent.entry(id).or_default() += len;
                }
            }
            op::RESET => {
                let id = Self::stream_id(input);
                self.us.reset(now, id);
                self.peer_streams.entry(id).or_default().reset = true;
            }
            op::READ => self.read_ours(),
            op::ADVANCE => {
                self.now += Duration::from_millis(u64::from(input.u16()));
                self.fire();
            }
            op::TIMERS => self.timers(usize::from(input.u8() % 8) + 1),
            op::LOSE => {
                let b = input.u8();
                self.drop[usize::from(b & 1)] = (b >> 1) % 8;
            }
            op::ABORT => {
                self.aborted = true;
                if input.u8() & 1 == 0 {
                    self.peer.abort();
                } else {
                    self.us.abort();
                }
            }
            _ => unreachable!("op % COUNT"),
        }
    }

    fn peer_wrote(&mut self, id: u16, first: First) {
        let s = self.peer_streams.entry(id).or_default();
        if s.first.is_none() {
            s.first = Some(first);
        }
    }

    /// A packet with the association's header and a valid checksum around the fuzzer's chunks.
    fn forged(&mut self, how: u8, delta: i32, body: &[u8]) {
        let Some(header) = self.header else { return };
        self.honest = false;
        let mut packet = Vec::with_capacity(12 + body.len());
        packet.extend_from_slice(&header);
        packet.extend_from_slice(&[0; 4]);
        packet.extend_from_slice(body);
        let base = match how % 3 {
            FORGE_PEER_TSN => Some(self.peer_tsn),
            FORGE_OUR_TSN => Some(self.our_tsn),
            _ => None,
        };
        if let (Some(base), true) = (base, packet.len() >= 20) {
            let tsn = base.wrapping_add_signed(delta);
            packet[16..20].copy_from_slice(&tsn.to_be_bytes());
        }
        let crc = crc32c(&packet);
        packet[8..12].copy_from_slice(&crc.to_le_bytes());
        self.us.handle_packet(self.now, Bytes::from(packet));
    }

    /// Fires the timers that are due.
    fn fire(&mut self) {
        let now = self.now;
        for s in [&mut self.us, &mut self.peer] {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
            }
        }
    }

    /// Jumps to the next timer `n` times, exchanging packets after each.
    fn timers(&mut self, n: usize) {
        for _ in 0..n {
            let next = [self.us.poll_timeout(), self.peer.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else { return };
            self.now = self.now.max(next);
            self.fire();
            self.pump();
        }
    }

    /// Exchanges packets until neither side has any to send; checks every event.
    fn pump(&mut self) {
        for _ in 0..MAX_ROUNDS {
            let mut moved = false;
            let mut out = Vec::new();
            self.peer.poll_transmit(self.now, &mut out);
            for p in out.drain(..) {
                moved = true;
                if p.len() >= 12 {
                    let mut h = [0u8; 8];
                    h.copy_from_slice(&p[..8]);
                    self.header = Some(h);
                }
                note_tsn(&p, &mut self.peer_tsn);
                if self.drop[0] > 0 {
                    self.drop[0] -= 1;
                    self.lossy = true;
                    continue;
                }
                self.us.handle_packet(self.now, p);
            }
            self.us.poll_transmit(self.now, &mut out);
            for p in out.drain(..) {
                moved = true;
                note_tsn(&p, &mut self.our_tsn);
                if self.drop[1] > 0 {
                    self.drop[1] -= 1;
                    self.lossy = true;
                    continue;
                }
                self.peer.handle_packet(self.now, p);
            }
            while let Some(ev) = self.us.poll_event() {
                moved = true;
                self.check(ev);
            }
            while let Some(ev) = self.peer.poll_event() {
                moved = true;
                match ev {
                    SctpEvent::Readable { stream_id } => self.peer_readable.push(stream_id),
                    SctpEvent::StreamClosed { stream_id } => {
                        self.peer_streams.entry(stream_id).or_default().reset = true;
                    }
                    _ => {}
                }
            }
            // The peer reads everything (its application keeps up).
            for id in std::mem::take(&mut self.peer_readable) {
                while self.peer.read(id).is_some() {}
            }
            if !moved {
                return;
            }
        }
        panic!("the pair is not at rest after {MAX_ROUNDS} rounds of packets");
    }

    /// Checks one event of ours.
    fn check(&mut self, ev: SctpEvent) {
        assert!(!self.ended, "{ev:?} after the association ended");
        let honest = self.honest;
        match ev {
            SctpEvent::Connected => {
                assert!(!self.connected, "connected twice");
                self.connected = true;
            }
            SctpEvent::Closed => self.ended = true,
            SctpEvent::Lost(e) => {
                assert!(!honest || self.aborted, "an honest peer made us fail: {e}");
                self.ended = true;
            }
            SctpEvent::RemoteOpen { stream_id, params } => {
                check_open(&params);
                self.reported(stream_id);
                let peer = self.peer_streams.get(&stream_id);
                if let (
                    true,
                    Some(PeerStream {
                        first: Some(first),
                        reset: false,
                    }),
                ) = (honest, peer)
                {
                    let want = match first {
                        First::Open(p) => Some(p.clone()),
                        First::Dcep(raw) => match dcep::parse(raw) {
                            Ok(Received::Open(p)) => Some(p),
                            _ => None,
                        },
                        First::Data => None,
                    };
                    assert_eq!(
                        want.as_ref(),
                        Some(&params),
                        "RemoteOpen on stream {stream_id} after {first:?}"
                    );
                }
            }
            SctpEvent::RemoteData { stream_id, first } => {
                assert_message(&first);
                self.reported(stream_id);
                if let (
                    true,
                    Some(PeerStream {
                        first: Some(First::Open(p)),
                        reset: false,
                    }),
                ) = (honest, self.peer_streams.get(&stream_id))
                {
                    panic!("stream {stream_id} opened with DCEP ({p:?}) read as negotiated data");
                }
            }
            SctpEvent::Refused { stream_id, .. } => {
                // We reset the stream: what the peer writes on it next is a new story.
                self.reported(stream_id);
                self.peer_streams.entry(stream_id).or_default().reset = true;
            }
            SctpEvent::Readable { stream_id } => {
                if !self.ours.contains_key(&stream_id) {
                    self.reported(stream_id);
                }
            }
            SctpEvent::Released { stream_id, bytes } => {
                let released = self.released.entry(stream_id).or_default();
                *released += bytes;
                let sent = self.sent.get(&stream_id).copied().unwrap_or(0);
                assert!(
                    *released <= sent,
                    "stream {stream_id}: {released} bytes released of {sent} sent"
                );
            }
            SctpEvent::StreamClosed { stream_id } => {
                self.peer_streams.entry(stream_id).or_default().reset = true;
            }
        }
    }

    /// A stream the association reported: while honest, one the peer wrote on.
    fn reported(&mut self, id: u16) {
        if self.honest {
            assert!(
                self.peer_streams.contains_key(&id) || self.ours.contains_key(&id),
                "stream {id} reported, the peer never wrote on it"
            );
        }
        self.reported.insert(id, ());
    }

    fn read_ours(&mut self) {
        let ids: Vec<u16> = self
            .reported
            .keys()
            .chain(self.ours.keys())
            .copied()
            .collect();
        for id in ids {
            while let Some(m) = self.us.read(id) {
                assert_message(&m);
            }
        }
    }

    /// Runs the timers for a while (no more loss), then checks what is kept.
    fn finish(&mut self) {
        self.drop = [0; 2];
        self.timers(16);
        self.read_ours();
        if self.honest {
            let used = self.peer_streams.len() + self.ours.len();
            assert!(
                self.us.stream_count() <= used,
                "{} streams kept, {used} used",
                self.us.stream_count()
            );
        }
    }
}

fn reliable() -> ChannelParams {
    ChannelParams::new("", &DataChannelInit::default())
}

fn assert_message(m: &Message) {
    let len = match m {
        Message::Binary(b) => b.len(),
        // Lossy UTF-8 may triple a byte (U+FFFD).
        Message::Text(t) => t.len() / 3,
    };
    assert!(len <= MAX_INCOMING_MESSAGE, "a message of {len} bytes read");
}

/// Remembers the TSN of the last DATA chunk (or the initial TSN of an INIT/INIT ACK) in `packet`.
fn note_tsn(packet: &[u8], last: &mut u32) {
    let u32_at = |i: usize| {
        packet
            .get(i..i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut at = 12;
    while at + 4 <= packet.len() {
        let kind = packet[at];
        let len = usize::from(u16::from_be_bytes([packet[at + 2], packet[at + 3]]));
        if len < 4 {
            return;
        }
        match kind {
            0 => {
                if let Some(tsn) = u32_at(at + 4) {
                    *last = tsn;
                }
            }
            1 | 2 => {
                if let Some(tsn) = u32_at(at + 16) {
                    *last = tsn.wrapping_sub(1);
                }
            }
            _ => {}
        }
        at += (len + 3) & !3;
    }
}

/// CRC-32C (Castagnoli), SCTP's checksum (RFC 9260 appendix A).
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::crc32c;

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }
}
