//! The send side of one track (sans-IO): packetize frames, keep a retransmission history,
//! answer NACK (resend or RTX), turn PLI/FIR into a keyframe request, write sender reports.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use rtcp::packet::Packet as RtcpPacket;
use rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtcp::receiver_report::ReceiverReport;
use rtcp::sender_report::SenderReport;
use rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtp::packet::Packet;

use crate::error::PacketizeError;
use crate::frame::Frame;
use crate::history::{Resend, RetransmissionHistory};
use crate::packetizer::{Packetizer, PacketizerConfig};
use crate::stats::SenderStats;

/// RTX (RFC 4588) parameters: retransmissions go on their own payload type and SSRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtxConfig {
    /// The RTX payload type (`a=fmtp:<pt> apt=<media pt>`).
    pub payload_type: u8,
    /// The RTX SSRC (`a=ssrc-group:FID`).
    pub ssrc: u32,
    /// First RTX sequence number.
    pub initial_sequence: u16,
}

/// Everything the send side of a track needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendConfig {
    /// Header fields and codec.
    pub packetizer: PacketizerConfig,
    /// RTX, when negotiated; without it NACKed packets are resent as they were.
    pub rtx: Option<RtxConfig>,
    /// Packets kept for retransmission.
    pub history_len: usize,
    /// Least time between two resends of one packet (repeated NACKs within it are ignored).
    pub resend_interval: Duration,
}

impl SendConfig {
    /// A configuration with a 1024-packet history, resends at most every 20 ms, no RTX.
    pub fn new(packetizer: PacketizerConfig) -> Self {
        Self {
            packetizer,
            rtx: None,
            history_len: 1024,
            resend_interval: Duration::from_millis(20),
        }
    }
}

/// The send side of one track. Call order: [`send_frame`](Self::send_frame) for each frame at
/// its time, [`handle_rtcp`](Self::handle_rtcp) for feedback, then drain
/// [`poll_retransmit`](Self::poll_retransmit) and check
/// [`take_keyframe_request`](Self::take_keyframe_request); send a
/// [`sender_report`](Self::sender_report) every second or so.
#[derive(Debug)]
pub struct RtpSendStream {
    packetizer: Packetizer,
    rtx: Option<RtxConfig>,
    rtx_sequence: u16,
    history: RetransmissionHistory,
    resend_interval: Duration,
    retransmit: VecDeque<Packet>,
    keyframe_requested: bool,
    /// Last frame sent: its RTP timestamp and when.
    last_frame: Option<(u32, Instant)>,
    /// Sender reports sent (middle 32 bits of their NTP time, when), newest last, for RTT.
    reports_sent: VecDeque<(u32, Instant)>,
    stats: SenderStats,
}

/// Retransmissions waiting to be written at most; NACKs beyond are refused (a NACK of a few
/// hundred bytes can name thousands of packets: no amplification past this).
const MAX_QUEUED_RETRANSMISSIONS: usize = 512;

/// Sender reports remembered for round-trip time measurement.
const REPORTS_KEPT: usize = 8;

impl RtpSendStream {
    /// A send stream; fails on an invalid packetizer configuration.
    pub fn new(config: SendConfig) -> Result<Self, PacketizeError> {
        Ok(Self {
            packetizer: Packetizer::new(config.packetizer)?,
            rtx_sequence: config.rtx.map_or(0, |r| r.initial_sequence),
            rtx: config.rtx,
            history: RetransmissionHistory::new(config.history_len),
            resend_interval: config.resend_interval,
            retransmit: VecDeque::new(),
            keyframe_requested: false,
            last_frame: None,
            reports_sent: VecDeque::with_capacity(REPORTS_KEPT),
            stats: SenderStats::default(),
        })
    }

    /// Our media SSRC.
    pub fn ssrc(&self) -> u32 {
        self.packetizer.config().ssrc
    }

    /// Counters so far.
    pub fn stats(&self) -> &SenderStats {
        &self.stats
    }

    /// Packetizes a frame sent at `now`; the packets are returned to be written, and kept.
    pub fn send_frame(
        &mut self,
        frame: &Frame,
        now: Instant,
    ) -> Result<Vec<Packet>, PacketizeError> {
        let packets = self.packetizer.packetize(frame)?;
        for p in &packets {
            self.stats.packets_sent += 1;
            self.stats.payload_bytes_sent += p.payload.len() as u64;
            self.history.insert(p.clone());
        }
        self.stats.frames_sent += 1;
        if frame.keyframe {
            self.stats.keyframes_sent += 1;
        }
        self.last_frame = Some((self.packetizer.rtp_timestamp(frame.timestamp), now));
        Ok(packets)
    }

    /// Handles RTCP feedback about our SSRC that arrived at `now`: NACK queues
    /// retransmissions, PLI/FIR set the keyframe request, receiver reports are recorded (and
    /// give the round-trip time from LSR/DLSR). Packets about other SSRCs are ignored.
    pub fn handle_rtcp(&mut self, packets: &[Box<dyn RtcpPacket + Send + Sync>], now: Instant) {
        let ssrc = self.ssrc();
        for p in packets {
            let any = p.as_any();
            if let Some(nack) = any.downcast_ref::<TransportLayerNack>() {
                if nack.media_ssrc != ssrc {
                    continue;
                }
                self.stats.nacks_received += 1;
                for pair in &nack.nacks {
                    for seq in pair.packet_list() {
                        self.queue_retransmission(seq, now);
                    }
                }
            } else if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
                if pli.media_ssrc == ssrc {
                    self.stats.plis_received += 1;
                    self.keyframe_requested = true;
                }
            } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
                if fir.fir.iter().any(|e| e.ssrc == ssrc) || fir.media_ssrc == ssrc {
                    self.stats.firs_received += 1;
                    self.keyframe_requested = true;
                }
            } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                for r in rr.reports.iter().filter(|r| r.ssrc == ssrc) {
                    self.stats.remote_fraction_lost = r.fraction_lost;
                    self.stats.remote_total_lost = r.total_lost;
                    self.stats.remote_jitter = r.jitter;
                    self.update_rtt(r.last_sender_report, r.delay, now);
                }
            }
        }
    }

    /// RFC 3550 6.4.1: RTT = arrival - LSR - DLSR, with LSR matched to a report we sent.
    fn update_rtt(&mut self, lsr: u32, dlsr: u32, now: Instant) {
        if lsr == 0 {
            return;
        }
        let Some(&(_, sent_at)) = self.reports_sent.iter().rev().find(|(ntp, _)| *ntp == lsr)
        else {
            return;
        };
        let delay = Duration::from_nanos(u64::from(dlsr) * 1_000_000_000 / 65_536);
        if let Some(rtt) = now.saturating_duration_since(sent_at).checked_sub(delay) {
            self.stats.rtt = Some(rtt);
        }
    }

    fn queue_retransmission(&mut self, seq: u16, now: Instant) {
        if self.retransmit.len() >= MAX_QUEUED_RETRANSMISSIONS {
            self.stats.resends_refused += 1;
            return;
        }
        let original = match self.history.resend(seq, now, self.resend_interval) {
            Resend::Packet(p) => p,
            Resend::Missing => {
                self.stats.nacked_packets_missing += 1;
                return;
            }
            _ => {
                self.stats.resends_refused += 1;
                return;
            }
        };
        let packet = match self.rtx {
            None => original.clone(),
            Some(rtx) => {
                let mut header = original.header.clone();
                header.payload_type = rtx.payload_type;
                header.ssrc = rtx.ssrc;
                header.sequence_number = self.rtx_sequence;
                self.rtx_sequence = self.rtx_sequence.wrapping_add(1);
                let mut payload = BytesMut::with_capacity(2 + original.payload.len());
                payload.put_u16(seq);
                payload.put_slice(&original.payload);
                Packet {
                    header,
                    payload: payload.freeze(),
                }
            }
        };
        self.stats.retransmitted_packets += 1;
        self.stats.retransmitted_bytes += packet.payload.len() as u64;
        self.retransmit.push_back(packet);
    }

    /// The next packet to retransmit, if any.
    #[must_use]
    pub fn poll_retransmit(&mut self) -> Option<Packet> {
        self.retransmit.pop_front()
    }

    /// Whether a keyframe was requested (PLI/FIR) since the last call.
    #[must_use]
    pub fn take_keyframe_request(&mut self) -> bool {
        std::mem::take(&mut self.keyframe_requested)
    }

    /// A sender report for `now`, whose wall-clock time is `ntp` (64-bit NTP format). `None`
    /// before the first frame (there is no RTP time to map yet). The report is remembered to
    /// measure the round-trip time when a receiver report refers to it.
    pub fn sender_report(&mut self, now: Instant, ntp: u64) -> Option<SenderReport> {
        let (ts, at) = self.last_frame?;
        if self.reports_sent.len() == REPORTS_KEPT {
            self.reports_sent.pop_front();
        }
        self.reports_sent.push_back(((ntp >> 16) as u32, now));
        let elapsed = now.saturating_duration_since(at);
        let ticks = elapsed.as_nanos() * u128::from(self.packetizer.config().codec.clock_rate())
            / 1_000_000_000;
        Some(SenderReport {
            ssrc: self.ssrc(),
            ntp_time: ntp,
            // RTP time wraps modulo 2^32.
            rtp_time: ts.wrapping_add(ticks as u32),
            // The SR counters are 32-bit and wrap (RFC 3550 6.4.1).
            packet_count: self.stats.packets_sent as u32,
            octet_count: self.stats.payload_bytes_sent as u32,
            ..Default::default()
        })
    }
}

/// Converts a wall-clock time to the 64-bit NTP format (seconds since 1900 . fraction).
pub fn ntp_time(since_unix_epoch: Duration) -> u64 {
    const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
    let secs = since_unix_epoch.as_secs().wrapping_add(NTP_UNIX_OFFSET);
    let frac = (u64::from(since_unix_epoch.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use rtcp::transport_feedbacks::transport_layer_nack::nack_pairs_from_sequence_numbers;

    use super::*;
    use crate::codec::CodecKind;

    fn stream(rtx: Option<RtxConfig>) -> RtpSendStream {
        let mut cfg = SendConfig::new(PacketizerConfig::new(CodecKind::Vp8, 96, 42));
        cfg.rtx = rtx;
        RtpSendStream::new(cfg).expect("config")
    }

    fn frame(ms: u64, len: usize) -> Frame {
        Frame {
            data: Bytes::from(vec![0x10; len]),
            timestamp: Duration::from_millis(ms),
            duration: Duration::from_millis(33),
            keyframe: true,
        }
    }

    fn nack(ssrc: u32, seqs: &[u16]) -> Vec<Box<dyn RtcpPacket + Send + Sync>> {
        vec![Box::new(TransportLayerNack {
            sender_ssrc: 1,
            media_ssrc: ssrc,
            nacks: nack_pairs_from_sequence_numbers(seqs),
        })]
    }

    #[test]
    fn nack_resends_the_original() {
        let now = Instant::now();
        let mut s = stream(None);
        let sent = s.send_frame(&frame(0, 3000), now).expect("send");
        s.handle_rtcp(&nack(42, &[1, 2, 500]), now);
        s.handle_rtcp(&nack(43, &[0]), now);
        // Asked again at once: refused (already on its way).
        s.handle_rtcp(&nack(42, &[1]), now);
        assert_eq!(s.poll_retransmit().as_ref(), Some(&sent[1]));
        assert_eq!(s.poll_retransmit().as_ref(), Some(&sent[2]));
        assert!(s.poll_retransmit().is_none());
        assert_eq!(s.stats().resends_refused, 1);
        s.handle_rtcp(&nack(42, &[1]), now + Duration::from_millis(20));
        assert_eq!(s.poll_retransmit().as_ref(), Some(&sent[1]));
        assert_eq!(s.stats().nacked_packets_missing, 1);
        assert_eq!(s.stats().nacks_received, 3);
    }

    #[test]
    fn a_nack_storm_is_bounded() {
        let now = Instant::now();
        let mut s = stream(None);
        for i in 0..100 {
            s.send_frame(&frame(i * 33, 5000), now).expect("send");
        }
        let all: Vec<u16> = (0..600).collect();
        s.handle_rtcp(&nack(42, &all), now);
        s.handle_rtcp(&nack(42, &all), now + Duration::from_secs(1));
        assert_eq!(
            std::iter::from_fn(|| s.poll_retransmit()).count(),
            MAX_QUEUED_RETRANSMISSIONS
        );
        // Every one of the 1200 requests is accounted for: queued, refused or not held.
        let st = s.stats();
        assert_eq!(
            MAX_QUEUED_RETRANSMISSIONS as u64 + st.resends_refused + st.nacked_packets_missing,
            1200
        );
        assert!(st.nacked_packets_missing > 0);
    }

    #[test]
    fn nack_with_rtx_wraps_the_payload() {
        let now = Instant::now();
        let mut s = stream(Some(RtxConfig {
            payload_type: 97,
            ssrc: 4242,
            initial_sequence: 100,
        }));
        let sent = s.send_frame(&frame(0, 3000), now).expect("send");
        s.handle_rtcp(&nack(42, &[1]), now);
        let r = s.poll_retransmit().expect("rtx");
        assert_eq!(
            (
                r.header.payload_type,
                r.header.ssrc,
                r.header.sequence_number
            ),
            (97, 4242, 100)
        );
        assert_eq!(&r.payload[..2], &1u16.to_be_bytes());
        assert_eq!(&r.payload[2..], &sent[1].payload[..]);
    }

    #[test]
    fn pli_and_fir_request_a_keyframe() {
        let now = Instant::now();
        let mut s = stream(None);
        assert!(!s.take_keyframe_request());
        s.handle_rtcp(
            &[Box::new(PictureLossIndication {
                sender_ssrc: 1,
                media_ssrc: 42,
            })],
            now,
        );
        assert!(s.take_keyframe_request());
        assert!(!s.take_keyframe_request());
        s.handle_rtcp(
            &[Box::new(PictureLossIndication {
                sender_ssrc: 1,
                media_ssrc: 7,
            })],
            now,
        );
        assert!(!s.take_keyframe_request());
        s.handle_rtcp(
            &[Box::new(FullIntraRequest {
                sender_ssrc: 1,
                media_ssrc: 0,
                fir: vec![rtcp::payload_feedbacks::full_intra_request::FirEntry {
                    ssrc: 42,
                    sequence_number: 1,
                }],
            })],
            now,
        );
        assert!(s.take_keyframe_request());
    }

    #[test]
    fn sender_report_maps_now_to_rtp_time() {
        let t0 = Instant::now();
        let mut s = stream(None);
        assert!(s.sender_report(t0, 0).is_none());
        let n = s.send_frame(&frame(1000, 100), t0).expect("send").len();
        let sr = s
            .sender_report(t0 + Duration::from_millis(500), 77)
            .expect("sr");
        assert_eq!(sr.rtp_time, 90_000 + 45_000);
        assert_eq!(sr.ntp_time, 77);
        assert_eq!(sr.packet_count as usize, n);
        assert_eq!(sr.octet_count as u64, s.stats().payload_bytes_sent);
        // The receiver answers 100 ms after the SR was sent, having held it for 60 ms.
        let rr = ReceiverReport {
            ssrc: 9,
            reports: vec![rtcp::reception_report::ReceptionReport {
                ssrc: 42,
                last_sender_report: (77u64 >> 16) as u32 | 1,
                ..Default::default()
            }],
            ..Default::default()
        };
        s.handle_rtcp(&[Box::new(rr)], t0 + Duration::from_millis(600));
        assert_eq!(s.stats().rtt, None, "LSR of no report we sent");
        let sr = s
            .sender_report(t0 + Duration::from_secs(1), 0x0001_2345_6789_0000)
            .expect("sr");
        let rr = ReceiverReport {
            ssrc: 9,
            reports: vec![rtcp::reception_report::ReceptionReport {
                ssrc: 42,
                last_sender_report: (sr.ntp_time >> 16) as u32,
                delay: 65_536 * 60 / 1000,
                ..Default::default()
            }],
            ..Default::default()
        };
        s.handle_rtcp(&[Box::new(rr)], t0 + Duration::from_millis(1100));
        let rtt = s.stats().rtt.expect("rtt");
        assert!(
            rtt.abs_diff(Duration::from_millis(40)) < Duration::from_millis(1),
            "{rtt:?}"
        );
    }

    #[test]
    fn ntp_conversion() {
        let t = ntp_time(Duration::new(1, 500_000_000));
        assert_eq!(t >> 32, 2_208_988_801);
        assert_eq!(t & 0xffff_ffff, 1 << 31);
    }
}
