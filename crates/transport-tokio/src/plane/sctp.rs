//! The SCTP association of the data transport on the sans-IO `rtc-sctp`, and its streams as
//! data channels: DCEP opens and acknowledgements, negotiated channels, streams the peer started
//! (classified by their first message), reliability settings, sends with the buffered amount
//! released as the peer acknowledges, reads that leave unread data in SCTP (its receive window
//! is the flow control), stream resets.
//!
//! No I/O and no clock: SCTP packets come in through [`SctpSession::handle_packet`] (from DTLS),
//! go out through [`SctpSession::poll_transmit`] (to DTLS).

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rtc_sctp::{
    Association, AssociationError, AssociationHandle, ClientConfig, DatagramEvent, Endpoint,
    EndpointConfig, Event, Payload, PayloadProtocolIdentifier as Ppi, ReliabilityType,
    ServerConfig, StreamEvent, TimerConfig, TransportConfig,
};
use rtc_shared::TransportProtocol;

use super::dcep::{self, ChannelParams, Received};
use crate::channel::link::Message;
use crate::error::TransportError;

/// The association's one peer, whatever path carries it (placeholders, as for DTLS).
const LOCAL: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1));
const PEER: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 2));

/// SCTP's retransmission timer (RTO) before any RTT measurement, and its floor: what
/// libwebrtc's dcsctp uses (500 / 400 ms) instead of RFC 9260's 1 s, so one lost packet that
/// only the timer can recover (the tail of a burst, a lost retransmission) costs 0.4 s, not 1 s.
/// The floor stays above the peer's delayed-SACK time (200 ms in every stack we talk to).
const RTO_INITIAL_MS: u64 = 500;
const RTO_MIN_MS: u64 = 400;
/// How far the timer backs off while nothing is acknowledged (never below the RTO measured from
/// the RTT): the longest a path that came back can wait for SCTP to try again, when no ICE event
/// says so (a short outage on the same path). RFC 9260 lets it grow to 60 s.
const MAX_BACKOFF_MS: u64 = 1_000;

/// The largest message we accept (what our SDP's `a=max-message-size` says).
pub(crate) const MAX_INCOMING_MESSAGE: usize = crate::channel::link::MAX_INCOMING_MESSAGE;
/// Our receive window: how much the peer may have in flight to us, and how much unread data
/// SCTP holds for channels whose application does not read.
const RECEIVE_WINDOW: u32 = 1024 * 1024;

/// What the association reports.
#[derive(Debug)]
pub(crate) enum SctpEvent {
    Connected,
    /// The association ended normally: the peer closed it (an ABORT with "user initiated",
    /// as a browser's `close()` sends) or we did.
    Closed,
    /// The association failed: its handshake, or a protocol error.
    Lost(TransportError),
    /// The peer opened a channel with DCEP (already acknowledged).
    RemoteOpen {
        stream_id: u16,
        params: ChannelParams,
    },
    /// The peer wrote on a stream without DCEP (a negotiated channel of its side): its first
    /// message.
    RemoteData {
        stream_id: u16,
        first: Message,
    },
    /// A stream the peer started was refused (bad DCEP, reset before its first message).
    Refused {
        stream_id: u16,
        reason: String,
    },
    /// An open stream has messages to [`read`](SctpSession::read).
    Readable {
        stream_id: u16,
    },
    /// Bytes of messages sent on the stream left the send buffer (acknowledged or abandoned).
    Released {
        stream_id: u16,
        bytes: usize,
    },
    /// The stream was reset (by either side) or the association ended.
    StreamClosed {
        stream_id: u16,
    },
}

/// What [`SctpSession::open`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Opened {
    /// The stream is ours, open for sending.
    Open,
    /// A negotiated channel's stream exists already: the peer started it.
    Taken,
}

#[derive(Debug)]
struct StreamInfo {
    /// Started by the peer and its first message not read yet.
    unclassified: bool,
    /// DCEP bytes sent on the stream not released yet (they are not the application's).
    dcep_outstanding: usize,
    /// A channel we opened with DCEP: its settings, applied when the peer's ACK arrives. Until
    /// then its messages go reliable and ordered (RFC 8832 sec. 6), so that none overtakes
    /// the OPEN and reaches the peer as a stream without DCEP.
    until_ack: Option<ChannelParams>,
}

/// The association and its streams.
pub(crate) struct SctpSession {
    endpoint: Endpoint,
    assoc: Option<(AssociationHandle, Association)>,
    connected: bool,
    lost: bool,
    /// The largest message we may send (the peer's `a=max-message-size`).
    send_limit: usize,
    streams: BTreeMap<u16, StreamInfo>,
    /// Why the association's streams were closed, as it said last.
    close_reason: Option<AssociationError>,
    events: VecDeque<SctpEvent>,
    /// Inbound messages dropped for being larger than [`MAX_INCOMING_MESSAGE`].
    pub(crate) oversized_dropped: u64,
    /// Inbound packets dropped before `rtc-sctp` saw them ([`chunks_fit`],
    /// [`SctpSession::forward_tsn_in_reach`]).
    pub(crate) malformed_dropped: u64,
    /// The highest TSN the peer is known to have assigned (its INIT's initial TSN - 1, then
    /// DATA and FORWARD TSN chunks), serial arithmetic.
    peer_tsn: Option<u32>,
}

impl std::fmt::Debug for SctpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SctpSession")
            .field("connected", &self.connected)
            .field("lost", &self.lost)
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

impl SctpSession {
    /// A new association: the DTLS client's side sends INIT (`client`), the server's side
    /// answers the peer's INIT. A peer that sends INIT from both sides (simultaneous open, as
    /// browsers do) is answered by our INIT ACK and our INIT's answer alike.
    pub(crate) fn new(
        client: bool,
        local_port: u16,
        send_limit: u64,
        now: Instant,
    ) -> Result<Self, TransportError> {
        let send_limit = match send_limit {
            // `a=max-message-size:0`: the peer takes any size; bounded here by what one
            // message may reasonably hold in our send buffer.
            0 => 16 * 1024 * 1024,
            n => usize::try_from(n).unwrap_or(usize::MAX).min(1 << 30),
        };
        // Retransmit DATA, stream resets and SACKs for as long as it takes: `rtc-sctp` stops
        // its T3 timer for good after 5 retransmissions (about a minute with the doubling
        // RTO), which would strand every outstanding message after a longer outage that ICE
        // recovers from. Whether the path is alive is ICE consent's call, not SCTP's.
        let timers = TimerConfig {
            max_t3_rtx_retrans: usize::MAX,
            max_reconfig_retrans: usize::MAX,
            max_ack_retrans: usize::MAX,
            rto_initial_ms: RTO_INITIAL_MS,
            rto_min_ms: RTO_MIN_MS,
            max_backoff_ms: Some(MAX_BACKOFF_MS),
            ..TimerConfig::default()
        };
        let transport = TransportConfig::default()
            .with_timer_config(timers)
            .with_sctp_port(local_port)
            .with_max_receive_buffer_size(RECEIVE_WINDOW)
            .with_max_message_size(u32::try_from(send_limit).unwrap_or(u32::MAX));
        let server = (!client).then(|| Arc::new(ServerConfig::new(transport.clone())));
        let mut endpoint = Endpoint::new(
            LOCAL,
            TransportProtocol::UDP,
            Arc::new(EndpointConfig::default()),
            server,
        );
        let assoc = if client {
            let (h, a) = endpoint
                .connect(now, ClientConfig::new(transport), PEER)
                .map_err(|e| TransportError::Sctp(e.to_string()))?;
            Some((h, a))
        } else {
            None
        };
        Ok(Self {
            endpoint,
            assoc,
            connected: false,
            lost: false,
            send_limit,
            streams: BTreeMap::new(),
            close_reason: None,
            events: VecDeque::new(),
            oversized_dropped: 0,
            malformed_dropped: 0,
            peer_tsn: None,
        })
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected && !self.lost
    }

    /// How many streams the session keeps state for (the `sctp_plane` fuzz target bounds it).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// The largest message a channel may send.
    pub(crate) fn send_limit(&self) -> usize {
        self.send_limit
    }

    /// One SCTP packet from the peer (a DTLS application record).
    pub(crate) fn handle_packet(&mut self, now: Instant, packet: Bytes) {
        if self.lost {
            return;
        }
        if !chunks_fit(&packet) || !self.forward_tsn_in_reach(&packet) {
            // rtc-sctp 0.21.1 would panic or loop on it (see both checks).
            self.malformed_dropped += 1;
            tracing::debug!(len = packet.len(), "malformed SCTP packet dropped");
            return;
        }
        if let Some((h, event)) = self.endpoint.handle(now, PEER, None, packet) {
            match event {
                DatagramEvent::NewAssociation(a) if self.assoc.is_none() => {
                    self.assoc = Some((h, a));
                }
                DatagramEvent::AssociationEvent(ev) => {
                    if let Some((ours, a)) = &mut self.assoc {
                        if *ours == h {
                            a.handle_event(ev);
                        }
                    }
                }
                _ => {}
            }
        }
        self.process(now);
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if let Some((_, a)) = &mut self.assoc {
            a.handle_timeout(now);
        }
        self.process(now);
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.assoc.as_ref().and_then(|(_, a)| a.poll_timeout())
    }

    /// The path changed or came back: retransmit what is outstanding now, drop the timer's
    /// backoff, and acknowledge what we received (see `rtc_sctp::Association::retransmit_now`).
    pub(crate) fn retransmit_now(&mut self, now: Instant) {
        if let Some((_, a)) = &mut self.assoc {
            a.retransmit_now(now);
        }
        self.process(now);
    }

    /// DATA chunks received, duplicates included (tests count retransmissions with it).
    #[cfg(test)]
    pub(crate) fn data_chunks_in(&self) -> u64 {
        self.assoc
            .as_ref()
            .map_or(0, |(_, a)| a.stats().get_num_datas())
    }

    /// The association (tests read its counters and congestion state).
    #[cfg(test)]
    pub(crate) fn association(&self) -> Option<&Association> {
        self.assoc.as_ref().map(|(_, a)| a)
    }

    /// The SCTP packets to send now (each goes into one DTLS record).
    pub(crate) fn poll_transmit(&mut self, now: Instant, out: &mut Vec<Bytes>) {
        let Some((_, a)) = &mut self.assoc else {
            return;
        };
        while let Some(t) = a.poll_transmit(now) {
            if let Payload::RawEncode(packets) = t.message {
                out.extend(packets);
            }
        }
    }

    pub(crate) fn poll_event(&mut self) -> Option<SctpEvent> {
        self.events.pop_front()
    }

    /// Takes the association's events after an input.
    fn process(&mut self, now: Instant) {
        let Some((h, a)) = &mut self.assoc else {
            return;
        };
        let h = *h;
        let mut readable = Vec::new();
        while let Some(event) = a.poll() {
            match event {
                Event::Connected => {
                    self.connected = true;
                    self.events.push_back(SctpEvent::Connected);
                }
                Event::HandshakeFailed { reason } => {
                    self.lost = true;
                    self.events
                        .push_back(SctpEvent::Lost(TransportError::Sctp(reason.to_string())));
                }
                Event::AssociationLost { id, reason } => {
                    self.close_reason = Some(reason);
                    if self.streams.remove(&id).is_some() {
                        self.events
                            .push_back(SctpEvent::StreamClosed { stream_id: id });
                    }
                }
                Event::Stream(StreamEvent::Opened { .. }) => {
                    while let Some(s) = a.accept_stream() {
                        let id = s.stream_identifier();
                        self.streams.entry(id).or_insert(StreamInfo {
                            unclassified: true,
                            dcep_outstanding: 0,
                            until_ack: None,
                        });
                    }
                }
                Event::Stream(StreamEvent::Readable { id }) => readable.push(id),
                Event::Stream(StreamEvent::BufferedAmountReleased { id, n_bytes }) => {
                    let Some(info) = self.streams.get_mut(&id) else {
                        continue;
                    };
                    let dcep = info.dcep_outstanding.min(n_bytes);
                    info.dcep_outstanding -= dcep;
                    if n_bytes > dcep {
                        self.events.push_back(SctpEvent::Released {
                            stream_id: id,
                            bytes: n_bytes - dcep,
                        });
                    }
                }
                _ => {}
            }
        }
        while let Some(ev) = a.poll_endpoint_event() {
            self.endpoint.handle_event(h, ev);
        }
        // A server's association stays CLOSED until the COOKIE ECHO (RFC 9260 sec. 5.1):
        // closed only counts once it was up; a failed handshake reports itself.
        let closed = self.connected && a.is_closed();
        for id in readable {
            let unclassified = self.streams.get(&id).is_some_and(|s| s.unclassified);
            if unclassified {
                self.classify(now, id);
            } else if self.streams.contains_key(&id) {
                self.events.push_back(SctpEvent::Readable { stream_id: id });
            }
        }
        if closed && !self.lost {
            self.lost = true;
            for (id, _) in std::mem::take(&mut self.streams) {
                self.events
                    .push_back(SctpEvent::StreamClosed { stream_id: id });
            }
            self.events.push_back(match self.close_reason.take() {
                // The peer's "user initiated" ABORT reads as a reset; a close of ours or the
                // peer's SHUTDOWN are normal ends too.
                None
                | Some(AssociationError::Reset)
                | Some(AssociationError::AssociationClosed)
                | Some(AssociationError::ApplicationClosed)
                | Some(AssociationError::LocallyClosed) => SctpEvent::Closed,
                Some(reason) => SctpEvent::Lost(TransportError::Sctp(reason.to_string())),
            });
        }
    }

    /// Reads the first message of a stream the peer started: a DCEP OPEN (acknowledged here)
    /// or data.
    fn classify(&mut self, now: Instant, id: u16) {
        // A first message above our limit is refused with the stream, not skipped: the
        // next message would be taken for the stream's first (a DCEP OPEN after the peer
        // already wrote data on it would open a channel the peer never asked for).
        let first = match self.read_raw(id, false) {
            Ok(Some(m)) => m,
            Ok(None) => return, // not a whole message yet
            Err(reason) => return self.refuse(now, id, reason),
        };
        let (data, ppi) = first;
        if let Some(info) = self.streams.get_mut(&id) {
            info.unclassified = false;
        }
        if ppi != Ppi::Dcep {
            self.events.push_back(SctpEvent::RemoteData {
                stream_id: id,
                first: dcep::message_of(data, ppi),
            });
            // More may be queued behind the first message.
            self.events.push_back(SctpEvent::Readable { stream_id: id });
            return;
        }
        let params = match dcep::parse(&data) {
            Ok(Received::Open(params)) => params,
            Ok(Received::Ack) => {
                return self.refuse(now, id, "DATA_CHANNEL_ACK before any OPEN".to_owned())
            }
            Err(e) => return self.refuse(now, id, format!("bad DCEP message: {e}")),
        };
        let acked = dcep::ack_message().and_then(|ack| {
            let ack = ack.freeze();
            let len = ack.len();
            let (unordered, kind, value) = params.reliability();
            let a = &mut self.assoc.as_mut().ok_or("no association")?.1;
            let mut s = a.stream(id).map_err(|e| e.to_string())?;
            s.set_reliability_params(unordered, kind, value)
                .map_err(|e| e.to_string())?;
            s.write_sctp(now, &ack, Ppi::Dcep)
                .map_err(|e| e.to_string())?;
            Ok(len)
        });
        match acked {
            Ok(len) => {
                if let Some(info) = self.streams.get_mut(&id) {
                    info.dcep_outstanding += len;
                }
                self.events.push_back(SctpEvent::RemoteOpen {
                    stream_id: id,
                    params,
                });
                self.events.push_back(SctpEvent::Readable { stream_id: id });
            }
            Err(e) => self.refuse(now, id, format!("DCEP ack not sent: {e}")),
        }
    }

    fn refuse(&mut self, now: Instant, id: u16, reason: String) {
        tracing::debug!(stream_id = id, %reason, "stream the peer started refused");
        self.reset(now, id);
        self.events.push_back(SctpEvent::Refused {
            stream_id: id,
            reason,
        });
    }

    /// The next whole message of a stream, DCEP included; `Ok(None)`: none yet. A message
    /// larger than [`MAX_INCOMING_MESSAGE`] is dropped and counted (`skip_oversized`, the
    /// stream goes on) or an error.
    fn read_raw(&mut self, id: u16, skip_oversized: bool) -> Result<Option<(Bytes, Ppi)>, String> {
        let Some((_, a)) = &mut self.assoc else {
            return Err("no association".to_owned());
        };
        loop {
            let mut s = a.stream(id).map_err(|e| e.to_string())?;
            let Some(chunks) = s.read_sctp().map_err(|e| e.to_string())? else {
                return Ok(None);
            };
            match chunks.to_payload(MAX_INCOMING_MESSAGE) {
                Ok(data) => return Ok(Some((data.freeze(), chunks.ppi))),
                Err(_) => {
                    // Larger than we said we take: dropped and counted.
                    self.oversized_dropped += 1;
                    if !skip_oversized {
                        return Err(format!(
                            "a message of {} bytes, above our max-message-size",
                            chunks.len()
                        ));
                    }
                    tracing::warn!(
                        stream_id = id,
                        size = chunks.len(),
                        "message larger than our max-message-size dropped"
                    );
                }
            }
        }
    }

    /// The next application message of an open stream (DCEP acknowledgements are consumed
    /// here); `None` when nothing whole is queued.
    pub(crate) fn read(&mut self, id: u16) -> Option<Message> {
        loop {
            match self.read_raw(id, true) {
                Ok(Some((data, Ppi::Dcep))) => {
                    if matches!(dcep::parse(&data), Ok(Received::Ack)) {
                        self.acknowledged(id);
                    } else {
                        tracing::debug!(stream_id = id, "unexpected DCEP message ignored");
                    }
                }
                Ok(Some((data, ppi))) => return Some(dcep::message_of(data, ppi)),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Is every FORWARD TSN of `packet` within [`MAX_FORWARD_AHEAD`] of the highest TSN the peer
    /// assigned so far? `rtc-sctp` 0.21.1 advances its cumulative TSN to a FORWARD TSN's one
    /// step at a time: one chunk naming a TSN 2^31 ahead kept the driver busy for minutes (found
    /// by the `sctp_plane` fuzz target as a timeout). Also learns the peer's TSNs.
    fn forward_tsn_in_reach(&mut self, packet: &[u8]) -> bool {
        let u32_at = |i: usize| {
            packet
                .get(i..i + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        let ahead = |tsn: u32, of: u32| tsn.wrapping_sub(of) as i32 > 0;
        let within = |tsn: u32, of: u32| tsn.wrapping_sub(of) as i32 <= MAX_FORWARD_AHEAD;
        let mut at = 12;
        while at + 4 <= packet.len() {
            let len = usize::from(u16::from_be_bytes([packet[at + 2], packet[at + 3]]));
            match (packet[at], u32_at(at + 4), u32_at(at + 16)) {
                // INIT / INIT ACK: the initial TSN, during the handshake only (once the
                // association is up, an INIT in a packet would move the reach anywhere).
                (1 | 2, _, Some(initial)) if !self.connected => {
                    self.peer_tsn = Some(initial.wrapping_sub(1));
                }
                // A DATA chunk moves it only within reach: one far ahead is outside any receive
                // window (rtc-sctp drops it), and must not open the way for a FORWARD TSN.
                (0, Some(tsn), _)
                    if self
                        .peer_tsn
                        .is_none_or(|p| ahead(tsn, p) && within(tsn, p)) =>
                {
                    self.peer_tsn = Some(tsn);
                }
                (CT_FORWARD_TSN, Some(tsn), _) => {
                    if let Some(p) = self.peer_tsn {
                        if !within(tsn, p) {
                            return false;
                        }
                        if ahead(tsn, p) {
                            self.peer_tsn = Some(tsn);
                        }
                    }
                }
                _ => {}
            }
            at += len.max(4).next_multiple_of(4);
        }
        true
    }

    /// The peer acknowledged our DCEP OPEN on stream `id`: the channel's settings apply now.
    fn acknowledged(&mut self, id: u16) {
        let Some(params) = self.streams.get_mut(&id).and_then(|s| s.until_ack.take()) else {
            return;
        };
        let Some((_, a)) = &mut self.assoc else {
            return;
        };
        let (unordered, kind, value) = params.reliability();
        if let Ok(mut s) = a.stream(id) {
            if let Err(e) = s.set_reliability_params(unordered, kind, value) {
                tracing::debug!(stream_id = id, error = %e, "channel settings not applied");
            }
        }
    }

    /// Opens our side of a channel on stream `id`: with DCEP unless `negotiated`.
    pub(crate) fn open(
        &mut self,
        now: Instant,
        id: u16,
        params: &ChannelParams,
        negotiated: bool,
    ) -> Result<Opened, TransportError> {
        let failed = |reason: String| TransportError::DataChannel {
            stream_id: id,
            reason,
        };
        if !self.is_connected() {
            return Err(failed("SCTP is not connected".to_owned()));
        }
        let Some((_, a)) = &mut self.assoc else {
            return Err(failed("no association".to_owned()));
        };
        if self.streams.contains_key(&id) {
            return if negotiated {
                Ok(Opened::Taken)
            } else {
                Err(failed("stream id in use".to_owned()))
            };
        }
        // A DCEP channel's own settings wait for the ACK (see `StreamInfo::until_ack`).
        let (unordered, kind, value) = if negotiated {
            params.reliability()
        } else {
            (false, ReliabilityType::Reliable, 0)
        };
        let mut s = a
            .open_stream(id, Ppi::Binary)
            .map_err(|e| failed(e.to_string()))?;
        s.set_reliability_params(unordered, kind, value)
            .map_err(|e| failed(e.to_string()))?;
        let mut dcep_outstanding = 0;
        if !negotiated {
            let open = params.open_message().map_err(failed)?.freeze();
            s.write_sctp(now, &open, Ppi::Dcep)
                .map_err(|e| failed(e.to_string()))?;
            dcep_outstanding = open.len();
        }
        self.streams.insert(
            id,
            StreamInfo {
                unclassified: false,
                dcep_outstanding,
                until_ack: (!negotiated).then(|| params.clone()),
            },
        );
        Ok(Opened::Open)
    }

    /// A negotiated channel takes the stream the peer started: its settings apply from now.
    pub(crate) fn claim(&mut self, id: u16, params: &ChannelParams) {
        let Some((_, a)) = &mut self.assoc else {
            return;
        };
        let (unordered, kind, value) = params.reliability();
        if let Ok(mut s) = a.stream(id) {
            let _ = s.set_reliability_params(unordered, kind, value);
        }
    }

    /// Sends one message on stream `id`.
    pub(crate) fn send(
        &mut self,
        now: Instant,
        id: u16,
        data: Bytes,
        is_string: bool,
    ) -> Result<(), TransportError> {
        let failed = |reason: String| TransportError::DataChannel {
            stream_id: id,
            reason,
        };
        let Some((_, a)) = &mut self.assoc else {
            return Err(failed("no association".to_owned()));
        };
        if !self.streams.contains_key(&id) {
            return Err(failed("stream closed".to_owned()));
        }
        let (payload, ppi) = dcep::wire_of(data, is_string);
        let mut s = a.stream(id).map_err(|e| failed(e.to_string()))?;
        s.write_sctp(now, &payload, ppi)
            .map(|_| ())
            .map_err(|e| failed(e.to_string()))
    }

    /// Writes `data` as a DCEP message on stream `id` (tests of the peer's handling of bad
    /// DCEP, and the `sctp_plane` fuzz target).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn send_raw_for_tests(&mut self, now: Instant, id: u16, data: Bytes) {
        if let Some((_, a)) = &mut self.assoc {
            if let Ok(mut s) = a.stream(id) {
                let _ = s.write_sctp(now, &data, Ppi::Dcep);
            }
        }
    }

    /// Resets stream `id` (RFC 6525); the peer's channel closes. [`SctpEvent::StreamClosed`]
    /// follows when the reset completes.
    pub(crate) fn reset(&mut self, now: Instant, id: u16) {
        let Some((_, a)) = &mut self.assoc else {
            return;
        };
        match a.stream(id) {
            Ok(mut s) => {
                if let Err(e) = s.close(now) {
                    tracing::debug!(stream_id = id, error = %e, "stream reset failed");
                }
            }
            Err(_) => {
                self.streams.remove(&id);
            }
        }
    }

    /// Ends the association at once (an ABORT, as W3C `close()` does).
    pub(crate) fn abort(&mut self) {
        if let Some((_, a)) = &mut self.assoc {
            let _ = a.abort();
        }
        self.lost = true;
        self.streams.clear();
    }
}

/// FORWARD TSN chunk type (RFC 3758).
const CT_FORWARD_TSN: u8 = 192;
/// How far past the highest TSN the peer assigned a FORWARD TSN may reach: more DATA chunks
/// than our receive window holds (1 MiB of chunks of at least 20 bytes) cannot be outstanding.
const MAX_FORWARD_AHEAD: i32 = 1 << 16;

/// ABORT and ERROR chunk types (RFC 9260 sec. 3.3.7, 3.3.10): their values are error causes.
const CT_ABORT: u8 = 6;
const CT_ERROR: u8 = 9;

/// Does every chunk of an SCTP packet fit in it, and every error cause of an ABORT or ERROR
/// chunk in its chunk? `rtc-sctp` 0.21.1 slices an error cause by its length field without
/// checking it against the chunk (found by the `sctp_plane` fuzz target: an ABORT from the
/// peer whose cause claimed 4,112 bytes ended the driver task), so such packets never reach
/// it. The walk over the causes is `rtc-sctp`'s: unpadded cause lengths, up to the chunk's
/// padded end.
pub(crate) fn chunks_fit(packet: &[u8]) -> bool {
    let u16_at = |i: usize| u16::from_be_bytes([packet[i], packet[i + 1]]);
    let mut at = 12;
    while at + 4 <= packet.len() {
        let kind = packet[at];
        let len = usize::from(u16_at(at + 2));
        let value_end = at + len;
        if len < 4 || value_end > packet.len() {
            return false;
        }
        let raw_end = (at + len.next_multiple_of(4)).min(packet.len());
        if kind == CT_ABORT || kind == CT_ERROR {
            let mut off = at + 4;
            while off + 4 <= raw_end {
                if off + 4 > value_end {
                    break; // what is left is padding: rtc-sctp refuses it without panicking
                }
                let cause = usize::from(u16_at(off + 2));
                if cause < 4 || off + cause > value_end {
                    return false;
                }
                off += cause;
            }
        }
        at += len.next_multiple_of(4);
    }
    true
}

#[cfg(test)]
mod chunk_tests {
    use super::chunks_fit;

    fn packet(chunks: &[u8]) -> Vec<u8> {
        let mut p = vec![0x13, 0x88, 0x13, 0x88, 1, 2, 3, 4, 0, 0, 0, 0];
        p.extend_from_slice(chunks);
        p
    }

    #[test]
    fn an_error_cause_longer_than_its_chunk_does_not_fit() {
        // The `sctp_plane` fuzz target's saved crash: ABORT, 16 bytes, cause 3 of 4,112 bytes.
        let crash = packet(&[6, 0, 0, 16, 3, 0, 0x10, 0x10, 0, 0, 0, 0, 0, 0x10, 0, 3]);
        assert!(!chunks_fit(&crash));
        // ERROR with a cause length under its header, a chunk longer than the packet.
        assert!(!chunks_fit(&packet(&[9, 0, 0, 8, 0, 1, 0, 2])));
        assert!(!chunks_fit(&packet(&[0, 3, 0, 40, 0, 0, 0, 1])));
        assert!(!chunks_fit(&packet(&[0, 3, 0, 2])));
    }

    #[test]
    fn real_chunks_fit() {
        // ABORT with "user initiated abort" (cause 12, 4 bytes), as a browser's close sends.
        assert!(chunks_fit(&packet(&[6, 0, 0, 8, 0, 12, 0, 4])));
        // An ERROR with an odd-length cause and its padding, then a DATA chunk.
        assert!(chunks_fit(&packet(&[
            9, 0, 0, 9, 0, 1, 0, 5, 7, 0, 0, 0, 0, 3, 0, 17, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 51,
            b'h', 0, 0, 0,
        ])));
        assert!(chunks_fit(&packet(&[])));
    }
}

#[cfg(test)]
mod forward_tsn_tests {
    use super::*;

    fn packet(chunk: &[u8]) -> Vec<u8> {
        let mut p = vec![0x13, 0x88, 0x13, 0x88, 1, 2, 3, 4, 0, 0, 0, 0];
        p.extend_from_slice(chunk);
        p
    }

    fn forward_tsn(tsn: u32) -> Vec<u8> {
        let mut c = vec![CT_FORWARD_TSN, 0, 0, 8];
        c.extend_from_slice(&tsn.to_be_bytes());
        packet(&c)
    }

    #[test]
    fn a_forward_tsn_far_past_what_the_peer_sent_is_refused() {
        // The `sctp_plane` fuzz target's timeout: rtc-sctp walked up to 2^31 TSNs one by one.
        let mut s = SctpSession::new(false, 5000, 0, Instant::now()).unwrap();
        // INIT with initial TSN 0xffff_fff0 (at offset 16 of the chunk).
        let mut init = vec![1, 0, 0, 20, 0, 0, 0, 9, 0, 1, 0, 0, 0, 1, 0, 1];
        init.extend_from_slice(&0xffff_fff0_u32.to_be_bytes());
        assert!(s.forward_tsn_in_reach(&packet(&init)));
        // Across the wrap, within reach; then 2^31 - 1 ahead of it: refused.
        assert!(s.forward_tsn_in_reach(&forward_tsn(0x0000_0010)));
        assert!(!s.forward_tsn_in_reach(&forward_tsn(0x8000_0000)));
        // A DATA chunk far ahead does not move the reach.
        let mut data = vec![0, 3, 0, 17];
        data.extend_from_slice(&0x4000_0000_u32.to_be_bytes());
        data.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 51, b'x', 0, 0, 0]);
        assert!(s.forward_tsn_in_reach(&packet(&data)));
        assert!(!s.forward_tsn_in_reach(&forward_tsn(0x4000_0000)));
        // Behind the highest TSN (a stale FORWARD TSN): rtc-sctp handles it.
        assert!(s.forward_tsn_in_reach(&forward_tsn(0xffff_fff0)));
        let mut s = SctpSession::new(false, 5000, 0, Instant::now()).unwrap();
        s.handle_packet(Instant::now(), Bytes::from(forward_tsn(5)));
        assert_eq!(
            s.malformed_dropped, 0,
            "nothing known yet: rtc-sctp decides"
        );
    }
}
