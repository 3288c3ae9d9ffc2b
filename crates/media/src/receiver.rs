//! The receive side of one track (sans-IO): jitter buffer, NACK and PLI generation,
//! depacketization, receiver reports and stats.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtcp::packet::Packet as RtcpPacket;
use rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtcp::receiver_report::ReceiverReport;
use rtcp::reception_report::ReceptionReport;
use rtcp::sender_report::SenderReport;
use rtcp::transport_feedbacks::transport_layer_nack::{
    nack_pairs_from_sequence_numbers, TransportLayerNack,
};
use rtp::packet::Packet;

use crate::codec::{opus_packet_samples, CodecKind};
use crate::depacketizer::depacketize;
use crate::error::{RtcpDropReason, RtpDropReason};
use crate::frame::Frame;
use crate::jitter::{JitterBuffer, JitterOutput};
use crate::nack::{NackConfig, NackGenerator};
use crate::stats::ReceiverStats;

/// RTCP packets as the transport takes them.
pub type RtcpBatch = Vec<Box<dyn RtcpPacket + Send + Sync>>;

/// Everything the receive side of a track needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiveConfig {
    /// The codec.
    pub codec: CodecKind,
    /// The negotiated payload type.
    pub payload_type: u8,
    /// The remote media SSRC; `None` latches onto the first packet's SSRC.
    pub remote_ssrc: Option<u32>,
    /// RTX payload type and (if known) SSRC, when negotiated.
    pub rtx: Option<(u8, Option<u32>)>,
    /// Our SSRC, the sender SSRC of the RTCP we write.
    pub local_ssrc: u32,
    /// Send NACKs (`a=rtcp-fb:<pt> nack`).
    pub nack: Option<NackConfig>,
    /// Send PLIs when a keyframe is needed (`a=rtcp-fb:<pt> nack pli`); video only.
    pub pli: bool,
    /// Least time between two PLIs.
    pub pli_interval: Duration,
    /// How long the jitter buffer waits for a missing packet.
    pub max_delay: Duration,
    /// Time between receiver reports.
    pub report_interval: Duration,
}

impl ReceiveConfig {
    /// NACK on, PLI on for video, 500 ms jitter budget, reports every second.
    pub fn new(codec: CodecKind, payload_type: u8, local_ssrc: u32) -> Self {
        Self {
            codec,
            payload_type,
            remote_ssrc: None,
            rtx: None,
            local_ssrc,
            nack: Some(NackConfig::default()),
            pli: !codec.is_audio(),
            pli_interval: Duration::from_millis(300),
            max_delay: Duration::from_millis(500),
            report_interval: Duration::from_secs(1),
        }
    }
}

/// The receive side of one track.
///
/// Call order: [`handle_rtp`](Self::handle_rtp) / [`handle_rtcp`](Self::handle_rtcp) as
/// packets arrive and [`handle_timeout`](Self::handle_timeout) at
/// [`poll_timeout`](Self::poll_timeout); after each, drain [`poll_frame`](Self::poll_frame)
/// and [`poll_rtcp`](Self::poll_rtcp).
#[derive(Debug)]
pub struct RtpReceiveStream {
    config: ReceiveConfig,
    remote_ssrc: Option<u32>,
    jitter: JitterBuffer,
    nack: Option<NackGenerator>,
    frames: VecDeque<Frame>,
    stats: ReceiverStats,
    need_keyframe: bool,
    pli_pending: bool,
    last_pli: Option<Instant>,
    /// The clock's origin for arrival times (first packet).
    epoch: Option<Instant>,
    /// RFC 3550 A.8 state: previous transit time.
    last_transit: Option<i64>,
    /// First extended sequence number (base_seq).
    base_seq: Option<u64>,
    /// RR interval state: expected/received at the last report.
    expected_prior: u64,
    received_prior: u64,
    /// (middle 32 bits of the NTP time of the last SR, when it arrived).
    last_sr: Option<(u32, Instant)>,
    next_report: Option<Instant>,
    /// RTP timestamp of the first frame, and the unwrapped offset of the last.
    first_frame_ts: Option<u32>,
    last_frame_ticks: i64,
    last_frame_ts: u32,
}

impl RtpReceiveStream {
    /// A receive stream for one remote track.
    pub fn new(config: ReceiveConfig) -> Self {
        Self {
            remote_ssrc: config.remote_ssrc,
            jitter: JitterBuffer::new(config.codec, config.max_delay),
            nack: config.nack.map(NackGenerator::new),
            frames: VecDeque::new(),
            stats: ReceiverStats::default(),
            need_keyframe: !config.codec.is_audio(),
            pli_pending: false,
            last_pli: None,
            epoch: None,
            last_transit: None,
            base_seq: None,
            expected_prior: 0,
            received_prior: 0,
            last_sr: None,
            next_report: None,
            first_frame_ts: None,
            last_frame_ticks: 0,
            last_frame_ts: 0,
            config,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &ReceiverStats {
        &self.stats
    }

    /// The remote media SSRC (configured or latched).
    pub fn remote_ssrc(&self) -> Option<u32> {
        self.remote_ssrc
    }

    /// Parses and handles one RTP packet from the wire; malformed ones are counted.
    pub fn handle_rtp_bytes(&mut self, data: &[u8], now: Instant) -> Result<(), RtpDropReason> {
        // Checked before `rtp` parses it: header extension elements that overrun made it panic.
        match crate::rtp_parse::parse_rtp(data) {
            Ok(p) => self.handle_rtp(p, now),
            Err(_) => {
                self.stats.malformed_rtp += 1;
                Err(RtpDropReason::Malformed)
            }
        }
    }

    /// Handles one RTP packet (media or RTX) that arrived at `now`.
    pub fn handle_rtp(&mut self, packet: Packet, now: Instant) -> Result<(), RtpDropReason> {
        let result = self.accept(packet, now);
        match &result {
            Ok(()) => {}
            Err(RtpDropReason::Duplicate) => self.stats.duplicates += 1,
            Err(RtpDropReason::Padding) => self.stats.padding_packets += 1,
            Err(RtpDropReason::Malformed | RtpDropReason::MalformedRtx) => {
                self.stats.malformed_rtp += 1
            }
            Err(_) => self.stats.rtp_dropped += 1,
        }
        self.drain(now);
        result
    }

    fn accept(&mut self, packet: Packet, now: Instant) -> Result<(), RtpDropReason> {
        let (packet, retransmission) = self.unwrap_rtx(packet)?;
        match self.remote_ssrc {
            Some(ssrc) if ssrc != packet.header.ssrc => {
                return Err(RtpDropReason::UnknownSsrc(packet.header.ssrc))
            }
            None => self.remote_ssrc = Some(packet.header.ssrc),
            Some(_) => {}
        }
        if packet.header.payload_type != self.config.payload_type {
            return Err(RtpDropReason::UnexpectedPayloadType(
                packet.header.payload_type,
            ));
        }
        let payload_len = packet.payload.len() as u64;
        let rtp_ts = packet.header.timestamp;
        let inserted = self.jitter.insert(packet, now)?;
        self.stats.packets_received += 1;
        self.stats.payload_bytes_received += payload_len;
        let epoch = *self.epoch.get_or_insert(now);
        let base = self
            .base_seq
            .map_or(inserted.ext_seq, |b| b.min(inserted.ext_seq));
        self.base_seq = Some(base);
        if let Some(highest) = self.jitter.highest() {
            self.stats.packets_lost =
                (highest + 1 - base) as i64 - self.stats.packets_received as i64;
        }
        if inserted.filled_gap || retransmission {
            self.stats.packets_recovered += u64::from(inserted.filled_gap);
        } else {
            self.update_jitter(epoch, now, rtp_ts);
        }
        if let Some(nack) = &mut self.nack {
            nack.received(inserted.ext_seq);
            if !inserted.newly_missing.is_empty() {
                nack.add_missing(inserted.newly_missing.clone(), now);
            }
        }
        Ok(())
    }

    /// RTX (RFC 4588): the payload starts with the original sequence number.
    fn unwrap_rtx(&self, packet: Packet) -> Result<(Packet, bool), RtpDropReason> {
        let Some((rtx_pt, rtx_ssrc)) = self.config.rtx else {
            return Ok((packet, false));
        };
        let is_rtx = match rtx_ssrc {
            Some(ssrc) => packet.header.ssrc == ssrc,
            None => packet.header.payload_type == rtx_pt,
        };
        if !is_rtx {
            return Ok((packet, false));
        }
        if packet.header.payload_type != rtx_pt {
            return Err(RtpDropReason::UnexpectedPayloadType(
                packet.header.payload_type,
            ));
        }
        if packet.payload.is_empty() && packet.header.padding {
            return Err(RtpDropReason::Padding);
        }
        if packet.payload.len() < 2 {
            return Err(RtpDropReason::MalformedRtx);
        }
        let osn = u16::from_be_bytes([packet.payload[0], packet.payload[1]]);
        let mut header = packet.header;
        header.sequence_number = osn;
        header.payload_type = self.config.payload_type;
        // An RTX packet before any media packet cannot be mapped; drop it.
        header.ssrc = self
            .remote_ssrc
            .ok_or(RtpDropReason::UnknownSsrc(header.ssrc))?;
        Ok((
            Packet {
                header,
                payload: packet.payload.slice(2..),
            },
            true,
        ))
    }

    /// RFC 3550 A.8 interarrival jitter, in RTP clock units.
    fn update_jitter(&mut self, epoch: Instant, now: Instant, rtp_ts: u32) {
        let arrival = now.saturating_duration_since(epoch).as_nanos()
            * u128::from(self.config.codec.clock_rate())
            / 1_000_000_000;
        // Transit modulo 2^32 as a signed difference; only differences matter.
        let transit = i64::from((arrival as u32).wrapping_sub(rtp_ts) as i32);
        if let Some(prev) = self.last_transit {
            let d = (transit - prev).abs() as f64;
            self.stats.jitter += (d - self.stats.jitter) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    /// Parses and handles an RTCP compound packet from the wire; malformed ones are counted.
    pub fn handle_rtcp_bytes(&mut self, data: &[u8], now: Instant) -> Result<(), RtcpDropReason> {
        match crate::rtcp_parse::parse_rtcp(data) {
            Ok(packets) => {
                self.handle_rtcp(&packets, now);
                Ok(())
            }
            Err(_) => {
                self.stats.malformed_rtcp += 1;
                Err(RtcpDropReason::Malformed)
            }
        }
    }

    /// Handles RTCP from the sender (sender reports feed LSR/DLSR).
    pub fn handle_rtcp(&mut self, packets: &[Box<dyn RtcpPacket + Send + Sync>], now: Instant) {
        for p in packets {
            if let Some(sr) = p.as_any().downcast_ref::<SenderReport>() {
                if Some(sr.ssrc) == self.remote_ssrc {
                    self.last_sr = Some(((sr.ntp_time >> 16) as u32, now));
                }
            }
        }
    }

    /// Advances timers (jitter buffer give-up, NACK retries, reports).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.drain(now);
    }

    fn drain(&mut self, now: Instant) {
        while let Some(out) = self.jitter.pop(now) {
            self.handle_jitter_output(out);
        }
    }

    fn handle_jitter_output(&mut self, out: JitterOutput) {
        match out {
            JitterOutput::Frame(f) => {
                let rtp_ts = f.packets.first().map_or(0, |p| p.header.timestamp);
                match depacketize(self.config.codec, &f.packets) {
                    Ok(data) => self.deliver(data, rtp_ts),
                    Err(_) => {
                        self.stats.frames_malformed += 1;
                        self.keyframe_needed();
                    }
                }
            }
            JitterOutput::Skipped { skipped } => {
                self.stats.frames_lost += 1;
                if let Some(nack) = &mut self.nack {
                    nack.forget_below(skipped.end);
                }
                self.keyframe_needed();
            }
        }
    }

    fn keyframe_needed(&mut self) {
        if !self.config.codec.is_audio() {
            self.need_keyframe = true;
            self.pli_pending = self.config.pli;
        }
    }

    fn deliver(&mut self, data: Bytes, rtp_ts: u32) {
        let keyframe = self.config.codec.is_keyframe(&data);
        if self.need_keyframe {
            if !keyframe {
                self.stats.frames_dropped_waiting_keyframe += 1;
                self.pli_pending = self.config.pli;
                return;
            }
            self.need_keyframe = false;
            self.pli_pending = false;
        }
        let first = *self.first_frame_ts.get_or_insert(rtp_ts);
        if self.stats.frames_delivered == 0 {
            self.last_frame_ts = first;
        }
        self.last_frame_ticks += i64::from(rtp_ts.wrapping_sub(self.last_frame_ts) as i32);
        self.last_frame_ts = rtp_ts;
        let rate = u64::from(self.config.codec.clock_rate());
        let ticks = u64::try_from(self.last_frame_ticks.max(0)).unwrap_or(0);
        let timestamp = Duration::from_nanos(ticks * 1_000_000_000 / rate);
        let duration = match self.config.codec {
            CodecKind::Opus => opus_packet_samples(&data).map_or(Duration::ZERO, |s| {
                Duration::from_nanos(u64::from(s) * 1_000_000_000 / 48_000)
            }),
            _ => Duration::ZERO,
        };
        self.stats.frames_delivered += 1;
        if keyframe {
            self.stats.keyframes_delivered += 1;
        }
        self.frames.push_back(Frame {
            data,
            timestamp,
            duration,
            keyframe,
        });
    }

    /// The next complete frame, in decode order.
    #[must_use]
    pub fn poll_frame(&mut self) -> Option<Frame> {
        self.frames.pop_front()
    }

    /// RTCP to send now: NACKs due, a PLI if a keyframe is needed, a receiver report when due.
    #[must_use]
    pub fn poll_rtcp(&mut self, now: Instant) -> Option<RtcpBatch> {
        let media_ssrc = self.remote_ssrc?;
        let mut out: RtcpBatch = Vec::new();
        if self.next_report.is_none_or(|t| now >= t) {
            self.next_report = Some(now + self.config.report_interval);
            out.push(Box::new(self.receiver_report(now)));
            self.stats.receiver_reports_sent += 1;
        }
        if let Some(nack) = &mut self.nack {
            let seqs: Vec<u16> = nack.poll(now).into_iter().map(|s| s as u16).collect();
            self.stats.nack_give_ups = nack.gave_up();
            if !seqs.is_empty() {
                self.stats.nacks_sent += 1;
                self.stats.nacked_packets += seqs.len() as u64;
                out.push(Box::new(TransportLayerNack {
                    sender_ssrc: self.config.local_ssrc,
                    media_ssrc,
                    nacks: nack_pairs_from_sequence_numbers(&seqs),
                }));
            }
        }
        let pli_allowed = self
            .last_pli
            .is_none_or(|t| now.saturating_duration_since(t) >= self.config.pli_interval);
        if self.pli_pending && pli_allowed {
            self.last_pli = Some(now);
            self.stats.plis_sent += 1;
            out.push(Box::new(PictureLossIndication {
                sender_ssrc: self.config.local_ssrc,
                media_ssrc,
            }));
        }
        (!out.is_empty()).then_some(out)
    }

    /// A receiver report block about the remote SSRC (RFC 3550 6.4.1 / A.3).
    pub fn receiver_report(&mut self, now: Instant) -> ReceiverReport {
        let mut report = ReceptionReport {
            ssrc: self.remote_ssrc.unwrap_or(0),
            ..Default::default()
        };
        if let (Some(base), Some(highest)) = (self.base_seq, self.jitter.highest()) {
            let expected = highest + 1 - base;
            let received = self.stats.packets_received;
            let lost = expected as i64 - received as i64;
            self.stats.packets_lost = lost;
            let expected_interval = expected - self.expected_prior;
            let received_interval = received.saturating_sub(self.received_prior);
            self.expected_prior = expected;
            self.received_prior = received;
            let lost_interval = expected_interval as i64 - received_interval as i64;
            report.fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
                0
            } else {
                ((lost_interval << 8) / expected_interval as i64).min(255) as u8
            };
            // 24-bit signed cumulative loss, clamped.
            report.total_lost = (lost.clamp(-0x80_0000, 0x7f_ffff) as i32 as u32) & 0xff_ffff;
            // Extended highest sequence number: cycles in the top 16 bits (base starts at 2^16).
            report.last_sequence_number = (highest - (1 << 16)) as u32;
            report.jitter = self.stats.jitter as u32;
        }
        if let Some((lsr, at)) = self.last_sr {
            report.last_sender_report = lsr;
            let delay = now.saturating_duration_since(at);
            report.delay =
                (delay.as_nanos() * 65_536 / 1_000_000_000).min(u128::from(u32::MAX)) as u32;
        }
        ReceiverReport {
            ssrc: self.config.local_ssrc,
            reports: vec![report],
            ..Default::default()
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) and [`poll_rtcp`](Self::poll_rtcp) next
    /// have work (jitter buffer give-up, NACK retry, PLI, report).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let pli = if self.pli_pending {
            self.last_pli.map(|t| t + self.config.pli_interval)
        } else {
            None
        };
        [
            self.jitter.poll_timeout(),
            self.nack.as_ref().and_then(NackGenerator::poll_timeout),
            self.next_report,
            pli,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// End of stream: releases every complete frame still buffered.
    pub fn finish(&mut self) {
        for out in self.jitter.flush() {
            self.handle_jitter_output(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;

    use super::*;

    fn vp8(seq: u16, ts: u32, key: bool) -> Packet {
        let mut p = Packet::default();
        p.header.version = 2;
        p.header.payload_type = 96;
        p.header.ssrc = 0xabc;
        p.header.sequence_number = seq;
        p.header.timestamp = ts;
        p.header.marker = true;
        // VP8 descriptor with S=1, then a frame tag (bit 0 clear for a keyframe).
        p.payload = Bytes::from(vec![0x10, if key { 0x00 } else { 0x01 }, 0, 0]);
        p
    }

    fn find<T: 'static>(batch: &RtcpBatch) -> Option<&T> {
        batch.iter().find_map(|p| p.as_any().downcast_ref::<T>())
    }

    #[test]
    fn receiver_report_counts_loss_wrap_and_lsr() {
        let t = Instant::now();
        let mut r = RtpReceiveStream::new(ReceiveConfig::new(CodecKind::Vp8, 96, 1));
        // 10 packets across the wrap, 2 lost (65_535 and 3).
        for seq in [65_532u16, 65_533, 65_534, 0, 1, 2, 4, 5] {
            r.handle_rtp(vp8(seq, u32::from(seq) * 3000, true), t)
                .expect("accepted");
        }
        let sr = SenderReport {
            ssrc: 0xabc,
            ntp_time: 0x1234_5678_9abc_def0,
            ..Default::default()
        };
        r.handle_rtcp(&[Box::new(sr)], t);
        let rr = r.receiver_report(t + Duration::from_millis(500));
        let block = &rr.reports[0];
        assert_eq!(rr.ssrc, 1);
        assert_eq!(block.ssrc, 0xabc);
        assert_eq!(block.total_lost, 2);
        assert_eq!(block.fraction_lost, (2 * 256 / 10) as u8);
        assert_eq!(block.last_sequence_number, (1 << 16) + 5);
        assert_eq!(block.last_sender_report, 0x5678_9abc);
        assert_eq!(block.delay, 32_768);
        // The next interval has no new loss.
        r.handle_rtp(vp8(6, 18_000, false), t).expect("accepted");
        assert_eq!(r.receiver_report(t).reports[0].fraction_lost, 0);
        assert_eq!(r.stats().packets_lost, 2);
    }

    #[test]
    fn jitter_follows_rfc3550() {
        let t = Instant::now();
        let mut r = RtpReceiveStream::new(ReceiveConfig::new(CodecKind::Vp8, 96, 1));
        // Sent 10 ms apart (900 ticks), arriving 10 ms then 20 ms apart: D = 900 ticks once.
        r.handle_rtp(vp8(1, 0, true), t).expect("a");
        r.handle_rtp(vp8(2, 900, false), t + Duration::from_millis(10))
            .expect("b");
        assert_eq!(r.stats().jitter, 0.0);
        r.handle_rtp(vp8(3, 1800, false), t + Duration::from_millis(30))
            .expect("c");
        assert!((r.stats().jitter - 900.0 / 16.0).abs() < 1e-9);
    }

    #[test]
    fn nack_then_pli_after_an_unrecoverable_loss() {
        let t = Instant::now();
        let mut cfg = ReceiveConfig::new(CodecKind::Vp8, 96, 1);
        cfg.max_delay = Duration::from_millis(100);
        let mut r = RtpReceiveStream::new(cfg);
        r.handle_rtp(vp8(10, 0, true), t).expect("key");
        r.handle_rtp(vp8(12, 6000, false), t).expect("delta");
        assert!(r.poll_frame().expect("keyframe").keyframe);
        let batch = r.poll_rtcp(t).expect("report and NACK");
        let nack = find::<TransportLayerNack>(&batch).expect("NACK");
        assert_eq!(nack.media_ssrc, 0xabc);
        assert_eq!(nack.nacks[0].packet_list(), vec![11]);
        assert!(find::<PictureLossIndication>(&batch).is_none());
        // 11 never comes: the buffer gives up, 12 cannot be decoded, a PLI goes out.
        let later = t + Duration::from_millis(100);
        r.handle_timeout(later);
        assert!(r.poll_frame().is_none());
        let batch = r.poll_rtcp(later).expect("PLI");
        assert!(find::<PictureLossIndication>(&batch).is_some());
        assert_eq!(r.stats().frames_dropped_waiting_keyframe, 1);
        // Rate limited, then resolved by a keyframe.
        assert!(r.poll_rtcp(later).is_none());
        r.handle_rtp(vp8(13, 9000, true), later).expect("new key");
        assert!(r.poll_frame().expect("keyframe").keyframe);
        let s = r.stats();
        assert_eq!((s.plis_sent, s.frames_delivered, s.frames_lost), (1, 2, 1));
    }

    #[test]
    fn rtx_packets_are_unwrapped() {
        let t = Instant::now();
        let mut cfg = ReceiveConfig::new(CodecKind::Vp8, 96, 1);
        cfg.rtx = Some((97, Some(0xdef)));
        let mut r = RtpReceiveStream::new(cfg);
        r.handle_rtp(vp8(10, 0, true), t).expect("first");
        r.handle_rtp(vp8(12, 6000, false), t).expect("third");
        let mut rtx = vp8(500, 3000, false);
        rtx.header.payload_type = 97;
        rtx.header.ssrc = 0xdef;
        let mut payload = 11u16.to_be_bytes().to_vec();
        payload.extend_from_slice(&rtx.payload);
        rtx.payload = Bytes::from(payload);
        r.handle_rtp(rtx, t).expect("rtx");
        let seqs: Vec<bool> = std::iter::from_fn(|| r.poll_frame())
            .map(|f| f.keyframe)
            .collect();
        assert_eq!(seqs, vec![true, false, false]);
        assert_eq!(r.stats().packets_recovered, 1);
    }
}
